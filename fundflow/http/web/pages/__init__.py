"""The pages: thin handlers that read through the read models (``fundflow.service.reads``) and
write through the same use cases as the API, and render templates.

No rules live here: what a user may do comes from the case view's ``actions``, what is refused
comes back from the engine as a reason, which the page shows. State names are never compared.
Forms are plain HTML (they work without JavaScript); htmx posts them and swaps the part of
the page that changed (``HX-Request``), so a clerk keeps her place.

One module per page group, each with its router, included in ``router`` in this order (``/cases/new``
before ``/cases/{case_id}``): ``login``, ``owners`` (the owners' own pages), ``tasks`` (the first
page and the work panel's forms), ``lists``, ``new_case``, ``case``, ``handoffs``, ``households``,
``dashboard`` (and the procedures), ``reports``, ``alerts``, ``migrations`` (admins).
"""

from fastapi import APIRouter

from fundflow.http.web.pages import (
    alerts,
    case,
    dashboard,
    handoffs,
    households,
    lists,
    login,
    migrations,
    new_case,
    owners,
    reports,
    tasks,
)

__all__ = ["router"]

#: the page groups, in the order their routes are matched
GROUPS = (login, owners, tasks, lists, new_case, case, handoffs, households, dashboard, reports, alerts, migrations)

router = APIRouter(include_in_schema=False)
for group in GROUPS:
    router.include_router(group.router)
