"""The places a user may see: communities (with their buildings) and street offices."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from fundflow.service.jurisdiction import can_see_community
from fundflow.service.tables import Community, StreetOffice, User

__all__ = ["community", "visible_communities", "visible_street_offices"]


def community(s: Session, user: User, community_id: int) -> dict[str, Any]:
    """A community in the caller's jurisdiction, with its buildings (GET /communities/{id})."""
    from fundflow.service.usecases.communities import _visible_community, community_view

    c, office = _visible_community(s, user, community_id)
    return community_view(s, c, office)


def visible_communities(s: Session, user: User) -> list[dict[str, Any]]:
    """The communities in the caller's jurisdiction, with their street office."""
    offices = {o.id: o for o in s.exec(select(StreetOffice))}
    out = []
    for c in s.exec(select(Community).order_by(Community.street_office_id, Community.id)):
        office = offices.get(c.street_office_id)
        if office is not None and can_see_community(user, c, office.district_id):
            out.append(
                {"id": c.id, "name": c.name, "code": c.code, "street_office": {"id": office.id, "name": office.name}}
            )
    return out


def visible_street_offices(s: Session, user: User) -> list[dict[str, Any]]:
    """The street offices that have a community in the caller's jurisdiction."""
    seen: dict[int, dict[str, Any]] = {}
    for c in visible_communities(s, user):
        seen.setdefault(c["street_office"]["id"], c["street_office"])
    return sorted(seen.values(), key=lambda o: o["id"])
