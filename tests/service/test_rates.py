"""A procedure's rates (``figures:``): 解决率, 按期办结率, 满意率 over the cases collected in a
period, per district, street office and month, on both databases.

A survey procedure written for this test (a folder of its own beside the shipped ones) is
driven through the use cases with real 2026 dates:

* c1 opened 5 Jan, answered 6 Jan (in time), resolved, 满意;
* c2 opened 5 Jan, answered 20 Feb (its 5 working days long gone), resolved, 不满意;
* c3 opened 2 Feb, answered 3 Feb, explained, 基本满意;
* c4 opened 3 Feb, a duplicate (out of every denominator);
* c5 opened 2 Mar, still being handled.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fundflow.service.db import transaction
from fundflow.service.reads.rates import percent
from fundflow.service.tables import Stage
from tests.support.drivers import API
from tests.support.rates_survey import survey_world


@pytest.fixture
def survey(database_url, tmp_path):
    with survey_world(database_url, tmp_path) as made:
        yield made


def rates(world, who="fc", **params) -> dict:
    r = world.client.get(f"{API}/stats", params=params, headers=world.h(who))
    assert r.status_code == 200, r.text
    [procedure] = [p for p in r.json()["rates"]["procedures"] if p["definition"] == "callback_survey"]
    return procedure


def test_the_rates_of_a_year_count_each_case_by_its_end_its_stages_and_its_answer(survey):
    world, _ = survey
    p = rates(world, year="2026")
    assert p["period"]["label"] == "2026年"
    city = p["city"]
    assert (city["collected"], city["closed"], city["in_progress"]) == (5, 4, 1)
    assert city["resolved"] == {"count": 2, "of": 3, "rate": "66.67"}  # c1, c2 of c1, c2, c3
    assert city["on_time"] == {"count": 2, "of": 3, "rate": "66.67"}  # c2 answered late
    assert city["satisfaction"] == {"count": 2, "of": 3, "rate": "66.67"}  # c1 and c3
    # every rate is stated with its definition, in the procedure's own words
    by_kind = {r["kind"]: r for r in p["rates"]}
    assert "“已解决”" in by_kind["resolved"]["description"]
    assert "“已解释说明”" in by_kind["resolved"]["description"]
    assert "“满意”、“基本满意”" in by_kind["satisfaction"]["description"]
    assert by_kind["on_time"]["label"] == "按期办结率"


def test_months_offices_and_districts_add_up_to_the_city(survey):
    world, _ = survey
    p = rates(world, year="2026")
    months = {m["month"]: m for m in p["months"]}
    assert len(months) == 12
    assert [months[f"2026-0{i}"]["collected"] for i in (1, 2, 3, 4)] == [2, 2, 1, 0]
    assert months["2026-01"]["on_time"] == {"count": 1, "of": 2, "rate": "50.00"}
    assert months["2026-04"]["resolved"]["rate"] is None  # nothing to divide by: no rate, not 0%
    for level in ("months", "districts", "street_offices"):
        for key in ("collected", "closed", "in_progress"):
            assert sum(row[key] for row in p[level]) == p["city"][key], (level, key)
        for kind in ("resolved", "on_time", "satisfaction"):
            for part in ("count", "of"):
                assert sum(row[kind][part] for row in p[level]) == p["city"][kind][part], (level, kind, part)


def test_a_period_takes_the_cases_collected_in_it(survey):
    world, _ = survey
    feb = rates(world, month="2026-02")["city"]
    assert (feb["collected"], feb["closed"]) == (2, 2)  # c3, c4
    assert feb["resolved"] == {"count": 0, "of": 1, "rate": "0.00"}
    q1 = rates(world, **{"from": "2026-01-05", "to": "2026-01-05"})["city"]
    assert q1["collected"] == 2


def test_a_stage_left_after_its_due_moment_makes_the_case_late(survey):
    world, ids = survey
    before = rates(world, year="2026")["city"]["on_time"]
    with transaction(world.svc.sessions) as s:
        stage_id, due_at = s.execute(
            select(Stage.id, Stage.due_at).where(Stage.case_id == ids["c1"], Stage.state == "handling")
        ).one()
        s.execute(update(Stage).where(Stage.id == stage_id).values(left_at=due_at + timedelta(minutes=1)))
    after = rates(world, year="2026")["city"]["on_time"]
    assert (before["count"], after["count"], after["of"]) == (2, 1, 3)


def test_a_street_office_sees_the_rates_of_its_own_cases_only(survey):
    world, _ = survey
    assert rates(world, "so", year="2026")["city"]["collected"] == 5
    assert rates(world, "so_other", year="2026")["city"]["collected"] == 0


def test_a_wrong_period_or_procedure_is_a_422_with_its_code(survey):
    world, _ = survey
    for params, code in (({"month": "2026-13"}, "invalid_period"), ({"definition": "nope"}, "unknown_definition")):
        r = world.client.get(f"{API}/stats", params=params, headers=world.h("fc"))
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code


@pytest.mark.parametrize(
    ("count", "of", "shown"), [(1, 3, "33.33"), (2, 3, "66.67"), (1, 8, "12.50"), (0, 0, None), (7, 7, "100.00")]
)
def test_a_rate_is_shown_to_the_hundredth_rounded_half_up(count, of, shown):
    assert percent(count, of) == shown
