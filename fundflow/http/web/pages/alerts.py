"""The alerts inbox."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse

from fundflow.domain.alerts import AlertKind
from fundflow.http.web.pages.common import (
    PAGE_SIZE,
    Page,
    _pages,
    form_page,
    page,
)
from fundflow.http.web.render import PageRoute
from fundflow.http.web.security import (
    safe_next,
)
from fundflow.service.reads import inbox
from fundflow.service.usecases import alerts

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- the alerts inbox ------------------------------------------------------------------------------

#: alert kind -> badge colour (the kinds and their labels come from the use case)
ALERT_BADGES = {AlertKind.WARNING.value: "amber", AlertKind.OVERDUE.value: "red", AlertKind.ESCALATION.value: "red"}


@router.get("/alerts")
def alert_inbox(
    p: Page = Depends(page),
    unread: str | None = Query(None, max_length=3),
    page_no: int = Query(1, alias="page", ge=1, le=100000),
):
    result = inbox.inbox(p.s, p.user, unacked_only=unread == "1", page=page_no, page_size=PAGE_SIZE)
    params = {"unread": "1" if unread == "1" else ""}
    return p.render(
        "alerts.html",
        {"active": "alerts", "result": result, "pages": _pages(result), "params": params, "badges": ALERT_BADGES},
    )


@router.post("/alerts/{alert_id}/ack")
def alert_ack(alert_id: int, p: Page = Depends(form_page)):
    alert = p.write(alerts.ack_alert, alert_id, p.now)
    if p.htmx:  # the row, and the count in the menu (out of band)
        p.nav["unacked"] = inbox.unacked_count(p.s, p.user)
        return p.render("_alert_row.html", {"a": alert, "badges": ALERT_BADGES, "oob": True})
    back = p.text("back")
    return RedirectResponse(safe_next(back, "/alerts"), status_code=303)
