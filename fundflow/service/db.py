"""Engines and sessions. Nothing is connected at import time.

SQLite (the embedded default) gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE``
for every transaction: with the driver's default handling, concurrent read-then-update
transactions lose updates or fail with "database is locked" (measured; see
``../shared/pitfalls.md``). PostgreSQL relies on the version column (optimistic locking) and
unique constraints.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

__all__ = ["make_engine", "make_sessionmaker", "transaction", "lean_transaction", "Tx", "read_only", "flushed"]

READ_ONLY = "fundflow_read_only"
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def make_engine(url: str, *, busy_timeout_ms: int = 15000, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            # Readers take no write lock (WAL lets them run beside the writer); every
            # transaction that may write takes it up front.
            sql = "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
            if conn.dispatch.before_cursor_execute or engine.dispatch.before_cursor_execute:
                conn.exec_driver_sql(sql)  # the statement counters (tests, benchmarks) see it
                return
            # on the driver itself: exec_driver_sql costs ~40 µs of Python per transaction
            try:
                conn.connection.dbapi_connection.execute(sql)
            except engine.dialect.loaded_dbapi.Error as exc:
                conn._handle_dbapi_exception(exc, sql, (), None, None)
                raise  # not reached: the handler raises SQLAlchemy's exception

        _WRITE_LOCKS[engine] = threading.Lock()
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # no pre-ping per checkout (a SELECT 1 each time): a use case that finds its connection
    # dead retries on a fresh one (SQLAlchemy invalidates the pool on a disconnect error)
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=20)
    if engine.dialect.driver == "psycopg":

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_conn, _record):
            # psycopg prepares a statement on its fifth run and keeps 100 per connection; the
            # hot path's statements (one per step shape and set of changed case columns,
            # usecases/lean.py) and the pages' reads are more than that in a day of a city
            dbapi_conn.prepared_max = 512

    return engine


def make_sessionmaker(engine: Engine, info: dict | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    On SQLite the threads of one process also queue on a lock: waiting inside SQLite's busy
    handler sleeps up to 100 ms at a time and lets the last writer win again (measured p99
    of 1.2 s at 16 clients; 0.25 s with the lock)."""
    with _writer(factory.kw["bind"]):
        session = factory()
        try:
            with session.begin():
                yield session
        finally:
            session.close()


@contextmanager
def _writer(engine: Engine) -> Iterator[None]:
    """On SQLite, the process's writers one at a time (``transaction``); elsewhere nothing."""
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        yield
        return
    with lock:
        yield


class Tx:
    """A write transaction on one Core connection (``lean_transaction``), standing in for a
    ``Session``: ``connection()`` is that connection, ``info`` the sessions' info; anything
    else (``exec``, ``get``, ``add``, ``flush``...) is asked of an ORM session made the first
    time it is needed, bound to the same connection and joining its transaction. A step that
    only runs Core statements never builds one (a Session's begin, commit and close cost
    ~150 µs of Python per transaction)."""

    __slots__ = ("_conn", "_factory", "_session", "info")

    def __init__(self, conn: Connection, factory: sessionmaker[Session]):
        self._conn, self._factory, self._session = conn, factory, None
        self.info = factory.kw.get("info") or {}

    def connection(self, **_kw) -> Connection:
        return self._conn

    @property
    def orm(self) -> Session:
        s = self._session
        if s is None:
            # joins the connection's transaction; never commits or closes it
            s = self._session = self._factory(bind=self._conn, join_transaction_mode="rollback_only")
        return s

    @property
    def new(self):
        return self._session.new if self._session is not None else ()

    def flush(self) -> None:
        if self._session is not None:  # nothing was added if no session was made
            self._session.flush()

    def __getattr__(self, name: str):
        return getattr(self.orm, name)


@contextmanager
def lean_transaction(factory: sessionmaker[Session]) -> Iterator[Tx]:
    """``transaction`` for the hot path (transitions, votes, documents): the
    same unit of work (commit on success, roll back on any exception; SQLite's write lock and
    ``BEGIN IMMEDIATE``), on a Core connection; an ORM session only if a step asks for one,
    flushed before the commit."""
    engine = factory.kw["bind"]
    with _writer(engine), engine.connect() as conn:
        tx = Tx(conn, factory)
        try:
            with conn.begin():
                yield tx
                tx.flush()
        finally:
            if tx._session is not None:
                tx._session.close()


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads: on SQLite a deferred BEGIN, no write lock.

    On PostgreSQL it is ``BEGIN READ ONLY`` (a write in it fails) and it ends with COMMIT, not
    ROLLBACK: psycopg answers every ROLLBACK by dropping all the connection's prepared statements
    (``DEALLOCATE ALL``, a round trip of its own), so each page read made the next transitions
    on that connection plan their statements afresh (~0.7 ms each for the locked read)."""
    session = factory()
    pg = factory.kw["bind"].dialect.name == "postgresql"
    options = {READ_ONLY: True, "postgresql_readonly": True} if pg else {READ_ONLY: True}
    try:
        session.connection(execution_options=options)
        yield session
        if pg:
            session.expunge_all()  # nothing to flush: what was read stays readable, detached
            session.commit()
    finally:
        session.close()  # ends the transaction (SQLite: rolled back); what was read stays readable


def flushed(session: Session):
    """The session's connection, once rows added to the session are written: what the ORM's
    autoflush does before a query, for the prepared statements (``service/prepared.py``) that
    read tables only ever added to in a transaction (the journal, notices, votes)."""
    if session.new:
        session.flush()
    return session.connection()
