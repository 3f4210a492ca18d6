"""Durable transitions per second: the use case against the SQL floor, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_service.py           # full run (about 35 s)
    .venv/bin/python benchmarks/bench_service.py --quick   # smoke run (about 10 s)
    .venv/bin/python benchmarks/bench_service.py --backends sqlite --pg-url postgresql://...

For each database, in the same run:

* **use case**: ``fundflow.service.usecases.cases.fire_transition`` fires ``complete_survey``
  (site_survey -> joint_meeting) on cases prepared in ``site_survey`` with the required
  document. Each fire enters a new stage, so it writes the versioned case row, closes the
  old stage row, inserts the new one with its deadlines and appends the hash-chained event,
  in one transaction; then it builds the reply (``case_view``).
* **SQL floor**: the statements that one real fire issued (captured with SQLAlchemy's
  ``before_cursor_execute``), replayed by hand on a raw DBAPI connection of the same engine
  with fresh parameters per case: one transaction per case, ``BEGIN IMMEDIATE`` on SQLite.
* diagnostics: the floor through SQLAlchemy Core (``exec_driver_sql``), the floor without
  the reads that only build the reply, and on PostgreSQL the use case on an engine without
  ``pool_pre_ping``; then a cProfile of the use case.

The PostgreSQL half runs in a schema of its own (``bench_svc_<pid>_<random>``), dropped at
the end; SQLite in a temporary directory. Writes no file in the repository. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFINITION = "fire_hazard_emergency"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
TRIGGER, SOURCE, DEST = "complete_survey", "site_survey", "joint_meeting"
FIRE_DATA = {"survey_date": "2026-03-01", "survey_findings": "楼道堆放杂物，消防通道堵塞"}
CONFIRM_DATA = {"notice_no": "株消隐字〔2026〕1号", "finding_route": "direct", "hazard_elements": "疏散通道堵塞"}
DOCUMENTS = ("hazard_photos", "fire_notice", "site_record")  # what reported and site_survey ask for
RATIO_GOAL = 0.8

try:
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import NullPool

    from fundflow.service.config import Settings
    from fundflow.service.context import Services, build_services
    from fundflow.service.db import make_sessionmaker, transaction
    from fundflow.service.migrate import upgrade
    from fundflow.service.tables import Document, User
    from fundflow.service.usecases import cases
except Exception as exc:  # the service must import before anything can be measured
    print(f"bench_service: cannot import the service: {type(exc).__name__}: {exc}")
    sys.exit(2)


# -- databases ---------------------------------------------------------------------------


def psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def pg_reachable(base: str) -> str | None:
    """None if the server answers, else the reason."""
    try:
        eng = create_engine(psycopg_url(base), poolclass=NullPool)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@contextmanager
def pg_schema(base: str, prefix: str):
    """A fresh schema; yields the URL whose search_path points at it; drops it afterwards."""
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(psycopg_url(base), poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}", schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database(name: str, pg_base: str, prefix: str = "bench_svc"):
    """(url, data_dir, label) for a fresh, empty database; everything is removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}_"))
    try:
        if name == "sqlite":
            yield f"sqlite:///{tmp / 'fundflow.db'}", tmp / "data", "SQLite file (WAL, synchronous=NORMAL)"
        else:
            with pg_schema(pg_base, prefix) as (url, schema):
                yield url, tmp / "data", f"PostgreSQL schema {schema}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the world and its cases -------------------------------------------------------------


@dataclass
class Prepared:
    svc: Services
    ids: dict[str, int]
    tokens: dict[str, str]
    users: dict[str, User] = field(default_factory=dict)


def prepare(url: str, data_dir: Path, now: datetime = NOW) -> Prepared:
    """Migrate a fresh database and build the tests' small city (tests/support/world.py)."""
    from fundflow.service.integrity.keys import generate
    from tests.support.world import build_world

    key = data_dir / "audit.pem"  # as in production: every event is sealed
    if not key.exists():
        generate(key)
    svc = build_services(Settings(database_url=url, data_dir=data_dir, signing_key_file=key))
    upgrade(svc.db)
    world = build_world(svc, now)
    world.client.close()
    p = Prepared(svc, world.ids, world.tokens)
    with svc.sessions() as s:
        for name in ("so", "fr"):
            p.users[name] = s.get(User, world.ids[f"user_{name}"])
    return p


def open_cases(p: Prepared, n: int, now: datetime = NOW, label: str = "压测") -> list[int]:
    """n cases of community A in ``site_survey`` with every document they need: opened and
    confirmed through the use cases; the document rows are inserted directly (no file, no
    upload event), 200 cases per transaction."""
    so, fr = p.users["so"], p.users["fr"]
    ids = []
    for i in range(n):
        r = cases.open_case(
            p.svc,
            so,
            definition=DEFINITION,
            community_id=p.ids["community_a"],
            title=f"{label}案件 {i + 1}",
            data={},
            buildings=None,
            now=now,
        )
        ids.append(r.body["id"])
    for start in range(0, n, 200):
        with transaction(p.svc.sessions) as s:
            for cid in ids[start : start + 200]:
                for doc_type in DOCUMENTS:
                    s.add(
                        Document(
                            case_id=cid,
                            doc_type=doc_type,
                            filename=f"{doc_type}.pdf",
                            content_type="application/pdf",
                            size=1024,
                            sha256="0" * 64,
                            uploaded_by=so.id,
                            uploaded_at=now,
                        )
                    )
    for cid in ids:
        r = cases.fire_transition(p.svc, fr, cid, trigger="confirm_major", data=CONFIRM_DATA, comment=None, now=now)
        if r.body["state"] != SOURCE:
            raise SystemExit(f"bench_service: case {cid} is in {r.body['state']!r} after confirm_major, not {SOURCE!r}")
    return ids


def check_moved(svc: Services, ids: list[int], label: str) -> None:
    """Every case of ``ids`` is in DEST with one open DEST stage and one complete_survey event."""
    if not ids:
        return
    idl = ",".join(str(i) for i in ids)
    with svc.db.connect() as conn:
        got = [
            conn.execute(text(q.format(idl))).scalar()
            for q in (
                f"SELECT count(*) FROM cases WHERE id IN ({{}}) AND state = '{DEST}'",
                f"SELECT count(*) FROM stages WHERE case_id IN ({{}}) AND left_at IS NULL AND state = '{DEST}'",
                "SELECT count(*) FROM stages WHERE case_id IN ({}) AND left_at IS NULL",
                f"SELECT count(*) FROM events WHERE case_id IN ({{}}) AND \"trigger\" = '{TRIGGER}'",
            )
        ]
    if got != [len(ids)] * 4:
        raise SystemExit(
            f"bench_service: {label}: of {len(ids)} cases, [in {DEST}, open {DEST} stages, open stages, "
            f"events] = {got}: the run did not write what a transition writes"
        )


# -- capturing the statements of one fire -------------------------------------------------

#: (kind, pattern on the one-line SQL); the first match wins
KINDS = (
    ("begin", r"^BEGIN"),
    ("read_balance", r"sum\(households\.balance\)"),
    ("read_case", r"^SELECT .* FROM cases LEFT OUTER JOIN stages"),  # the lean load: case + open stage + ...
    ("read_money", r"^SELECT .* FROM ledger_entries"),
    ("read_top_ups", r"^SELECT .* FROM top_up_notices"),
    ("read_case", r"^SELECT .* FROM cases WHERE"),
    ("read_stage", r"^SELECT .* FROM stages WHERE"),
    ("read_documents", r"^SELECT .* FROM documents WHERE"),
    ("read_votes", r"^SELECT .* FROM meeting_votes WHERE"),
    ("read_community", r"^SELECT .* FROM communities WHERE"),
    ("read_office", r"^SELECT .* FROM street_offices WHERE"),
    ("update_case", r"^UPDATE cases SET"),
    ("update_stage", r"^UPDATE stages SET"),
    ("insert_event", r"^INSERT INTO events"),
    ("insert_stage", r"^INSERT INTO stages"),
)
WRITES = {"update_case", "update_stage", "insert_event", "insert_stage"}
ENGINE_INPUTS = {"read_documents", "read_votes", "read_balance"}


@dataclass
class Statement:
    sql: str
    params: Any  # the DBAPI parameters of the captured fire: tuple (SQLite) or dict (PostgreSQL)
    names: list[str] | None  # bind names in order, for positional parameters
    kind: str = ""
    role: str = ""  # transaction | case + stage | engine input | write | reply

    @property
    def one_line(self) -> str:
        return " ".join(self.sql.split())

    def named(self) -> dict[str, Any]:
        if isinstance(self.params, dict):
            return dict(self.params)
        return dict(zip(self.names or (), self.params))


def capture(svc: Services, user: User, case_id: int) -> tuple[list[Statement], Any]:
    """The statements one real fire_transition issues, in order, with their parameters."""
    log: list[Statement] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        compiled = getattr(context, "compiled", None)
        positional = compiled is not None and isinstance(parameters, (tuple, list))
        names = list(compiled.positiontup or ()) if positional else None
        log.append(Statement(statement, parameters, names))

    event.listen(svc.db, "before_cursor_execute", before)
    try:
        reply = cases.fire_transition(svc, user, case_id, trigger=TRIGGER, data=dict(FIRE_DATA), comment=None, now=NOW)
    finally:
        event.remove(svc.db, "before_cursor_execute", before)
    last_write = max((i for i, s in enumerate(log) if _kind(s.one_line) in WRITES), default=-1)
    for i, s in enumerate(log):
        s.kind = _kind(s.one_line)
        if s.kind == "begin":
            s.role = "transaction"
        elif s.kind in WRITES:
            s.role = "write"
        elif i > last_write:
            s.role = "reply"
        elif s.kind in ENGINE_INPUTS:
            s.role = "engine input"
        else:
            s.role = "case + stage"
        if s.names is not None and len(s.names) != len(s.params):
            raise SystemExit(f"bench_service: cannot name the parameters of: {s.one_line[:120]}")
    unknown = [s.one_line[:120] for s in log if s.kind == "?"]
    if unknown:
        raise SystemExit(
            "bench_service: the use case now issues statements the floor cannot replay:\n  " + "\n  ".join(unknown)
        )
    if reply.body.get("state") != DEST:
        raise SystemExit(f"bench_service: the captured fire ended in {reply.body.get('state')!r}, not {DEST!r}")
    return log, reply


def _kind(sql: str) -> str:
    for kind, pattern in KINDS:
        if re.search(pattern, sql):
            return kind
    return "?"


# -- the floor ------------------------------------------------------------------------------


class Floor:
    """The captured statements replayed by hand, one transaction per case.

    Per case, everything that depends on the case is fresh: its id, the version, event count
    and head hash read from its row, the id of its open stage, the merged data, the next
    sequence number and a new SHA-256 chain hash. What is the same for every case (the
    moment, the deadlines, the community, the fields) keeps the captured value, as the use
    case computes the same values for every case.
    """

    def __init__(self, statements: list[Statement], sqlite: bool, skip_roles: tuple[str, ...] = ()):
        self.sqlite = sqlite
        self.steps = [
            (s.kind, s.sql, s.named(), s.names) for s in statements if s.kind != "begin" and s.role not in skip_roles
        ]
        self.count = len(self.steps) + (1 if sqlite else 0)  # + BEGIN IMMEDIATE
        self._columns: dict[str, dict[str, int]] = {}
        begins = [s for s in statements if s.kind == "begin"]
        self.begin_sql = begins[0].sql if begins else None
        if sqlite and self.begin_sql is None:
            raise SystemExit("bench_service: no BEGIN captured on SQLite: the service's BEGIN mode changed?")
        if not sqlite and self.begin_sql is not None:
            raise SystemExit("bench_service: an explicit BEGIN on PostgreSQL: update the floor")

    def _params(self, kind: str, template: dict, names, st: dict) -> Any:
        p = dict(template)
        cid = st["case_id"]
        if kind in ("read_case",):
            for k in p:
                if k.startswith("id_") or k == "case_id":
                    p[k] = cid
        elif kind in ("read_stage", "read_documents", "read_votes"):
            for k in p:
                if k.startswith("case_id_"):
                    p[k] = cid
        elif kind == "update_case":
            data = dict(st["data"])
            data.update(FIRE_DATA)
            pre = "v_" if "v_data" in p else ""  # the lean UPDATE names its values v_*, its keys b_*
            old = p[f"{pre}data"]
            p.update(
                {
                    f"{pre}data": json.dumps(data) if isinstance(old, str) else type(old)(data),
                    f"{pre}event_count": st["seq"],
                    f"{pre}head_hash": st["hash"],
                    f"{pre}version": st["version"] + 1,
                }
            )
            if pre:
                p.update(b_id=cid, b_version=st["version"])
            else:
                p.update(cases_id=cid, cases_version=st["version"])
        elif kind == "insert_event":
            p.update(case_id=cid, seq=st["seq"], prev_hash=st["prev"], hash=st["hash"])
        elif kind == "update_stage":
            p["b_id" if "b_id" in p else "stages_id"] = st["stage_id"]
        elif kind == "insert_stage":
            p["case_id"] = cid
        return tuple(p[n] for n in names) if names is not None else p

    def _row(self, kind: str, cur) -> dict[str, Any]:
        cols = self._columns.get(kind)
        if cols is None:
            cols = {}
            for i, d in enumerate(cur.description):
                if d[0] == "id" and "id" in cols and "stage_id" not in cols:
                    cols["stage_id"] = i  # the lean load: the open stage's columns follow the case's
                cols.setdefault(d[0], i)
            if kind == "read_case" and "id_1" in cols:  # compiled SQL labels the stage's id id_1
                cols["stage_id"] = cols["id_1"]
            self._columns[kind] = cols
        row = cur.fetchone()
        if row is None:
            raise SystemExit(f"bench_service: floor: {kind} found no row")
        return {k: row[i] for k, i in cols.items()}

    def fire(self, dbapi_conn, case_id: int) -> None:
        """One transition's statements in one transaction, on a raw DBAPI connection."""
        st: dict[str, Any] = {"case_id": case_id}
        cur = dbapi_conn.cursor()
        try:
            if self.sqlite:
                cur.execute(self.begin_sql)
            for kind, sql, template, names in self.steps:
                cur.execute(sql, self._params(kind, template, names, st))
                if kind == "read_case":
                    row = self._row(kind, cur)
                    data = row["data"]
                    st.update(
                        version=row["version"],
                        seq=row["event_count"] + 1,
                        prev=row["head_hash"],
                        data=json.loads(data) if isinstance(data, str) else data,
                    )
                    st["hash"] = hashlib.sha256(f"{case_id}|{st['seq']}|{TRIGGER}|{st['prev']}".encode()).hexdigest()
                    if "stage_id" in row:
                        st["stage_id"] = row["stage_id"]
                elif kind == "read_stage":
                    st["stage_id"] = self._row(kind, cur)["id"]
                elif cur.description is not None:  # reads, and INSERT ... RETURNING
                    cur.fetchall()
            dbapi_conn.commit()
        except BaseException:
            dbapi_conn.rollback()
            raise
        finally:
            cur.close()

    def fire_core(self, conn, case_id: int) -> None:
        """The same through SQLAlchemy Core: ``conn.begin()`` (the engine's BEGIN IMMEDIATE
        on SQLite) and ``conn.exec_driver_sql`` for each statement."""
        st: dict[str, Any] = {"case_id": case_id}
        with conn.begin():
            for kind, sql, template, names in self.steps:
                res = conn.exec_driver_sql(sql, self._params(kind, template, names, st))
                if kind == "read_case":
                    raw = res.one()
                    row = {}
                    for i, key in enumerate(res.keys()):
                        if key == "id" and "id" in row and "stage_id" not in row:
                            row["stage_id"] = raw[i]
                        row.setdefault(key, raw[i])
                    if "id_1" in row:  # compiled SQL labels the stage's id id_1
                        row["stage_id"] = row["id_1"]
                    if "stage_id" in row:
                        st["stage_id"] = row["stage_id"]
                    data = row["data"]
                    st.update(
                        version=row["version"],
                        seq=row["event_count"] + 1,
                        prev=row["head_hash"],
                        data=json.loads(data) if isinstance(data, str) else data,
                    )
                    st["hash"] = hashlib.sha256(f"{case_id}|{st['seq']}|{TRIGGER}|{st['prev']}".encode()).hexdigest()
                elif kind == "read_stage":
                    st["stage_id"] = res.mappings().one()["id"]
                elif res.returns_rows:
                    res.fetchall()


# -- timing ---------------------------------------------------------------------------------


@dataclass
class Run:
    key: str
    label: str
    fire_one: Callable[[int], None]
    ids: list[int] = field(default_factory=list)
    open: Callable[[], None] | None = None
    close: Callable[[], None] | None = None
    times: list[float] = field(default_factory=list)  # seconds, one per timed transition


def timed_turns(runs: list[Run], warmup: int, n: int) -> None:
    """Each run fires ``warmup`` cases untimed; then the runs take turns case by case (the
    order rotates at every turn), each transition timed alone, so that a busy moment of the
    machine hits every run alike. The garbage collector runs as usual."""
    for r in runs:
        if r.open:
            r.open()
    try:
        for r in runs:
            for cid in r.ids[:warmup]:
                r.fire_one(cid)
        gc.collect()
        clock = time.perf_counter
        for i in range(n):
            k = i % len(runs)
            for r in runs[k:] + runs[:k]:
                cid = r.ids[warmup + i]
                t0 = clock()
                r.fire_one(cid)
                r.times.append(clock() - t0)
    finally:
        for r in runs:
            if r.close:
                r.close()


def ms(run: Run) -> float:
    """Median milliseconds per transition."""
    return statistics.median(run.times) * 1e3


def mean_ms(run: Run) -> float:
    return statistics.fmean(run.times) * 1e3


# -- profile ----------------------------------------------------------------------------------

#: cumulative time of these functions, per transition (they nest: see the README)
PARTS = (
    ("pool checkout (+ pre-ping on PostgreSQL)", "sqlalchemy/pool/base.py", "_checkout"),
    ("load_case (SELECT case [FOR UPDATE])", "fundflow/service/usecases/cases.py", "load_case"),
    ("current_stage (SELECT open stage)", "fundflow/service/usecases/cases.py", "current_stage"),
    ("snapshot: documents, votes, balance (x2)", "fundflow/service/usecases/cases.py", "snapshot"),
    ("Engine.fire", "fundflow/domain/engine.py", "fire"),
    ("apply_outcome (+ event_hash)", "fundflow/service/usecases/cases.py", "apply_outcome"),
    ("Session.flush (the 4 writes; + autoflushes)", "sqlalchemy/orm/session.py", "flush"),
    ("case_view (reply, incl. 2nd snapshot)", "fundflow/service/reads/common.py", "case_view"),
    ("commit", "sqlalchemy/orm/session.py", "commit"),
    ("Session.close", "sqlalchemy/orm/session.py", "close"),
)


def _group(key) -> str:
    filename, _, func = key
    if filename == "~":
        m = re.search(r"of '([\w.]+)' objects", func) or re.search(r"method ([\w]+)\.", func)
        mod = m.group(1).split(".")[0] if m else "builtins"
        return {
            "_sqlite3": "sqlite3",
            "sqlite3": "sqlite3",
            "select": "psycopg",
            "_hashlib": "hashlib",
            "_json": "json",
        }.get(mod, "builtins/other C")
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        top = path.split("/site-packages/")[1].split("/")[0]
        top = re.sub(r"[_.-].*$", "", top) if top.startswith(("psycopg",)) else top.split(".")[0]
        return top
    for proj in ("/workflow/", "/service/"):
        if proj in path and str(ROOT) in path:
            return proj.strip("/")
    if "/lib/python3" in path:
        mod = path.split("/lib/python3")[1].split("/", 1)[-1]  # "json/encoder.py", "contextlib.py"
        return mod.split("/")[0].removesuffix(".py")
    return "other"


GROUP_LABELS = {
    "sqlalchemy": "SQLAlchemy (ORM + Core)",
    "sqlite3": "sqlite3 driver: execute, commit (the SQL itself)",
    "psycopg": "psycopg driver incl. waiting for the server (the SQL itself)",
    "sqlmodel": "SQLModel",
    "pydantic": "pydantic",
    "workflow": "workflow (engine, deadlines, calendar)",
    "transitions": "transitions",
    "service": "service code (use case, view, audit)",
    "json": "json",
    "hashlib": "hashlib",
    "builtins/other C": "builtins / other C",
}


def profile(svc: Services, user: User, ids: list[int]) -> dict[str, Any]:
    prof = cProfile.Profile()
    fire = cases.fire_transition
    gc.collect()
    t0 = time.perf_counter()
    prof.enable()
    for cid in ids:
        fire(svc, user, cid, trigger=TRIGGER, data=dict(FIRE_DATA), comment=None, now=NOW)
    prof.disable()
    wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    n = len(ids)
    total = sum(v[2] for v in st.stats.values())  # tottime of everything = profiled time
    groups: dict[str, float] = {}
    for key, (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        g = _group(key)
        groups[g] = groups.get(g, 0.0) + tt
    parts = []
    for label, fpath, func in PARTS:
        cum = sum(v[3] for k, v in st.stats.items() if k[2] == func and k[0].replace("\\", "/").endswith(fpath))
        calls = sum(v[1] for k, v in st.stats.items() if k[2] == func and k[0].replace("\\", "/").endswith(fpath))
        parts.append((label, cum / n * 1e3, calls / n))
    top = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    top_rows = [(f"{_short(k[0])}:{k[1]}({k[2]})", v[2] / n * 1e3, v[1] / n) for k, v in top]
    return {
        "n": n,
        "wall_ms": wall / n * 1e3,
        "total_ms": total / n * 1e3,
        "groups": sorted(
            ((GROUP_LABELS.get(g, g), t / n * 1e3) for g, t in groups.items()), key=lambda x: x[1], reverse=True
        ),
        "parts": parts,
        "top": top_rows,
    }


def _short(filename: str) -> str:
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/")[1]
    if str(ROOT) in path:
        return os.path.relpath(path, ROOT)
    return path if filename != "~" else "~"


# -- part by part ------------------------------------------------------------------------------


def bench_parts(
    svc: Services, user: User, case_id: int, statements: list[Statement], floor: Floor, repeats: int
) -> list[tuple[str, float, float | None, int]]:
    """The read steps of a fire, each timed alone in a fresh session and transaction (the
    steps only read, so one untouched case serves every repeat), next to the raw DBAPI time
    of the statements each step issues. Returns (label, ORM µs, raw SQL µs, statements)."""
    from fundflow.service.reads.common import case_view
    from fundflow.service.usecases.cases import actor_of, current_stage, load_case, snapshot

    kinds = {
        "load_case": [s for s in statements if s.kind == "read_case"],
        "current_stage": [s for s in statements if s.kind == "read_stage"],
        "snapshot": [s for s in statements if s.role == "engine input"],
        "case_view": [s for s in statements if s.role == "reply"],
    }
    orm: dict[str, list[float]] = {k: [] for k in ("load_case", "current_stage", "snapshot", "fire", "case_view")}
    raw: dict[str, list[float]] = {k: [] for k in kinds}
    clock = time.perf_counter
    holder = svc.db.raw_connection()
    dconn = holder.driver_connection
    try:
        for _ in range(repeats):
            session = svc.sessions()
            try:
                with session.begin():
                    t0 = clock()
                    case = load_case(session, user, case_id, for_update=True)
                    t1 = clock()
                    stage = current_stage(session, case)
                    t2 = clock()
                    snap = snapshot(session, case, stage)
                    t3 = clock()
                    out = svc.engine.fire(snap, TRIGGER, actor_of(user), dict(FIRE_DATA), NOW)
                    t4 = clock()
                    case_view(svc, session, user, case, stage, NOW)
                    t5 = clock()
                    session.rollback()
            finally:
                session.close()
            if getattr(out, "state", None) != DEST:
                raise SystemExit(f"bench_service: parts: the engine refused: {out!r}")
            for k, dt in zip(orm, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                orm[k].append(dt)
            cur = dconn.cursor()
            try:
                if floor.sqlite:
                    cur.execute(floor.begin_sql)
                for k, stmts in kinds.items():
                    t0 = clock()
                    for st in stmts:
                        cur.execute(st.sql, floor._params(st.kind, st.named(), st.names, {"case_id": case_id}))
                        cur.fetchall()
                    raw[k].append(clock() - t0)
            finally:
                dconn.rollback()
                cur.close()
    finally:
        holder.close()

    def med(xs: list[float]) -> float:
        return statistics.median(xs) * 1e6

    return [
        (
            "load_case (SELECT case, FOR UPDATE on PostgreSQL)",
            med(orm["load_case"]),
            med(raw["load_case"]),
            len(kinds["load_case"]),
        ),
        (
            "current_stage (SELECT open stage)",
            med(orm["current_stage"]),
            med(raw["current_stage"]),
            len(kinds["current_stage"]),
        ),
        ("snapshot (documents, votes, balance)", med(orm["snapshot"]), med(raw["snapshot"]), len(kinds["snapshot"])),
        ("Engine.fire", med(orm["fire"]), None, 0),
        ("case_view (the reply)", med(orm["case_view"]), med(raw["case_view"]), len(kinds["case_view"])),
    ]


# -- one database ---------------------------------------------------------------------------


def bench_backend(name: str, pg_base: str, n: int, warmup: int, n_profile: int, n_parts: int) -> dict[str, Any]:
    sqlite = name == "sqlite"
    t_setup = time.perf_counter()
    with database(name, pg_base) as (url, data_dir, where):
        p = prepare(url, data_dir)
        prepare_s = time.perf_counter() - t_setup
        try:
            res = _bench_backend(p, sqlite, n, warmup, n_profile, n_parts)
        finally:
            p.svc.close()
    res.update(name=name, where=where, setup_s=res["setup_s"] + prepare_s)
    return res


def _bench_backend(p: Prepared, sqlite: bool, n: int, warmup: int, n_profile: int, n_parts: int) -> dict[str, Any]:
    t_setup = time.perf_counter()
    svc, so = p.svc, p.users["so"]
    extra_runs = 3 if not sqlite else 2
    per_run = warmup + n
    all_ids = open_cases(p, 2 + per_run * (2 + extra_runs) + n_profile)
    setup_s = time.perf_counter() - t_setup

    statements, reply = capture(svc, so, all_ids[0])
    check_moved(svc, all_ids[:1], "captured fire")
    floor_all = Floor(statements, sqlite)
    floor_min = Floor(statements, sqlite, skip_roles=("reply",))
    parts_case = all_ids[1]
    pos = 2

    def take() -> list[int]:
        nonlocal pos
        ids = all_ids[pos : pos + per_run]
        pos += per_run
        return ids

    def uc_fire(s: Services):
        def fire_one(cid: int) -> None:
            r = cases.fire_transition(s, so, cid, trigger=TRIGGER, data=dict(FIRE_DATA), comment=None, now=NOW)
            if r.status != 200:
                raise SystemExit(f"bench_service: fire on case {cid} answered {r.status}")

        return fire_one

    holder: dict[str, Any] = {}

    def raw_open():
        holder["raw"] = svc.db.raw_connection()  # a pooled connection, with the engine's PRAGMAs

    def raw_close():
        holder.pop("raw").close()

    def core_open():
        holder["core"] = svc.db.connect()

    def core_close():
        holder.pop("core").close()

    runs = [
        Run("uc", "use case fire_transition", uc_fire(svc), take()),
        Run(
            "floor",
            f"SQL floor, raw DBAPI ({floor_all.count} statements)",
            lambda cid: floor_all.fire(holder["raw"].driver_connection, cid),
            take(),
            open=raw_open,
            close=raw_close,
        ),
        Run(
            "core",
            "SQL floor via Core exec_driver_sql",
            lambda cid: floor_all.fire_core(holder["core"], cid),
            take(),
            open=core_open,
            close=core_close,
        ),
        # shares the raw connection opened for "floor"
        Run(
            "floor_min",
            f"SQL floor without the reply's reads ({floor_min.count})",
            lambda cid: floor_min.fire(holder["raw"].driver_connection, cid),
            take(),
        ),
    ]
    nopp = None
    if not sqlite:
        db2 = create_engine(
            psycopg_url(str(svc.db.url.render_as_string(hide_password=False))),
            pool_pre_ping=False,
            pool_size=10,
            max_overflow=20,
        )
        nopp = Services(svc.settings, db2, make_sessionmaker(db2), svc.engine)
        runs.append(Run("uc_nopp", "use case, engine without pool_pre_ping", uc_fire(nopp), take()))
    try:
        timed_turns(runs, warmup, n)
    finally:
        if nopp is not None:
            nopp.close()
    for r in runs:
        check_moved(svc, r.ids, r.label)
    same = compare_rows(svc, runs[0].ids[-1], runs[1].ids[-1])
    parts = bench_parts(svc, so, parts_case, statements, floor_all, n_parts)
    prof = profile(svc, so, all_ids[pos : pos + n_profile])
    check_moved(svc, all_ids[pos : pos + n_profile], "profiled fires")
    return {
        "setup_s": setup_s,
        "statements": statements,
        "runs": runs,
        "parts": parts,
        "floor": floor_all,
        "floor_min": floor_min,
        "same": same,
        "profile": prof,
        "reply_bytes": len(json.dumps(reply.body, ensure_ascii=False).encode()),
    }


def compare_rows(svc: Services, uc_case: int, floor_case: int) -> bool:
    """The floor wrote the same stage row and event as the use case (ids and hashes aside)."""

    def rows(cid):
        with svc.db.connect() as conn:
            stage = conn.execute(
                text(
                    "SELECT state, entered_at, left_at, due_date, due_at, warn_at, escalate_at, "
                    "provisional, rule, calendar_source FROM stages WHERE case_id = :c "
                    "AND left_at IS NULL"
                ),
                {"c": cid},
            ).one()
            ev = conn.execute(
                text(
                    'SELECT seq, "trigger", label, from_state, to_state, user_id, role, org, at '
                    "FROM events WHERE case_id = :c ORDER BY seq DESC LIMIT 1"
                ),
                {"c": cid},
            ).one()
            case = conn.execute(text("SELECT state, version, event_count FROM cases WHERE id = :c"), {"c": cid}).one()
        return tuple(stage), tuple(ev), tuple(case)

    return rows(uc_case) == rows(floor_case)


# -- report ---------------------------------------------------------------------------------


def report(res: dict[str, Any]) -> None:
    runs = {r.key: r for r in res["runs"]}
    uc, fl = runs["uc"], runs["floor"]
    stmts = res["statements"]
    print(f"{res['name']}: {res['where']}; setup (migrate, city, cases) {res['setup_s']:.1f} s")
    roles: dict[str, list[str]] = {}
    for s in stmts:
        roles.setdefault(s.role, []).append(s.kind.replace("read_", "").replace("_", " "))
    hidden = "COMMIT" if res["name"] == "sqlite" else "BEGIN and COMMIT (psycopg), pool pre-ping SELECT 1"
    print(f"   statements per transition: {len(stmts)} through the cursor, plus {hidden}")
    for role in ("transaction", "case + stage", "engine input", "write", "reply"):
        if role in roles:
            print(f"     {role:<14} {len(roles[role]):>2}  {', '.join(roles[role])}")
    w = 58
    print("   ".ljust(w) + "  median ms  trans/s   mean ms  trans/s")
    for r in res["runs"]:
        print(
            f"   {r.label}".ljust(w) + f"  {ms(r):9.3f} {1e3 / ms(r):8.0f}  {mean_ms(r):8.3f} {1e3 / mean_ms(r):8.0f}"
        )
    ratio, ratio_mean = ms(fl) / ms(uc), mean_ms(fl) / mean_ms(uc)
    verdict = "ok" if ratio >= RATIO_GOAL else "below goal"
    print(
        f"   use case / floor (transitions per second): {ratio:.2f}  goal >= {RATIO_GOAL}: {verdict}  "
        f"(from the means: {ratio_mean:.2f})"
    )
    print(
        f"   the use case spends {ms(uc) - ms(fl):.3f} ms per transition above the floor; the reply's "
        f"{len(roles.get('reply', []))} reads cost {ms(fl) - ms(runs['floor_min']):.3f} ms of the floor; "
        f"Core exec_driver_sql adds {ms(runs['core']) - ms(fl):.3f} ms to the raw floor"
    )
    if "uc_nopp" in runs:
        print(
            f"   with pool_pre_ping (a SELECT 1 round trip at every checkout) minus without: "
            f"{ms(uc) - ms(runs['uc_nopp']):+.3f} ms per transition"
        )
    print(
        f"   rows written by the floor equal the use case's (ids and hashes aside): {res['same']}; "
        f"reply {res['reply_bytes']:,} bytes of JSON"
    )
    print("   the use case, part by part (each timed alone, median)".ljust(w) + "     ORM µs  its SQL raw µs")
    total = 0.0
    raw_total = 0.0
    for label, orm_us, raw_us, k in res["parts"]:
        total += orm_us
        raw_total += raw_us or 0.0
        sql = f"{raw_us:8.0f}  ({k} statement{'s' if k != 1 else ''})" if raw_us is not None else "       -"
        print(f"     {label}".ljust(w) + f"  {orm_us:9.0f}  {sql}")
    rest, rest_raw = ms(uc) * 1e3 - total, ms(fl) * 1e3 - raw_total
    print(
        "     rest: session, apply_outcome, 4 writes, commit".ljust(w) + f"  {rest:9.0f}  "
        f"{rest_raw:8.0f}  (4 writes, BEGIN, COMMIT)"
    )
    prof = res["profile"]
    print(
        f"   cProfile, {prof['n']} fires: {prof['wall_ms']:.2f} ms per transition under the profiler "
        f"(profiled functions {prof['total_ms']:.2f} ms)"
    )
    print("     by package (own time)".ljust(w) + "        ms   share")
    for label, t in prof["groups"][:8]:
        print(f"       {label}".ljust(w) + f"  {t:8.3f}  {t / prof['total_ms']:5.0%}")
    print("     by step (cumulative; steps nest)".ljust(w) + "        ms   share  calls")
    for label, t, calls in prof["parts"]:
        print(f"       {label}".ljust(w) + f"  {t:8.3f}  {t / prof['total_ms']:5.0%}  {calls:5.1f}")
    print("     top functions by own time".ljust(w) + "        ms  calls")
    for label, t, calls in prof["top"]:
        print(f"       {label[-70:]}".ljust(w + 16) + f"  {t:8.3f}  {calls:5.1f}")
    print()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="60 timed fires per run instead of 300")
    p.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("FUNDFLOW_BENCH_PG_URL", DEFAULT_PG),
        help=f"PostgreSQL server and database (default {DEFAULT_PG}; env FUNDFLOW_BENCH_PG_URL)",
    )
    args = p.parse_args(argv)
    if args.quick:
        n, warmup, n_profile, n_parts = 60, 5, 20, 50
    else:
        n, warmup, n_profile, n_parts = 300, 10, 60, 300
    t_start = time.perf_counter()
    import sqlalchemy

    print(
        f"fundflow service benchmark{' (--quick)' if args.quick else ''}: Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, sqlite {_sqlite_version()}, psycopg {_psycopg_version()}, "
        f"{platform.system()} {platform.machine()}, {_cpus()} CPU; load average {_load()}"
    )
    print(
        f"{TRIGGER} ({SOURCE} -> {DEST}) on {DEFINITION} v1, one transition per case, now = {NOW.isoformat()}; "
        f"{n} timed fires per run, the runs taking turns case by case, after {warmup} untimed"
    )
    print()
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name not in ("sqlite", "postgresql"):
            print(f"bench_service: unknown backend {name!r}")
            return 2
        if name == "postgresql":
            why = pg_reachable(args.pg_url)
            if why:
                print(f"postgresql: skipped, not reachable at {args.pg_url}: {why}\n")
                continue
        res = bench_backend(name, args.pg_url, n, warmup, n_profile, n_parts)
        report(res)
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
    """Load average, and the share of the last 60 s in which some runnable task waited for a
    CPU (Linux pressure stall information), when the kernel reports it."""
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
