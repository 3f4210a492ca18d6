"""The city's figures (GET /stats, the dashboard): per district and street office."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, func
from sqlalchemy import case as sql_case
from sqlmodel import Session, select

from fundflow.domain.definition import COMPLETED, OUTCOMES
from fundflow.domain.tz import local_date
from fundflow.service.jurisdiction import case_clause
from fundflow.service.reads.common import iso, money, overdue_clause
from fundflow.service.tables import Case, District, Stage, StreetOffice, Supervision, User
from fundflow.service.usecases.supervision import CLOSED

__all__ = ["city_stats", "EMPTY_FIGURES"]


def city_stats(s: Session, svc, user: User, now: datetime, definition_id: str | None = None) -> dict[str, Any]:
    """Per district and street office: started, finished, in progress, overdue, average
    working days per stage, funds approved and paid; of one procedure, or of all."""
    scope = case_clause(user) if definition_id is None else and_(case_clause(user), Case.definition_id == definition_id)
    offices = {o.id: o for o in s.exec(select(StreetOffice))}
    districts = {d.id: d for d in s.exec(select(District))}
    others = [o for o in OUTCOMES if o != COMPLETED]  # withdrawn, rejected, diverted
    rows = s.exec(
        select(
            Case.street_office_id,
            func.count(),
            func.sum(func.cast(and_(Case.closed, Case.outcome == COMPLETED), Integer)),
            func.sum(func.cast(Case.closed, Integer)),
            func.coalesce(func.sum(Case.approved_amount), 0),
            func.coalesce(func.sum(Case.paid_amount), 0),
            func.count(func.distinct(Case.community_id)),
            func.count(func.distinct(sql_case((and_(Case.closed, Case.outcome == COMPLETED), Case.community_id)))),
            *[func.sum(func.cast(and_(Case.closed, Case.outcome == o), Integer)) for o in others],
        )
        .where(scope)
        .group_by(Case.street_office_id)
    ).all()
    overdue = dict(
        s.exec(
            select(Case.street_office_id, func.count())
            .join(Stage, and_(Stage.case_id == Case.id, Stage.left_at.is_(None)))
            .where(scope, overdue_clause(now))
            .group_by(Case.street_office_id)
        ).all()
    )
    # 督办 per street office: open (issued or replied) and closed (销号)
    supervised: dict[int, dict[str, int]] = defaultdict(lambda: {"supervision_open": 0, "supervision_closed": 0})
    for office_id, status, n in s.exec(
        select(Case.street_office_id, Supervision.status, func.count())
        .join(Case, Case.id == Supervision.case_id)
        .where(scope)
        .group_by(Case.street_office_id, Supervision.status)
    ).all():
        supervised[office_id]["supervision_closed" if status == CLOSED else "supervision_open"] += int(n)
    stage_days: dict[tuple[str, str], list[int]] = defaultdict(list)
    for definition_id, state, entered, left in s.exec(
        select(Case.definition_id, Stage.state, Stage.entered_at, Stage.left_at)
        .join(Case, Case.id == Stage.case_id)
        .where(scope, Stage.left_at.is_not(None))
    ):
        stage_days[(definition_id, state)].append(
            svc.calendar.workdays_between(local_date(entered), local_date(left)).count
        )
    by_office = []
    totals = defaultdict(lambda: dict(EMPTY_FIGURES))
    for office_id, started, finished, closed, approved, paid, communities, communities_finished, *ended in rows:
        office = offices.get(office_id)
        item = {
            "started": int(started),
            "finished": int(finished or 0),
            "closed": int(closed or 0),
            "in_progress": int(started) - int(closed or 0),
            "overdue": int(overdue.get(office_id, 0)),
            **supervised[office_id],
            **{o: int(n or 0) for o, n in zip(others, ended)},
            # a community belongs to one street office: these add up over offices and districts
            "communities_started": int(communities),
            "communities_finished": int(communities_finished),
            "approved": Decimal(approved),
            "paid": Decimal(paid),
        }
        t = totals[office.district_id if office else 0]
        for k, v in item.items():
            t[k] += v
        by_office.append(
            {
                "street_office_id": office_id,
                "street_office": office.name if office else NO_PLACE,
                "district_id": office.district_id if office else None,
                **_money(item),
            }
        )
    by_district = [
        {"district_id": did, "district": districts[did].name if did in districts else NO_PLACE, **_money(t)}
        for did, t in sorted(totals.items())
    ]
    # every version's states, named as the version new cases take names them where both have one
    labels = {(d.id, st.id): st.label for d in [*svc.registry, *svc.registry.latest()] for st in d.states.values()}
    city = defaultdict(int)
    for t in totals.values():
        for k, v in t.items():
            city[k] += v
    return {
        "as_of": iso(now),
        "city": _money(dict(city)) if city else _money(dict(EMPTY_FIGURES)),
        "districts": by_district,
        "street_offices": sorted(by_office, key=lambda x: (x["district_id"] or 0, x["street_office_id"])),
        "stages": [
            {
                "definition": key[0],
                "state": key[1],
                "label": labels.get(key, key[1]),
                "count": len(v),
                "average_working_days": round(sum(v) / len(v), 1),
            }
            for key, v in sorted(stage_days.items())
        ],
    }


#: The row of the cases that belong to no district or street office (a department's opinions)
NO_PLACE = "无属地（市直部门等）"


#: The figures of a street office, a district and the city. started = finished + in_progress +
#: withdrawn + rejected + diverted (the outcomes of ``fundflow.domain.definition.OUTCOMES``).
EMPTY_FIGURES = {
    "started": 0,
    "finished": 0,
    "closed": 0,
    "in_progress": 0,
    "overdue": 0,
    "supervision_open": 0,  # 督办 issued or replied, not yet closed
    "supervision_closed": 0,  # 督办 closed (销号)
    **{o: 0 for o in OUTCOMES if o != COMPLETED},
    "communities_started": 0,
    "communities_finished": 0,
    "approved": 0,
    "paid": 0,
}


def _money(item: dict) -> dict:
    """Sums of money columns (Decimal yuan: SUM keeps the column type) as yuan strings."""
    out = dict(item)
    for k in ("approved", "paid"):
        out[k] = money(Decimal(out[k]))
    return out
