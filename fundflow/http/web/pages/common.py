"""What every page shares: the signed-in request (``Page``, with its one read transaction), the
form POST (CSRF checked), the unit a user belongs to, the labels of case data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import ceil
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from fundflow.domain.errors import ApportionmentError, TransitionRefused
from fundflow.domain.guards import VoteChoice
from fundflow.http.deps import get_now, get_services
from fundflow.http.web.render import CsrfFailed, render
from fundflow.http.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    check_csrf,
    csrf_for_session,
    session_token,
)
from fundflow.service.context import Services
from fundflow.service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    PayloadTooLarge,
    PreconditionFailed,
    error_body,
)
from fundflow.service.reads import Reader, inbox, tasks
from fundflow.service.reads.session import Principal, signed_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 20
#: Errors a form can cause that the page shows next to the form (the rest get an error page).
FORM_ERRORS = (
    TransitionRefused,
    ApportionmentError,
    Conflict,
    InvalidInput,
    Forbidden,
    PreconditionFailed,
    PayloadTooLarge,
)
#: Labels of case-data keys that no transition declares (the report's own fields, records).
DATA_LABELS = {
    "hazard_category": "隐患类别",
    "description": "情况描述",
    "reported_by": "上报单位",
    "hazard": "隐患情况",
    "fault": "故障情况",
    "signatures": "签署情况",
    "counters": "待了结事项",
    "ledger": "分户账扣减",
    "occurred_at": "实际发生时间",
    "scope_building_ids": "分摊楼栋",
    "scope_building_ids_before": "原分摊楼栋",
    "new_round": "材料重新提交",
    "whole_estate": "全小区",
    "buildings": "楼栋",
}
#: The form value of the "whole estate" box of a paying-scope field.
WHOLE_ESTATE = "__whole_estate__"
#: The joint meeting's votes: value, label, badge colour.
VOTES = (
    (VoteChoice.AGREE.value, "同意", "green"),
    (VoteChoice.DISAGREE.value, "不同意", "red"),
    (VoteChoice.ABSTAIN.value, "弃权", "muted"),
)


# -- the signed-in user ------------------------------------------------------------------------


@dataclass
class Page:
    """A signed-in request. ``reader`` is its one read transaction: the caller, the menu and the
    page are read in it; ``write`` ends it before a use case writes, so what is shown after the
    write is read afresh (one write transaction, then one read)."""

    request: Request
    svc: Services
    now: datetime
    user: Principal
    csrf: str
    nav: dict[str, Any]
    reader: Reader
    form: FormData | None = None
    htmx: bool = False

    @property
    def s(self):
        """The read transaction's session (reopened after a write)."""
        return self.reader.s

    def write(self, use_case, *args, **kwargs):
        """Run a use case that writes (in its own transaction), the read transaction ended first."""
        self.reader.close()
        return use_case(self.svc, self.user, *args, **kwargs)

    def render(
        self, name: str, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return render(
            self.request,
            name,
            {"user": self.user, "csrf": self.csrf, "nav": self.nav, "unit": unit_name(self.user, self.svc), **context},
            status=status,
            headers=headers,
        )

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default


#: Roles outside the procedures' parties, by their Chinese name.
OTHER_ROLES = {"admin": "系统管理员"}


def role_name(svc: Services, role: str) -> str:
    for d in svc.registry.latest():
        if role in d.roles:
            return d.roles[role].label
    return OTHER_ROLES.get(role, "")


def unit_name(user: Principal, svc: Services) -> str:
    """The user's unit as people name it: 维修资金管理中心 (a city-level role), 荷塘区消防救援机构 (a
    district's), 月塘街道 (the street office is its place), 桂园新村业主委员会 (a community's)."""
    role = role_name(svc, user.role)
    if user.org_level == "city":
        return role or user.org_name
    if user.org_level in ("community", "district"):
        return f"{user.org_name}{role}"
    return user.org_name


def page(request: Request, svc: Services = Depends(get_services), now: datetime = Depends(get_now)):
    token = session_token(request)
    if not token:
        raise NotAuthenticated("请先登录", code="not_authenticated")
    with Reader(svc) as reader:
        user = signed_in(reader.s, svc, token, now)
        openable = [d for d in svc.registry.latest() if user.role in d.open_roles]
        nav = {
            "can_open": bool(openable),
            # the link names the report: 上报隐患 for the fund's procedures, else the first one's own
            "open_label": "上报隐患"
            if not openable or any(d.subject.is_community for d in openable)
            else openable[0].open_form.label,
            "alerts": True,
            "unacked": inbox.unacked_count(reader.s, user),
            "tasks": tasks.task_count(reader.s, svc, user, now),  # the length of the first page's list
            # 转办记录: the roles a procedure lets transfer a case (they send and receive)
            "transfers": any(
                d.handoffs.transfer is not None and user.role in d.handoffs.transfer.roles
                for d in svc.registry.latest()
            ),
        }
        csrf = csrf_for_session(svc.settings.secret_key, token)
        request.state.user, request.state.csrf, request.state.nav = user, csrf, nav
        yield Page(request, svc, now, user, csrf, nav, reader, htmx=bool(request.headers.get("hx-request")))


async def form_page(request: Request, p: Page = Depends(page)):
    """A signed-in form POST: the form parsed once, its CSRF token checked, its files closed after."""
    form = await request.form()
    try:
        submitted = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not check_csrf(p.csrf, submitted if isinstance(submitted, str) else None):
            raise CsrfFailed()
        p.form = form
        yield p
    finally:
        await form.close()


def _message(exc: Exception) -> str:
    return error_body(exc)["message"]


def _pages(result: dict[str, Any]) -> dict[str, int]:
    return {"page": result["page"], "count": max(1, ceil(result["total"] / result["page_size"]))}
