"""Offline acts in the domain: occurred_at resolved and checked, suspension dated when it
happened, deadlines anchored where the rule anchors them, and the loader's ``from:`` checks."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from fundflow.domain.definition import Anchor
from fundflow.domain.engine import Actor, CaseSnapshot, Outcome, parse_scope
from fundflow.domain.errors import Refusal, RefusalCode
from fundflow.domain.loader import check_text
from fundflow.domain.occurred import parse_occurred_at, resolve_occurred_at
from fundflow.domain.tz import SHANGHAI
from tests.support.moments import at

SO = Actor("u", "street_office")
FR = Actor("f", "fire_rescue")


def test_a_day_alone_is_noon_of_that_day_kept_between_the_last_act_and_now():
    now = at(2026, 3, 16, 9)
    assert resolve_occurred_at(date(2026, 3, 10), now, at(2026, 3, 2)) == at(2026, 3, 10, 12)
    assert resolve_occurred_at(date(2026, 3, 10), now, at(2026, 3, 10, 15)) == at(2026, 3, 10, 15)
    assert resolve_occurred_at(date(2026, 3, 16), now, None) == now  # today, before noon: now
    assert "晚于今天" in resolve_occurred_at(date(2026, 3, 17), now, None)
    assert "早于" in resolve_occurred_at(date(2026, 3, 9), now, at(2026, 3, 10, 8))
    assert resolve_occurred_at(None, now, at(2026, 3, 10)) == now


def test_occurred_at_text_is_a_day_or_a_moment_read_in_beijing_time():
    assert parse_occurred_at("2026-03-10") == date(2026, 3, 10)
    assert parse_occurred_at("2026-03-10T08:30") == at(2026, 3, 10, 8, 30)
    assert parse_occurred_at("2026-03-10T00:30:00Z").astimezone(SHANGHAI) == at(2026, 3, 10, 8, 30)
    assert parse_occurred_at("  ") is None
    with pytest.raises(ValueError, match="格式不正确"):
        parse_occurred_at("上周一")


def test_a_suspension_over_national_day_moves_the_due_date_by_the_working_days_suspended(engine, fire_def):
    """Reported Thursday 2025-09-25: 5 working days (26, 28 the make-up Sunday, 29, 30, 10-09)
    due 10-09. Suspended on Monday 09-29, resumed on Friday 10-10, both recorded on 10-10 at
    16:00: 09-30, 10-09 and 10-10 were working days in between, so the due date moves by three
    working days (10-10, the make-up Saturday 10-11, 10-13) to 10-13."""
    entered = at(2025, 9, 25)
    start = engine.start("fire_hazard_emergency", {}, entered)[1]
    assert start.due_date == date(2025, 10, 9)
    case = CaseSnapshot(
        fire_def.id,
        1,
        "reported",
        stage_entered_at=entered,
        opened_at=entered,
        acts={"open": entered},
        last_act_at=entered,
    )
    recorded = at(2025, 10, 10, 16)
    out = engine.fire(case, "suspend", SO, {"reason": "国庆假期，等待业主委员会"}, recorded, date(2025, 9, 29))
    assert isinstance(out, Outcome) and out.suspended_since == at(2025, 9, 29, 12)
    case = dataclasses.replace(
        case,
        suspended_since=out.suspended_since,
        acts={"open": entered, "suspend": out.occurred_at},
        last_act_at=out.occurred_at,
    )
    out = engine.fire(case, "resume", SO, {"reason": "假期结束"}, recorded, date(2025, 10, 10))
    assert isinstance(out, Outcome)
    assert out.deadlines.due_date == date(2025, 10, 13) and out.deadlines.suspended_working_days == 3
    assert out.deadlines.suspended_days == 11
    # recorded at once instead, the same dates give the same due date
    same = engine.fire(case, "resume", SO, {"reason": "假期结束"}, at(2025, 10, 10, 12, 30))
    assert same.deadlines.due_date == date(2025, 10, 13)


def test_the_site_survey_counts_from_the_report(engine, fire_def):
    """Dongguan: 2 working days from the report, not from the fire finding."""
    assert fire_def.states["site_survey"].deadline.anchor is Anchor.CASE_OPENED
    opened = at(2026, 3, 2)  # Monday
    case = CaseSnapshot(
        fire_def.id,
        1,
        "reported",
        documents=frozenset(fire_def.documents),
        stage_entered_at=opened,
        opened_at=opened,
        acts={"open": opened},
        last_act_at=opened,
    )
    data = {"notice_no": "1号", "finding_route": "direct", "hazard_elements": "报警系统瘫痪"}
    out = engine.fire(case, "confirm_major", FR, data, at(2026, 3, 3, 9))
    assert out.deadlines.due_date == date(2026, 3, 4)
    late = engine.fire(case, "confirm_major", FR, data, at(2026, 3, 13, 9))
    assert late.deadlines.due_date == date(2026, 3, 4)
    assert late.deadlines.warn_at is None and late.deadlines.due_at < at(2026, 3, 13, 9)


def test_a_deadline_from_an_act_is_recounted_when_the_act_happens(engine, fire_def):
    rule = dataclasses.replace(fire_def.states["public_notice"].deadline, anchor=Anchor.ACT, anchor_ref="post_notice")
    states = dict(fire_def.states)
    states["public_notice"] = dataclasses.replace(states["public_notice"], deadline=rule)
    from fundflow.domain.calendar import WorkCalendar
    from fundflow.domain.engine import Engine
    from fundflow.domain.loader import DefinitionRegistry

    d = dataclasses.replace(fire_def, states=states)
    eng = Engine(DefinitionRegistry([d]), engine.calendar if isinstance(engine.calendar, WorkCalendar) else None)
    entered = at(2026, 3, 2)
    case = CaseSnapshot(
        d.id,
        1,
        "public_notice",
        documents=frozenset(d.documents),
        stage_entered_at=entered,
        acts={"open": entered, "submit_settlement": entered},
        last_act_at=entered,
    )
    out = eng.fire(case, "post_notice", SO, {}, at(2026, 3, 9), date(2026, 3, 5))
    assert out.deadlines.due_date == date(2026, 3, 15)  # 10 calendar days from the posting on the 5th


def test_the_act_must_not_precede_the_stage_nor_be_in_the_future(engine, fire_def):
    entered = at(2026, 3, 10)
    case = CaseSnapshot(
        fire_def.id,
        1,
        "public_notice",
        documents=frozenset(fire_def.documents),
        stage_entered_at=entered,
        last_act_at=at(2026, 3, 11),
    )
    out = engine.fire(case, "post_notice", SO, {}, at(2026, 3, 16), date(2026, 3, 10))
    assert isinstance(out, Refusal) and out.code is RefusalCode.FIELD_INVALID and out.field == "occurred_at"
    assert "案件上一办理事项" in out.message  # the later of the two bounds
    out = engine.fire(case, "post_notice", SO, {}, at(2026, 3, 16), at(2026, 3, 16, 11))
    assert isinstance(out, Refusal) and "晚于当前时间" in out.message


def test_the_paying_scope_is_the_whole_estate_or_named_buildings():
    assert parse_scope({"whole_estate": True}) == {"whole_estate": True}
    assert parse_scope(["2栋", "1栋", "2栋"]) == {"buildings": ["1栋", "2栋"]}
    for bad in ({}, {"buildings": []}, {"whole_estate": True, "buildings": ["1栋"]}, "1栋", {"x": 1}):
        with pytest.raises(ValueError):
            parse_scope(bad)


BASE = """
id: t
version: 1
title: 测试
roles: {a: 甲}
open_roles: [a]
documents:
  doc: {label: 材料, roles: [a]}
initial: s1
states:
  - id: s1
    label: 一
    responsible: a
    deadline: {working_days: 2, from: FROM}
  - {id: s2, label: 二, terminal: true, outcome: completed}
transitions:
  - {trigger: go, from: s1, to: s2, label: 走, roles: [a], fields: [{name: when, type: date, label: 日期}, {name: note, type: text, label: 说明}]}
"""


@pytest.mark.parametrize(
    "anchor,message",
    [
        ("case_opend", "states[0].deadline.from: unknown anchor 'case_opend' (did you mean 'case_opened'?)"),
        ("act", "states[0].deadline.from: name the act: from: {act: TRIGGER}"),
        ("{act: og}", "states[0].deadline.from.act: unknown act 'og' (did you mean 'go'?)"),
        ("{field: wen}", "states[0].deadline.from.field: unknown field 'wen' (did you mean 'when'?)"),
        ("{field: note}", "states[0].deadline.from.field: field 'note' is text, not a date"),
        ("{act: go, field: when}", "states[0].deadline.from: name exactly one of act, field"),
    ],
)
def test_a_bad_anchor_is_located(anchor, message):
    _, problems = check_text(BASE.replace("FROM", anchor), "t.v1.yaml")
    assert any(f"{p.path}: {p.message}".startswith(message) for p in problems), problems


@pytest.mark.parametrize(
    "anchor,kind,ref",
    [
        ("case_opened", Anchor.CASE_OPENED, None),
        ("stage_entered", Anchor.STAGE_ENTERED, None),
        ("{act: go}", Anchor.ACT, "go"),
        ("{field: when}", Anchor.FIELD, "when"),
    ],
)
def test_a_good_anchor_is_loaded(anchor, kind, ref):
    d, problems = check_text(BASE.replace("FROM", anchor), "t.v1.yaml")
    assert d is not None, problems
    rule = d.states["s1"].deadline
    assert (rule.anchor, rule.anchor_ref) == (kind, ref)
    assert d.document_roles == {"doc": frozenset({"a"})}


def test_document_roles_and_new_rounds_name_what_exists():
    text = BASE.replace("FROM", "case_opened").replace("roles: [a]}\ninitial", "roles: [b]}\ninitial")
    _, problems = check_text(text, "t.v1.yaml")
    assert any(p.path == "documents.doc.roles" for p in problems), problems
    text = BASE.replace("FROM", "case_opened").replace("roles: [a], fields", "roles: [a], new_round: [dco], fields")
    _, problems = check_text(text, "t.v1.yaml")
    assert "transitions[0].new_round[0]: unknown document 'dco' (did you mean 'doc'?)" in [
        f"{p.path}: {p.message}" for p in problems
    ]
