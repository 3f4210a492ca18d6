"""Memory over 100,000 transitions in one process: is it flat?

    .venv/bin/python benchmarks/bench_memory.py [--transitions 100000] [--cases 200] [--db sqlite|postgres]
    .venv/bin/python benchmarks/bench_memory.py --transitions 20000 --tracemalloc   # where it grows, if it does

``--cases`` cases are opened through the use cases (community A, ``site_survey``, as
``bench_service.open_cases`` does); then ``fire_transition`` suspends and resumes them in turn
(the built-in ``suspend``/``resume``: a plain transition each, an event appended to the case's
hash chain, the stage's deadlines moved), one transaction per transition, round robin, as
the street office. Every ``--every`` transitions the process's resident set (``VmRSS`` of
``/proc/self/status``, after ``gc.collect()``) is sampled; with ``--tracemalloc`` the Python
heap (``tracemalloc``, slower) and the top growing lines between the first and the last sample.

"Flat": the growth from the sample after the first 10% (warm-up: caches, the pool, the
statement cache fill) to the last, per 10,000 transitions. Each case carries ``transitions /
cases`` events by the end, so per-case rows grow in the database, not in the process.
Writes no file in the repository.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_service as bs  # noqa: E402

from fundflow.domain.definition import RESUME, SUSPEND  # noqa: E402
from fundflow.service.usecases import cases  # noqa: E402


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transitions", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--pg-url", default=bs.DEFAULT_PG)
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args(argv)
    backend = "postgresql" if args.db == "postgres" else "sqlite"
    with bs.database(backend, args.pg_url, "bench_memory") as (url, data, label):
        p = bs.prepare(url, data)
        ids = bs.open_cases(p, args.cases, label="内存")
        so = p.users["so"]
        svc = p.svc
        print(
            f"{label}: {args.transitions:,} transitions (suspend/resume) over {len(ids)} cases, one process; "
            f"load average {bs._load()}"
        )
        if args.tracemalloc:
            tracemalloc.start(10)
        samples: list[tuple[int, int, int, float]] = []  # (done, rss KiB, traced KiB, seconds)
        snaps = []
        t0 = time.perf_counter()
        data = {"reason": "等待业主委员会答复"}
        for done in range(args.transitions + 1):
            if done % args.every == 0:
                gc.collect()
                traced = tracemalloc.get_traced_memory()[0] // 1024 if args.tracemalloc else 0
                samples.append((done, rss_kib(), traced, time.perf_counter() - t0))
                if args.tracemalloc and done in (args.every, args.transitions):
                    snaps.append(tracemalloc.take_snapshot())
                print(
                    f"  {done:>9,} transitions  RSS {samples[-1][1] / 1024:7.1f} MiB"
                    + (f"  traced {traced / 1024:7.1f} MiB" if args.tracemalloc else "")
                    + f"  {samples[-1][3]:7.1f} s",
                    flush=True,
                )
            if done == args.transitions:
                break
            case_id = ids[done % len(ids)]
            trigger = SUSPEND if (done // len(ids)) % 2 == 0 else RESUME
            r = cases.fire_transition(svc, so, case_id, trigger=trigger, data=data, comment=None, now=bs.NOW)
            if r.status != 200:
                raise SystemExit(f"bench_memory: {trigger} of case {case_id} answered {r.status}: {r.body}")
        warm = next((s for s in samples if s[0] >= args.transitions // 10), samples[0])
        last = samples[-1]
        per = 10_000 / max(1, last[0] - warm[0])
        print(
            f"  from {warm[0]:,} to {last[0]:,}: RSS {(last[1] - warm[1]) / 1024:+.1f} MiB "
            f"({(last[1] - warm[1]) * per:+.0f} KiB per 10,000 transitions)"
            + (f", traced {(last[2] - warm[2]) / 1024:+.2f} MiB" if args.tracemalloc else "")
            + f"; {last[3] / max(1, last[0]) * 1e6:.0f} µs per transition (wall, load average {bs._load()})"
        )
        if len(snaps) == 2:
            print("  top growing lines (tracemalloc):")
            for stat in snaps[1].compare_to(snaps[0], "lineno")[:8]:
                print(f"    {stat}")
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
