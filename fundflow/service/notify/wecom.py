"""企业微信群机器人: ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`` with
``{"msgtype": "text", "text": {"content": ...}}`` (content at most 2048 bytes of UTF-8). The robot
answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; any other errcode is a failure (e.g.
45009: more than 20 messages a minute; the back-off retries it). The robot ignores the
``Idempotency-Key`` header sent along (a relay in between may use it): the outbox's claim is what
keeps a message from being sent twice.
"""

from __future__ import annotations

from typing import Any

from fundflow.service.config import Settings
from fundflow.service.notify._common import alert_text, post_json, robot_reply, truncate_utf8
from fundflow.service.tables import Alert, Channel

__all__ = ["send", "body", "MAX_CONTENT_BYTES"]

MAX_CONTENT_BYTES = 2048


def body(alert: Alert) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": truncate_utf8(alert_text(alert), MAX_CONTENT_BYTES)}}


def send(channel: Channel, alert: Alert, key: str, settings: Settings) -> str | None:
    robot_reply(post_json(channel.target, body(alert), settings, headers={"Idempotency-Key": key}), "企业微信")
    return None
