"""Sending one alert to one channel: one small module per channel kind, one interface.

``send(channel, alert, key, settings)`` delivers ``alert`` to ``channel`` once, carrying the
idempotency key ``key`` where the channel can take one, and returns ``None`` (or a note worth
keeping, e.g. recipients an SMTP server refused while accepting the others). Any failure -
refused or timed-out connection, a non-2xx answer, a robot's ``errcode`` other than 0, an SMTP
error, a channel that is not configured - raises :class:`DeliveryFailed` with a reason fit to
show an administrator. Nothing here touches the database: the outbox
(``fundflow.service.usecases.delivery``) claims, retries and records.
"""

from __future__ import annotations

from collections.abc import Callable

from fundflow.service.config import Settings
from fundflow.service.notify._common import DeliveryFailed, idempotency_key
from fundflow.service.tables import Alert, Channel

__all__ = ["DeliveryFailed", "send", "idempotency_key", "SENDERS"]

Sender = Callable[[Channel, Alert, str, Settings], str | None]


def _senders() -> dict[str, Sender]:
    from fundflow.service.notify import dingtalk, email, webhook, wecom

    return {"webhook": webhook.send, "wecom": wecom.send, "dingtalk": dingtalk.send, "email": email.send}


SENDERS: dict[str, Sender] = _senders()


def send(channel: Channel, alert: Alert, key: str, settings: Settings) -> str | None:
    """Deliver ``alert`` to ``channel``; raise :class:`DeliveryFailed` on any failure."""
    sender = SENDERS.get(channel.kind)
    if sender is None:
        raise DeliveryFailed(f"未知的渠道类型：{channel.kind}")
    return sender(channel, alert, key, settings)
