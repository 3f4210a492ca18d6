"""Request-scoped dependencies: the services, the clock, the caller."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from fundflow.service.context import Services
from fundflow.service.errors import InvalidInput, NotAuthenticated
from fundflow.service.reads import Reader
from fundflow.service.reads.session import Bearer, Principal, signed_in
from fundflow.service.schemas import NUL_MESSAGE

bearer = HTTPBearer(auto_error=False, description="API 令牌或登录令牌")


async def get_services(request: Request) -> Services:
    # async: no I/O, so FastAPI calls it on the loop instead of hopping to a worker thread
    return request.app.state.services


async def get_now() -> datetime:
    """The only place the API reads the clock; tests override it."""
    return datetime.now(UTC)


async def reader(svc: Services = Depends(get_services)):
    """The request's one read transaction (``fundflow.service.reads.Reader``): the caller's
    token and everything the route reads; opened on first use, closed when the request ends.
    ``async``: creating it does no I/O, and closing goes to a worker thread only when it was
    opened (a write request's reader is already closed by ``current_user``): no thread hops
    for nothing."""
    r = Reader(svc)
    try:
        yield r
    finally:
        if r.opened:
            await run_in_threadpool(r.close)


def _token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    token = credentials.credentials if credentials else None
    if token is None and request.cookies.get("fundflow_token"):
        # The pages' session cookie reads the API too, but writes need the bearer header: a
        # cookie is sent by the browser on its own, a header is not (no cross-site forgery).
        if request.method not in ("GET", "HEAD"):
            raise NotAuthenticated("API 写操作须携带 Authorization: Bearer <令牌>", code="bearer_required")
        token = request.cookies.get("fundflow_token")
    if not token:
        raise NotAuthenticated("请先登录（Authorization: Bearer <令牌>）", code="not_authenticated")
    return token


async def current_user(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    r: Reader = Depends(reader),
    now: datetime = Depends(get_now),
) -> Principal:
    """The caller, read in the request's read transaction. A GET goes on reading in it; any
    other method ends it here (a write runs in a transaction of its own, holding no reader).
    The token is read on every request (revocation acts at once), in one hop to a worker
    thread: the lookup and, for a write, the end of the read transaction."""
    token = _token(request, credentials)  # a missing token: 401 without touching the database
    write = request.method not in ("GET", "HEAD")

    def lookup() -> Principal:
        try:
            return signed_in(r.s, r.svc, token, now)
        finally:
            if write:
                r.close()

    return await run_in_threadpool(lookup)


async def bearer_caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Bearer:
    """The caller of a write that reads the token in its own transaction (the transition): no
    database work here and no hop to a worker thread; a missing token, or the pages' cookie
    alone, is refused at once, as by ``current_user``."""
    return Bearer(_token(request, credentials))


async def no_nul_in_url(request: Request) -> None:
    """Query strings and paths may not carry NUL either (``%00``)."""
    raw = request.scope.get("query_string", b"") + request.scope.get("raw_path", b"")
    if b"%00" in raw or b"\x00" in raw:
        raise InvalidInput(NUL_MESSAGE, code="nul_character")
