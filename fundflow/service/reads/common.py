"""Rows -> JSON-ready dicts for the read models, the API and the pages; and the SQL twin of the
overdue rule. Reads; never changes anything."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, not_
from sqlmodel import Session, select

from fundflow.domain.deadlines import deadline_status
from fundflow.domain.definition import Definition, FieldSpec
from fundflow.domain.engine import CaseSnapshot
from fundflow.domain.tz import SHANGHAI
from fundflow.service.tables import Case, Community, Event, LedgerEntry, Stage, StreetOffice, TopUpNotice, User

__all__ = [
    "case_view",
    "stage_view",
    "event_view",
    "field_view",
    "money_view",
    "top_up_view",
    "money",
    "iso",
    "overdue_clause",
    "not_overdue_clause",
]


def overdue_clause(now: datetime):
    """THE SQL twin of ``fundflow.domain.deadlines.deadline_status(...).overdue`` (lists, figures,
    metrics): a stage past its due moment, of a case that is not suspended. Join the case's open
    stage (``Stage.left_at IS NULL``); ``tests/service/test_rules.py`` checks both agree on the same
    rows."""
    return and_(Stage.due_at.is_not(None), Stage.due_at <= now, Case.suspended_since.is_(None))


def not_overdue_clause(now: datetime):
    return not_(overdue_clause(now))


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(SHANGHAI).isoformat()


def field_view(f: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "type": f.type.value, "label": f.label, "required": f.required}
    if f.choices:
        out["choices"] = [{"value": k, "label": v} for k, v in f.choice_labels.items()]
    return out


def stage_view(svc, d: Definition, stage: Stage | None, now: datetime, suspended: bool) -> dict[str, Any] | None:
    if stage is None:
        return None
    status = deadline_status(stage.due_date, stage.due_at, stage.warn_at, now, svc.calendar, suspended)
    return {
        "state": stage.state,
        "label": d.states[stage.state].label if stage.state in d.states else stage.state,
        "entered_at": iso(stage.entered_at),
        "due_date": stage.due_date.isoformat() if stage.due_date else None,
        "due_at": iso(stage.due_at),
        "warn_at": iso(stage.warn_at),
        # the first step of the escalation ladder (提请督办), when the stage is still open then
        "escalate_at": iso(stage.escalate_at),
        "rule": stage.rule,
        "calendar_source": stage.calendar_source,
        "provisional": stage.provisional,
        "overdue": status.overdue,
        "warned": status.warned,
        "working_days_left": status.working_days_left,
    }


def event_view(e: Event, d: Definition | None = None) -> dict[str, Any]:
    def label(state: str | None) -> str | None:
        return d.states[state].label if d is not None and state in d.states else state

    return {
        "seq": e.seq,
        "trigger": e.trigger,
        "label": e.label,
        "from_state": e.from_state,
        "from_label": label(e.from_state),
        "to_state": e.to_state,
        "to_label": label(e.to_state),
        "user": e.user_name,
        "role": e.role,
        "org": e.org,
        "data": e.data,
        "comment": e.comment,
        "at": iso(e.at),
        "hash": e.hash,
        "facts": e.facts,  # the row digests, hashed with the event
        # when the act happened (offline), beside when it was recorded (``at``); in the hashed data
        "occurred_at": iso(datetime.fromisoformat(e.data["occurred_at"]))
        if isinstance((e.data or {}).get("occurred_at"), str)
        else None,
    }


def case_view(svc, session: Session, user: User, case: Case, stage: Stage | None, now: datetime) -> dict[str, Any]:
    d = svc.registry.get(case.definition_id, case.definition_version)
    community = session.get(Community, case.community_id)
    office = session.get(StreetOffice, case.street_office_id)
    state = d.states[case.state]
    actions = []
    if not state.terminal:
        # which actions a role has depends on the state and on suspension only; guards and
        # documents are checked when the action is taken
        bare = CaseSnapshot(
            case.definition_id, case.definition_version, case.state, suspended_since=case.suspended_since
        )
        for a in svc.engine.actions(bare, user.role):
            actions.append(
                {
                    "trigger": a.trigger,
                    "label": a.label,
                    "to_state": a.dest,
                    "fields": [field_view(f) for f in a.fields],
                }
            )
    return {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "definition": {"id": d.id, "version": d.version, "title": d.title},
        "state": case.state,
        "state_label": state.label,
        "terminal": state.terminal,
        "outcome": case.outcome,
        "responsible": state.responsible,
        "responsible_label": d.roles[state.responsible].label if state.responsible else None,
        "version": case.version,
        "community": {"id": community.id, "name": community.name} if community else None,
        "street_office": {"id": office.id, "name": office.name} if office else None,
        "scope_building_ids": case.scope_building_ids,
        "data": case.data,
        "suspended": case.suspended_since is not None,
        "suspended_since": iso(case.suspended_since),
        "stage": stage_view(svc, d, stage, now, case.suspended_since is not None),
        "actions": actions,
        "money": money_view(session, case),
        "top_up_notices": [
            top_up_view(n)
            for n in session.exec(select(TopUpNotice).where(TopUpNotice.case_id == case.id).order_by(TopUpNotice.id))
        ],
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "closed_at": iso(case.closed_at),
    }


PAYMENT_KINDS = ("debit", "retention_release")


def money_view(session: Session, case: Case) -> dict[str, Any]:
    """approved, advanced, settled, paid, frozen, retention held, remaining, and each payment."""
    from fundflow.service.usecases.ledger import case_money

    m = case_money(session, case)
    rows = session.exec(
        select(LedgerEntry.event_seq, LedgerEntry.kind, func.sum(LedgerEntry.amount), func.max(LedgerEntry.at))
        .where(LedgerEntry.case_id == case.id, LedgerEntry.kind.in_(PAYMENT_KINDS))
        .group_by(LedgerEntry.event_seq, LedgerEntry.kind)
        .order_by(LedgerEntry.event_seq)
    ).all()
    seqs = [seq for seq, *_ in rows if seq is not None]
    labels = (
        dict(session.exec(select(Event.seq, Event.label).where(Event.case_id == case.id, Event.seq.in_(seqs))).all())
        if seqs
        else {}
    )
    payments = [
        {
            "event_seq": seq,
            "label": labels.get(seq, "迁移前的拨付") if seq is not None else "迁移前的拨付",
            "kind": kind,
            "amount": money(Decimal(total)),
            "at": iso(at),
        }
        for seq, kind, total, at in rows
    ]
    ceiling = m.ceiling
    return {
        "approved": money(case.approved_amount),
        "advanced": money(case.advanced_amount),
        "settled": money(case.settled_amount),
        "paid": money(case.paid_amount),
        "frozen": money(m.frozen),
        "retention_held": money(m.held),
        "remaining": money(ceiling - m.paid) if ceiling is not None else None,
        "payments": payments,
    }


def top_up_view(n: TopUpNotice) -> dict[str, Any]:
    return {
        "id": n.id,
        "event_seq": n.event_seq,
        "households": n.households,
        "total": money(n.total),
        "created_at": iso(n.created_at),
        "rows": n.rows,
    }


def events_of(session: Session, case: Case) -> list[Event]:
    return list(session.exec(select(Event).where(Event.case_id == case.id).order_by(Event.seq)))
