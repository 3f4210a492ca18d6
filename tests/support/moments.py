"""Moments in Asia/Shanghai, the procedures' time zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """An aware Asia/Shanghai moment."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)
