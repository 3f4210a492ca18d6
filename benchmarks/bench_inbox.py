"""The inbox at scale: ``GET /cases?mine=true`` (``reads.case_list.list_cases`` with the
user's role as ``responsible_role``, open cases only) at 100,000 stored cases.

    .venv/bin/python benchmarks/bench_inbox.py [--stored 100000] [--calls 60] [--db postgres|sqlite]

Seeds the stored cases with ``load.py``'s bulk inserts (a third per community and state): the
district fire authority ``fr`` (荷塘区) then has 33,333 cases waiting on it (``reported`` in
月塘新村), out of 66,667 it may see. Times, in read transactions of their own, the first page
(20), a page reached by keyset (``after``, 100 pages on) and reports p50/p90 and the plan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_service as bs  # noqa: E402
import load  # noqa: E402

from fundflow.service.db import read_only  # noqa: E402
from fundflow.service.reads.case_list import list_cases  # noqa: E402
from fundflow.service.tables import User  # noqa: E402


def timed(fn, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stored", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    ap.add_argument("--pg-url", default=bs.DEFAULT_PG)
    args = ap.parse_args(argv)
    with bs.database("sqlite" if args.db == "sqlite" else "postgresql", args.pg_url, "bench_inbox") as (
        url,
        data,
        label,
    ):
        p = bs.prepare(url, data)
        t_seed = load.seed_cases(p, args.stored, bs.NOW)
        svc = p.svc
        with svc.sessions() as s:
            fr = s.get(User, p.ids["user_fr"])

        def page(after=None, page_no=1):
            with read_only(svc.sessions) as s:
                kw = {"after": after} if after is not None else {"page": page_no}
                return list_cases(
                    s, svc, fr, now=bs.NOW, responsible_role=fr.role, include_closed=False, page_size=20, **kw
                )

        first = page()
        print(
            f"{label}: {args.stored:,} stored cases (seeded in {t_seed:.0f} s); inbox of fr: total {first['total']}"
            f" (exact: {first['total_exact']}), {len(first['items'])} on the first page"
        )
        runs = {"first page": lambda: page()}
        if "next" in first:
            cursor = first["next"]
            for _ in range(99):
                cursor = page(after=cursor)["next"]
            runs["page 101 by keyset"] = lambda: page(after=cursor)
        else:
            runs["page 101 by offset"] = lambda: page(page_no=101)
        for name, fn in runs.items():
            fn()
            ms = sorted(timed(fn, args.calls))
            print(f"  {name:22s} p50 {statistics.median(ms):7.2f} ms   p90 {ms[int(len(ms) * 0.9)]:7.2f} ms")
        if svc.db.dialect.name == "postgresql":
            from sqlalchemy import event, text

            seen = []
            listener = lambda c, cur, st, params, ctx, many: seen.append((st, params))  # noqa: E731
            event.listen(svc.db, "before_cursor_execute", listener)
            page()
            event.remove(svc.db, "before_cursor_execute", listener)
            with svc.db.connect() as conn:
                raw = conn.connection.dbapi_connection
                for st, params in seen[-2:]:  # the count, then the page
                    cur = raw.cursor()
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) " + st, params)
                    print("\n".join("    " + r[0] for r in cur.fetchall()))
                    cur.close()
                raw.rollback()
            del text
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
