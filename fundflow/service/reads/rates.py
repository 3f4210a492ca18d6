"""A procedure's rates (解决率, 按期办结率, 满意率) over the cases collected in a period, for the
city, per district, per street office and per month, from live data.

The rules of each rate are the definition's (``figures:``, fundflow/domain/figures.py); this
module only counts. One grouped statement does it: the cases of the procedure in the user's
jurisdiction opened in the period, grouped by street office and month, each rate's numerator and
denominator a sum of a condition on the case's state and data (on time: no stage of the
declared ones left after its due moment). A case's month is the Beijing month it was opened in
(``cases.opened_at``: an offline report dates it back).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Integer, and_, exists, func, literal, text
from sqlalchemy import case as sql_case
from sqlmodel import Session, select

from fundflow.domain.definition import Definition
from fundflow.domain.figures import ON_TIME, RESOLVED, SATISFACTION, Figures
from fundflow.domain.periods import Period, months_of
from fundflow.domain.tz import start_of_local_day
from fundflow.service.jurisdiction import case_clause
from fundflow.service.reads.common import iso
from fundflow.service.reads.reports import checked_period
from fundflow.service.reads.stats import NO_PLACE
from fundflow.service.tables import Case, District, Organisation, Stage, StreetOffice, User

__all__ = ["procedure_rates", "rates_for", "percent", "COUNTS"]

#: The counts every row of the answer has: collected = closed + in_progress.
COUNTS = ("collected", "closed", "in_progress")


def percent(count: int, of: int) -> str | None:
    """``count / of`` as a percentage with two decimals, rounded half up ("95.83"); None of 0."""
    if not of:
        return None
    return str((Decimal(count) * 100 / Decimal(of)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _month_bounds(period: Period) -> list[datetime]:
    """The UTC moments each month of the period starts at (Beijing midnight), and its end."""
    months = months_of(period)
    starts = [start_of_local_day(max(period.first, date(y, m, 1))) for y, m in months]
    return [*starts, start_of_local_day(period.last + timedelta(days=1))]


def _conditions(d: Definition, figures: Figures) -> dict[str, Any]:
    """Each rate's numerator and denominator as a condition on one case row."""
    out: dict[str, Any] = {}
    r = figures.resolved
    if r is not None:
        out[f"{RESOLVED}_count"] = Case.state.in_(sorted(r.states))
        out[f"{RESOLVED}_of"] = Case.state.in_(sorted(r.of))
    t = figures.on_time
    if t is not None:
        late = exists().where(
            Stage.case_id == Case.id,
            Stage.state.in_(sorted(t.stages)),
            Stage.due_at.is_not(None),
            Stage.left_at > Stage.due_at,
        )
        ended = Case.state.in_(sorted(t.of))
        out[f"{ON_TIME}_count"] = and_(ended, ~late)
        out[f"{ON_TIME}_of"] = ended
    sat = figures.satisfaction
    if sat is not None and sat.field:
        answer = Case.data[sat.field].as_string()
        out[f"{SATISFACTION}_count"] = answer.in_(list(sat.satisfied))
        out[f"{SATISFACTION}_of"] = answer.is_not(None)
    return out


def _zero(keys) -> dict[str, int]:
    return {k: 0 for k in keys}


def _shown(row: dict[str, int], figures: Figures) -> dict[str, Any]:
    out: dict[str, Any] = {k: row[k] for k in ("collected", "closed")}
    out["in_progress"] = row["collected"] - row["closed"]
    for rate in figures.rates:
        n, of = row[f"{rate.kind}_count"], row[f"{rate.kind}_of"]
        out[rate.kind] = {"count": n, "of": of, "rate": percent(n, of)}
    return out


def procedure_rates(s: Session, svc, user: User, d: Definition, period: Period, now: datetime) -> dict[str, Any]:
    """The rates of procedure ``d`` (its current version's ``figures:``) over the cases of any
    of its versions that the user may see and that were opened in ``period``."""
    figures = d.figures or Figures()
    bounds = _month_bounds(period)
    months = months_of(period)
    conditions = _conditions(d, figures)
    keys = ("collected", "closed", *conditions)
    month_of = sql_case(*[(Case.opened_at < b, literal(i)) for i, b in enumerate(bounds[1:])], else_=literal(-1))
    stmt = (
        select(
            Case.street_office_id,
            Case.organisation_id,
            month_of.label("month"),
            func.count(),
            func.sum(func.cast(Case.closed, Integer)),
            *[func.sum(sql_case((cond, 1), else_=0)) for cond in conditions.values()],
        )
        .where(
            case_clause(user),
            Case.definition_id == d.id,
            Case.opened_at >= bounds[0],
            Case.opened_at < bounds[-1],
        )
        .group_by(Case.street_office_id, Case.organisation_id, month_of)
    )
    if s.get_bind().dialect.name == "postgresql":
        # at 200,000 cases (benchmarks/bench_rates.py): the planner's cost crosses
        # jit_above_cost and compiling the expressions took 1.3 s of a 0.9 s query; with the
        # default 4 MB work_mem the groups were sorted on disk instead of hashed (332 -> 146 ms)
        s.execute(text("SET LOCAL jit = off"))
        s.execute(text("SET LOCAL work_mem = '64MB'"))
    offices = {o.id: o for o in s.exec(select(StreetOffice))}
    districts = {x.id: x for x in s.exec(select(District))}
    organisations = {x.id: x for x in s.exec(select(Organisation))}
    city = _zero(keys)
    by_office: dict[int, dict[str, int]] = defaultdict(lambda: _zero(keys))
    by_district: dict[int, dict[str, int]] = defaultdict(lambda: _zero(keys))
    by_month: dict[int, dict[str, int]] = defaultdict(lambda: _zero(keys))
    by_organisation: dict[int, dict[str, int]] = defaultdict(lambda: _zero(keys))
    for office_id, organisation_id, month, *values in s.exec(stmt).all():
        office = offices.get(office_id)
        row = dict(zip(keys, (int(v or 0) for v in values), strict=True))
        targets = [city, by_office[office_id], by_district[office.district_id if office else 0], by_month[int(month)]]
        if organisation_id is not None:  # the department (or other organisation) holding it
            targets.append(by_organisation[organisation_id])
        for target in targets:
            for k, v in row.items():
                target[k] += v
    city_shown = _shown(city, figures)
    return {
        "definition": d.id,
        "title": d.title,
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "label": period.label},
        "as_of": iso(now),
        "rates": [
            {"kind": r.kind, "label": r.label, "description": r.description, **city_shown[r.kind]}
            for r in figures.rates
        ],
        "city": city_shown,
        "districts": [
            {
                "district_id": did or None,
                "district": districts[did].name if did in districts else NO_PLACE,
                **_shown(v, figures),
            }
            for did, v in sorted(by_district.items())
        ],
        # per organisation of a declared kind now holding the case (a department); the cases
        # held by none (a community's) are not in this list, so it adds up only where all are
        "organisations": [
            {
                "organisation_id": oid,
                "organisation": organisations[oid].name if oid in organisations else "",
                "kind": organisations[oid].kind if oid in organisations else None,
                **_shown(v, figures),
            }
            for oid, v in sorted(
                by_organisation.items(), key=lambda kv: organisations[kv[0]].name if kv[0] in organisations else ""
            )
        ],
        "street_offices": [
            {
                "street_office_id": oid,
                "street_office": offices[oid].name if oid in offices else NO_PLACE,
                "district_id": offices[oid].district_id if oid in offices else None,
                **_shown(v, figures),
            }
            for oid, v in sorted(by_office.items(), key=lambda kv: (_district_of(offices, kv[0]), kv[0] or 0))
        ],
        "months": [
            {"month": f"{y}-{m:02d}", **_shown(by_month.get(i, _zero(keys)), figures)}
            for i, (y, m) in enumerate(months)
        ],
    }


def _district_of(offices: dict, office_id: int | None) -> int:
    o = offices.get(office_id)
    return o.district_id if o else 0


def rates_for(
    s: Session,
    svc,
    user: User,
    now: datetime,
    *,
    start: str | None = None,
    end: str | None = None,
    year: str | None = None,
    quarter: str | None = None,
    month: str | None = None,
    definition_id: str | None = None,
) -> dict[str, Any]:
    """The rates of every procedure that declares some (or of one), over the period given as the
    API and the pages take it (``parse_period``; default: this year so far)."""
    period = checked_period(
        svc, now, start=start, end=end, year=year, quarter=quarter, month=month, definition_id=definition_id
    )
    latest = {d.id: d for d in svc.registry.latest()}
    chosen = [latest[definition_id]] if definition_id else [d for d in latest.values() if d.figures]
    return {
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "label": period.label},
        "procedures": [procedure_rates(s, svc, user, d, period, now) for d in chosen],
    }
