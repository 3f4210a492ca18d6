"""Tests for workflow.calendar (Chinese official working days)."""

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from chinese_calendar import constants as cc
from hypothesis import given, settings
from hypothesis import strategies as st

from fundflow.domain.calendar import CalendarError, WorkCalendar, WorkdayCount, WorkdayResult

SHIPPED = Path(__file__).resolve().parents[2] / "fundflow" / "calendars" / "overrides.yaml"
SRC = "fundflow/calendars/overrides.yaml"
CAL = WorkCalendar()

# Illustrative 2027 arrangement (NOT the real one, which is unpublished as of 2026-11-26).
OVERRIDE_2027 = {
    "years": {
        2027: {
            "effective": date(2026, 11, 10),
            "source": "国办发明电〔2026〕N号",
            "holidays": [date(2027, 1, 1), "2027-02-06..2027-02-12"],
            "workdays": ["2027-02-14"],
        }
    }
}


def d(s: str) -> date:
    return date.fromisoformat(s)


def days(a: str, b: str) -> list[date]:
    return [d(a) + timedelta(i) for i in range((d(b) - d(a)).days + 1)]


# -- 2025 National Day / Mid-Autumn (国庆中秋 10月1日至8日放假, 9月28日、10月11日上班) ------


def test_one_working_day_after_2025_09_30_is_2025_10_09():
    assert CAL.add_workdays(d("2025-09-30"), 1) == WorkdayResult(d("2025-10-09"), False)


def test_2025_make_up_weekend_days_are_working_days():
    assert d("2025-09-28").weekday() == 6 and CAL.is_workday(d("2025-09-28"))
    assert d("2025-10-11").weekday() == 5 and CAL.is_workday(d("2025-10-11"))


def test_2025_national_day_break_is_not_working():
    assert not any(CAL.is_workday(x) for x in days("2025-10-01", "2025-10-08"))


def test_count_of_working_days_across_2025_national_day():
    # 09-28(Sun), 09-29, 09-30, 10-09, 10-10, 10-11(Sat), 10-13
    assert CAL.workdays_between(d("2025-09-26"), d("2025-10-13")) == WorkdayCount(7, False)


# -- 2026 Spring Festival (国办发明电〔2025〕7号: 2月15日至23日放假, 2月14日、2月28日上班) --


def test_package_2026_spring_festival_matches_official_notice():
    feb_mar = days("2026-02-01", "2026-03-31")
    assert sorted(x for x in feb_mar if x in cc.holidays) == days("2026-02-15", "2026-02-23")
    assert sorted(x for x in feb_mar if x in cc.workdays) == [d("2026-02-14"), d("2026-02-28")]


def test_2026_spring_festival_working_days_follow_the_notice():
    assert CAL.is_workday(d("2026-02-14")) and CAL.is_workday(d("2026-02-28"))
    assert not any(CAL.is_workday(x) for x in days("2026-02-15", "2026-02-23"))


def test_five_working_day_deadline_from_2026_02_13_spans_spring_festival():
    # 02-14(Sat, make-up), then 02-24, 02-25, 02-26, 02-27
    assert CAL.add_workdays(d("2026-02-13"), 5) == WorkdayResult(d("2026-02-27"), False)


# -- unknown years and overrides ----------------------------------------------------------


def test_package_years_are_known_and_2027_is_not():
    assert CAL.known_years() == tuple(range(2004, 2027))
    assert CAL.source_of(2026) == "chinesecalendar 1.11.0"
    assert CAL.source_of(2027) == "weekdays less the statutory holidays (provisional)" and not CAL.is_known(2027)


def test_crossing_into_2027_without_overrides_is_provisional_and_skips_new_years_day():
    # 12-28..12-31, 2027-01-01 (Fri, New Year's Day: off), 01-04..01-08, 01-11
    assert CAL.add_workdays(d("2026-12-25"), 10) == WorkdayResult(d("2027-01-11"), True)
    assert CAL.add_workdays(d("2026-12-28"), 5) == WorkdayResult(d("2027-01-05"), True)
    assert CAL.workdays_between(d("2026-12-25"), d("2027-01-11")) == WorkdayCount(10, True)


def test_a_provisional_year_knows_the_fixed_and_the_lunar_statutory_holidays():
    """2027 from the rules: 1 January, the Spring Festival (eve 02-05 to 02-09 the 3rd day),
    Qingming 04-05, 1-2 May, Dragon Boat 06-09, Mid-Autumn 09-15, 1-3 October."""
    from fundflow.domain.holidays import statutory_holidays

    off = {
        d("2027-01-01"),
        d("2027-02-05"),
        d("2027-02-06"),
        d("2027-02-07"),
        d("2027-02-08"),
        d("2027-04-05"),
        d("2027-05-01"),
        d("2027-05-02"),
        d("2027-06-09"),
        d("2027-09-15"),
        d("2027-10-01"),
        d("2027-10-02"),
        d("2027-10-03"),
    }
    assert statutory_holidays(2027) == off
    weekdays_off = sorted(x for x in off if x.weekday() < 5)
    assert weekdays_off and not any(CAL.is_workday(x) for x in weekdays_off)
    assert CAL.is_workday(d("2027-02-10")) and CAL.is_workday(d("2027-09-16"))
    # the 2026 dates the package publishes agree with the rules' lunar days
    assert {d("2026-02-17"), d("2026-04-05"), d("2026-06-19"), d("2026-09-25")} <= statutory_holidays(2026)
    assert not any(CAL.is_workday(x) for x in (d("2026-02-17"), d("2026-06-19"), d("2026-09-25")))


def test_result_within_known_year_is_not_provisional_even_near_unknown_year():
    assert CAL.add_workdays(d("2026-12-25"), 4) == WorkdayResult(d("2026-12-31"), False)
    assert CAL.add_workdays(d("2027-01-01"), -1) == WorkdayResult(d("2026-12-31"), False)


def test_in_memory_2027_override_makes_crossing_exact_and_respects_holidays():
    cal = WorkCalendar(OVERRIDE_2027, source=SRC)
    assert cal.is_known(2027) and 2027 in cal.known_years()
    assert cal.add_workdays(d("2026-12-25"), 10) == WorkdayResult(d("2027-01-11"), False)
    assert not cal.is_workday(d("2027-02-08")) and cal.is_workday(d("2027-02-14"))
    assert cal.source_of(2027) == f"override {SRC} (effective 2026-11-10, 国办发明电〔2026〕N号)"


def test_override_replaces_a_year_the_package_knows():
    cal = WorkCalendar({"years": {2025: {"effective": "2024-11-12", "holidays": ["2025-01-01"]}}})
    assert cal.is_workday(d("2025-10-01")) and not cal.is_workday(d("2025-09-28"))
    assert cal.add_workdays(d("2025-09-30"), 1) == WorkdayResult(d("2025-10-01"), False)
    assert cal.source_of(2025) == "override <overrides> (effective 2024-11-12)"


def test_an_override_is_in_force_once_in_the_file_whatever_its_effective_date():
    """No ``as_of``: the calendar never reads the clock, and adding a year to the file is the
    decision that it is in force (its effective date is cited, not compared)."""
    without = WorkCalendar(None)
    assert not without.is_known(2027)
    assert without.add_workdays(d("2026-12-25"), 10) == WorkdayResult(d("2027-01-11"), True)
    cal = WorkCalendar(OVERRIDE_2027)
    assert cal.is_known(2027) and not cal.add_workdays(d("2026-12-25"), 10).provisional
    assert "effective 2026-11-10" in cal.source_of(2027)


def test_years_before_2004_use_the_rules_provisionally():
    assert not CAL.is_workday(d("2003-10-01")) and CAL.is_workday(d("2003-10-08")) and not CAL.is_known(2003)
    # 2004-01-01 is New Year's Day, so one working day before 2004-01-02 is 2003-12-31.
    assert CAL.add_workdays(d("2004-01-02"), -1) == WorkdayResult(d("2003-12-31"), True)


def test_override_file_from_disk_parses_string_dates(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text(yaml.safe_dump(OVERRIDE_2027, allow_unicode=True), encoding="utf-8")
    assert WorkCalendar.from_file(path).add_workdays(d("2026-12-25"), 10).date == d("2027-01-11")


def test_missing_or_absent_override_file_means_no_overrides(tmp_path):
    assert WorkCalendar.from_file(None).known_years() == CAL.known_years()
    assert WorkCalendar.from_file(tmp_path / "nope.yaml").known_years() == CAL.known_years()


def test_shipped_override_file_loads_and_adds_no_years():
    assert yaml.safe_load(SHIPPED.read_text(encoding="utf-8")) == {"years": {}}
    assert WorkCalendar.from_file(SHIPPED).known_years() == CAL.known_years()


# -- validation ----------------------------------------------------------------------------


def _year(**entry):
    return {"years": {2027: {"effective": "2026-11-10", **entry}}}


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"yeers": {}}, "yeers", "unknown key"),
        (_year(holiday=["2027-01-01"]), "years.2027.holiday", "unknown key"),
        ({"years": {2027: {"holidays": ["2027-01-01"]}}}, "years.2027", "missing required key 'effective'"),
        (_year(holidays=["2027-01-01", "2026-12-31"]), "years.2027.holidays[1]", "outside year 2027"),
        (
            _year(holidays=["2027-02-06..2027-02-14"], workdays=["2027-02-14"]),
            "years.2027.workdays[0]",
            "also listed in holidays",
        ),
        (_year(workdays=["2027-02-13", date(2027, 2, 15)]), "years.2027.workdays[1]", "Monday"),
        (
            _year(holidays=["2027-01-01", "2027-02-06..2027-02-12", "2027-04-05", "2027-02-30"]),
            "years.2027.holidays[3]",
            "not a date: '2027-02-30'",
        ),
        (_year(holidays=["20270101"]), "years.2027.holidays[0]", "not a date"),
        (_year(holidays=["2027-02-12..2027-02-06"]), "years.2027.holidays[0]", "range end before start"),
        (_year(effective="soon"), "years.2027.effective", "not a date: 'soon'"),
        ({"years": {"next": {"effective": "2026-11-10"}}}, "years.next", "year must be an integer"),
    ],
)
def test_invalid_override_raises_calendar_error_naming_file_and_path(data, path, fragment):
    with pytest.raises(CalendarError) as exc:
        WorkCalendar(data, source=SRC)
    assert str(exc.value).startswith(f"{SRC}:{path}: ")
    assert fragment in str(exc.value)


def test_holiday_on_a_weekend_is_accepted():
    assert not WorkCalendar(_year(holidays=["2027-01-02"])).is_workday(d("2027-01-02"))


def test_invalid_yaml_file_error_names_the_file(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text("years:\n  2027: [unclosed\n", encoding="utf-8")
    with pytest.raises(CalendarError, match=re.escape(f"{path}: invalid YAML")):
        WorkCalendar.from_file(path)


# -- arithmetic details -------------------------------------------------------------------


def test_negative_n_counts_working_days_strictly_before_start():
    assert CAL.add_workdays(d("2025-10-09"), -1) == WorkdayResult(d("2025-09-30"), False)
    assert CAL.add_workdays(d("2025-10-09"), -3) == WorkdayResult(d("2025-09-28"), False)


def test_zero_n_returns_start_even_on_a_holiday():
    assert CAL.add_workdays(d("2025-10-01"), 0) == WorkdayResult(d("2025-10-01"), False)


def test_start_day_never_counts_even_when_it_is_a_working_day():
    assert CAL.add_workdays(d("2025-10-11"), 1).date == d("2025-10-13")


def test_next_workday_on_or_after():
    assert CAL.next_workday_on_or_after(d("2025-10-01")) == WorkdayResult(d("2025-10-09"), False)
    assert CAL.next_workday_on_or_after(d("2025-09-28")) == WorkdayResult(d("2025-09-28"), False)
    assert CAL.next_workday_on_or_after(d("2027-01-02")) == WorkdayResult(d("2027-01-04"), True)


def test_workdays_between_is_mirrored_and_zero_on_equal_dates():
    a, b = d("2025-09-26"), d("2025-10-13")
    assert CAL.workdays_between(b, a) == WorkdayCount(-7, False)
    assert CAL.workdays_between(a, a) == WorkdayCount(0, False)


def test_workdays_between_inverts_add_workdays_both_directions():
    start, end = d("2026-02-13"), d("2026-02-27")
    assert CAL.add_workdays(start, 5).date == end
    assert CAL.workdays_between(start, end) == WorkdayCount(5, False)
    assert CAL.add_workdays(end, -5).date == start
    assert CAL.workdays_between(end, start) == WorkdayCount(-5, False)


def test_long_spans_cross_several_years():
    start = d("2024-06-03")
    far = CAL.add_workdays(start, 1000)
    assert far.provisional and far.date.year == 2028
    assert CAL.workdays_between(start, far.date) == WorkdayCount(1000, True)
    assert CAL.add_workdays(far.date, -1000).date == start


# -- properties -----------------------------------------------------------------------------

dates_2024_2028 = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))


@settings(database=None, max_examples=300)
@given(start=dates_2024_2028, n=st.integers(0, 40))
def test_property_workdays_between_counts_what_add_workdays_adds(start, n):
    res = CAL.add_workdays(start, n)
    assert CAL.workdays_between(start, res.date) == WorkdayCount(n, res.provisional)
    assert n == 0 or CAL.is_workday(res.date)


@settings(database=None, max_examples=300)
@given(start=dates_2024_2028, n=st.integers(1, 40))
def test_property_going_back_then_forward_returns_to_a_working_day(start, n):
    back = CAL.add_workdays(start, -n).date
    assert CAL.add_workdays(back, n).date == CAL.next_workday_on_or_after(start).date
