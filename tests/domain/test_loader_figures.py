"""The ``figures:`` declarations: what the loader makes of them (the rates and their stated
definitions), and each mistake reported at its YAML path."""

from __future__ import annotations

import pytest

from fundflow.domain.errors import Severity
from fundflow.domain.loader import check_text
from fundflow.domain.loader.files import load_file
from tests.support.paths import DEFINITIONS

BASE = """\
id: mini_rates
version: 1
title: 意见办理
roles:
  street_office: {label: 街道办事处, level: street_office}
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
transitions:
  - {trigger: answer, from: handling, to: calling_back, label: 答复, roles: [street_office]}
  - trigger: close
    from: calling_back
    to: resolved
    label: 办结
    roles: [street_office]
    fields:
      - {name: satisfaction, type: choice, label: 满意度, choices: {good: 满意, fair: 基本满意, bad: 不满意}}
      - {name: note, type: text, label: 备注, required: false}
  - {trigger: explain, from: calling_back, to: explained, label: 解释说明, roles: [street_office]}
"""


def with_figures(block: str) -> str:
    return BASE + "figures:\n" + "".join(f"  {line}\n" for line in block.strip().splitlines())


def errors(text: str) -> dict[str, str]:
    _, problems = check_text(text, "mini_rates.v1.yaml")
    return {p.path: p.message for p in problems if p.severity is Severity.ERROR}


def test_the_rates_are_read_with_their_defaults_and_stated_definitions():
    d, problems = check_text(
        with_figures(
            """
resolved: {states: [resolved], of: [resolved, explained]}
on_time: {}
satisfaction: {field: satisfaction, satisfied: [good, fair], label: 群众满意率}
"""
        ),
        "mini_rates.v1.yaml",
    )
    assert d is not None, problems
    f = d.figures
    assert (f.resolved.states, f.resolved.of) == (frozenset({"resolved"}), frozenset({"resolved", "explained"}))
    assert f.on_time.of == f.resolved.of  # on time among the same ended cases, unless told
    assert f.on_time.stages == frozenset({"handling"})  # every state with a deadline
    assert f.satisfaction.label == "群众满意率" and f.satisfaction.satisfied == ("good", "fair")
    assert "“满意”、“基本满意”" in f.satisfaction.description  # the choices' labels, not their values
    assert f.resolved.label == "解决率" and "“已解决”" in f.resolved.description
    assert [r.kind for r in f.rates] == ["resolved", "on_time", "satisfaction"]


@pytest.mark.parametrize(
    ("block", "path", "words"),
    [
        ("resolved: {states: [handling]}", "figures.resolved.states[0]", "not terminal"),
        ("resolved: {states: [resolvd]}", "figures.resolved.states[0]", "did you mean 'resolved'"),
        ("resolved: {states: [resolved], of: [explained]}", "figures.resolved.of", "exceed 100%"),
        ("resolved: {of: [resolved]}", "figures.resolved.states", "name the end states"),
        ("on_time: {stages: [calling_back]}", "figures.on_time.stages", "has no deadline"),
        ("satisfaction: {field: note, satisfied: [a]}", "figures.satisfaction.field", "not a choice"),
        ("satisfaction: {field: rating, satisfied: [a]}", "figures.satisfaction.field", "unknown field"),
        (
            "satisfaction: {field: satisfaction, satisfied: [maybe]}",
            "figures.satisfaction.satisfied[0]",
            "not a choice",
        ),
        ("satisfaction: {field: satisfaction}", "figures.satisfaction.satisfied", "name the answers"),
        ("resolution: {states: [resolved]}", "figures.resolution", "did you mean 'resolved'"),
    ],
)
def test_each_mistake_is_reported_at_its_path(block, path, words):
    found = errors(with_figures(block))
    assert path in found, found
    assert words in found[path]


def test_the_shipped_procedures_declare_their_rates():
    for name in ("fire_hazard_emergency.v1.yaml", "fire_hazard_emergency.v2.yaml", "lift_fault_emergency.v1.yaml"):
        d = load_file(DEFINITIONS / name)
        assert d.figures is not None and d.figures.resolved is not None, name
        assert d.figures.resolved.states <= d.figures.resolved.of
        assert all(d.states[s].terminal for s in d.figures.resolved.of)
