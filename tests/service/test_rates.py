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

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from fundflow.domain.tz import SHANGHAI
from fundflow.service.config import DEFINITIONS_DIR, Settings
from fundflow.service.context import build_services
from fundflow.service.db import transaction
from fundflow.service.reads.rates import percent
from fundflow.service.tables import Stage
from fundflow.service.usecases import cases
from tests.support.databases import wipe
from tests.support.drivers import API
from tests.support.flows import load_user
from tests.support.world import build_world

SURVEY = """
id: callback_survey
version: 1
title: 回访测评
roles:
  street_office: {label: 街道办事处, level: street_office}
  fund_center: {label: 维修资金管理中心, level: city}
open_roles: [street_office]
initial: handling
states:
  - id: handling
    label: 办理
    responsible: street_office
    deadline: {working_days: 5}
  - id: calling_back
    label: 回访
    responsible: street_office
  - id: resolved
    label: 已解决
    terminal: true
    outcome: completed
  - id: explained
    label: 已解释说明
    terminal: true
    outcome: completed
  - id: duplicate
    label: 重复件
    terminal: true
    outcome: withdrawn
transitions:
  - {trigger: answer, from: handling, to: calling_back, label: 答复, roles: [street_office]}
  - {trigger: mark_duplicate, from: handling, to: duplicate, label: 重复件, roles: [street_office]}
  - trigger: close_resolved
    from: calling_back
    to: resolved
    label: 回访办结（已解决）
    roles: [street_office]
    fields: &rating
      - name: satisfaction
        type: choice
        label: 满意度
        choices: {satisfied: 满意, fairly_satisfied: 基本满意, unsatisfied: 不满意}
  - trigger: close_explained
    from: calling_back
    to: explained
    label: 回访办结（已解释说明）
    roles: [street_office]
    fields: *rating
figures:
  resolved: {states: [resolved], of: [resolved, explained]}
  on_time: {stages: [handling]}
  satisfaction: {field: satisfaction, satisfied: [satisfied, fairly_satisfied]}
"""


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 10, 0, tzinfo=SHANGHAI)


NOW = at(3, 16)


@pytest.fixture
def survey(database_url, tmp_path: Path):
    definitions = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, definitions, ignore=shutil.ignore_patterns("*.md"))
    (definitions / "callback_survey.v1.yaml").write_text(SURVEY, encoding="utf-8")
    svc = build_services(Settings(database_url=database_url, data_dir=tmp_path / "data", definitions_dir=definitions))
    wipe(svc)
    world = build_world(svc)
    so = load_user(svc, world.ids["user_so"])

    def run(opened: datetime, *acts: tuple[str, datetime, dict | None]) -> int:
        reply = cases.open_case(
            svc,
            so,
            definition="callback_survey",
            community_id=world.ids["community_a"],
            title="楼道照明不亮",
            data={},
            buildings=None,
            now=opened,
        )
        assert reply.status == 201, reply.body
        for trigger, when, data in acts:
            r = cases.fire_transition(svc, so, reply.body["id"], trigger=trigger, data=data, comment=None, now=when)
            assert r.status == 200, r.body
        return reply.body["id"]

    ids = {
        "c1": run(at(1, 5), ("answer", at(1, 6), None), ("close_resolved", at(1, 7), {"satisfaction": "satisfied"})),
        "c2": run(
            at(1, 5), ("answer", at(2, 20), None), ("close_resolved", at(2, 23), {"satisfaction": "unsatisfied"})
        ),
        "c3": run(
            at(2, 2),
            ("answer", at(2, 3), None),
            ("close_explained", at(2, 4), {"satisfaction": "fairly_satisfied"}),
        ),
        "c4": run(at(2, 3), ("mark_duplicate", at(2, 3), None)),
        "c5": run(at(3, 2)),
    }
    yield world, ids
    world.client.close()
    svc.close()


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
