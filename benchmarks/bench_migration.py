"""Moving 10,000 running cases of fire_hazard_emergency from v1 onto v2: plan, apply, revert.

    .venv/bin/python benchmarks/bench_migration.py                      # 10,000 cases on PostgreSQL
    .venv/bin/python benchmarks/bench_migration.py --cases 2000 --backends sqlite postgresql
    .venv/bin/python benchmarks/bench_migration.py --pg-url postgresql://user@host:5432/db

The cases and their open stages are inserted in bulk with SQLAlchemy Core (not through the use
cases), spread evenly over every non-terminal state of v1, each stage with the deadline
``compute_deadlines`` gives it (``rectification`` reads ``rectification_deadline`` from the
data, which the migration renames). Then, each timed once, through the use case
(``fundflow.service.usecases.migration``): ``plan`` (one read), ``apply`` (a transaction per
case: lock, check the version, close the stage, open the v2 stage, the ``migrated`` event),
``revert`` (a transaction per case, one after another). ``apply`` runs with ``--workers``
threads on PostgreSQL (default 4; each a transaction per case). The figure is the rate of ``apply`` in cases per second;
the issue's aim is under 60 s for 10,000.

The PostgreSQL half runs in a schema of its own (``bench_migration_<pid>_<random>``), dropped at
the end, also after an error; SQLite in a temporary directory. Writes no file in the repository.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
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

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from fundflow.domain.deadlines import compute_deadlines  # noqa: E402
from fundflow.domain.tz import SHANGHAI  # noqa: E402
from fundflow.service.config import Settings  # noqa: E402
from fundflow.service.context import build_services  # noqa: E402
from fundflow.service.migrate import upgrade  # noqa: E402
from fundflow.service.tables import Case, Community, District, Stage, StreetOffice  # noqa: E402
from fundflow.service.usecases import migration  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFINITION = "fire_hazard_emergency"
NOW = datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)
ENTERED = NOW - timedelta(days=1)
BATCH = 5_000


def psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@contextmanager
def database(name: str, pg_base: str):
    tmp = Path(tempfile.mkdtemp(prefix="bench_migration_"))
    try:
        if name == "sqlite":
            yield f"sqlite:///{tmp / 'fundflow.db'}", tmp / "data", "SQLite file (WAL)"
            return
        schema = f"bench_migration_{os.getpid()}_{uuid.uuid4().hex[:6]}"
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


def load(svc, n: int) -> None:
    d = svc.registry.get(DEFINITION, 1)
    states = [s for s in d.states.values() if not s.terminal]
    data = {"rectification_deadline": "2026-06-30"}
    deadlines = {s.id: compute_deadlines(s.deadline, ENTERED, svc.calendar, data) for s in states}
    with svc.db.begin() as conn:
        did = conn.execute(insert(District).values(code="BM", name="基准区").returning(District.id)).scalar_one()
        sid = conn.execute(
            insert(StreetOffice).values(district_id=did, code="BM-1", name="基准街道").returning(StreetOffice.id)
        ).scalar_one()
        cid = conn.execute(
            insert(Community)
            .values(street_office_id=sid, code="BM-C", name="基准小区", address="", created_at=NOW)
            .returning(Community.id)
        ).scalar_one()
        places = dict(community_id=cid, street_office_id=sid, district_id=did)
        for first in range(1, n + 1, BATCH):
            cases, stages = [], []
            for i in range(first, min(n, first + BATCH - 1) + 1):
                st = states[i % len(states)]
                dl = deadlines[st.id]
                cases.append(
                    dict(
                        id=i,
                        number=f"BM{i:08d}",
                        title="基准案件",
                        definition_id=DEFINITION,
                        definition_version=1,
                        state=st.id,
                        data=data,
                        closed=False,
                        created_at=ENTERED,
                        updated_at=ENTERED,
                        scope_building_ids=[],
                        act_times={},
                        renewed_documents={},
                        doc_round=1,
                        event_count=0,
                        head_hash="",
                        version=1,
                        **places,
                    )
                )
                stages.append(
                    dict(
                        id=i,
                        case_id=i,
                        state=st.id,
                        entered_at=ENTERED,
                        due_date=dl.due_date if dl else None,
                        due_at=dl.due_at if dl else None,
                        warn_at=dl.warn_at if dl else None,
                        escalate_at=dl.escalations[0].at if dl and dl.escalations else None,
                        next_alert_at=dl.warn_at if dl else None,
                        provisional=dl.provisional if dl else False,
                        rule=dl.rule if dl else None,
                        calendar_source=dl.calendar_source if dl else None,
                        suspended_working_days=0,
                        suspended_days=0,
                    )
                )
            conn.execute(insert(Case.__table__), cases)
            conn.execute(insert(Stage.__table__), stages)
        if svc.db.dialect.name == "postgresql":
            for table in ("cases", "stages"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})"))
            conn.execute(text("ANALYZE"))


def run(backend: str, n: int, pg_base: str, workers: int) -> None:
    with database(backend, pg_base) as (url, data_dir, label):
        svc = build_services(Settings(database_url=url, data_dir=data_dir))
        try:
            upgrade(svc.db)
            t = time.perf_counter()
            load(svc, n)
            loaded = time.perf_counter() - t
            t = time.perf_counter()
            plan = migration.plan(svc, DEFINITION, 1, 2)
            planned = time.perf_counter() - t
            t = time.perf_counter()
            applied = migration.apply(svc, None, DEFINITION, 1, 2, now=NOW, workers=workers, batch_size=250)
            apply_s = time.perf_counter() - t
            t = time.perf_counter()
            reverted = migration.revert(svc, None, applied["batch"], now=NOW + timedelta(minutes=1))
            revert_s = time.perf_counter() - t
        finally:
            svc.close()
    assert plan["total"] == n and applied["migrated"] == n and reverted["reverted"] == n
    print(f"{label}: {n:,} running cases (bulk load {loaded:.1f} s)")
    print(f"  plan    {planned:7.2f} s  ({n / planned:8.0f} cases/s)")
    threads = f", {workers} threads" if workers > 1 and backend == "postgresql" else ""
    print(f"  apply   {apply_s:7.2f} s  ({n / apply_s:8.0f} cases/s{threads})  aim: {n:,} in < 60 s")
    print(f"  revert  {revert_s:7.2f} s  ({n / revert_s:8.0f} cases/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--backends", nargs="+", default=["postgresql"], choices=["sqlite", "postgresql"])
    ap.add_argument("--workers", type=int, default=4, help="apply's threads on PostgreSQL (1: one after another)")
    ap.add_argument("--pg-url", default=os.environ.get("FUNDFLOW_TEST_DATABASE_URL", DEFAULT_PG))
    args = ap.parse_args()
    print(f"bench_migration: Python {platform.python_version()}, {os.cpu_count()} CPU(s), {platform.machine()}")
    for backend in args.backends:
        run(backend, args.cases, args.pg_url, args.workers)


if __name__ == "__main__":
    main()
