"""Delivery: the outbox of alerts, sent after commit to webhooks, WeCom, DingTalk and e-mail.

The scan writes one ``deliveries`` row per alert and matching channel in its own transaction.
A delivery pass sends them, never holding a transaction open across network I/O:

1. **claim** (one short transaction): due rows (``pending``, ``next_attempt_at <= now``, active
   channel) get a lease - ``next_attempt_at = now + lease`` and ``attempts + 1`` - and the claim
   commits. On PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``, so concurrent passes in
   several processes claim disjoint rows; on SQLite writers are serialised (``BEGIN IMMEDIATE``)
   and a claimed row is simply no longer due.
2. **send** each claimed row, outside any transaction (``fundflow.service.notify``; the idempotency key
   is ``fundflow-alert-{alert_id}-{channel_id}``).
3. **record** (one short transaction per row): ``sent`` with ``sent_at``, or the error and
   ``next_attempt_at = now + backoff``. The write is fenced on the ``attempts`` value of the
   claim: if the lease ran out and another pass re-claimed the row, this pass's late result is
   dropped (``lost``) rather than overwriting the other's.

Back-off: 30 s x 2^(n-1), capped at 30 min, where n is the channel's failure streak (the most
attempts among its pending rows). When a channel fails, its other due rows are put back to the
same retry time, so a channel that is down for hours is probed once per back-off interval -
not once per pending alert - and, once back, receives each alert once. Nothing is ever given
up: a pending row stays pending until sent (its status shows the attempts and the last error).

Re-addressed (``readdress``): when a case changes organisation (an accepted 转办), its alerts'
pending rows to a channel of the old organisation are ``cancelled`` with the reason, and the
new organisation's matching channels get a row each (one per alert and channel, as written by
the scan; a row cancelled by an earlier transfer is pending again). Sent rows stay as they were.
A row a pass had claimed before is not sent if cancelled before its turn; one already being
sent when it was cancelled is recorded as ``sent`` (it was).

A process that dies after the receiver accepted a message but before step 3 sends it again
after the lease: webhooks and mail carry the idempotency key for that case; WeCom and DingTalk
robots take none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic as _clock  # real time: how long this pass has held its claim
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, select

from fundflow.domain.tz import require_aware
from fundflow.service import notify
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Forbidden, NotFound
from fundflow.service.reads.common import iso
from fundflow.service.tables import Alert, Case, Channel, Delivery, User

# the scan's own matching and insert, so that a re-addressed row is the row the scan would write
from fundflow.service.usecases.alerts import _channels_for, _insert_ignore

__all__ = [
    "deliver_pending",
    "readdress",
    "PENDING",
    "SENT",
    "CANCELLED",
    "DeliveryReport",
    "delivery_status",
    "backoff",
    "idempotency_key",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "CLAIM_BATCH",
]

log = logging.getLogger("fundflow.delivery")

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=30)
CLAIM_BATCH = 20  # rows claimed per transaction; a pass claims batches until its limit
MAX_ERROR = 1000

PENDING, SENT, CANCELLED = "pending", "sent", "cancelled"  # a delivery's status

idempotency_key = notify.idempotency_key


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 30 s, 1 min, 2 min, ... 30 min."""
    n = max(attempts, 1)
    if n > 16:
        return BACKOFF_CAP
    return min(BACKOFF_BASE * 2 ** (n - 1), BACKOFF_CAP)


@dataclass
class DeliveryReport:
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    put_back: int = 0  # claimed, not sent this pass: their channel had just failed, or the lease ran short
    cancelled: int = 0  # claimed, then cancelled before their turn (their case went to another organisation)
    lost: int = 0  # sent, but the lease had run out and another pass had re-claimed the row

    def lines(self) -> list[str]:
        out = [f"sent    #{d['delivery_id']:<6} {d['kind']:<8} {d['channel']}  {d['title']}" for d in self.sent]
        out += [
            f"failed  #{d['delivery_id']:<6} {d['kind']:<8} {d['channel']}  attempt {d['attempts']}, "
            f"retry at {d['next_attempt_at']}: {d['error']}"
            for d in self.failed
        ]
        return out

    def summary(self) -> str:
        return (
            f"{len(self.sent)} sent, {len(self.failed)} failed, {self.put_back} put back"
            + (f", {self.lost} lost to another pass" if self.lost else "")
            + (f", {self.cancelled} cancelled (re-addressed)" if self.cancelled else "")
        )


@dataclass
class _Claim:
    id: int
    attempts: int  # after the claim: the fence for recording the outcome
    prior_next_attempt_at: datetime
    alert: Alert
    channel: Channel


def deliver_pending(svc: Services, now: datetime, *, limit: int = 100) -> DeliveryReport:
    """One delivery pass: claim up to ``limit`` due deliveries, send each, record the outcome."""
    require_aware(now, "now")
    report = DeliveryReport()
    settings = svc.settings
    lease = timedelta(seconds=settings.delivery_lease_seconds)
    # Start no send once the claim is this old (real time): the sends under way end well
    # within the lease, so no other pass can re-claim a row while this one may still send it.
    budget = max(
        settings.delivery_lease_seconds / 2, settings.delivery_lease_seconds - 4 * settings.delivery_timeout_seconds
    )
    down: dict[int, tuple[datetime, str]] = {}  # channels that failed in this pass -> (retry time, reason)
    remaining = limit
    while remaining > 0:
        claims = _claim(svc, now, lease, min(CLAIM_BATCH, remaining), exclude=down.keys())
        if not claims:
            break
        remaining -= len(claims)
        claimed_at = _clock()
        out_of_time = False
        for c in claims:
            if c.channel.id in down:  # failed a moment ago: this row waits for the channel's retry
                retry, reason = down[c.channel.id]
                _put_back(svc, c, retry, _waiting(reason))
                report.put_back += 1
                continue
            if out_of_time or _clock() - claimed_at > budget:
                out_of_time = True
                _put_back(svc, c, c.prior_next_attempt_at)
                report.put_back += 1
                continue
            if c.channel.org_level != "city" and not _still_pending(svc, c):
                report.cancelled += 1  # re-addressed since the claim: not sent to the old organisation
                continue
            key = notify.idempotency_key(c.alert.id, c.channel.id)
            try:
                note = notify.send(c.channel, c.alert, key, settings)
            except notify.DeliveryFailed as exc:
                reason = exc.reason
            except Exception as exc:
                log.exception("delivery %s to channel %s raised", c.id, c.channel.id)
                reason = f"内部错误：{exc.__class__.__name__}: {exc}"
            else:
                if _record_sent(svc, c, now, note):
                    report.sent.append(_item(c) | {"sent_at": iso(now), "note": note})
                else:
                    report.lost += 1
                continue
            retry = _record_failed(svc, c, now, reason)
            if retry is None:
                report.lost += 1
                continue
            down[c.channel.id] = (retry, reason)
            report.failed.append(_item(c) | {"error": reason, "next_attempt_at": iso(retry)})
            log.warning(
                "delivery %s to %s channel %s failed (attempt %s): %s",
                c.id,
                c.channel.kind,
                c.channel.id,
                c.attempts,
                reason,
            )
        if out_of_time:
            break
    return report


def _item(c: _Claim) -> dict[str, Any]:
    return {
        "delivery_id": c.id,
        "alert_id": c.alert.id,
        "channel_id": c.channel.id,
        "channel": c.channel.name,
        "kind": c.channel.kind,
        "attempts": c.attempts,
        "title": c.alert.title,
    }


def _claim(svc: Services, now: datetime, lease: timedelta, n: int, exclude: Iterable[int]) -> list[_Claim]:
    exclude = list(exclude)
    with transaction(svc.sessions) as s:
        stmt = (
            select(Delivery)
            .join(Channel, Channel.id == Delivery.channel_id)
            .where(Delivery.status == PENDING, Delivery.next_attempt_at <= now, Channel.active.is_(True))
        )
        if exclude:
            stmt = stmt.where(Delivery.channel_id.not_in(exclude))
        # the row with the most attempts first: it carries its channel's back-off
        stmt = stmt.order_by(Delivery.next_attempt_at, Delivery.attempts.desc(), Delivery.id).limit(n)
        if s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Delivery)
        rows = s.exec(stmt).all()
        if not rows:
            return []
        alerts = {a.id: a for a in s.exec(select(Alert).where(Alert.id.in_({r.alert_id for r in rows})))}
        channels = {c.id: c for c in s.exec(select(Channel).where(Channel.id.in_({r.channel_id for r in rows})))}
        claims = []
        for row in rows:
            prior = row.next_attempt_at
            row.attempts += 1
            row.next_attempt_at = now + lease
            s.add(row)
            claims.append(_Claim(row.id, row.attempts, prior, alerts[row.alert_id], channels[row.channel_id]))
        return claims


def _fenced(c: _Claim, statuses: tuple[str, ...] = (PENDING,)):
    return update(Delivery).where(Delivery.id == c.id, Delivery.status.in_(statuses), Delivery.attempts == c.attempts)


def _record_sent(svc: Services, c: _Claim, now: datetime, note: str | None) -> bool:
    # a row cancelled while this pass was sending it (its case re-addressed) was sent all the same
    with transaction(svc.sessions) as s:
        done = s.exec(_fenced(c, (PENDING, CANCELLED)).values(status=SENT, sent_at=now, last_error=note)).rowcount
    if not done:
        log.warning("delivery %s was sent after its lease ran out; another pass had claimed it", c.id)
    return bool(done)


def _record_failed(svc: Services, c: _Claim, now: datetime, reason: str) -> datetime | None:
    """The failure of ``c`` and the retry time of its channel; None if the lease was lost."""
    reason = reason[:MAX_ERROR]
    with transaction(svc.sessions) as s:
        streak = (
            s.exec(
                select(func.max(Delivery.attempts)).where(
                    Delivery.channel_id == c.channel.id, Delivery.status == PENDING
                )
            ).one()
            or 0
        )
        retry = now + backoff(max(streak, c.attempts))
        if not s.exec(_fenced(c).values(last_error=reason, next_attempt_at=retry)).rowcount:
            return None
        # the channel's other due rows wait for the same retry: one probe per back-off interval
        s.exec(
            update(Delivery)
            .where(
                Delivery.channel_id == c.channel.id,
                Delivery.status == PENDING,
                Delivery.next_attempt_at <= now,
                Delivery.id != c.id,
            )
            .values(next_attempt_at=retry, last_error=_waiting(reason))
        )
    return retry


def _waiting(reason: str) -> str:
    return f"渠道暂不可用，随下次重试发送：{reason}"[:MAX_ERROR]


def _still_pending(svc: Services, c: _Claim) -> bool:
    """The claimed row is still to be sent (an accepted transfer may have cancelled it since);
    a cancelled one gets its attempt back."""
    with transaction(svc.sessions) as s:
        if s.exec(select(Delivery.status).where(Delivery.id == c.id)).one() == PENDING:
            return True
        s.exec(_fenced(c, (CANCELLED,)).values(attempts=c.attempts - 1))
    return False


def _put_back(svc: Services, c: _Claim, next_attempt_at: datetime, note: str | None = None) -> None:
    """Release a claim that was not tried: the attempt is not counted."""
    values: dict[str, Any] = {"attempts": c.attempts - 1, "next_attempt_at": next_attempt_at}
    if note is not None:
        values["last_error"] = note
    with transaction(svc.sessions) as s:
        s.exec(_fenced(c).values(**values))


# -- re-addressing -----------------------------------------------------------------------------


def _roles(alert: Alert) -> tuple[str, ...]:
    return tuple(r for r in alert.recipients.split(",") if r)


def readdress(s: Session, case: Case, now: datetime, reason: str) -> dict[str, int]:
    """The case's pending deliveries follow its organisation columns (as they stand in ``case``):
    each pending row to an organisation's channel that is no longer the case's is cancelled with
    ``reason``, and its alert is queued for the matching active channels of the organisation now
    (a row the scan would have written). Runs inside the caller's transaction."""
    require_aware(now, "now")
    rows = s.exec(
        select(Delivery, Alert, Channel)
        .join(Alert, Alert.id == Delivery.alert_id)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(Alert.case_id == case.id, Delivery.status == PENDING, Channel.org_level != "city")
        .order_by(Delivery.id)
    ).all()
    moved: dict[int, Alert] = {}
    cancelled = 0
    for row, alert, channel in rows:
        if _channels_for([channel], _roles(alert), case):
            continue  # still the case's organisation (e.g. its community)
        row.status, row.last_error = CANCELLED, reason[:MAX_ERROR]
        s.add(row)
        cancelled += 1
        moved[alert.id] = alert
    queued = 0
    if moved:
        active = [ch for ch in s.exec(select(Channel).where(Channel.active.is_(True), Channel.org_level != "city"))]
        for alert in moved.values():
            for ch in _channels_for(active, _roles(alert), case):
                values = dict(
                    alert_id=alert.id, channel_id=ch.id, status=PENDING, attempts=0, next_attempt_at=now, created_at=now
                )
                if _insert_ignore(s, Delivery.__table__, values) is not None:
                    queued += 1
                    continue
                # one row per alert and channel: a row cancelled by an earlier transfer waits again
                queued += s.exec(
                    update(Delivery)
                    .where(Delivery.alert_id == alert.id, Delivery.channel_id == ch.id, Delivery.status == CANCELLED)
                    .values(status=PENDING, next_attempt_at=now, last_error=None)
                ).rowcount
    return {"cancelled": cancelled, "queued": queued}


# -- status ------------------------------------------------------------------------------------


def delivery_status(svc: Services, user: User, alert_id: int) -> dict[str, Any]:
    """Each channel's delivery of one alert: for city-level users."""
    if user.org_level != "city":
        raise Forbidden("只有市级用户可以查看提醒的投递状态", code="cannot_view_deliveries")
    with read_only(svc.sessions) as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise NotFound("提醒不存在", code="alert_not_found")
        rows = s.exec(
            select(Delivery, Channel)
            .join(Channel, Channel.id == Delivery.channel_id)
            .where(Delivery.alert_id == alert_id)
            .order_by(Channel.id)
        ).all()
        return {
            "alert_id": alert.id,
            "title": alert.title,
            "deliveries": [
                {
                    "id": d.id,
                    "channel_id": ch.id,
                    "channel": ch.name,
                    "kind": ch.kind,
                    "channel_active": ch.active,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "next_attempt_at": iso(d.next_attempt_at) if d.status == PENDING else None,
                    "sent_at": iso(d.sent_at),
                    "created_at": iso(d.created_at),
                    "idempotency_key": notify.idempotency_key(alert.id, ch.id),
                }
                for d, ch in rows
            ],
        }
