"""The README's curl walkthrough runs, as written, against a live server on the demo city."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time

import uvicorn

from fundflow.http.app import create_app
from tests.support.demo_city import seeded_demo
from tests.support.paths import ROOT


def test_readme_shows_the_walkthrough_script():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- walkthrough:begin -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", readme, re.S)
    assert m and m.group(1) == (ROOT / "docs" / "walkthrough.sh").read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_walkthrough_takes_a_case_with_offline_dates_to_its_final_payment_twice_in_a_row(
    tmp_path_factory, tmp_path
):
    svc = seeded_demo(tmp_path_factory, tmp_path)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=svc), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        runs = [
            subprocess.run(
                ["bash", str(ROOT / "docs" / "walkthrough.sh")],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "API": f"http://127.0.0.1:{port}/api/v1"},
            )
            for _ in range(2)
        ]
    finally:
        server.should_exit = True
        thread.join(10)
        svc.close()
    for result in runs:
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "现场查勘"
        assert "费用公示" in lines and "晚于今天" in result.stdout  # an act cannot be dated tomorrow
        # the notice posted 8 days ago closes today; the final payment leaves the retention frozen
        assert lines[-6:-4] == ["资金拨付", "质保期（质保金留存）"]
        held, frozen = lines[-4].split()
        assert held == frozen and held != "0.00"  # the retention stays frozen through the warranty
        assert lines[-3].startswith("meeting held ") and lines[-3][13:23] != lines[-3][-10:]
        assert "events, chained" in lines[-2]
