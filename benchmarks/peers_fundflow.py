"""fundflow as a contender of the peers' yardstick (``../shared/peers/bench_lifecycle.py --plugin``).

    .venv/bin/python ../shared/peers/bench_lifecycle.py --n 100 --db all --repeat 5 \\
        --only sql_floor,dbapi_floor,spiff_rehydrate,fundflow_fire,fundflow_case \\
        --plugin benchmarks/peers_fundflow.py --out /tmp/lifecycle.json

Two contenders, both walking ``len(ctx.plans)`` cases of ``fire_hazard_emergency`` from
``reported`` to ``archived`` through the use cases (``tests/support/flows.py``'s walk: every
document uploaded, every vote recorded, the four acceptance signatures, the notice and
warranty periods run out), on fundflow's own tables in the harness's database (SQLite: the
same file, with the round's ``synchronous``; PostgreSQL: a fresh schema, dropped at exit):

* ``fundflow_fire``: only the ``fire_transition`` calls are timed; the figure is the mean
  time of one fire times the harness's step count (so µs/step = µs per fire_transition);
* ``fundflow_case``: the whole walk is timed (uploads, votes, signatures, fires); the figure
  is the walk's time per fire times the harness's step count.

The harness's tables are not written, so both return ``verify: False``; each walk checks
that the case ends archived. Setup (migration, the tests' small city) is untimed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

APPROVED = "100.00"  # small amounts: every case of the run pays from the same community


def _fundflow_world(ctx):
    """Services on the harness's database (fundflow's own tables), the tests' city, a Flow."""
    import tempfile
    from contextlib import ExitStack

    from sqlalchemy import event

    from benchmarks.bench_service import pg_schema, prepare

    stack = ExitStack()
    atexit.register(stack.close)
    tmp = Path(tempfile.mkdtemp(prefix="peers_fundflow_"))
    atexit.register(shutil.rmtree, tmp, True)
    if ctx.db.startswith("sqlite"):
        url = ctx.db_url
    else:
        base = ctx.db_url.replace("postgresql+psycopg://", "postgresql://", 1)
        url, _schema = stack.enter_context(pg_schema(base, "peers_ff"))
    p = prepare(url, tmp / "data")
    if ctx.db.startswith("sqlite"):
        sync = "FULL" if ctx.db == "sqlite" else "NORMAL"

        @event.listens_for(p.svc.db, "connect")
        def _sync(dbapi_conn, _rec):  # after fundflow's own PRAGMAs
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.close()

        p.svc.db.dispose()
    return p


def _flow(p):
    from tests.support.flows import Flow
    from tests.support.world import NOW, World

    world = World(p.svc, None, p.ids, p.tokens)

    class KnownFlow(Flow):
        """Keeps each case's state from the replies instead of reading the case again."""

        known: dict[int, str] = {}

        def open(self, *a, **kw):
            cid = super().open(*a, **kw)
            self.known[cid] = "reported"
            return cid

        def fire(self, who, case_id, trigger, data=None, **kw):
            body = super().fire(who, case_id, trigger, data, **kw)
            self.known[case_id] = body["state"]
            return body

        def state(self, case_id):
            return self.known[case_id]

    return KnownFlow(world, NOW), NOW


CPU_LOG = os.environ.get("FUNDFLOW_CPU_LOG")  # a file: each run appends its CPU seconds per fire (JSON line)


def _contender(whole: bool, tree: str | None = None, name: str = "fundflow"):
    def factory(ctx):
        if tree is not None:  # another checkout of fundflow (e.g. before a change), same run
            sys.path.insert(0, tree)
        from fundflow.service.usecases import cases

        p = _fundflow_world(ctx)
        flow, start = _flow(p)
        if not os.environ.get("FUNDFLOW_NO_FREEZE"):
            # as a served process does once it has started (fundflow.service.heap), if this
            # tree has it (a --before tree may not)
            try:
                from fundflow.service.heap import freeze_startup
            except ImportError:
                pass
            else:
                freeze_startup()
        steps = sum(len(plan.path) for plan in ctx.plans)
        real_fire = cases.fire_transition
        spent = [0.0, 0]

        cpu = [0.0]

        def timed_fire(*a, **kw):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return real_fire(*a, **kw)
            finally:
                spent[0] += time.perf_counter() - t0
                cpu[0] += time.process_time() - c0
                spent[1] += 1

        def run():
            cases.fire_transition = timed_fire
            try:
                t0 = time.perf_counter()
                for _plan in ctx.plans:
                    flow.now = start
                    cid = flow.open()
                    for _ in range(25):
                        if flow.state(cid) == "archived":
                            break
                        flow.step(cid, APPROVED, APPROVED, None)
                    else:
                        raise RuntimeError(f"case {cid} did not reach archived")
                wall = time.perf_counter() - t0
            finally:
                cases.fire_transition = real_fire
            per_fire = (wall if whole else spent[0]) / spent[1]
            if CPU_LOG:  # this process's CPU only (not the database server's): robust to a busy machine
                import json

                with open(CPU_LOG, "a") as f:
                    line = {
                        "contender": name,
                        "db": ctx.db,
                        "fires": spent[1],
                        "cpu_us_per_fire": cpu[0] / spent[1] * 1e6,
                    }
                    f.write(json.dumps(line) + "\n")
            return {"elapsed_s": per_fire * steps, "verify": False}

        return run

    return factory


if "CONTENDERS" in globals():  # run by the harness (--plugin), not imported
    CONTENDERS = globals()["CONTENDERS"]
    CONTENDERS["fundflow_fire"] = _contender(whole=False, name="fundflow_fire")
    CONTENDERS["fundflow_case"] = _contender(whole=True, name="fundflow_case")
    # FUNDFLOW_BEFORE_TREE=/path/to/another/checkout: the same two contenders on that code,
    # in the same interleaved rounds (every contender runs in a fresh worker process)
    _before = os.environ.get("FUNDFLOW_BEFORE_TREE")
    if _before:
        CONTENDERS["fundflow_fire_before"] = _contender(whole=False, tree=_before, name="fundflow_fire_before")
        CONTENDERS["fundflow_case_before"] = _contender(whole=True, tree=_before, name="fundflow_case_before")
