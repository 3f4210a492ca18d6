"""A generic webhook: the alert's fields as JSON, with ``Idempotency-Key: <key>``.

The receiver should treat a repeated key as already handled: fundflow sends each alert once per
channel, but a process that dies between the receiver's answer and recording it sends again
after the lease runs out (at-least-once; the key makes it exactly-once for a careful receiver).
"""

from __future__ import annotations

from typing import Any

from fundflow.service.alert_text import KIND_LABELS
from fundflow.service.config import Settings
from fundflow.service.notify._common import post_json
from fundflow.service.reads.common import iso
from fundflow.service.tables import Alert, Channel

__all__ = ["send", "body"]


def body(alert: Alert, key: str) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "kind_label": KIND_LABELS.get(alert.kind, alert.kind),
        "level": alert.level,
        "repeat": alert.repeat,
        "case_id": alert.case_id,
        "state": alert.state,
        "at": iso(alert.at),
        "title": alert.title,
        "message": alert.message,
        "provisional": alert.provisional,
        "recipients": [r for r in alert.recipients.strip(",").split(",") if r],
        "created_at": iso(alert.created_at),
        "idempotency_key": key,
    }


def send(channel: Channel, alert: Alert, key: str, settings: Settings) -> str | None:
    post_json(channel.target, body(alert, key), settings, headers={"Idempotency-Key": key})
    return None
