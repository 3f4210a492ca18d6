"""A new role or procedure is a YAML change: a role's organisation level, a procedure's
opening report come from the definition."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fundflow.service.config import DEFINITIONS_DIR, Settings
from fundflow.service.context import build_services
from fundflow.service.db import transaction
from fundflow.service.errors import InvalidInput
from fundflow.service.migrate import upgrade
from fundflow.service.tables import District
from fundflow.service.usecases import users
from tests.support.world import NOW

EXTRA = """
id: safety_check
version: 1
title: 安全巡查
roles:
  safety_inspector: {label: 安全巡查员, level: district}
  street_office: {label: 街道办事处, level: street_office}
open_roles: [safety_inspector]
initial: reported
states:
  - id: reported
    label: 上报
    responsible: safety_inspector
    deadline: {working_days: 5}
  - id: done
    label: 办结
    terminal: true
    outcome: completed
transitions:
  - trigger: finish
    from: reported
    to: done
    label: 办结
    roles: [safety_inspector]
"""


@pytest.fixture
def svc(tmp_path: Path):
    definitions = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, definitions, ignore=shutil.ignore_patterns("*.md"))
    (definitions / "safety_check.v1.yaml").write_text(EXTRA, encoding="utf-8")
    svc = build_services(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", data_dir=tmp_path / "data", definitions_dir=definitions)
    )
    upgrade(svc.db)
    with transaction(svc.sessions) as s:
        s.add(District(code="HT", name="荷塘区"))
    yield svc
    svc.close()


def test_a_role_added_in_a_yaml_file_gets_its_level_without_code(svc):
    user, _ = users.add_user(
        svc, username="inspector", display_name="巡查员", role="safety_inspector", org="HT", password=None, now=NOW
    )
    assert (user.org_level, user.org_name) == ("district", "荷塘区")
    assert users.role_levels(svc)["safety_inspector"] == "district"


def test_a_role_no_definition_gives_a_level_is_refused(svc):
    with pytest.raises(InvalidInput) as info:
        users.add_user(svc, username="nobody", display_name="无", role="inspector", org="HT", password=None, now=NOW)
    assert info.value.code == "unknown_role"
    assert "safety_inspector" in info.value.detail["roles"]


def test_the_lift_procedure_labels_its_opening_event_from_its_own_yaml(world):
    from fundflow.service.usecases import cases, queries
    from tests.support.flows import Flow

    flow = Flow(world)
    lift = world.svc.registry.get("lift_fault_emergency")
    fire = world.svc.registry.get("fire_hazard_emergency")
    reply = cases.open_case(
        world.svc,
        flow.u["so"],
        definition=lift.id,
        community_id=world.ids["community_a"],
        title="2栋电梯困人",
        data={},
        buildings=None,
        now=NOW,
    )
    [opened] = queries.list_events(world.svc, flow.u["so"], reply.body["id"])
    assert opened["label"] == lift.open_form.label != fire.open_form.label
    assert opened["label"] in (Path(lift.source)).read_text(encoding="utf-8")
