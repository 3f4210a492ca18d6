"""Signing in and out."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from fundflow.http.deps import get_now, get_services
from fundflow.http.web.pages.common import (
    Page,
    form_page,
)
from fundflow.http.web.render import PageRoute, render
from fundflow.http.web.security import (
    CSRF_FIELD,
    PRELOGIN_COOKIE,
    check_csrf,
    clear_session,
    csrf_for_login,
    ensure_prelogin,
    safe_next,
    session_token,
    set_prelogin,
    set_session,
)
from fundflow.service.context import Services
from fundflow.service.errors import (
    NotAuthenticated,
    TooManyRequests,
    status_for,
)
from fundflow.service.usecases import users

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- login and logout --------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str | None = Query(None, max_length=500), svc: Services = Depends(get_services)):
    return _login_page(request, svc, next, None, "")


def _login_page(
    request: Request, svc: Services, next_: str | None, error: str | None, username: str, status: int = 200
) -> Response:
    prelogin, new = ensure_prelogin(request)
    response = render(
        request,
        "login.html",
        {
            "csrf": csrf_for_login(svc.settings.secret_key, prelogin),
            "next": safe_next(next_, ""),
            "error": error,
            "username": username,
        },
        status=status,
    )
    if new:
        set_prelogin(response, request, prelogin)
    return response


@router.post("/login")
async def login_submit(request: Request, svc: Services = Depends(get_services), now: datetime = Depends(get_now)):
    async with request.form() as form:
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")[:256]
        next_ = str(form.get("next") or "")
        submitted = form.get(CSRF_FIELD)
    prelogin = request.cookies.get(PRELOGIN_COOKIE)
    expected = csrf_for_login(svc.settings.secret_key, prelogin) if prelogin else None
    if not check_csrf(expected, submitted if isinstance(submitted, str) else None):
        return _login_page(
            request, svc, next_, "登录页面已过期或浏览器未启用 Cookie，请重新输入后登录。", username, 403
        )
    if not username or not password:
        return _login_page(request, svc, next_, "请输入用户名和密码。", username, 422)
    try:
        _user, token = await run_in_threadpool(
            users.login, svc, username, password, now, request.client.host if request.client else None
        )
    except (NotAuthenticated, TooManyRequests) as exc:  # the form again, with the table's status
        return _login_page(request, svc, next_, exc.message, username, status_for(exc))
    response = RedirectResponse(safe_next(next_), status_code=303)
    set_session(response, request, token, svc.settings.session_hours * 3600)
    return response


@router.post("/logout")
def logout(p: Page = Depends(form_page)):
    # The session token is revoked, and the cookie goes.
    token = session_token(p.request)
    if token:
        p.reader.close()
        users.logout(p.svc, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session(response, p.request)
    return response
