"""Crash test: SIGKILL the API processes again and again under load; nothing acknowledged is lost.

    .venv/bin/python scripts/crash_test.py                       # 2 workers, 5 kills, 8 clerks
    .venv/bin/python scripts/crash_test.py --workers 1 --kills 2 --max-requests 150 --clients 3

In a database of its own (``CREATE DATABASE fundflow_crash_<pid>_<hex>``, dropped at the end)
with the tests' small city, ``fundflow serve --workers P`` (``FUNDFLOW_SCHEDULER=off``) takes
the load of ``benchmarks/load.py`` (clerks opening cases, uploading documents, firing
``confirm_major`` and ``complete_survey``, some of them racing). Every ``--every`` acknowledged
changes, the whole process group of the server (master and workers) gets SIGKILL, mid-request,
and ``fundflow serve`` is started again on the same port. Requests that get no answer are
not retried (their journey is dropped); every 2xx answer is recorded: case id, trigger, the
place of its event in the case's chain, the case version or document id it answered.

After the last restart and the end of the load, against the database:

* every acknowledged change is there: the case's event at that seq has that trigger, the
  case's version is at least the one answered, each acknowledged document row exists with
  its file; no trigger of a journey is recorded twice for a case;
* ``fundflow.service.audit.verify_all`` (what ``fundflow audit verify`` runs) finds no break;
* no case is half-written: ``event_count`` = its number of events, ``state`` = the last
  event's ``to_state``, exactly one open stage (in that state) for each open case, none for
  a closed one; every document row names a file that exists;
* the servers seal their events and their embedded schedulers sign a checkpoint every second
  (so kills land mid-checkpoint too): after one last checkpoint every event is numbered, and
  ``verify_state`` (what ``fundflow audit verify`` runs) has no finding.

Prints a summary; exit 1 on any violation, 2 if PostgreSQL cannot be reached.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

load = importlib.import_module("load")  # benchmarks/load.py, found through the path above
bs, text = load.bs, load.text

ACK_WAIT_S = 60  # the longest the killer waits for the next batch of acknowledged changes


@dataclass
class Outcome:
    kills: int = 0
    processes_killed: int = 0
    restarts: list[float] = field(default_factory=list)  # seconds until /healthz answered again
    requests: int = 0
    acks: Counter = field(default_factory=Counter)
    transport_errors: int = 0
    races: int = 0
    race_ok: int = 0
    cases: int = 0
    events: int = 0
    audit_checked: int = 0
    checkpoints_during_load: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        acks = ", ".join(f"{v} {k}" for k, v in sorted(self.acks.items()))
        lines = [
            f"crash test: {self.kills} SIGKILL(s) of the server's process group ({self.processes_killed} processes), "
            f"restarted in {', '.join(f'{r:.1f}' for r in self.restarts)} s",
            f"  {self.requests} requests answered; {sum(self.acks.values())} changes acknowledged 2xx ({acks}); "
            f"{self.transport_errors} requests without an answer (killed mid-flight or server down)",
            f"  races: {self.races}, one 200 + one 409: {self.race_ok} (the others lost a request to a kill)",
            f"  database: {self.cases} cases, {self.events} events; audit chains verified: {self.audit_checked} cases; "
            f"{self.checkpoints_during_load} checkpoints signed under load, whole state verified",
            f"  {len(self.violations)} violation(s)" + ("" if not self.violations else ":"),
        ]
        lines += [f"    {v}" for v in self.violations[:50]]
        lines.append(f"  {self.seconds:.1f} s")
        return "\n".join(lines)


def run(
    pg_url: str = load.DEFAULT_PG,
    workers: int = 2,
    kills: int = 5,
    clients: int = 8,
    every: int = 150,
    max_requests: int = 20000,
    time_limit: float = 300.0,
    race_every: int = 7,
    quiet: bool = False,
) -> Outcome:
    """The whole test; bounded by ``time_limit`` seconds of load (plus setup and checks)."""
    out = Outcome()
    t_start = time.monotonic()
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    tmp = Path(tempfile.mkdtemp(prefix="fundflow_crash_"))
    try:
        with load.pg_database(pg_url, prefix="fundflow_crash") as (url, dbname):
            now = datetime.now(UTC)
            p = bs.prepare(url, tmp / "data", now)
            p.svc.db.dispose()
            # the embedded scheduler signs a checkpoint every second, so that kills land mid-checkpoint too
            server = load.Server(
                url,
                tmp / "data",
                workers,
                tmp / "server.log",
                env={
                    "FUNDFLOW_SCHEDULER": "embedded",
                    "FUNDFLOW_SCAN_INTERVAL_SECONDS": "1",
                    "FUNDFLOW_CHECKPOINT_INTERVAL_SECONDS": "1",
                },
            )
            clerks_thread = None
            plan = None
            try:
                server.start()
                server.wait_ready()
                say(
                    f"database {dbname}; fundflow serve --workers {workers} on {server.base}; "
                    f"{clients} clerks; a kill every {every} acknowledged changes"
                )
                acked = [0]
                lock = threading.Lock()

                def on_ack(_a):
                    with lock:
                        acked[0] += 1

                plan = load.Plan(
                    server.base,
                    p.tokens,
                    p.ids["community_a"],
                    time.monotonic() + time_limit,
                    max_requests,
                    race_every,
                    tolerate_transport_errors=True,
                    on_ack=on_ack,
                )
                result: dict = {}

                def drive():
                    try:
                        result["tally"], result["wall"] = load.run_clerks(plan, clients)
                    except Exception as exc:
                        result["error"] = exc

                clerks_thread = threading.Thread(target=drive, daemon=True)
                clerks_thread.start()
                for k in range(kills + 1):
                    target = (k + 1) * every
                    deadline = time.monotonic() + ACK_WAIT_S
                    while acked[0] < target and time.monotonic() < deadline and clerks_thread.is_alive():
                        time.sleep(0.005)
                    if acked[0] < target:
                        out.violations.append(
                            f"only {acked[0]} changes acknowledged, waiting for {target} "
                            f"(before kill {k + 1}): the load stalled or the budget ran out"
                        )
                        break
                    if k == kills:
                        break  # the load ran on after the last restart; stop it
                    plan.up.clear()
                    out.processes_killed += server.kill()
                    out.kills += 1
                    server.start()
                    out.restarts.append(server.wait_ready())
                    plan.up.set()
                    say(f"  kill {out.kills}: {acked[0]} changes acknowledged so far; back in {out.restarts[-1]:.1f} s")
            finally:
                if plan is not None:
                    plan.stop.set()
                    plan.up.set()
                if clerks_thread is not None:
                    clerks_thread.join(2 * load.REQUEST_TIMEOUT_S + 10)
                server.stop()
            if clerks_thread.is_alive():
                out.violations.append("the clerk threads did not stop in time")
            if "error" in result:
                out.violations.append(f"the load failed: {type(result['error']).__name__}: {result['error']}")
            tally = result.get("tally")
            if tally is not None:
                out.requests = tally.requests
                out.races, out.race_ok = tally.races, tally.race_ok
                out.transport_errors = sum(v for (c, k), v in tally.statuses.items() if k.startswith("error"))
                out.acks = Counter(a.trigger for a in tally.acks)
                out.violations += [f"unexpected answer: {u}" for u in tally.unexpected]
                if load.expected_409s(tally) != tally.race_ok:
                    out.violations.append(f"{load.expected_409s(tally)} 409s but {tally.race_ok} well-formed races")
                p2 = bs.build_services(
                    bs.Settings(database_url=url, data_dir=tmp / "data", signing_key_file=tmp / "data" / "audit.pem")
                )
                try:
                    check(p2, tally.acks, out)
                finally:
                    p2.close()
            p.svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        out.seconds = time.monotonic() - t_start
    return out


def check(svc, acks: list, out: Outcome) -> None:
    """Every acknowledged change is in the database; the chains verify; no case is half-written."""
    from fundflow.service.audit import verify_all

    v = out.violations
    with svc.db.connect() as conn:
        events = {
            (r.case_id, r.seq): r.trigger for r in conn.execute(text('SELECT case_id, seq, "trigger" FROM events'))
        }
        cases = {r.id: r for r in conn.execute(text("SELECT id, state, closed, version, event_count FROM cases"))}
        docs = {r.id: r for r in conn.execute(text("SELECT id, case_id, doc_type, sha256 FROM documents"))}
        counts = dict(conn.execute(text("SELECT case_id, count(*) FROM events GROUP BY case_id")).all())
        last_to = dict(
            conn.execute(
                text(
                    "SELECT e.case_id, e.to_state FROM events e JOIN cases c ON c.id = e.case_id AND e.seq = c.event_count"
                )
            ).all()
        )
        open_stages: dict[int, list[str]] = {}
        for r in conn.execute(text("SELECT case_id, state FROM stages WHERE left_at IS NULL")):
            open_stages.setdefault(r.case_id, []).append(r.state)
        per_trigger = conn.execute(
            text(
                "SELECT case_id, \"trigger\", count(*) FROM events WHERE \"trigger\" IN ('open', 'confirm_major', "
                "'complete_survey') GROUP BY case_id, \"trigger\" HAVING count(*) > 1"
            )
        ).all()
    out.cases, out.events = len(cases), len(events)
    # 1. every acknowledged change is present
    for a in acks:
        got = events.get((a.case_id, a.seq))
        if got != a.trigger:
            v.append(
                f"lost: case {a.case_id} answered 2xx for {a.trigger} as event #{a.seq}, but event #{a.seq} is {got!r}"
            )
        c = cases.get(a.case_id)
        if c is None:
            v.append(f"lost: case {a.case_id} ({a.trigger} answered 2xx) does not exist")
            continue
        if a.version is not None and c.version < a.version:
            v.append(f"lost: case {a.case_id} answered version {a.version} for {a.trigger}, now at {c.version}")
        if a.document_id is not None:
            d = docs.get(a.document_id)
            if d is None or d.case_id != a.case_id or d.doc_type != a.doc_type:
                v.append(f"lost: document {a.document_id} ({a.doc_type}) of case {a.case_id} answered 201, row is {d}")
    for case_id, trig, n in per_trigger:
        v.append(f"duplicated: case {case_id} has {n} {trig} events")
    # 2. the audit chains
    with svc.sessions() as s:
        out.audit_checked, breaks = verify_all(s)
    v += [f"audit: {b}" for b in breaks]
    if out.audit_checked != len(cases):
        v.append(f"audit checked {out.audit_checked} cases of {len(cases)}")
    # 3. no case half-written
    for cid, c in cases.items():
        if counts.get(cid, 0) != c.event_count:
            v.append(f"half-written: case {cid} records {c.event_count} events, has {counts.get(cid, 0)}")
        if last_to.get(cid) != c.state:
            v.append(f"half-written: case {cid} is in {c.state!r}, its last event leads to {last_to.get(cid)!r}")
        stages = open_stages.get(cid, [])
        if not c.closed and stages != [c.state]:
            v.append(f"half-written: open case {cid} in {c.state!r} has open stages {stages}")
        if c.closed and stages:
            v.append(f"half-written: closed case {cid} has open stages {stages}")
    docs_dir = svc.settings.documents_dir
    for d in docs.values():
        if not (docs_dir / str(d.case_id) / d.sha256).is_file():
            v.append(f"half-written: document {d.id} of case {d.case_id} names a missing file")
    # 4. the whole state, after a last checkpoint over what the killed schedulers left unnumbered
    from fundflow.service.integrity.checkpoints import write_checkpoint
    from fundflow.service.integrity.verify import verify_state

    with svc.sessions() as s:
        out.checkpoints_during_load = s.execute(text("SELECT COUNT(*) FROM checkpoints")).scalar_one()
    write_checkpoint(svc, datetime.now(UTC), force=True)
    with svc.sessions() as s:
        report = verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier)
        unnumbered = s.execute(text("SELECT COUNT(*) FROM events WHERE gseq IS NULL")).scalar_one()
    v += [f"verify: {f}" for f in report.findings]
    if unnumbered:
        v.append(f"{unnumbered} event(s) left out of every checkpoint")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--every", type=int, default=150, help="acknowledged changes between kills (default 150)")
    ap.add_argument("--max-requests", type=int, default=20000)
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds of load at most (default 300)")
    ap.add_argument("--pg-url", default=load.DEFAULT_PG)
    args = ap.parse_args(argv)
    why = bs.pg_reachable(args.pg_url)
    if why:
        print(f"crash_test: PostgreSQL not reachable at {args.pg_url}: {why}")
        return 2
    out = run(args.pg_url, args.workers, args.kills, args.clients, args.every, args.max_requests, args.time_limit)
    print(out.summary())
    return 1 if out.violations else 0


if __name__ == "__main__":
    sys.exit(main())
