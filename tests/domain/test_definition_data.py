"""What a procedure declares in its YAML and the code reads from there: each role's
organisation level, the opening report's label and categories, the joint meeting's parties."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundflow.domain.errors import DefinitionError
from fundflow.domain.loader import DefinitionRegistry, check_text, load_directory, load_file

DEFINITIONS = Path(__file__).resolve().parents[2] / "fundflow" / "definitions"
FIRE = DEFINITIONS / "fire_hazard_emergency.v1.yaml"
LIFT = DEFINITIONS / "lift_fault_emergency.v1.yaml"

MINI = """
id: mini
version: 1
title: 小型维修
roles:
  street_office: {label: 街道办事处, level: %s}
  fund_center: 维修资金管理中心
open_roles: [street_office]
initial: reported
states:
  - id: reported
    label: 上报
    responsible: street_office
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
    roles: [street_office]
"""


def test_each_procedure_labels_its_own_opening_event():
    fire, lift = load_file(FIRE), load_file(LIFT)
    assert fire.open_form.label == "隐患上报（立案）"
    assert lift.open_form.label != fire.open_form.label
    assert lift.open_form.label in LIFT.read_text(encoding="utf-8")
    assert "消防水泵故障" in fire.open_form.categories
    assert not set(lift.open_form.categories) & set(fire.open_form.categories)


def test_the_role_levels_come_from_the_definitions():
    registry, _ = load_directory(DEFINITIONS)
    levels = registry.role_levels()
    assert levels["street_office"] == "street_office"
    assert levels["fire_rescue"] == "district"
    assert levels["owners_committee"] == "community"
    assert levels["fund_center"] == levels["housing_bureau"] == "city"


def test_an_unknown_organisation_level_is_a_located_error():
    definition, problems = check_text(MINI % "streetoffice", "mini.v1.yaml")
    assert definition is None
    [p] = [p for p in problems if p.path == "roles.street_office.level"]
    assert "unknown organisation level 'streetoffice'" in p.message
    assert "did you mean 'street_office'" in p.message


def test_a_role_mapping_without_a_level_is_a_located_error():
    text = (MINI % "city").replace("{label: 街道办事处, level: city}", "{label: 街道办事处}")
    definition, problems = check_text(text, "mini.v1.yaml")
    assert definition is None
    assert [p.path for p in problems if p.severity.value == "error"] == ["roles.street_office.level"]


def test_a_bare_role_label_declares_no_level():
    definition, problems = check_text(MINI % "city", "mini.v1.yaml")
    assert definition is not None, problems
    assert definition.roles["street_office"].level == "city"
    assert definition.roles["fund_center"].level is None
    assert DefinitionRegistry([definition]).role_level("fund_center") is None


def test_two_procedures_giving_a_role_two_levels_are_an_error():
    a, _ = check_text(MINI % "city", "mini.v1.yaml")
    b, _ = check_text((MINI % "district").replace("version: 1", "version: 2"), "mini.v2.yaml")
    with pytest.raises(DefinitionError) as info:
        DefinitionRegistry([a, b])
    assert info.value.problems[0].path == "roles.street_office.level"


def test_the_meeting_parties_and_who_records_a_vote_come_from_the_guards():
    d = load_file(FIRE)
    [state] = [s for s in d.states if d.meeting_parties(s)]
    parties = d.meeting_parties(state)
    convener = d.states[state].responsible
    assert convener in parties and len(parties) == 6
    assert d.vote_parties(state, convener) == parties  # the convener records any party's vote
    other = next(p for p in parties if p != convener)
    assert d.vote_parties(state, other) == (other,)  # a party its own
    assert not d.may_record_vote(state, other, convener)
    assert d.vote_parties(state, "housing_bureau") == ()
    assert d.meeting_parties(d.initial) == ()


def test_the_notice_period_is_read_from_the_notice_guard(fire_def):
    """The public notice's days and the act they run from come from the definition's own
    ``period_elapsed`` guard out of the objections' state (the documents and the owners' page
    read them from there)."""
    days, act = fire_def.notice_period()
    guard = next(
        g
        for t in fire_def.transitions
        if set(t.sources) & fire_def.objections.states
        for g in t.guards
        if g.name == "period_elapsed"
    )
    assert (days, act) == (guard.params["calendar_days"], guard.params["from_act"]) == (7, "post_notice")
