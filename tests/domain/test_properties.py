"""Property: any sequence of triggers by any roles never reaches an undeclared state and never
skips a stage: every change of state follows one declared transition of that trigger."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundflow.domain.definition import RESUME, SUSPEND
from fundflow.domain.engine import Actor, Outcome
from fundflow.domain.errors import Refusal, RefusalCode
from tests.support.engine_cases import ALL_ROLES, FIRE, NOW, good_case, good_values

ANY_AVAILABLE = "*"  # pick one of the actions the role may take now, so walks get far
TRIGGERS = sorted({t.trigger for t in FIRE.transitions} | {SUSPEND, RESUME, "no_such_trigger"}) + [ANY_AVAILABLE] * 8
EDGES = {(t.trigger, s): (t.dest or s) for t in FIRE.transitions for s in t.sources}

steps = st.lists(
    st.tuples(st.sampled_from(TRIGGERS), st.sampled_from(ALL_ROLES), st.booleans(), st.booleans(), st.integers(0, 9)),
    max_size=60,
)


def _values(trigger, state, complete):
    tr = FIRE.transition(trigger, state)
    if tr is None:
        return {"reason": "随机操作原因"}
    values = good_values(tr)
    if not complete and values:
        values.pop(sorted(values)[0])
    return values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)
@given(steps)
def test_random_walks_stay_on_declared_edges(engine, sequence):
    case = good_case(FIRE, FIRE.initial, data={}, stage_entered_at=NOW - timedelta(days=12))
    now = NOW
    reached = {case.state}
    for trigger, role, complete, with_documents, pick in sequence:
        now += timedelta(hours=5)
        if trigger == ANY_AVAILABLE:
            actions = engine.actions(case, role)
            trigger = actions[pick % len(actions)].trigger if actions else "no_such_trigger"
        if not with_documents:
            case = dataclasses.replace(case, documents=frozenset())
        else:
            case = good_case(
                FIRE,
                case.state,
                data=case.data,
                stage_entered_at=case.stage_entered_at,
                suspended_since=case.suspended_since,
            )
        out = engine.fire(case, trigger, Actor("u", role), _values(trigger, case.state, complete), now)
        assert out.state in FIRE.states if isinstance(out, Outcome) else out.state == case.state
        if isinstance(out, Refusal):
            if FIRE.states[case.state].terminal:
                assert out.code is RefusalCode.CASE_CLOSED
            continue
        assert not FIRE.states[case.state].terminal
        if trigger in (SUSPEND, RESUME):
            assert out.state == case.state
        else:
            assert EDGES[(trigger, case.state)] == out.state, "moved along an undeclared edge"
            assert role in FIRE.transition(trigger, case.state).roles
        case = dataclasses.replace(
            case,
            state=out.state,
            data=out.data,
            suspended_since=out.suspended_since if out.suspended else None,
            stage_entered_at=now if out.new_stage else case.stage_entered_at,
        )
        reached.add(out.state)
    assert reached <= set(FIRE.states)


def test_random_walks_reach_deep_stages(engine):
    """Guard against a vacuous property: biased walks do get past the fund review."""
    depths = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(steps)
    def walk(sequence):
        case = good_case(FIRE, FIRE.initial, data={}, stage_entered_at=NOW - timedelta(days=12))
        order = list(FIRE.states)
        deepest = 0
        for _trigger, role, _, _, pick in sequence:
            actions = [a for a in engine.actions(case, role) if a.dest]
            if not actions:
                continue
            a = actions[pick % len(actions)]
            out = engine.fire(
                case, a.trigger, Actor("u", role), good_values(FIRE.transition(a.trigger, case.state)), NOW
            )
            if isinstance(out, Outcome):
                case = dataclasses.replace(case, state=out.state, data=out.data)
                deepest = max(deepest, order.index(out.state))
        depths.append(deepest)

    walk()
    assert max(depths) >= list(FIRE.states).index("rectification")
