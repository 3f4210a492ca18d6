"""Read-only look-ups the pages need and ``fundflow/service/usecases`` does not offer (yet).

Each one checks the caller's jurisdiction with the same functions the use cases use
(``cases.load_case``, ``jurisdiction.can_see_community``) and changes nothing. They belong in
``usecases/queries.py`` (stage history, visible places) and ``usecases/meetings.py`` (the
meeting's parties); they live here only until they move there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from fundflow.domain.deadlines import is_overdue
from fundflow.domain.definition import Definition
from fundflow.service.context import Services
from fundflow.service.db import read_only
from fundflow.service.jurisdiction import can_see_community
from fundflow.service.tables import Community, Stage, StreetOffice, User
from fundflow.service.usecases.cases import load_case

__all__ = ["stage_history", "visible_communities", "visible_street_offices", "meeting_parties"]


def stage_history(svc: Services, user: User, case_id: int, now: datetime) -> list[dict[str, Any]]:
    """Every stage the case entered, oldest first: when it was entered and left, its due time,
    and whether the deadline was met (``met``), missed (``missed``), is still running
    (``running``, ``overdue``) or there was none (``none``)."""
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        d = svc.registry.get(case.definition_id, case.definition_version)
        rows = s.exec(select(Stage).where(Stage.case_id == case.id).order_by(Stage.entered_at, Stage.id)).all()
        out = []
        for st in rows:
            if st.due_at is None:
                status = "none"
            elif st.left_at is not None:
                status = "met" if st.left_at <= st.due_at else "missed"
            elif case.suspended_since is not None:
                status = "suspended"
            else:
                status = "overdue" if is_overdue(st.due_at, now) else "running"
            out.append(
                {
                    "state": st.state,
                    "label": d.states[st.state].label if st.state in d.states else st.state,
                    "responsible": d.states[st.state].responsible if st.state in d.states else None,
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


def visible_communities(svc: Services, user: User) -> list[dict[str, Any]]:
    """The communities in the caller's jurisdiction, with their street office."""
    with read_only(svc.sessions) as s:
        offices = {o.id: o for o in s.exec(select(StreetOffice))}
        out = []
        for c in s.exec(select(Community).order_by(Community.street_office_id, Community.id)):
            office = offices.get(c.street_office_id)
            if office is not None and can_see_community(user, c, office.district_id):
                out.append(
                    {
                        "id": c.id,
                        "name": c.name,
                        "code": c.code,
                        "street_office": {"id": office.id, "name": office.name},
                    }
                )
        return out


def visible_street_offices(svc: Services, user: User) -> list[dict[str, Any]]:
    """The street offices that have a community in the caller's jurisdiction."""
    seen: dict[int, dict[str, Any]] = {}
    for c in visible_communities(svc, user):
        seen.setdefault(c["street_office"]["id"], c["street_office"])
    return sorted(seen.values(), key=lambda o: o["id"])


def meeting_parties(d: Definition, state: str) -> list[str]:
    """The parties of a joint meeting held in ``state`` (as ``meetings.record_vote`` reads the
    definition: the transitions guarded by ``meeting_quorum``); empty where no meeting is held."""
    meeting = [t for t in d.transitions_from(state) if any(g.name == "meeting_quorum" for g in t.guards)]
    if not meeting:
        return []
    parties: list[str] = []
    for t in meeting:
        for g in t.guards:
            if g.name == "meeting_quorum":
                for p in g.params.get("parties", ()):
                    if p not in parties:
                        parties.append(p)
    return parties or list(d.roles)
