"""The case list (the to-do list is pages/tasks.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from fundflow.http.web.pages.common import (
    PAGE_SIZE,
    Page,
    _pages,
    page,
)
from fundflow.http.web.render import PageRoute
from fundflow.service.context import Services
from fundflow.service.reads import case_list as list_reads
from fundflow.service.reads import places

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- the case list -----------------------------------------------------------------------------


@router.get("/cases")
def case_list(
    p: Page = Depends(page),
    state: str | None = Query(None, max_length=64),
    street_office_id: str | None = Query(None, max_length=12),
    overdue: str | None = Query(None, max_length=5),
    q: str | None = Query(None, max_length=100),
    include_closed: str | None = Query(None, max_length=5),
    page_no: int = Query(1, alias="page", ge=1, le=100000),
):
    office = int(street_office_id) if street_office_id and street_office_id.isdigit() else None
    overdue_flag = {"yes": True, "no": False}.get(overdue or "")
    result = list_reads.list_cases(
        p.s,
        p.svc,
        p.user,
        now=p.now,
        state=state or None,
        street_office_id=office,
        overdue=overdue_flag,
        q=(q or "").strip() or None,
        include_closed=include_closed != "no",
        page=page_no,
        page_size=PAGE_SIZE,
    )
    params = {
        "state": state or "",
        "street_office_id": office or "",
        "overdue": overdue or "",
        "q": q or "",
        "include_closed": include_closed or "",
    }
    context = {
        "active": "cases",
        "result": result,
        "pages": _pages(result),
        "params": params,
        "states": _state_options(p.svc),
        "offices": places.visible_street_offices(p.s, p.user),
    }
    if p.htmx and p.request.headers.get("hx-target") == "case-results":
        return p.render("_case_results.html", context, headers={"Vary": "HX-Request"})
    return p.render("cases.html", context, headers={"Vary": "HX-Request"})


def _state_options(svc: Services) -> list[dict[str, str]]:
    labels: dict[str, list[str]] = {}
    for d in svc.registry.latest():
        for st in d.states.values():
            if st.label not in labels.setdefault(st.id, []):
                labels[st.id].append(st.label)
    return [{"value": k, "label": " / ".join(v)} for k, v in labels.items()]
