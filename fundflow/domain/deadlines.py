"""Due dates from a stage's start, its rule and a calendar. Never reads the clock.

Moments follow one convention, in Asia/Shanghai, returned as aware UTC datetimes:

* the **due date** is the last day allowed: the N-th working day after the day the stage
  began (that day itself does not count), N calendar days after it, or the date in a case
  field;
* the stage is **overdue** from 00:00 of the day after the due date (``due_at``);
* the **warning** comes at 00:00 of the ``warn_before_working_days``-th working day before
  the due date (``warn_before_working_days: 1`` and due on Friday: from Thursday), or when the
  stage begins if that is later; none when the stage begins overdue;
* a deadline **counts from** (``from:``) the act that entered the stage (``stage_entered``, the
  default), the report (``case_opened``), the latest act of a trigger (``{act: TRIGGER}``; from
  the stage's entry until it has happened) or a date of the case data (``{field: NAME}``); every
  act's moment is when it happened (``occurred_at``), not when it was recorded;
* an escalation step ``after_working_days: k`` fires once k working days have passed after
  the due date (k = 0: at ``due_at``), then again every ``repeat_every_working_days``.

Suspension moves the due date: by the working days suspended for a working-day rule, by the
calendar days suspended otherwise. A deadline is a pure function of (rule, start, case data,
suspended totals, calendar), so it can be recomputed when the calendar learns a new year.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.definition import Anchor, DeadlineKind, DeadlineRule
from fundflow.domain.tz import local_date, require_aware, start_of_local_day

__all__ = [
    "StageDeadlines",
    "working_days_left",
    "EscalationMoment",
    "Anchors",
    "DeadlineStatus",
    "compute_deadlines",
    "count_from",
    "deadline_status",
    "escalation_moments",
    "suspension_length",
    "extension_length",
]

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class EscalationMoment:
    level: int  # 1-based step of the ladder
    repeat: int  # 0 for the first time, 1.. for repeats
    at: datetime
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StageDeadlines:
    entered_at: datetime
    due_date: date
    due_at: datetime  # overdue from this moment
    warn_at: datetime | None
    escalations: tuple[EscalationMoment, ...]  # the first moment of each step
    provisional: bool  # some day counted falls in a year the calendar does not know
    rule: str  # e.g. "5个工作日"
    calendar_source: str
    suspended_working_days: int = 0
    suspended_days: int = 0


@dataclass(frozen=True, slots=True)
class Anchors:
    """The moments a deadline may count from besides the stage's entry."""

    opened_at: datetime | None = None  # when the report that opened the case happened
    acts: Mapping[str, datetime] | None = None  # trigger -> when it last happened


def count_from(
    rule: DeadlineRule, entered_at: datetime, anchors: Anchors | None, data: Mapping[str, Any] | None
) -> datetime:
    """The moment the rule counts from; the stage's entry when the anchor is not known (yet)."""
    a = anchors or Anchors()
    if rule.anchor is Anchor.CASE_OPENED and a.opened_at is not None:
        return a.opened_at
    if rule.anchor is Anchor.ACT and a.acts and rule.anchor_ref in a.acts:
        return a.acts[rule.anchor_ref]
    if rule.anchor is Anchor.FIELD:
        raw = (data or {}).get(rule.anchor_ref or "")
        if raw is not None:
            return start_of_local_day(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
    return entered_at


def _end_of(day: date) -> datetime:
    return start_of_local_day(day + ONE_DAY)


def compute_deadlines(
    rule: DeadlineRule | None,
    entered_at: datetime,
    calendar: WorkCalendar,
    data: Mapping[str, Any] | None = None,
    *,
    suspended_working_days: int = 0,
    suspended_days: int = 0,
    anchors: Anchors | None = None,
) -> StageDeadlines | None:
    """The deadlines of a stage begun at ``entered_at``; None when it has no rule (or its
    date field is not set)."""
    if rule is None:
        return None
    require_aware(entered_at, "entered_at")
    start = count_from(rule, entered_at, anchors, data)
    field_value = None
    if rule.kind is DeadlineKind.DATE_FIELD:
        raw = (data or {}).get(rule.date_field or "")
        if raw is None:
            return None
        field_value = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
    m = _moments(rule, local_date(start), suspended_working_days, suspended_days, field_value, calendar)
    warn_at = None
    if m.warn_at is not None:
        # never before the stage began; none when it begins overdue
        warn_at = max(m.warn_at, entered_at)
        if warn_at >= m.due_at:
            warn_at = None
    return StageDeadlines(
        entered_at,
        m.due_date,
        m.due_at,
        warn_at,
        m.escalations,
        m.provisional,
        m.rule,
        m.calendar_source,
        suspended_working_days,
        suspended_days,
    )


@dataclass(frozen=True, slots=True)
class _Moments:
    due_date: date
    due_at: datetime
    warn_at: datetime | None
    escalations: tuple[EscalationMoment, ...]
    provisional: bool
    rule: str
    calendar_source: str


@lru_cache(maxsize=8192)
def _moments(
    rule: DeadlineRule,
    start: date,
    suspended_working_days: int,
    suspended_days: int,
    field_value: date | None,
    calendar: WorkCalendar,
) -> _Moments:
    """Everything but the start moment depends on these arguments only (a calendar never
    changes once built), so cases entering a stage on the same day share one computation."""
    provisional = False
    if rule.kind is DeadlineKind.WORKING_DAYS:
        r = calendar.add_workdays(start, rule.amount + suspended_working_days)
        due, provisional = r.date, r.provisional
    elif rule.kind is DeadlineKind.CALENDAR_DAYS:
        due = start + timedelta(days=rule.amount + suspended_days)
    else:
        due = field_value + timedelta(days=suspended_days)
    warn_at = None
    if rule.warn_before_working_days:
        w = calendar.add_workdays(due, -rule.warn_before_working_days)
        provisional |= w.provisional
        warn_at = start_of_local_day(w.date)
    firsts = []
    for level, step in enumerate(rule.escalations, start=1):
        e = calendar.add_workdays(due, step.after_working_days)
        provisional |= e.provisional
        firsts.append(EscalationMoment(level, 0, _end_of(e.date), step.to))
    return _Moments(
        due, _end_of(due), warn_at, tuple(firsts), provisional, rule.describe(), calendar.source_of(due.year)
    )


def escalation_moments(
    rule: DeadlineRule, due_date: date, calendar: WorkCalendar, until: datetime
) -> Iterator[EscalationMoment]:
    """Every escalation moment of the ladder up to ``until``, in order of time.

    The last step repeats every ``repeat_every_working_days`` while the stage stays overdue;
    an earlier step that repeats stops repeating when the next step begins.
    """
    require_aware(until, "until")
    moments: list[EscalationMoment] = []
    steps = rule.escalations
    for level, step in enumerate(steps, start=1):
        stop = calendar.add_workdays(due_date, steps[level].after_working_days).date if level < len(steps) else None
        i = 0
        while True:
            offset = step.after_working_days + i * (step.repeat_every_working_days or 0)
            day = calendar.add_workdays(due_date, offset).date
            at = _end_of(day)
            if at > until or (stop is not None and i > 0 and day >= stop):
                break
            moments.append(EscalationMoment(level, i, at, step.to))
            if not step.repeat_every_working_days:
                break
            i += 1
    return iter(sorted(moments, key=lambda m: (m.at, m.level)))


def suspension_length(calendar: WorkCalendar, since: datetime, until: datetime) -> tuple[int, int]:
    """(working days, calendar days) a case was suspended: the days after the day it was
    suspended, up to and including the day it resumed."""
    a, b = local_date(since), local_date(until)
    return max(0, calendar.workdays_between(a, b).count), max(0, (b - a).days)


def extension_length(rule: DeadlineRule, due_date: date, working_days: int, calendar: WorkCalendar) -> tuple[int, int]:
    """(working days, calendar days) to add to a stage's clock-stopped totals so that its due
    date moves ``working_days`` working days later, as a suspension of that length would: a
    working-day rule counts them as working days; a calendar-day or date rule as the calendar
    days up to the ``working_days``-th working day after the current due date (延期申请)."""
    if rule.kind is DeadlineKind.WORKING_DAYS:
        return working_days, 0
    later = calendar.add_workdays(due_date, working_days).date
    return 0, (later - due_date).days


@dataclass(frozen=True, slots=True)
class DeadlineStatus:
    """Where a running stage stands: the one rule pages, alerts, the API and the figures use.

    * ``overdue``: from ``due_at`` (00:00 the day after the due date), unless suspended;
    * ``warned``: from ``warn_at`` until overdue, unless suspended;
    * ``working_days_left``: the working days after today up to and including the due date
      (0 on the due date itself); once overdue, minus the working days since the due date.
    """

    overdue: bool
    warned: bool
    working_days_left: int | None


def deadline_status(
    due_date: date | None,
    due_at: datetime | None,
    warn_at: datetime | None,
    now: datetime,
    calendar: WorkCalendar,
    suspended: bool = False,
) -> DeadlineStatus:
    require_aware(now, "now")
    if due_date is None or due_at is None:
        return DeadlineStatus(False, False, None)
    left = working_days_left(calendar, local_date(now), due_date)
    overdue = not suspended and is_overdue(due_at, now)
    warned = not suspended and not overdue and warn_at is not None and warn_at <= now
    return DeadlineStatus(overdue, warned, left)


def working_days_left(calendar: WorkCalendar, on: date, due_date: date) -> int:
    """THE count of working days left on the day ``on``: the working days after it up to and
    including the due date (0 on the due date itself); negative once past it (minus the working
    days since the due date). Pages, the API and the alerts' text all say this number."""
    return calendar.workdays_between(on, due_date).count


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    """Past its due moment (the service's SQL filters mirror this: ``due_at <= now``, not suspended)."""
    return due_at is not None and due_at <= now
