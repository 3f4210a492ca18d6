"""Time zones: people see Asia/Shanghai, storage keeps UTC. Every datetime is aware."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

__all__ = ["SHANGHAI", "UTC", "require_aware", "local_date", "start_of_local_day"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = UTC


def require_aware(moment: datetime, what: str = "time") -> datetime:
    """Return ``moment`` unchanged; a naive datetime is a programming error."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


def local_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai of an aware moment."""
    return require_aware(moment).astimezone(SHANGHAI).date()


def start_of_local_day(day: date) -> datetime:
    """00:00 Asia/Shanghai of ``day``, as an aware UTC datetime."""
    return datetime.combine(day, time(0, 0), SHANGHAI).astimezone(UTC)
