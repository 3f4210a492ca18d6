"""Who is calling: the user a token belongs to, read in the request's one read transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from fundflow.service.auth import user_for_token
from fundflow.service.errors import NotAuthenticated
from fundflow.service.tables import User

__all__ = ["signed_in", "User"]


def signed_in(s: Session, svc, token: str, now: datetime) -> User:
    """The active user of ``token`` (a session or an API token); NotAuthenticated otherwise."""
    user = user_for_token(s, token, now, timedelta(days=svc.settings.api_token_days))
    if user is None:
        raise NotAuthenticated("登录已失效或令牌无效，请重新登录", code="invalid_token")
    return user
