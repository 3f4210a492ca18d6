"""Passwords (Argon2 via pwdlib) and bearer tokens (random, stored as SHA-256 only)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import Connection, bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from fundflow.service.prepared import Prepared, Row
from fundflow.service.tables import ApiToken, User

__all__ = [
    "hash_password",
    "verify_password",
    "issue_token",
    "user_for_token",
    "user_row_for_token",
    "revoke_token",
    "revoke_all",
    "TOKEN_PREFIX",
]

_hasher = PasswordHash.recommended()
TOKEN_PREFIX = "ff_"
MAX_TOKEN_CHARS = 128


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash:
        _hasher.hash(password)  # same cost whether or not the user exists
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:
        return False


#: the token's row and its user, in one statement built once (every authenticated request runs it)
_TOKEN_AND_USER = (
    select(ApiToken.revoked, ApiToken.expires_at, ApiToken.created_at, User)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)

_USER_COLUMNS = tuple(c.name for c in User.__table__.c)
_TOKEN_AND_USER_ROW = Prepared(
    core_select(ApiToken.revoked, ApiToken.expires_at, ApiToken.created_at, *User.__table__.c)
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, kind: str, now: datetime, lifetime: timedelta | None = None) -> str:
    """Create a token and return it in clear: this is the only time it is known."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(token),
            kind=kind,
            created_at=now,
            expires_at=(now + lifetime) if lifetime else None,
        )
    )
    return token


def user_for_token(session: Session, token: str, now: datetime, max_age: timedelta) -> User | None:
    """The active user the token belongs to, or None: unknown, revoked, expired, or the user was
    deactivated (checked on every request, so deactivation and revocation act at once). A token
    issued without an end (before tokens expired) ends ``max_age`` after it was issued."""
    if not _well_formed(token):
        return None
    # one statement: the token's row and its user (every authenticated request pays for it)
    found = session.exec(_TOKEN_AND_USER, params={"token_hash": _digest(token)}).first()
    if found is None:
        return None
    revoked, expires_at, created_at, user = found
    return user if _valid(revoked, expires_at, created_at, user.active, now, max_age) else None


def user_row_for_token(conn: Connection, token: str, now: datetime, max_age: timedelta) -> Row | None:
    """``user_for_token`` for the hot path (a transition, vote or upload through the API, in its
    own transaction): the same checks, the user's columns as a row in hand instead of an ORM
    entity (no session, no identity map: ~0.2 ms less per request). Not for changing the user."""
    if not _well_formed(token):
        return None
    found = _TOKEN_AND_USER_ROW.first(conn, {"token_hash": _digest(token)})
    if found is None:
        return None
    revoked, expires_at, created_at = found[:3]
    user = Row(dict(zip(_USER_COLUMNS, found[3:])))
    return user if _valid(revoked, expires_at, created_at, user.active, now, max_age) else None


def _well_formed(token: str) -> bool:
    return bool(token) and len(token) <= MAX_TOKEN_CHARS and token.startswith(TOKEN_PREFIX)


def _valid(revoked: bool, expires_at, created_at, active: bool, now: datetime, max_age: timedelta) -> bool:
    """Not revoked, not expired (a token issued without an end ends ``max_age`` after it was
    issued), its user active."""
    return not revoked and (expires_at or created_at + max_age) > now and bool(active)


def revoke_token(session: Session, token: str) -> bool:
    """Revoke one token; False if there is no such (unrevoked) token."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token or ""))).first()
    if row is None or row.revoked:
        return False
    row.revoked = True
    session.add(row)
    return True


def revoke_all(session: Session, user_id: int) -> int:
    """Revoke every token of a user (API tokens and sessions); the number revoked."""
    rows = session.exec(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))).all()
    for row in rows:
        row.revoked = True
        session.add(row)
    return len(rows)
