"""钉钉群自定义机器人: ``POST https://oapi.dingtalk.com/robot/send?access_token=...`` with
``{"msgtype": "text", "text": {"content": ...}}``; answers HTTP 200 with ``{"errcode": 0}`` on
success, any other errcode is a failure (e.g. 130101: more than 20 messages a minute; 310000:
the robot's keyword or signature check failed).

Security settings of the robot: with "自定义关键词" add e.g. 预警、超期、督办、日历 (every message
starts with one of them in 【】); with "加签" put the secret (``SEC...``) as the URL's fragment,
``https://oapi.dingtalk.com/robot/send?access_token=XXX#SECxxxx``: the fragment is never sent,
the request carries ``timestamp`` and ``sign`` (HMAC-SHA256 of ``timestamp\\nsecret``, Base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fundflow.service.config import Settings
from fundflow.service.notify._common import alert_text, post_json, robot_reply, strip_fragment, truncate_utf8
from fundflow.service.tables import Alert, Channel

__all__ = ["send", "body", "sign", "signed_url", "MAX_CONTENT_BYTES"]

MAX_CONTENT_BYTES = 4096


def body(alert: Alert) -> dict[str, Any]:
    return {
        "msgtype": "text",
        "text": {"content": truncate_utf8(alert_text(alert), MAX_CONTENT_BYTES)},
        "at": {"atMobiles": [], "isAtAll": False},
    }


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(target: str, timestamp_ms: int | None = None) -> str:
    """The URL to POST to: without the fragment, plus ``timestamp`` and ``sign`` when the
    fragment holds a 加签 secret. The timestamp is the wall clock's (DingTalk refuses one more
    than an hour off), not the delivery pass's ``now``."""
    url, secret = strip_fragment(target)
    if not secret:
        return url
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"timestamp": ts, "sign": sign(secret, ts)})) if q)
    return urlunsplit(parts._replace(query=query))


def send(channel: Channel, alert: Alert, key: str, settings: Settings) -> str | None:
    robot_reply(post_json(signed_url(channel.target), body(alert), settings, headers={"Idempotency-Key": key}), "钉钉")
    return None
