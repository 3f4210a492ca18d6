"""The migration declared beside a new version (``<id>.v<N>.migrate.yaml``): loaded, checked with
located errors, and applied to a case's data and deadline by the pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.errors import DefinitionError, Severity
from fundflow.domain.loader import check_paths, load_directory
from fundflow.domain.loader.migration import check_migration_text
from fundflow.domain.migration import KEEP, RECOMPUTE, land

DEFINITIONS = Path(__file__).resolve().parents[2] / "fundflow" / "definitions"
DEF = "fire_hazard_emergency"
FILE = "fire_hazard_emergency.v2.migrate.yaml"
SHIPPED = (DEFINITIONS / FILE).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def registry():
    reg, _ = load_directory(DEFINITIONS)
    return reg


def check(registry, text: str, file: str = FILE):
    return check_migration_text(text, file, lambda i, v: registry.get(i, v) if v in registry.versions(i) else None)


def errors(problems) -> list[str]:
    return [str(p) for p in problems if p.severity is Severity.ERROR]


def test_the_shipped_declaration_loads(registry):
    m = registry.migration(DEF, 1, 2)
    assert m is not None and m.states["disbursement"].target == "final_payment"
    assert m.states["site_survey"].target == "joint_meeting"
    assert (m.states["cost_review"].deadline, m.states["fund_review"].deadline) == (RECOMPUTE, KEEP)
    assert dict(m.rename) == {"rectification_deadline": "rectification_due"}


def test_v2_ships_but_new_cases_take_v1(registry):
    assert registry.versions(DEF) == (1, 2)
    assert registry.get(DEF).version == 1
    assert registry.get(DEF, 2).current is False


def test_the_current_version_can_be_set(registry):
    reg, _ = load_directory(DEFINITIONS, current={DEF: 2})
    assert reg.get(DEF).version == 2 and reg.current_version(DEF) == 2


BROKEN = {
    "unknown v1 state": (
        SHIPPED.replace("  reported: reported\n", "  reported: reported\n  reportd: reported\n"),
        "states.reportd",
        "unknown state 'reportd' of v1 (did you mean 'reported'?)",
    ),
    "unknown v2 state": (
        SHIPPED.replace("disbursement: final_payment", "disbursement: final_paymnt"),
        "states.disbursement",
        "unknown state 'final_paymnt' of v2 (did you mean 'final_payment'?)",
    ),
    "unknown v2 state in a mapping": (
        SHIPPED.replace("{to: cost_review, deadline: recompute}", "{to: cost_reviews}"),
        "states.cost_review.to",
        "unknown state 'cost_reviews' of v2",
    ),
    "v1 state left unmapped": (
        SHIPPED.replace("  warranty: warranty\n", ""),
        "states",
        "state 'warranty' of v1 is not mapped",
    ),
    "running state mapped to a terminal": (
        SHIPPED.replace("  archiving: archiving\n", "  archiving: archived\n"),
        "states.archiving",
        "'archiving' is a running state, 'archived' a terminal one",
    ),
    "closed state mapped to a running one": (
        SHIPPED.replace("  archiving: archiving\n", "  archiving: archiving\n  withdrawn: reported\n"),
        "states.withdrawn",
        "'withdrawn' is terminal, 'reported' is not",
    ),
    "required v2 field with no value": (
        SHIPPED.replace("    rectification_deadline: rectification_due\n", ""),
        "states.rectification",
        "needs field 'rectification_due'",
    ),
    "unknown deadline policy": (
        SHIPPED.replace("deadline: recompute}", "deadline: recalculate}"),
        "states.cost_review.deadline",
        "unknown deadline policy 'recalculate' (did you mean 'recompute'?)",
    ),
    "renamed field v1 does not declare": (
        SHIPPED.replace("rectification_deadline: rectification_due", "rectification_deadlin: rectification_due"),
        "data.rename.rectification_deadlin",
        "unknown field 'rectification_deadlin' of v1",
    ),
    "default for a field v2 does not declare": (
        SHIPPED + "  defaults:\n    asessment_org: 待定\n",
        "data.defaults.asessment_org",
        "unknown field 'asessment_org' of v2 (did you mean 'assessment_org'?)",
    ),
    "unknown key": (SHIPPED.replace("deadline: keep\n", "deadlines: keep\n"), "deadlines", "unknown key"),
    "version not loaded": (SHIPPED.replace("to_version: 2", "to_version: 3"), "to_version", "v3 is not defined"),
    "to before from": (SHIPPED.replace("to_version: 2", "to_version: 1"), "to_version", "must be later"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_declaration_is_rejected_with_file_and_path(registry, name):
    text, path, fragment = BROKEN[name]
    m, problems = check(registry, text, f"/somewhere/{FILE}")
    assert m is None
    lines = errors(problems)
    assert any(line.startswith(f"/somewhere/{FILE}:{path}: ") and fragment in line for line in lines), lines


def test_a_broken_declaration_stops_loading_the_directory(tmp_path):
    for f in DEFINITIONS.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / FILE).write_text(SHIPPED.replace("  warranty: warranty\n", ""), encoding="utf-8")
    with pytest.raises(DefinitionError) as e:
        load_directory(tmp_path)
    assert f"{tmp_path / FILE}:states: state 'warranty' of v1 is not mapped" in str(e.value)
    _, problems = check_paths([tmp_path])  # what `fundflow validate` prints
    assert any(str(p).startswith(f"{tmp_path / FILE}:states:") for p in problems)


def test_data_is_renamed_and_defaulted_never_overwritten(registry):
    text = SHIPPED + "  defaults:\n    assessment_org: 待定\n"
    m, problems = check(registry, text)
    assert m is not None, errors(problems)
    out = m.migrate_data({"rectification_deadline": "2026-06-30", "hazard": "水泵"})
    assert out == {"rectification_due": "2026-06-30", "hazard": "水泵", "assessment_org": "待定"}
    assert m.migrate_data({"assessment_org": "某评估公司"})["assessment_org"] == "某评估公司"


def test_land_recomputes_or_keeps_the_deadline(registry):
    m, new, cal = registry.migration(DEF, 1, 2), registry.get(DEF, 2), WorkCalendar()
    entered = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
    r = land(m, new, state="cost_review", data={}, documents=frozenset(), stage_entered_at=entered, calendar=cal)
    assert r.target == "cost_review" and r.policy == RECOMPUTE
    assert r.deadlines.due_date == date(2026, 3, 4) and r.deadlines.rule == "2个工作日"
    kept = land(m, new, state="fund_review", data={}, documents=frozenset(), stage_entered_at=entered, calendar=cal)
    assert kept.policy == KEEP and kept.deadlines is None


def test_land_names_what_the_new_version_requires(registry):
    m, new = registry.migration(DEF, 1, 2), registry.get(DEF, 2)
    r = land(
        m,
        new,
        state="plan_budget",
        data={},
        documents=frozenset({"repair_plan", "budget"}),
        stage_entered_at=None,
        calendar=WorkCalendar(),
    )
    assert r.missing_documents == ("safety_assessment",)
    works = land(
        m, new, state="rectification", data={}, documents=frozenset(), stage_entered_at=None, calendar=WorkCalendar()
    )
    assert "rectification_due" in works.missing_fields


def test_each_event_keeps_the_version_it_was_fired_under():
    from fundflow.domain.migration import event_versions

    chain = [
        ("open", {}),
        ("confirm_major", {}),
        ("migrated", {"from_version": 1, "to_version": 2}),
        ("approve", {}),
        ("migration_reverted", {"from_version": 2, "to_version": 1}),
        ("approve", {}),
    ]
    assert event_versions(chain, 1) == [1, 1, 1, 2, 2, 1]
    assert event_versions(chain[:4], 2) == [1, 1, 1, 2]
    assert event_versions([("open", {})], 3) == [3]
