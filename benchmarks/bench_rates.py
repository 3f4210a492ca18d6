"""The rates (``GET /stats``' ``rates``: 解决率, 按期办结率, 满意率 per district, street office and
month) over a year of stored cases.

    .venv/bin/python benchmarks/bench_rates.py [--stored 200000] [--calls 15] [--db postgres|sqlite]
        [--definition public_opinion|fire_hazard_emergency]

Seeds ``--stored`` cases of ``--definition`` (its current version's ``figures:``) by bulk Core
inserts into the tests' small city (a procedure whose subject is not a community: held by ten
departments, about a person): opened over 2025, 96% ended in a resolved state, the rest
in another end state of ``resolved.of`` or still open; three stages each (two left, one open or
left), one in twenty left after its due moment; the satisfaction field (when the procedure
declares one) answered on every ended case. Then times ``reads.rates.procedure_rates`` for the
year 2025 as the city-level fund center, each call in a read transaction of its own, and prints
p50/p90 with the query plan on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_service as bs  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from fundflow.domain.periods import parse_period  # noqa: E402
from fundflow.service.db import read_only  # noqa: E402
from fundflow.service.reads.rates import procedure_rates  # noqa: E402
from fundflow.service.tables import Case, Community, Organisation, Stage, StreetOffice, User  # noqa: E402

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)


def seed(p: bs.Prepared, definition, n: int, batch: int = 10_000) -> float:
    figures = definition.figures
    resolved = sorted(figures.resolved.states)
    others = sorted(figures.resolved.of - figures.resolved.states) or resolved
    timed = [sid for sid, st in definition.states.items() if st.deadline is not None][:3]
    sat = figures.satisfaction
    # every choice of the satisfaction field, the satisfied ones twice: most answers are satisfied
    choices = [f.choices for t in definition.transitions for f in t.fields if sat and f.name == sat.field]
    answers = [*sat.satisfied, *sat.satisfied, *choices[0]] if sat and choices else []
    t0 = time.perf_counter()
    svc = p.svc
    with svc.sessions() as s:
        fc = s.get(User, p.ids["user_fc"])
        comms = []
        for key in ("community_a", "community_b", "community_c"):
            c = s.get(Community, p.ids[key])
            o = s.get(StreetOffice, c.street_office_id)
            comms.append((c.id, o.id, o.district_id))
    places = definition.subject.is_community
    departments: list[int] = []
    if not places:  # cases about a person, held by departments (the opinion loop)
        kinds = [k for k, v in definition.organisation_kinds.items() if v.sees == "handled"]
        with svc.db.begin() as conn:
            for i in range(10):
                departments.append(
                    conn.execute(
                        Organisation.__table__.insert().returning(Organisation.__table__.c.id),
                        {"kind": kinds[0], "code": f"BENCH{i}", "name": f"压测承办单位{i}", "created_at": YEAR_START},
                    ).scalar_one()
                )
    ct, st = Case.__table__, Stage.__table__
    stage_id = 0
    with svc.db.begin() as conn:
        for start in range(1, n + 1, batch):
            cases, stages = [], []
            for cid in range(start, min(n, start + batch - 1) + 1):
                comm, office, district = comms[cid % 3]
                opened = YEAR_START + timedelta(minutes=(cid * 2_617) % (365 * 24 * 60))
                roll = cid % 100
                ended = roll != 99
                state = resolved[cid % len(resolved)] if roll < 96 else others[cid % len(others)]
                if not ended:
                    state = definition.initial
                data = {sat.field: answers[cid % len(answers)]} if sat and ended else {}
                at = opened
                for i, sid in enumerate(timed):
                    stage_id += 1
                    due = at + timedelta(days=5)
                    last = i == len(timed) - 1
                    left = None if (last and not ended) else at + timedelta(days=6 if cid % 20 == 0 else 2)
                    stages.append(
                        dict(
                            id=stage_id,
                            case_id=cid,
                            state=sid,
                            entered_at=at,
                            left_at=left,
                            due_date=due.date(),
                            due_at=due,
                            warn_at=due - timedelta(days=1),
                            escalate_at=due,
                            next_alert_at=None,
                            provisional=False,
                            rule=None,
                            calendar_source=None,
                            suspended_working_days=0,
                            suspended_days=0,
                        )
                    )
                    at = left or at
                cases.append(
                    dict(
                        id=cid,
                        number=f"RATE{cid:09d}",
                        title=f"存量事项 {cid}",
                        definition_id=definition.id,
                        definition_version=definition.version,
                        state=state,
                        community_id=comm if places else None,
                        street_office_id=office if places else None,
                        district_id=district if places else None,
                        subject={} if places else {"kind": "person", "name": f"反映人{cid}", "phone": "13800000000"},
                        organisation_id=None if places else departments[cid % len(departments)],
                        handled_by=[] if places else [departments[cid % len(departments)]],
                        data=data,
                        closed=ended,
                        outcome=definition.states[state].outcome if ended else None,
                        created_by=fc.id,
                        created_at=opened,
                        updated_at=at,
                        closed_at=at if ended else None,
                        opened_at=opened,
                        scope_building_ids=[],
                        act_times={},
                        renewed_documents={},
                        event_count=0,
                        head_hash="",
                        version=1,
                    )
                )
            conn.execute(ct.insert(), cases)
            conn.execute(st.insert(), stages)
        if svc.db.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stored", type=int, default=200_000)
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    ap.add_argument("--pg-url", default=bs.DEFAULT_PG)
    ap.add_argument("--definition", default="public_opinion")
    args = ap.parse_args(argv)
    with bs.database("sqlite" if args.db == "sqlite" else "postgresql", args.pg_url, "bench_rates") as (
        url,
        data,
        label,
    ):
        p = bs.prepare(url, data)
        svc = p.svc
        d = svc.registry.get(args.definition)
        if d.figures is None or d.figures.resolved is None:
            print(f"{args.definition} declares no resolved rate (figures:)")
            return 2
        t_seed = seed(p, d, args.stored)
        with svc.sessions() as s:
            fc = s.get(User, p.ids["user_fc"])
        period = parse_period(date(2026, 3, 2), year="2025")
        now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

        def once():
            with read_only(svc.sessions) as s:
                return procedure_rates(s, svc, fc, d, period, now)

        first = once()
        times = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            once()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        server = explain(svc, once) if svc.db.dialect.name == "postgresql" else None
        city = first["city"]
        rates = ", ".join(f"{r['label']} {r['rate']}% ({r['count']}/{r['of']})" for r in first["rates"])
        print(f"{label}: {args.stored:,} stored cases of {d.id} (seeded in {t_seed:.0f} s)")
        print(f"  2025: collected {city['collected']:,}, closed {city['closed']:,}; {rates}")
        print(
            f"  procedure_rates over the year: p50 {statistics.median(times):.1f} ms, "
            f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, min {times[0]:.1f} ms ({args.calls} calls)"
        )
        if server is not None:
            plan, ms = server
            print(f"  the grouped statement on the server (EXPLAIN ANALYZE, median of 5): {ms:.1f} ms; {plan}")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


def explain(svc, once) -> tuple[str, float]:
    """The rates' grouped statement run under EXPLAIN ANALYZE with the settings the read sets:
    the server's own execution time, free of the client and of the machine's other processes'
    share of the client's time slice."""
    captured: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(svc.db, "before_cursor_execute", grab)
    try:
        once()
    finally:
        event.remove(svc.db, "before_cursor_execute", grab)
    sets = [st for st, _ in captured if st.startswith("SET LOCAL")]
    stmt, params = max(captured, key=lambda x: len(x[0]))
    runs, top = [], ""
    with svc.db.connect() as conn:
        cur = conn.connection.driver_connection.cursor()
        for st in sets:
            cur.execute(st.replace("SET LOCAL", "SET"))
        for _ in range(5):
            cur.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + stmt, params)
            result = cur.fetchone()[0][0]
            runs.append(result["Execution Time"])
            top = result["Plan"]["Node Type"]
    return f"top node {top}", statistics.median(runs)


if __name__ == "__main__":
    sys.exit(main())
