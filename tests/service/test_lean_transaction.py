"""The hot path's transaction (``service/db.py``: ``lean_transaction``, ``Tx``), on both
databases: a step that runs only Core statements makes no ORM session (nor does reading its
caller's token); ORM work asked of it
joins the same transaction, is flushed before the commit and rolled back with it; SQLite's
write lock is taken at its start, as ``transaction`` takes it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fundflow.service.auth import user_for_token, user_row_for_token
from fundflow.service.db import lean_transaction, read_only
from fundflow.service.tables import Case, Event, IdempotencyRecord, User
from fundflow.service.usecases import lean, users
from tests.support.world import NOW

SURVEY = {"survey_date": "2026-03-01", "survey_findings": "楼道堆放杂物"}


def _record(key: str, user_id: int) -> dict:
    return {"user_id": user_id, "key": key, "request_hash": "0" * 64, "status_code": 200, "body": {}, "created_at": NOW}


def _keys(svc) -> set[str]:
    with svc.sessions() as s:
        return set(s.exec(select(IdempotencyRecord.key)).scalars())


@pytest.fixture
def made_sessions(monkeypatch):
    """How many ORM sessions were built (each costs its begin, commit and close)."""
    count = [0]
    real = Session.__init__

    def counted(self, *a, **kw):
        count[0] += 1
        real(self, *a, **kw)

    monkeypatch.setattr(Session, "__init__", counted)
    return count


def test_a_plain_transition_builds_no_orm_session(flow, made_sessions):
    case_id = flow.open()
    flow.advance(case_id, "site_survey")
    flow.doc(case_id, "site_record")
    with flow.svc.sessions() as s:
        events = s.execute(select(func.count()).select_from(Event)).scalar_one()
    before = made_sessions[0]
    flow.fire("so", case_id, "complete_survey", SURVEY)
    assert made_sessions[0] == before
    with flow.svc.sessions() as s:
        assert s.execute(select(func.count()).select_from(Event)).scalar_one() == events + 1


def test_orm_work_joins_the_core_transaction_and_commits_with_it(world):
    svc, user_id = world.svc, world.ids["user_so"]
    with lean_transaction(svc.sessions) as tx:
        tx.connection().execute(insert(IdempotencyRecord.__table__).values(**_record("core", user_id)))
        assert tx.new == ()  # nothing asked of the ORM yet
        tx.add(IdempotencyRecord(**_record("orm", user_id)))  # builds the session, not flushed yet
        assert len(tx.new) == 1
        # the session reads through the same connection: the Core row is visible to it
        assert tx.exec(select(IdempotencyRecord.key).where(IdempotencyRecord.key == "core")).first() is not None
    assert {"core", "orm"} <= _keys(svc)  # the added row was flushed before the commit


def test_an_error_rolls_back_core_and_orm_work_alike(world):
    svc, user_id = world.svc, world.ids["user_so"]
    with pytest.raises(RuntimeError), lean_transaction(svc.sessions) as tx:
        tx.connection().execute(insert(IdempotencyRecord.__table__).values(**_record("core_lost", user_id)))
        tx.add(IdempotencyRecord(**_record("orm_lost", user_id)))
        tx.flush()
        raise RuntimeError("the step fails after both wrote")
    assert not {"core_lost", "orm_lost"} & _keys(svc)
    # and the pool's connection is usable again (returned rolled back)
    with lean_transaction(svc.sessions) as tx:
        tx.connection().execute(insert(IdempotencyRecord.__table__).values(**_record("after", user_id)))
    assert "after" in _keys(svc)


@pytest.mark.sqlite_only  # SQLite's BEGIN IMMEDIATE; PostgreSQL locks the case row (test_concurrency)
def test_sqlite_takes_the_write_lock_at_the_start(world):
    svc = world.svc
    other = sqlite3.connect(svc.db.url.database, timeout=0.05, isolation_level=None)
    try:
        with lean_transaction(svc.sessions) as tx:
            tx.connection()  # nothing run yet: BEGIN IMMEDIATE already holds the lock
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at the commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def _both_lookups(svc, token: str, now):
    """(the ORM lookup's user, the hot path's row) for ``token`` at ``now``."""
    max_age = timedelta(days=svc.settings.api_token_days)
    with svc.sessions() as s:
        orm = user_for_token(s, token, now, max_age)
        orm = None if orm is None else {n: getattr(orm, n) for n in _USER_FIELDS}
    with lean_transaction(svc.sessions) as tx:
        row = user_row_for_token(tx.connection(), token, now, max_age)
        assert tx.new == () and tx._session is None  # no ORM session for the lookup
    return orm, None if row is None else {n: getattr(row, n) for n in _USER_FIELDS}


_USER_FIELDS = ("id", "username", "display_name", "role", "org_level", "org_id", "org_name", "active")


def test_the_hot_paths_token_lookup_agrees_with_the_orms(world):
    svc = world.svc
    token = users.new_api_token(svc, "fc", NOW)
    orm, row = _both_lookups(svc, token, NOW)
    assert orm is not None and orm == row and row["username"] == "fc"
    assert _both_lookups(svc, token, NOW + timedelta(days=svc.settings.api_token_days + 1)) == (None, None)
    assert _both_lookups(svc, "ff_" + "x" * 40, NOW) == (None, None)  # well-formed, unknown
    assert _both_lookups(svc, "not-a-token", NOW) == (None, None)
    users.revoke_tokens(svc, "fc")
    assert _both_lookups(svc, token, NOW) == (None, None)
    hb = users.new_api_token(svc, "hb", NOW)
    assert _both_lookups(svc, hb, NOW)[1] is not None
    with svc.sessions() as s, s.begin():
        s.get(User, world.ids["user_hb"]).active = False  # deactivated: its tokens sign no one in
    assert _both_lookups(svc, hb, NOW) == (None, None)


def _prepared_here(s) -> tuple[int, int]:
    """(this connection's backend, how many statements it has prepared)."""
    row = s.connection().exec_driver_sql("SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements)")
    return tuple(row.one())


@pytest.mark.postgresql_only  # psycopg's own behaviour: every ROLLBACK drops the prepared statements
def test_a_read_keeps_the_connections_prepared_statements(flow):
    case_id = flow.open()
    svc = flow.svc
    for _ in range(6):  # psycopg prepares a statement on its fifth run on a connection
        with lean_transaction(svc.sessions) as tx:
            assert lean.load(tx.connection(), case_id, for_update=True) is not None
            backend, prepared = _prepared_here(tx)
    assert prepared >= 1
    with read_only(svc.sessions) as s:  # a page's read transaction
        assert s.get(Case, case_id) is not None
        assert _prepared_here(s)[0] == backend  # the same pooled connection
    with lean_transaction(svc.sessions) as tx:
        assert _prepared_here(tx) == (backend, prepared)  # nothing dropped by the read
        # room for the statements of every step shape and the pages' reads (service/db.py)
        assert tx.connection().connection.dbapi_connection.prepared_max == 512


@pytest.mark.postgresql_only
def test_a_write_in_a_read_transaction_fails_on_postgresql(world):
    user_id = world.ids["user_so"]
    with pytest.raises(DBAPIError, match="read-only transaction"), read_only(world.svc.sessions) as s:
        s.connection().execute(insert(IdempotencyRecord.__table__).values(**_record("in_a_read", user_id)))
    assert "in_a_read" not in _keys(world.svc)
