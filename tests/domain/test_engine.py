"""The engine over every transition of the main definition, table-driven.

For each (transition, source state): allowed with good input; refused in every state that
does not offer it; refused for every role not allowed; refused by each of its guards; refused
for each missing required field. A good input is built from the field types; a guard is
broken by the one change listed in BREAK_GUARD.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from fundflow.domain.definition import RESUME, SUSPEND
from fundflow.domain.engine import Actor, CaseSnapshot, LedgerOp, Outcome
from fundflow.domain.errors import Refusal, RefusalCode
from fundflow.domain.guards import Vote, VoteChoice
from tests.support.engine_cases import (
    ALL_ROLES,
    DEF_ID,
    FIRE,
    NOW,
    VERSION,
    good_case,
    good_values,
)
from tests.support.moments import at


def _no_votes(case, values):
    return dataclasses.replace(case, votes={}), values


def _low_balance(case, values):
    return dataclasses.replace(case, balance=Decimal("1.00")), values


def _too_much(case, values):
    values = {k: ("990000.00" if k.endswith("_amount") else v) for k, v in values.items()}
    return dataclasses.replace(case, data={**case.data, "settled_amount": "995000.00"}), values


def _not_above(case, values):
    return case, {**values, "settled_amount": "100.00"}


def _big_advance(case, values):
    return case, {**values, "advance_amount": "150000.00"}


def _expensive_without_assessment(case, values):
    if "budget_amount" in values:  # the assessment is required from CNY 300,000 only
        values = {**values, "budget_amount": "350000.00"}
    return dataclasses.replace(
        case, documents=case.documents - {"safety_assessment", "fire_notice", "notice_text"}
    ), values


def _past_date(case, values):
    return case, {**values, "rectification_deadline": (NOW.date() - timedelta(days=1)).isoformat()}


def _unsigned(case, values):
    return dataclasses.replace(case, data={**case.data, "signatures": {"acceptance": ["street_office"]}}), values


def _just_started(case, values):
    return dataclasses.replace(
        case, stage_entered_at=NOW - timedelta(hours=1), acts={"post_notice": NOW - timedelta(hours=1)}
    ), values


def _open_objection(case, values):
    return dataclasses.replace(case, data={**case.data, "counters": {"open_objections": 1}}), values


BREAK_GUARD = {
    "meeting_quorum": _no_votes,
    "amount_within_balance": _low_balance,
    "amount_at_most": _too_much,
    "amount_above": _not_above,
    "advance_within_share": _big_advance,
    "documents_present": _expensive_without_assessment,
    "date_not_past": _past_date,
    "signed_by": _unsigned,
    "period_elapsed": _just_started,
    "counter_zero": _open_objection,
}


#: Cases that an in-place action needs to make sense: nobody has signed yet; one objection is open.
PREPARE = {
    "sign_acceptance": lambda case: dataclasses.replace(case, data={**case.data, "signatures": {}}),
    "answer_objection": lambda case: _open_objection(case, {})[0],
    "release_retention": lambda case: dataclasses.replace(case, stage_entered_at=NOW - timedelta(days=400)),
}

#: Input an action needs to make sense: a settlement above the approval; a supplementary
#: approval that covers the settlement.
VALUES = {
    "request_supplementary": {"settled_amount": "250000.00"},
    "approve_supplementary": {"approved_amount": "250000.00"},
}


def _rows(definition, kind):
    rows = []
    for tr in definition.transitions:
        for src in tr.sources:
            if kind == "allowed":
                rows.append(pytest.param(tr.trigger, src, id=f"{tr.trigger}@{src}"))
            elif kind == "role":
                for role in ALL_ROLES:
                    if role not in tr.roles:
                        rows.append(pytest.param(tr.trigger, src, role, id=f"{tr.trigger}@{src}-by-{role}"))
            elif kind == "guard":
                for g in tr.guards:
                    rows.append(pytest.param(tr.trigger, src, g.name, id=f"{tr.trigger}@{src}-{g.name}"))
            elif kind == "field":
                for f in tr.fields:
                    if f.required:
                        rows.append(pytest.param(tr.trigger, src, f.name, id=f"{tr.trigger}@{src}-{f.name}"))
    if kind == "state":
        for trigger in dict.fromkeys(t.trigger for t in definition.transitions):
            for sid in definition.states:
                if definition.transition(trigger, sid) is None:
                    rows.append(pytest.param(trigger, sid, id=f"{trigger}@{sid}"))
    return rows


def actor_for(tr) -> Actor:
    return Actor("u1", sorted(tr.roles)[0], "org")


@pytest.mark.parametrize("trigger,source", _rows(FIRE, "allowed"))
def test_every_transition_is_allowed_with_good_input(engine, fire_def, trigger, source):
    tr = fire_def.transition(trigger, source)
    case = PREPARE.get(trigger, lambda c: c)(good_case(fire_def, source))
    out = engine.fire(case, trigger, actor_for(tr), {**good_values(tr), **VALUES.get(trigger, {})}, NOW)
    assert isinstance(out, Outcome), out
    assert out.state == (tr.dest or source)
    assert out.previous == source
    assert out.event.trigger == trigger and out.event.actor.role in tr.roles
    for f in tr.fields:
        assert f.name in out.data
    assert set(out.money) == {f.money for f in tr.fields if f.money and tr.dest}
    assert (out.ledger is not None) is bool(tr.effect and tr.effect.moves_money)
    if tr.dest is not None:
        dest = fire_def.states[tr.dest]
        assert out.new_stage
        assert out.closed is dest.terminal
        assert (out.deadlines is None) is (dest.terminal or dest.deadline is None)
        if out.deadlines is not None:
            assert out.deadlines.due_at > NOW


@pytest.mark.parametrize("trigger,state", _rows(FIRE, "state"))
def test_a_trigger_is_refused_in_every_state_that_does_not_offer_it(engine, fire_def, trigger, state):
    tr = next(t for t in fire_def.transitions if t.trigger == trigger)
    out = engine.fire(good_case(fire_def, state), trigger, actor_for(tr), good_values(tr), NOW)
    assert isinstance(out, Refusal)
    expected = RefusalCode.CASE_CLOSED if fire_def.states[state].terminal else RefusalCode.NOT_AVAILABLE
    assert out.code is expected
    assert out.state == state


@pytest.mark.parametrize("trigger,source,role", _rows(FIRE, "role"))
def test_a_role_not_declared_is_refused(engine, fire_def, trigger, source, role):
    tr = fire_def.transition(trigger, source)
    out = engine.fire(good_case(fire_def, source), trigger, Actor("u", role), good_values(tr), NOW)
    assert isinstance(out, Refusal)
    assert out.code is RefusalCode.ROLE_NOT_ALLOWED
    assert trigger not in out.available


@pytest.mark.parametrize("trigger,source,guard", _rows(FIRE, "guard"))
def test_each_guard_refuses_with_its_reason(engine, fire_def, trigger, source, guard):
    tr = fire_def.transition(trigger, source)
    case, values = BREAK_GUARD[guard](good_case(fire_def, source), {**good_values(tr), **VALUES.get(trigger, {})})
    out = engine.fire(case, trigger, actor_for(tr), values, NOW)
    assert isinstance(out, Refusal), out
    assert out.code is RefusalCode.GUARD_REFUSED
    assert out.guard == guard
    assert out.message and not out.message.isascii()  # a Chinese reason


@pytest.mark.parametrize("trigger,source,field", _rows(FIRE, "field"))
def test_each_missing_required_field_is_refused(engine, fire_def, trigger, source, field):
    tr = fire_def.transition(trigger, source)
    values = good_values(tr)
    del values[field]
    out = engine.fire(good_case(fire_def, source), trigger, actor_for(tr), values, NOW)
    assert isinstance(out, Refusal)
    assert out.code is RefusalCode.FIELD_MISSING
    assert out.field == field


def test_the_table_covers_every_transition(fire_def):
    allowed = {(p.values[0], p.values[1]) for p in _rows(FIRE, "allowed")}
    assert allowed == {(t.trigger, s) for t in fire_def.transitions for s in t.sources}
    assert set(BREAK_GUARD) >= {g.name for t in fire_def.transitions for g in t.guards}


@pytest.mark.parametrize(
    "bad,code",
    [
        ({"approved_amount": "12.345", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "-5", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "-0.00", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "0.00", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "1e5", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "NaN", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "abc", "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": True, "approval_opinion": "同意"}, RefusalCode.INVALID_AMOUNT),
        ({"approved_amount": "100", "approval_opinion": "   "}, RefusalCode.FIELD_MISSING),
        ({"approved_amount": "100", "approval_opinion": "同意", "extra": 1}, RefusalCode.FIELD_INVALID),
    ],
)
def test_invalid_field_values_are_refused_with_the_field_named(engine, fire_def, bad, code):
    out = engine.fire(good_case(fire_def, "fund_review"), "approve", Actor("u", "fund_center"), bad, NOW)
    assert isinstance(out, Refusal) and out.code is code
    assert out.field in bad


def test_bad_choice_and_date_are_refused(engine, fire_def):
    case = good_case(fire_def, "reported")
    out = engine.fire(
        case,
        "confirm_major",
        Actor("u", "fire_rescue"),
        {"notice_no": "X", "finding_route": "maybe", "hazard_elements": "泵"},
        NOW,
    )
    assert out.code is RefusalCode.FIELD_INVALID and "direct" in out.message
    out = engine.fire(
        good_case(fire_def, "rectification"),
        "complete_works",
        Actor("u", "property_company"),
        {"completion_date": "2026-02-30"},
        NOW,
    )
    assert out.code is RefusalCode.FIELD_INVALID and out.field == "completion_date"


def test_disbursement_pays_and_keeps_the_declared_retention(engine, fire_def):
    tr = fire_def.transition("disburse", "disbursement")
    out = engine.fire(good_case(fire_def, "disbursement"), "disburse", Actor("u", "fund_center"), good_values(tr), NOW)
    assert out.ledger == LedgerOp("pay", Decimal("150000.00"), Fraction(1, 10))
    assert out.money == {"paid": Decimal("150000.00")}
    # 190,000 settled less 10% retention: 171,000.00 may be paid, not a fen more
    over = engine.fire(
        good_case(fire_def, "disbursement"), "disburse", Actor("u", "fund_center"), {"paid_amount": "171000.01"}, NOW
    )
    assert isinstance(over, Refusal) and over.guard == "ledger" and "¥171,000.00" in over.message
    assert "10%" in over.message and "¥19,000.00" in over.message
    ok = engine.fire(
        good_case(fire_def, "disbursement"), "disburse", Actor("u", "fund_center"), {"paid_amount": "171000.00"}, NOW
    )
    assert isinstance(ok, Outcome) and ok.state == "warranty"


def test_amounts_are_stored_as_exact_fen_strings(engine, fire_def):
    out = engine.fire(
        good_case(fire_def, "fund_review"),
        "approve",
        Actor("u", "fund_center"),
        {"approved_amount": 123456.7, "approval_opinion": "同意"},
        NOW,
    )
    assert out.data["approved_amount"] == "123456.70"


def test_leaving_a_state_needs_its_documents(engine, fire_def):
    case = good_case(fire_def, "site_survey", documents=frozenset())
    tr = fire_def.transition("complete_survey", "site_survey")
    out = engine.fire(case, "complete_survey", Actor("u", "street_office"), good_values(tr), NOW)
    assert out.code is RefusalCode.DOCUMENTS_MISSING and "现场查勘记录" in out.message
    # withdrawing is exempt
    out = engine.fire(case, "withdraw", Actor("u", "street_office"), {"reason": "业主自行筹资"}, NOW)
    assert out.state == "withdrawn"


def test_unknown_trigger_is_refused_differently_from_unavailable(engine, fire_def):
    out = engine.fire(good_case(fire_def, "reported"), "fly", Actor("u", "street_office"), {}, NOW)
    assert out.code is RefusalCode.UNKNOWN_TRIGGER
    assert set(out.available) == {"withdraw", SUSPEND}


def test_acceptance_is_signed_party_by_party_then_passed(engine, fire_def):
    case = good_case(fire_def, "acceptance", data={})
    for role in ("fire_rescue", "street_office", "fund_center"):
        out = engine.fire(case, "sign_acceptance", Actor("u", role), {}, NOW)
        assert out.state == "acceptance" and not out.new_stage
        case = dataclasses.replace(case, data=out.data)
    again = engine.fire(case, "sign_acceptance", Actor("u", "fund_center"), {}, NOW)
    assert again.code is RefusalCode.GUARD_REFUSED
    refused = engine.fire(case, "pass_acceptance", Actor("u", "street_office"), {}, NOW)
    assert refused.code is RefusalCode.GUARD_REFUSED and "业主委员会" in refused.message
    out = engine.fire(case, "sign_acceptance", Actor("u", "owners_committee"), {"opinion": "同意"}, NOW)
    case = dataclasses.replace(case, data=out.data)
    assert engine.fire(case, "pass_acceptance", Actor("u", "street_office"), {}, NOW).state == "settlement"


def test_objections_must_be_answered_before_the_notice_closes(engine, fire_def):
    case = good_case(fire_def, "public_notice")
    out = engine.fire(case, "raise_objection", Actor("u", "owners_committee"), {"objection": "分摊面积有误"}, NOW)
    case = dataclasses.replace(case, data=out.data)
    assert engine.fire(case, "close_notice", Actor("u", "street_office"), {}, NOW).guard == "counter_zero"
    out = engine.fire(case, "answer_objection", Actor("u", "street_office"), {"answer": "已复核更正"}, NOW)
    case = dataclasses.replace(case, data=out.data)
    assert (
        engine.fire(case, "answer_objection", Actor("u", "street_office"), {"answer": "再答"}, NOW).code
        is RefusalCode.GUARD_REFUSED
    )
    assert engine.fire(case, "close_notice", Actor("u", "street_office"), {}, NOW).state == "disbursement"


def test_meeting_needs_two_thirds_of_those_present(engine, fire_def):
    tr = fire_def.transition("meeting_approve", "joint_meeting")
    votes = {
        "street_office": Vote(True, VoteChoice.AGREE),
        "fund_center": Vote(True, VoteChoice.AGREE),
        "fire_rescue": Vote(True, VoteChoice.DISAGREE),
        "owners_committee": Vote(True, VoteChoice.DISAGREE),
        "property_company": Vote(False),
    }
    case = good_case(fire_def, "joint_meeting", votes=votes)
    out = engine.fire(case, "meeting_approve", Actor("u", "street_office"), good_values(tr), NOW)
    assert out.code is RefusalCode.GUARD_REFUSED and "2/3" in out.message
    votes["owners_committee"] = Vote(True, VoteChoice.AGREE)
    votes["property_company"] = Vote(True, VoteChoice.AGREE)
    case = good_case(fire_def, "joint_meeting", votes=votes)
    assert (
        engine.fire(case, "meeting_approve", Actor("u", "street_office"), good_values(tr), NOW).state == "plan_budget"
    )


def test_small_projects_get_no_advance(engine, fire_def):
    case = good_case(fire_def, "advance_payment", data={"approved_amount": "90000.00"})
    out = engine.fire(
        case,
        "pay_advance",
        Actor("u", "fund_center"),
        {"advance_amount": "10000.00", "payment_date": "2026-03-16"},
        NOW,
    )
    assert out.code is RefusalCode.GUARD_REFUSED and "不预拨" in out.message
    assert engine.fire(case, "skip_advance", Actor("u", "fund_center"), {}, NOW).state == "rectification"


def test_suspended_case_refuses_everything_but_resume(engine, fire_def):
    case = good_case(fire_def, "fund_review", stage_entered_at=at(2026, 3, 9))
    out = engine.fire(case, "suspend", Actor("u", "street_office"), {"reason": "等待业主续交"}, NOW)
    assert out.suspended and out.suspended_since == NOW and out.state == "fund_review"
    case = dataclasses.replace(case, suspended_since=out.suspended_since)
    tr = fire_def.transition("approve", "fund_review")
    assert (
        engine.fire(case, "approve", Actor("u", "fund_center"), good_values(tr), NOW).code is RefusalCode.CASE_SUSPENDED
    )
    assert (
        engine.fire(case, SUSPEND, Actor("u", "street_office"), {"reason": "再挂"}, NOW).code
        is RefusalCode.CASE_SUSPENDED
    )
    assert [a.trigger for a in engine.actions(case, "street_office")] == [RESUME]
    assert (
        engine.fire(case, RESUME, Actor("u", "fire_rescue"), {"reason": "已续交"}, NOW).code
        is RefusalCode.ROLE_NOT_ALLOWED
    )
    resumed = engine.fire(case, RESUME, Actor("u", "street_office"), {"reason": "已续交到位"}, at(2026, 3, 19, 15))
    assert not resumed.suspended
    # suspended Monday 16th, resumed Thursday 19th: 3 working days; 2 wd from Monday 9th was the 11th
    assert resumed.deadlines.suspended_working_days == 3
    assert resumed.deadlines.due_date.isoformat() == "2026-03-16"


def test_resume_when_not_suspended_is_refused(engine, fire_def):
    out = engine.fire(
        good_case(fire_def, "fund_review"), RESUME, Actor("u", "street_office"), {"reason": "恢复办理"}, NOW
    )
    assert out.code is RefusalCode.NOT_SUSPENDED


def test_naive_now_is_a_programming_error(engine, fire_def):
    with pytest.raises(ValueError, match="aware"):
        engine.fire(
            good_case(fire_def, "reported"),
            "withdraw",
            Actor("u", "street_office"),
            {"reason": "撤回办理"},
            NOW.replace(tzinfo=None),
        )


HAPPY_PATH = [
    ("confirm_major", "fire_rescue"),
    ("complete_survey", "street_office"),
    ("meeting_approve", "street_office"),
    ("submit_plan", "property_company"),
    ("confirm_cost", "fund_center"),
    ("approve", "fund_center"),
    ("pay_advance", "fund_center"),
    ("complete_works", "property_company"),
    ("sign_acceptance", "fire_rescue"),
    ("sign_acceptance", "street_office"),
    ("sign_acceptance", "fund_center"),
    ("sign_acceptance", "owners_committee"),
    ("pass_acceptance", "street_office"),
    ("submit_settlement", "property_company"),
    ("close_notice", "street_office"),
    ("disburse", "fund_center"),
    ("release_retention", "fund_center"),
    ("archive", "street_office"),
]


def test_a_case_walks_every_stage_in_order_surviving_save_and_reload(engine, fire_def):
    """Each step's snapshot goes through JSON, as storage would, before the next fire."""
    case = good_case(fire_def, fire_def.initial, data={}, stage_entered_at=NOW - timedelta(days=400))
    visited = [case.state]
    for trigger, role in HAPPY_PATH:
        tr = fire_def.transition(trigger, case.state)
        out = engine.fire(case, trigger, Actor("u", role), good_values(tr), NOW)
        assert isinstance(out, Outcome), out
        stored = json.loads(json.dumps({"state": out.state, "data": out.data}))
        case = dataclasses.replace(case, state=stored["state"], data=stored["data"])
        if out.new_stage:
            visited.append(out.state)
    assert visited == [
        "reported",
        "site_survey",
        "joint_meeting",
        "plan_budget",
        "cost_review",
        "fund_review",
        "advance_payment",
        "rectification",
        "acceptance",
        "settlement",
        "public_notice",
        "disbursement",
        "warranty",
        "archiving",
        "archived",
    ]
    assert (
        engine.fire(case, "withdraw", Actor("u", "street_office"), {"reason": "撤回"}, NOW).code
        is RefusalCode.CASE_CLOSED
    )


def test_one_machine_per_definition_version_is_cached(engine, fire_def):
    case = good_case(fire_def, "reported")
    engine.fire(case, "withdraw", Actor("u", "street_office"), {"reason": "撤回办理"}, NOW)
    first = engine._machine(DEF_ID, VERSION).machine
    for _ in range(5):
        engine.fire(case, "withdraw", Actor("u", "street_office"), {"reason": "撤回办理"}, NOW)
    assert engine._machine(DEF_ID, VERSION).machine is first
    assert first.models == []  # no case stays bound to the machine


def test_the_lift_procedure_runs_on_the_same_engine(engine, registry):
    lift = registry.get("lift_fault_emergency")
    case = CaseSnapshot(
        lift.id,
        lift.version,
        "reported",
        documents=frozenset(lift.documents),
        balance=Decimal("50000"),
        stage_entered_at=NOW,
    )
    out = engine.fire(
        case,
        "confirm_fault",
        Actor("u", "street_office"),
        {"fault_description": "曳引机故障停梯", "quote_amount": "38000"},
        NOW,
    )
    assert out.state == "fund_review" and out.deadlines.rule == "5个工作日"
    case = dataclasses.replace(case, state=out.state, data=out.data)
    out = engine.fire(
        case, "approve", Actor("u", "fund_center"), {"approved_amount": "60000", "repair_deadline": "2026-04-30"}, NOW
    )
    assert out.code is RefusalCode.GUARD_REFUSED and out.guard == "amount_within_balance"
    out = engine.fire(
        case, "approve", Actor("u", "fund_center"), {"approved_amount": "38000", "repair_deadline": "2026-04-30"}, NOW
    )
    assert out.state == "repair" and out.deadlines.due_date.isoformat() == "2026-04-30"


def test_acceptance_after_rework_must_be_signed_again(engine, fire_def):
    """Signatures of a failed acceptance do not carry over to the next inspection."""
    case = good_case(fire_def, "acceptance")  # signed by all six parties
    out = engine.fire(
        case,
        "fail_acceptance",
        Actor("u", "street_office"),
        {"reason": "喷淋管道试压不合格", "rectification_deadline": "2026-04-30"},
        NOW,
    )
    assert out.state == "rectification"
    case = dataclasses.replace(case, state=out.state, data=out.data)
    out = engine.fire(case, "complete_works", Actor("u", "property_company"), {"completion_date": "2026-04-20"}, NOW)
    case = dataclasses.replace(case, state=out.state, data=out.data)
    refused = engine.fire(case, "pass_acceptance", Actor("u", "street_office"), {}, NOW)
    assert refused.code is RefusalCode.GUARD_REFUSED and refused.guard == "signed_by"
    signed = engine.fire(case, "sign_acceptance", Actor("u", "fire_rescue"), {}, NOW)
    assert signed.data["signatures"]["acceptance"] == ["fire_rescue"]


def test_guard_reasons_name_things_in_chinese(engine, fire_def):
    """A refusal names documents, records and counters by their Chinese labels, never by id."""
    case = good_case(fire_def, "reported", documents=frozenset({"hazard_photos"}))
    tr = fire_def.transition("confirm_major", "reported")
    out = engine.fire(case, "confirm_major", Actor("u", "fire_rescue"), good_values(tr), NOW)
    assert "重大火灾隐患通知书" in out.message and "fire_notice" not in out.message
    out = engine.fire(
        good_case(fire_def, "acceptance", data={}), "pass_acceptance", Actor("u", "street_office"), {}, NOW
    )
    assert out.message.startswith("以下单位尚未签署验收意见") and "acceptance" not in out.message
    case = good_case(fire_def, "public_notice")
    case = dataclasses.replace(case, data={**case.data, "counters": {"open_objections": 2}})
    out = engine.fire(case, "close_notice", Actor("u", "street_office"), {}, NOW)
    assert "登记业主异议" in out.message and "open_objections" not in out.message
