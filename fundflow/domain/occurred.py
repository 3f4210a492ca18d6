"""When an act happened (``occurred_at``), as opposed to when it was recorded.

Meetings are held, notices posted and payments made offline and recorded afterwards. An act
may carry the moment (or the day) it happened: not in the future, not before the stage it
belongs to was entered, nor before the case's previous act. Rules count from it.

A day without a time (``2026-03-02``) means some moment of that day in Beijing time: 12:00,
moved into [previous act, now] when that falls on the same day, so that acts stay in order.
Pure: ``now`` and the lower bound are passed in.
"""

from __future__ import annotations

from datetime import date, datetime, time

from fundflow.domain.tz import SHANGHAI, local_date, require_aware

__all__ = ["parse_occurred_at", "resolve_occurred_at", "NOON"]

NOON = time(12, 0)


def parse_occurred_at(raw: object) -> date | datetime | None:
    """``YYYY-MM-DD`` or an ISO date-time (a naive one is Beijing time) -> date | aware datetime.
    None or blank -> None. ValueError with a Chinese reason otherwise."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo is not None else raw.replace(tzinfo=SHANGHAI)
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        raise ValueError("应为日期（YYYY-MM-DD）或日期时间（YYYY-MM-DDTHH:MM）")
    text = raw.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"格式不正确：{text[:40]}，应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def resolve_occurred_at(
    value: date | datetime | None, now: datetime, not_before: datetime | None, not_before_what: str = "上一办理事项"
) -> datetime | str:
    """The moment the act happened, or a Chinese reason why ``value`` cannot be it."""
    require_aware(now, "now")
    if value is None:
        return now
    if isinstance(value, datetime):
        require_aware(value, "occurred_at")
        if value > now:
            return f"实际发生时间 {_fmt(value)} 晚于当前时间 {_fmt(now)}"
        if not_before is not None and value < not_before:
            return f"实际发生时间 {_fmt(value)} 早于{not_before_what}（{_fmt(not_before)}）"
        return value
    if value > local_date(now):
        return f"实际发生日期 {value.isoformat()} 晚于今天 {local_date(now).isoformat()}"
    if not_before is not None and value < local_date(not_before):
        return f"实际发生日期 {value.isoformat()} 早于{not_before_what}（{_fmt(not_before)}）"
    moment = datetime.combine(value, NOON, SHANGHAI)
    if not_before is not None:
        moment = max(moment, not_before)
    return min(moment, now)
