"""The broken-definition corpus: ``tests/domain/broken/`` holds one small definition per
defect (first line: a comment saying the defect). ``EXPECTED`` says, for each file, the YAML
path of the problem and a piece of its message; the loader tests (tests/domain/test_loader.py)
and the ``fundflow validate`` tests (tests/cli) check each file against it."""

from __future__ import annotations

from tests.support.paths import ROOT

BROKEN = ROOT / "tests" / "domain" / "broken"

#: file name -> (YAML path of the problem, a substring of its message)
EXPECTED: dict[str, tuple[str, str]] = {
    "01_invalid_yaml.yaml": ("", "not valid YAML: line "),
    "02_empty_file.yaml": ("", "the file is empty"),
    "03_top_level_list.yaml": ("", "expected a mapping, got a list"),
    "04_unknown_top_key.yaml": ("transitons", "unknown key 'transitons' (did you mean 'transitions'?)"),
    "05_missing_id.yaml": ("id", "required"),
    "06_version_zero.yaml": ("version", "expected a whole number >= 1, got int 0"),
    "07_version_text.yaml": ("version", "expected a whole number >= 1, got text 'first'"),
    "08_unknown_to_state.yaml": ("transitions[2].to", "unknown state 'reportd' (did you mean 'reported'?)"),
    "09_unknown_from_state.yaml": ("transitions[4].from[1]", "unknown state 'reveiw' (did you mean 'review'?)"),
    "10_unknown_transition_role.yaml": (
        "transitions[1].roles[0]",
        "unknown role 'fund_centre' (did you mean 'fund_center'?)",
    ),
    "11_unknown_responsible.yaml": (
        "states[1].responsible",
        "unknown role 'fund_centre' (did you mean 'fund_center'?)",
    ),
    "12_unknown_guard.yaml": (
        "transitions[1].guards[0]",
        "unknown guard 'amount_within_balanse' (did you mean 'amount_within_balance'?)",
    ),
    "13_guard_unknown_param.yaml": (
        "transitions[1].guards[0].meeting_quorum.agree_shar",
        "guard 'meeting_quorum' has no parameter 'agree_shar' (did you mean 'agree_share'?)",
    ),
    "14_guard_missing_param.yaml": (
        "transitions[1].guards[0].meeting_quorum.must_attend",
        "guard 'meeting_quorum' needs parameter 'must_attend'",
    ),
    "15_guard_unknown_field.yaml": (
        "transitions[1].guards[0].amount_within_balance.field",
        "unknown field 'aproved_amount' (did you mean 'approved_amount'?)",
    ),
    "16_bad_share.yaml": ("transitions[1].guards[0].meeting_quorum.agree_share", "share must be in (0, 1]"),
    "17_duplicate_state.yaml": ("states[2].id", "duplicate state id 'review'"),
    "18_no_initial.yaml": ("initial", "no initial state"),
    "19_initial_unknown.yaml": ("initial", "unknown state 'reportd' (did you mean 'reported'?)"),
    "20_unreachable_state.yaml": ("states[5]", "state 'rejected' cannot be reached from the initial state 'reported'"),
    "21_no_way_out.yaml": ("states[3]", "non-terminal state 'on_hold' has no way out"),
    "22_terminal_way_out.yaml": (
        "transitions[5].from",
        "terminal state 'done' must have no way out, but 'reopen' leaves it",
    ),
    "23_duplicate_trigger.yaml": (
        "transitions[5].from",
        "trigger 'withdraw' from state 'review' is already declared at transitions[4]",
    ),
    "24_deadline_two_kinds.yaml": (
        "states[1].deadline",
        "declare exactly one of working_days, calendar_days, date_field (found working_days, calendar_days)",
    ),
    "25_deadline_zero.yaml": ("states[1].deadline.working_days", "must be at least 1, got 0"),
    "26_deadline_text.yaml": ("states[1].deadline.working_days", "expected a whole number, got text 'three'"),
    "27_warn_before_too_late.yaml": (
        "states[1].deadline.warn_before_working_days",
        "must be less than working_days (3)",
    ),
    "43_duplicate_key.yaml": ("", "duplicate key 'transitions'"),
    "44_open_form_title_not_text.yaml": ("open_form.title", "expected non-empty text, got int 42"),
    "28_date_field_unknown.yaml": (
        "states[2].deadline.date_field",
        "unknown field 'rectification_dedline' (did you mean 'rectification_deadline'?)",
    ),
    "29_unknown_field_type.yaml": ("transitions[2].fields[0].type", "unknown field type 'txt' (did you mean 'text'?)"),
    "30_choice_without_choices.yaml": ("transitions[2].fields[1].choices", "a choice field needs its choices"),
    "31_terminal_without_outcome.yaml": ("states[4].outcome", "a terminal state needs an outcome"),
    "32_builtin_trigger_suspend.yaml": (
        "transitions[5].trigger",
        "'suspend' is built in: declare 'suspension' instead",
    ),
    "33_signed_by_unsigned_record.yaml": (
        "transitions[3].guards[0].signed_by.record",
        "no transition signs 'acceptance'",
    ),
    "34_escalation_unknown_role.yaml": (
        "states[0].deadline.escalate[0].to[1]",
        "unknown role 'housing_burea' (did you mean 'housing_bureau'?)",
    ),
    "35_no_terminal_reachable.yaml": ("states[3]", "no terminal state can be reached from 'rework'"),
    "36_unknown_state_key.yaml": ("states[1].deadlne", "unknown key 'deadlne' (did you mean 'deadline'?)"),
    "37_bad_outcome.yaml": ("states[3].outcome", "(did you mean 'completed'?)"),
    "38_initial_terminal.yaml": ("initial", "the initial state 'done' is terminal"),
    "39_to_is_a_list.yaml": (
        "transitions[2].to",
        "expected one state id, or null for an action that keeps the state, got a list",
    ),
    "40_responsible_is_a_list.yaml": ("states[1].responsible", "expected one role id, got a list"),
    "41_initial_is_a_list.yaml": ("initial", "expected a state id, got a list"),
    "42_effect_unknown_key.yaml": ("transitions[3].effect.sgn", "unknown key 'sgn' (did you mean 'sign'?)"),
}
