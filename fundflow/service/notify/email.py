"""E-mail over SMTP (stdlib ``smtplib``): subject = the alert's title, a UTF-8 text body = its
message, to the channel's comma-separated addresses. ``Message-ID: <key@domain>`` and
``X-Idempotency-Key: <key>`` carry the idempotency key (a mail system or a reader can spot a
repeat). Settings: ``FUNDFLOW_SMTP_HOST`` (unset: e-mail channels are disabled and their
deliveries fail with a clear reason, and are retried once it is set), ``_PORT``, ``_FROM``,
``_USER``/``_PASSWORD``, ``_STARTTLS`` (port 587) or ``_SSL`` (port 465).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from fundflow.service.config import Settings
from fundflow.service.notify._common import DeliveryFailed
from fundflow.service.tables import Alert, Channel

__all__ = ["send", "build_message"]


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else ""
    return domain or "fundflow.local"


def recipients(channel: Channel) -> list[str]:
    return [a.strip() for a in channel.target.split(",") if a.strip()]


def build_message(alert: Alert, key: str, sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = alert.title
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = f"<{key}@{_domain(sender)}>"
    msg["X-Idempotency-Key"] = key
    msg.set_content(alert.message, charset="utf-8", cte="base64")  # 7-bit safe for any SMTP server
    return msg


def send(channel: Channel, alert: Alert, key: str, settings: Settings) -> str | None:
    if not settings.smtp_host:
        raise DeliveryFailed("邮件渠道未启用：未配置 SMTP 服务器（FUNDFLOW_SMTP_HOST）")
    to = recipients(channel)
    if not to:
        raise DeliveryFailed("邮件渠道没有收件人")
    msg = build_message(alert, key, settings.smtp_from, to)
    timeout = settings.delivery_timeout_seconds
    try:
        if settings.smtp_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_user, password)
            refused = smtp.send_message(
                msg, from_addr=parseaddr(settings.smtp_from)[1] or settings.smtp_from, to_addrs=to
            )
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed(f"SMTP 拒收全部收件人：{_refusals(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryFailed(f"SMTP {exc.smtp_code}：{text[:300]}") from None
    except TimeoutError:
        raise DeliveryFailed(f"SMTP 超时（{timeout:g} 秒）") from None
    except (smtplib.SMTPException, OSError) as exc:  # refused connection, DNS, TLS, dropped connection
        raise DeliveryFailed(f"SMTP 连接失败：{exc.__class__.__name__}: {exc}"[:500]) from None
    if refused:  # accepted for some: sent (retrying would mail the others twice); the rest is noted
        return f"部分收件人被拒：{_refusals(refused)}"
    return None


def _refusals(refused: dict) -> str:
    out = []
    for address, (code, text) in refused.items():
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        out.append(f"{address} {code} {text}")
    return "；".join(out)[:500]
