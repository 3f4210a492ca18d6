"""APScheduler wiring: one job, ``tick``, that calls the alert use cases. Nothing else.

Everything the schedule depends on is in the database: the moments to look at are
``stages.next_alert_at``, each alert is unique by its ``dedupe_key``, the pending deliveries are
the outbox rows, and who ticks now is a row of ``scheduler_leases``. The scheduler itself keeps
no state a restart could lose (an in-memory job store holding the one interval job); a process
that was down for days catches up on its first tick, because the scan records every moment that
passed by ``now``.

Several processes may run a scheduler at once (every uvicorn worker runs the app's lifespan,
plus any ``fundflow scheduler``). Per tick only the holder of the lease row ``tick`` does the
work; the others skip. The lease is taken or renewed with a conditional UPDATE, or an
INSERT ... ON CONFLICT DO NOTHING when there is no row yet, in a short transaction of its own, so
it works on SQLite and PostgreSQL alike. It lasts two intervals: a holder that stops ticking is
replaced by another process within two intervals. Even if two processes did tick at once, the
scan would create nothing twice (unique alert keys; on PostgreSQL the scan also takes an
advisory transaction lock).

The job reads the clock (it is the edge); ``tick(svc, now)`` and the use cases never do.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fundflow.domain.tz import local_date, require_aware, start_of_local_day
from fundflow.service.config import Settings
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.integrity import checkpoints
from fundflow.service.metrics import STEP_FAILURES, STEP_SECONDS
from fundflow.service.tables import SchedulerLease
from fundflow.service.usecases import alerts, delivery, supervision

__all__ = [
    "tick",
    "TickResult",
    "start_background",
    "stop_background",
    "run_blocking",
    "holder_of",
    "take_lease",
    "release_lease",
    "TICK_LEASE",
    "DAILY_MARK",
    "JOB_ID",
]

log = logging.getLogger("fundflow.scheduler")

TICK_LEASE = "tick"  # the row whose holder runs the ticks
DAILY_MARK = "daily"  # the row whose expires_at is the next local midnight after the daily work ran
JOB_ID = "fundflow-tick"

_LEASES = SchedulerLease.__table__


# -- who we are ---------------------------------------------------------------------------------


@dataclass
class _Identity:
    holder: str  # hostname:pid:uuid, unique per Services object
    daily_done: bool = False  # has this process run the daily work since it started?


_IDENTITIES: dict[int, _Identity] = {}
_IDENTITIES_LOCK = threading.Lock()


def _identity(svc: Services) -> _Identity:
    """One lease holder per ``Services`` object (two in one process are two schedulers)."""
    key = id(svc)
    with _IDENTITIES_LOCK:
        ident = _IDENTITIES.get(key)
        if ident is None:
            host = socket.gethostname()[:80]
            ident = _IDENTITIES[key] = _Identity(f"{host}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
            weakref.finalize(svc, _IDENTITIES.pop, key, None)  # Services is unhashable: key by id
        return ident


def holder_of(svc: Services) -> str:
    return _identity(svc).holder


# -- the lease ----------------------------------------------------------------------------------


def _insert_ignore(session, values: dict) -> bool:
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert(_LEASES) if dialect == "postgresql" else sqlite_insert(_LEASES)).values(**values)
    return session.execute(stmt.on_conflict_do_nothing().returning(_LEASES.c.name)).scalar_one_or_none() is not None


def take_lease(
    svc: Services, now: datetime, *, name: str = TICK_LEASE, ttl: timedelta, holder: str | None = None
) -> bool:
    """Take or renew the lease ``name`` until ``now + ttl``: True if we hold it now.

    We get it if we already hold it, if it has expired, or if nobody ever held it. One short
    transaction: on PostgreSQL a concurrent UPDATE of the same row waits for ours and then
    re-checks its WHERE on our new row (so it matches nothing), and of two concurrent INSERTs
    the second does nothing; on SQLite ``BEGIN IMMEDIATE`` serialises the two."""
    require_aware(now, "now")
    holder = holder or holder_of(svc)
    until = now + ttl
    with transaction(svc.sessions) as s:
        renewed = s.execute(
            update(_LEASES)
            .where(_LEASES.c.name == name, (_LEASES.c.holder == holder) | (_LEASES.c.expires_at <= now))
            .values(holder=holder, expires_at=until)
        ).rowcount
        if renewed:
            return True
        return _insert_ignore(s, dict(name=name, holder=holder, expires_at=until))


def release_lease(svc: Services, *, name: str = TICK_LEASE, holder: str | None = None) -> bool:
    """Give the lease up (on a clean stop), so that another process takes over at its next tick."""
    holder = holder or holder_of(svc)
    with transaction(svc.sessions) as s:
        return bool(s.execute(delete(_LEASES).where(_LEASES.c.name == name, _LEASES.c.holder == holder)).rowcount)


# -- the job ------------------------------------------------------------------------------------


@dataclass
class TickResult:
    now: datetime
    holder: str
    ran: bool = False  # False: another process holds the lease; nothing was done
    scan: alerts.ScanResult | None = None
    supervision_alerts: list[dict[str, Any]] = field(default_factory=list)  # 督办 replies escalated as overdue
    delivered: Any = None  # what deliver_pending returned; None when it did not run or failed
    daily: bool = False  # the daily work ran in this tick
    calendar_alert: dict[str, Any] | None = None
    recomputed: list[int] = field(default_factory=list)  # case ids whose provisional deadline changed
    checkpoint: int | None = None  # the number of the checkpoint this tick signed, if any
    errors: list[str] = field(default_factory=list)  # "step: Exception: message"; each step runs anyway

    def summary(self) -> str:
        if not self.ran:
            return f"tick {self.now.isoformat()}: skipped, the lease is held by another scheduler"
        parts = [f"tick {self.now.isoformat()}:"]
        if self.scan is not None:
            parts.append(
                "scan skipped (another scan running)"
                if self.scan.skipped
                else f"{len(self.scan.alerts)} alert(s) from {self.scan.stages} stage(s)"
            )
        if self.supervision_alerts:
            parts.append(f"{len(self.supervision_alerts)} overdue 督办 repl(ies) escalated")
        if self.checkpoint is not None:
            parts.append(f"checkpoint {self.checkpoint}")
        if self.delivered is not None and hasattr(self.delivered, "summary"):
            parts.append(f"deliveries: {self.delivered.summary()}")
        if self.daily:
            parts.append(
                f"daily: {len(self.recomputed)} case(s) recomputed"
                + (", calendar alert" if self.calendar_alert else "")
            )
        if self.errors:
            parts.append("errors: " + "; ".join(self.errors))
        return parts[0] + " " + "; ".join(parts[1:])


def _daily_due(svc: Services, now: datetime) -> bool:
    """The daily work runs at the first tick of each local (Asia/Shanghai) day, as recorded in the
    database, and at the first tick of a process: a restart is how a new override file or a newer
    calendar package comes in, and its deadlines should not wait for midnight."""
    if not _identity(svc).daily_done:
        return True
    with read_only(svc.sessions) as s:
        until = s.execute(select(_LEASES.c.expires_at).where(_LEASES.c.name == DAILY_MARK)).scalar_one_or_none()
    return until is None or until <= now


def _mark_daily(svc: Services, now: datetime) -> None:
    _identity(svc).daily_done = True
    midnight = start_of_local_day(local_date(now) + timedelta(days=1))
    with transaction(svc.sessions) as s:
        values = dict(holder=holder_of(svc), expires_at=midnight)
        if not s.execute(update(_LEASES).where(_LEASES.c.name == DAILY_MARK).values(**values)).rowcount:
            _insert_ignore(s, dict(name=DAILY_MARK, **values))


def tick(svc: Services, now: datetime, *, interval_seconds: int | None = None) -> TickResult:
    """One tick of the schedule at ``now``: if we hold the lease, the daily work (when due), the
    scan, then the deliveries. A step that fails is logged and recorded; the others still run,
    and the next tick retries it (every step is idempotent)."""
    require_aware(now, "now")
    interval = interval_seconds or svc.settings.scan_interval_seconds
    result = TickResult(now=now, holder=holder_of(svc))
    try:
        result.ran = take_lease(svc, now, ttl=timedelta(seconds=2 * interval))
    except Exception as exc:
        log.exception("tick %s: could not take the lease", now.isoformat())
        result.errors.append(f"lease: {exc.__class__.__name__}: {exc}")
        return result
    if not result.ran:
        log.debug("tick %s: lease held by another scheduler", now.isoformat())
        return result

    def step(name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return fn()
        except Exception as exc:
            log.exception("tick %s: %s failed", now.isoformat(), name)
            result.errors.append(f"{name}: {exc.__class__.__name__}: {exc}")
            STEP_FAILURES.labels(name).inc()
            return None
        finally:
            STEP_SECONDS.labels(name).observe(time.perf_counter() - started)

    # The daily work comes first: a provisional deadline that a newer calendar has moved is
    # recomputed before the scan could alert on it, and the calendar notice is in the outbox
    # before this tick's deliveries run.
    if step("daily check", lambda: _daily_due(svc, now)):
        result.daily = True
        failed = len(result.errors)
        result.recomputed = step("recompute_provisional", lambda: alerts.recompute_provisional(svc, now)) or []
        result.calendar_alert = step("check_calendar", lambda: alerts.check_calendar(svc, now))
        if len(result.errors) == failed:  # otherwise the next tick tries again
            step("daily mark", lambda: _mark_daily(svc, now))
    result.scan = step("scan", lambda: alerts.scan(svc, now))
    # a 督办 whose reply is late escalates again (an alert and an event), once per round
    result.supervision_alerts = step("supervision", lambda: supervision.scan_overdue_replies(svc, now)) or []
    # after the scan (its recomputed deadlines are events too), before the deliveries (the
    # witness copy goes out in the same tick)
    cp = step("checkpoint", lambda: checkpoints.write_checkpoint(svc, now))
    result.checkpoint = cp.number if cp is not None else None
    result.delivered = step("deliver_pending", lambda: delivery.deliver_pending(svc, now))
    busy = (
        result.daily
        or result.errors
        or (result.scan is not None and result.scan.alerts)
        or result.supervision_alerts
        or result.checkpoint
        or getattr(result.delivered, "sent", None)
        or getattr(result.delivered, "failed", None)
    )
    log.log(logging.INFO if busy else logging.DEBUG, "%s", result.summary())  # an idle tick a minute: DEBUG
    return result


def _run_tick(svc: Services, interval_seconds: int) -> None:
    """The job APScheduler runs: the one place that reads the clock."""
    tick(svc, datetime.now(UTC), interval_seconds=interval_seconds)


# -- APScheduler --------------------------------------------------------------------------------


def _configure(scheduler: BaseScheduler, svc: Services, settings: Settings) -> BaseScheduler:
    _quiet_apscheduler()
    interval = settings.scan_interval_seconds
    scheduler.add_job(
        _run_tick,
        IntervalTrigger(seconds=interval, timezone=UTC),
        args=[svc, interval],
        id=JOB_ID,
        name="fundflow: scan, deliver, daily calendar work",
        replace_existing=True,
        # First tick at once: a service that was down catches up now, not one interval later.
        next_run_time=datetime.now(UTC),
        # A tick that starts late (the loop stalled, the machine slept, the last tick overran)
        # still runs if it is at most one interval late; APScheduler's default of 1 s would drop
        # it. Later than that, the next regular tick does the same work anyway.
        misfire_grace_time=interval,
        # Missed ticks collapse into one run: every tick does everything due by its own `now`,
        # so running the missed ones one after another would only repeat the same scan.
        coalesce=True,
        # Never two ticks of this process at once: a slow tick (a large catch-up, a slow webhook)
        # makes the next one wait or be coalesced instead of piling up threads and connections.
        max_instances=1,
    )
    return scheduler


def _quiet_apscheduler() -> None:
    """APScheduler logs two INFO lines per run ("Running job", "executed successfully"): 2,880 a
    day at one tick a minute. Keep its warnings (missed runs) and errors (a job that raised);
    our own tick logs at INFO whenever it did something. Left alone if configured already."""
    executor_log = logging.getLogger("apscheduler.executors.default")
    if executor_log.level == logging.NOTSET:
        executor_log.setLevel(logging.WARNING)


def _scheduler_options(executor: ThreadPoolExecutor) -> dict[str, Any]:
    # MemoryJobStore: the job is rebuilt from the settings at every start and the schedule's
    # state is in the database, so nothing is persisted here; a job store shared between
    # processes would make each of them run every job (see ../shared/pitfalls.md).
    return dict(jobstores={"default": MemoryJobStore()}, executors={"default": executor}, timezone=UTC)


def start_background(svc: Services, settings: Settings) -> BackgroundScheduler:
    """Start the in-app scheduler (a daemon thread); stop it with ``stop_background``."""
    scheduler = BackgroundScheduler(daemon=True, **_scheduler_options(ThreadPoolExecutor(max_workers=1)))
    _configure(scheduler, svc, settings).start()
    log.info("scheduler started in-app: every %s s, holder %s", settings.scan_interval_seconds, holder_of(svc))
    return scheduler


def stop_background(scheduler: BaseScheduler, svc: Services) -> None:
    """Stop the scheduler, wait for a running tick, and give the lease up."""
    if scheduler.running:
        scheduler.shutdown(wait=True)
    try:
        release_lease(svc)
    except Exception:
        log.warning("could not release the scheduler lease", exc_info=True)
    log.info("scheduler stopped, holder %s", holder_of(svc))


def run_blocking(svc: Services, settings: Settings) -> None:
    """Run the scheduler in the foreground until SIGTERM, SIGINT (Ctrl-C) or SIGHUP; a tick that
    is running then is finished, and the lease is given up."""
    executor = ThreadPoolExecutor(max_workers=1)
    scheduler = _configure(BlockingScheduler(**_scheduler_options(executor)), svc, settings)

    def stop(signum, _frame):
        if scheduler.running:
            log.info("%s: stopping after the running tick", signal.Signals(signum).name)
            scheduler.shutdown(wait=False)  # ends start()'s loop; the tick is waited for below

    signals = [s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        log.info("scheduler running: every %s s, holder %s", settings.scan_interval_seconds, holder_of(svc))
        scheduler.start()  # blocks until stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        executor.shutdown(wait=True)  # the running tick, if any, finishes
        stop_background(scheduler, svc)
