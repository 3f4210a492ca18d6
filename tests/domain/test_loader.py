"""Tests for workflow.loader: the broken-definition corpus, warnings, duplicates, errors.

``tests/domain/broken/`` holds one small definition per defect (first line: a comment
saying the defect). ``EXPECTED`` (tests/support/corpus.py) says, for each file, the YAML path of
the problem and a piece of its message; a file without an entry there fails
``test_every_corpus_file_has_an_expectation``.
"""

from __future__ import annotations

import pytest

from fundflow.domain.errors import DefinitionError, Problem, Severity
from fundflow.domain.loader import (
    DefinitionRegistry,
    check_file,
    check_paths,
    check_text,
    definition_files,
    load_directory,
    load_file,
)
from tests.support.corpus import BROKEN, EXPECTED
from tests.support.paths import DEFINITIONS

#: Files whose single defect necessarily causes further errors (expected error count).
#: Every other corpus file must produce exactly one error: the defect it is about.
CASCADES: dict[str, int] = {
    "04_unknown_top_key.yaml": 9,  # no transitions: every state is stuck or unreachable
    "35_no_terminal_reachable.yaml": 2,  # both states of the loop
    "38_initial_terminal.yaml": 5,  # nothing is reachable from a terminal initial state
}

# A small valid definition (the skeleton the corpus files are made from).
MINI = """\
id: mini_repair
version: 1
title: 小型维修资金应急使用
roles:
  street_office: 街道办事处
  fund_center: 维修资金管理中心
open_roles: [street_office]
initial: reported
states:
  - id: reported
    label: 隐患上报
    responsible: street_office
    deadline: {working_days: 5, warn_before_working_days: 1}
  - id: review
    label: 资金审核
    responsible: fund_center
    deadline: {working_days: 3}
  - id: rectification
    label: 整改施工
    responsible: street_office
    deadline: {date_field: rectification_deadline}
  - id: done
    label: 已办结
    terminal: true
    outcome: completed
  - id: withdrawn
    label: 已撤回
    terminal: true
    outcome: withdrawn
transitions:
  - trigger: submit
    from: reported
    to: review
    label: 提交审核
    roles: [street_office]
  - trigger: approve
    from: review
    to: rectification
    label: 核准使用
    roles: [fund_center]
    guards:
      - amount_within_balance: {field: approved_amount}
    fields:
      - {name: approved_amount, type: amount, label: 核准金额（元）}
      - {name: rectification_deadline, type: date, label: 整改完成期限}
  - trigger: finish
    from: rectification
    to: done
    label: 完成整改
    roles: [street_office]
  - trigger: withdraw
    from: [reported, review]
    to: withdrawn
    label: 撤回
    roles: [street_office]
    documents_exempt: true
"""
MINI_NAME = "mini_repair.v1.yaml"


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.WARNING]


def corpus_files() -> list[str]:
    return sorted(p.name for p in BROKEN.iterdir() if p.suffix in (".yaml", ".yml"))


# -- the corpus --------------------------------------------------------------------------


def test_every_corpus_file_has_an_expectation():
    files = corpus_files()
    assert len(files) >= 24
    assert sorted(EXPECTED) == files, "add an EXPECTED entry for each new broken/*.yaml (and drop stale ones)"
    assert set(CASCADES) <= set(EXPECTED)


@pytest.mark.parametrize("name", corpus_files())
def test_corpus_file_says_its_defect(name):
    first = (BROKEN / name).read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# DEFECT: ") and len(first) > len("# DEFECT: ")


@pytest.mark.parametrize("name", corpus_files())
def test_broken_definition(name):
    path = BROKEN / name
    assert name in EXPECTED, f"no expectation for {name}"
    expected_path, fragment = EXPECTED[name]
    definition, problems = check_file(path)
    assert definition is None
    assert all(p.file == str(path) for p in problems)
    found = errors(problems)
    assert any(p.path == expected_path and fragment in p.message for p in found), "\n".join(map(str, problems))
    # One defect, one error, unless the defect necessarily has consequences.
    assert len(found) == CASCADES.get(name, 1), "\n".join(map(str, found))
    with pytest.raises(DefinitionError):
        load_file(path)


@pytest.mark.parametrize("name", corpus_files())
def test_broken_problem_prints_file_and_path(name):
    path = BROKEN / name
    expected_path, fragment = EXPECTED[name]
    _, problems = check_file(path)
    lines = [str(p) for p in errors(problems)]
    assert any(line.startswith(f"{path}:{expected_path}: ") and fragment in line for line in lines)


# -- the real definitions and the skeleton -----------------------------------------------


def test_real_definitions_load_without_errors():
    registry, problems = load_directory(DEFINITIONS)
    assert errors(problems) == []
    assert "fire_hazard_emergency" in registry.ids()
    _, problems = check_paths([DEFINITIONS])
    assert errors(problems) == []


@pytest.mark.parametrize("path", definition_files([DEFINITIONS]), ids=lambda p: p.name)
def test_each_real_definition_file_is_clean(path):
    definition, problems = check_file(path)
    assert definition is not None, "\n".join(map(str, problems))
    assert errors(problems) == []
    assert path.name == f"{definition.id}.v{definition.version}.yaml"


def test_skeleton_is_valid_with_no_problems(tmp_path):
    f = tmp_path / MINI_NAME
    f.write_text(MINI, encoding="utf-8")
    definition, problems = check_file(f)
    assert problems == []
    assert definition is not None and definition.key == ("mini_repair", 1)
    assert definition.source == str(f)


# -- warnings ----------------------------------------------------------------------------


def test_warnings_do_not_stop_loading(tmp_path):
    text = edit(MINI, "    deadline: {working_days: 3}\n", "")  # states[1] review: no deadline
    text = edit(
        text, "    label: 提交审核\n    roles: [street_office]\n", "    label: 提交审核\n"
    )  # transitions[0]: no roles
    f = tmp_path / MINI_NAME
    f.write_text(text, encoding="utf-8")

    definition, problems = check_file(f)
    assert definition is not None
    assert errors(problems) == []
    found = {(p.path, p.severity) for p in problems}
    assert found == {("states[1]", Severity.WARNING), ("transitions[0].roles", Severity.WARNING)}
    by_path = {p.path: p for p in problems}
    assert "has no deadline" in by_path["states[1]"].message
    assert "'review'" in by_path["states[1]"].message
    assert "no roles declared" in by_path["transitions[0].roles"].message
    assert str(by_path["states[1]"]).startswith(f"{f}:states[1]: warning: ")

    assert load_file(f).key == ("mini_repair", 1)
    registry, problems = load_directory(tmp_path)
    assert len(registry) == 1
    assert len(warnings(problems)) == 2 and errors(problems) == []
    assert definition.transition("submit", "reported").roles == frozenset()


def test_file_name_not_matching_id_is_a_warning(tmp_path):
    f = tmp_path / "mini.yaml"
    f.write_text(MINI, encoding="utf-8")
    definition, problems = check_file(f)
    assert definition is not None
    [p] = problems
    assert p.severity is Severity.WARNING and p.path == "" and "mini_repair.v1.yaml" in p.message


# -- duplicates across files -------------------------------------------------------------


def test_duplicate_id_and_version_across_files_names_the_second_file(tmp_path):
    first, second = tmp_path / "mini_repair.v1.yaml", tmp_path / "mini_repair.v1.yml"  # sorted: .yaml first
    first.write_text(MINI, encoding="utf-8")
    second.write_text(edit(MINI, "title: 小型维修资金应急使用", "title: 另一份"), encoding="utf-8")

    loaded, problems = check_paths([tmp_path])
    assert [d.source for d in loaded] == [str(first)]
    [dup] = errors(problems)
    assert dup.file == str(second)
    assert dup.path == "version"
    assert "mini_repair v1" in dup.message and str(first) in dup.message

    with pytest.raises(DefinitionError) as exc:
        load_directory(tmp_path)
    assert exc.value.problems == [dup]


def test_registry_refuses_duplicate_definitions(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / MINI_NAME).write_text(MINI, encoding="utf-8")
    (b / MINI_NAME).write_text(MINI, encoding="utf-8")
    with pytest.raises(DefinitionError) as exc:
        load_directory(a, b)
    [p] = exc.value.problems
    assert p.file == str(b / MINI_NAME) and str(a / MINI_NAME) in p.message

    with pytest.raises(DefinitionError) as exc:
        DefinitionRegistry([load_file(a / MINI_NAME), load_file(b / MINI_NAME)])
    [p] = exc.value.problems
    assert p.file == str(b / MINI_NAME)


# -- load_file and DefinitionError --------------------------------------------------------


def test_load_file_raises_with_every_error(tmp_path):
    text = edit(MINI, "version: 1\n", "version: 0\n")
    text = edit(text, "    responsible: fund_center\n", "    responsible: fund_centre\n")
    text = edit(text, "      - amount_within_balance:", "      - amount_within_balanse:")
    text = edit(text, "    deadline: {working_days: 3}\n", "")  # and a warning
    f = tmp_path / MINI_NAME
    f.write_text(text, encoding="utf-8")

    definition, problems = check_file(f)
    assert definition is None
    with pytest.raises(DefinitionError) as exc:
        load_file(f)
    raised = exc.value.problems
    assert raised == errors(problems)  # all errors, in order; warnings are not errors
    assert {p.path for p in raised} == {"version", "states[1].responsible", "transitions[1].guards[0]"}
    assert all(p.file == str(f) for p in raised)
    for p in raised:
        assert str(p) in str(exc.value)


def test_load_file_missing_and_undecodable(tmp_path):
    missing = tmp_path / "nope.v1.yaml"
    with pytest.raises(DefinitionError) as exc:
        load_file(missing)
    [p] = exc.value.problems
    assert p.file == str(missing) and "cannot read" in p.message

    binary = tmp_path / "bin.v1.yaml"
    binary.write_bytes(b"id: \xff\xfe\n")
    _, [p] = check_file(binary)
    assert "not UTF-8" in p.message


# -- regressions -------------------------------------------------------------------------


def test_paths_after_a_dropped_state_name_the_right_yaml_item():
    # states[1] is a duplicate and dropped; the date_field problem is still at states[3].
    text = edit(
        MINI,
        "  - id: review\n",
        "  - id: reported\n    label: 重复\n    responsible: street_office\n    deadline: {working_days: 1}\n  - id: review\n",
    )
    text = edit(text, "date_field: rectification_deadline", "date_field: rectification_dedline")
    text = edit(
        text,
        "    outcome: withdrawn\n",
        "    outcome: withdrawn\n  - id: rejected\n    label: 不予支持\n    terminal: true\n    outcome: rejected\n",
    )
    _, problems = check_text(text, MINI_NAME)
    paths = {p.path for p in errors(problems)}
    assert paths == {"states[1].id", "states[3].deadline.date_field", "states[6]"}


@pytest.mark.parametrize(
    "old, new, path",
    [
        ("    to: review\n", "    to: {review: 1}\n", "transitions[0].to"),
        ("    from: [reported, review]\n", "    from: [reported, [review]]\n", "transitions[3].from[1]"),
        ("initial: reported\n", "initial: {reported: 1}\n", "initial"),
    ],
)
def test_non_text_state_names_are_problems_not_crashes(old, new, path):
    _, problems = check_text(edit(MINI, old, new), MINI_NAME)
    assert path in {p.path for p in errors(problems)}
