"""Report periods as the city names them: a year, a quarter, a month, or from/to days.

Pure: the caller passes "today" (for a period given by nothing, the year so far). Days are
Beijing days; a period is the closed range [first, last] of days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from fundflow.domain.errors import PeriodError

__all__ = ["Period", "PeriodError", "parse_period", "months_of"]

_QUARTER = re.compile(r"^(\d{4})(?:Q|-Q|q|-q)([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
MAX_DAYS = 366 * 10  # a report covers at most ten years


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date
    label: str  # 2026年, 2026年第1季度, 2026年3月, 2026-01-01 至 2026-03-31

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _month_end(year: int, month: int) -> date:
    return (date(year + (month == 12), month % 12 + 1, 1)) - timedelta(days=1)


def _day(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"日期格式应为 YYYY-MM-DD，收到“{text[:20]}”", field) from None


def parse_period(
    today: date,
    *,
    start: str | None = None,
    end: str | None = None,
    year: str | None = None,
    quarter: str | None = None,
    month: str | None = None,
) -> Period:
    """One of: ``year=2026``, ``quarter=2026Q1``, ``month=2026-03``, ``from``/``to`` days (either
    may be left out: the year's first day, today). Nothing given: this year up to today."""
    given = [name for name, v in (("year", year), ("quarter", quarter), ("month", month)) if v]
    if len(given) > 1 or (given and (start or end)):
        raise PeriodError("年度、季度、月份和起止日期只能选择一种", given[-1])
    if year:
        if not year.isdigit() or not 2000 <= int(year) <= 2100:
            raise PeriodError(f"年度应为 2000-2100 的四位数字，收到“{year[:20]}”", "year")
        y = int(year)
        return Period(date(y, 1, 1), date(y, 12, 31), f"{y}年")
    if quarter:
        m = _QUARTER.match(quarter)
        if not m or not 2000 <= int(m.group(1)) <= 2100:
            raise PeriodError(f"季度格式应为 2026Q1，收到“{quarter[:20]}”", "quarter")
        y, q = int(m.group(1)), int(m.group(2))
        return Period(date(y, 3 * q - 2, 1), _month_end(y, 3 * q), f"{y}年第{q}季度")
    if month:
        m = _MONTH.match(month)
        if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
            raise PeriodError(f"月份格式应为 2026-03，收到“{month[:20]}”", "month")
        y, mo = int(m.group(1)), int(m.group(2))
        return Period(date(y, mo, 1), _month_end(y, mo), f"{y}年{mo}月")
    last = _day("to", end) if end else today
    first = _day("from", start) if start else date(last.year, 1, 1)
    if first > last:
        raise PeriodError(f"起始日期 {first.isoformat()} 晚于截止日期 {last.isoformat()}", "from")
    if (last - first).days >= MAX_DAYS:
        raise PeriodError("统计期间最长十年", "from")
    return Period(first, last, f"{first.isoformat()} 至 {last.isoformat()}")


def months_of(period: Period) -> list[tuple[int, int]]:
    """The (year, month) pairs the period touches, in order."""
    out = []
    y, m = period.first.year, period.first.month
    while (y, m) <= (period.last.year, period.last.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
