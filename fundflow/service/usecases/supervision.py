"""督办 as a work item: issue (督办通知), reply (反馈), close (销号) or renew (续督), and the
escalation of a late reply.

Who supervises a stage is read from its deadline's ladder: the roles an escalation step with
``after_working_days`` > 0 names (``housing_bureau`` in the fire-hazard procedure), not the
stage's own responsible role. Such a role may issue a 督办 once the scan has escalated the
stage to it (an escalation alert of the stage addressed to the role); the 督办 goes to the
stage's responsible party at the case's own unit, with what to do and a reply deadline in
working days (the domain calendar: the N-th working day after the day it is issued). The
responsible party replies; the supervisor closes it or renews it (a new round, a new
deadline). A reply not given by its deadline is escalated by the scheduler's scan: an alert to
the supervisor and the party, and an event. Every step is an event on the case (its data
holds what was said), so the timeline shows it and the hash chain covers it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from fundflow.domain.definition import Definition
from fundflow.domain.tz import local_date, start_of_local_day
from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, TaskRefused
from fundflow.service.integrity.facts import DOCUMENTS, SUPERVISIONS
from fundflow.service.reads.common import iso
from fundflow.service.tables import (
    Alert,
    Case,
    Community,
    District,
    Document,
    Organisation,
    StreetOffice,
    Supervision,
    User,
)
from fundflow.service.usecases.alerts import _record  # the one writer of alerts and their outbox rows
from fundflow.service.usecases.cases import append_event, current_stage, load_case
from fundflow.service.usecases.documents import safe_name, store_file

__all__ = [
    "supervisor_roles",
    "escalations",
    "pending_since",
    "issue_supervision",
    "reply_supervision",
    "close_supervision",
    "renew_supervision",
    "scan_overdue_replies",
    "ISSUED",
    "REPLIED",
    "CLOSED",
    "OPEN_STATUSES",
    "DEFAULT_REPLY_DAYS",
    "MAX_REPLY_DAYS",
    "REPLY_DOC_TYPE",
    "REPLY_DOC_LABEL",
]

ISSUED, REPLIED, CLOSED = "issued", "replied", "closed"
#: the case documents attached to a 督办 reply (not a definition's type: the supervised party,
#: whatever its role, attaches them to its reply)
REPLY_DOC_TYPE = "supervision_reply"
REPLY_DOC_LABEL = "督办反馈材料"
MAX_REPLY_FILES = 10
#: an uploaded file: (filename, content type, content)
Attachment = tuple[str, "str | None", bytes]
OPEN_STATUSES = (ISSUED, REPLIED)
DEFAULT_REPLY_DAYS = 3
MAX_REPLY_DAYS = 30
MAX_TEXT = 2000
STATUS_LABELS = {ISSUED: "待反馈", REPLIED: "已反馈，待销号", CLOSED: "已销号"}
STATUS_BADGES = {ISSUED: "amber", REPLIED: "blue", CLOSED: "green"}


def supervisor_roles(d: Definition, state_id: str) -> tuple[str, ...]:
    """The roles that supervise ``state_id``: those its ladder escalates to after the due date
    (a step with ``after_working_days`` > 0), the responsible role itself excepted."""
    state = d.states.get(state_id)
    rule = state.deadline if state else None
    if rule is None:
        return ()
    roles: list[str] = []
    for step in rule.escalations:
        if step.after_working_days > 0:
            roles.extend(r for r in step.to if r != state.responsible and r not in roles)
    return tuple(roles)


def escalations(s: Session, stage_id: int, role: str) -> tuple[datetime, datetime] | None:
    """(first, latest) moment the stage was escalated to ``role``; None: never."""
    first, last = s.exec(
        select(func.min(Alert.at), func.max(Alert.at)).where(
            Alert.stage_id == stage_id, Alert.kind == "escalation", Alert.recipients.like(f"%,{role},%")
        )
    ).one()
    return (first, last) if first is not None else None


def pending_since(first: datetime, last: datetime, rows: list[Supervision]) -> datetime | None:
    """THE rule of when a stage escalated between ``first`` and ``last`` awaits a 督办 (the
    tasklist, the case page and the use case read it): none of ``rows`` (its 督办) is open, and
    none was closed after the latest escalation; since then (or the first escalation). None:
    it does not await one."""
    if any(r.status in OPEN_STATUSES for r in rows):
        return None
    closed = [r.closed_at for r in rows if r.closed_at is not None]
    if closed and max(closed) >= last:
        return None
    return last if closed else first


def org_of(s: Session, d: Definition, case: Case, role: str) -> str:
    """The responsible party's organisation for ``case``, by name (月塘街道, 桂园新村业主委员会)."""
    label = d.roles[role].label if role in d.roles else role
    level = d.roles[role].level if role in d.roles else None
    if level == "street_office":
        office = s.get(StreetOffice, case.street_office_id) if case.street_office_id is not None else None
        return office.name if office else label
    if level == "district":
        district = s.get(District, case.district_id) if case.district_id is not None else None
        return f"{district.name}{label}" if district else label
    if level == "community":
        community = s.get(Community, case.community_id) if case.community_id is not None else None
        return f"{community.name}{label}" if community else label
    if level == "organisation" and case.organisation_id is not None:  # the department holding it (issue 15)
        held = s.get(Organisation, case.organisation_id)
        return held.name if held else label
    return label


def _text(value: str | None, what: str, code: str, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(f"请填写{what}", code=code, detail={"field": code.removesuffix("_missing")})
        return None
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{what}不能超过 {MAX_TEXT} 字", code="text_too_long")
    return value


def _reply_due(svc: Services, now: datetime, days: int | None) -> tuple[int, Any, datetime]:
    n = DEFAULT_REPLY_DAYS if days is None else days
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_REPLY_DAYS:
        raise InvalidInput(
            f"反馈期限应为 1-{MAX_REPLY_DAYS} 个工作日",
            code="invalid_reply_days",
            detail={"field": "reply_working_days"},
        )
    due = svc.calendar.add_workdays(local_date(now), n).date
    return n, due, start_of_local_day(due + timedelta(days=1))


def _event(
    s: Session, case: Case, user: User | None, trigger: str, label: str, row: Supervision, now, *, writes=(), **extra
) -> None:
    data = {
        "supervision_id": row.id,
        "round": row.round,
        "status": row.status,
        "to_role": row.to_role,
        "to_org": row.to_org,
        "reply_due_date": row.reply_due_date.isoformat(),
        **extra,
    }
    case.updated_at = now
    s.flush()  # the row's id, for its facts (``SUPERVISIONS``: the row as the event leaves it)
    facts = [SUPERVISIONS.put(row), *writes]
    append_event(s, case, user, trigger, label, case.state, case.state, data, None, now, facts)
    s.add(case)


def _load(svc: Services, s: Session, user: User, supervision_id: int) -> tuple[Supervision, Case, Definition]:
    row = s.get(Supervision, supervision_id)
    if row is None:
        raise NotFound("督办不存在或不在您的管辖范围内", code="supervision_not_found")
    case = load_case(s, user, row.case_id, for_update=True)  # 404 outside the user's jurisdiction
    s.refresh(row)  # read again under the case's lock
    return row, case, svc.registry.get(case.definition_id, case.definition_version)


def _must_supervise(d: Definition, user: User, row: Supervision) -> None:
    if user.role != row.issuer_role and user.role not in supervisor_roles(d, row.state):
        raise Forbidden("只有督办单位可以销号或续督", code="not_supervisor")


def view(row: Supervision, d: Definition | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "stage_id": row.stage_id,
        "state": row.state,
        "state_label": d.states[row.state].label if d is not None and row.state in d.states else row.state,
        "round": row.round,
        "status": row.status,
        "status_label": STATUS_LABELS.get(row.status, row.status),
        "status_badge": STATUS_BADGES.get(row.status, "muted"),
        "issuer_role": row.issuer_role,
        "to_role": row.to_role,
        "to_role_label": d.roles[row.to_role].label if d is not None and row.to_role in d.roles else row.to_role,
        "to_org": row.to_org,
        "content": row.content,
        "reply_working_days": row.reply_working_days,
        "reply_due_date": row.reply_due_date.isoformat(),
        "reply_due_at": iso(row.reply_due_at),
        "issued_at": iso(row.issued_at),
        "reply": row.reply,
        "replied_at": iso(row.replied_at),
        "closed_at": iso(row.closed_at),
        "close_note": row.close_note,
    }


def issue_supervision(
    svc: Services,
    user: User,
    case_id: int,
    *,
    content: str | None,
    reply_working_days: int | None,
    now: datetime,
) -> dict[str, Any]:
    """督办通知 on the case's current stage, to its responsible party."""
    content = _text(content, "督办事项", "content_missing")
    n, due, due_at = _reply_due(svc, now, reply_working_days)
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d = svc.registry.get(case.definition_id, case.definition_version)
        state = d.states[case.state]
        stage = current_stage(s, case)
        if state.terminal or stage is None or state.responsible is None:
            raise TaskRefused("案件已办结，不能督办", code="no_open_stage")
        if user.role not in supervisor_roles(d, case.state):
            raise Forbidden(f"“{state.label}”环节的督办单位不是您的单位", code="not_supervisor")
        span = escalations(s, stage.id, user.role)
        if span is None:
            raise TaskRefused(f"“{state.label}”环节尚未逾期报请督办", code="not_escalated")
        rows = list(s.exec(select(Supervision).where(Supervision.stage_id == stage.id)))
        if any(r.status in OPEN_STATUSES for r in rows):
            raise TaskRefused("该环节已有未销号的督办，请办理该督办（销号或续督）", code="supervision_open")
        if pending_since(*span, rows) is None:
            raise TaskRefused(
                "该环节的督办已销号；再次逾期报请督办后方可重新下发（仍需督促的，请在销号前续督）",
                code="supervision_closed_since",
            )
        row = Supervision(
            case_id=case.id,
            stage_id=stage.id,
            state=case.state,
            round=1,
            status=ISSUED,
            issuer_id=user.id,
            issuer_role=user.role,
            to_role=state.responsible,
            to_org=org_of(s, d, case, state.responsible),
            content=content,
            reply_working_days=n,
            reply_due_date=due,
            reply_due_at=due_at,
            issued_at=now,
        )
        s.add(row)
        s.flush()
        _event(s, case, user, "issue_supervision", f"督办通知：{row.to_org}", row, now, content=content)
        s.flush()
        return view(row, d)


def reply_supervision(
    svc: Services,
    user: User,
    supervision_id: int,
    *,
    reply: str | None,
    files: Sequence[Attachment] = (),
    now: datetime,
) -> dict:
    """反馈: the responsible party says how the stage is getting on, and may attach documents
    (``files``: the upload limits of any document; kept among the case's documents as
    ``REPLY_DOC_TYPE`` and named in the reply). The files are checked before anything is written."""
    reply = _text(reply, "反馈内容", "reply_missing")
    checked = _attachments(svc, files)
    with transaction(svc.sessions) as s:
        row, case, d = _load(svc, s, user, supervision_id)
        if user.role != row.to_role:
            raise Forbidden(f"该督办由{row.to_org}反馈", code="not_supervised_party")
        if row.status != ISSUED:
            raise TaskRefused(
                f"该督办{STATUS_LABELS.get(row.status, row.status)}，不能再反馈", code="supervision_not_open"
            )
        docs = []
        for name, content_type, content, sha in checked:
            store_file(svc, case.id, sha, content)
            docs.append(
                Document(
                    case_id=case.id,
                    doc_type=REPLY_DOC_TYPE,
                    filename=safe_name(name),
                    content_type=(content_type or "application/octet-stream")[:128],
                    size=len(content),
                    sha256=sha,
                    uploaded_by=user.id,
                    uploaded_at=now,
                    round=case.doc_round or 1,
                )
            )
        s.add_all(docs)
        s.flush()
        row.status, row.reply, row.replied_by, row.replied_at = REPLIED, reply, user.id, now
        row.reply_documents = [doc.id for doc in docs] or None
        s.add(row)
        late = now >= row.reply_due_at
        attached = [{"id": doc.id, "filename": doc.filename, "sha256": doc.sha256, "size": doc.size} for doc in docs]
        _event(
            s,
            case,
            user,
            "reply_supervision",
            "督办反馈" + (f"（附材料 {len(docs)} 份）" if docs else ""),
            row,
            now,
            writes=[DOCUMENTS.added(docs)] if docs else (),
            reply=reply,
            late=late,
            documents=attached,
        )
        s.flush()
        return view(row, d) | {"documents": [reply_document_view(doc) for doc in docs]}


def _attachments(svc: Services, files: Sequence[Attachment]) -> list[tuple[str, str | None, bytes, str]]:
    if len(files) > MAX_REPLY_FILES:
        raise InvalidInput(f"每次反馈最多附 {MAX_REPLY_FILES} 份材料", code="too_many_files")
    out = []
    for name, content_type, content in files:
        if len(content) > svc.settings.max_upload_bytes:
            raise PayloadTooLarge(
                f"文件“{safe_name(name)}”超过 {svc.settings.max_upload_bytes // (1024 * 1024)} MB 上限",
                code="file_too_large",
            )
        if not content:
            raise InvalidInput(f"文件“{safe_name(name)}”为空", code="empty_file")
        out.append((name, content_type, content, hashlib.sha256(content).hexdigest()))
    return out


def reply_document_view(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "filename": doc.filename, "size": doc.size, "content_type": doc.content_type}


def close_supervision(svc: Services, user: User, supervision_id: int, *, note: str | None, now: datetime) -> dict:
    """销号: the supervisor closes the 督办."""
    note = _text(note, "销号意见", "note_missing", required=False)
    with transaction(svc.sessions) as s:
        row, case, d = _load(svc, s, user, supervision_id)
        _must_supervise(d, user, row)
        if row.status == CLOSED:
            raise TaskRefused("该督办已销号", code="supervision_closed")
        row.status, row.closed_by, row.closed_at, row.close_note = CLOSED, user.id, now, note
        s.add(row)
        _event(s, case, user, "close_supervision", "督办销号", row, now, note=note)
        s.flush()
        return view(row, d)


def renew_supervision(
    svc: Services,
    user: User,
    supervision_id: int,
    *,
    content: str | None,
    reply_working_days: int | None,
    now: datetime,
) -> dict:
    """续督: a new round of the same 督办, with what to do now and a new reply deadline."""
    content = _text(content, "督办事项", "content_missing")
    n, due, due_at = _reply_due(svc, now, reply_working_days)
    with transaction(svc.sessions) as s:
        row, case, d = _load(svc, s, user, supervision_id)
        _must_supervise(d, user, row)
        if row.status == CLOSED:
            raise TaskRefused("该督办已销号，不能续督", code="supervision_closed")
        row.round += 1
        row.status, row.content, row.reply_working_days = ISSUED, content, n
        row.reply_due_date, row.reply_due_at, row.issued_at = due, due_at, now
        row.reply, row.replied_by, row.replied_at, row.reply_documents = None, None, None, None
        s.add(row)
        _event(s, case, user, "renew_supervision", f"续督（第 {row.round} 轮）", row, now, content=content)
        s.flush()
        return view(row, d)


def scan_overdue_replies(svc: Services, now: datetime) -> list[dict[str, Any]]:
    """Escalate every reply past its deadline, once per round: an alert to the supervisor and
    the party, and an event on the case. Idempotent (the round is marked; alerts are unique)."""
    out: list[dict[str, Any]] = []
    with transaction(svc.sessions) as s:
        due = s.exec(
            select(Supervision.id)
            .where(Supervision.status == ISSUED, Supervision.reply_due_at <= now)
            .order_by(Supervision.reply_due_at)
        ).all()
        for sid in due:
            row = s.get(Supervision, sid)
            stmt = select(Case).where(Case.id == row.case_id)
            if s.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()  # one writer of the case's chain at a time
            case = s.exec(stmt).one()
            s.refresh(row)
            if row.status != ISSUED or row.overdue_round >= row.round:
                continue
            late = svc.calendar.workdays_between(row.reply_due_date, local_date(now)).count
            title = f"【督办】{case.number} 督办反馈超期"
            message = (
                f"【督办】案件{case.number}「{case.title}」的督办（第 {row.round} 轮）应于 "
                f"{row.reply_due_date.isoformat()} 前反馈，{row.to_org}尚未反馈"
                + (f"，已超期 {late} 个工作日" if late > 0 else "")
                + "。"
            )
            recorded = _record(
                s,
                now,
                key=f"supervision:{row.id}:{row.round}:overdue",
                kind="escalation",
                level=0,
                repeat=row.round - 1,
                at=row.reply_due_at,
                roles=tuple(dict.fromkeys((row.issuer_role, row.to_role))),
                title=title[:200],
                message=message,
                provisional=False,
                case=case,
                stage=None,
            )
            row.overdue_round = row.round
            s.add(row)
            _event(s, case, None, "supervision_overdue", "督办反馈超期", row, now)
            if recorded:
                out.append(recorded)
        s.flush()
    return out
