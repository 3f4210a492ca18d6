"""A local HTTP endpoint that answers as told and keeps every request (the delivery tests'
webhook receiver)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A local HTTP endpoint. Each path answers as told - "ok" (200 and ``{"errcode": 0}``), "503",
    or "errcode" (200 and ``{"errcode": 93000}``, a robot's refusal) - and every request is kept;
    ``accepted`` holds those answered "ok". ``stop()`` closes the port: connections are refused."""

    def __init__(self) -> None:
        self.port = free_port()
        self.modes: dict[str, str] = {}
        self.received: list[dict] = []
        self.accepted: list[dict] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = urlsplit(self.path)
                mode = receiver.modes.get(url.path, "ok")
                entry = {
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "headers": dict(self.headers),
                    "key": self.headers.get("Idempotency-Key"),
                    "body": json.loads(raw),
                    "mode": mode,
                }
                with receiver.lock:
                    receiver.received.append(entry)
                    if mode == "ok":
                        receiver.accepted.append(entry)
                if mode == "503":
                    status, reply = 503, b"service unavailable"
                elif mode == "errcode":
                    status, reply = 200, json.dumps({"errcode": 93000, "errmsg": "invalid webhook url"}).encode()
                else:
                    status, reply = 200, json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = None

    def keys(self, path: str) -> list[str]:
        return [e["key"] for e in self.accepted if e["path"] == path]
