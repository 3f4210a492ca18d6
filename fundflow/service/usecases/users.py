"""Users, logins and tokens."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta

from sqlmodel import Session, select

from fundflow.service import login_throttle as throttle
from fundflow.service.auth import hash_password, issue_token, revoke_all, revoke_token, verify_password
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyRequests
from fundflow.service.tables import Community, District, Organisation, StreetOffice, User

__all__ = [
    "add_user",
    "login",
    "logout",
    "authenticate",
    "resolve_org",
    "role_levels",
    "known_roles",
    "revoke_tokens",
    "deactivate",
    "new_api_token",
    "CITY_ORG_NAME",
]

#: The one role no procedure declares: the administrator, at city level. Every other role's
#: organisation level comes from the definitions (``roles: {id: {label, level}}``).
BUILTIN_ROLE_LEVELS = {"admin": "city"}
log = logging.getLogger("fundflow.auth")
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")


def role_levels(svc: Services) -> dict[str, str]:
    """Role -> the organisation level of its users: declared by the definitions, plus ``admin``."""
    return {**svc.registry.role_levels(), **BUILTIN_ROLE_LEVELS}


def known_roles(svc: Services) -> set[str]:
    roles = set(BUILTIN_ROLE_LEVELS)
    for d in svc.registry:
        roles |= set(d.roles)
    return roles


#: The organisation name of a city-level user (the fund center, the housing bureau, admins).
CITY_ORG_NAME = "市级"


def resolve_org(s: Session, level: str, org: str | None, kind: str | None = None) -> tuple[int | None, str]:
    """``city``; a district code; a street office code; a community code; for a role of an
    organisation kind, the code of an organisation of that kind -> (id, name)."""
    if kind is not None:
        row = s.exec(select(Organisation).where(Organisation.code == (org or ""), Organisation.kind == kind)).first()
        if row is None:
            raise InvalidInput(f"找不到编码为 {org!r} 的单位（{kind}）", code="unknown_org")
        return row.id, row.name
    if level == "city":
        return None, CITY_ORG_NAME
    model = {"district": District, "street_office": StreetOffice, "community": Community}[level]
    row = s.exec(select(model).where(model.code == (org or ""))).first()
    if row is None:
        names = {"district": "区", "street_office": "街道办事处", "community": "小区"}
        raise InvalidInput(f"找不到编码为 {org!r} 的{names[level]}", code="unknown_org")
    return row.id, row.name


def add_user(
    svc: Services, *, username: str, display_name: str, role: str, org: str | None, password: str | None, now: datetime
) -> tuple[User, str]:
    if not _USERNAME.match(username or ""):
        raise InvalidInput("用户名为 2-64 位字母、数字、下划线、点或连字符", code="invalid_username")
    levels = role_levels(svc)
    if role not in known_roles(svc) or role not in levels:
        raise InvalidInput(f"未知角色：{role}", code="unknown_role", detail={"roles": sorted(levels)})
    display_name = (display_name or username).strip()
    if not display_name or len(display_name) > 64:
        raise InvalidInput("显示名称不能为空，且不超过 64 字", code="invalid_display_name")
    if password is not None and len(password) < 8:
        raise InvalidInput("密码至少 8 位", code="weak_password")
    level = levels[role]
    # Argon2 takes ~0.1 s: hash before the transaction, which on SQLite holds the write lock.
    password_hash = hash_password(password) if password else None
    with transaction(svc.sessions) as s:
        if s.exec(select(User).where(User.username == username)).first():
            raise Conflict(f"用户名 {username} 已存在", code="duplicate_username")
        org_id, org_name = resolve_org(s, level, org, svc.registry.role_kind(role))
        user = User(
            username=username,
            display_name=display_name,
            role=role,
            org_level=level,
            org_id=org_id,
            org_name=org_name,
            password_hash=password_hash,
            created_at=now,
        )
        s.add(user)
        s.flush()
        token = issue_token(s, user, "api", now, _api_lifetime(svc))
    return user, token


def _api_lifetime(svc: Services) -> timedelta:
    return timedelta(days=svc.settings.api_token_days)


def _named(s: Session, username: str) -> User:
    user = s.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"没有用户 {username}", code="unknown_user")
    return user


def new_api_token(svc: Services, username: str, now: datetime) -> str:
    """A further API token for an active user (shown once), valid ``api_token_days``."""
    with transaction(svc.sessions) as s:
        user = _named(s, username)
        if not user.active:
            raise Conflict(f"用户 {username} 已停用", code="user_inactive")
        return issue_token(s, user, "api", now, _api_lifetime(svc))


def revoke_tokens(svc: Services, username: str) -> int:
    """Revoke every token (API and session) of a user; they stop working at once."""
    with transaction(svc.sessions) as s:
        return revoke_all(s, _named(s, username).id)


def deactivate(svc: Services, username: str) -> int:
    """Deactivate a user: no login, and every token and session stops at once. The number of
    tokens revoked."""
    with transaction(svc.sessions) as s:
        user = _named(s, username)
        user.active = False
        s.add(user)
        return revoke_all(s, user.id)


def login(svc: Services, username: str, password: str, now: datetime, address: str | None = None) -> tuple[User, str]:
    """A session token for the right password; failures are throttled per user name and per
    ``address`` (service.login_throttle) and logged."""
    keys = throttle.keys_for(username, address)
    with read_only(svc.sessions) as s:  # the slow password check runs outside any write lock
        wait = throttle.retry_after(s, keys, now)
        user = s.exec(select(User).where(User.username == username)).first()
    if wait:
        log.warning(
            json.dumps(
                {"event": "login_throttled", "username": username, "address": address, "retry_after": wait},
                ensure_ascii=False,
            )
        )
        raise TooManyRequests(
            f"登录失败次数过多，请 {wait} 秒后再试", code="login_throttled", detail={"retry_after": wait}
        )
    if not verify_password(password, user.password_hash if user else None) or not user.active:
        with transaction(svc.sessions) as s:
            failures = throttle.record_failure(s, keys, now, svc.settings)
        log.warning(
            json.dumps(
                {"event": "login_failed", "username": username, "address": address, "failures": failures},
                ensure_ascii=False,
            )
        )
        raise NotAuthenticated("用户名或密码错误", code="bad_credentials")
    with transaction(svc.sessions) as s:
        throttle.clear(s, keys[0])
        token = issue_token(s, user, "session", now, timedelta(hours=svc.settings.session_hours))
    return user, token


def authenticate(svc: Services, token: str, now: datetime) -> User:
    """``reads.session.signed_in`` in a read transaction of its own."""
    from fundflow.service.reads.session import signed_in

    with read_only(svc.sessions) as s:
        return signed_in(s, svc, token, now)


def logout(svc: Services, token: str) -> bool:
    """Revoke the token presented (logging out, or ``DELETE /api/v1/tokens/current``); False
    when it was unknown or already revoked."""
    with transaction(svc.sessions) as s:
        return revoke_token(s, token)
