"""The statutory holidays of a year not yet published, computed from the rules.

The State Council's 《全国年节及纪念日放假办法》 (as amended with effect from 2025) fixes the days
off: New Year's Day (1 January), the Spring Festival (its eve and the first three days of the
first lunar month), Qingming (the solar term's day), Labour Day (1 and 2 May), the Dragon Boat
Festival (5th of the 5th lunar month), Mid-Autumn (15th of the 8th lunar month) and National Day
(1-3 October). The yearly arrangement (published each November or December) adds the bridging
days off and the make-up working days on weekends, which cannot be computed: a year known only
from these rules stays **provisional** until it is published.

The lunar dates and the solar term come from ``lunar-python`` (6tail's lunar calendar).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from lunar_python import Lunar

__all__ = ["statutory_holidays"]


def _solar(lunar_year: int, month: int, day: int) -> date:
    s = Lunar.fromYmd(lunar_year, month, day).getSolar()
    return date(s.getYear(), s.getMonth(), s.getDay())


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> frozenset[date]:
    """The days off the rules fix for ``year`` (no bridging days, no make-up working days)."""
    spring = _solar(year, 1, 1)
    qm = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    days = {
        date(year, 1, 1),
        *(spring + timedelta(days=k) for k in range(-1, 3)),  # eve, 1st, 2nd, 3rd
        date(qm.getYear(), qm.getMonth(), qm.getDay()),
        date(year, 5, 1),
        date(year, 5, 2),
        _solar(year, 5, 5),
        _solar(year, 8, 15),
        date(year, 10, 1),
        date(year, 10, 2),
        date(year, 10, 3),
    }
    return frozenset(d for d in days if d.year == year)
