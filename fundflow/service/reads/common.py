"""Rows -> JSON-ready dicts for the read models, the API and the pages; and the SQL twin of the
overdue rule. Reads; never changes anything."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, func, not_
from sqlmodel import Session, select

from fundflow.domain.deadlines import deadline_status
from fundflow.domain.definition import Definition, FieldSpec
from fundflow.domain.engine import CaseSnapshot
from fundflow.domain.tz import SHANGHAI
from fundflow.service.db import flushed
from fundflow.service.jurisdiction import holds_case
from fundflow.service.prepared import Prepared
from fundflow.service.tables import (
    Case,
    Community,
    Event,
    LedgerEntry,
    Organisation,
    Stage,
    StreetOffice,
    TopUpNotice,
    User,
)

__all__ = [
    "case_view",
    "case_body",
    "money_body",
    "top_ups_of",
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
    if f.org_kind:  # the organisation's id (GET /api/v1/organisations?kind=...)
        out["kind"] = f.org_kind
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


def case_view(
    svc,
    session: Session,
    user: User,
    case: Case,
    stage: Stage | None,
    now: datetime,
    *,
    money: dict[str, Any] | None = None,
    top_ups: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``money``, ``top_ups``: already known (a case just opened has neither); read otherwise."""
    community = session.get(Community, case.community_id) if case.community_id is not None else None
    office = session.get(StreetOffice, case.street_office_id) if case.street_office_id is not None else None
    return case_body(
        svc,
        user,
        case,
        stage,
        now,
        (community.id, community.name) if community else None,
        (office.id, office.name) if office else None,
        money_view(session, case) if money is None else money,
        top_ups_of(session, case.id) if top_ups is None else top_ups,
        organisation_of(session, case),
    )


def organisation_of(session: Session, case: Any) -> tuple[int, str] | None:
    """The organisation of a declared kind now holding the case (id, name), if any."""
    if getattr(case, "organisation_id", None) is None:
        return None
    row = session.get(Organisation, case.organisation_id)
    return (row.id, row.name) if row is not None else None


def handles(d: Any, user: User) -> bool:
    """A party that handles cases of the procedure: its role takes part in it (a city-level user of
    another procedure may see the case but is no party of it)."""
    return user.role in d.roles


def subject_view(d: Any, case: Any, user: User) -> dict[str, Any] | None:
    """What a non-community case is about; a person's contact details (phone, address) only for
    the parties that handle the case (personal data)."""
    if d.subject.is_community or d.subject.kind == "none":
        return None
    raw = dict(case.subject or {})
    out = {"kind": d.subject.kind, "label": d.subject.label, "name": raw.get("name")}
    private = d.subject.kind == "person"
    for key in ("phone", "address"):
        if key in raw and (not private or handles(d, user)):
            out[key] = raw[key]
    out["contact_hidden"] = private and not handles(d, user) and any(k in raw for k in ("phone", "address"))
    return out


_TOP_UP_NAMES = tuple(c.name for c in TopUpNotice.__table__.c)
_TOP_UPS = Prepared(
    select(*TopUpNotice.__table__.c)
    .where(TopUpNotice.__table__.c.case_id == bindparam("case_id"))
    .order_by(TopUpNotice.__table__.c.id)
)


def top_ups_of(session: Session, case_id: int) -> list[dict[str, Any]]:
    rows = _TOP_UPS.all(flushed(session), {"case_id": case_id})
    return [top_up_view(SimpleNamespace(**dict(zip(_TOP_UP_NAMES, row)))) for row in rows]


#: (definition id, version, state, suspended, role) -> (engine, definition, the actions' views):
#: the actions a role has depend on the state and on suspension only (guards and documents are
#: checked when an action is taken); the engine and definition objects are kept and compared
#: by identity, so a reloaded definition or another engine is never answered from here
_ACTIONS: dict[tuple, tuple[Any, Any, tuple[dict[str, Any], ...]]] = {}


def _actions(svc, d: Definition, case: Any, role: str) -> tuple[dict[str, Any], ...]:
    suspended = case.suspended_since is not None
    key = (d.id, d.version, case.state, suspended, role)
    hit = _ACTIONS.get(key)
    if hit is not None and hit[0] is svc.engine and hit[1] is d:
        return hit[2]
    bare = CaseSnapshot(case.definition_id, case.definition_version, case.state, suspended_since=case.suspended_since)
    views = tuple(
        {"trigger": a.trigger, "label": a.label, "to_state": a.dest, "fields": [field_view(f) for f in a.fields]}
        for a in svc.engine.actions(bare, role)
    )
    if len(_ACTIONS) > 4096:  # bounded: definitions x states x roles is far below this
        _ACTIONS.clear()
    _ACTIONS[key] = (svc.engine, d, views)
    return views


def case_body(
    svc,
    user: User,
    case: Any,
    stage: Any,
    now: datetime,
    community: tuple[int, str] | None,
    office: tuple[int, str] | None,
    money_part: dict[str, Any],
    top_ups: list[dict[str, Any]],
    organisation: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """A case as the API answers it, from what is in hand (``community``, ``office``: id and name)."""
    d = svc.registry.get(case.definition_id, case.definition_version)
    state = d.states[case.state]
    # a department that handed the case on still sees it, and acts no more (issue 15)
    actions = [] if state.terminal or not holds_case(user, case) else list(_actions(svc, d, case, user.role))
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
        "community": {"id": community[0], "name": community[1]} if community else None,
        "street_office": {"id": office[0], "name": office[1]} if office else None,
        "subject": subject_view(d, case, user),
        "subject_kind": d.subject.kind,
        "organisation": {"id": organisation[0], "name": organisation[1]} if organisation else None,
        # the holding organisation, when the stage waits on a role of its kind (a department)
        "responsible_org": organisation[1]
        if organisation
        and state.responsible
        and d.roles[state.responsible].kind
        and not state.terminal
        and d.roles[state.responsible].level == "organisation"
        else None,
        "scope_building_ids": case.scope_building_ids,
        "data": case.data,
        "suspended": case.suspended_since is not None,
        "suspended_since": iso(case.suspended_since),
        "stage": stage_view(svc, d, stage, now, case.suspended_since is not None),
        "actions": actions,
        "money": money_part,
        "top_up_notices": top_ups,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "closed_at": iso(case.closed_at),
    }


PAYMENT_KINDS = ("debit", "retention_release")


_MONEY = Prepared(
    select(LedgerEntry.event_seq, LedgerEntry.kind, func.sum(LedgerEntry.amount), func.max(LedgerEntry.at), Event.label)
    .outerjoin(Event, and_(Event.case_id == LedgerEntry.case_id, Event.seq == LedgerEntry.event_seq))
    .where(LedgerEntry.case_id == bindparam("case_id"))
    .group_by(LedgerEntry.event_seq, LedgerEntry.kind, Event.label)
    .order_by(LedgerEntry.event_seq, LedgerEntry.kind)
)


def money_view(session: Session, case: Case) -> dict[str, Any]:
    """approved, advanced, settled, paid, frozen, retention held, remaining, and each payment:
    one statement (the case's journal by event and kind, with the events' labels)."""
    from fundflow.domain.ledger import CaseMoney
    from fundflow.domain.money import from_fen
    from fundflow.service.usecases.ledger import ZERO, _case_figures

    rows = _MONEY.all(flushed(session), {"case_id": case.id})
    sums: dict[str, Decimal] = {}
    for _seq, kind, total, _at, _label in rows:  # frozen and held are linear in the sums by kind
        sums[kind] = sums.get(kind, ZERO) + Decimal(total)
    frozen, held, _ = _case_figures(sums)
    m = CaseMoney(case.approved_amount, case.settled_amount, case.paid_amount or ZERO, from_fen(frozen), from_fen(held))
    payments = [(seq, kind, total, at) for seq, kind, total, at, _ in rows if kind in PAYMENT_KINDS]
    labels = {seq: label for seq, kind, _t, _a, label in rows if kind in PAYMENT_KINDS and label is not None}
    return money_body(case, m, payments, labels)


def money_body(case: Any, m, rows: list, labels: dict[int, str]) -> dict[str, Any]:
    """``money_view`` from the case's figures ``m`` (a CaseMoney), its payment rows
    (event_seq, kind, total, at) and the labels of their events."""
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


def area_text(value: Any) -> str:
    """A floor area as offices write it: two decimals, more only where the register has them."""
    d = Decimal(value)
    return f"{d:,.2f}" if d == d.quantize(Decimal("0.01")) else f"{d.normalize():,f}"
