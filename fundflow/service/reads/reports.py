"""Period reports (GET /reports, the report page, city.xlsx): by district, street office and
community, for a period of Beijing days.

What a city hands in: cases and communities started and finished, still in progress and
overdue at the period's end, rejected, withdrawn and diverted; the money approved (frozen) and
paid in the period, still frozen and held as retention at its end; per stage, how many were
finished on time and in how many working days on average; and a month-by-month trend.

Every figure is counted once per case at the lowest level (a case belongs to one community, a
community to one street office, an office to one district), so the levels add up: the city's
figures are the sums of its districts', a district's the sums of its offices'. And they
reconcile: carried over + started = finished + rejected + withdrawn + diverted + in progress.

* carried over (期初在办): started before the period, not closed before it began;
* started: the case's first stage began (its report, offline date included) in the period;
* finished / rejected / withdrawn / diverted: it closed in the period with that outcome;
* in progress: started by the period's end and not closed by then;
* overdue: in progress and its stage open at the period's end past its deadline (the one
  predicate, ``deadline_status``, at that moment; a suspended stage is not overdue);
* 督办 issued / closed: 督办 notices issued (a renewed one by its latest round) and closed (销号) in the period;
* approved: the freezes of approvals (and supplementary approvals) posted in the period; paid: the
  payments (尾款, 预付款, 质保金) posted in the period (the journal's time: an offline payment recorded
  late counts when it is posted; its bank date stays on the case); frozen / retention held: at
  the period's end.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, type_coerce
from sqlalchemy import case as sql_case
from sqlmodel import Session, select

from fundflow.domain.deadlines import deadline_status
from fundflow.domain.definition import COMPLETED, OUTCOMES
from fundflow.domain.ledger import EFFECTS, PAYMENTS
from fundflow.domain.periods import Period, months_of, parse_period
from fundflow.domain.tz import UTC, local_date, start_of_local_day
from fundflow.service.errors import InvalidInput
from fundflow.service.jurisdiction import case_clause
from fundflow.service.reads.common import iso, money
from fundflow.service.reads.stats import NO_PLACE
from fundflow.service.tables import Case, Community, District, LedgerEntry, Stage, StreetOffice, Supervision, User
from fundflow.service.types import Money

__all__ = ["period_report", "report_for", "FIGURES", "LEVELS"]

ENDED = tuple(o for o in OUTCOMES if o != COMPLETED)  # withdrawn, rejected, diverted
COUNTS = ("carried_over", "started", "finished", *ENDED, "in_progress", "overdue")
SUPERVISION = ("supervisions_issued", "supervisions_closed")  # 督办 issued and closed (销号) in the period
AMOUNTS = ("approved", "paid", "frozen", "retention_held")
#: figure -> Chinese heading, in the order the page and the workbook show them
FIGURES: dict[str, str] = {
    "carried_over": "期初在办",
    "started": "发起案件",
    "communities_started": "发起小区",
    "finished": "办结案件",
    "communities_finished": "办结小区",
    "in_progress": "在办（期末）",
    "overdue": "超期（期末）",
    "rejected": "不予支持",
    "withdrawn": "撤回",
    "diverted": "转常规维修",
    "approved": "核准冻结（元）",
    "paid": "拨付（元）",
    "frozen": "期末冻结（元）",
    "retention_held": "期末质保金（元）",
    "supervisions_issued": "督办（件次）",
    "supervisions_closed": "督办销号（件次）",
}
LEVELS = ("district", "street_office", "community")


def _zero() -> dict[str, Any]:
    return {**{k: 0 for k in COUNTS + SUPERVISION}, "communities_started": 0, "communities_finished": 0} | {
        k: Decimal("0.00") for k in AMOUNTS
    }


def _ledger(s: Session, scope, first: datetime, end: datetime) -> dict[int, dict[str, Decimal]]:
    """Per case: approved and paid in [first, end); frozen and retention held at ``end``."""
    in_period = and_(LedgerEntry.at >= first, LedgerEntry.at < end)

    def total(condition):
        return type_coerce(func.coalesce(func.sum(sql_case((condition, LedgerEntry.amount), else_=0)), 0), Money())

    frozen_sign = sql_case(*[(LedgerEntry.kind == k, sign) for k, (_, sign) in EFFECTS.items() if sign], else_=0)
    rows = s.exec(
        select(
            LedgerEntry.case_id,
            total(and_(in_period, LedgerEntry.kind == "freeze", LedgerEntry.event_seq.is_not(None))),
            total(and_(in_period, LedgerEntry.kind.in_(PAYMENTS))),
            type_coerce(func.coalesce(func.sum(frozen_sign * LedgerEntry.amount), 0), Money()),
            total(LedgerEntry.kind == "retention_hold"),
            total(LedgerEntry.kind == "retention_release"),
        )
        .join(Case, Case.id == LedgerEntry.case_id)
        .where(scope, LedgerEntry.at < end)
        .group_by(LedgerEntry.case_id)
    ).all()
    return {
        cid: {"approved": Decimal(a), "paid": Decimal(p), "frozen": Decimal(f), "retention_held": Decimal(h - r)}
        for cid, a, p, f, h, r in rows
    }


def _supervisions(s: Session, scope, first: datetime, end: datetime) -> dict[int, dict[str, int]]:
    """Per case: 督办 issued (a renewed one by its latest round) and closed (销号) in [first, end)."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: {k: 0 for k in SUPERVISION})
    for case_id, issued_at, closed_at in s.exec(
        select(Supervision.case_id, Supervision.issued_at, Supervision.closed_at)
        .join(Case, Case.id == Supervision.case_id)
        .where(
            scope,
            or_(and_(Supervision.issued_at >= first, Supervision.issued_at < end), Supervision.closed_at >= first),
        )
    ):
        if first <= issued_at < end:
            out[case_id]["supervisions_issued"] += 1
        if closed_at is not None and first <= closed_at < end:
            out[case_id]["supervisions_closed"] += 1
    return out


def period_report(
    s: Session, svc, user: User, period: Period, now: datetime, definition_id: str | None = None
) -> dict[str, Any]:
    scope = case_clause(user) if definition_id is None else and_(case_clause(user), Case.definition_id == definition_id)
    first = start_of_local_day(period.first)
    end = start_of_local_day(period.last + timedelta(days=1))  # the period's end: midnight after its last day
    at_end = min(end, now)  # "at the period's end" for a period still running is now
    opened = (
        select(Stage.case_id, func.min(Stage.entered_at).label("opened_at")).group_by(Stage.case_id).subquery("opened")
    )
    cases = s.exec(
        select(
            Case.id,
            Case.community_id,
            Case.street_office_id,
            Case.district_id,
            Case.closed,
            Case.outcome,
            Case.closed_at,
            Case.suspended_since,
            opened.c.opened_at,
        )
        .join(opened, opened.c.case_id == Case.id)
        .where(scope, opened.c.opened_at < end)
    ).all()
    # the stage each case had open at the period's end (none: closed by then)
    open_at_end = {
        row.case_id: row
        for row in s.exec(
            select(Stage.case_id, Stage.due_date, Stage.due_at, Stage.warn_at)
            .join(Case, Case.id == Stage.case_id)
            .where(scope, Stage.entered_at < at_end, or_(Stage.left_at.is_(None), Stage.left_at >= at_end))
        )
    }
    money_of = _ledger(s, scope, first, end)
    supervised = _supervisions(s, scope, first, end)
    zero_money = {k: Decimal("0.00") for k in AMOUNTS}

    units: dict[tuple[str, int], dict[str, Any]] = defaultdict(_zero)
    seen: dict[tuple[str, str, int], set[int]] = defaultdict(set)  # communities counted per unit
    months = {m: {"started": 0, "finished": 0, "paid": Decimal("0.00")} for m in months_of(period)}
    for c in cases:
        opened_at = c.opened_at if c.opened_at.tzinfo else c.opened_at.replace(tzinfo=UTC)
        closed_at = c.closed_at
        if closed_at is not None and closed_at.tzinfo is None:
            closed_at = closed_at.replace(tzinfo=UTC)
        started = opened_at >= first
        closed_by_end = c.closed and closed_at is not None and closed_at < end
        closed_in = closed_by_end and closed_at >= first
        figures = _zero()
        figures["started"] = int(started)
        figures["carried_over"] = int(not started and not (c.closed and closed_at is not None and closed_at < first))
        if closed_in:
            figures["finished" if c.outcome == COMPLETED else c.outcome] = 1
        if not closed_by_end:
            figures["in_progress"] = 1
            stage = open_at_end.get(c.id)
            suspended = c.suspended_since is not None and at_end == now
            if stage is not None:
                status = deadline_status(stage.due_date, stage.due_at, stage.warn_at, at_end, svc.calendar, suspended)
                figures["overdue"] = int(status.overdue)
        figures.update(money_of.get(c.id, zero_money))
        figures.update(supervised.get(c.id, {}))
        if not any(figures[k] for k in COUNTS + SUPERVISION) and not any(figures[k] for k in AMOUNTS):
            continue  # nothing of this case falls in the period
        for level, unit_id in (
            ("community", c.community_id),
            ("street_office", c.street_office_id),
            ("district", c.district_id),
            ("city", 0),
        ):
            u = units[(level, unit_id)]
            for k in (*COUNTS, *SUPERVISION, *AMOUNTS):
                u[k] += figures[k]
            for flag, key in (
                (started, "communities_started"),
                (closed_in and c.outcome == COMPLETED, "communities_finished"),
            ):
                if flag and c.community_id not in seen[(level, key, unit_id)]:
                    seen[(level, key, unit_id)].add(c.community_id)
                    u[key] += 1
        if started:
            months[(local_date(opened_at).year, local_date(opened_at).month)]["started"] += 1
        if closed_in and c.outcome == COMPLETED:
            months[(local_date(closed_at).year, local_date(closed_at).month)]["finished"] += 1
    for when, amount in s.exec(
        select(LedgerEntry.at, LedgerEntry.amount)
        .join(Case, Case.id == LedgerEntry.case_id)
        .where(scope, LedgerEntry.kind.in_(PAYMENTS), LedgerEntry.at >= first, LedgerEntry.at < end)
    ):
        day = local_date(when if when.tzinfo else when.replace(tzinfo=UTC))
        months[(day.year, day.month)]["paid"] += Decimal(amount)

    names = _names(s, {k for k in units})
    out_levels: dict[str, list[dict[str, Any]]] = {}
    for level in LEVELS:
        rows = []
        for (lv, unit_id), u in units.items():
            if lv != level:
                continue
            # the cases of no place (a department's opinions) add up in a row of their own
            unnamed = {"id": unit_id, "name": NO_PLACE if unit_id is None else ""}
            rows.append({**names.get((level, unit_id), unnamed), **_shown(u)})
        out_levels[level] = sorted(
            rows, key=lambda r: (r.get("district_id") or 0, r.get("street_office_id") or 0, r["id"] or 0)
        )
    return {
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "label": period.label},
        "as_of": iso(now),
        "figures": FIGURES,
        "definition_titles": {d.id: d.title for d in svc.registry.latest()},
        "city": _shown(units.get(("city", 0), _zero())),
        "districts": out_levels["district"],
        "street_offices": out_levels["street_office"],
        "communities": out_levels["community"],
        "stages": _stages(s, svc, scope, first, end),
        "months": [
            {"month": f"{y}-{m:02d}", "started": v["started"], "finished": v["finished"], "paid": money(v["paid"])}
            for (y, m), v in months.items()
        ],
    }


def checked_period(
    svc,
    now: datetime,
    *,
    start: str | None = None,
    end: str | None = None,
    year: str | None = None,
    quarter: str | None = None,
    month: str | None = None,
    definition_id: str | None = None,
) -> Period:
    """The period a request names (``parse_period``; nothing: this year so far), with the
    procedure it names, if any, known: 422 ``invalid_period`` / ``unknown_definition`` otherwise."""
    period = parse_period(local_date(now), start=start, end=end, year=year, quarter=quarter, month=month)
    if definition_id is not None and definition_id not in svc.registry.ids():
        raise InvalidInput(f"没有流程“{definition_id[:64]}”", code="unknown_definition", detail={"field": "definition"})
    return period


def report_for(
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
    """The report of the period given as the API and the page take it (see ``parse_period``)."""
    period = checked_period(
        svc, now, start=start, end=end, year=year, quarter=quarter, month=month, definition_id=definition_id
    )
    return period_report(s, svc, user, period, now, definition_id)


def _shown(u: dict[str, Any]) -> dict[str, Any]:
    return {k: (money(u[k]) if k in AMOUNTS else int(u[k])) for k in FIGURES}


def _names(s: Session, keys: set[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    districts = {d.id: d.name for d in s.exec(select(District))}
    offices = {o.id: o for o in s.exec(select(StreetOffice))}
    for d_id, name in districts.items():
        out[("district", d_id)] = {"id": d_id, "name": name}
    for o in offices.values():
        out[("street_office", o.id)] = {
            "id": o.id,
            "name": o.name,
            "district_id": o.district_id,
            "district": districts.get(o.district_id, ""),
        }
    wanted = [unit_id for level, unit_id in keys if level == "community"]
    if wanted:
        for c in s.exec(select(Community).where(Community.id.in_(wanted))):
            o = offices.get(c.street_office_id)
            out[("community", c.id)] = {
                "id": c.id,
                "name": c.name,
                "street_office_id": c.street_office_id,
                "street_office": o.name if o else "",
                "district_id": o.district_id if o else None,
                "district": districts.get(o.district_id, "") if o else "",
            }
    return out


def _stages(s: Session, svc, scope, first: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per procedure and stage: stages finished in the period, on time (left by their deadline)
    and their average length in working days."""
    tally: dict[tuple[str, str], list[int]] = {}
    days: dict[tuple[str, str], list[int]] = defaultdict(list)
    for definition_id, state, entered, left, due_at in s.exec(
        select(Case.definition_id, Stage.state, Stage.entered_at, Stage.left_at, Stage.due_at)
        .join(Case, Case.id == Stage.case_id)
        .where(scope, Stage.left_at.is_not(None), Stage.left_at >= first, Stage.left_at < end)
    ):
        key = (definition_id, state)
        t = tally.setdefault(key, [0, 0, 0])  # finished, with a deadline, of those on time
        t[0] += 1
        if due_at is not None:
            t[1] += 1
            t[2] += int(left <= due_at)
        days[key].append(svc.calendar.workdays_between(local_date(entered), local_date(left)).count)
    labels = {(d.id, st.id): st.label for d in svc.registry for st in d.states.values()}
    return [
        {
            "definition": key[0],
            "state": key[1],
            "label": labels.get(key, key[1]),
            "finished": t[0],
            "with_deadline": t[1],
            "on_time": t[2],
            "on_time_rate": f"{t[2] * 100 / t[1]:.1f}%" if t[1] else None,
            "average_working_days": round(sum(days[key]) / len(days[key]), 1),
        }
        for key, t in sorted(tally.items())
    ]
