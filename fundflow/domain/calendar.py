"""Chinese official working-day calendar (法定工作日历).

Working days come from the ``chinesecalendar`` package (holidays and weekend
make-up working days, 调休) for the years it knows, from whole-year overrides
(``fundflow/calendars/overrides.yaml``, see ``fundflow/calendars/README.md``) for years published
after the package release or needing correction, and for any other year from
Mon-Fri less the statutory holidays the rules fix (``holidays.py``: New Year's
Day, 1-2 May, 1-3 October and the lunar holidays, computed).  Results that relied
on such a computed year are flagged ``provisional`` (its bridging days and make-up
working days are not known until it is published).  Per-year sorted arrays of working-day ordinals are built
lazily and searched with ``bisect``.  This module never reads the clock: an override entry is
in force once it is in the file (its ``effective`` date is cited in ``source_of``).
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import chinese_calendar
import yaml
from chinese_calendar import constants as _cc

from fundflow.domain.errors import CalendarError  # message reads ``file:yaml.path: problem``
from fundflow.domain.holidays import statutory_holidays

__all__ = ["CalendarError", "WorkCalendar", "WorkdayCount", "WorkdayResult"]

_PACKAGE_SOURCE = f"chinesecalendar {chinese_calendar.__version__}"
# Same rule as chinese_calendar.utils._validate_date: every year in [min, max] of `holidays`.
_PACKAGE_YEARS = frozenset(range(min(_cc.holidays).year, max(_cc.holidays).year + 1))
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_YEAR_KEYS = frozenset({"effective", "source", "holidays", "workdays"})
PROVISIONAL_SOURCE = "weekdays less the statutory holidays (provisional)"


@dataclass(frozen=True, slots=True)
class WorkdayResult:
    date: date
    provisional: bool


@dataclass(frozen=True, slots=True)
class WorkdayCount:
    count: int
    provisional: bool


@dataclass(frozen=True, slots=True)
class _Override:
    effective: date
    citation: str | None
    holidays: frozenset[date]
    workdays: frozenset[date]


class WorkCalendar:
    """Working-day arithmetic over package data, overrides and the weekday fallback."""

    def __init__(self, overrides: Mapping | None = None, *, source: str = "<overrides>") -> None:
        self._file = source
        self._overrides = _parse(overrides, source)
        self._known = _PACKAGE_YEARS | self._overrides.keys()
        self._ords: dict[int, list[int]] = {}

    @classmethod
    def from_file(cls, path: str | os.PathLike | None) -> WorkCalendar:
        if path is None or not os.path.exists(path):
            return cls(None)
        source = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise CalendarError(f"{source}: invalid YAML: {exc}") from exc
        return cls(data, source=source)

    # -- year tables ---------------------------------------------------------
    def is_known(self, year: int) -> bool:
        return year in self._known

    def known_years(self) -> tuple[int, ...]:
        return tuple(sorted(self._known))

    def source_of(self, year: int) -> str:
        if (o := self._overrides.get(year)) is not None:
            cite = f", {o.citation}" if o.citation else ""
            return f"override {self._file} (effective {o.effective.isoformat()}{cite})"
        return _PACKAGE_SOURCE if year in _PACKAGE_YEARS else PROVISIONAL_SOURCE

    def _year(self, year: int) -> list[int]:
        ords = self._ords.get(year)
        if ords is None:
            if (ov := self._overrides.get(year)) is not None:
                hol, extra = ov.holidays, ov.workdays
            elif year in _PACKAGE_YEARS:
                hol, extra = _cc.holidays, _cc.workdays
            else:
                hol, extra = statutory_holidays(year), ()
            first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
            ords = [
                o
                for o in range(first, last + 1)
                if (d := date.fromordinal(o)) in extra or (d.weekday() < 5 and d not in hol)
            ]
            self._ords[year] = ords
        return ords

    def _provisional(self, lo: int, hi: int) -> bool:
        """True if any day with ordinal in [lo, hi] lies in an unknown year."""
        y0, y1 = date.fromordinal(lo).year, date.fromordinal(hi).year
        known = self._known
        return any(y not in known for y in range(y0, y1 + 1))

    # -- public arithmetic ---------------------------------------------------
    def is_workday(self, d: date) -> bool:
        """Working-day status of `d` (Mon-Fri rule in unknown years)."""
        ords, o = self._year(d.year), d.toordinal()
        i = bisect_left(ords, o)
        return i < len(ords) and ords[i] == o

    def add_workdays(self, start: date, n: int) -> WorkdayResult:
        """The |n|-th working day strictly after (n > 0) / before (n < 0) `start`; `start` if n == 0."""
        o = start.toordinal()
        if n > 0:
            r = self._forward(start.year, o, n)
            return WorkdayResult(date.fromordinal(r), self._provisional(o + 1, r))
        if n < 0:
            r = self._backward(start.year, o, -n)
            return WorkdayResult(date.fromordinal(r), self._provisional(r, o - 1))
        return WorkdayResult(start, False)

    def next_workday_on_or_after(self, d: date) -> WorkdayResult:
        """`d` if it is a working day, else the first working day after it."""
        o = d.toordinal()
        r = self._forward(d.year, o - 1, 1)
        return WorkdayResult(date.fromordinal(r), self._provisional(o, r))

    def workdays_between(self, a: date, b: date) -> WorkdayCount:
        """Number of working days d with a < d <= b; mirrored (negative) when b < a."""
        if b < a:
            res = self.workdays_between(b, a)
            return WorkdayCount(-res.count, res.provisional)
        if a == b:
            return WorkdayCount(0, False)
        oa, ob = a.toordinal(), b.toordinal()
        ords = self._year(a.year)
        count = -bisect_right(ords, oa)
        for y in range(a.year, b.year):
            count += len(self._year(y))
        count += bisect_right(self._year(b.year), ob)
        return WorkdayCount(count, self._provisional(oa + 1, ob))

    def _forward(self, year: int, o: int, n: int) -> int:
        """Ordinal of the n-th (n >= 1) working day strictly after ordinal o (in `year`)."""
        ords = self._year(year)
        i = bisect_right(ords, o)
        while n > len(ords) - i:
            n -= len(ords) - i
            year += 1
            ords, i = self._year(year), 0
        return ords[i + n - 1]

    def _backward(self, year: int, o: int, n: int) -> int:
        """Ordinal of the n-th (n >= 1) working day strictly before ordinal o (in `year`)."""
        ords = self._year(year)
        i = bisect_left(ords, o)
        while n > i:
            n -= i
            year -= 1
            ords = self._year(year)
            i = len(ords)
        return ords[i - n]


# -- override parsing ----------------------------------------------------------
def _parse(data: Mapping | None, src: str) -> dict[int, _Override]:
    def fail(path: str, msg: str) -> CalendarError:
        return CalendarError(f"{src}:{path}: {msg}" if path else f"{src}: {msg}")

    def as_date(value: object, path: str) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _DATE_RE.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise fail(path, f"not a date: {value!r}")

    def days(value: object, path: str, year: int) -> dict[date, str]:
        """Expand a list of dates / 'A..B' ranges to {day: path of the item naming it}."""
        if value is None:
            return {}
        if not isinstance(value, list):
            raise fail(path, "must be a list of dates or 'A..B' ranges")
        out: dict[date, str] = {}
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(item, str) and ".." in item:
                lo_s, _, hi_s = item.partition("..")
                lo, hi = as_date(lo_s, p), as_date(hi_s, p)
                if hi < lo:
                    raise fail(p, f"range end before start: {item!r}")
            else:
                lo = hi = as_date(item, p)
            for d in (lo, hi):
                if d.year != year:
                    raise fail(p, f"{d.isoformat()} is outside year {year}")
            for o in range(lo.toordinal(), hi.toordinal() + 1):
                out.setdefault(date.fromordinal(o), p)
        return out

    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise fail("", "top level must be a mapping with the key 'years'")
    for key in data:
        if key != "years":
            raise fail(str(key), "unknown key (expected 'years')")
    years = {} if data.get("years") is None else data["years"]
    if not isinstance(years, Mapping):
        raise fail("years", "must be a mapping of year -> arrangement")
    result: dict[int, _Override] = {}
    for ykey, entry in years.items():
        path = f"years.{ykey}"
        if isinstance(ykey, str) and ykey.isdigit():
            ykey = int(ykey)
        if not isinstance(ykey, int) or isinstance(ykey, bool) or not 1 <= ykey <= 9999:
            raise fail(path, "year must be an integer such as 2027")
        if not isinstance(entry, Mapping):
            raise fail(path, "must be a mapping with effective/source/holidays/workdays")
        for key in entry:
            if key not in _YEAR_KEYS:
                raise fail(f"{path}.{key}", f"unknown key (expected one of {', '.join(sorted(_YEAR_KEYS))})")
        if "effective" not in entry:
            raise fail(path, "missing required key 'effective'")
        effective = as_date(entry["effective"], f"{path}.effective")
        citation = entry.get("source")
        if citation is not None and not isinstance(citation, str):
            raise fail(f"{path}.source", f"must be a string, got {citation!r}")
        hol = days(entry.get("holidays"), f"{path}.holidays", ykey)
        work = days(entry.get("workdays"), f"{path}.workdays", ykey)
        for d, p in work.items():
            if d in hol:
                raise fail(p, f"{d.isoformat()} is also listed in holidays ({hol[d]})")
            if d.weekday() < 5:
                raise fail(p, f"{d.isoformat()} is a {_DAY_NAMES[d.weekday()]}; make-up working days are Sat/Sun")
        result[ykey] = _Override(effective, citation, frozenset(hol), frozenset(work))
    return result
