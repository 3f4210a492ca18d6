"""Owners' objections during the public notice, as records (issue 11b, ``records.objections``).

An objection names the owner and the room, holds the text and, once answered, the answer linked
to it. The definition says where objections are taken and who records and answers them; the
guard ``objections_answered`` keeps the notice from closing while one is open (the engine asks
``cases.open_objection_count`` only when it checks that guard). Raising and answering are each
an event on the case's hash chain, the row covered by the event's facts (OBJECTIONS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.errors import Forbidden, HandoffRefused, InvalidInput, NotFound
from fundflow.service.integrity.facts import OBJECTIONS
from fundflow.service.jurisdiction import case_clause
from fundflow.service.reads.common import iso
from fundflow.service.tables import Case, Objection, Stage, User
from fundflow.service.usecases.cases import Reply, append_event, load_case
from fundflow.service.usecases.handoffs import clean_reason

__all__ = [
    "raise_objection",
    "answer_objection",
    "objections_of",
    "objection_view",
    "open_objections_for",
    "OPEN",
    "ANSWERED",
]

OPEN, ANSWERED = "open", "answered"
STATUS_LABELS = {OPEN: "待答复", ANSWERED: "已答复"}


def _short(raw: str | None, what: str, field: str, most: int = 64) -> str:
    text = (raw or "").strip()
    if not text:
        raise InvalidInput(f"请填写{what}", code="field_missing", detail={"field": field})
    if len(text) > most:
        raise InvalidInput(f"{what}不能超过 {most} 字", code="field_too_long", detail={"field": field})
    return text


def _rule(svc: Services, case: Case, user: User, roles_of: str):
    d = svc.registry.get(case.definition_id, case.definition_version)
    rule = d.objections
    state = d.states[case.state]
    if rule is None:
        raise HandoffRefused(f"“{d.title}”流程不登记业主异议", code="no_objections")
    if case.state not in rule.states:
        raise HandoffRefused(f"“{state.label}”环节不登记业主异议", code="objections_not_in_state")
    if case.suspended_since is not None:
        raise HandoffRefused("案件已挂起，请先恢复再办理", code="case_suspended")
    roles = getattr(rule, roles_of)
    if user.role not in roles:
        who = "、".join(d.roles[r].label for r in sorted(roles))
        raise Forbidden(f"业主异议由{who}{'登记' if roles_of == 'raise_roles' else '答复'}", code="role_not_allowed")
    return d


def raise_objection(
    svc: Services, user: User, case_id: int, *, owner_name: str, room: str, text: str, now: datetime
) -> Reply:
    owner_name = _short(owner_name, "业主姓名", "owner_name")
    room = _short(room, "房号", "room")
    text = clean_reason(text, "异议内容", "text")
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d = _rule(svc, case, user, "raise_roles")
        row = Objection(
            case_id=case.id, owner_name=owner_name, room=room, text=text, status=OPEN, raised_by=user.id, raised_at=now
        )
        s.add(row)
        s.flush()
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "record_objection",
            f"登记业主异议：{room} {owner_name}",
            case.state,
            case.state,
            {"objection_id": row.id, "owner_name": owner_name, "room": room, "text": text},
            None,
            now,
            [OBJECTIONS.put(row)],
        )
        s.add(case)
        s.flush()
        return Reply(201, objection_view(row) | {"open": _open_count(s, case.id), "definition": d.id})


def answer_objection(
    svc: Services, user: User, case_id: int, objection_id: int, *, answer: str, now: datetime
) -> Reply:
    answer = clean_reason(answer, "答复内容", "answer")
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d = _rule(svc, case, user, "answer_roles")
        row = s.get(Objection, objection_id)
        if row is None or row.case_id != case.id:
            raise NotFound("业主异议不存在", code="objection_not_found")
        if row.status != OPEN:
            raise HandoffRefused("该异议已答复", code="objection_answered")
        row.status, row.answer, row.answered_by, row.answered_at = ANSWERED, answer, user.id, now
        s.add(row)
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "answer_objection_record",
            f"答复业主异议：{row.room} {row.owner_name}",
            case.state,
            case.state,
            {"objection_id": row.id, "answer": answer},
            None,
            now,
            [OBJECTIONS.put(row)],
        )
        s.add(case)
        s.flush()
        return Reply(200, objection_view(row) | {"open": _open_count(s, case.id), "definition": d.id})


def _open_count(s: Session, case_id: int) -> int:
    from fundflow.service.usecases.cases import open_objection_count

    return open_objection_count(s, case_id)


def objection_view(row: Objection) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "owner_name": row.owner_name,
        "room": row.room,
        "text": row.text,
        "status": row.status,
        "status_label": STATUS_LABELS.get(row.status, row.status),
        "raised_at": iso(row.raised_at),
        "answer": row.answer,
        "answered_at": iso(row.answered_at),
    }


def objections_of(s: Session, case: Case) -> list[dict[str, Any]]:
    rows = s.exec(select(Objection).where(Objection.case_id == case.id).order_by(Objection.id))
    return [objection_view(r) for r in rows]


def open_objections_for(s: Session, svc: Services, user: User) -> list[tuple[Objection, Case, Stage | None]]:
    """Open objections of the cases ``user`` sees, in a state where its role answers them."""
    rows = s.exec(
        select(Objection, Case, Stage)
        .join(Case, Case.id == Objection.case_id)
        .join(Stage, (Stage.case_id == Case.id) & Stage.left_at.is_(None), isouter=True)
        .where(Objection.status == OPEN, Case.closed.is_(False), case_clause(user))
        .order_by(Objection.raised_at, Objection.id)
    ).all()
    out = []
    for obj, case, stage in rows:
        rule = svc.registry.get(case.definition_id, case.definition_version).objections
        if rule is not None and user.role in rule.answer_roles and case.state in rule.states:
            out.append((obj, case, stage))
    return out
