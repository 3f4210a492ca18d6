"""A live fundflow in a real headless Chromium, for the browser tests (``tests/http/test_browser.py``,
``tests/http/test_tasklist_walk.py``): uvicorn in a thread on 127.0.0.1 (a free port), Debian's
``chromium`` driven by Playwright for Python, one browser context per signed-in user (``Session``)
with the steps a user takes on the pages (open a case, upload, act, vote, take a screenshot).

Without the browser or a CJK font the tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn

from fundflow.http.app import create_app
from fundflow.service.seed import DEMO_PASSWORD

__all__ = ["SHOTS", "VIEWPORT", "Live", "Session", "png", "require_browser", "serve"]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


def require_browser():
    """Playwright and Debian's Chromium, or a skip (a failure under CI=true)."""
    problem = None
    try:
        from playwright import sync_api
    except ImportError as exc:  # pragma: no cover - the dev extras install it
        sync_api, problem = None, f"Playwright for Python is not installed ({exc})"
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"{CHROMIUM} not found: apt-get install chromium fonts-wqy-microhei (scripts/test does)"
    if problem is None and not _has_cjk_font():
        problem = "no CJK font (Chinese would render as empty boxes): apt-get install fonts-wqy-microhei"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem + " (CI=true: the browser tests must run)", pytrace=False)
        pytest.skip(problem)
    # a busy machine (two workers, PostgreSQL and Chromium on 2 cores) can take more than the
    # default 5 s to draw Swagger UI; what is waited for is unchanged, only how long
    sync_api.expect.set_options(timeout=20_000)
    return sync_api


def _has_cjk_font() -> bool:
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.strip())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    base: str
    svc: object
    browser: object
    sync_api: object
    sessions: dict[str, Session] = field(default_factory=dict)

    def as_(self, username: str) -> Session:
        if username not in self.sessions:
            self.sessions[username] = Session(self, username)
        return self.sessions[username]


class Session:
    """One user's browser context, logged in through the login page."""

    def __init__(self, live: Live, username: str):
        self.live = live
        self.username = username
        self.context = live.browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("console", self._console)
        self.login()

    def _console(self, message) -> None:
        # a 4xx answer (a refusal: 409; a case out of reach: 404) is logged by the browser, and meant
        if message.type == "error" and not message.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        ):
            self.errors.append(f"console: {message.text}")

    @property
    def expect(self):
        return self.live.sync_api.expect

    def login(self) -> None:
        page = self.page
        page.goto(self.live.base + "/login")
        # by keyboard: the user name field has the focus, Tab to the password, Enter sends
        self.expect(page.locator("#username")).to_be_focused()
        page.keyboard.type(self.username)
        page.keyboard.press("Tab")
        page.keyboard.type(DEMO_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(self.live.base + "/")
        self.expect(page.locator("h1")).to_have_text("我的待办")

    def goto(self, path: str) -> None:
        self.page.goto(self.live.base + path)

    def case(self, case_id: int) -> None:
        self.goto(f"/cases/{case_id}")
        self.expect(self.page.locator("#case-title")).to_be_visible()

    def state(self, label: str) -> None:
        self.expect(self.page.locator("#case-state")).to_have_text(label)

    def upload(self, doc_type: str, filename: str | None = None, content: bytes | None = None) -> None:
        page = self.page
        filename = filename or f"{doc_type}.pdf"
        page.select_option("#d-type", doc_type)
        page.set_input_files(
            "#d-file",
            files=[
                {
                    "name": filename,
                    "mimeType": "application/pdf",
                    "buffer": content or b"%PDF-1.4 fundflow browser test",
                }
            ],
        )
        label = page.locator(f'#d-type option[value="{doc_type}"]').inner_text().split("（本环节")[0]
        page.locator("#documents form button[type=submit]").click()
        self.expect(page.locator(".flash.ok")).to_contain_text(f"上传材料：{label}")

    def act(self, trigger: str, done: str | None = None, **fields: str) -> None:
        """Open the action's form, fill its fields, send; wait for the page to say it is done."""
        page = self.page
        box = page.locator(f"#action-{trigger}")
        label = box.locator("summary").inner_text()
        box.locator("summary").click()
        for name, value in fields.items():
            control = page.locator(f"#a-{trigger}-{name}")
            if isinstance(value, list):  # checkboxes in a fieldset (the paying scope): by their label
                for choice in value:
                    control.get_by_label(choice).check()
            elif control.evaluate("e => e.tagName") == "SELECT":
                control.select_option(value)
            else:
                control.fill(value)
        box.locator("button[type=submit]").click()
        self.expect(page.locator(".flash.ok")).to_contain_text(f"已办理：{label}")
        if done:
            self.state(done)

    def vote(self, party: str, vote: str = "agree", opinion: str = "同意按应急程序使用维修资金") -> None:
        page = self.page
        page.select_option("#v-party", party)
        page.select_option("#v-attended", "yes")
        page.select_option("#v-vote", vote)
        page.fill("#v-opinion", opinion)
        label = page.locator(f'#v-party option[value="{party}"]').inner_text()
        page.locator("#meeting form button[type=submit]").click()
        self.expect(page.locator(".flash.ok")).to_contain_text(f"登记表决：{label}")

    def shot(self, name: str, full: bool = False) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path

    def close(self) -> None:
        self.context.close()

    # -- the tasklist (我的待办, the first page) -------------------------------------------------

    def todo(self) -> list[tuple[str, int]]:
        """Open 我的待办; the menu's count must be the length of the list. (kind, case id) of each row."""
        self.goto("/")
        self.expect(self.page.locator("h1")).to_have_text("我的待办")
        rows = self.page.locator("#tasks tbody tr")
        listed = [
            (rows.nth(i).get_attribute("data-kind"), int(rows.nth(i).get_attribute("data-case")))
            for i in range(rows.count())
        ]
        badge = self.page.locator("#nav-tasks")
        count = int(badge.inner_text().replace("待办", "").strip()) if badge.count() else 0
        assert count == len(listed), (self.username, count, listed)
        return listed

    def task(self, kind: str, case_id: int) -> None:
        """From 我的待办, open the task of ``kind`` for the case (the link of what to do)."""
        assert (kind, case_id) in self.todo(), (self.username, kind, case_id)
        row = self.page.locator(f'#tasks tr[data-kind="{kind}"][data-case="{case_id}"]').first
        row.locator("td:nth-child(4) a").click()
        self.page.wait_for_url(re.compile(rf"/cases/{case_id}(#.*)?$"))
        self.expect(self.page.locator("#case-title")).to_be_visible()


@contextmanager
def serve(svc) -> Iterator[Live]:
    """The app on ``svc`` served on a free port and a headless Chromium; on leaving, no page may
    have logged a JavaScript error."""
    sync_api = require_browser()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services=svc), host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    playwright = sync_api.sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    state = Live(f"http://127.0.0.1:{port}", svc, browser, sync_api)
    try:
        yield state
        errors = {name: s.errors for name, s in state.sessions.items() if s.errors}
        assert not errors, f"JavaScript errors in the pages: {errors}"
    finally:
        for s in state.sessions.values():
            s.close()
        browser.close()
        playwright.stop()
        server.should_exit = True
        thread.join(10)


def png() -> bytes:
    """A small valid PNG (a red square), made here."""
    import struct
    import zlib

    width = height = 8
    raw = b"".join(b"\x00" + b"\xc8\x20\x20" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
