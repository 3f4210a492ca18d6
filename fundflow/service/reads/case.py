"""One case: GET /cases/{id} (``case_detail``), its events, stages, votes, documents and
apportionment, and the case page's whole bundle (``case_page``), each read in the caller's one
read transaction. Jurisdiction is checked with ``cases.load_case``, as the use cases do."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from fundflow.domain.apportionment import apportion
from fundflow.domain.deadlines import deadline_status
from fundflow.domain.errors import ApportionmentError
from fundflow.domain.ledger import below_top_up_line
from fundflow.domain.money import from_fen, to_fen
from fundflow.service.errors import InvalidInput
from fundflow.service.paperwork.kinds import GENERATED_LABELS
from fundflow.service.reads.common import case_view, event_view, events_of, money
from fundflow.service.tables import Building, Case, Community, Document, Stage, StreetOffice, User
from fundflow.service.usecases.supervision import REPLY_DOC_LABEL, REPLY_DOC_TYPE

__all__ = [
    "APPORTION_FIGURES",
    "load",
    "case_detail",
    "events",
    "stage_history",
    "votes",
    "documents",
    "apportionment",
    "case_page",
]

#: Which cost an apportionment shares, best known first.
APPORTION_FIGURES = ("settled_amount", "approved_amount")


def load(s: Session, user: User, case_id: int) -> Case:
    from fundflow.service.usecases.cases import load_case

    return load_case(s, user, case_id)


def _definition(svc, case: Case):
    return svc.registry.get(case.definition_id, case.definition_version)


def case_detail(s: Session, svc, user: User, case_id: int, now: datetime, case: Case | None = None) -> dict[str, Any]:
    """The case with its open stage, deadline status, actions and money (GET /cases/{id})."""
    from fundflow.service.usecases.cases import current_stage

    case = case or load(s, user, case_id)
    return case_view(svc, s, user, case, current_stage(s, case), now)


def events(s: Session, svc, case: Case) -> list[dict[str, Any]]:
    """Each event labelled by the version it was fired under (``definition_version``): a case
    migrated onto a new version keeps its earlier events' states as they were named then."""
    from fundflow.domain.migration import VERSION_EVENTS, event_versions

    rows = events_of(s, case)
    versions = event_versions([(e.trigger, e.data or {}) for e in rows], case.definition_version)
    known = set(svc.registry.versions(case.definition_id))
    out = []
    for e, v in zip(rows, versions):
        d = svc.registry.get(case.definition_id, v) if v in known else _definition(svc, case)
        view = event_view(e, d)
        view["definition_version"] = v
        if e.trigger in VERSION_EVENTS and (e.data or {}).get("to_version") in known:  # lands under the other version
            after = svc.registry.get(case.definition_id, e.data["to_version"])
            view["to_label"] = after.states[e.to_state].label if e.to_state in after.states else e.to_state
        out.append(view)
    return out


def stage_history(s: Session, svc, case: Case, now: datetime) -> list[dict[str, Any]]:
    """Every stage the case entered, oldest first: when it was entered and left, its due time,
    and whether the deadline was met (``met``), missed (``missed``), is still running
    (``running``, ``overdue``, ``suspended``) or there was none (``none``)."""
    d = _definition(svc, case)
    rows = s.exec(select(Stage).where(Stage.case_id == case.id).order_by(Stage.entered_at, Stage.id)).all()
    out = []
    for st in rows:
        if st.due_at is None:
            status = "none"
        elif st.left_at is not None:
            status = "met" if st.left_at <= st.due_at else "missed"
        elif case.suspended_since is not None:
            status = "suspended"
        else:  # the one overdue rule
            overdue = deadline_status(st.due_date, st.due_at, st.warn_at, now, svc.calendar).overdue
            status = "overdue" if overdue else "running"
        known = st.state in d.states
        out.append(
            {
                "state": st.state,
                "label": d.states[st.state].label if known else st.state,
                "responsible": d.states[st.state].responsible if known else None,
                "entered_at": st.entered_at,
                "left_at": st.left_at,
                "due_date": st.due_date,
                "due_at": st.due_at,
                "provisional": st.provisional,
                "rule": st.rule,
                "status": status,
            }
        )
    return out


def votes(s: Session, svc, case: Case) -> list[dict[str, Any]]:
    from fundflow.service.usecases.meetings import _votes

    return _votes(s, case.id, _definition(svc, case))


def documents(s: Session, svc, case: Case) -> list[dict[str, Any]]:
    from fundflow.service.usecases.documents import document_view

    d = _definition(svc, case)
    rows = s.exec(select(Document).where(Document.case_id == case.id).order_by(Document.id)).all()
    return [
        document_view(r, {**GENERATED_LABELS, REPLY_DOC_TYPE: REPLY_DOC_LABEL, **d.documents}, case.renewed_documents)
        for r in rows
    ]


def apportionment(s: Session, svc, case: Case) -> dict[str, Any]:
    """Each household's share of the case's cost (settled if known, else approved)."""
    from fundflow.service.usecases import ledger
    from fundflow.service.usecases.cases import scope_households

    total, basis = None, None
    for name in APPORTION_FIGURES:
        value = getattr(case, name)
        if value is not None:
            total, basis = value, name
            break
    if total is None:
        raise InvalidInput("案件尚无核准或结算金额，无法分摊", code="no_amount_to_apportion")
    households = scope_households(s, case)
    if not households:
        raise InvalidInput("分摊范围内没有登记房屋，请先导入房屋清单", code="no_households_in_scope")
    shares = apportion(total, [(str(h.id), h.area) for h in households])  # ApportionmentError: 422
    names = {b.id: b.name for b in s.exec(select(Building).where(Building.community_id == case.community_id))}
    community = s.get(Community, case.community_id) if case.community_id is not None else None
    accounts = {a.key: a for a in ledger.accounts_of(s, case, households)}
    rows = []
    for h, share in zip(households, shares):
        a = accounts[h.id]
        paid = from_fen(a.case_paid)
        # what the balance will be once this case has paid its share: what it paid here
        # is already out of the balance, so only the rest is taken off (never twice)
        after = h.balance - max(share.amount - paid, Decimal("0.00"))
        rows.append(
            {
                "household_id": h.id,
                "building": names.get(h.building_id, ""),
                "unit": h.unit,
                "room": h.room,
                "owner": h.owner,
                "area": str(h.area),
                "share": money(share.amount),
                "paid": money(paid),
                "frozen": money(from_fen(a.case_frozen)),
                "balance": money(h.balance),
                "available": money(from_fen(a.available)),
                "balance_after": money(after),
                "below_30_percent": below_top_up_line(to_fen(after), to_fen(h.first_deposit)),
            }
        )
    rows.sort(key=lambda r: (r["building"], r["unit"], r["room"], r["household_id"]))
    return {
        "case_id": case.id,
        "case_number": case.number,
        "title": case.title,
        "community": community.name if community else "",
        "basis": basis,
        "total": money(total),
        "paid": money(case.paid_amount or Decimal("0.00")),
        "total_area": str(sum((h.area for h in households), Decimal("0"))),
        "households": len(rows),
        "rows": rows,
    }


def case_page(s: Session, svc, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    """Everything the case page shows, in one read: the case, its events, documents, votes,
    stages, apportionment (or why there is none), the community's buildings, and the joint
    meeting's parties and the ones whose vote the caller may record."""
    case = load(s, user, case_id)
    d = _definition(svc, case)
    view = case_detail(s, svc, user, case_id, now, case)
    try:
        table, note = apportionment(s, svc, case), None
    except (InvalidInput, ApportionmentError) as exc:  # shown on the page beside the table
        table, note = None, exc.message if isinstance(exc, InvalidInput) else str(exc)
    held = not view["terminal"]
    return {
        "view": view,
        "definition": d,
        "events": events(s, svc, case),
        "documents": documents(s, svc, case),
        "votes": votes(s, svc, case),
        "stages": stage_history(s, svc, case, now),
        "apportionment": table,
        "apportion_note": note,
        "buildings": _buildings(s, case) if view["community"] else [],
        "parties": list(d.meeting_parties(case.state)) if held else [],
        "voters": list(d.vote_parties(case.state, user.role)) if held else [],
        **_handoffs(s, svc, user, case, now),  # issue 11b
    }


def _buildings(s: Session, case: Case) -> list[dict[str, Any]]:
    """The buildings of the case's community: whoever sees the case sees them (a case transferred
    to another street office or district stays in its community; issue 11b)."""
    from fundflow.service.usecases.communities import community_view

    community = s.get(Community, case.community_id) if case.community_id is not None else None
    office = s.get(StreetOffice, community.street_office_id) if community else None
    return community_view(s, community, office)["buildings"] if community and office else []


def _handoffs(s: Session, svc, user: User, case: Case, now: datetime) -> dict[str, Any]:
    """The hand-offs the user may do on the case page, and the case's objection records."""
    from fundflow.service.usecases.handoffs import handoff_options
    from fundflow.service.usecases.objections import objections_of

    d = _definition(svc, case)
    rule = d.objections
    taken = rule is not None and case.state in rule.states and case.suspended_since is None
    from fundflow.service.reads.records import signatures
    from fundflow.service.usecases.meeting_sessions import meeting_record

    held = bool(d.meeting_parties(case.state)) and case.suspended_since is None
    return {
        "signatures": signatures(s, svc, case),
        "meeting_record": meeting_record(s, svc, case),
        "may_convene": held and user.role == d.states[case.state].responsible,
        "handoffs": handoff_options(s, svc, user, case, now),
        "objections": objections_of(s, case),
        "may_raise_objection": taken and user.role in rule.raise_roles,
        "may_answer_objection": taken and user.role in rule.answer_roles,
    }
