"""指派 / 签收: a stage given to a named user of the responsible organisation, and taken up.

The responsible organisation of a case's current stage is its responsible role (the
definition's ``responsible``) at the case's own unit: the users of that role who see the case
and share the assigner's organisation (level and id). A user of it assigns the stage to a
colleague (or to themself); the assignee, or any colleague while nobody is assigned, claims it
(签收). Each step is an event on the case; the row ``stage_assignments`` says where it stands
and a new stage starts unassigned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.errors import Forbidden, InvalidInput, NotFound, TaskRefused
from fundflow.service.integrity.facts import ASSIGNMENTS
from fundflow.service.jurisdiction import can_see_case
from fundflow.service.reads.common import iso
from fundflow.service.tables import Case, Stage, StageAssignment, User
from fundflow.service.usecases.cases import append_event, current_stage, load_case

__all__ = ["assign_stage", "claim_stage", "assignment_view", "colleagues", "same_org"]

ASSIGN_TRIGGER = "assign_stage"
CLAIM_TRIGGER = "claim_stage"


def same_org(a: User, b: User) -> bool:
    return a.role == b.role and a.org_level == b.org_level and a.org_id == b.org_id


def _responsible_stage(svc: Services, s: Session, user: User, case: Case) -> tuple[Stage, Any]:
    d = svc.registry.get(case.definition_id, case.definition_version)
    state = d.states[case.state]
    stage = current_stage(s, case)
    if state.terminal or stage is None or state.responsible is None:
        raise TaskRefused("案件已办结，没有可指派的环节", code="no_open_stage")
    if user.role != state.responsible:
        raise Forbidden(
            f"“{state.label}”环节由{d.roles[state.responsible].label}办理，只有该单位可以指派或签收",
            code="not_responsible",
        )
    return stage, state


def colleagues(s: Session, user: User, case: Case) -> list[User]:
    """The active users of ``user``'s organisation who see ``case``: whom a stage may go to."""
    rows = s.exec(
        select(User)
        .where(User.role == user.role, User.org_level == user.org_level, User.active.is_(True))
        .order_by(User.id)
    ).all()
    return [u for u in rows if u.org_id == user.org_id and can_see_case(u, case)]


def assignment_view(s: Session, row: StageAssignment | None) -> dict[str, Any] | None:
    if row is None:
        return None
    names = {u.id: u.display_name for u in s.exec(select(User).where(User.id.in_([row.assignee_id, row.assigned_by])))}
    return {
        "stage_id": row.stage_id,
        "assignee_id": row.assignee_id,
        "assignee": names.get(row.assignee_id, ""),
        "assigned_by_id": row.assigned_by,
        "assigned_by": names.get(row.assigned_by, ""),
        "assigned_at": iso(row.assigned_at),
        "claimed": row.claimed_at is not None,
        "claimed_at": iso(row.claimed_at),
    }


def _row(s: Session, stage: Stage) -> StageAssignment | None:
    return s.exec(select(StageAssignment).where(StageAssignment.stage_id == stage.id)).first()


def _event(
    s: Session, case: Case, user: User, trigger: str, label: str, data: dict, now: datetime, row: StageAssignment
) -> None:
    """The event, with the assignment row as it leaves it among its facts (``ASSIGNMENTS``)."""
    case.updated_at = now
    append_event(s, case, user, trigger, label, case.state, case.state, data, None, now, [ASSIGNMENTS.put(row)])
    s.add(case)


def assign_stage(svc: Services, user: User, case_id: int, *, assignee_id: int, now: datetime) -> dict[str, Any]:
    """Assign the case's current stage to ``assignee_id``, a user of the assigner's organisation."""
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        stage, state = _responsible_stage(svc, s, user, case)
        assignee = s.get(User, assignee_id)
        if assignee is None or not assignee.active:
            raise NotFound("指派对象不存在或已停用", code="assignee_not_found", detail={"assignee_id": assignee_id})
        if not same_org(user, assignee) or not can_see_case(assignee, case):
            raise InvalidInput(
                f"只能指派给本单位（{user.org_name}）的人员",
                code="assignee_not_colleague",
                detail={"field": "assignee_id"},
            )
        row = _row(s, stage)
        if row is not None and row.assignee_id == assignee.id:
            raise TaskRefused(f"该环节已指派给{assignee.display_name}", code="already_assigned")
        before = row.assignee_id if row is not None else None
        if row is None:
            row = StageAssignment(case_id=case.id, stage_id=stage.id, assignee_id=assignee.id, assigned_by=user.id)
        row.assignee_id, row.assigned_by, row.assigned_at = assignee.id, user.id, now
        row.claimed_at = now if assignee.id == user.id else None  # assigning oneself is taking it
        s.add(row)
        _event(
            s,
            case,
            user,
            ASSIGN_TRIGGER,
            f"指派：{state.label} → {assignee.display_name}",
            {"stage_id": stage.id, "assignee_id": assignee.id, "assignee": assignee.display_name, "before": before},
            now,
            row,
        )
        s.flush()
        return assignment_view(s, row) or {}


def claim_stage(svc: Services, user: User, case_id: int, *, now: datetime) -> dict[str, Any]:
    """签收: take the case's current stage up, assigned to oneself or to nobody yet."""
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        stage, state = _responsible_stage(svc, s, user, case)
        row = _row(s, stage)
        if row is not None and row.assignee_id != user.id:
            other = s.get(User, row.assignee_id)
            raise TaskRefused(
                f"该环节已指派给{other.display_name if other else '他人'}，不能签收", code="assigned_to_other"
            )
        if row is not None and row.claimed_at is not None:
            raise TaskRefused("您已签收该环节", code="already_claimed")
        if row is None:
            row = StageAssignment(
                case_id=case.id, stage_id=stage.id, assignee_id=user.id, assigned_by=user.id, assigned_at=now
            )
        row.claimed_at = now
        s.add(row)
        _event(s, case, user, CLAIM_TRIGGER, f"签收：{state.label}", {"stage_id": stage.id}, now, row)
        s.flush()
        return assignment_view(s, row) or {}
