"""The overdue scan's cost with 10,000, 100,000 and 1,000,000 open stages, the same 1,000 due.

    .venv/bin/python benchmarks/bench_scan.py           # 10k, 100k, 1M open stages (several minutes)
    .venv/bin/python benchmarks/bench_scan.py --quick   # 10k and 100k
    .venv/bin/python benchmarks/bench_scan.py --backends sqlite --pg-url postgresql://...

The cases and their open stages are inserted in bulk with SQLAlchemy Core (``insert()``
executemany, 10,000 rows a statement, 100,000 a transaction), not through the use cases. Every
stage is in ``reported`` of ``fire_hazard_emergency`` v1 with the deadlines
``compute_deadlines`` gives it. 1,000 stages, spread over the first 10,000 ids, were entered a
week before ``now`` and are due for their warning at ``now``; all the others were entered an
hour before ``now``, so their next alert moment is days ahead. The table then grows to the next
size, and the same 1,000 stay the only ones due.

Per size: ``fundflow.service.usecases.alerts.scan(svc, now)`` is timed after an untimed warm-up, each
time on the same 1,000 (the alerts are deleted and their ``next_alert_at`` put back, untimed, in
between); the idle scan right after it (nothing due) is timed too. The batch query the scan
sends is captured and timed alone on the raw DBAPI connection, and its plan is shown
(``EXPLAIN`` on PostgreSQL after ``ANALYZE``, ``EXPLAIN QUERY PLAN`` on SQLite, which the service
never ANALYZEs).

The PostgreSQL half runs in a schema of its own (``bench_scan_<pid>_<random>``), dropped at the
end, also after an error; SQLite in a temporary directory. Writes no file in the repository.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFINITION, STATE = "fire_hazard_emergency", "reported"
BATCH, PER_TRANSACTION = 10_000, 100_000
DUE = 1_000
PLAN_WORDS = (
    "Limit",
    "Scan",
    "Join",
    "Loop",
    "Sort",
    "Gather",
    "Rows Removed",
    "Execution Time",
    "SEARCH",
    "SCAN",
    "TEMP",
)  # the plan lines shown

try:
    from sqlalchemy import create_engine, delete, event, insert, text, update
    from sqlalchemy.pool import NullPool

    from fundflow.domain.alerts import stage_moments
    from fundflow.domain.deadlines import compute_deadlines
    from fundflow.domain.tz import SHANGHAI
    from fundflow.service.config import Settings
    from fundflow.service.context import Services, build_services
    from fundflow.service.migrate import upgrade
    from fundflow.service.tables import Alert, Case, Community, Delivery, District, Stage, StreetOffice
    from fundflow.service.usecases import alerts
except Exception as exc:  # the service must import before anything can be measured
    print(f"bench_scan: cannot import the service: {type(exc).__name__}: {exc}")
    sys.exit(2)

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)  # Monday
DUE_ENTERED = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a week before: due 03-09, warned from 00:00
LATER_ENTERED = NOW - timedelta(hours=1)
DUE_IDS = list(range(10, 10 * DUE + 1, 10))  # every 10th of the first 10,000


# -- databases ----------------------------------------------------------------------------------


def psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def pg_reachable(base: str) -> str | None:
    try:
        eng = create_engine(psycopg_url(base), poolclass=NullPool)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@contextmanager
def database(name: str, pg_base: str):
    """(url, data_dir, label) of a fresh database; removed afterwards, also after an error."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_scan_"))
    try:
        if name == "sqlite":
            yield f"sqlite:///{tmp / 'fundflow.db'}", tmp / "data", "SQLite file (WAL, synchronous=NORMAL)"
            return
        schema = f"bench_scan_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(psycopg_url(pg_base), poolclass=NullPool)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in pg_base else "?"
            yield f"{pg_base}{sep}options=-csearch_path%3D{schema}", tmp / "data", f"PostgreSQL schema {schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the rows -----------------------------------------------------------------------------------


class Loader:
    def __init__(self, svc: Services):
        self.svc = svc
        d = svc.registry.get(DEFINITION)
        self.version = d.version
        rule = d.states[STATE].deadline
        state = d.states[STATE]
        self.due = compute_deadlines(rule, DUE_ENTERED, svc.calendar, {})
        self.later = compute_deadlines(rule, LATER_ENTERED, svc.calendar, {})
        due_now = stage_moments(
            rule, state.responsible, self.due.due_date, self.due.due_at, self.due.warn_at, svc.calendar, NOW
        )
        assert [m.kind.value for m in due_now] == ["warning"], due_now  # one alert per due stage
        assert self.later.warn_at > NOW
        with svc.db.begin() as conn:
            did = conn.execute(insert(District).values(code="BS", name="基准区").returning(District.id)).scalar_one()
            sid = conn.execute(
                insert(StreetOffice).values(district_id=did, code="BS-1", name="基准街道").returning(StreetOffice.id)
            ).scalar_one()
            cid = conn.execute(
                insert(Community)
                .values(street_office_id=sid, code="BS-C", name="基准小区", address="", created_at=NOW)
                .returning(Community.id)
            ).scalar_one()
        self.places = dict(community_id=cid, street_office_id=sid, district_id=did)
        self.count = 0
        self.due_set = set(DUE_IDS)

    def _rows(self, first: int, last: int):
        cases, stages = [], []
        for i in range(first, last + 1):
            dl, entered = (self.due, DUE_ENTERED) if i in self.due_set else (self.later, LATER_ENTERED)
            cases.append(
                dict(
                    id=i,
                    number=f"BS{i:08d}",
                    title="基准案件",
                    definition_id=DEFINITION,
                    definition_version=self.version,
                    state=STATE,
                    data={},
                    closed=False,
                    created_at=entered,
                    updated_at=entered,
                    scope_building_ids=[],
                    event_count=0,
                    head_hash="",
                    version=1,
                    **self.places,
                )
            )
            stages.append(
                dict(
                    id=i,
                    case_id=i,
                    state=STATE,
                    entered_at=entered,
                    due_date=dl.due_date,
                    due_at=dl.due_at,
                    warn_at=dl.warn_at,
                    escalate_at=dl.escalations[0].at,
                    next_alert_at=dl.warn_at,
                    provisional=dl.provisional,
                    rule=dl.rule,
                    calendar_source=dl.calendar_source,
                    suspended_working_days=0,
                    suspended_days=0,
                )
            )
        return cases, stages

    def grow_to(self, total: int) -> float:
        """Insert cases and open stages up to ``total``; returns the seconds it took."""
        t0 = time.perf_counter()
        cases_t, stages_t = Case.__table__, Stage.__table__
        while self.count < total:
            upto = min(total, self.count + PER_TRANSACTION)
            with self.svc.db.begin() as conn:
                for first in range(self.count + 1, upto + 1, BATCH):
                    cases, stages = self._rows(first, min(upto, first + BATCH - 1))
                    conn.execute(insert(cases_t), cases)
                    conn.execute(insert(stages_t), stages)
            self.count = upto
        with self.svc.db.begin() as conn:
            if self.svc.db.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE cases")
                conn.exec_driver_sql("ANALYZE stages")
        return time.perf_counter() - t0

    def reset(self) -> None:
        """The 1,000 due again, no alert recorded: what the timed scan starts from."""
        with self.svc.db.begin() as conn:
            conn.execute(delete(Delivery.__table__))
            conn.execute(delete(Alert.__table__))
            conn.execute(
                update(Stage.__table__).where(Stage.__table__.c.id.in_(DUE_IDS)).values(next_alert_at=self.due.warn_at)
            )
        if self.svc.db.dialect.name == "postgresql":
            # each scan and reset leaves 1,000 dead row versions and index entries (next_alert_at
            # is indexed, so no HOT update); autovacuum would clear them, here it is done at once
            with self.svc.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM stages")


# -- measuring ----------------------------------------------------------------------------------


class Capture:
    """The statements a block sends, as the driver got them (SQL text and bound parameters)."""

    def __init__(self, engine):
        self.engine, self.statements, self.on = engine, [], False
        event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.statements.append((statement, parameters))

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._hook)


def batch_query(svc: Services, loader: Loader):
    cap = Capture(svc.db)
    loader.reset()
    cap.on = True
    try:
        alerts.scan(svc, NOW)
    finally:
        cap.on = False
        cap.close()
    for statement, params in cap.statements:
        if "FROM stages JOIN cases" in statement and ("stages.id IN" in statement or "stages.id = ANY" in statement):
            return statement, params
    raise RuntimeError("the scan's batch query was not seen")


def raw_cursor(svc: Services):
    raw = svc.db.raw_connection()
    return raw, raw.driver_connection.cursor()


def plan(svc: Services, statement: str, params) -> list[str]:
    raw, cur = raw_cursor(svc)
    try:
        if svc.db.dialect.name == "postgresql":
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
            return [r[0] for r in cur.fetchall()]
        cur.execute("EXPLAIN QUERY PLAN " + statement, params)
        return [r[3] for r in cur.fetchall()]
    finally:
        cur.close()
        raw.rollback()
        raw.close()


def time_query(svc: Services, statement: str, params, n: int) -> tuple[float, int]:
    raw, cur = raw_cursor(svc)
    times, rows = [], 0
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            cur.execute(statement, params)
            rows = len(cur.fetchall())
            times.append(time.perf_counter() - t0)
    finally:
        cur.close()
        raw.rollback()
        raw.close()
    return statistics.median(times) * 1000, rows


def measure(svc: Services, loader: Loader, repeats: int) -> dict:
    loader.reset()
    alerts.scan(svc, NOW)  # warm-up, untimed
    scans, idles = [], []
    for _ in range(repeats):
        loader.reset()
        t0 = time.perf_counter()
        r = alerts.scan(svc, NOW)
        scans.append(time.perf_counter() - t0)
        if r.skipped or r.stages != DUE or len(r.alerts) != DUE:
            raise RuntimeError(f"the scan saw {r.stages} stages and recorded {len(r.alerts)} alerts, not {DUE}")
        t0 = time.perf_counter()
        idle = alerts.scan(svc, NOW)
        idles.append(time.perf_counter() - t0)
        if idle.stages or idle.alerts:
            raise RuntimeError("a second scan at the same moment found work")
    statement, params = batch_query(svc, loader)  # leaves nothing due
    alt = statement.replace(" ORDER BY stages.id", "")  # a diagnostic: see the README
    out = dict(
        scan=statistics.median(scans) * 1000,
        scan_min=min(scans) * 1000,
        idle=statistics.median(idles) * 1000,
        statement=statement,
    )
    for state in ("idle", "due"):
        if state == "due":
            loader.reset()
        for key, sql in (("query", statement), ("alt", alt)):
            ms, rows = time_query(svc, sql, params, 20)
            lines = plan(svc, sql, params)
            out[f"{key}_{state}"] = dict(ms=ms, rows=rows, plan=lines, index=_index_of(lines))
    return out


def _index_of(lines: list[str]) -> str:
    """The index the plan reads stages through."""
    text = " ".join(lines)
    for name in ("ix_stages_open_next_alert", "pk_stages", "INTEGER PRIMARY KEY"):
        if name in text and ("stages" in text.split(name)[0][-60:] or name != "INTEGER PRIMARY KEY"):
            return name
    return "seq scan" if "Seq Scan on stages" in text or "SCAN stages" in text else "?"


# -- the run ------------------------------------------------------------------------------------


def bench_backend(name: str, pg_base: str, sizes: list[int], repeats: int) -> None:
    with database(name, pg_base) as (url, data_dir, label):
        svc = build_services(Settings(database_url=url, data_dir=data_dir))
        try:
            t0 = time.perf_counter()
            upgrade(svc.db)
            loader = Loader(svc)
            print(f"{name}: {label}; migrated in {time.perf_counter() - t0:.1f} s")
            print(
                f"   {'open stages':>13} {'load s':>7} {'scan ms':>8} {'fastest':>8} {'per due':>8} "
                f"{'idle scan':>10}   {'batch query: 1,000 due':<34} {'nothing due':<30}"
            )
            results = []
            for size in sizes:
                load_s = loader.grow_to(size)
                m = measure(svc, loader, repeats)
                results.append((size, m))
                q, i = m["query_due"], m["query_idle"]
                print(
                    f"   {size:>13,} {load_s:>7.1f} {m['scan']:>8.1f} {m['scan_min']:>8.1f} "
                    f"{m['scan'] * 1000 / DUE:>6.0f}µs {m['idle']:>8.2f}ms   "
                    f"{q['ms']:>7.2f} ms via {q['index']:<25} {i['ms']:>7.2f} ms via {i['index']}",
                    flush=True,
                )
            (n0, first), (n1, last) = results[0], results[-1]
            print(
                f"   {n1:,} vs {n0:,} open stages: scan x{last['scan'] / first['scan']:.2f}, "
                f"idle scan x{last['idle'] / first['idle']:.2f}, batch query x{last['query_due']['ms'] / first['query_due']['ms']:.2f} "
                f"(nothing due x{last['query_idle']['ms'] / first['query_idle']['ms']:.2f})"
            )
            print("   diagnostic, not what the scan sends: the same query without ORDER BY stages.id")
            for size, m in results:
                a, b = m["alt_due"], m["alt_idle"]
                print(
                    f"   {size:>13,} {'':>7} {'':>8} {'':>8} {'':>8} {'':>10}   "
                    f"{a['ms']:>7.2f} ms via {a['index']:<25} {b['ms']:>7.2f} ms via {b['index']}"
                )
            print(f"   the batch query (the first of the scan's batches of {alerts.BATCH}):")
            print("     " + " ".join(last["statement"].split()))
            for key, what in (
                ("query_due", "1,000 due"),
                ("query_idle", "nothing due"),
                ("alt_due", "1,000 due, without ORDER BY"),
                ("alt_idle", "nothing due, without ORDER BY"),
            ):
                print(f"   its plan at {n1:,} open stages, {what}:")
                for line in last[key]["plan"]:
                    if any(w in line for w in PLAN_WORDS):
                        print(f"     {line}")
            print()
        finally:
            svc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 open stages only")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("FUNDFLOW_BENCH_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    repeats = 3 if args.quick else 5
    import sqlalchemy

    t_start = time.perf_counter()
    print(
        f"fundflow scan benchmark{' (--quick)' if args.quick else ''}: Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, sqlite {_sqlite_version()}, psycopg {_psycopg_version()}, "
        f"{platform.system()} {platform.machine()}, {_cpus()} CPU; load average {_load()}"
    )
    print(
        f"now = {NOW.isoformat()}; {DUE:,} stages due (one warning each), the rest next week; "
        f"scan = median of {repeats} after a warm-up"
    )
    print()
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name not in ("sqlite", "postgresql"):
            print(f"bench_scan: unknown backend {name!r}")
            return 2
        if name == "postgresql" and (why := pg_reachable(args.pg_url)):
            print(f"postgresql: skipped, not reachable at {args.pg_url}: {why}\n")
            continue
        bench_backend(name, args.pg_url, sizes, repeats)
    print(f"total {time.perf_counter() - t_start:.1f} s; load average {_load()}")
    return 0


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def _psycopg_version() -> str:
    try:
        import psycopg

        return f"{psycopg.__version__} ({psycopg.pq.__impl__})"
    except Exception:
        return "n/a"


def _load() -> str:
    try:
        out = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        out = "n/a"
    try:
        with open("/proc/pressure/cpu") as f:
            some = dict(kv.split("=") for kv in f.readline().split()[1:])
        out += f", CPU pressure {float(some['avg60']):.0f}%"
    except (OSError, KeyError, ValueError):
        pass
    return out


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
