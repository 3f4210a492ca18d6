"""Every log line is one JSON object with the request id: the app's, and uvicorn's access and
error lines, through the one configuration (``fundflow.service.logs``)."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading

import httpx
import pytest
import uvicorn

from fundflow.service import logs

API = "/api/v1"


@pytest.fixture
def restore_logging():
    """The configuration replaces the root handlers (pytest's capture among them): put them back."""
    names = [None, "uvicorn", "uvicorn.error", "uvicorn.access", "transitions", "alembic"]
    saved = []
    for name in names:
        lg = logging.getLogger(name)
        saved.append((lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled))
    yield
    for lg, handlers, level, propagate, disabled in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate, lg.disabled = propagate, disabled


def parse(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    for line in parsed:
        assert isinstance(line, dict) and {"time", "level", "logger", "request_id"} <= line.keys(), line
    return parsed


def open_case(world) -> int:
    r = world.client.post(
        f"{API}/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_every_line_of_a_request_is_json_with_its_request_id(world, restore_logging):
    case_id = open_case(world)
    out = io.StringIO()
    logs.configure("INFO", stream=out)
    fired = world.client.post(
        f"{API}/cases/{case_id}/transitions",
        headers=world.h("so"),
        json={"trigger": "withdraw", "data": {"reason": "业主自行维修"}},
    )
    missing = world.client.get(f"{API}/cases/999999", headers=world.h("so"))
    assert fired.status_code == 200 and missing.status_code == 404
    lines = parse(out.getvalue())
    ids = {fired.headers["x-request-id"], missing.headers["x-request-id"]}
    served = [line for line in lines if not line["logger"].startswith("httpx")]  # not the test client's
    assert {line["request_id"] for line in served} == ids  # every line belongs to one of the two
    events = {(line["request_id"], line.get("event")) for line in lines}
    assert (fired.headers["x-request-id"], "transition") in events
    assert (fired.headers["x-request-id"], "request") in events
    assert (missing.headers["x-request-id"], "request") in events
    transition = next(line for line in lines if line.get("event") == "transition")
    assert transition["logger"] == "fundflow.transitions" and transition["case_id"] == case_id


def test_a_plain_message_and_an_exception_are_json_too(restore_logging):
    out = io.StringIO()
    logs.configure("INFO", stream=out)
    token = logs.REQUEST_ID.set("abc123")
    try:
        logging.getLogger("fundflow.test").info("第 %d 行", 1)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("fundflow.test").exception("失败")
    finally:
        logs.REQUEST_ID.reset(token)
    logging.getLogger("fundflow.test").warning('{"event": "outside", "n": 2}')
    plain, failed, outside = parse(out.getvalue())
    assert plain["message"] == "第 1 行" and plain["request_id"] == "abc123" and plain["level"] == "info"
    assert "RuntimeError: boom" in failed["exception"] and failed["level"] == "error"
    assert outside["event"] == "outside" and outside["n"] == 2 and outside["request_id"] is None


def test_uvicorns_access_and_error_lines_are_json_with_the_request_id(world, restore_logging):
    """A real uvicorn with ``log_config=logs.dict_config(...)`` (what ``fundflow serve`` passes)."""
    out = io.StringIO()
    config = logs.dict_config("INFO")
    config["handlers"]["default"]["stream"] = out
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(world.client.app, log_config=config, log_level="info"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        assert server.started
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers=world.h("so"), timeout=10)
        assert r.status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    lines = parse(out.getvalue())
    rid = r.headers["x-request-id"]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert len(access) == 1 and access[0]["request_id"] == rid
    assert access[0]["method"] == "GET" and access[0]["path"] == "/api/v1/me" and access[0]["status"] == 200
    assert any(line["logger"] == "fundflow.http" and line["request_id"] == rid for line in lines)
    started = [line for line in lines if line["logger"] == "uvicorn.error"]
    assert any("Application startup complete" in line["message"] for line in started)
    assert all(line["request_id"] is None for line in started)  # outside any request
