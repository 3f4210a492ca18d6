"""Load: clerks opening and advancing cases against ``fundflow serve --workers P`` on PostgreSQL.

    .venv/bin/python benchmarks/load.py                                  # P = 1, 2, 4; 0 / 10k / 100k stored cases
    .venv/bin/python benchmarks/load.py --workers 2 --stored 0 --duration 10
    .venv/bin/python benchmarks/load.py --launcher uvicorn --workers 2   # before the TCP_NODELAY fix

Each run works in a PostgreSQL database of its own (``fundflow_load_<pid>_<hex>``, created with
``CREATE DATABASE`` on the server of ``--pg-url`` and dropped with ``DROP DATABASE ... WITH
(FORCE)`` at the end, also after an error). Per stored-case count:

1. migrate, build the tests' small city (``tests/support/world.py: build_world``), then
   seed the stored cases with bulk Core inserts (``seed_cases``): cases, stages and events
   rows with valid hash chains, spread over the three communities and over ``reported``,
   ``site_survey`` and ``joint_meeting``; ids are given, the sequences moved past them;
2. per process count P: start ``fundflow serve --workers P`` (``FUNDFLOW_SCHEDULER=off``: a
   real deployment runs one ``fundflow scheduler`` beside the API processes; here none runs,
   so no scan competes with the clerks), wait for ``/healthz``, warm up, then let C clerk
   threads (httpx, one keep-alive connection per client) run journeys for ``--duration``
   seconds (bounded also by ``--max-requests``);
3. stop the server (SIGTERM to its process group, SIGKILL after 15 s).

A journey (the street office ``so`` and the fire authority ``fr`` of the tests' city):
``open`` POST /cases; ``upload`` hazard_photos (so), fire_notice (fr); ``transition``
confirm_major (fr); ``get_case`` GET /cases/{id}; ``upload`` site_record (so); ``transition``
complete_survey (so); ``list_mine`` GET /cases?mine=true (so's inbox, the read that grows
with the stored cases). Every ``--race-every``-th journey fires complete_survey from two
connections at the same moment: by design exactly one gets 200 and the other 409.

Exit code: 0 if every request got its expected status (409 only for the loser of a race),
1 otherwise, 2 if PostgreSQL or the service cannot be reached/imported. Requests go to
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

try:
    import bench_service as bs
    import httpx
    from bench_http import _cpu_of, _tree, free_port
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool
except Exception as exc:
    print(f"load: cannot import httpx or the service: {type(exc).__name__}: {exc}")
    sys.exit(2)

DEFAULT_PG = os.environ.get("FUNDFLOW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
READY_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 30
PDF = b"%PDF-1.4\n% fundflow load test\n" + b"0" * 1000 + b"\n%%EOF\n"
CONFIRM = {"trigger": "confirm_major", "data": bs.CONFIRM_DATA}
SURVEY = {"trigger": bs.TRIGGER, "data": bs.FIRE_DATA}
CALLS = ("open", "upload", "transition", "get_case", "list_mine")


# -- the database ------------------------------------------------------------------------------


@contextmanager
def pg_database(admin_url: str, prefix: str = "fundflow_load"):
    """A fresh database on the server of ``admin_url``; yields its URL; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(bs.psycopg_url(admin_url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False), name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_cases(p: bs.Prepared, n: int, now: datetime, batch: int = 5000) -> float:
    """``n`` stored cases by bulk Core inserts (executemany) of cases, stages and events rows.

    Must run on an empty ``cases`` table (ids 1..n are given). A third of the cases are in
    each community; by i % 3 a case sits in ``reported`` (1 event, 1 stage), ``site_survey``
    (2 events, 2 stages) or ``joint_meeting`` (3 events, 3 stages), opened 1-60 days ago, with
    a valid hash chain (``fundflow.service.audit.event_hash``) so ``fundflow audit verify`` passes.
    Returns the seconds it took."""
    from fundflow.service.audit import GENESIS, event_hash
    from fundflow.service.tables import Case, Event, Stage, User

    if n <= 0:
        return 0.0
    t0 = time.perf_counter()
    svc = p.svc
    with svc.sessions() as s:
        so = s.get(User, p.ids["user_so"])
        fr = s.get(User, p.ids["user_fr"])
        actors = {
            "so": (so.id, so.display_name, so.role, so.org_name),
            "fr": (fr.id, fr.display_name, fr.role, fr.org_name),
        }
        from fundflow.service.tables import Community, StreetOffice

        comms = []
        for key in ("community_a", "community_b", "community_c"):
            c = s.get(Community, p.ids[key])
            o = s.get(StreetOffice, c.street_office_id)
            comms.append((c.id, o.id, o.district_id))
    path = [
        ("open", None, "reported", "so", {}, "隐患上报（立案）"),
        ("confirm_major", "reported", "site_survey", "fr", bs.CONFIRM_DATA, "认定为重大火灾隐患"),
        (bs.TRIGGER, "site_survey", "joint_meeting", "so", bs.FIRE_DATA, "完成现场查勘"),
    ]
    ct, st, et = Case.__table__, Stage.__table__, Event.__table__
    stage_id = event_id = 0
    with svc.db.begin() as conn:
        for start in range(1, n + 1, batch):
            cases, stages, events = [], [], []
            for cid in range(start, min(n, start + batch - 1) + 1):
                comm, office, district = comms[cid % 3]
                steps = cid % 3 + 1
                opened = now - timedelta(days=1 + cid % 60, minutes=cid % 997)
                prev = GENESIS
                for seq in range(1, steps + 1):
                    trig, frm, to, who, data, label = path[seq - 1]
                    at = opened + timedelta(hours=seq - 1)
                    uid, name, role, org = actors[who]
                    h = event_hash(cid, seq, trig, frm, to, uid, name, role, org, data, None, at, prev)
                    event_id += 1
                    events.append(
                        dict(
                            id=event_id,
                            case_id=cid,
                            seq=seq,
                            trigger=trig,
                            label=label,
                            from_state=frm,
                            to_state=to,
                            user_id=uid,
                            user_name=name,
                            role=role,
                            org=org,
                            data=data,
                            comment=None,
                            at=at,
                            prev_hash=prev,
                            hash=h,
                        )
                    )
                    stage_id += 1
                    due = at + timedelta(days=7)
                    stages.append(
                        dict(
                            id=stage_id,
                            case_id=cid,
                            state=to,
                            entered_at=at,
                            left_at=at + timedelta(hours=1) if seq < steps else None,
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
                    prev = h
                last = opened + timedelta(hours=steps - 1)
                cases.append(
                    dict(
                        id=cid,
                        number=f"SEED{cid:09d}",
                        title=f"存量案件 {cid}",
                        definition_id=bs.DEFINITION,
                        definition_version=1,
                        state=path[steps - 1][2],
                        community_id=comm,
                        street_office_id=office,
                        district_id=district,
                        data={},
                        closed=False,
                        outcome=None,
                        suspended_since=None,
                        approved_amount=None,
                        advanced_amount=None,
                        settled_amount=None,
                        paid_amount=None,
                        created_by=actors["so"][0],
                        created_at=opened,
                        updated_at=last,
                        closed_at=None,
                        scope_building_ids=[],
                        event_count=steps,
                        head_hash=prev,
                        version=steps,
                    )
                )
            conn.execute(ct.insert(), cases)
            conn.execute(st.insert(), stages)
            conn.execute(et.insert(), events)
        if svc.db.dialect.name == "postgresql":
            for table in ("cases", "stages", "events"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


# -- the server --------------------------------------------------------------------------------


def fundflow_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "fundflow"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from fundflow.cli import app; app()"]


class Server:
    """``fundflow serve --workers P`` (or, for the before figure, ``python -m uvicorn ...
    --workers P``) in a process group of its own, on a fixed port so it can be restarted."""

    def __init__(
        self,
        url: str,
        data_dir: Path,
        workers: int,
        log_path: Path,
        launcher: str = "fundflow",
        port: int | None = None,
        env: dict | None = None,
    ):
        self.url, self.data_dir, self.workers, self.launcher = url, data_dir, workers, launcher
        self.extra_env = env or {}
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        env = dict(
            os.environ,
            FUNDFLOW_DATABASE_URL=self.url,
            FUNDFLOW_DATA_DIR=str(self.data_dir),
            FUNDFLOW_SCHEDULER="off",
            FUNDFLOW_ENVIRONMENT="development",
        )
        key = self.data_dir / "audit.pem"  # written by bench_service.prepare: the server seals its events
        if key.exists():
            env["FUNDFLOW_SIGNING_KEY_FILE"] = str(key)
        env.update(self.extra_env)
        if self.launcher == "fundflow":
            cmd = fundflow_cmd() + [
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ]
        else:  # what `fundflow serve` ran before the fix: uvicorn.run(..., workers=P)
            cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "fundflow.http.asgi:app",
                "--app-dir",
                str(ROOT),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ]
        self.log.write(f"--- start {self.starts + 1}: {' '.join(cmd)}\n".encode())
        self.log.flush()
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.starts += 1

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Seconds until /healthz answered 200 (from every worker, as far as 2*P probes on fresh
        connections can tell)."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        ok = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with httpx.Client(base_url=self.base, timeout=2.0, trust_env=False) as c:
                    ok = ok + 1 if c.get("/healthz").status_code == 200 else 0
            except httpx.HTTPError:
                ok = 0
            if ok >= 2 * self.workers:
                return time.monotonic() - t0
            time.sleep(0.05 if ok else 0.2)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s:\n{self.tail()}")

    def pids(self) -> list[int]:
        return _tree(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def cpu_s(self) -> float:
        return sum(_cpu_of(pid) for pid in self.pids())

    def kill(self) -> int:
        """SIGKILL to the whole process group (master and workers); returns how many processes."""
        pids = self.pids()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        # the workers are in the same group; wait (bounded) until none is left
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.02)
        return len(pids)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if not self.log.closed:
            self.log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            self.log.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, ValueError):
            return "(no log)"


def _set(ev: threading.Event) -> threading.Event:
    ev.set()
    return ev


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# -- the clerks --------------------------------------------------------------------------------


@dataclass
class Ack:
    """A change the server acknowledged with 2xx."""

    call: str
    case_id: int
    trigger: str  # open / attach_document / the transition's trigger
    seq: int  # the event this change appended: its place in the case's chain
    version: int | None = None  # the case version in the reply (open, transition)
    document_id: int | None = None
    doc_type: str | None = None


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CALLS})
    statuses: Counter = field(default_factory=Counter)  # (call, "200") / (call, "409 code") / (call, "error X")
    unexpected: list[str] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    journeys: int = 0
    races: int = 0
    race_ok: int = 0

    def merge(self, other: Tally) -> None:
        for c in CALLS:
            self.latencies[c].extend(other.latencies[c])
        self.statuses.update(other.statuses)
        self.unexpected.extend(other.unexpected)
        self.acks.extend(other.acks)
        self.journeys += other.journeys
        self.races += other.races
        self.race_ok += other.race_ok

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())


class Abandon(Exception):
    """The journey cannot go on (no answer, or an answer it did not expect)."""


@dataclass
class Plan:
    base: str
    tokens: dict[str, str]
    community_id: int
    deadline: float  # time.monotonic()
    max_requests: int
    race_every: int = 10
    tolerate_transport_errors: bool = False  # crash mode: a killed server does not answer
    stop: threading.Event = field(default_factory=threading.Event)
    up: threading.Event = field(default_factory=lambda: _set(threading.Event()))  # cleared while the server is down
    _sent: itertools.count = field(default_factory=itertools.count)
    _journeys: itertools.count = field(default_factory=lambda: itertools.count(1))
    on_ack: Callable[[Ack], None] | None = None

    def may_send(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline and next(self._sent) < self.max_requests

    def next_journey(self) -> int:
        return next(self._journeys)


class Clerk:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.tally = Tally()

        def mk(who: str) -> httpx.Client:
            return httpx.Client(
                base_url=plan.base,
                timeout=REQUEST_TIMEOUT_S,
                trust_env=False,
                headers={"Authorization": f"Bearer {plan.tokens[who]}"},
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )

        self.so, self.fr, self.so2 = mk("so"), mk("fr"), mk("so")
        self.pool = ThreadPoolExecutor(1)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for c in (self.so, self.fr, self.so2):
            c.close()

    def call(
        self, client: httpx.Client, call: str, method: str, path: str, expect: tuple[int, ...], race: bool = False, **kw
    ) -> tuple[int, Any]:
        if not self.plan.may_send():
            raise Abandon("budget")
        t0 = time.perf_counter()
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.tally.statuses[(call, f"error {type(exc).__name__}")] += 1
            if not self.plan.tolerate_transport_errors:
                self.tally.unexpected.append(f"{call} {method} {path}: {type(exc).__name__}: {exc}")
            raise Abandon("transport") from None
        self.tally.latencies[call].append(time.perf_counter() - t0)
        try:
            body = r.json()
        except ValueError:
            body = None
        key = str(r.status_code) if r.status_code < 300 else f"{r.status_code} {(body or {}).get('code', '?')}"
        self.tally.statuses[(call, key)] += 1
        if r.status_code not in expect:
            self.tally.unexpected.append(f"{call} {method} {path}: {key}: {str(body)[:300]}")
            raise Abandon("status")
        return r.status_code, body

    def ack(self, a: Ack) -> None:
        self.tally.acks.append(a)
        if self.plan.on_ack:
            self.plan.on_ack(a)

    def upload(self, client: httpx.Client, case_id: int, doc_type: str, seq: int) -> None:
        _, body = self.call(
            client,
            "upload",
            "POST",
            f"/api/v1/cases/{case_id}/documents",
            (201,),
            data={"doc_type": doc_type},
            files={"file": (f"{doc_type}.pdf", PDF, "application/pdf")},
        )
        self.ack(Ack("upload", case_id, "attach_document", seq, document_id=body["id"], doc_type=doc_type))

    def fire(self, client: httpx.Client, case_id: int, body: dict, seq: int, expect=(200,)) -> tuple[int, Any]:
        status, reply = self.call(
            client, "transition", "POST", f"/api/v1/cases/{case_id}/transitions", expect, json=body
        )
        if status == 200:
            self.ack(Ack("transition", case_id, body["trigger"], seq, version=reply["version"]))
        return status, reply

    def journey(self, n: int) -> None:
        p = self.plan
        _, body = self.call(
            self.so,
            "open",
            "POST",
            "/api/v1/cases",
            (201,),
            json={
                "definition": bs.DEFINITION,
                "community_id": p.community_id,
                "title": f"负载测试案件 {threading.get_ident() % 10000}-{n}",
                "data": {},
            },
        )
        cid = body["id"]
        # each step needs the one before, so the events of a journey's acknowledged changes
        # have fixed places in the chain: open #1, uploads #2 #3, confirm #4, upload #5, survey #6
        self.ack(Ack("open", cid, "open", 1, version=body["version"]))
        self.upload(self.so, cid, "hazard_photos", 2)
        self.upload(self.fr, cid, "fire_notice", 3)
        self.fire(self.fr, cid, CONFIRM, 4)
        self.call(self.so, "get_case", "GET", f"/api/v1/cases/{cid}", (200,))
        self.upload(self.so, cid, "site_record", 5)
        if p.race_every and n % p.race_every == 0:
            self.race(cid)
        else:
            self.fire(self.so, cid, SURVEY, 6)
        self.call(self.so, "list_mine", "GET", "/api/v1/cases", (200,), params={"mine": "true", "page_size": 20})

    def race(self, cid: int) -> None:
        """Two connections fire complete_survey on the same case at the same moment."""
        barrier = threading.Barrier(2, timeout=REQUEST_TIMEOUT_S)

        def one(client):
            barrier.wait()
            try:
                return self.fire(client, cid, SURVEY, 6, expect=(200, 409))[0]
            except Abandon:
                return None

        other = self.pool.submit(one, self.so2)
        mine = one(self.so)
        theirs = other.result(timeout=2 * REQUEST_TIMEOUT_S)
        self.tally.races += 1
        if None in (mine, theirs):
            return  # a request got no answer (crash mode): nothing to say about this pair
        if sorted((mine, theirs)) == [200, 409]:
            self.tally.race_ok += 1
        else:
            self.tally.unexpected.append(f"race on case {cid}: {mine} and {theirs}, not one 200 and one 409")

    def run(self) -> None:
        try:
            while self.plan.may_send():
                n = self.plan.next_journey()
                try:
                    self.journey(n)
                    self.tally.journeys += 1
                except Abandon as why:
                    if str(why) == "transport" and self.plan.tolerate_transport_errors:
                        # the server is down: wait (bounded) until it is back, then start a new journey
                        self.plan.up.wait(max(0.0, self.plan.deadline - time.monotonic()))
                        time.sleep(0.01)
        finally:
            self.close()


def run_clerks(plan: Plan, clients: int) -> tuple[Tally, float]:
    clerks = [Clerk(plan) for _ in range(clients)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clerks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, plan.deadline - time.monotonic()) + 2 * REQUEST_TIMEOUT_S)
    wall = time.perf_counter() - t0
    if any(t.is_alive() for t in threads):
        plan.stop.set()
        raise RuntimeError("a clerk thread did not finish in time")
    total = Tally()
    for c in clerks:
        total.merge(c.tally)
    return total, wall


# -- report ------------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[max(0, math.ceil(q * len(xs)) - 1)] * 1e3 if xs else float("nan")


def expected_409s(t: Tally) -> int:
    return sum(v for (call, key), v in t.statuses.items() if key.startswith("409"))


def report_run(label: str, t: Tally, wall: float, server_cpu: float) -> list[str]:
    n = t.requests
    print(
        f"  {label}: {n} requests in {wall:.1f} s = {n / wall:.0f} req/s, {t.journeys / wall:.1f} journeys/s; "
        f"server CPU {server_cpu / max(n, 1) * 1e3:.1f} ms/req"
    )
    print("      call          count   p50 ms   p99 ms")
    for c in CALLS:
        xs = t.latencies[c]
        if xs:
            print(f"      {c:<12} {len(xs):6d} {pct(xs, 0.5):8.1f} {pct(xs, 0.99):8.1f}")
    non2 = {f"{call} {key}": v for (call, key), v in sorted(t.statuses.items()) if not key.startswith("2")}
    print(
        f"      non-2xx: {', '.join(f'{v} x {k}' for k, v in non2.items()) or 'none'}; races {t.races}, "
        f"each one 200 + one 409: {t.race_ok}"
    )
    problems = [f"{label}: {u}" for u in t.unexpected[:20]]
    if expected_409s(t) != t.race_ok:
        problems.append(f"{label}: {expected_409s(t)} 409s but {t.race_ok} well-formed races")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4", help="process counts, comma-separated (default 1,2,4)")
    ap.add_argument("--stored", default="0,10000,100000", help="stored cases seeded first, comma-separated")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clerk threads (default 8)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds measured per run (default 20)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server (default 3)")
    ap.add_argument("--max-requests", type=int, default=20000, help="hard cap of requests per run")
    ap.add_argument("--race-every", type=int, default=10, help="every N-th journey races complete_survey (0: none)")
    ap.add_argument(
        "--launcher",
        choices=("fundflow", "uvicorn"),
        default="fundflow",
        help="fundflow: `fundflow serve --workers P`; uvicorn: `python -m uvicorn ... --workers P` "
        "(what `fundflow serve` ran before the TCP_NODELAY fix)",
    )
    ap.add_argument("--pg-url", default=DEFAULT_PG, help=f"a database on the PostgreSQL server (default {DEFAULT_PG})")
    args = ap.parse_args(argv)
    workers = [int(x) for x in args.workers.split(",") if x.strip()]
    stored = [int(x) for x in args.stored.split(",") if x.strip()]
    why = bs.pg_reachable(args.pg_url)
    if why:
        print(f"load: PostgreSQL not reachable at {args.pg_url}: {why}")
        return 2
    print(
        f"fundflow load: Python {platform.python_version()}, httpx {httpx.__version__}, {platform.system()} "
        f"{platform.machine()}, {bs._cpus()} CPU; load average {bs._load()}"
    )
    print(
        f"{args.clients} clerk threads, {args.duration:.0f} s per run after {args.warmup:.0f} s warm-up; launcher "
        f"{args.launcher}; FUNDFLOW_SCHEDULER=off; every {args.race_every}th journey races complete_survey"
    )
    problems: list[str] = []
    t_start = time.perf_counter()
    for n_stored in stored:
        tmp = Path(tempfile.mkdtemp(prefix="fundflow_load_"))
        try:
            with pg_database(args.pg_url) as (url, dbname):
                now = datetime.now(UTC)
                t0 = time.perf_counter()
                p = bs.prepare(url, tmp / "data", now)
                t_world = time.perf_counter() - t0
                t_seed = seed_cases(p, n_stored, now)
                p.svc.db.dispose()
                print(f"\n== {n_stored:,} stored cases (database {dbname}; city {t_world:.1f} s, seed {t_seed:.1f} s)")
                for w in workers:
                    with p.svc.db.connect() as conn:
                        have = conn.execute(text("SELECT count(*) FROM cases")).scalar()
                    server = Server(url, tmp / "data", w, tmp / f"server_{w}.log", args.launcher)
                    try:
                        server.start()
                        ready = server.wait_ready()
                        warm = Plan(
                            server.base,
                            p.tokens,
                            p.ids["community_a"],
                            time.monotonic() + args.warmup,
                            args.max_requests,
                            args.race_every,
                        )
                        wt, _ = run_clerks(warm, args.clients)
                        problems += [f"warm-up: {u}" for u in wt.unexpected[:5]]
                        plan = Plan(
                            server.base,
                            p.tokens,
                            p.ids["community_a"],
                            time.monotonic() + args.duration,
                            args.max_requests,
                            args.race_every,
                        )
                        cpu0 = server.cpu_s()
                        t, wall = run_clerks(plan, args.clients)
                        cpu = server.cpu_s() - cpu0
                    finally:
                        server.stop()
                    problems += report_run(
                        f"--workers {w} ({have:,} cases at start, ready in {ready:.1f} s)", t, wall, cpu
                    )
                p.svc.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for pr in problems:
        print(f"PROBLEM: {pr}")
    print(
        f"\ntotal {time.perf_counter() - t_start:.0f} s; load average {bs._load()}; "
        f"{'no request failed except by design' if not problems else f'{len(problems)} problem(s)'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
