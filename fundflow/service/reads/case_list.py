"""The case list (GET /cases, the case list page) and the to-do list: filtered, in due order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from fundflow.service.errors import InvalidInput
from fundflow.service.jurisdiction import case_clause
from fundflow.service.reads.common import iso, not_overdue_clause, overdue_clause, stage_view
from fundflow.service.tables import Case, Community, Stage, User

__all__ = ["list_cases", "MAX_PAGE_SIZE", "COUNT_CAP"]

MAX_PAGE_SIZE = 100
COUNT_CAP = 10_000


def list_cases(
    s: Session,
    svc,
    user: User,
    *,
    now: datetime,
    state: str | None = None,
    street_office_id: int | None = None,
    overdue: bool | None = None,
    q: str | None = None,
    responsible_role: str | None = None,
    include_closed: bool = True,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page 从 1 开始，page_size 为 1-{MAX_PAGE_SIZE}", code="invalid_page")
    # An open case always has its open stage: without closed cases the join is inner, so
    # the planner can walk ix_stages_open_due in due order and stop at the page.
    open_stage = and_(Stage.case_id == Case.id, Stage.left_at.is_(None))
    stmt = select(Case, Stage, Community).join(Community, Community.id == Case.community_id)
    stmt = stmt.outerjoin(Stage, open_stage) if include_closed else stmt.join(Stage, open_stage)
    stmt = stmt.where(case_clause(user))
    if state:
        stmt = stmt.where(Case.state == state)
    if street_office_id is not None:
        stmt = stmt.where(Case.street_office_id == street_office_id)
    if not include_closed:
        stmt = stmt.where(Case.closed.is_(False))
    if overdue is True:
        stmt = stmt.where(overdue_clause(now))
    elif overdue is False:
        stmt = stmt.where(or_(Stage.id.is_(None), not_overdue_clause(now)))
    if q:
        like = f"%{q.strip()[:100]}%"
        stmt = stmt.where(or_(Case.title.ilike(like), Case.number.ilike(like), Community.name.ilike(like)))
    if responsible_role:
        states = [
            (d.id, d.version, st.id)
            for d in svc.registry
            for st in d.states.values()
            if st.responsible == responsible_role
        ]
        if not states:
            stmt = stmt.where(Case.id.is_(None))
        else:
            stmt = stmt.where(
                or_(
                    *[
                        and_(Case.definition_id == i, Case.definition_version == v, Case.state == st)
                        for i, v, st in states
                    ]
                )
            )
    # Counting stops at COUNT_CAP: beyond it a clerk needs a filter, not a page number.
    total = s.exec(select(func.count()).select_from(stmt.limit(COUNT_CAP + 1).subquery())).one()
    rows = s.exec(
        stmt.order_by(Stage.due_at.asc().nulls_last(), Case.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    items = []
    for case, stage, community in rows:
        d = svc.registry.get(case.definition_id, case.definition_version)
        items.append(
            {
                "id": case.id,
                "number": case.number,
                "title": case.title,
                "definition": d.id,
                "state": case.state,
                "state_label": d.states[case.state].label,
                "community": {"id": community.id, "name": community.name},
                "street_office_id": case.street_office_id,
                "suspended": case.suspended_since is not None,
                "closed": case.closed,
                "version": case.version,
                "stage": stage_view(svc, d, stage, now, case.suspended_since is not None),
                "updated_at": iso(case.updated_at),
            }
        )
    return {
        "items": items,
        "total": min(total, COUNT_CAP),
        "total_exact": total <= COUNT_CAP,
        "page": page,
        "page_size": page_size,
    }
