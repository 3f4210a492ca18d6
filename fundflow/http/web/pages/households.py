"""A household's ledger (分户账明细) and its Excel export."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from fundflow.http.web.pages.common import (
    XLSX,
    Page,
    page,
)
from fundflow.http.web.render import PageRoute
from fundflow.service.exports import statement_xlsx
from fundflow.service.usecases import ledger

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/households/{household_id}")
def household_page(household_id: int, p: Page = Depends(page)):
    """分户账明细: a household's ledger, entry by entry."""
    return p.render(
        "household.html", {"active": "cases", "statement": ledger.household_statement(p.svc, p.user, household_id)}
    )


@router.get("/households/{household_id}/ledger.xlsx")
def household_excel(household_id: int, p: Page = Depends(page)):
    statement = ledger.household_statement(p.svc, p.user, household_id)
    return Response(
        statement_xlsx(statement),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="ledger-{household_id}.xlsx"'},
    )
