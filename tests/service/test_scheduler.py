"""The scheduler: ticks driven with passed-in times (no test sleeps for a domain behaviour), the
lease between schedulers, scans at the same moment from several processes, catch-up after
downtime, the daily calendar work, the in-app scheduler's life with the app, and the commands."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.engine import Engine
from fundflow.domain.tz import SHANGHAI
from fundflow.http.app import create_app
from fundflow.service import context
from fundflow.service import scheduler as sched
from fundflow.service.audit import verify_all
from fundflow.service.config import Settings, get_settings
from fundflow.service.context import build_services
from fundflow.service.tables import Alert, Case, Event, SchedulerLease, Stage, User
from fundflow.service.usecases import alerts, cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def at(y, m, d, hh=10, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


def user(svc, name) -> User:
    with svc.sessions() as s:
        return s.exec(select(User).where(User.username == name)).one()


def open_case(world, when: datetime, title: str = "1栋消防泵") -> int:
    reply = cases.open_case(
        world.svc,
        user(world.svc, "so"),
        definition="fire_hazard_emergency",
        community_id=world.ids["community_a"],
        title=title,
        data={},
        buildings=None,
        now=when,
    )
    return reply.body["id"]


@pytest.fixture
def reported(world):
    """Reported Monday 2025-09-29 10:00: warning 10-11 (the make-up Saturday), overdue 10-14, escalations 10-16, 10-21, ..."""
    return open_case(world, at(2025, 9, 29))


@pytest.fixture
def other(database_url, tmp_path):
    """A second scheduler: another Services object on the same database (as another process has)."""
    svc = build_services(Settings(database_url=database_url, data_dir=tmp_path / "other"))
    yield svc
    svc.close()


def alert_rows(svc) -> list[Alert]:
    with svc.sessions() as s:
        return s.exec(select(Alert).order_by(Alert.at, Alert.id)).all()


def lease(svc, name=sched.TICK_LEASE) -> SchedulerLease | None:
    with svc.sessions() as s:
        return s.get(SchedulerLease, name)


def kinds(result: sched.TickResult):
    return [(a["kind"], a["level"]) for a in result.scan.alerts]


# -- the lease ----------------------------------------------------------------------------------


def test_two_schedulers_at_the_same_moment_only_one_scans(world, reported, other):
    a, b = world.svc, other
    t = at(2025, 10, 14, 9)
    ra = sched.tick(a, t)
    rb = sched.tick(b, t)
    assert ra.ran and kinds(ra) == [("warning", 0), ("overdue", 0)]
    assert not rb.ran and rb.scan is None and rb.errors == []
    held = lease(a)
    assert held.holder == sched.holder_of(a) != sched.holder_of(b)
    assert held.expires_at == t + timedelta(seconds=120)  # two intervals of 60 s
    # the holder renews at its next tick; the other keeps skipping while the lease runs
    assert sched.tick(a, t + timedelta(seconds=60)).ran
    assert not sched.tick(b, t + timedelta(seconds=179)).ran
    assert len(alert_rows(a)) == 2


def test_an_expired_lease_is_taken_over(world, reported, other):
    a, b = world.svc, other
    t = at(2025, 10, 13, 8)
    assert sched.tick(a, t).ran  # the warning
    # a stops ticking (crashed): two intervals later b takes over and does the work
    assert not sched.tick(b, t + timedelta(seconds=119)).ran
    rb = sched.tick(b, at(2025, 10, 14, 9))
    assert rb.ran and kinds(rb) == [("overdue", 0)]
    assert lease(a).holder == sched.holder_of(b)
    ra = sched.tick(a, at(2025, 10, 14, 9, 0, 30))  # a comes back: b holds it now
    assert not ra.ran
    assert [x.kind for x in alert_rows(a)] == ["warning", "overdue"]


def test_a_released_lease_is_taken_at_once(world, reported, other):
    t = at(2025, 10, 14, 9)
    assert sched.tick(world.svc, t).ran
    assert sched.release_lease(world.svc)
    assert lease(world.svc) is None
    assert sched.tick(other, t + timedelta(seconds=1)).ran
    assert not sched.release_lease(world.svc)  # not ours any more


# -- catch-up -----------------------------------------------------------------------------------


def test_catch_up_after_downtime(world, reported, other):
    """The service ran until Monday 13 October, then was down for eight days: the first tick of
    the restarted process flags every moment that passed meanwhile, once each."""
    # reported Thursday 10-09: 10-10, 10-11 (the make-up Saturday), 13, 14, 15: due 10-15; the
    # first escalation after 2 more working days (16, 17) is at 00:00 on Saturday the 18th
    second = open_case(world, at(2025, 10, 9), "2栋喷淋")
    before = sched.tick(world.svc, at(2025, 10, 13, 8))
    assert kinds(before) == [("warning", 0)]
    after = sched.tick(other, at(2025, 10, 21, 9))  # a new process: the old lease has long expired
    assert after.ran and after.scan.stages == 2
    got = sorted((a["case_id"], a["kind"], a["at"][:10]) for a in after.scan.alerts)
    assert got == sorted(
        [
            (reported, "overdue", "2025-10-14"),
            (reported, "escalation", "2025-10-16"),
            (reported, "escalation", "2025-10-21"),
            (second, "warning", "2025-10-14"),
            (second, "overdue", "2025-10-16"),
            (second, "escalation", "2025-10-18"),
        ]
    )
    again = sched.tick(other, at(2025, 10, 21, 9, 1))
    assert again.ran and again.scan.alerts == [] and again.scan.stages == 0
    rows = alert_rows(world.svc)
    assert len(rows) == 7 and len({r.dedupe_key for r in rows}) == 7
    with world.svc.sessions() as s:
        nxt = s.exec(select(Stage.next_alert_at).where(Stage.case_id == reported, Stage.left_at.is_(None))).one()
    assert nxt.astimezone(SHANGHAI) == at(2025, 10, 24, 0)


# -- several processes at the same moment -------------------------------------------------------


def _in_process(url: str, data_dir: str, mode: str, moment: str, barrier, out) -> None:
    """A process of its own: build the services, wait for the others, then scan or tick."""
    from fundflow.service.config import Settings
    from fundflow.service.context import build_services
    from fundflow.service.scheduler import tick
    from fundflow.service.usecases import alerts as uc

    svc = build_services(Settings(database_url=url, data_dir=data_dir))
    try:
        now = datetime.fromisoformat(moment)
        with svc.db.connect():  # connected before the start: the race is the scan, not the connect
            pass
        if mode == "scan-without-lock":  # as if the advisory lock did not exist: the unique keys alone
            import sqlalchemy

            class NoLock:
                def __getattr__(self, name):
                    return getattr(sqlalchemy.func, name)

                def pg_try_advisory_xact_lock(self, key):
                    return sqlalchemy.literal(True)

            uc.func = NoLock()
        barrier.wait(timeout=120)
        if mode.startswith("scan"):
            r = uc.scan(svc, now)
            out.put((os.getpid(), not r.skipped, len(r.alerts), None))
        else:
            t = tick(svc, now)
            out.put((os.getpid(), t.ran, len(t.scan.alerts) if t.scan else 0, t.errors or None))
    except BaseException as exc:
        out.put((os.getpid(), None, 0, repr(exc)))
    finally:
        svc.close()


@pytest.mark.parametrize(
    "mode",
    [
        "scan",
        # SQLite has no advisory lock: its plain scan already runs without one
        pytest.param("scan-without-lock", marks=pytest.mark.postgresql_only),
        "tick",
    ],
)
def test_processes_scanning_at_the_same_moment_create_each_alert_once(world, database_url, tmp_path, mode):
    n_cases, n_procs = 12, 4
    for i in range(n_cases):
        open_case(world, at(2025, 9, 29, 9, i), f"{i}号楼")
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(n_procs), ctx.Queue()
    moment = at(2025, 10, 21, 9).isoformat()
    procs = [
        ctx.Process(target=_in_process, args=(database_url, str(tmp_path / f"p{i}"), mode, moment, barrier, out))
        for i in range(n_procs)
    ]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=180) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [r for r in results if r[3] is not None] == []
    assert all(p.exitcode == 0 for p in procs)
    rows = alert_rows(world.svc)
    # warning, overdue, escalation 10-16, escalation 10-21 per case: each exactly once
    assert len(rows) == 4 * n_cases and len({r.dedupe_key for r in rows}) == 4 * n_cases
    assert sum(r[2] for r in results) == 4 * n_cases  # each process reports only what it inserted
    if mode == "tick":
        assert sum(r[1] for r in results) == 1  # one lease holder; the others skipped


# -- the daily work: the calendar's next year ---------------------------------------------------

OVERRIDE_2027 = {
    "years": {
        2027: {
            "effective": "2026-11-10",
            "source": "测试用安排（非真实）",
            "holidays": ["2027-01-01..2027-01-04", "2027-02-06..2027-02-12"],  # a bridging Monday off
            "workdays": ["2027-02-14"],
        }
    }
}


def with_calendar(svc, calendar: WorkCalendar):
    """The same database and definitions, a newer calendar: what a restart with a new override
    file gives (a fresh Services object, so a fresh scheduler identity too)."""
    return dataclasses.replace(svc, engine=Engine(svc.registry, calendar))


def test_a_newer_calendar_turns_a_provisional_deadline_into_a_known_one(world):
    svc = world.svc
    # Monday 2026-12-28: 5 working days cross into 2027, unknown to the calendar: weekdays less
    # the statutory holidays (New Year's Day) give 29, 30, 31, 01-04, 01-05
    case_id = open_case(world, at(2026, 12, 28))
    body = world.client.get(f"/api/v1/cases/{case_id}", headers=world.h("so")).json()
    assert body["stage"]["due_date"] == "2027-01-05" and body["stage"]["provisional"] is True
    assert sched.tick(svc, at(2026, 12, 28, 11)).recomputed == []  # the same calendar: nothing changes

    newer = with_calendar(svc, WorkCalendar(OVERRIDE_2027))
    sched.release_lease(svc)  # the old process stopped cleanly
    r = sched.tick(newer, at(2026, 12, 28, 11, 1))  # the first tick after the restart
    assert r.ran and r.daily and r.recomputed == [case_id] and r.errors == []
    with svc.sessions() as s:
        stage = s.exec(select(Stage).where(Stage.case_id == case_id, Stage.left_at.is_(None))).one()
        assert (stage.due_date.isoformat(), stage.provisional) == ("2027-01-06", False)  # 01-01..04 off
        assert "override" in stage.calendar_source
        event = s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq.desc())).first()
        assert event.trigger == "recompute_deadline" and event.user_name == "系统"
        assert event.data["due_date_before"] == "2027-01-05" and event.data["due_date"] == "2027-01-06"
        assert event.data["provisional"] is False
        checked, breaks = verify_all(s)
    assert checked >= 1 and breaks == []
    body = world.client.get(f"/api/v1/cases/{case_id}", headers=world.h("so")).json()
    assert body["stage"]["due_date"] == "2027-01-06" and body["stage"]["provisional"] is False
    # once a day: not again the same day, and the next day there is nothing left to change
    assert not sched.tick(newer, at(2026, 12, 28, 15)).daily
    again = sched.tick(newer, at(2026, 12, 29, 0, 0, 30))
    assert again.daily and again.recomputed == []


def test_the_calendar_notice_once_a_day_from_november(world):
    svc = world.svc
    first = sched.tick(svc, at(2026, 11, 2, 9))
    assert first.daily and first.calendar_alert and "2027" in first.calendar_alert["title"]
    assert lease(svc, sched.DAILY_MARK).expires_at == at(2026, 11, 3, 0)  # the next local midnight
    assert not sched.tick(svc, at(2026, 11, 2, 23, 59)).daily
    second = sched.tick(svc, at(2026, 11, 3, 0, 0, 30))
    assert second.daily and second.calendar_alert
    # a restarted process runs the daily work at its first tick; the notice stays once a day
    restarted = dataclasses.replace(svc)
    sched.release_lease(svc)  # a clean stop
    third = sched.tick(restarted, at(2026, 11, 3, 0, 1, 30))
    assert third.ran and third.daily and third.calendar_alert is None
    assert [a.kind for a in alert_rows(svc)] == ["calendar", "calendar"]
    # once the calendar knows 2027, no notice
    known = with_calendar(svc, WorkCalendar(OVERRIDE_2027))
    assert sched.tick(known, at(2026, 11, 4, 9)).calendar_alert is None


def test_a_failing_step_is_recorded_and_retried_and_the_others_still_run(world, reported, monkeypatch):
    def broken(svc, now):
        raise RuntimeError("boom")

    monkeypatch.setattr(alerts, "check_calendar", broken)
    r = sched.tick(world.svc, at(2025, 10, 14, 9))
    assert r.ran and r.daily and r.errors == ["check_calendar: RuntimeError: boom"]
    assert kinds(r) == [("warning", 0), ("overdue", 0)]  # the scan ran anyway
    assert lease(world.svc, sched.DAILY_MARK) is None  # not marked done: the next tick retries
    monkeypatch.undo()
    retry = sched.tick(world.svc, at(2025, 10, 14, 9, 1))
    assert retry.daily and retry.errors == []
    assert not sched.tick(world.svc, at(2025, 10, 14, 9, 2)).daily


def test_deliveries_run_after_the_scan_and_a_failed_pass_is_recorded(world, reported, monkeypatch):
    calls = []

    def deliver_pending(svc, now):
        calls.append((svc, now, len(alert_rows(svc))))
        return {"sent": 0}

    monkeypatch.setattr(sched.delivery, "deliver_pending", deliver_pending)
    t = at(2025, 10, 14, 9)
    r = sched.tick(world.svc, t)
    assert calls == [(world.svc, t, 2)] and r.delivered == {"sent": 0}  # after the alerts were written

    def broken(svc, now):
        raise RuntimeError("smtp down")

    monkeypatch.setattr(sched.delivery, "deliver_pending", broken)
    r = sched.tick(world.svc, t + timedelta(minutes=1))
    assert r.delivered is None and r.scan is not None  # the scan still ran
    assert r.errors == ["deliver_pending: RuntimeError: smtp down"]


# -- APScheduler in the app and as a process ----------------------------------------------------


def wait_for(predicate, timeout=30.0):
    """A bounded poll for a background thread or process (not a domain behaviour)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {predicate}")


def test_the_in_app_scheduler_starts_and_stops_with_the_app(world, reported):
    svc = world.svc
    settings = svc.settings.model_copy(update={"scan_interval_seconds": 1})
    app = create_app(settings, services=svc, scheduler=True)
    with TestClient(app) as client:
        scheduler = app.state.scheduler
        assert scheduler is not None and scheduler.running
        job = scheduler.get_job(sched.JOB_ID)
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (1, True, 1)
        assert type(scheduler._jobstores["default"]).__name__ == "MemoryJobStore"
        # the first tick runs at once, on the real clock: the 2025 case is long overdue
        wait_for(lambda: (held := lease(svc)) is not None and held.holder == sched.holder_of(svc))
        wait_for(lambda: any(a.kind == "overdue" for a in alert_rows(svc)))
        assert client.get("/healthz").status_code == 200
    assert app.state.scheduler is None and not scheduler.running
    assert lease(svc) is None  # released on the way out: another process may take over at once
    n = len(alert_rows(svc))
    assert n > 2  # warning, overdue, and the escalations since
    with svc.sessions() as s:
        assert s.exec(select(func.count()).select_from(Alert)).one() == n


def test_test_apps_and_switched_off_apps_start_no_scheduler(world, database_url, tmp_path):
    with TestClient(create_app(services=world.svc)) as client:  # handed its services: no scheduler
        assert client.app.state.scheduler is None
        assert client.get("/healthz").status_code == 200
    off = world.svc.settings.model_copy(update={"scheduler": "off"})
    with TestClient(create_app(off, services=world.svc, scheduler=True)) as client:
        assert client.app.state.scheduler is None
    owned_off = Settings(database_url=database_url, data_dir=tmp_path / "d1", scheduler="off")
    with TestClient(create_app(owned_off)) as client:
        assert client.app.state.scheduler is None and client.app.state.services is not None
    assert lease(world.svc) is None


def test_an_app_owning_its_services_runs_the_scheduler(world, database_url, tmp_path):
    settings = Settings(database_url=database_url, data_dir=tmp_path / "d2", scan_interval_seconds=3600)
    app = create_app(settings)
    with TestClient(app) as client:
        scheduler = app.state.scheduler
        assert scheduler is not None and scheduler.running
        assert scheduler.get_job(sched.JOB_ID).misfire_grace_time == 3600
        svc = app.state.services
        wait_for(lambda: lease(world.svc) is not None)
        assert lease(world.svc).holder == sched.holder_of(svc)
        assert client.get("/healthz").json()["status"] == "ok"
    assert not scheduler.running and app.state.services is None
    assert lease(world.svc) is None


def test_fundflow_scheduler_runs_until_sigterm(world, database_url, tmp_path):
    env = {
        **os.environ,
        "FUNDFLOW_DATABASE_URL": database_url,
        "FUNDFLOW_DATA_DIR": str(tmp_path / "proc"),
        "FUNDFLOW_SCHEDULER": "off",
        "FUNDFLOW_SCAN_INTERVAL_SECONDS": "3600",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "fundflow.cli", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        held = wait_for(lambda: lease(world.svc), timeout=60)
        assert held.holder.split(":")[1] == str(proc.pid)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "SIGTERM" in output and "scheduler stopped" in output
    assert lease(world.svc) is None


# -- the commands -------------------------------------------------------------------------------


@pytest.fixture
def run_cli(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    built = []
    real_build = context.build_services

    def tracking_build(settings):
        svc = real_build(settings)
        built.append(svc)
        return svc

    monkeypatch.setattr(context, "build_services", tracking_build)

    def run(*args):
        result = CliRunner().invoke(cli, list(args))
        return result, built[-1] if built else None  # the command closes what it builds

    yield run
    get_settings.cache_clear()


def test_fundflow_scan(world, reported, run_cli):
    result, svc = run_cli("scan", "--now", "2025-10-14T09:00")  # naive: Asia/Shanghai
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["warning", "overdue"]
    assert "2025-10-11T00:00:00+08:00" in lines[0] and "2025-10-14T00:00:00+08:00" in lines[1]
    assert "2025-10-14T09:00:00+08:00: 2 alert(s) recorded from 1 stage(s)" in result.stderr
    again, _ = run_cli("scan", "--now", "2025-10-14T01:00:00+00:00")  # the same moment, aware
    assert again.exit_code == 0 and again.stdout == "" and "0 alert(s)" in again.stderr
    bad, _ = run_cli("scan", "--now", "14/10/2025")
    assert bad.exit_code == 2 and "ISO" in bad.stderr
    assert len(alert_rows(world.svc)) == 2


def test_fundflow_calendar_recompute(world, run_cli, monkeypatch, tmp_path):
    import yaml

    case_id = open_case(world, at(2026, 12, 28))
    with world.svc.sessions() as s:
        number = s.get(Case, case_id).number
    nothing, _ = run_cli("calendar", "recompute")
    assert nothing.exit_code == 0 and nothing.stdout == "" and "0 case(s)" in nothing.stderr
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump(OVERRIDE_2027, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("FUNDFLOW_CALENDAR_OVERRIDES", str(overrides))
    get_settings.cache_clear()
    result, _ = run_cli("calendar", "recompute")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"case {case_id} {number} reported: due 2027-01-06 (known)"]
    assert "1 case(s) recomputed" in result.stderr


def test_fundflow_demo_prints_the_addresses_of_the_port_it_serves(world, run_cli, monkeypatch):
    """``fundflow demo --port N`` names the pages and the docs at that port (not 8000)."""
    import types

    from fundflow.service import seed

    monkeypatch.setattr(
        seed,
        "seed_demo",
        lambda svc, now, reset=False, opinions=None: types.SimpleNamespace(
            summary=lambda base: seed.SeedResult.summary(_empty_seed_result(), base)
        ),
    )
    result, _ = run_cli("demo", "--no-serve", "--port", "8765")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8765/docs" in result.stdout and "http://127.0.0.1:8765/login" in result.stdout
    assert ":8000" not in result.stdout


def _empty_seed_result():
    from fundflow.service import seed

    fields = {f: 0 for f in seed.SeedResult.__dataclass_fields__}
    fields.update(users=[], skipped=True)
    return seed.SeedResult(**fields)
