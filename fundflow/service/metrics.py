"""Process-wide Prometheus figures that are not per request, and figures read from the
database at scrape time (so that every process reports the same backlog).

The request figures live with the app (``fundflow/http/middleware.py``), the transition and
refusal counts with the use cases' observer (``fundflow/service/observe.py``, one per
``Services``); these are added to ``/metrics`` next to them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func
from sqlmodel import select

__all__ = ["PROCESS", "STEP_SECONDS", "STEP_FAILURES", "DatabaseFigures"]

PROCESS = CollectorRegistry()
STEP_SECONDS = Histogram(
    "fundflow_scheduler_step_seconds",
    "Duration of the scheduler's steps (scan, delivery...)",
    ["step"],
    registry=PROCESS,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
)
STEP_FAILURES = Counter(
    "fundflow_scheduler_step_failures_total", "Scheduler steps that raised", ["step"], registry=PROCESS
)


class DatabaseFigures:
    """A collector: outbox backlog, alerts by kind, overdue open stages, read at scrape time."""

    def __init__(self, services_getter):
        self._services = services_getter

    def collect(self):
        from fundflow.service.db import read_only
        from fundflow.service.reads.common import overdue_clause  # the one SQL twin of the overdue rule
        from fundflow.service.tables import Alert, Case, Delivery, Stage

        svc = self._services()
        if svc is None:
            return
        now = datetime.now(UTC)
        with read_only(svc.sessions) as s:
            pending, oldest = s.exec(
                select(func.count(), func.min(Delivery.created_at)).where(Delivery.status == "pending")
            ).one()
            by_kind = s.exec(select(Alert.kind, func.count()).group_by(Alert.kind)).all()
            overdue = s.exec(
                select(func.count())
                .select_from(Stage)
                .join(Case, Case.id == Stage.case_id)
                .where(Stage.left_at.is_(None), overdue_clause(now))
            ).one()
        backlog = GaugeMetricFamily("fundflow_outbox_pending", "Alert deliveries not yet sent")
        backlog.add_metric([], pending)
        yield backlog
        age = GaugeMetricFamily("fundflow_outbox_oldest_pending_seconds", "Age of the oldest unsent delivery")
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
        yield age
        alerts = GaugeMetricFamily("fundflow_alerts", "Alerts recorded, by kind", labels=["kind"])
        for kind, n in by_kind:
            alerts.add_metric([kind], n)
        yield alerts
        stages = GaugeMetricFamily("fundflow_overdue_stages", "Open stages past their due moment (not suspended)")
        stages.add_metric([], overdue)
        yield stages
