"""Templates, their filters (dates in Asia/Shanghai, money in yuan) and the page error handling."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from fundflow.domain.errors import FundflowError
from fundflow.domain.tz import SHANGHAI
from fundflow.service.errors import CsrfFailed, answer_for, error_body

__all__ = ["templates", "render", "PageRoute", "login_redirect", "WEEKDAYS", "CsrfFailed"]

log = logging.getLogger("fundflow.web")
HERE = Path(__file__).resolve().parent
WEEKDAYS = "一二三四五六日"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI)
    raise TypeError(f"not a moment: {value!r}")


#: Path and query parameters of the pages, as a clerk knows them (never the raw name).
PARAM_NAMES = {
    "case_id": "案件编号",
    "document_id": "材料编号",
    "alert_id": "提醒编号",
    "community_id": "小区",
    "page": "页码",
    "definition_id": "流程",
    "version": "版本",
    "definition": "流程",
    "state": "环节",
    "street_office_id": "街道",
    "q": "搜索内容",
    "trigger": "操作",
    "unread": "筛选条件",
}


def fmt_dt(value: Any) -> str:
    """``2026-11-26 10:30`` in Asia/Shanghai; ``—`` for none."""
    m = _moment(value)
    return "—" if m is None else m.strftime("%Y-%m-%d %H:%M")


def fmt_date(value: Any, weekday: bool = True) -> str:
    """``2026-11-26（周四）``; a moment is taken in Asia/Shanghai."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    text = value.isoformat()
    return f"{text}（周{WEEKDAYS[value.weekday()]}）" if weekday else text


def fmt_money(value: Any) -> str:
    """``84,250.00``; ``—`` for none."""
    if value is None or value == "":
        return "—"
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def fmt_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from ``params`` with ``changes``; empty values left out."""
    merged = {**params, **changes}
    parts = [f"{quote(str(k))}={quote(str(v))}" for k, v in merged.items() if v not in (None, "", False)]
    return ("?" + "&".join(parts)) if parts else ""


_env.filters.update(dt=fmt_dt, date=fmt_date, money=fmt_money, size=fmt_size)
_env.globals.update(query=_query)


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    ctx = {"request": request, "user": None, "csrf": "", "nav": None, "flash": None, "error": None, **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status, headers=headers)


def login_redirect(request: Request) -> Response:
    # back to the page after login; a form that was being sent cannot be resent: to the start
    target = (
        request.url.path + (f"?{request.url.query}" if request.url.query else "") if request.method == "GET" else "/"
    )
    to = "/login" + _query({"next": target})
    if request.headers.get("hx-request"):
        # htmx follows redirects inside the XHR: ask it to load the login page instead
        return Response(status_code=204, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)


def error_page(request: Request, status: int, title: str, message: str, user: Any = None) -> Response:
    context = {
        "status": status,
        "title": title,
        "message": message,
        "user": user,
        "csrf": getattr(request.state, "csrf", ""),
        "nav": getattr(request.state, "nav", None),
    }
    if request.headers.get("hx-request"):
        # a partial update that failed: the message replaces the page's main content
        return render(
            request, "_error.html", context, status=status, headers={"HX-Retarget": "#main", "HX-Reswap": "innerHTML"}
        )
    return render(request, "error.html", context, status=status)


_TITLES = {
    400: "请求有误",
    403: "无权访问",
    404: "未找到",
    405: "不支持该请求方法",
    409: "无法办理",
    412: "案件已更新",
    413: "文件过大",
    422: "填写有误",
    500: "服务器内部错误",
}


def error_response(request: Request, exc: FundflowError) -> Response:
    """The page's answer to any error of the tree, from the one table (``service.errors.ERRORS``):
    its status, title and the message the API would give; a 401 goes to the login page."""
    answer = answer_for(exc)
    if answer.status == 401:
        return login_redirect(request)
    if answer.status >= 500:
        log.error("error on page %s: %s", request.url.path, exc)
    title = answer.title or _TITLES.get(answer.status, "出错了")
    return error_page(request, answer.status, title, error_body(exc)["message"], getattr(request.state, "user", None))


class PageRoute(APIRoute):
    """A page route: errors become Chinese HTML pages (not the API's JSON); an expired or
    missing session goes to the login page."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except FundflowError as exc:
                return error_response(request, exc)
            except RequestValidationError as exc:
                names = [PARAM_NAMES.get(str(e.get("loc", ("", ""))[-1]), "") for e in exc.errors()[:5]]
                where = "、".join(dict.fromkeys(n for n in names if n))
                message = (
                    f"页面地址中的{where}不正确，请从列表重新进入。" if where else "页面地址不正确，请从列表重新进入。"
                )
                return error_page(request, 422, "请求参数有误", message, getattr(request.state, "user", None))
            except StarletteHTTPException as exc:
                return error_page(
                    request,
                    exc.status_code,
                    _TITLES.get(exc.status_code, "出错了"),
                    str(exc.detail) if isinstance(exc.detail, str) else "请求错误",
                    getattr(request.state, "user", None),
                )

        return page_handler
