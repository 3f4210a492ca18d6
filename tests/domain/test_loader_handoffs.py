"""The ``handoffs:`` declarations (issue 11b): what the loader makes of them, and each mistake
reported at its YAML path with a Chinese-free, English message naming what is wrong."""

from __future__ import annotations

import pytest

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.deadlines import extension_length
from fundflow.domain.definition import RETURN, DeadlineKind, DeadlineRule
from fundflow.domain.engine import Actor, CaseSnapshot, Engine
from fundflow.domain.errors import Refusal, Severity
from fundflow.domain.loader import DefinitionRegistry, check_text
from tests.support.paths import DEFINITIONS

NOW_TEXT = "2026-03-02T10:00:00+08:00"

BASE = """\
id: mini_handoffs
version: 1
title: 小型维修资金应急使用
roles:
  street_office: {label: 街道办事处, level: street_office}
  fund_center: {label: 维修资金管理中心, level: city}
  fire_rescue: {label: 消防救援机构, level: district}
  owners_committee: {label: 业主委员会, level: community}
  housing_bureau: {label: 住房和城乡建设局, level: city}
open_roles: [street_office, owners_committee]
initial: reported
states:
  - id: reported
    label: 隐患上报
    responsible: fire_rescue
    deadline: {working_days: 5, warn_before_working_days: 1}
  - id: survey
    label: 现场查勘
    responsible: street_office
    deadline: {working_days: 2}
  - id: review
    label: 资金审核
    responsible: fund_center
    deadline: {calendar_days: 7}
  - id: done
    label: 办结
    terminal: true
    outcome: completed
  - id: withdrawn
    label: 已撤回
    terminal: true
    outcome: withdrawn
transitions:
  - {trigger: confirm, from: reported, to: survey, label: 认定, roles: [fire_rescue]}
  - {trigger: survey_done, from: survey, to: review, label: 查勘完成, roles: [street_office]}
  - {trigger: approve, from: review, to: done, label: 核准, roles: [fund_center]}
  - trigger: withdraw
    from: [reported, survey, review]
    to: withdrawn
    label: 撤回
    roles: [street_office]
    fields: [{name: reason, type: reason, label: 撤回原因}]
"""

GOOD = """\
handoffs:
  transfer: {roles: [street_office, fire_rescue]}
  returns:
    - {from: survey, to: reported}
  extension:
    approver: fund_center
    max_working_days: 5
    by_state: {review: housing_bureau}
  withdrawal: {trigger: withdraw, opener_until: approve}
"""


def _check(handoffs: str):
    definition, problems = check_text(BASE + handoffs, "mini_handoffs.v1.yaml")
    return definition, [p for p in problems if p.severity is Severity.ERROR]


def test_the_declarations_become_rules_and_a_return_transition():
    d, errors = _check(GOOD)
    assert errors == [] and d is not None
    h = d.handoffs
    assert h.transfer.roles == {"street_office", "fire_rescue"}
    assert h.returns == (("survey", "reported"),)
    assert (h.extension.approver_of("reported"), h.extension.approver_of("review")) == ("fund_center", "housing_bureau")
    assert h.extension.states == {"reported", "survey", "review"}
    assert (h.withdrawal.trigger, h.withdrawal.opener_until) == ("withdraw", "approve")
    ret = d.transition(RETURN, "survey")
    assert ret.dest == "reported" and ret.roles == {"street_office"} and ret.documents_exempt
    assert [f.name for f in ret.fields] == ["reason"] and ret.label == "退回隐患上报"
    assert d.transition(RETURN, "reported") is None


def test_a_definition_without_handoffs_has_none():
    d, errors = _check("")
    assert errors == [] and d.handoffs.transfer is None and d.handoffs.returns == ()


@pytest.mark.parametrize(
    ("handoffs", "path", "message"),
    [
        ("handoffs: {transfers: {}}", "handoffs.transfers", "unknown key 'transfers' (did you mean 'transfer'?)"),
        ("handoffs:\n  transfer: {roles: [fund_center]}", "handoffs.transfer.roles[0]", "cannot be transferred"),
        (
            "handoffs:\n  transfer: {roles: [owners_comittee]}",
            "handoffs.transfer.roles[0]",
            "did you mean 'owners_committee'",
        ),
        ("handoffs:\n  returns: [{from: survey, to: reportd}]", "handoffs.returns[0].to", "unknown state 'reportd'"),
        (
            "handoffs:\n  returns: [{from: review, to: reported}]",
            "handoffs.returns[0].to",
            "not a previous stage of 'review'",
        ),
        ("handoffs:\n  returns: [{from: done, to: review}]", "handoffs.returns[0].from", "is terminal"),
        (
            "handoffs:\n  returns: [{from: survey, to: reported}, {from: survey, to: reported}]",
            "handoffs.returns[1].from",
            "already declared at handoffs.returns[0]",
        ),
        ("handoffs:\n  extension: {max_working_days: 3}", "handoffs.extension.approver", "required"),
        (
            "handoffs:\n  extension: {approver: fund_center, max_working_days: 0, by_state: {review: housing_bureau}}",
            "handoffs.extension.max_working_days",
            "must be at least 1",
        ),
        (
            "handoffs:\n  extension: {approver: fund_center, max_working_days: 3}",
            "handoffs.extension.approver",
            "would approve its own extension",
        ),
        (
            "handoffs:\n  extension: {approver: fund_center, max_working_days: 3, by_state: {review: fund_center}}",
            "handoffs.extension.by_state.review",
            "would approve its own extension",
        ),
        (
            "handoffs:\n  extension: {approver: housing_bureau, max_working_days: 3, by_state: {revue: fund_center}}",
            "handoffs.extension.by_state.revue",
            "did you mean 'review'",
        ),
        ("handoffs:\n  withdrawal: {trigger: withdrw}", "handoffs.withdrawal.trigger", "did you mean 'withdraw'"),
        (
            "handoffs:\n  withdrawal: {trigger: approve}",
            "handoffs.withdrawal.trigger",
            "does not end the case as withdrawn",
        ),
        (
            "handoffs:\n  withdrawal: {trigger: withdraw, opener_until: aprove}",
            "handoffs.withdrawal.opener_until",
            "did you mean 'approve'",
        ),
    ],
)
def test_each_bad_declaration_is_reported_at_its_path(handoffs, path, message):
    d, errors = _check(handoffs + "\n")
    assert d is None
    assert [p.path for p in errors] == [path], [str(p) for p in errors]
    assert message in errors[0].message
    assert str(errors[0]).startswith(f"mini_handoffs.v1.yaml:{path}: ")


def test_a_declared_transition_may_not_take_the_return_trigger():
    text = BASE.replace("trigger: confirm,", "trigger: return_to_previous,")
    _, problems = check_text(text, "mini_handoffs.v1.yaml")
    assert any(p.path == "transitions[0].trigger" and "handoffs.returns" in p.message for p in problems)


def test_the_shipped_fire_hazard_definition_declares_every_handoff():
    from fundflow.domain.loader import load_file

    d = load_file(DEFINITIONS / "fire_hazard_emergency.v1.yaml")
    assert d.handoffs.transfer.roles == {"street_office", "fire_rescue"}
    assert d.handoffs.extension.approver_of("fund_review") == "housing_bureau"
    assert d.handoffs.withdrawal.opener_until == "approve"
    assert {src for src, _ in d.handoffs.returns} == {"site_survey", "joint_meeting", "plan_budget"}


# -- the engine: withdrawal by the party that opened the case ----------------------------------


@pytest.fixture
def engine():
    from datetime import datetime

    d, errors = _check(GOOD)
    assert not errors
    return Engine(DefinitionRegistry([d]), WorkCalendar()), datetime.fromisoformat(NOW_TEXT)


def test_the_opener_withdraws_until_the_act_named_then_only_the_declared_roles(engine):
    eng, now = engine
    case = CaseSnapshot("mini_handoffs", 1, "review")
    opener = Actor("7", "owners_committee", "C-A", opener=True)
    assert eng.fire(case, "withdraw", Actor("8", "owners_committee", "C-A"), {"reason": "撤回"}, now).code.value == (
        "role_not_allowed"
    )
    assert eng.fire(case, "withdraw", opener, {"reason": "业主自筹"}, now).state == "withdrawn"
    approved = CaseSnapshot("mini_handoffs", 1, "review", acts={"approve": now})
    out = eng.fire(approved, "withdraw", opener, {"reason": "业主自筹"}, now)
    assert isinstance(out, Refusal) and "核准" in out.message and "街道办事处" in out.message
    assert eng.fire(approved, "withdraw", Actor("9", "street_office"), {"reason": "街道撤回"}, now).state == "withdrawn"


# -- extension lengths ------------------------------------------------------------------------


def test_an_extension_adds_working_days_to_a_working_day_rule_and_their_span_to_a_calendar_rule():
    from datetime import date

    cal = WorkCalendar()
    working = DeadlineRule(DeadlineKind.WORKING_DAYS, 5)
    calendar = DeadlineRule(DeadlineKind.CALENDAR_DAYS, 7)
    assert extension_length(working, date(2026, 3, 6), 2, cal) == (2, 0)
    # due Friday 6 March 2026: 2 working days later is Tuesday 10 March, 4 calendar days on
    assert extension_length(calendar, date(2026, 3, 6), 2, cal) == (0, 4)
    # due Saturday 7 March: the first working day after it is Monday 9 March
    assert extension_length(calendar, date(2026, 3, 7), 1, cal) == (0, 2)
