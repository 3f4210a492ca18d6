"""Login throttling: failed logins per user name and per address, kept in the database.

Each failed login counts against two keys, ``user:NAME`` (whether or not NAME exists) and
``addr:IP``. The first ``login_free_failures`` (5) cost nothing; from then on the key must wait
``login_base_wait_seconds`` (30 s), doubled with each further failure, at most
``login_max_wait_seconds`` (1 h). While a key waits, its logins are answered 429 with
``Retry-After`` and the password is not even checked (guessing gains nothing). A success clears
the user's key, not the address's (one good account must not reset a guesser's address);
failures are forgotten a day after the last one. The counters are rows updated with one atomic
upsert, so several processes share them. Time is passed in (``now``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from fundflow.service.config import Settings
from fundflow.service.tables import LoginThrottle

__all__ = ["keys_for", "wait_after", "retry_after", "record_failure", "clear", "FORGET_AFTER"]

FORGET_AFTER = timedelta(days=1)
_T = LoginThrottle.__table__


def keys_for(username: str, address: str | None) -> list[str]:
    keys = [f"user:{username.casefold()}"[:128]]
    if address:
        keys.append(f"addr:{address}"[:128])
    return keys


def wait_after(failures: int, settings: Settings) -> timedelta:
    """How long a key waits after its ``failures``-th failure in a row."""
    extra = failures - settings.login_free_failures
    if extra < 0:
        return timedelta(0)
    seconds = settings.login_base_wait_seconds * 2 ** min(extra, 30)
    return timedelta(seconds=min(seconds, settings.login_max_wait_seconds))


def retry_after(session: Session, keys: list[str], now: datetime) -> int:
    """Seconds until every key may try again; 0 when none waits."""
    until = session.execute(select(_T.c.locked_until).where(_T.c.key.in_(keys), _T.c.locked_until > now)).scalars()
    latest = max(until, default=None)
    return 0 if latest is None else max(1, ceil((latest - now).total_seconds()))


def record_failure(session: Session, keys: list[str], now: datetime, settings: Settings) -> int:
    """Count one failure against each key (atomically); the highest count among them."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    counts = []
    for key in keys:
        stmt = insert(_T).values(key=key, failures=1, last_failure_at=now, locked_until=None)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_T.c.key],
            set_={
                "failures": case((_T.c.last_failure_at < now - FORGET_AFTER, 1), else_=_T.c.failures + 1),
                "last_failure_at": now,
            },
        ).returning(_T.c.failures)
        failures = session.execute(stmt).scalar_one()
        wait = wait_after(failures, settings)
        if wait:
            until = now + wait
            session.execute(
                update(_T)
                .where(_T.c.key == key, or_(_T.c.locked_until.is_(None), _T.c.locked_until < until))
                .values(locked_until=until)
            )
        counts.append(failures)
    return max(counts)


def clear(session: Session, key: str) -> None:
    session.execute(delete(_T).where(_T.c.key == key))
