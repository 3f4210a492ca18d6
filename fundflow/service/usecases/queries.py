"""Read-only use cases: case lists, event logs, apportionment tables, the city's figures."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, func, or_
from sqlalchemy import case as sql_case
from sqlmodel import select

from fundflow.domain.apportionment import TOP_UP_SHARE, apportion
from fundflow.domain.definition import COMPLETED, OUTCOMES
from fundflow.domain.money import from_fen
from fundflow.domain.tz import local_date
from fundflow.service.context import Services
from fundflow.service.db import read_only
from fundflow.service.errors import InvalidInput
from fundflow.service.jurisdiction import case_clause
from fundflow.service.tables import Building, Case, Community, District, Stage, StreetOffice, User
from fundflow.service.usecases import ledger
from fundflow.service.usecases.cases import load_case, scope_households
from fundflow.service.views import event_view, events_of, iso, money, not_overdue_clause, overdue_clause, stage_view

__all__ = ["list_cases", "list_events", "apportionment_of", "city_stats", "APPORTION_FIGURES"]

MAX_PAGE_SIZE = 100
COUNT_CAP = 10_000
#: Which cost an apportionment shares, best known first.
APPORTION_FIGURES = ("settled_amount", "approved_amount")


def list_cases(
    svc: Services,
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
    with read_only(svc.sessions) as s:
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
            stmt.order_by(Stage.due_at.asc().nulls_last(), Case.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
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


def list_events(svc: Services, user: User, case_id: int) -> list[dict[str, Any]]:
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        d = svc.registry.get(case.definition_id, case.definition_version)
        return [event_view(e, d) for e in events_of(s, case)]


def apportionment_of(svc: Services, user: User, case_id: int) -> dict[str, Any]:
    """Each household's share of the case's cost (settled if known, else approved)."""
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
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
        community = s.get(Community, case.community_id)
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
                    "below_30_percent": after < h.first_deposit * TOP_UP_SHARE,
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


def city_stats(svc: Services, user: User, now: datetime, definition_id: str | None = None) -> dict[str, Any]:
    """Per district and street office: started, finished, in progress, overdue, average
    working days per stage, funds approved and paid; of one procedure, or of all."""
    scope = case_clause(user) if definition_id is None else and_(case_clause(user), Case.definition_id == definition_id)
    with read_only(svc.sessions) as s:
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
                    "street_office": office.name if office else "",
                    "district_id": office.district_id if office else None,
                    **_money(item),
                }
            )
        by_district = [
            {"district_id": did, "district": districts[did].name if did in districts else "", **_money(t)}
            for did, t in sorted(totals.items())
        ]
        labels = {(d.id, st.id): st.label for d in svc.registry for st in d.states.values()}
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


#: The figures of a street office, a district and the city. started = finished + in_progress +
#: withdrawn + rejected + diverted (the outcomes of ``fundflow.domain.definition.OUTCOMES``).
EMPTY_FIGURES = {
    "started": 0,
    "finished": 0,
    "closed": 0,
    "in_progress": 0,
    "overdue": 0,
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
