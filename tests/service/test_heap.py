"""A served app moves its start-up heap out of the collector's way (``service/heap.py``), in its
own process; an app handed its services (the tests) does not."""

from __future__ import annotations

import os
import subprocess
import sys

from fundflow.http.app import create_app

_CHILD = """
import gc, sys
from fastapi.testclient import TestClient
from fundflow.http.app import create_app
before = gc.get_freeze_count()
with TestClient(create_app(scheduler=False)) as client:
    assert client.get("/healthz").status_code in (200, 503)
    print(before, gc.get_freeze_count())
"""


def test_a_served_app_freezes_its_start_up_heap(tmp_path):
    env = os.environ | {
        "FUNDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'heap.db'}",
        "FUNDFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 10_000  # the definitions, metadata and routes are frozen


def test_an_app_handed_its_services_leaves_the_heap_alone(services):
    import gc

    from fastapi.testclient import TestClient

    frozen = gc.get_freeze_count()
    with TestClient(create_app(services=services)) as client:
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == frozen
