"""The alerts inbox (GET /alerts, the alerts page) and the menu's unread count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from fundflow.service.errors import InvalidInput
from fundflow.service.tables import Alert, AlertAck, User

__all__ = ["inbox", "unacked_count"]


def _mine(user: User):
    from fundflow.service.usecases.alerts import _mine as mine  # who an alert is for: the use case's rule

    return mine(user)


def _acked(user: User):
    return select(AlertAck.alert_id).where(AlertAck.user_id == user.id)


def unacked_count(s: Session, user: User) -> int:
    return s.exec(
        select(func.count()).select_from(select(Alert).where(_mine(user), Alert.id.not_in(_acked(user))).subquery())
    ).one()


def inbox(
    s: Session,
    user: User,
    *,
    unacked_only: bool = False,
    kind: str | None = None,
    case_id: int | None = None,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    from fundflow.service.usecases.alerts import alert_view

    if page < 1 or not 1 <= page_size <= 100:
        raise InvalidInput("page 从 1 开始，page_size 为 1-100", code="invalid_page")
    acked = _acked(user)
    stmt = select(Alert).where(_mine(user))
    if unacked_only:
        stmt = stmt.where(Alert.id.not_in(acked))
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    if case_id is not None:
        stmt = stmt.where(Alert.case_id == case_id)
    total = s.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = s.exec(stmt.order_by(Alert.at.desc(), Alert.id.desc()).offset((page - 1) * page_size).limit(page_size)).all()
    mine_acked = set(s.exec(acked.where(AlertAck.alert_id.in_([a.id for a in rows]))).all()) if rows else set()
    return {
        "items": [alert_view(a, a.id in mine_acked) for a in rows],
        "total": total,
        "unacked": unacked_count(s, user),
        "page": page,
        "page_size": page_size,
    }
