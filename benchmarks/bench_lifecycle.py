"""Statements per transition, and the lifecycle comparison with the peers' yardstick.

    .venv/bin/python benchmarks/bench_lifecycle.py --statements [--db sqlite|postgres|all]
    .venv/bin/python benchmarks/bench_lifecycle.py --run [--n 60 --repeat 5 --db all --out FILE]
        [--before /path/to/a/checkout/of/fundflow/before/a/change]

``--statements`` walks one ``fire_hazard_emergency`` case from ``reported`` to ``archived``
through the use cases (as ``peers_fundflow.py`` does) and counts, per ``fire_transition``
call, the statements the driver was given (SQLAlchemy ``before_cursor_execute``; SQLite's
``BEGIN IMMEDIATE`` shown apart; COMMIT is the driver's ``commit()``, not a statement).

``--run`` runs ``../shared/peers/bench_lifecycle.py`` with ``peers_fundflow.py`` as a plugin:
the floor (SQLAlchemy Core UPDATE + INSERT), the raw-driver floor, rehydrated SpiffWorkflow
and fundflow in the same interleaved rounds; ratios are taken inside a round.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PEERS = ROOT.parent / "shared" / "peers" / "bench_lifecycle.py"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONTENDERS = "sql_floor,dbapi_floor,spiff_rehydrate,fundflow_fire,fundflow_case"


class _Ctx:
    def __init__(self, db: str, db_url: str):
        self.db, self.db_url, self.plans = db, db_url, []


def statements(db: str) -> dict[str, list[int]]:
    """trigger -> [statements of each fire] (without BEGIN), over one walked case."""
    from sqlalchemy import event

    from benchmarks import peers_fundflow as pf
    from fundflow.service.usecases import cases

    tmp = tempfile.mkdtemp(prefix="ff_stmts_")
    atexit.register(shutil.rmtree, tmp, True)
    url = f"sqlite:///{tmp}/f.db" if db.startswith("sqlite") else DEFAULT_PG
    p = pf._fundflow_world(_Ctx(db, url))
    flow, _ = pf._flow(p)
    log: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        log.append(statement)

    counts: dict[str, list[int]] = collections.defaultdict(list)
    real = cases.fire_transition

    def counted(*a, **kw):
        log.clear()
        event.listen(p.svc.db, "before_cursor_execute", before)
        try:
            return real(*a, **kw)
        finally:
            event.remove(p.svc.db, "before_cursor_execute", before)
            counts[kw["trigger"]].append(sum(1 for s in log if not s.startswith("BEGIN")))

    cases.fire_transition = counted
    try:
        cid = flow.open()
        for _ in range(25):
            if flow.state(cid) == "archived":
                break
            flow.step(cid, pf.APPROVED, pf.APPROVED, None)
    finally:
        cases.fire_transition = real
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--statements", action="store_true")
    ap.add_argument("--run", action="store_true")
    ap.add_argument("--db", default="all", choices=["sqlite", "sqlite-normal", "postgres", "all"])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--peers", default=str(PEERS), help="the yardstick's bench_lifecycle.py")
    ap.add_argument("--before", help="another checkout of fundflow to run beside this one, same rounds")
    ap.add_argument("--contenders", default=CONTENDERS, help="comma-separated (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.statements:
        for db in ("sqlite", "postgres") if args.db == "all" else (args.db,):
            counts = statements(db)
            fires = [c for v in counts.values() for c in v]
            print(f"## {db}: {len(fires)} fires, {sum(fires) / len(fires):.1f} statements per fire (+ BEGIN, COMMIT)")
            print("| trigger | statements (each fire) |\n|---|---|")
            for trig, v in counts.items():
                print(f"| {trig} | {', '.join(map(str, v))} |")
            print()
    if args.run:
        cmd = [sys.executable, args.peers, "--n", str(args.n), "--db", args.db, "--repeat", str(args.repeat)]
        env = dict(os.environ)
        only = args.contenders
        if args.before:
            env["FUNDFLOW_BEFORE_TREE"] = str(Path(args.before).resolve())
            only += ",fundflow_fire_before,fundflow_case_before"
        cmd += ["--only", only, "--plugin", str(ROOT / "benchmarks" / "peers_fundflow.py")]
        if args.out:
            cmd += ["--out", args.out]
        return subprocess.call(cmd, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
