"""What the channel modules share: the failure, the key, the text, one JSON POST."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from fundflow.service.config import Settings
from fundflow.service.errors import DeliveryFailed
from fundflow.service.notify.targets import TargetRefused, check_target
from fundflow.service.tables import Alert

__all__ = [
    "DeliveryFailed",
    "idempotency_key",
    "alert_text",
    "truncate_utf8",
    "post_json",
    "robot_reply",
    "strip_fragment",
]

USER_AGENT = "fundflow-alerts/1"


def idempotency_key(alert_id: int, channel_id: int) -> str:
    """One key per alert and channel: every retry of a delivery carries the same key."""
    return f"fundflow-alert-{alert_id}-{channel_id}"


def alert_text(alert: Alert) -> str:
    """The text of a group-robot message: the title, then the full message."""
    return f"{alert.title}\n{alert.message}"


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, on a character boundary, marked with an ellipsis."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    mark = "…"
    cut = raw[: max_bytes - len(mark.encode("utf-8"))].decode("utf-8", errors="ignore")
    return cut + mark


def strip_fragment(url: str) -> tuple[str, str]:
    """(the URL without its ``#fragment``, the fragment): a fragment is never sent."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment="")), parts.fragment


def _timeout(settings: Settings) -> httpx.Timeout:
    t = settings.delivery_timeout_seconds
    return httpx.Timeout(t, connect=min(t, 5.0))


def post_json(
    url: str, body: dict[str, Any], settings: Settings, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` as UTF-8 JSON; a 2xx answer is returned, anything else raises DeliveryFailed.
    Redirects are not followed (a 3xx is a failure: the configured address is wrong); the target
    is checked again here (a name may have been pointed at an internal address since)."""
    try:
        check_target(url, settings)
    except TargetRefused as exc:
        raise DeliveryFailed(exc.reason) from None
    try:
        with httpx.Client(
            timeout=_timeout(settings), follow_redirects=False, headers={"User-Agent": USER_AGENT}
        ) as client:
            response = client.post(url, json=body, headers=headers or {})
            response.read()
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(f"超时（{settings.delivery_timeout_seconds:g} 秒）：{exc.__class__.__name__}") from None
    except httpx.HTTPError as exc:  # connection refused, DNS, TLS, protocol errors
        raise DeliveryFailed(f"连接失败：{exc.__class__.__name__}: {exc}"[:500]) from None
    if not 200 <= response.status_code < 300:
        snippet = response.text[:200].replace("\n", " ")
        raise DeliveryFailed(f"HTTP {response.status_code}" + (f"：{snippet}" if snippet else ""))
    return response


def robot_reply(response: httpx.Response, who: str) -> None:
    """WeCom and DingTalk robots answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; any other
    errcode (bad key, rate limit 45009/130101, keyword missing 310000, ...) is a failure."""
    try:
        reply = response.json()
    except ValueError:
        raise DeliveryFailed(f"{who}应答不是 JSON：{response.text[:200]}") from None
    if not isinstance(reply, dict) or "errcode" not in reply:
        raise DeliveryFailed(f"{who}应答缺少 errcode：{str(reply)[:200]}")
    if reply["errcode"] != 0:
        raise DeliveryFailed(f"{who} errcode={reply['errcode']}：{str(reply.get('errmsg', ''))[:200]}")
