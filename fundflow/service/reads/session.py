"""Who is calling: the user a token belongs to, read in the request's one read transaction.

The HTTP layer knows the caller only as a ``Principal``: the attributes it shows and passes on,
not the storage row behind them (``fundflow.http`` imports no tables).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlmodel import Session

from fundflow.service.auth import user_for_token, user_row_for_token
from fundflow.service.db import Tx
from fundflow.service.errors import NotAuthenticated

__all__ = ["signed_in", "Principal", "Bearer", "caller"]


@runtime_checkable
class Principal(Protocol):
    """The signed-in caller as the pages and the API see it."""

    id: int | None
    username: str
    display_name: str
    role: str
    org_level: str  # city | district | street_office | community
    org_id: int | None
    org_name: str


class Bearer:
    """A caller known so far only by its token: a write that reads the token in its own
    transaction (``usecases.cases.fire_transition``) instead of a read transaction before it."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token


def signed_in(s: Session | Tx, svc, token: str, now: datetime) -> Principal:
    """The active user of ``token`` (a session or an API token); NotAuthenticated otherwise.
    In the hot path's transaction (a ``Tx``) the user is a row in hand, not an ORM entity."""
    max_age = timedelta(days=svc.settings.api_token_days)
    if isinstance(s, Tx):
        user = user_row_for_token(s.connection(), token, now, max_age)
    else:
        user = user_for_token(s, token, now, max_age)
    if user is None:
        raise NotAuthenticated("登录已失效或令牌无效，请重新登录", code="invalid_token")
    return user


def caller(s: Session | Tx, svc, user, now: datetime):
    """``user`` itself, or for a ``Bearer`` the user its token signs in, read in ``s`` (the
    write's own transaction); NotAuthenticated if it signs no one in."""
    return signed_in(s, svc, user.token, now) if isinstance(user, Bearer) else user
