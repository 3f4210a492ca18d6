"""The README's diagram is the YAML's: regenerate it with `fundflow diagram` when this fails."""

from __future__ import annotations

import re

from fundflow.domain.diagram import to_mermaid
from tests.support.paths import ROOT


def test_readme_diagram_matches_the_definition(fire_def):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(
        r"<!-- diagram:fire_hazard_emergency:begin -->\n```mermaid\n(.*?)```\n<!-- diagram:fire_hazard_emergency:end -->",
        text,
        re.S,
    )
    assert m, "README lost its diagram markers"
    assert m.group(1) == to_mermaid(fire_def)


def test_every_state_and_transition_label_is_drawn(fire_def):
    drawn = to_mermaid(fire_def)
    for state in fire_def.states.values():
        assert f'state "{state.label}" as {state.id}' in drawn
    for tr in fire_def.transitions:
        assert tr.label in drawn
