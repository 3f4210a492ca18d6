"""The period report (报表): the figures of a year, quarter, month or from/to days, by district,
street office and community, with the monthly trend drawn as SVG and the Excel export."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query

from fundflow.domain.errors import PeriodError
from fundflow.http.web.pages.common import Page, page
from fundflow.http.web.render import PageRoute
from fundflow.service.errors import InvalidInput
from fundflow.service.reads import reports as report_reads

router = APIRouter(route_class=PageRoute, include_in_schema=False)

#: the trend chart's drawing box (px)
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 200, 36, 28, 12


def trend(months: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of cases started and finished per month and a line of the money paid, as SVG
    coordinates (drawn in the page: no chart library, no CDN)."""
    n = max(len(months), 1)
    slot = (WIDTH - LEFT) / n
    top = max([m["started"] for m in months] + [m["finished"] for m in months] + [1])
    top_paid = max([Decimal(m["paid"]) for m in months] + [Decimal(1)])
    plot = HEIGHT - BOTTOM - TOP
    bars, points = [], []
    for i, m in enumerate(months):
        x = LEFT + i * slot
        w = max(slot / 2 - 3, 2)
        for j, key in enumerate(("started", "finished")):
            h = m[key] / top * plot
            bars.append(
                {
                    "x": round(x + 2 + j * (w + 1), 1),
                    "y": round(HEIGHT - BOTTOM - h, 1),
                    "w": round(w, 1),
                    "h": round(h, 1),
                    "kind": key,
                    "title": f"{m['month']} {'发起' if key == 'started' else '办结'} {m[key]} 件",
                }
            )
        y = HEIGHT - BOTTOM - float(Decimal(m["paid"]) / top_paid) * plot
        points.append({"x": round(x + slot / 2, 1), "y": round(y, 1), "title": f"{m['month']} 拨付 {m['paid']} 元"})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base": HEIGHT - BOTTOM,
        "top": top,
        "top_y": TOP,
        "bars": bars,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "labels": [
            {"x": round(LEFT + i * slot + slot / 2, 1), "text": m["month"][5:] + "月"} for i, m in enumerate(months)
        ],
    }


@router.get("/reports")
def reports_page(
    p: Page = Depends(page),
    year: str | None = Query(None, max_length=4),
    quarter: str | None = Query(None, max_length=7),
    month: str | None = Query(None, max_length=7),
    start: str | None = Query(None, alias="from", max_length=10),
    end: str | None = Query(None, alias="to", max_length=10),
    definition: str | None = Query(None, max_length=64),
):
    params = {"year": year, "quarter": quarter, "month": month, "from": start, "to": end, "definition": definition}
    params = {k: v for k, v in params.items() if v}
    error = None
    try:
        report = report_reads.report_for(
            p.s,
            p.svc,
            p.user,
            p.now,
            start=start,
            end=end,
            year=year,
            quarter=quarter,
            month=month,
            definition_id=definition,
        )
    except (InvalidInput, PeriodError) as exc:
        error = exc.message
        params = {}
        report = report_reads.report_for(p.s, p.svc, p.user, p.now)
    return p.render(
        "reports.html",
        {
            "active": "reports",
            "report": report,
            "error": error,
            "params": params,
            "xlsx": "/api/v1/reports/city.xlsx" + (f"?{urlencode(params)}" if params else ""),
            "trend": trend(report["months"]),
            "definitions": {d.id: d.title for d in p.svc.registry.latest()},
            "scope_name": "全市" if p.user.org_level == "city" else p.user.org_name,
        },
        status=422 if error else 200,
    )
