"""The read models as use cases of their own (one read transaction each), for callers that
hold no request-scoped ``Reader``: the CLI, the scheduler, tests. The reads themselves live in
``fundflow.service.reads``; the API and the pages call those directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fundflow.service.context import Services
from fundflow.service.db import read_only
from fundflow.service.reads import case as case_reads
from fundflow.service.reads import case_list, stats
from fundflow.service.reads.case import APPORTION_FIGURES
from fundflow.service.reads.case_list import COUNT_CAP, MAX_PAGE_SIZE
from fundflow.service.reads.stats import EMPTY_FIGURES
from fundflow.service.tables import User

__all__ = [
    "list_cases",
    "list_events",
    "apportionment_of",
    "city_stats",
    "APPORTION_FIGURES",
    "COUNT_CAP",
    "MAX_PAGE_SIZE",
    "EMPTY_FIGURES",
]


def list_cases(svc: Services, user: User, *, now: datetime, **filters: Any) -> dict[str, Any]:
    """``reads.case_list.list_cases``: state, street_office_id, overdue, q, responsible_role,
    include_closed, page, page_size."""
    with read_only(svc.sessions) as s:
        return case_list.list_cases(s, svc, user, now=now, **filters)


def list_events(svc: Services, user: User, case_id: int) -> list[dict[str, Any]]:
    with read_only(svc.sessions) as s:
        return case_reads.events(s, svc, case_reads.load(s, user, case_id))


def apportionment_of(svc: Services, user: User, case_id: int) -> dict[str, Any]:
    """Each household's share of the case's cost (settled if known, else approved)."""
    with read_only(svc.sessions) as s:
        return case_reads.apportionment(s, svc, case_reads.load(s, user, case_id))


def city_stats(svc: Services, user: User, now: datetime, definition_id: str | None = None) -> dict[str, Any]:
    """Per district and street office: started, finished, in progress, overdue, average
    working days per stage, funds approved and paid; of one procedure, or of all."""
    with read_only(svc.sessions) as s:
        return stats.city_stats(s, svc, user, now, definition_id)
