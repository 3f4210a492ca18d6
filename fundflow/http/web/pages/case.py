"""The case page and what is done on it: actions, votes, documents, downloads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from fundflow.domain.errors import TransitionRefused
from fundflow.domain.tz import SHANGHAI, local_date
from fundflow.http.web.pages.common import (
    DATA_LABELS,
    FORM_ERRORS,
    VOTES,
    WHOLE_ESTATE,
    XLSX,
    Page,
    _message,
    form_page,
    page,
)
from fundflow.http.web.render import PageRoute
from fundflow.service.errors import (
    InvalidInput,
    status_for,
)
from fundflow.service.exports import apportionment_xlsx, top_up_xlsx
from fundflow.service.paperwork.kinds import LABELS as GENERATED_KINDS
from fundflow.service.reads import case as case_reads
from fundflow.service.reads import case_work
from fundflow.service.usecases import cases, documents, ledger, meetings, organisations, owners, paperwork, users

router = APIRouter(route_class=PageRoute, include_in_schema=False)


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
    work = case_work.case_work(p.s, svc, user, case_id, p.now)  # 指派/签收, 督办, top-up notices sent
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
    # organisation fields (派单): the choices, and ids shown by name
    org_options = {k: organisations.organisations_of(p.s, k) for k in d.organisation_kinds}
    org_fields = {f.name for t in d.transitions for f in t.fields if f.org_kind}
    org_names = {o["id"]: o["name"] for opts in org_options.values() for o in opts}
    for e in events:
        if org_fields and e["data"]:
            e["data"] = _named_orgs(e["data"], org_fields, org_names)
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
    # the hand-off and objection forms (issue 11b) show their own refusals
    shown |= {"transfer", "extension", "withdraw", "objection", "session"}
    shown |= {f"decision:{e['id']}" for e in read["handoffs"]["decidable"]}
    shown |= {f"answer:{o['id']}" for o in read["objections"]}
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
        "data_rows": _data_rows(_named_orgs(view["data"], org_fields, org_names), labels, d, names),
        "org_options": org_options,
        "scope_buildings": community_buildings,
        "whole_estate": WHOLE_ESTATE,
        "scope_text": _scope_text(view["scope_building_ids"], names),
        "today": local_date(p.now).isoformat(),
        "upload_limit": svc.settings.max_upload_bytes,
        "work": work,
        "generated_kinds": list(GENERATED_KINDS.items()),
        "owner_code": owners.owner_code(svc.settings.secret_key, view["id"]),
        # issue 11b: hand-offs and the objection records (templates/_case_handoffs.html)
        "handoffs": read["handoffs"],
        "signatures": read["signatures"],
        "meeting_record": read["meeting_record"],
        "may_convene": read["may_convene"],
        "objections": read["objections"],
        "may_raise_objection": read["may_raise_objection"],
        "may_answer_objection": read["may_answer_objection"],
    }
    name = "_case_body.html" if p.htmx else "case.html"
    return p.render(name, context, status=status)


def _named_orgs(data: dict[str, Any], fields: set[str], names: dict[int, str]) -> dict[str, Any]:
    """Case or event data with each organisation field's id replaced by the organisation's name
    (and the name the event kept beside it dropped)."""
    if not fields:
        return data
    out = {k: v for k, v in data.items() if not (k.endswith("_name") and k[: -len("_name")] in fields)}
    for k in fields & set(out):
        out[k] = names.get(out[k], data.get(f"{k}_name", out[k]))
    return out


def _field_labels(d) -> dict[str, str]:
    """Case-data key -> label: the transitions' fields; a record or a counter by the action that
    writes it (the record signed by ``sign_acceptance`` reads 签署验收意见)."""
    labels = dict(DATA_LABELS)
    # the report's own fields, in the procedure's words (``open_form``)
    labels["hazard_category"] = d.open_form.category_label
    labels["description"] = d.open_form.description_label
    labels["subject"] = d.subject.label
    for f in d.open_form.fields:
        labels.setdefault(f.name, f.label)
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
    for f in (*d.open_form.fields, *(f for t in d.transitions for f in t.fields)):
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
    values = {k: p.text(k) for k in ("party", "attended", "vote", "opinion", "attendees")}
    try:
        p.write(
            meetings.record_vote,
            case_id,
            party=values["party"],
            attended=values["attended"] != "no",
            vote=values["vote"] or None,
            opinion=values["opinion"] or None,
            now=p.now,
            attendees=values["attendees"] or None,
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


@router.get("/cases/{case_id}/generated/{kind}.{fmt}")
def generated_document(case_id: int, kind: str, fmt: str, p: Page = Depends(page)):
    """A generated document (公示, 会议纪要, 续交通知) as Word or PDF; what cannot be made yet is
    said on an error page (e.g. 联席会议尚未召开)."""
    view, content = p.write(paperwork.generate, case_id, kind[:32], fmt[:8], p.now)
    return Response(
        content,
        media_type=view["content_type"],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(view['filename'])}"},
    )


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
