"""What a procedure declares about its parties and its report, checked with the file and the
YAML path: organisation kinds, roles of a kind, the subject, the open form's fields, the
organisation fields that assign a case, and the guards the opinion loop uses."""

from __future__ import annotations

import pytest

from fundflow.domain.loader import check_text

BASE = """
id: p
version: 1
title: 测试
organisations:
  bureau: {label: 市直部门}
roles:
  desk: {label: 受理台, level: city}
  bureau: {label: 承办部门, kind: bureau}
subject: {kind: person, label: 反映人}
open_roles: [desk]
open_form:
  fields:
    - {name: source, type: choice, label: 来源, choices: {phone: 电话, web: 网上}}
initial: new
states:
  - {id: new, label: 新, responsible: desk, deadline: {working_days: 1}}
  - {id: work, label: 办理, responsible: bureau, deadline: {working_days: 5}}
  - {id: done, label: 办结, terminal: true, outcome: completed}
transitions:
  - trigger: assign
    from: new
    to: work
    label: 派单
    roles: [desk]
    fields:
      - {name: bureau_id, type: organisation, kind: bureau, label: 承办部门}
  - trigger: finish
    from: work
    to: done
    label: 办结
    roles: [bureau]
    guards:
      - field_in: {field: source, values: [phone, web]}
      - required_for_categories: {field: note, categories: [教育]}
    fields:
      - {name: note, type: text, label: 说明, required: false}
"""


def _errors(text: str) -> list[str]:
    _, problems = check_text(text, "p.v1.yaml")
    return [f"{p.path}: {p.message}" for p in problems if p.severity.value == "error"]


def test_the_base_loads_with_kinds_subject_form_and_organisation_field():
    d, problems = check_text(BASE, "p.v1.yaml")
    assert d is not None, problems
    assert d.roles["bureau"].kind == "bureau" and d.roles["bureau"].level == "organisation"
    assert d.organisation_kinds["bureau"].sees == "handled"
    assert d.subject.kind == "person" and d.open_form.fields[0].name == "source"
    assert d.transition("assign", "new").fields[0].org_kind == "bureau"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "kind: bureau}",
            "kind: buraeu}",
            "roles.bureau.kind: unknown organisation kind 'buraeu' (did you mean 'bureau'?)",
        ),
        (
            "{label: 承办部门, kind: bureau}",
            "{label: 承办部门, kind: bureau, level: city}",
            "roles.bureau.level: a role of kind 'bureau' takes its level from the kind",
        ),
        ("{label: 市直部门}", "{label: 市直部门, sees: some}", "organisations.bureau.sees: unknown 'some'"),
        (
            "subject: {kind: person",
            "subject: {kind: persn",
            "subject.kind: unknown subject kind 'persn' (did you mean 'person'?)",
        ),
        (
            "type: organisation, kind: bureau,",
            "type: organisation,",
            "transitions[0].fields[0].kind: an organisation field names the kind",
        ),
        (
            "{name: source, type: choice",
            "{name: description, type: choice",
            "open_form.fields[0].name: 'description' is the form's own",
        ),
        ("values: [phone, web]", "values: phone", "transitions[1].guards[0].field_in.values: bad value 'phone'"),
        (
            "field_in: {field: source",
            "field_in: {field: sourse",
            "transitions[1].guards[0].field_in.field: unknown field 'sourse' (did you mean 'source'?)",
        ),
    ],
)
def test_a_mistake_names_its_path(old, new, expected):
    assert old in BASE
    errors = _errors(BASE.replace(old, new, 1))
    assert any(e.startswith(expected) for e in errors), errors


def test_a_department_can_be_transferred_to_another_of_its_kind():
    text = BASE + "handoffs:\n  transfer:\n    roles: [bureau]\n"
    d, problems = check_text(text, "p.v1.yaml")
    assert d is not None and d.handoffs.transfer.roles == frozenset({"bureau"}), problems


def test_two_procedures_that_let_one_kind_see_differently_are_refused():
    from fundflow.domain.errors import DefinitionError
    from fundflow.domain.loader import DefinitionRegistry

    a, _ = check_text(BASE, "p.v1.yaml")
    b, _ = check_text(
        BASE.replace("id: p", "id: q").replace("{label: 市直部门}", "{label: 市直部门, sees: all}"), "q.v1.yaml"
    )
    with pytest.raises(DefinitionError) as info:
        DefinitionRegistry([a, b])
    assert "organisations.bureau.sees" in str(info.value)
