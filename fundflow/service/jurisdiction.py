"""Who sees which cases: by the user's organisation level, never by role name.

city -> every case; district -> its district's; street_office -> its own communities';
community -> that community's; organisation (a department of a kind that ``sees: handled``) ->
the cases it is or was responsible for (assigned or transferred to it). A kind that ``sees: all``
(a city-wide hotline center) puts its users at city level. Another jurisdiction's case is "not
found", not "forbidden".
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, true

from fundflow.domain.definition import ORGANISATION
from fundflow.service.tables import Case, CaseOrganisation, Community, User

__all__ = ["ORG_LEVELS", "case_clause", "can_see_case", "can_see_community", "holds_case", "holder_clause"]

ORG_LEVELS = ("city", "district", "street_office", "community", ORGANISATION)


def case_clause(user: User) -> ColumnElement[bool]:
    if user.org_level == "city":
        return true()
    if user.org_level == "district":
        return Case.district_id == user.org_id
    if user.org_level == "street_office":
        return Case.street_office_id == user.org_id
    if user.org_level == "community":
        return Case.community_id == user.org_id
    if user.org_level == ORGANISATION:
        handled = select(CaseOrganisation.case_id).where(CaseOrganisation.organisation_id == user.org_id)
        return Case.id.in_(handled)
    return false()


def can_see_case(user: User, case: Case) -> bool:
    if user.org_level == ORGANISATION:
        return user.org_id is not None and user.org_id in (case.handled_by or ())
    return {
        "city": True,
        "district": case.district_id is not None and case.district_id == user.org_id,
        "street_office": case.street_office_id is not None and case.street_office_id == user.org_id,
        "community": case.community_id is not None and case.community_id == user.org_id,
    }.get(user.org_level, False)


def holds_case(user: User, case: Case) -> bool:
    """Whether the user's organisation may act on the case: a department (``sees: handled``)
    only while it holds it, not after it transferred it or had it returned; anyone else as
    their jurisdiction and role allow."""
    if user.org_level == ORGANISATION:
        return user.org_id is not None and case.organisation_id == user.org_id
    return True


def holder_clause(user: User) -> ColumnElement[bool]:
    """The cases the user's organisation holds now (what waits on it, for a department)."""
    if user.org_level == ORGANISATION:
        return Case.organisation_id == user.org_id
    return true()


def can_see_community(user: User, community: Community, district_id: int) -> bool:
    return {
        "city": True,
        "district": district_id == user.org_id,
        "street_office": community.street_office_id == user.org_id,
        "community": community.id == user.org_id,
    }.get(user.org_level, False)
