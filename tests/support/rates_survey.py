"""A survey procedure written for the rates' tests (``figures:`` with all three rates), in a
definitions folder of its own beside the shipped ones, and five cases driven through it with
the use cases on real 2026 dates (see tests/service/test_rates.py for what each one is)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from fundflow.domain.tz import SHANGHAI
from fundflow.service.config import DEFINITIONS_DIR, Settings
from fundflow.service.context import build_services
from fundflow.service.migrate import upgrade
from fundflow.service.usecases import cases
from tests.support.databases import wipe
from tests.support.flows import load_user
from tests.support.world import World, build_world

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


@contextmanager
def survey_world(database_url: str, tmp_path: Path) -> Iterator[tuple[World, dict[str, int]]]:
    definitions = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, definitions, ignore=shutil.ignore_patterns("*.md"))
    (definitions / "callback_survey.v1.yaml").write_text(SURVEY, encoding="utf-8")
    svc = build_services(Settings(database_url=database_url, data_dir=tmp_path / "data", definitions_dir=definitions))
    upgrade(svc.db)  # at head already on the suite's databases: a no-op there
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
    try:
        yield world, ids
    finally:
        world.client.close()
        svc.close()
