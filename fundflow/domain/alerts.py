"""The alert moments of a stage: warning, overdue, and the escalation ladder. Pure; no clock.

For a stage with deadlines (see ``deadlines.py``):

* ``warning`` at ``warn_at``, to the responsible role;
* ``overdue`` at ``due_at``, to the responsible role and whoever the ladder's
  ``after_working_days: 0`` step names;
* ``escalation`` for every later step of the ladder (level = its place in the ladder), and
  again every ``repeat_every_working_days`` while the stage stays overdue.

A scanner asks for every moment up to now (to record each once) and for the next moment
after now (to know when to look again).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.deadlines import escalation_moments
from fundflow.domain.definition import DeadlineRule
from fundflow.domain.tz import require_aware

__all__ = ["AlertKind", "AlertMoment", "stage_moments", "next_moment"]

#: How far ahead ``next_moment`` looks for the next repeat of an escalation.
HORIZON = timedelta(days=120)


class AlertKind(str, enum.Enum):
    WARNING = "warning"  # 预警
    OVERDUE = "overdue"  # 超期
    ESCALATION = "escalation"  # 督办


@dataclass(frozen=True, slots=True)
class AlertMoment:
    kind: AlertKind
    level: int  # 0 for warning and overdue; the ladder step (1-based) for escalations
    repeat: int  # 0 the first time, then 1, 2, ...
    at: datetime
    to: tuple[str, ...]  # role ids


def _all(
    rule: DeadlineRule,
    responsible: str | None,
    due_date: date,
    due_at: datetime,
    warn_at: datetime | None,
    calendar: WorkCalendar,
    until: datetime,
) -> list[AlertMoment]:
    own = (responsible,) if responsible else ()
    out: list[AlertMoment] = []
    if warn_at is not None and warn_at <= until:
        out.append(AlertMoment(AlertKind.WARNING, 0, 0, warn_at, own))
    if due_at > until:
        return out
    overdue_to = own
    for m in escalation_moments(rule, due_date, calendar, until):
        step = rule.escalations[m.level - 1]
        if step.after_working_days == 0 and m.repeat == 0:
            overdue_to = tuple(dict.fromkeys(own + m.to))
        else:
            out.append(AlertMoment(AlertKind.ESCALATION, m.level, m.repeat, m.at, m.to))
    out.append(AlertMoment(AlertKind.OVERDUE, 0, 0, due_at, overdue_to))
    return sorted(out, key=lambda m: (m.at, m.kind != AlertKind.WARNING, m.level, m.repeat))


def stage_moments(
    rule: DeadlineRule,
    responsible: str | None,
    due_date: date,
    due_at: datetime,
    warn_at: datetime | None,
    calendar: WorkCalendar,
    until: datetime,
) -> list[AlertMoment]:
    """Every alert moment of the stage at or before ``until``, in order of time."""
    require_aware(until, "until")
    return _all(rule, responsible, due_date, due_at, warn_at, calendar, until)


def next_moment(
    rule: DeadlineRule,
    responsible: str | None,
    due_date: date,
    due_at: datetime,
    warn_at: datetime | None,
    calendar: WorkCalendar,
    after: datetime,
) -> datetime | None:
    """The first alert moment strictly after ``after``; None when none is left."""
    require_aware(after, "after")
    later = [
        m.at for m in _all(rule, responsible, due_date, due_at, warn_at, calendar, after + HORIZON) if m.at > after
    ]
    return min(later) if later else None
