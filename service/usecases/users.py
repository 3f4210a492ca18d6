"""Users, logins and tokens."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, select

from ..auth import hash_password, issue_token, user_for_token, verify_password
from ..context import Services
from ..db import read_only, transaction
from ..errors import Conflict, InvalidInput, NotAuthenticated
from ..tables import Community, District, StreetOffice, User

__all__ = ["add_user", "login", "logout", "authenticate", "resolve_org", "ROLE_LEVELS", "known_roles", "CITY_ORG_NAME"]

#: The organisation level each role belongs to. Parties inside a community are scoped to it;
#: the fire authority to its district; the fund center, bureau and admins see the city.
ROLE_LEVELS = {
    "street_office": "street_office",
    "fund_center": "city",
    "fire_rescue": "district",
    "residents_committee": "community",
    "owners_committee": "community",
    "property_company": "community",
    "housing_bureau": "city",
    "admin": "city",
}
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")


def known_roles(svc: Services) -> set[str]:
    roles = {"admin"}
    for d in svc.registry:
        roles |= set(d.roles)
    return roles


#: The organisation name of a city-level user (the fund center, the housing bureau, admins).
CITY_ORG_NAME = "市级"


def resolve_org(s: Session, level: str, org: str | None) -> tuple[int | None, str]:
    """``city``; a district code; a street office code; a community code -> (id, name)."""
    if level == "city":
        return None, CITY_ORG_NAME
    model = {"district": District, "street_office": StreetOffice, "community": Community}[level]
    row = s.exec(select(model).where(model.code == (org or ""))).first()
    if row is None:
        names = {"district": "区", "street_office": "街道办事处", "community": "小区"}
        raise InvalidInput(f"找不到编码为 {org!r} 的{names[level]}", code="unknown_org")
    return row.id, row.name


def add_user(svc: Services, *, username: str, display_name: str, role: str, org: str | None,
             password: str | None, now: datetime) -> tuple[User, str]:
    if not _USERNAME.match(username or ""):
        raise InvalidInput("用户名为 2-64 位字母、数字、下划线、点或连字符", code="invalid_username")
    if role not in known_roles(svc) or role not in ROLE_LEVELS:
        raise InvalidInput(f"未知角色：{role}", code="unknown_role", detail={"roles": sorted(ROLE_LEVELS)})
    display_name = (display_name or username).strip()
    if not display_name or len(display_name) > 64:
        raise InvalidInput("显示名称不能为空，且不超过 64 字", code="invalid_display_name")
    if password is not None and len(password) < 8:
        raise InvalidInput("密码至少 8 位", code="weak_password")
    level = ROLE_LEVELS[role]
    # Argon2 takes ~0.1 s: hash before the transaction, which on SQLite holds the write lock.
    password_hash = hash_password(password) if password else None
    with transaction(svc.sessions) as s:
        if s.exec(select(User).where(User.username == username)).first():
            raise Conflict(f"用户名 {username} 已存在", code="duplicate_username")
        org_id, org_name = resolve_org(s, level, org)
        user = User(username=username, display_name=display_name, role=role, org_level=level,
                    org_id=org_id, org_name=org_name, password_hash=password_hash,
                    created_at=now)
        s.add(user)
        s.flush()
        token = issue_token(s, user, "api", now)
    return user, token


def login(svc: Services, username: str, password: str, now: datetime) -> tuple[User, str]:
    with read_only(svc.sessions) as s:  # the slow password check runs outside any write lock
        user = s.exec(select(User).where(User.username == username)).first()
    if not verify_password(password, user.password_hash if user else None) or not user.active:
        raise NotAuthenticated("用户名或密码错误", code="bad_credentials")
    with transaction(svc.sessions) as s:
        token = issue_token(s, user, "session", now, timedelta(hours=svc.settings.session_hours))
    return user, token


def authenticate(svc: Services, token: str, now: datetime) -> User:
    with read_only(svc.sessions) as s:
        user = user_for_token(s, token, now)
    if user is None:
        raise NotAuthenticated("登录已失效或令牌无效，请重新登录", code="invalid_token")
    return user


def logout(svc: Services, token: str) -> None:
    """Revoke a session token (logging out); unknown tokens are ignored."""
    from ..auth import revoke_token

    with transaction(svc.sessions) as s:
        revoke_token(s, token)
