"""The pages: thin handlers that call the same use cases as the API and render templates.

No rules live here: what a user may do comes from the case view's ``actions``, what is refused
comes back from the engine as a reason, which the page shows. State names are never compared.
Forms are plain HTML (they work without JavaScript); htmx posts them and swaps the part of
the page that changed (``HX-Request``), so a clerk keeps her place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from math import ceil
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from fundflow.domain.alerts import AlertKind
from fundflow.domain.diagram import to_mermaid
from fundflow.domain.errors import TransitionRefused, UnknownDefinition
from fundflow.domain.guards import REGISTRY, VoteChoice
from fundflow.domain.tz import SHANGHAI, local_date
from fundflow.http.deps import get_now, get_services
from fundflow.http.web.render import CsrfFailed, PageRoute, render
from fundflow.http.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRELOGIN_COOKIE,
    check_csrf,
    clear_session,
    csrf_for_login,
    csrf_for_session,
    ensure_prelogin,
    safe_next,
    session_token,
    set_prelogin,
    set_session,
)
from fundflow.service.context import Services
from fundflow.service.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    PayloadTooLarge,
    PreconditionFailed,
    TooManyRequests,
    error_body,
    status_for,
)
from fundflow.service.exports import apportionment_xlsx, statement_xlsx, top_up_xlsx
from fundflow.service.reads import Reader, inbox, places
from fundflow.service.reads import case as case_reads
from fundflow.service.reads import case_list as list_reads
from fundflow.service.reads import stats as stats_reads
from fundflow.service.reads.session import User, signed_in
from fundflow.service.usecases import alerts, cases, documents, ledger, meetings, users

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 20
#: Errors a form can cause that the page shows next to the form (the rest get an error page).
FORM_ERRORS = (TransitionRefused, Conflict, InvalidInput, Forbidden, PreconditionFailed, PayloadTooLarge)
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
    user: User
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


def unit_name(user: User, svc: Services) -> str:
    """The user's unit as people name it: 维修资金管理中心 (a city-level role), 月塘街道, 桂园新村业主委员会."""
    role = role_name(svc, user.role)
    if user.org_level == "city":
        return role or user.org_name
    if user.org_level == "community":
        return f"{user.org_name}{role}"
    return user.org_name


def page(request: Request, svc: Services = Depends(get_services), now: datetime = Depends(get_now)):
    token = session_token(request)
    if not token:
        raise NotAuthenticated("请先登录", code="not_authenticated")
    with Reader(svc) as reader:
        user = signed_in(reader.s, svc, token, now)
        nav = {
            "can_open": any(user.role in d.open_roles for d in svc.registry.latest()),
            "alerts": True,
            "unacked": inbox.unacked_count(reader.s, user),
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


def _count_refusal(request: Request, exc: Exception) -> None:
    if isinstance(exc, TransitionRefused):
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.refusals.labels(exc.refusal.code.value).inc()


def _message(exc: Exception) -> str:
    return error_body(exc)["message"]


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
    except NotAuthenticated as exc:
        return _login_page(request, svc, next_, exc.message, username, 401)
    except TooManyRequests as exc:
        return _login_page(request, svc, next_, exc.message, username, 429)
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


# -- my work and the case list -----------------------------------------------------------------


@router.get("/")
def todo(p: Page = Depends(page), page_no: int = Query(1, alias="page", ge=1, le=100000)):
    result = list_reads.list_cases(
        p.s,
        p.svc,
        p.user,
        now=p.now,
        responsible_role=p.user.role,
        include_closed=False,
        page=page_no,
        page_size=PAGE_SIZE,
    )
    return p.render("todo.html", {"active": "todo", "result": result, "pages": _pages(result), "params": {}})


@router.get("/cases")
def case_list(
    p: Page = Depends(page),
    state: str | None = Query(None, max_length=64),
    street_office_id: str | None = Query(None, max_length=12),
    overdue: str | None = Query(None, max_length=5),
    q: str | None = Query(None, max_length=100),
    include_closed: str | None = Query(None, max_length=5),
    page_no: int = Query(1, alias="page", ge=1, le=100000),
):
    office = int(street_office_id) if street_office_id and street_office_id.isdigit() else None
    overdue_flag = {"yes": True, "no": False}.get(overdue or "")
    result = list_reads.list_cases(
        p.s,
        p.svc,
        p.user,
        now=p.now,
        state=state or None,
        street_office_id=office,
        overdue=overdue_flag,
        q=(q or "").strip() or None,
        include_closed=include_closed != "no",
        page=page_no,
        page_size=PAGE_SIZE,
    )
    params = {
        "state": state or "",
        "street_office_id": office or "",
        "overdue": overdue or "",
        "q": q or "",
        "include_closed": include_closed or "",
    }
    context = {
        "active": "cases",
        "result": result,
        "pages": _pages(result),
        "params": params,
        "states": _state_options(p.svc),
        "offices": places.visible_street_offices(p.s, p.user),
    }
    if p.htmx and p.request.headers.get("hx-target") == "case-results":
        return p.render("_case_results.html", context, headers={"Vary": "HX-Request"})
    return p.render("cases.html", context, headers={"Vary": "HX-Request"})


def _pages(result: dict[str, Any]) -> dict[str, int]:
    return {"page": result["page"], "count": max(1, ceil(result["total"] / result["page_size"]))}


def _state_options(svc: Services) -> list[dict[str, str]]:
    labels: dict[str, list[str]] = {}
    for d in svc.registry.latest():
        for st in d.states.values():
            if st.label not in labels.setdefault(st.id, []):
                labels[st.id].append(st.label)
    return [{"value": k, "label": " / ".join(v)} for k, v in labels.items()]


# -- a new case (the hazard report) ---------------------------------------------------------------


def _openable(p: Page) -> list[Any]:
    return [d for d in p.svc.registry.latest() if p.user.role in d.open_roles]


def _photo_type(d) -> tuple[str, str] | None:
    """The report's photos are the first document the first stage asks for."""
    docs = d.states[d.initial].documents
    return (docs[0], d.documents.get(docs[0], docs[0])) if docs else None


@router.get("/cases/new")
def new_case_form(p: Page = Depends(page), community_id: int | None = Query(None, ge=1, le=2**31 - 1)):
    return _new_case_page(p, {"community_id": community_id}, None)


def _new_case_page(p: Page, values: dict[str, Any], error: str | None, status: int = 200) -> Response:
    definitions = _openable(p)
    if not definitions:
        raise Forbidden("您的角色不能上报隐患（发起案件）", code="role_cannot_open")
    communities = places.visible_communities(p.s, p.user)
    chosen = values.get("community_id") or (communities[0]["id"] if communities else None)
    buildings = _buildings(p, chosen) if chosen else []
    photo_types = {d.id: _photo_type(d) for d in definitions}
    return p.render(
        "case_new.html",
        {
            "active": "new",
            "definitions": definitions,
            "communities": communities,
            "buildings": buildings,
            "values": {
                "definition": definitions[0].id,
                "title": "",
                "hazard_category": "",
                "description": "",
                "buildings": [],
                **values,
                "community_id": chosen,
            },
            "photo_types": photo_types,
            # each procedure's report categories, from its definition (``open_form.categories``)
            "categories": list(dict.fromkeys(c for d in definitions for c in d.open_form.categories)),
            "error": error,
            "upload_limit": p.svc.settings.max_upload_bytes,
        },
        status=status,
    )


def _buildings(p: Page, community_id: int) -> list[dict[str, Any]]:
    return places.community(p.s, p.user, community_id)["buildings"]


@router.get("/cases/new/buildings")
def new_case_buildings(p: Page = Depends(page), community_id: int = Query(..., ge=1, le=2**31 - 1)):
    return p.render("_buildings.html", {"buildings": _buildings(p, community_id), "values": {"buildings": []}})


@router.post("/cases/new")
def new_case_submit(p: Page = Depends(form_page)):
    form = p.form
    assert form is not None
    community = p.text("community_id")
    values = {
        "definition": p.text("definition"),
        "community_id": int(community) if community.isdigit() else None,
        "title": p.text("title"),
        "hazard_category": p.text("hazard_category"),
        "description": p.text("description"),
        "buildings": [b for b in form.getlist("buildings") if isinstance(b, str) and b.strip()],
    }
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    if values["community_id"] is None:
        return _new_case_page(p, values, "请选择小区。", 422)
    data = {k: values[k] for k in ("hazard_category", "description") if values[k]}
    try:
        d = p.svc.registry.get(values["definition"] or "")
        reply = p.write(
            cases.open_case,
            definition=d.id,
            community_id=values["community_id"],
            title=values["title"],
            data=data,
            buildings=values["buildings"] or None,
            now=p.now,
        )
    except UnknownDefinition:
        return _new_case_page(p, values, "请选择流程。", 422)
    except FORM_ERRORS as exc:
        return _new_case_page(p, values, _message(exc), status_for(exc))
    case_id = reply.body["id"]
    photo_type = _photo_type(d)
    failed = []
    for f in photos:
        try:
            p.write(
                documents.attach_document,
                case_id,
                doc_type=photo_type[0] if photo_type else "",
                filename=f.filename or "photo",
                content_type=f.content_type,
                content=f.file.read(),
                now=p.now,
            )
        except FORM_ERRORS as exc:
            failed.append(f"{f.filename}：{_message(exc)}")
    target = f"/cases/{case_id}?created=1" + ("&photo_failed=1" if failed else "")
    return RedirectResponse(target, status_code=303)


# -- the case page ---------------------------------------------------------------------------------


@dataclass
class Problem:
    """A form's refusal, shown next to that form with what the user typed."""

    form: str  # "action:<trigger>", "vote", "document"
    message: str
    field_name: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@router.get("/cases/{case_id}")
def case_page(
    case_id: int,
    p: Page = Depends(page),
    done: str | None = Query(None, max_length=10),
    created: str | None = Query(None, max_length=2),
    photo_failed: str | None = Query(None, max_length=2),
):
    flash = None
    if created:
        flash = "案件已立案。" + ("但部分照片未能上传，请在“材料”中重新上传。" if photo_failed else "")
    return _case_page(p, case_id, flash=flash, done=bool(done))


def _case_page(
    p: Page,
    case_id: int,
    *,
    flash: str | None = None,
    done: bool = False,
    problem: Problem | None = None,
    status: int = 200,
) -> Response:
    svc, user = p.svc, p.user
    read = case_reads.case_page(p.s, svc, user, case_id, p.now)  # the page's one read
    view, d, events, docs, votes, stages = (
        read[k] for k in ("view", "definition", "events", "documents", "votes", "stages")
    )
    apportionment, apportion_note = read["apportionment"], read["apportion_note"]
    if done and events:
        flash = f"已办理：{events[-1]['label']}。案件现处于“{view['state_label']}”。"
    parties, voters = read["parties"], read["voters"]
    by_party = {v["party"]: v for v in votes}
    # the sign-off per party: the meeting's parties (while it is held), else those who voted,
    # in the definition's order of roles
    shown_parties = parties or [r for r in d.roles if r in by_party] + [r for r in by_party if r not in d.roles]
    labels = _field_labels(d)
    community_buildings = read["buildings"]
    names = {b["id"]: b["name"] for b in community_buildings}
    for e in events:
        e["rows"] = _data_rows({k: v for k, v in (e["data"] or {}).items() if k != "occurred_at"}, labels, d, names)
        e["moved"] = e["from_state"] != e["to_state"]
        e["org"] = None if e["org"] == users.CITY_ORG_NAME else e["org"]  # the name says the unit
    present = {doc["doc_type"] for doc in docs if doc["current"]}
    required = (
        [
            {"type": t, "label": d.documents.get(t, t), "present": t in present}
            for t in d.states[view["state"]].documents
        ]
        if not view["terminal"]
        else []
    )
    shown = {f"action:{a['trigger']}" for a in view["actions"]} | ({"vote"} if voters else set())
    if not view["terminal"]:
        shown.add("document")
    context = {
        "problem_top": problem is not None and problem.form not in shown,
        "votes": VOTES,
        "active": "cases",
        "case": view,
        "definition": d,
        "events": events,
        "documents": docs,
        "timeline": _timeline(stages, events, view),
        "apportionment": apportionment,
        "apportion_note": apportion_note,
        "parties": [
            {"role": r, "label": d.roles[r].label if r in d.roles else r, "vote": by_party.get(r)}
            for r in shown_parties
        ],
        "voters": [{"role": r, "label": d.roles[r].label if r in d.roles else r} for r in voters],
        "required_documents": required,
        "document_types": [(t, label) for t, label in d.documents.items() if d.may_upload(t, user.role)],
        "labels": labels,
        "role_labels": {r.id: r.label for r in d.roles.values()},
        "flash": flash,
        "problem": problem,
        "idem": uuid.uuid4().hex,
        "data_rows": _data_rows(view["data"], labels, d, names),
        "scope_buildings": community_buildings,
        "whole_estate": WHOLE_ESTATE,
        "scope_text": _scope_text(view["scope_building_ids"], names),
        "today": local_date(p.now).isoformat(),
        "upload_limit": svc.settings.max_upload_bytes,
    }
    name = "_case_body.html" if p.htmx else "case.html"
    return p.render(name, context, status=status)


def _field_labels(d) -> dict[str, str]:
    """Case-data key -> label: the transitions' fields; a record or a counter by the action that
    writes it (the record signed by ``sign_acceptance`` reads 签署验收意见)."""
    labels = dict(DATA_LABELS)
    for t in d.transitions:
        for f in t.fields:
            labels.setdefault(f.name, f.label)
        if t.effect is not None and t.effect.sign:
            labels.setdefault(t.effect.sign, t.label)
        if t.effect is not None and t.effect.counter and t.effect.delta > 0:
            labels.setdefault(t.effect.counter, f"{t.label}（未了结）")
    labels.setdefault("reason", "原因")
    return labels


def _scope_text(ids: list[int], names: dict[int, str]) -> str:
    return "全小区" if not ids else "、".join(names.get(i, "（已删除楼栋）") for i in ids)


def _display(
    value: Any, name: str, d, labels: dict[str, str] | None = None, names: dict[int, str] | None = None
) -> str:
    """A data value as text: choices by their label, lists joined, records spelled out."""
    if name in ("scope_building_ids", "scope_building_ids_before") and isinstance(value, list):
        return _scope_text(value, names or {})
    if name == "occurred_at" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if name == "new_round" and isinstance(value, dict):
        docs = "、".join(d.documents.get(t, t) for t in value.get("documents", ()))
        return f"第 {value.get('round')} 轮材料：{docs}须重新上传"
    if isinstance(value, dict) and set(value) <= {"whole_estate", "buildings"}:
        return "全小区" if value.get("whole_estate") else "、".join(value.get("buildings", ()))
    for t in d.transitions:
        for f in t.fields:
            if f.name == name and f.choices and isinstance(value, str):
                return f.choice_labels.get(value, value)
    if isinstance(value, list):  # roles by their label; anything else the API accepted, spelled out
        return "、".join(
            d.roles[v].label
            if isinstance(v, str) and v in d.roles
            else f"（{_display(v, name, d, labels)}）"
            if isinstance(v, (list, dict))
            else _display(v, name, d, labels)
            for v in value
        )
    if isinstance(value, dict):
        return "；".join(f"{(labels or DATA_LABELS).get(k, k)}：{_display(v, k, d, labels)}" for k, v in value.items())
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else str(value)


def _data_rows(
    data: dict[str, Any], labels: dict[str, str], d, names: dict[int, str] | None = None
) -> list[tuple[str, str]]:
    return [
        (labels.get(k, k), _display(v, k, d, labels, names))
        for k, v in data.items()
        if v not in (None, "", {}) and (v != [] or k.startswith("scope_building_ids"))
    ]


def _timeline(stages: list[dict[str, Any]], events: list[dict[str, Any]], view: dict[str, Any]) -> list[dict[str, Any]]:
    """The stages in order, each with the events that happened in it; a closed case ends with
    its outcome. An event that moves the case ends the stage it happened in."""
    items = [{**st, "terminal": False, "events": []} for st in stages]
    i = 0
    for e in events:
        if not items:
            break
        items[i]["events"].append(e)
        if e["from_state"] is not None and e["from_state"] != e["to_state"] and i + 1 < len(items):
            i += 1
    if view["terminal"]:
        items.append(
            {
                "label": view["state_label"],
                "terminal": True,
                "entered_at": view["closed_at"],
                "left_at": None,
                "due_date": None,
                "due_at": None,
                "provisional": False,
                "events": [],
                "status": "end",
                "responsible": None,
            }
        )
    return items


def _after_post(p: Page, case_id: int, anchor: str) -> Response:
    if p.htmx:
        return _case_page(p, case_id, done=True)
    return RedirectResponse(f"/cases/{case_id}?done=1#{anchor}", status_code=303)


@router.post("/cases/{case_id}/actions/{trigger}")
def fire_action(case_id: int, trigger: str, p: Page = Depends(form_page)):
    view = case_reads.case_detail(p.s, p.svc, p.user, case_id, p.now)  # the action's fields, read with the caller
    action = next((a for a in view["actions"] if a["trigger"] == trigger), None)
    values: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for f in action["fields"] if action else []:
        if f["type"] == "scope":
            assert p.form is not None
            picked = [b for b in p.form.getlist(f["name"]) if isinstance(b, str) and b.strip()]
            values[f["name"]] = picked
            if WHOLE_ESTATE in picked:
                data[f["name"]] = {"whole_estate": True}
            elif picked:
                data[f["name"]] = {"buildings": picked}
            continue
        raw = p.text(f["name"])
        values[f["name"]] = raw
        if raw != "":
            data[f["name"]] = raw
    comment = p.text("comment") or None
    values["comment"] = comment or ""
    occurred = p.text("occurred_at")
    values["occurred_at"] = occurred
    version = p.text("version")
    key = p.text("idempotency_key")
    try:
        # an action the page did not offer goes to the engine all the same: it says why not
        p.write(
            cases.fire_transition,
            case_id,
            trigger=trigger[:64],
            data=data,
            comment=comment,
            now=p.now,
            if_match=int(version) if version.isdigit() and len(version) < 10 else None,
            idempotency_key=key[:128] or None,
            occurred_at=occurred[:40] or None,
        )
    except FORM_ERRORS as exc:
        _count_refusal(p.request, exc)
        refusal_field = exc.refusal.field if isinstance(exc, TransitionRefused) else None
        if isinstance(exc, InvalidInput) and isinstance(exc.detail, dict):
            refusal_field = exc.detail.get("field", refusal_field)
        return _case_page(
            p,
            case_id,
            problem=Problem(f"action:{trigger}", _message(exc), refusal_field, values),
            status=status_for(exc),
        )
    return _after_post(p, case_id, "case-top")


@router.post("/cases/{case_id}/votes")
def record_vote(case_id: int, p: Page = Depends(form_page)):
    values = {k: p.text(k) for k in ("party", "attended", "vote", "opinion")}
    try:
        p.write(
            meetings.record_vote,
            case_id,
            party=values["party"],
            attended=values["attended"] != "no",
            vote=values["vote"] or None,
            opinion=values["opinion"] or None,
            now=p.now,
        )
    except FORM_ERRORS as exc:
        return _case_page(p, case_id, problem=Problem("vote", _message(exc), None, values), status=status_for(exc))
    return _after_post(p, case_id, "meeting")


@router.post("/cases/{case_id}/documents")
def upload_document(case_id: int, p: Page = Depends(form_page)):
    assert p.form is not None
    upload = p.form.get("file")
    doc_type = p.text("doc_type")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("请选择要上传的文件", code="file_missing")
        p.write(
            documents.attach_document,
            case_id,
            doc_type=doc_type,
            filename=upload.filename,
            content_type=upload.content_type,
            content=upload.file.read(),
            now=p.now,
        )
    except FORM_ERRORS as exc:
        return _case_page(
            p, case_id, problem=Problem("document", _message(exc), None, {"doc_type": doc_type}), status=status_for(exc)
        )
    return _after_post(p, case_id, "documents")


@router.get("/cases/{case_id}/documents/{document_id}")
def download_document(case_id: int, document_id: int, p: Page = Depends(page)):
    doc, path = documents.open_document(p.svc, p.user, case_id, document_id)
    return FileResponse(path, media_type=doc.content_type, filename=doc.filename)


@router.get("/cases/{case_id}/apportionment.xlsx")
def apportionment_excel(case_id: int, p: Page = Depends(page)):
    table = case_reads.apportionment(p.s, p.svc, case_reads.load(p.s, p.user, case_id))
    return Response(
        apportionment_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="apportionment-{table["case_number"]}.xlsx"'},
    )


@router.get("/cases/{case_id}/top-up-notices/{notice_id}.xlsx")
def top_up_excel(case_id: int, notice_id: int, p: Page = Depends(page)):
    notice = ledger.top_up_notice(p.svc, p.user, case_id, notice_id)
    return Response(
        top_up_xlsx(notice),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="top-up-{notice["case_number"]}-{notice_id}.xlsx"'},
    )


@router.get("/households/{household_id}")
def household_page(household_id: int, p: Page = Depends(page)):
    """分户账明细: a household's ledger, entry by entry."""
    return p.render(
        "household.html", {"active": "cases", "statement": ledger.household_statement(p.svc, p.user, household_id)}
    )


@router.get("/households/{household_id}/ledger.xlsx")
def household_excel(household_id: int, p: Page = Depends(page)):
    statement = ledger.household_statement(p.svc, p.user, household_id)
    return Response(
        statement_xlsx(statement),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="ledger-{household_id}.xlsx"'},
    )


# -- the city's figures, the procedures ------------------------------------------------------------


@router.get("/dashboard")
def dashboard(p: Page = Depends(page), definition: str | None = Query(None, max_length=64)):
    known = {d.id: d.title for d in p.svc.registry.latest()}
    chosen = definition if definition in known else None
    stats = stats_reads.city_stats(p.s, p.svc, p.user, p.now, chosen)
    offices = stats["street_offices"]
    by_district: dict[Any, list[dict[str, Any]]] = {}
    for o in offices:
        by_district.setdefault(o["district_id"], []).append(o)
    max_count = max([o["started"] for o in offices] + [1])
    max_district = max([x["started"] for x in stats["districts"]] + [1])
    max_money = max(
        [float(x["approved"]) for x in stats["districts"]] + [float(x["paid"]) for x in stats["districts"]] + [1.0]
    )
    max_days = max([s["average_working_days"] for s in stats["stages"]] + [1])
    stages_by_definition: dict[str, list[dict[str, Any]]] = {}
    for s in stats["stages"]:
        stages_by_definition.setdefault(s["definition"], []).append(s)
    for def_id, rows in stages_by_definition.items():  # in the procedure's order
        order = list(p.svc.registry.get(def_id).states) if def_id in known else []
        rows.sort(key=lambda r: order.index(r["state"]) if r["state"] in order else len(order))
    return p.render(
        "dashboard.html",
        {
            "scope_name": "全市" if p.user.org_level == "city" else p.user.org_name,
            "active": "dashboard",
            "stats": stats,
            "by_district": by_district,
            "max_count": max_count,
            "max_district": max_district,
            "max_money": max_money,
            "max_days": max_days,
            "definitions": known,
            "chosen": chosen,
            "stages_by_definition": stages_by_definition,
        },
    )


@router.get("/procedures")
def procedures(p: Page = Depends(page)):
    return p.render("procedures.html", {"active": "procedures", "definitions": list(p.svc.registry)})


@router.get("/procedures/{definition_id}")
def procedure(definition_id: str, p: Page = Depends(page), version: int | None = Query(None, ge=1, le=10000)):
    d = p.svc.registry.get(definition_id[:64], version)
    roles = {r.id: r.label for r in d.roles.values()}
    rows = []
    for t in d.transitions:
        rows.append(
            {
                "trigger": t.trigger,
                "label": t.label,
                "from": [d.states[s].label for s in t.sources],
                "to": d.states[t.dest].label if t.dest else "（本环节内办理）",
                "roles": [roles.get(r, r) for r in sorted(t.roles)],
                "fields": [f.label + ("" if f.required else "（选填）") for f in t.fields],
                "guards": [REGISTRY[g.name].label if g.name in REGISTRY else g.name for g in t.guards],
            }
        )
    labels = _field_labels(d)
    deadlines = {}
    for st in d.states.values():
        rule = st.deadline
        if rule is None:
            deadlines[st.id] = "—"
        elif rule.date_field:
            deadlines[st.id] = f"按“{labels.get(rule.date_field, rule.date_field)}”所定日期"
        else:
            deadlines[st.id] = rule.describe()
        if rule is not None and rule.warn_before_working_days:
            deadlines[st.id] += f"（提前 {rule.warn_before_working_days} 个工作日预警）"
    return p.render(
        "procedure.html",
        {
            "active": "procedures",
            "d": d,
            "roles": roles,
            "transitions": rows,
            "deadlines": deadlines,
            "mermaid": to_mermaid(d),
        },
    )


# -- the alerts inbox ------------------------------------------------------------------------------

#: alert kind -> badge colour (the kinds and their labels come from the use case)
ALERT_BADGES = {AlertKind.WARNING.value: "amber", AlertKind.OVERDUE.value: "red", AlertKind.ESCALATION.value: "red"}


@router.get("/alerts")
def alert_inbox(
    p: Page = Depends(page),
    unread: str | None = Query(None, max_length=3),
    page_no: int = Query(1, alias="page", ge=1, le=100000),
):
    result = inbox.inbox(p.s, p.user, unacked_only=unread == "1", page=page_no, page_size=PAGE_SIZE)
    params = {"unread": "1" if unread == "1" else ""}
    return p.render(
        "alerts.html",
        {"active": "alerts", "result": result, "pages": _pages(result), "params": params, "badges": ALERT_BADGES},
    )


@router.post("/alerts/{alert_id}/ack")
def alert_ack(alert_id: int, p: Page = Depends(form_page)):
    alert = p.write(alerts.ack_alert, alert_id, p.now)
    if p.htmx:  # the row, and the count in the menu (out of band)
        p.nav["unacked"] = inbox.unacked_count(p.s, p.user)
        return p.render("_alert_row.html", {"a": alert, "badges": ALERT_BADGES, "oob": True})
    back = p.text("back")
    return RedirectResponse(safe_next(back, "/alerts"), status_code=303)
