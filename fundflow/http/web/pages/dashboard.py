"""The city's figures and the procedures (their steps, deadlines, diagram)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from fundflow.domain.diagram import to_mermaid
from fundflow.domain.guards import REGISTRY
from fundflow.domain.tz import local_date
from fundflow.http.web.pages.case import _field_labels
from fundflow.http.web.pages.common import (
    Page,
    page,
)
from fundflow.http.web.pages.reports import trend
from fundflow.http.web.render import PageRoute
from fundflow.service.reads import rates as rates_reads
from fundflow.service.reads import reports as report_reads
from fundflow.service.reads import stats as stats_reads

router = APIRouter(route_class=PageRoute, include_in_schema=False)

# -- the city's figures, the procedures ------------------------------------------------------------


@router.get("/dashboard")
def dashboard(p: Page = Depends(page), definition: str | None = Query(None, max_length=64)):
    known = {d.id: d.title for d in p.svc.registry.latest()}
    chosen = definition if definition in known else None
    stats = stats_reads.city_stats(p.s, p.svc, p.user, p.now, chosen)
    offices = stats["street_offices"]
    by_district: dict[Any, list[dict[str, Any]]] = {}
    for o in offices:
        by_district.setdefault(o["district_id"], []).append(o)
    max_count = max([o["started"] for o in offices] + [1])
    max_district = max([x["started"] for x in stats["districts"]] + [1])
    max_money = max(
        [float(x["approved"]) for x in stats["districts"]] + [float(x["paid"]) for x in stats["districts"]] + [1.0]
    )
    max_days = max([s["average_working_days"] for s in stats["stages"]] + [1])
    stages_by_definition: dict[str, list[dict[str, Any]]] = {}
    for s in stats["stages"]:
        stages_by_definition.setdefault(s["definition"], []).append(s)
    for def_id, rows in stages_by_definition.items():  # in the procedure's order
        order = list(p.svc.registry.get(def_id).states) if def_id in known else []
        rows.sort(key=lambda r: order.index(r["state"]) if r["state"] in order else len(order))
    # this year's months, drawn as on the report page
    year = report_reads.report_for(p.s, p.svc, p.user, p.now, year=str(local_date(p.now).year), definition_id=chosen)
    rates = rates_reads.rates_for(p.s, p.svc, p.user, p.now, year=str(local_date(p.now).year), definition_id=chosen)
    return p.render(
        "dashboard.html",
        {
            # the fund's figures (communities, money) for all procedures or one about communities
            "fund": chosen is None or p.svc.registry.get(chosen).subject.is_community,
            "rates": rates,
            "report": year,
            "trend": trend(year["months"]),
            "scope_name": "全市" if p.user.org_level == "city" else p.user.org_name,
            "active": "dashboard",
            "stats": stats,
            "by_district": by_district,
            "max_count": max_count,
            "max_district": max_district,
            "max_money": max_money,
            "max_days": max_days,
            "definitions": known,
            "chosen": chosen,
            "stages_by_definition": stages_by_definition,
        },
    )


@router.get("/procedures")
def procedures(p: Page = Depends(page)):
    return p.render("procedures.html", {"active": "procedures", "definitions": list(p.svc.registry)})


@router.get("/procedures/{definition_id}")
def procedure(definition_id: str, p: Page = Depends(page), version: int | None = Query(None, ge=1, le=10000)):
    d = p.svc.registry.get(definition_id[:64], version)
    roles = {r.id: r.label for r in d.roles.values()}
    rows = []
    for t in d.transitions:
        rows.append(
            {
                "trigger": t.trigger,
                "label": t.label,
                "from": [d.states[s].label for s in t.sources],
                "to": d.states[t.dest].label if t.dest else "（本环节内办理）",
                "roles": [roles.get(r, r) for r in sorted(t.roles)],
                "fields": [f.label + ("" if f.required else "（选填）") for f in t.fields],
                "guards": [REGISTRY[g.name].label if g.name in REGISTRY else g.name for g in t.guards],
            }
        )
    labels = _field_labels(d)
    deadlines = {}
    for st in d.states.values():
        rule = st.deadline
        if rule is None:
            deadlines[st.id] = "—"
        elif rule.date_field:
            deadlines[st.id] = f"按“{labels.get(rule.date_field, rule.date_field)}”所定日期"
        else:
            deadlines[st.id] = rule.describe()
        if rule is not None and rule.warn_before_working_days:
            deadlines[st.id] += f"（提前 {rule.warn_before_working_days} 个工作日预警）"
    return p.render(
        "procedure.html",
        {
            "active": "procedures",
            "d": d,
            "roles": roles,
            "transitions": rows,
            "deadlines": deadlines,
            "mermaid": to_mermaid(d),
        },
    )
