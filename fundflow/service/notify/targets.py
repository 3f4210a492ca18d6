"""Where a channel may send: http(s) URLs whose host resolves to public addresses only.

A channel's URL is configured by a person and fetched by the server, so it must not reach the
server's own neighbourhood (``http://127.0.0.1:5432/``, the cloud metadata service at
169.254.169.254, the intranet). :func:`check_target` parses the URL, resolves its host (every
address it resolves to counts) and refuses loopback, private, link-local, shared, reserved,
multicast and unspecified addresses, IPv4-mapped IPv6 included, unless the host is listed in
``FUNDFLOW_WEBHOOK_ALLOWED_HOSTS``. It runs when a channel is added and again before each
delivery (a name may be pointed elsewhere later). Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from fundflow.service.config import Settings

__all__ = ["TargetRefused", "check_target", "Resolver"]

Resolver = Callable[[str, int], list[str]]


class TargetRefused(ValueError):
    """The URL may not be a channel's target; ``reason`` is in Chinese."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_target(url: str, settings: Settings, resolve: Resolver | None = None) -> None:
    """Raise :class:`TargetRefused` unless ``url`` is http(s) to an allowed or public host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("地址格式不正确") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("地址应为 http:// 或 https:// 开头的网址")
    host = parts.hostname.lower().rstrip(".")
    if host in settings.allowed_webhook_hosts:
        return
    try:
        addresses = (resolve or _resolve)(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        raise TargetRefused(f"无法解析主机名 {host}") from None
    if not addresses:
        raise TargetRefused(f"无法解析主机名 {host}")
    private = sorted({a for a in addresses if not _public(a)})
    if private:
        raise TargetRefused(
            f"主机 {host} 指向内网、本机或保留地址（{'、'.join(private[:3])}），不能作为提醒渠道；"
            "确需使用请由管理员加入 FUNDFLOW_WEBHOOK_ALLOWED_HOSTS"
        )
