"""Alerts: the overdue scan, the calendar's next year, the inbox, and the channels.

The scan finds the open stages whose next alert moment has passed (an indexed query on
``stages.next_alert_at``: its cost follows what falls due, not the number of cases), records
every moment that passed as one alert (unique ``dedupe_key``; a repeated or concurrent scan
inserts nothing twice) and one outbox row per matching channel, all in one transaction, then
moves ``next_alert_at`` on. Suspended cases have no ``next_alert_at``. On PostgreSQL one scan
runs at a time (a transaction-level advisory lock); the unique keys hold even without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, any_, bindparam, func, or_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from fundflow.domain.alerts import next_moment, stage_moments
from fundflow.domain.deadlines import Anchors, compute_deadlines
from fundflow.domain.tz import local_date
from fundflow.service.alert_text import KIND_LABELS, calendar_alert_text, stage_alert_text
from fundflow.service.bulk import insert_ignore_many, update_by_id
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Forbidden, InvalidInput, NotFound
from fundflow.service.integrity.facts import STAGES
from fundflow.service.jurisdiction import ORG_LEVELS, case_clause
from fundflow.service.notify.targets import TargetRefused, check_target
from fundflow.service.reads.common import iso
from fundflow.service.tables import Alert, AlertAck, Case, Channel, Community, Delivery, Stage, User
from fundflow.service.usecases.cases import (  # the one place that writes a stage's deadlines
    OPEN_TRIGGER,
    act_moments,
    append_event,
    set_deadlines,
)

__all__ = [
    "scan",
    "ScanResult",
    "check_calendar",
    "recompute_provisional",
    "list_alerts",
    "ack_alert",
    "add_channel",
    "list_channels",
    "CHANNEL_KINDS",
]

CHANNEL_KINDS = ("webhook", "wecom", "dingtalk", "email")
SYSTEM = "system"
BATCH = 500


@dataclass
class ScanResult:
    skipped: bool = False  # another scan held the lock
    stages: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.skipped:
            return ["skipped: another scan is running"]
        return [f"{a['kind']:<10} {a['at']}  {a['title']}" for a in self.alerts]


def _insert_ignore(session: Session, table, values: dict) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None."""
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)).values(**values)
    return session.execute(stmt.on_conflict_do_nothing().returning(table.c.id)).scalar_one_or_none()


def _recipients(roles) -> str:
    return "," + ",".join(roles) + ","


def _channels_for(channels: list[Channel], roles: tuple[str, ...], case: Case | None) -> list[Channel]:
    out = []
    for ch in channels:
        if ch.role is not None and ch.role not in roles:
            continue
        if ch.org_level != "city":
            if case is None:
                continue
            wanted = {
                "district": case.district_id,
                "street_office": case.street_office_id,
                "community": case.community_id,
            }.get(ch.org_level)
            if wanted != ch.org_id:
                continue
        out.append(ch)
    return out


def _record(
    session: Session,
    now: datetime,
    *,
    key: str,
    kind: str,
    level: int,
    repeat: int,
    at: datetime,
    roles: tuple[str, ...],
    title: str,
    message: str,
    provisional: bool,
    case: Case | None,
    stage: Stage | None,
    channels: list[Channel] | None = None,
) -> dict[str, Any] | None:
    alert_id = _insert_ignore(
        session,
        Alert.__table__,
        dict(
            dedupe_key=key,
            kind=kind,
            level=level,
            repeat=repeat,
            case_id=case.id if case else None,
            stage_id=stage.id if stage else None,
            state=stage.state if stage else None,
            at=at,
            recipients=_recipients(roles),
            title=title,
            message=message,
            provisional=provisional,
            created_at=now,
        ),
    )
    if alert_id is None:
        return None
    if channels is None:
        channels = list(session.exec(select(Channel).where(Channel.active.is_(True))))
    for ch in _channels_for(channels, roles, case):
        _insert_ignore(
            session,
            Delivery.__table__,
            dict(
                alert_id=alert_id, channel_id=ch.id, status="pending", attempts=0, next_attempt_at=now, created_at=now
            ),
        )
    return {
        "id": alert_id,
        "kind": kind,
        "level": level,
        "at": iso(at),
        "title": title,
        "case_id": case.id if case else None,
    }


def scan(svc: Services, now: datetime) -> ScanResult:
    """Record every warning, overdue and escalation moment that has passed by ``now``."""
    result = ScanResult()
    with transaction(svc.sessions) as s:
        if s.get_bind().dialect.name == "postgresql":
            # keyed by schema: deployments (and test runs) in other schemas of the same
            # database scan independently
            key = func.hashtext(func.concat(func.current_schema(), ":fundflow-scan"))
            if not s.exec(select(func.pg_try_advisory_xact_lock(key))).one():
                result.skipped = True
                return result
        names: dict[int, str] = {}
        channels = list(s.exec(select(Channel).where(Channel.active.is_(True))))
        seen: set[int] = set()
        while True:
            # Two steps, so that the planner always walks ix_stages_open_next_alert: the ids
            # due (a processed stage's next_alert_at moves past now, so it drops out), then
            # their rows. Suspended cases have no next_alert_at.
            ids = list(
                s.exec(
                    select(Stage.id)
                    .where(Stage.left_at.is_(None), Stage.next_alert_at <= now)
                    .order_by(Stage.next_alert_at)
                    .limit(BATCH)
                )
            )
            ids = [i for i in ids if i not in seen]
            if not ids:
                break
            seen.update(ids)
            _scan_batch(svc, s, ids, now, names, channels, result)
    return result


_SCAN_ROWS = (
    select(
        Stage.id,
        Stage.state,
        Stage.due_at,
        Stage.due_date,
        Stage.warn_at,
        Stage.provisional,
        Case.definition_id,
        Case.definition_version,
        Case.community_id,
        Case.street_office_id,
        Case.district_id,
        Case.number,
        Case.title,
        Case.suspended_since,
        Case.id.label("case_id"),
    )
    .join(Case, Case.id == Stage.case_id)
    .order_by(Stage.id)
)


def _scan_batch(
    svc: Services,
    s: Session,
    ids: list[int],
    now: datetime,
    names: dict[int, str],
    channels: list[Channel],
    result: ScanResult,
) -> None:
    """The due stages ``ids``: their alerts in one multi-row insert (what was already recorded
    is left alone: unique ``dedupe_key``), their outbox rows in another, their next moments in
    one update (service.bulk: one statement per batch on PostgreSQL)."""
    conn = s.connection()
    memo: dict[tuple, tuple] = {}  # stages of one state due at the same moment have the same moments
    alerts: list[dict[str, Any]] = []
    about: list[tuple[Any, tuple[str, ...]]] = []  # per alert row: the case row, the recipients
    moves: list[tuple[int, datetime | None]] = []
    # PostgreSQL: the ids as one array (= ANY), not 500 placeholders for psycopg to parse
    pick = Stage.id == any_(bindparam("ids", type_=ARRAY(Integer))) if conn.dialect.name == "postgresql" else None
    rows = (
        conn.execute(_SCAN_ROWS.where(pick), {"ids": ids})
        if pick is not None
        else conn.execute(_SCAN_ROWS.where(Stage.id.in_(ids)))
    )
    for row in rows.all():
        result.stages += 1
        moves.append((row.id, _stage_alerts(svc, s, row, now, names, alerts, about, memo)))
    inserted = dict(insert_ignore_many(conn, Alert.__table__, alerts, ("dedupe_key", "id")))
    deliveries = []
    for values, (case, roles) in zip(alerts, about):
        alert_id = inserted.get(values["dedupe_key"])
        if alert_id is None:
            continue
        for ch in _channels_for(channels, roles, case):
            deliveries.append(
                dict(
                    alert_id=alert_id,
                    channel_id=ch.id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        result.alerts.append(
            {
                "id": alert_id,
                "kind": values["kind"],
                "level": values["level"],
                "at": iso(values["at"]),
                "title": values["title"],
                "case_id": values["case_id"],
            }
        )
    insert_ignore_many(conn, Delivery.__table__, deliveries)
    update_by_id(conn, Stage.__table__, "next_alert_at", moves)


def _stage_alerts(svc, s, row, now, names, alerts, about, memo) -> datetime | None:
    """The alert rows of one due stage (appended to ``alerts``); its next alert moment."""
    d = svc.registry.get(row.definition_id, row.definition_version)
    state = d.states.get(row.state)
    rule = state.deadline if state else None
    if rule is None or row.due_at is None or row.due_date is None or row.suspended_since is not None:
        return None
    if row.community_id not in names:
        # a case not about a community (issue 15) is named by its procedure instead
        community = s.get(Community, row.community_id) if row.community_id is not None else None
        names[row.community_id] = community.name if community else ""
    place = names[row.community_id] or d.title
    key = (row.definition_id, row.definition_version, row.state, row.due_date, row.due_at, row.warn_at)
    got = memo.get(key)
    if got is None:
        args = (rule, state.responsible, row.due_date, row.due_at, row.warn_at, svc.calendar, now)
        got = memo[key] = (tuple(stage_moments(*args)), next_moment(*args))
    moments, following = got
    for m in moments:
        title, message = stage_alert_text(
            m,
            community=place,
            case_number=row.number,
            case_title=row.title,
            stage_label=state.label,
            due_date=row.due_date,
            provisional=row.provisional,
            calendar=svc.calendar,
            responsible_label=d.roles[state.responsible].label if state.responsible else None,
            escalate_to="、".join(d.roles[r].label for r in m.to if r in d.roles) or None,
        )
        alerts.append(
            dict(
                dedupe_key=f"stage:{row.id}:{m.kind.value}:{m.level}:{m.repeat}:{m.at.isoformat()}",
                kind=m.kind.value,
                level=m.level,
                repeat=m.repeat,
                case_id=row.case_id,
                stage_id=row.id,
                state=row.state,
                at=m.at,
                recipients=_recipients(m.to),
                title=title,
                message=message,
                provisional=row.provisional,
                created_at=now,
            )
        )
        about.append((row, m.to))
    return following


# -- the calendar's next year ------------------------------------------------------------------

CALENDAR_MONTH = 11  # from November the next year's arrangement is due


def check_calendar(svc: Services, now: datetime) -> dict[str, Any] | None:
    """From November, while next year is unknown to the calendar, one admin alert a day."""
    today = local_date(now)
    year = today.year + 1
    if today.month < CALENDAR_MONTH or svc.calendar.is_known(year):
        return None
    title, message = calendar_alert_text(year, today)
    with transaction(svc.sessions) as s:
        return _record(
            s,
            now,
            key=f"calendar:{year}:{today.isoformat()}",
            kind="calendar",
            level=0,
            repeat=0,
            at=now,
            roles=("admin",),
            title=title,
            message=message,
            provisional=False,
            case=None,
            stage=None,
        )


def recompute_provisional(svc: Services, now: datetime) -> list[int]:
    """Recompute the open stages whose deadlines were provisional, now that the calendar may
    know their year; record each change as an event of the case. Returns the case ids."""
    changed: list[int] = []
    with transaction(svc.sessions) as s:
        for stage, case in s.exec(
            select(Stage, Case)
            .join(Case, Case.id == Stage.case_id)
            .where(Stage.left_at.is_(None), Stage.provisional.is_(True))
        ).all():
            d = svc.registry.get(case.definition_id, case.definition_version)
            rule = d.states[stage.state].deadline
            acts = act_moments(case)
            fresh = compute_deadlines(
                rule,
                stage.entered_at,
                svc.calendar,
                case.data,
                suspended_working_days=stage.suspended_working_days,
                suspended_days=stage.suspended_days,
                anchors=Anchors(acts.get(OPEN_TRIGGER, case.created_at), acts),
            )
            if fresh is None or (fresh.due_date == stage.due_date and fresh.provisional == stage.provisional):
                continue
            before = stage.due_date
            set_deadlines(stage, fresh)
            if case.suspended_since is not None:
                stage.next_alert_at = None
            s.add(stage)
            append_event(
                s,
                case,
                None,
                "recompute_deadline",
                "工作日历更新，重新计算期限",
                case.state,
                case.state,
                {
                    "due_date_before": before.isoformat() if before else None,
                    "due_date": fresh.due_date.isoformat(),
                    "provisional": fresh.provisional,
                    "calendar_source": fresh.calendar_source,
                },
                None,
                now,
                [STAGES.changed(stage)],
            )
            case.updated_at = now
            s.add(case)
            changed.append(case.id)
    return changed


# -- the inbox ---------------------------------------------------------------------------------


def _mine(user: User):
    visible = or_(Alert.case_id.is_(None), Alert.case_id.in_(select(Case.id).where(case_clause(user))))
    return and_(Alert.recipients.like(f"%,{user.role},%"), visible)


def alert_view(a: Alert, acked: bool) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "kind_label": KIND_LABELS.get(a.kind, a.kind),
        "level": a.level,
        "repeat": a.repeat,
        "case_id": a.case_id,
        "state": a.state,
        "at": iso(a.at),
        "title": a.title,
        "message": a.message,
        "provisional": a.provisional,
        "recipients": a.recipients.strip(",").split(","),
        "acked": acked,
        "created_at": iso(a.created_at),
    }


def list_alerts(
    svc: Services,
    user: User,
    now: datetime,
    *,
    unacked_only: bool = False,
    kind: str | None = None,
    case_id: int | None = None,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    """``reads.inbox.inbox`` in a read transaction of its own."""
    from fundflow.service.reads.inbox import inbox

    with read_only(svc.sessions) as s:
        return inbox(s, user, unacked_only=unacked_only, kind=kind, case_id=case_id, page=page, page_size=page_size)


def ack_alert(svc: Services, user: User, alert_id: int, now: datetime) -> dict[str, Any]:
    with transaction(svc.sessions) as s:
        alert = s.exec(select(Alert).where(Alert.id == alert_id, _mine(user))).first()
        if alert is None:
            raise NotFound("提醒不存在或不是发给您的", code="alert_not_found")
        _insert_ignore(s, AlertAck.__table__, dict(alert_id=alert.id, user_id=user.id, at=now))
        return alert_view(alert, True)


# -- channels ----------------------------------------------------------------------------------


def _masked(target: str) -> str:
    """A robot URL carries its key (and a signing secret): show where it goes, not the key."""
    if "://" not in target:
        return target  # e-mail addresses
    head, _, rest = target.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{head}://{host}/…{rest[-4:]}" if len(rest) > len(host) + 4 else f"{head}://{host}"


def _channel_view(ch: Channel) -> dict[str, Any]:
    return {
        "id": ch.id,
        "name": ch.name,
        "kind": ch.kind,
        "target": _masked(ch.target),
        "role": ch.role,
        "org_level": ch.org_level,
        "org_id": ch.org_id,
        "active": ch.active,
    }


def add_channel(
    svc: Services,
    user: User | None,
    *,
    name: str,
    kind: str,
    target: str,
    role: str | None,
    org_level: str = "city",
    org_id: int | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Only admins configure where alerts go (``user`` None: the command line). A URL target must
    be http(s) to a public host (service.notify.targets), checked now and at each delivery."""
    if user is not None and user.role != "admin":
        raise Forbidden("只有系统管理员可以配置提醒渠道", code="cannot_configure_channels")
    if kind not in CHANNEL_KINDS:
        raise InvalidInput(f"渠道类型应为 {'、'.join(CHANNEL_KINDS)}", code="unknown_channel_kind")
    target = (target or "").strip()
    if kind == "email":
        if not target or any("@" not in a for a in target.split(",")):
            raise InvalidInput("邮件渠道的目标应为逗号分隔的邮箱地址", code="invalid_channel_target")
    else:
        try:
            check_target(target, svc.settings)
        except TargetRefused as exc:
            raise InvalidInput(f"渠道地址不可用：{exc.reason}", code="invalid_channel_target") from None
    if org_level not in ORG_LEVELS or (org_level != "city") != (org_id is not None):
        raise InvalidInput("机构层级为 city 时不填 org_id，其他层级须填", code="invalid_channel_org")
    with transaction(svc.sessions) as s:
        ch = Channel(
            name=(name or kind)[:64],
            kind=kind,
            target=target[:1000],
            role=role,
            org_level=org_level,
            org_id=org_id,
            created_at=now,
        )
        s.add(ch)
        s.flush()
        return _channel_view(ch)


def list_channels(svc: Services, user: User) -> list[dict[str, Any]]:
    if user.org_level != "city":
        raise Forbidden("只有市级用户可以查看提醒渠道", code="cannot_configure_channels")
    with read_only(svc.sessions) as s:
        rows = s.exec(select(Channel).order_by(Channel.id)).all()
        out = []
        for ch in rows:
            counts = dict(
                s.exec(
                    select(Delivery.status, func.count()).where(Delivery.channel_id == ch.id).group_by(Delivery.status)
                ).all()
            )
            out.append(_channel_view(ch) | {"deliveries": counts})
        return out
