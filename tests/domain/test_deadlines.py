"""Deadlines on real dates: the 2025 National Day week, the 2026 Spring Festival, 2027."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.deadlines import compute_deadlines, escalation_moments, suspension_length
from fundflow.domain.definition import DeadlineKind, DeadlineRule, Escalation
from fundflow.domain.tz import SHANGHAI
from tests.support.moments import at

LADDER = (Escalation(0, ("street_office",)), Escalation(2, ("housing_bureau",), 3))


def rule(kind=DeadlineKind.WORKING_DAYS, amount=2, warn=1, field=None):
    return DeadlineRule(kind, amount, field, warn, LADDER)


def local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def test_two_working_days_from_the_eve_of_national_day_2025(calendar):
    d = compute_deadlines(rule(), at(2025, 9, 30, 16), calendar)
    assert d.due_date == date(2025, 10, 10)  # 10-09 is the 1st working day, 10-10 the 2nd
    assert local(d.due_at) == at(2025, 10, 11, 0)
    assert local(d.warn_at) == at(2025, 10, 9, 0)  # warned 1 working day before the due date
    assert not d.provisional and d.calendar_source.startswith("chinesecalendar")


def test_the_make_up_sunday_28_september_2025_counts(calendar):
    d = compute_deadlines(rule(amount=1), at(2025, 9, 27, 11), calendar)  # a Saturday
    assert d.due_date == date(2025, 9, 28)


def test_escalation_lands_after_the_make_up_saturday_11_october_2025(calendar):
    d = compute_deadlines(rule(), at(2025, 9, 29, 9), calendar)
    assert d.due_date == date(2025, 10, 9)
    first, second = d.escalations
    assert local(first.at) == at(2025, 10, 10, 0) and first.to == ("street_office",)
    # two working days overdue: 10-10 (Fri) and 10-11 (make-up Saturday)
    assert local(second.at) == at(2025, 10, 12, 0) and second.to == ("housing_bureau",)


def test_escalation_repeats_every_three_working_days_until_the_stage_moves(calendar):
    r = rule()
    moments = list(escalation_moments(r, date(2025, 10, 9), calendar, until=at(2025, 10, 24, 12)))
    assert [(m.level, m.repeat, local(m.at)) for m in moments] == [
        (1, 0, at(2025, 10, 10, 0)),  # overdue from the end of the due date
        (2, 0, at(2025, 10, 12, 0)),  # 2 working days overdue: 10-10 and the make-up Saturday 10-11
        (2, 1, at(2025, 10, 16, 0)),  # + 10-13, 10-14, 10-15
        (2, 2, at(2025, 10, 21, 0)),  # + 10-16, 10-17, 10-20
        (2, 3, at(2025, 10, 24, 0)),  # + 10-21, 10-22, 10-23
    ]


def test_two_working_days_across_the_2026_spring_festival(calendar):
    d = compute_deadlines(rule(), at(2026, 2, 13, 10), calendar)
    # Saturday 02-14 is a working day; 02-15..02-23 are off
    assert d.due_date == date(2026, 2, 24)
    d5 = compute_deadlines(rule(amount=5), at(2026, 2, 12, 10), calendar)
    assert d5.due_date == date(2026, 2, 26)  # 13, 14, 24, 25, 26


def test_calendar_days_count_every_day(calendar):
    d = compute_deadlines(rule(DeadlineKind.CALENDAR_DAYS, 7), at(2026, 2, 13, 10), calendar)
    assert d.due_date == date(2026, 2, 20)


def test_a_deadline_from_a_case_field(calendar):
    r = rule(DeadlineKind.DATE_FIELD, 0, warn=3, field="rectification_deadline")
    d = compute_deadlines(r, at(2026, 3, 2), calendar, {"rectification_deadline": "2026-04-30"})
    assert d.due_date == date(2026, 4, 30)
    assert compute_deadlines(r, at(2026, 3, 2), calendar, {}) is None


def test_a_deadline_into_2027_is_provisional_never_a_crash(calendar):
    d = compute_deadlines(rule(amount=10), at(2026, 12, 24, 10), calendar)
    assert d.provisional
    # 12-25, 28, 29, 30, 31, then 2027 from the rules: New Year's Day (a Friday) is off, so the 10th is 01-08
    assert d.due_date == date(2027, 1, 8)
    assert "provisional" in d.calendar_source or "weekday" in d.calendar_source


def test_the_2027_deadline_is_recomputed_once_the_year_is_known(calendar):
    override = WorkCalendar(
        {
            "years": {
                2027: {
                    "effective": "2026-11-10",
                    "source": "测试用安排",
                    "holidays": ["2027-01-01..2027-01-04"],
                    "workdays": [],
                }
            }
        },
        source="test.yaml",
    )
    before = compute_deadlines(rule(amount=10), at(2026, 12, 24, 10), calendar)
    after = compute_deadlines(rule(amount=10), at(2026, 12, 24, 10), override)
    assert not after.provisional and after.due_date == date(2027, 1, 11)
    assert after.due_date != before.due_date


def test_suspension_moves_the_due_date_by_the_working_days_suspended(calendar):
    # suspended on the eve of National Day, resumed on 10-10: working days 09-30, 10-09, 10-10
    work, days = suspension_length(calendar, at(2025, 9, 29, 15), at(2025, 10, 10, 9))
    assert (work, days) == (3, 11)
    plain = compute_deadlines(rule(amount=5), at(2025, 9, 26, 9), calendar)
    moved = compute_deadlines(rule(amount=5), at(2025, 9, 26, 9), calendar, suspended_working_days=work)
    assert calendar.workdays_between(plain.due_date, moved.due_date).count == 3


def test_moments_are_aware_and_in_utc(calendar):
    d = compute_deadlines(rule(), at(2026, 3, 2), calendar)
    assert d.due_at.tzinfo is UTC and d.warn_at.tzinfo is UTC
