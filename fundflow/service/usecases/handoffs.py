"""Hand-offs between the parties (issue 11b): 转办, 延期申请 and its decision, 撤回 by the party
that opened the case. 退回 is a transition the loader makes of ``handoffs.returns``: it goes
through ``cases.fire_transition`` like any other.

The definition's ``handoffs:`` says what is allowed (``fundflow.domain.loader.handoffs``); each
use case owns its transaction and writes one hash-chained event on the case, with the row it
wrote covered by the event's facts (TRANSFERS, EXTENSIONS, STAGES).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from fundflow.domain.deadlines import Anchors, compute_deadlines, extension_length
from fundflow.domain.definition import ORGANISATION
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Forbidden, HandoffRefused, InvalidInput, NotFound
from fundflow.service.integrity.facts import ASSIGNMENTS, EXTENSIONS, STAGES, SUPERVISIONS, TRANSFERS
from fundflow.service.jurisdiction import can_see_case, case_clause
from fundflow.service.reads.common import case_view, iso
from fundflow.service.tables import (
    Case,
    CaseTransfer,
    Community,
    District,
    Organisation,
    Stage,
    StageAssignment,
    StageExtension,
    StreetOffice,
    Supervision,
    User,
)
from fundflow.service.usecases import delivery, organisations
from fundflow.service.usecases.cases import (
    OPEN_TRIGGER,
    Reply,
    act_moments,
    actor_of,
    append_event,
    current_stage,
    fire_transition,
    load_case,
    set_deadlines,
)
from fundflow.service.usecases.supervision import CLOSED as SUPERVISION_CLOSED

__all__ = [
    "transfer_case",
    "accept_transfer",
    "decline_transfer",
    "pending_transfer",
    "pending_transfers_to",
    "transfers_of",
    "transfer_view",
    "transfer_targets",
    "request_extension",
    "decide_extension",
    "extension_view",
    "extensions_of",
    "withdraw_case",
    "is_opener",
    "handoff_options",
    "clean_reason",
]

MIN_REASON, MAX_TEXT = 2, 2000
PENDING, APPROVED, REFUSED = "pending", "approved", "refused"
STATUS_LABELS = {PENDING: "待审批", APPROVED: "已批准", REFUSED: "未批准"}
TRANSFER_PENDING, TRANSFER_ACCEPTED, TRANSFER_DECLINED = "pending", "accepted", "declined"
TRANSFER_LABELS = {TRANSFER_PENDING: "待签收", TRANSFER_ACCEPTED: "已签收", TRANSFER_DECLINED: "不予签收"}
TRANSFER_BADGES = {TRANSFER_PENDING: "amber", TRANSFER_ACCEPTED: "green", TRANSFER_DECLINED: "muted"}


def clean_reason(raw: str | None, what: str = "原因", field: str = "reason") -> str:
    text = (raw or "").strip()
    if len(text) < MIN_REASON:
        raise InvalidInput(f"请写明{what}（至少 {MIN_REASON} 个字）", code="reason_missing", detail={"field": field})
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what}不能超过 {MAX_TEXT} 字", code="reason_too_long", detail={"field": field})
    return text


def _definition(svc: Services, case: Case):
    return svc.registry.get(case.definition_id, case.definition_version)


def _open(svc: Services, case: Case):
    d = _definition(svc, case)
    state = d.states[case.state]
    if state.terminal:
        raise HandoffRefused(f"案件已{state.label}，不能再办理", code="case_closed")
    return d, state


# -- 转办 ------------------------------------------------------------------------------------


def _org_table(level: str):
    if level == ORGANISATION:  # a department of a declared kind (issue 15)
        return Organisation
    return StreetOffice if level == "street_office" else District


#: the organisation levels that hold a case and so send and receive its transfers
TRANSFER_HOLDERS = ("street_office", "district", ORGANISATION)


def _holder(case: Case, level: str) -> int | None:
    """The organisation of ``level`` now holding the case."""
    if level == ORGANISATION:
        return case.organisation_id
    return case.street_office_id if level == "street_office" else case.district_id


def pending_transfer(s: Session, case: Case) -> CaseTransfer | None:
    """The case's transfer waiting for the receiving organisation (at most one)."""
    return s.exec(
        select(CaseTransfer).where(CaseTransfer.case_id == case.id, CaseTransfer.status == TRANSFER_PENDING)
    ).first()


def transfer_targets(s: Session, svc: Services, user: User, case: Case) -> list[dict[str, Any]]:
    """The organisations ``user`` may hand ``case`` to (none when it may not transfer it, or a
    transfer of the case already waits for its receiver)."""
    d = _definition(svc, case)
    t = d.handoffs.transfer
    if t is None or user.role not in t.roles or d.states[case.state].terminal:
        return []
    level = d.roles[user.role].level
    current = _holder(case, level)
    if user.org_level != level or user.org_id != current or pending_transfer(s, case) is not None:
        return []
    table = _org_table(level)
    stmt = select(table).order_by(table.id)
    if level == ORGANISATION:
        stmt = stmt.where(Organisation.kind == d.roles[user.role].kind)
    return [{"id": o.id, "name": o.name} for o in s.exec(stmt) if o.id != current]


def transfer_case(svc: Services, user: User, case_id: int, *, to_org_id: int, reason: str, now: datetime) -> Reply:
    """Ask another organisation of the user's role to take the case (``handoffs.transfer``): a
    street office's case to another street office, a fire authority's to another district. The
    case stays with the sender until the receiver accepts (``accept_transfer``) or declines
    (``decline_transfer``); the event and the pending transfer row say from whom to whom and
    why; both organisations list it (``transfers_of``) and the receiver has it on its tasklist."""
    reason = clean_reason(reason, "转办理由")
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d, _ = _open(svc, case)
        t = d.handoffs.transfer
        if t is None:
            raise HandoffRefused(f"“{d.title}”流程未规定转办", code="no_transfer")
        if user.role not in t.roles:
            who = "、".join(d.roles[r].label for r in sorted(t.roles))
            raise Forbidden(f"只有{who}可以转办案件", code="role_cannot_transfer")
        level = d.roles[user.role].level
        current = _holder(case, level)
        if user.org_level != level or user.org_id != current:
            raise Forbidden(f"只有案件当前所属的{d.roles[user.role].label}可以转办", code="not_case_holder")
        if to_org_id == current:
            raise InvalidInput("不能转办给本单位", code="transfer_to_self", detail={"field": "to_org_id"})
        target = s.get(_org_table(level), to_org_id)
        if target is not None and level == ORGANISATION and target.kind != d.roles[user.role].kind:
            target = None
        if target is None:
            raise NotFound("接收单位不存在", code="transfer_target_not_found", detail={"to_org_id": to_org_id})
        waiting = pending_transfer(s, case)
        if waiting is not None:
            raise HandoffRefused(
                f"该案件已转办至{waiting.to_org_name}，待对方签收", code="transfer_pending", detail={"id": waiting.id}
            )
        source = s.get(_org_table(level), current)
        from_name = source.name if source else user.org_name
        case.updated_at = now
        row = CaseTransfer(
            case_id=case.id,
            role=user.role,
            level=level,
            from_org_id=current,
            from_org_name=from_name,
            to_org_id=target.id,
            to_org_name=target.name,
            reason=reason,
            transferred_by=user.id,
            transferred_at=now,
            event_seq=case.event_count + 1,
            status=TRANSFER_PENDING,
        )
        s.add(row)
        s.flush()
        append_event(
            s,
            case,
            user,
            "transfer",
            f"转办：{from_name} → {target.name}（待签收）",
            case.state,
            case.state,
            {
                "transfer_id": row.id,
                "role": user.role,
                "from_org_id": current,
                "from_org": from_name,
                "to_org_id": target.id,
                "to_org": target.name,
                "reason": reason,
                "status": TRANSFER_PENDING,
            },
            None,
            now,
            [TRANSFERS.put(row)],
        )
        s.add(case)
        s.flush()
        return Reply(201, transfer_view(row, case, d))


def _receivable(s: Session, user: User, transfer_id: int, *, for_update: bool = False) -> tuple[CaseTransfer, Case]:
    """The transfer addressed to the user's organisation and role, with its case (locked): the
    receiver does not see the case until it accepts, so the transfer row is its way in."""
    row = s.get(CaseTransfer, transfer_id)
    if row is None or row.level != user.org_level or row.to_org_id != user.org_id or row.role != user.role:
        raise NotFound("转办不存在或不是转给本单位的", code="transfer_not_found", detail={"transfer_id": transfer_id})
    stmt = select(Case).where(Case.id == row.case_id)
    if for_update and s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    case = s.exec(stmt).one()
    s.refresh(row)  # read again under the case's lock
    return row, case


def _decide_transfer(
    svc: Services, user: User, transfer_id: int, *, accept: bool, note: str | None, now: datetime
) -> Reply:
    with transaction(svc.sessions) as s:
        row, case = _receivable(s, user, transfer_id, for_update=True)
        d = _definition(svc, case)
        if row.status != TRANSFER_PENDING:
            raise HandoffRefused(
                f"该转办已{TRANSFER_LABELS.get(row.status, row.status)}", code="transfer_decided", detail={"id": row.id}
            )
        if d.states[case.state].terminal:
            raise HandoffRefused(f"案件已{d.states[case.state].label}，不能再签收转办", code="case_closed")
        if _holder(case, row.level) != row.from_org_id:
            raise HandoffRefused("案件已不属于转出单位，该转办已失效", code="transfer_lapsed")
        text = (note or "").strip() or None
        if not accept:
            text = clean_reason(text, "不予签收的理由", "note")
        elif text is not None and len(text) > MAX_TEXT:
            raise InvalidInput(f"签收意见不能超过 {MAX_TEXT} 字", code="reason_too_long", detail={"field": "note"})
        writes = []
        data: dict[str, Any] = {
            "transfer_id": row.id,
            "from_org_id": row.from_org_id,
            "from_org": row.from_org_name,
            "to_org_id": row.to_org_id,
            "to_org": row.to_org_name,
            "note": text,
        }
        if accept:
            target = s.get(_org_table(row.level), row.to_org_id)
            if row.level == ORGANISATION:
                organisations.hold(s, case, target.id, now)
            elif row.level == "street_office":
                case.street_office_id, case.district_id = target.id, target.district_id
            else:
                case.district_id = target.id
            data |= _readdress(s, case, row, writes)
            # the outbox follows too: rows queued for the old organisation's channels go to the new one's
            moved = delivery.readdress(s, case, now, f"案件已转办至{row.to_org_name}，改投其渠道")
            if moved["cancelled"]:
                data["deliveries_readdressed"] = moved
        row.status = TRANSFER_ACCEPTED if accept else TRANSFER_DECLINED
        row.decided_by, row.decided_at, row.decision_note = user.id, now, text
        s.add(row)
        writes.insert(0, TRANSFERS.put(row))
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "accept_transfer" if accept else "decline_transfer",
            f"签收转办：{row.to_org_name}" if accept else f"{row.to_org_name}不予签收转办",
            case.state,
            case.state,
            data,
            None,
            now,
            writes,
        )
        s.add(case)
        s.flush()
        return Reply(200, transfer_view(row, case, d))


def _readdress(s: Session, case: Case, row: CaseTransfer, writes: list) -> dict[str, Any]:
    """What the case's open work becomes at the new organisation: the alerts and tasks follow
    the case's org columns (``case_clause``); an assignment of the current stage to a person of
    the old organisation lapses, and an open 督办 to the transferring role names the new one."""
    out: dict[str, Any] = {}
    stage = current_stage(s, case)
    assigned = s.exec(select(StageAssignment).where(StageAssignment.stage_id == stage.id)).first() if stage else None
    if assigned is not None:
        person = s.get(User, assigned.assignee_id)
        if person is None or not can_see_case(person, case):
            out["assignment_lapsed"] = {"stage_id": assigned.stage_id, "assignee_id": assigned.assignee_id}
            writes.append(ASSIGNMENTS.removed(assigned))
            s.delete(assigned)
    renamed = []
    for sup in s.exec(
        select(Supervision).where(
            Supervision.case_id == case.id, Supervision.status != SUPERVISION_CLOSED, Supervision.to_role == row.role
        )
    ):
        sup.to_org = row.to_org_name
        s.add(sup)
        writes.append(SUPERVISIONS.put(sup))
        renamed.append(sup.id)
    if renamed:
        out["supervisions_readdressed"] = renamed
    return out


def accept_transfer(svc: Services, user: User, transfer_id: int, *, note: str | None = None, now: datetime) -> Reply:
    """签收: the receiving organisation takes the case; its org columns change, and the case's
    open alerts and tasks go to the new organisation."""
    return _decide_transfer(svc, user, transfer_id, accept=True, note=note, now=now)


def decline_transfer(svc: Services, user: User, transfer_id: int, *, reason: str | None, now: datetime) -> Reply:
    """The receiving organisation declines, with a reason: the case stays with the sender."""
    return _decide_transfer(svc, user, transfer_id, accept=False, note=reason, now=now)


def transfer_view(row: CaseTransfer, case: Case, d) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "case_number": case.number,
        "case_title": case.title,
        "role": row.role,
        "role_label": d.roles[row.role].label if row.role in d.roles else row.role,
        "from_org_id": row.from_org_id,
        "from_org": row.from_org_name,
        "to_org_id": row.to_org_id,
        "to_org": row.to_org_name,
        "reason": row.reason,
        "at": iso(row.transferred_at),
        "event_seq": row.event_seq,
        "status": row.status,
        "status_label": TRANSFER_LABELS.get(row.status, row.status),
        "status_badge": TRANSFER_BADGES.get(row.status, "muted"),
        "decided_at": iso(row.decided_at),
        "decision_note": row.decision_note,
    }


def transfers_of(s: Session, svc: Services, user: User) -> list[dict[str, Any]]:
    """The transfers that handed a case from or to the user's organisation, newest first: the
    office that handed a case on sees the event although the case is no longer its own.
    ``may_decide``: a pending transfer to the user's organisation and role, which it accepts or
    declines; ``may_open``: the case is the user's organisation's (now)."""
    if user.org_level not in TRANSFER_HOLDERS or user.org_id is None:
        return []
    rows = s.exec(
        select(CaseTransfer, Case)
        .join(Case, Case.id == CaseTransfer.case_id)
        .where(
            CaseTransfer.level == user.org_level,
            (CaseTransfer.from_org_id == user.org_id) | (CaseTransfer.to_org_id == user.org_id),
        )
        .order_by(CaseTransfer.id.desc())
    ).all()
    out = []
    for row, case in rows:
        view = transfer_view(row, case, _definition(svc, case))
        view["direction"] = "out" if row.from_org_id == user.org_id else "in"
        view["may_decide"] = bool(
            row.status == TRANSFER_PENDING
            and row.to_org_id == user.org_id
            and row.role == user.role
            and not case.closed
        )
        if row.status == TRANSFER_PENDING and case.closed:  # it can no longer be accepted
            view |= {"status_label": "案件已办结，转办失效", "status_badge": "muted"}
        view["may_open"] = can_see_case(user, case)
        view["community"] = _community_name(s, case)
        out.append(view)
    return out


def _community_name(s: Session, case: Case) -> str:
    """Where the case is: its community, or what it is about when it has none (a person's name,
    never their contact)."""
    if case.community_id is None:
        return (case.subject or {}).get("name") or ""
    c = s.get(Community, case.community_id)
    return c.name if c is not None else ""


def pending_transfers_to(s: Session, user: User) -> list[tuple[CaseTransfer, Case]]:
    """Transfers waiting for the user's organisation and role to accept (for the tasklist)."""
    if user.org_level not in TRANSFER_HOLDERS or user.org_id is None:
        return []
    return list(
        s.exec(
            select(CaseTransfer, Case)
            .join(Case, Case.id == CaseTransfer.case_id)
            .where(
                CaseTransfer.status == TRANSFER_PENDING,
                CaseTransfer.level == user.org_level,
                CaseTransfer.to_org_id == user.org_id,
                CaseTransfer.role == user.role,
                Case.closed.is_(False),
            )
            .order_by(CaseTransfer.transferred_at, CaseTransfer.id)
        ).all()
    )


# -- 延期申请 ----------------------------------------------------------------------------------


def extension_view(row: StageExtension, d) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "stage_id": row.stage_id,
        "state": row.state,
        "state_label": d.states[row.state].label if row.state in d.states else row.state,
        "working_days": row.working_days,
        "reason": row.reason,
        "status": row.status,
        "status_label": STATUS_LABELS.get(row.status, row.status),
        "approver_role": row.approver_role,
        "approver_label": d.roles[row.approver_role].label if row.approver_role in d.roles else row.approver_role,
        "requested_at": iso(row.requested_at),
        "decided_at": iso(row.decided_at),
        "opinion": row.opinion,
        "due_date_before": row.due_date_before.isoformat() if row.due_date_before else None,
        "due_date_after": row.due_date_after.isoformat() if row.due_date_after else None,
    }


def extensions_of(s: Session, svc: Services, case: Case) -> list[dict[str, Any]]:
    d = _definition(svc, case)
    rows = s.exec(select(StageExtension).where(StageExtension.case_id == case.id).order_by(StageExtension.id))
    return [extension_view(r, d) for r in rows]


def request_extension(
    svc: Services, user: User, case_id: int, *, working_days: int, reason: str, now: datetime
) -> Reply:
    """The responsible party asks for ``working_days`` more working days for the current stage."""
    reason = clean_reason(reason, "延期理由")
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d, state = _open(svc, case)
        ext = d.handoffs.extension
        if ext is None:
            raise HandoffRefused(f"“{d.title}”流程未规定延期申请", code="no_extension")
        if case.suspended_since is not None:
            raise HandoffRefused("案件已挂起，期限已停止计算，无需申请延期", code="case_suspended")
        if case.state not in ext.states:
            raise HandoffRefused(f"“{state.label}”环节不能申请延期", code="extension_not_in_state")
        if user.role != state.responsible:
            raise Forbidden(
                f"只有本环节责任单位（{d.roles[state.responsible].label}）可以申请延期", code="not_responsible"
            )
        if (
            isinstance(working_days, bool)
            or not isinstance(working_days, int)
            or not (1 <= working_days <= ext.max_working_days)
        ):
            raise InvalidInput(
                f"延期天数应为 1 至 {ext.max_working_days} 个工作日",
                code="invalid_extension_days",
                detail={"field": "working_days", "max": ext.max_working_days},
            )
        stage = current_stage(s, case)
        if stage is None or stage.due_date is None:
            raise HandoffRefused("本环节尚无期限，无需延期", code="no_deadline")
        pending = s.exec(
            select(StageExtension).where(StageExtension.stage_id == stage.id, StageExtension.status == PENDING)
        ).first()
        if pending is not None:
            raise HandoffRefused("本环节已有待审批的延期申请", code="extension_pending", detail={"id": pending.id})
        row = StageExtension(
            case_id=case.id,
            stage_id=stage.id,
            state=case.state,
            working_days=working_days,
            reason=reason,
            status=PENDING,
            approver_role=ext.approver_of(case.state),
            requested_by=user.id,
            requested_at=now,
            due_date_before=stage.due_date,
        )
        s.add(row)
        s.flush()
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "request_extension",
            f"申请延期 {working_days} 个工作日",
            case.state,
            case.state,
            {
                "extension_id": row.id,
                "working_days": working_days,
                "reason": reason,
                "approver_role": row.approver_role,
                "due_date": stage.due_date.isoformat(),
            },
            None,
            now,
            [EXTENSIONS.put(row)],
        )
        s.add(case)
        s.flush()
        return Reply(201, extension_view(row, d) | {"case": case_view(svc, s, user, case, stage, now)})


def decide_extension(
    svc: Services,
    user: User,
    case_id: int,
    extension_id: int,
    *,
    approve: bool,
    opinion: str | None,
    now: datetime,
) -> Reply:
    """The declared approver approves (the stage's due date, warning and escalation ladder move
    by the working days, as a suspension of that length would move them) or refuses."""
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d, state = _open(svc, case)
        row = s.get(StageExtension, extension_id)
        if row is None or row.case_id != case.id:
            raise NotFound("延期申请不存在", code="extension_not_found")
        if row.status != PENDING:
            raise HandoffRefused(
                f"该延期申请已处理（{STATUS_LABELS.get(row.status, row.status)}）", code="extension_decided"
            )
        if user.role != row.approver_role:
            raise Forbidden(f"延期申请由{d.roles[row.approver_role].label}审批", code="not_approver")
        text = (opinion or "").strip() or None
        if not approve:
            text = clean_reason(text, "不予批准的理由", "opinion")
        elif text is not None and len(text) > MAX_TEXT:
            raise InvalidInput(f"审批意见不能超过 {MAX_TEXT} 字", code="reason_too_long", detail={"field": "opinion"})
        stage = current_stage(s, case)
        if stage is None or stage.id != row.stage_id:
            raise HandoffRefused("案件已进入其他环节，该延期申请已失效", code="extension_lapsed")
        if case.suspended_since is not None:
            raise HandoffRefused("案件已挂起，请恢复后再审批延期", code="case_suspended")
        writes = []
        data: dict[str, Any] = {"extension_id": row.id, "working_days": row.working_days, "opinion": text}
        if approve:
            rule = state.deadline
            work, days = extension_length(rule, stage.due_date, row.working_days, svc.calendar)
            acts = act_moments(case)
            fresh = compute_deadlines(
                rule,
                stage.entered_at,
                svc.calendar,
                case.data,
                suspended_working_days=stage.suspended_working_days + work,
                suspended_days=stage.suspended_days + days,
                anchors=Anchors(acts.get(OPEN_TRIGGER, case.created_at), acts),
            )
            before = stage.due_date
            set_deadlines(stage, fresh)
            s.add(stage)
            writes.append(STAGES.changed(stage))
            row.due_date_after = fresh.due_date if fresh else None
            data |= {"due_date_before": before.isoformat(), "due_date": row.due_date_after.isoformat()}
        row.status = APPROVED if approve else REFUSED
        row.decided_by, row.decided_at, row.opinion = user.id, now, text
        s.add(row)
        writes.append(EXTENSIONS.put(row))
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "approve_extension" if approve else "refuse_extension",
            f"批准延期 {row.working_days} 个工作日" if approve else "不予批准延期",
            case.state,
            case.state,
            data,
            None,
            now,
            writes,
        )
        s.add(case)
        s.flush()
        return Reply(200, extension_view(row, d) | {"case": case_view(svc, s, user, case, stage, now)})


# -- 撤回 ------------------------------------------------------------------------------------


def is_opener(s: Session, case: Case, user: User) -> bool:
    """The user's party (role and organisation) opened the case."""
    creator = s.get(User, case.created_by) if case.created_by is not None else None
    return (
        creator is not None
        and creator.role == user.role
        and creator.org_level == user.org_level
        and creator.org_id == user.org_id
    )


def withdraw_case(
    svc: Services, user: User, case_id: int, *, reason: str, comment: str | None = None, now: datetime
) -> Reply:
    """Fire the declared withdrawal (``handoffs.withdrawal``) as the user's role may, or as the
    party that opened the case until its ``opener_until`` act: the engine decides, and the
    outcome is written like any other transition's (``cases.fire_transition``, the lean path)."""
    with read_only(svc.sessions) as s:
        d = _definition(svc, load_case(s, user, case_id))
    w = d.handoffs.withdrawal
    if w is None:
        raise HandoffRefused(f"“{d.title}”流程未规定撤回", code="no_withdrawal")
    return fire_transition(
        svc,
        user,
        case_id,
        trigger=w.trigger,
        data={"reason": reason},
        comment=comment,
        now=now,
        make_actor=lambda s, case: dataclasses.replace(actor_of(user), opener=is_opener(s, case, user)),
    )


# -- what the case page offers -----------------------------------------------------------------


def handoff_options(s: Session, svc: Services, user: User, case: Case, now: datetime) -> dict[str, Any]:
    """What ``user`` may do of the hand-offs on ``case`` now, and the records to show: transfer
    targets, whether it may ask for an extension (and up to how many days), the extensions of the
    case (with the ones it may decide), whether it may withdraw as the party that opened it."""
    d = _definition(svc, case)
    state = d.states[case.state]
    running = not state.terminal
    ext = d.handoffs.extension
    stage = current_stage(s, case) if running else None
    extensions = extensions_of(s, svc, case)
    current_pending = [
        e for e in extensions if e["status"] == PENDING and stage is not None and e["stage_id"] == stage.id
    ]
    may_request = bool(
        running
        and ext is not None
        and case.suspended_since is None
        and case.state in ext.states
        and user.role == state.responsible
        and stage is not None
        and stage.due_date is not None
        and not current_pending
    )
    w = d.handoffs.withdrawal
    own_withdraw = any(a.trigger == (w.trigger if w else None) for a in _actions(svc, case, user))
    opener_withdraw = bool(
        running
        and w is not None
        and not own_withdraw
        and d.transition(w.trigger, case.state) is not None
        and is_opener(s, case, user)
        and case.suspended_since is None
        and (w.opener_until is None or w.opener_until not in (case.act_times or {}))
    )
    waiting = pending_transfer(s, case) if running else None
    return {
        "transfer_targets": transfer_targets(s, svc, user, case) if running else [],
        "pending_transfer": transfer_view(waiting, case, d) if waiting is not None else None,
        "transfer_role_label": d.roles[user.role].label if user.role in d.roles else user.role,
        "may_request_extension": may_request,
        "max_extension_days": ext.max_working_days if ext else 0,
        "extension_approver": d.roles[ext.approver_of(case.state)].label if ext and running else None,
        "extensions": extensions,
        "decidable": [e for e in current_pending if e["approver_role"] == user.role],
        "may_withdraw_as_opener": opener_withdraw,
    }


def _actions(svc: Services, case: Case, user: User):
    from fundflow.domain.engine import CaseSnapshot

    bare = CaseSnapshot(case.definition_id, case.definition_version, case.state, suspended_since=case.suspended_since)
    return svc.engine.actions(bare, user.role)


# -- pending work for the tasklist (service/reads/handoff_tasks.py) ------------------------------


def pending_extensions(s: Session, user: User) -> list[tuple[StageExtension, Case]]:
    """Extensions waiting on ``user``'s role, of the cases it sees, whose stage is still current."""
    return list(
        s.exec(
            select(StageExtension, Case)
            .join(Case, Case.id == StageExtension.case_id)
            .join(Stage, Stage.id == StageExtension.stage_id)
            .where(
                StageExtension.status == PENDING,
                StageExtension.approver_role == user.role,
                Stage.left_at.is_(None),
                Case.closed.is_(False),
                case_clause(user),
            )
            .order_by(StageExtension.requested_at, StageExtension.id)
        ).all()
    )


def list_transfers(svc: Services, user: User) -> list[dict[str, Any]]:
    with read_only(svc.sessions) as s:
        return transfers_of(s, svc, user)
