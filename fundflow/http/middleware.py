"""ASGI middleware: body size limit (413), JSON depth limit (422), request id, request log,
Prometheus figures.

The request id is set in ``service.logs.REQUEST_ID`` for the whole request: every log line
written while it is answered (uvicorn's access line included) carries it."""

from __future__ import annotations

import json
import logging
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Histogram

from fundflow.service import logs
from fundflow.service.errors import PayloadTooLarge, error_body, status_for
from fundflow.service.json_limits import DEPTH_MESSAGE, MAX_DEPTH, raw_depth

__all__ = ["Metrics", "LimitAndMeasure", "JsonDepthLimit"]

log = logging.getLogger("fundflow.http")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fundflow_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "fundflow_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry
        )


class LimitAndMeasure:
    """Rejects bodies over ``max_body`` bytes (uploads may be larger up to ``max_upload``)."""

    def __init__(self, app, metrics: Metrics, max_body: int, max_upload: int):
        self.app, self.metrics, self.max_body, self.max_upload = app, metrics, max_body, max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        token = logs.REQUEST_ID.set(request_id)
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        limit = (
            self.max_upload if (ctype.startswith("multipart/") or "csv" in ctype or "sheet" in ctype) else self.max_body
        )
        declared = headers.get(b"content-length")
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        page = _wants_page(scope, headers)
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _reject(send_wrapped, limit, page)
                return
            seen = 0
            overflow = {"seen": False, "answered": False}

            async def receive_limited():
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        overflow["seen"] = True
                        raise _too_large(limit)
                return message

            async def send_limited(message):
                # Whatever the app answers once the body overflowed (FastAPI turns an error while
                # it parses a JSON or form body into a 400), the client gets the 413.
                if not overflow["seen"]:
                    await send_wrapped(message)
                elif not overflow["answered"] and message["type"] == "http.response.start":
                    overflow["answered"] = True
                    await _reject(send_wrapped, limit, page)

            await self.app(scope, receive_limited, send_limited)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], path, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], path).observe(elapsed)
            logs.event(
                log,
                "request",
                method=scope["method"],
                path=scope["path"],
                route=path,
                status=status["code"],
                ms=round(elapsed * 1000, 2),
            )
            logs.REQUEST_ID.reset(token)


def _wants_page(scope, headers: dict) -> bool:
    """A browser's own form post to a page (no script: not htmx, not the API): it gets a page."""
    return (
        not scope["path"].startswith("/api/")
        and b"hx-request" not in headers
        and b"text/html" in headers.get(b"accept", b"")
    )


async def _reject(send, limit: int, page: bool = False) -> None:
    exc = _too_large(limit)
    if page:
        await _page(send, exc, limit)
    else:
        await _error(send, exc)


async def _page(send, exc: PayloadTooLarge, limit: int) -> None:
    """The size limit's answer as a Chinese page: the body was never read, so the form cannot
    be shown again filled in; the browser's Back button returns to it as it was typed."""
    from fundflow.http.web.render import templates

    mb = f"{limit / 1048576:.1f}".removesuffix(".0")
    html = templates.get_template("too_large.html").render(
        title="上传内容过大", limit_mb=mb, status=status_for(exc), code=exc.code, user=None, csrf=None, nav=None
    )
    body = html.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status_for(exc),
            "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"请求内容超过 {limit} 字节上限", code="payload_too_large", detail={"limit": limit})


class JsonDepthLimit:
    """Refuses a JSON body nested deeper than ``MAX_DEPTH`` with 422 before anything parses it
    (Python's parser, and every recursive walk after it, fails with RecursionError at ~400).
    Runs inside ``LimitAndMeasure``, so the body it buffers is already size-limited."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        if not (ctype == b"application/json" or ctype.endswith(b"+json")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except PayloadTooLarge as exc:  # LimitAndMeasure turns whatever is answered into its 413
            await _error(send, exc)
            return
        body = b"".join(chunks)
        if raw_depth(body) > MAX_DEPTH:
            await _json(
                send, 422, {"code": "json_too_deep", "message": DEPTH_MESSAGE, "detail": {"max_depth": MAX_DEPTH}}
            )
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _error(send, exc: PayloadTooLarge) -> None:
    """An error of the tree answered before the app runs: from the one table, like the app's."""
    await _json(send, status_for(exc), error_body(exc))


async def _json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
