"""The owners' pages (业主查询), for a phone: the query code from the public notice and the room
open a 30-minute pass (an HttpOnly cookie of its own, never a staff session); the owner sees the
case's notice, their share and their ledger, and no other household."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from fundflow.http.deps import get_now, get_services
from fundflow.http.web.pages.common import FORM_ERRORS
from fundflow.http.web.render import PageRoute, render
from fundflow.http.web.security import (
    CSRF_FIELD,
    PRELOGIN_COOKIE,
    check_csrf,
    csrf_for_login,
    csrf_for_session,
    ensure_prelogin,
    set_prelogin,
)
from fundflow.service.context import Services
from fundflow.service.errors import NotAuthenticated, TooManyRequests, error_body, status_for
from fundflow.service.usecases import owners

router = APIRouter(route_class=PageRoute, include_in_schema=False)
OWNER_COOKIE = "fundflow_owner"


def _form_page(request: Request, svc: Services, error: str | None, values: dict, status: int = 200) -> Response:
    prelogin, new = ensure_prelogin(request)
    response = render(
        request,
        "owner_login.html",
        {"csrf": csrf_for_login(svc.settings.secret_key, prelogin), "error": error, "values": values, "user": None},
        status=status,
    )
    if new:
        set_prelogin(response, request, prelogin)
    return response


@router.get("/owner")
def owner_form(request: Request, code: str = "", svc: Services = Depends(get_services)):
    return _form_page(request, svc, None, {"code": code[:20], "building": "", "unit": "", "room": ""})


@router.post("/owner")
async def owner_sign_in(request: Request, svc: Services = Depends(get_services), now: datetime = Depends(get_now)):
    async with request.form() as form:
        values = {k: str(form.get(k) or "").strip()[:32] for k in ("code", "building", "unit", "room")}
        submitted = form.get(CSRF_FIELD)
    prelogin = request.cookies.get(PRELOGIN_COOKIE)
    expected = csrf_for_login(svc.settings.secret_key, prelogin) if prelogin else None
    if not check_csrf(expected, submitted if isinstance(submitted, str) else None):
        return _form_page(request, svc, "页面已过期或浏览器未启用 Cookie，请重新输入。", values, 403)
    address = request.client.host if request.client else None
    try:
        owner = owners.sign_in(svc, values["code"], values["building"], values["unit"], values["room"], now, address)
    except (NotAuthenticated, TooManyRequests) as exc:
        response = _form_page(request, svc, exc.message, values, status_for(exc))
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.detail["retry_after"])
        return response
    response = RedirectResponse("/owner/case", status_code=303)
    response.set_cookie(
        OWNER_COOKIE,
        owner.token,
        max_age=owners.PASS_MINUTES * 60,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/owner",
    )
    return response


def _case_page(
    request: Request,
    svc: Services,
    owner: owners.OwnerPass,
    now: datetime,
    flash: str | None = None,
    error: str | None = None,
    text: str = "",
    name: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "owner_case.html",
        {
            "v": owners.owner_view(svc, owner, now),
            "objections": owners.my_objections(svc, owner),
            "may_object": owners.objections_open(svc, owner),
            "csrf": csrf_for_session(svc.settings.secret_key, owner.token),
            "user": None,
            "flash": flash,
            "error": error,
            "text": text,
            "name": name,
        },
        status=status,
    )


def _signed_out(request: Request, svc: Services, exc: NotAuthenticated) -> Response:
    return _form_page(request, svc, exc.message, {"code": "", "building": "", "unit": "", "room": ""}, status_for(exc))


@router.get("/owner/case")
def owner_case(
    request: Request, lodged: int = 0, svc: Services = Depends(get_services), now: datetime = Depends(get_now)
):
    try:
        owner = owners.read_pass(svc, request.cookies.get(OWNER_COOKIE), now)
        flash = "您的异议已提交，街道办事处答复后将显示在下方。" if lodged else None
        return _case_page(request, svc, owner, now, flash=flash)
    except NotAuthenticated as exc:
        return _signed_out(request, svc, exc)


@router.post("/owner/objection")
async def owner_objection(request: Request, svc: Services = Depends(get_services), now: datetime = Depends(get_now)):
    async with request.form() as form:
        text = str(form.get("text") or "")[:2000]
        name = str(form.get("name") or "")[:64]
        submitted = form.get(CSRF_FIELD)
    try:
        owner = owners.read_pass(svc, request.cookies.get(OWNER_COOKIE), now)
    except NotAuthenticated as exc:
        return _signed_out(request, svc, exc)
    expected = csrf_for_session(svc.settings.secret_key, owner.token)
    if not check_csrf(expected, submitted if isinstance(submitted, str) else None):
        return _case_page(request, svc, owner, now, error="页面已过期，请重新提交。", text=text, name=name, status=403)
    try:
        owners.lodge_objection(svc, owner, name=name, text=text, now=now)
    except FORM_ERRORS as exc:
        message = error_body(exc)["message"]
        return _case_page(request, svc, owner, now, error=message, text=text, name=name, status=status_for(exc))
    return RedirectResponse("/owner/case?lodged=1", status_code=303)


@router.post("/owner/logout")
def owner_logout():
    response = RedirectResponse("/owner", status_code=303)
    response.delete_cookie(OWNER_COOKIE, path="/owner")
    return response
