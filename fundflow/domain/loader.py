"""YAML -> :class:`Definition`, checked.

Every problem names the file, the YAML path (``states[4].deadline.working_days``) and, for an
unknown name, the nearest valid one. ``check_file`` collects all problems of a file instead
of stopping at the first; ``load_file`` raises :class:`DefinitionError` when any of them is an
error. Warnings (a non-terminal state without a deadline, a transition nobody may fire) do
not stop loading.

The format is documented by example in ``fundflow/definitions/README.md``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from fundflow.domain.definition import (
    MONEY_KINDS,
    OUTCOMES,
    RESUME,
    SUSPEND,
    Anchor,
    DeadlineKind,
    DeadlineRule,
    Definition,
    Effect,
    Escalation,
    FieldSpec,
    FieldType,
    GuardCall,
    Role,
    State,
    Suspension,
    Transition,
)
from fundflow.domain.errors import DefinitionError, Problem, Severity, UnknownDefinition
from fundflow.domain.guards import REGISTRY, ParamKind, parse_share
from fundflow.domain.money import parse_amount

__all__ = [
    "check_file",
    "check_text",
    "check_paths",
    "definition_files",
    "load_file",
    "load_directory",
    "DefinitionRegistry",
]

#: yaml.safe_load's loader, in C when libyaml is there (about 8x faster).
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SAFE_LOADER(_BASE_LOADER):
    """yaml.safe_load's loader, refusing a key given twice in one mapping (the YAML spec
    forbids it; PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key '{key}' (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_FILE_NAME = re.compile(r"^(?P<id>.+)\.v(?P<version>\d+)\.ya?ml$")
RESPONSIBLE = "responsible"  # in an escalation's ``to``: the state's responsible role

_TOP_KEYS = (
    "id",
    "version",
    "title",
    "description",
    "roles",
    "open_roles",
    "documents",
    "initial",
    "states",
    "transitions",
    "suspension",
)
_STATE_KEYS = ("id", "label", "responsible", "terminal", "documents", "deadline", "outcome", "description")
_DEADLINE_KEYS = ("working_days", "calendar_days", "date_field", "from", "warn_before_working_days", "escalate")
_ANCHOR_KEYS = ("act", "field")
_DOCUMENT_KEYS = ("label", "roles")
_ESCALATION_KEYS = ("after_working_days", "to", "repeat_every_working_days")
_TRANSITION_KEYS = (
    "trigger",
    "from",
    "to",
    "label",
    "roles",
    "guards",
    "fields",
    "documents_exempt",
    "effect",
    "description",
    "new_round",
)
_FIELD_KEYS = ("name", "type", "label", "required", "choices", "money")
_EFFECT_KEYS = ("sign", "count", "reserve", "pay", "retain", "release_retention", "use_retention")
_MONEY_EFFECTS = ("reserve", "pay", "use_retention")
_SUSPENSION_KEYS = ("roles", "resume_roles")


def _nearest(name: object, valid: Iterable[str]) -> str:
    matches = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


class _Checker:
    """Walks the parsed YAML, collecting problems with their paths."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    # -- reporting -------------------------------------------------------------------
    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message, Severity.WARNING))

    @property
    def failed(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.problems)

    # -- shapes ----------------------------------------------------------------------
    def mapping(self, value: Any, path: str, keys: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in keys:
                self.error(_join(path, str(key)), f"unknown key '{key}'{_nearest(key, keys)}")
        return value

    def seq(self, value: Any, path: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {_kind(value)}")
            return []
        return value

    def text(self, mapping: dict, key: str, path: str, required: bool = True) -> str | None:
        value = mapping.get(key)
        if value is None:
            if required:
                self.error(_join(path, key), "required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(_join(path, key), f"expected non-empty text, got {_kind(value)}")
            return None
        return value

    def ident(self, mapping: dict, key: str, path: str, required: bool = True) -> str | None:
        value = self.text(mapping, key, path, required)
        if value is not None and not _IDENT.match(value):
            self.error(_join(path, key), f"'{value}' is not a valid id (lowercase letters, digits, _)")
            return None
        return value

    def count(self, mapping: dict, key: str, path: str, minimum: int = 0) -> int | None:
        value = mapping.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(_join(path, key), f"expected a whole number, got {_kind(value)}")
            return None
        if value < minimum:
            self.error(_join(path, key), f"must be at least {minimum}, got {value}")
            return None
        return value

    def names(
        self, value: Any, path: str, valid: Mapping | set, what: str, extra: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        out = []
        items = [value] if isinstance(value, str) else self.seq(value, path)
        for i, name in enumerate(items):
            item_path = path if isinstance(value, str) else f"{path}[{i}]"
            if name in extra:
                out.append(name)
            elif not isinstance(name, str) or name not in valid:
                self.error(item_path, f"unknown {what} '{name}'{_nearest(name, list(valid) + list(extra))}")
            elif name in out:
                self.error(item_path, f"{what} '{name}' listed twice")
            else:
                out.append(name)
        return tuple(out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"text '{value}'", bool: f"{value}".lower()}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )


# -- the parts of a definition ---------------------------------------------------------


def _parse_labels(c: _Checker, value: Any, path: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(value, dict):
        c.error(path, f"expected a mapping of {what} id to Chinese label, got {_kind(value)}")
        return out
    for key, label in value.items():
        if not isinstance(key, str) or not _IDENT.match(key):
            c.error(_join(path, str(key)), f"'{key}' is not a valid {what} id (lowercase letters, digits, _)")
        elif not isinstance(label, str) or not label.strip():
            c.error(_join(path, key), f"{what} needs a Chinese label, got {_kind(label)}")
        else:
            out[key] = label
    return out


def _parse_documents(c: _Checker, value: Any, roles: dict) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """``documents``: id -> Chinese label, or id -> {label, roles: [who may upload it]}."""
    if not isinstance(value, dict):
        c.error("documents", f"expected a mapping of document id to Chinese label, got {_kind(value)}")
        return {}, {}
    labels: dict[str, str] = {}
    uploaders: dict[str, frozenset[str]] = {}
    plain = {}
    for key, raw in value.items():
        if not isinstance(raw, dict):
            plain[key] = raw
            continue
        path = _join("documents", str(key))
        if not isinstance(key, str) or not _IDENT.match(key):
            c.error(path, f"'{key}' is not a valid document id (lowercase letters, digits, _)")
            continue
        m = c.mapping(raw, path, _DOCUMENT_KEYS)
        if m is None:
            continue
        label = c.text(m, "label", path)
        allowed = c.names(m.get("roles", []), _join(path, "roles"), roles, "role")
        if "roles" in m and not allowed:
            c.error(_join(path, "roles"), "name at least one role, or leave roles out (any party may upload)")
        if label:
            labels[key] = label
            if allowed:
                uploaders[key] = frozenset(allowed)
    labels.update(_parse_labels(c, plain, "documents", "document"))
    return {k: labels[k] for k in value if k in labels}, uploaders


def _parse_deadline(c: _Checker, raw: Any, path: str, roles: dict, responsible: str | None) -> DeadlineRule | None:
    d = c.mapping(raw, path, _DEADLINE_KEYS)
    if d is None:
        return None
    kinds = [k for k in ("working_days", "calendar_days", "date_field") if k in d]
    if len(kinds) != 1:
        c.error(
            path,
            "declare exactly one of working_days, calendar_days, date_field"
            + (f" (found {', '.join(kinds)})" if kinds else ""),
        )
        return None
    kind = DeadlineKind(kinds[0])
    amount, date_field = 0, None
    if kind is DeadlineKind.DATE_FIELD:
        date_field = c.ident(d, "date_field", path)
    else:
        amount = c.count(d, kind.value, path, minimum=1)
        if amount is None:
            if d.get(kind.value) is None:
                c.error(_join(path, kind.value), "required")
            return None
    anchor, anchor_ref = (
        _parse_anchor(c, d.get("from"), _join(path, "from")) if "from" in d else (Anchor.STAGE_ENTERED, None)
    )
    if anchor is not Anchor.STAGE_ENTERED and kind is DeadlineKind.DATE_FIELD:
        c.error(_join(path, "from"), "a date_field deadline is a date: it counts from nothing")
    warn = c.count(d, "warn_before_working_days", path, minimum=1)
    if warn is not None and kind is DeadlineKind.WORKING_DAYS and warn >= amount:
        c.error(
            _join(path, "warn_before_working_days"),
            f"must be less than working_days ({amount}): a warning {warn} working days before the due date would fall when the stage starts",
        )
    escalations = []
    for i, raw_step in enumerate(c.seq(d.get("escalate"), _join(path, "escalate"))):
        step_path = f"{path}.escalate[{i}]"
        step = c.mapping(raw_step, step_path, _ESCALATION_KEYS)
        if step is None:
            continue
        after = c.count(step, "after_working_days", step_path)
        if after is None:
            if "after_working_days" not in step:
                c.error(_join(step_path, "after_working_days"), "required")
            continue
        to = c.names(step.get("to"), _join(step_path, "to"), roles, "role", extra=(RESPONSIBLE,))
        if not to:
            c.error(_join(step_path, "to"), "name at least one role to tell")
        to = tuple(dict.fromkeys(responsible if r == RESPONSIBLE else r for r in to if r != RESPONSIBLE or responsible))
        repeat = c.count(step, "repeat_every_working_days", step_path, minimum=1)
        if escalations and after <= escalations[-1].after_working_days:
            c.error(_join(step_path, "after_working_days"), "escalation steps must come later and later")
        escalations.append(Escalation(after, to, repeat))
    return DeadlineRule(kind, amount, date_field, warn, tuple(escalations), anchor, anchor_ref)


def _parse_anchor(c: _Checker, raw: Any, path: str) -> tuple[Anchor, str | None]:
    """``from: stage_entered | case_opened`` or ``from: {act: TRIGGER}`` / ``from: {field: DATE_FIELD}``;
    the trigger and the field are checked against the transitions later."""
    simple = (Anchor.STAGE_ENTERED.value, Anchor.CASE_OPENED.value)
    if isinstance(raw, str):
        if raw in simple:
            return Anchor(raw), None
        if raw in _ANCHOR_KEYS:
            c.error(path, f"name the {raw}: from: {{{raw}: {'TRIGGER' if raw == 'act' else 'DATE_FIELD'}}}")
        else:
            c.error(
                path,
                f"unknown anchor '{raw}'{_nearest(raw, simple + _ANCHOR_KEYS)}: expected stage_entered, "
                "case_opened, {act: TRIGGER} or {field: DATE_FIELD}",
            )
        return Anchor.STAGE_ENTERED, None
    m = c.mapping(raw, path, _ANCHOR_KEYS)
    if m is None:
        return Anchor.STAGE_ENTERED, None
    if len(m) != 1:
        c.error(path, "name exactly one of act, field")
        return Anchor.STAGE_ENTERED, None
    key = next(iter(m))
    ref = c.ident(m, key, path)
    return (Anchor(key), ref) if ref else (Anchor.STAGE_ENTERED, None)


def _parse_state(c: _Checker, raw: Any, path: str, roles: dict, documents: dict) -> State | None:
    s = c.mapping(raw, path, _STATE_KEYS)
    if s is None:
        return None
    sid = c.ident(s, "id", path)
    label = c.text(s, "label", path)
    terminal = s.get("terminal", False)
    if not isinstance(terminal, bool):
        c.error(_join(path, "terminal"), f"expected true or false, got {_kind(terminal)}")
        terminal = False
    responsible = None
    if "responsible" in s:
        if isinstance(s["responsible"], str):
            got = c.names(s["responsible"], _join(path, "responsible"), roles, "role")
            responsible = got[0] if got else None
        else:
            c.error(_join(path, "responsible"), f"expected one role id, got {_kind(s['responsible'])}")
    elif not terminal:
        c.error(_join(path, "responsible"), "a non-terminal state needs the role responsible for moving it on")
    docs = c.names(s.get("documents", []), _join(path, "documents"), documents, "document")
    deadline = None
    if "deadline" in s:
        if terminal:
            c.error(_join(path, "deadline"), "a terminal state has no deadline")
        else:
            deadline = _parse_deadline(c, s["deadline"], _join(path, "deadline"), roles, responsible)
    elif not terminal:
        c.warn(path, f"non-terminal state '{sid}' has no deadline: nobody will be warned when it stalls")
    outcome = s.get("outcome")
    if outcome is not None and not terminal:
        c.error(_join(path, "outcome"), "only terminal states have an outcome (add terminal: true, or remove it)")
    elif outcome is not None and outcome not in OUTCOMES:
        c.error(
            _join(path, "outcome"),
            f"unknown outcome '{outcome}'{_nearest(outcome, OUTCOMES)}; one of {', '.join(OUTCOMES)}",
        )
    if terminal and outcome is None:
        c.error(_join(path, "outcome"), f"a terminal state needs an outcome: one of {', '.join(OUTCOMES)}")
    if sid is None or label is None:
        return None
    return State(sid, label, responsible, terminal, docs, deadline, outcome)


def _parse_field(c: _Checker, raw: Any, path: str) -> FieldSpec | None:
    f = c.mapping(raw, path, _FIELD_KEYS)
    if f is None:
        return None
    name = c.ident(f, "name", path)
    label = c.text(f, "label", path)
    type_raw = f.get("type")
    valid_types = [t.value for t in FieldType]
    if type_raw not in valid_types:
        c.error(
            _join(path, "type"),
            f"unknown field type '{type_raw}'{_nearest(type_raw, valid_types)}; one of {', '.join(valid_types)}",
        )
        return None
    ftype = FieldType(type_raw)
    required = f.get("required", True)
    if not isinstance(required, bool):
        c.error(_join(path, "required"), f"expected true or false, got {_kind(required)}")
        required = True
    choices: dict[str, str] = {}
    if ftype is FieldType.CHOICE:
        if "choices" not in f:
            c.error(_join(path, "choices"), "a choice field needs its choices (value: Chinese label)")
        else:
            choices = _parse_labels(c, f["choices"], _join(path, "choices"), "choice")
            if not choices:
                c.error(_join(path, "choices"), "a choice field needs at least one choice")
    elif "choices" in f:
        c.error(_join(path, "choices"), f"only choice fields have choices (this one is {ftype.value})")
    money = f.get("money")
    if money is not None:
        if ftype is not FieldType.AMOUNT:
            c.error(_join(path, "money"), f"only amount fields set a money figure (this one is {ftype.value})")
        elif money not in MONEY_KINDS:
            c.error(
                _join(path, "money"),
                f"unknown money figure '{money}'{_nearest(money, MONEY_KINDS)}; one of {', '.join(MONEY_KINDS)}",
            )
    if name is None or label is None:
        return None
    return FieldSpec(name, ftype, label, required, tuple(choices), MappingProxyType(choices), money)


def _parse_effect(c: _Checker, raw: Any, path: str) -> Effect | None:
    e = c.mapping(raw, path, _EFFECT_KEYS)
    if e is None:
        return None
    kinds = [k for k in e if k != "retain"]
    if len(kinds) != 1:
        c.error(path, "an effect is exactly one of sign, count, reserve, pay, release_retention, use_retention")
        return None
    retain = None
    if "retain" in e:
        if "pay" not in e:
            c.error(_join(path, "retain"), "only a payment (pay) keeps a retention back")
            return None
        try:
            retain = parse_share(e["retain"])
        except (ValueError, TypeError, ZeroDivisionError):
            c.error(_join(path, "retain"), f"expected a share in (0, 1], e.g. 0.1 or 10%, got {e['retain']!r}")
            return None
    for key in _MONEY_EFFECTS:
        if key in e:
            amount_field = c.ident(e, key, path)
            return Effect(**{key: amount_field}, retain=retain) if amount_field else None
    if "release_retention" in e:
        if e["release_retention"] is not True:
            c.error(_join(path, "release_retention"), "expected true")
            return None
        return Effect(release_retention=True)
    if "sign" in e:
        record = c.ident(e, "sign", path)
        return Effect(sign=record) if record else None
    if "count" not in e:
        return None  # the unknown key is already reported
    count = e["count"]
    if not isinstance(count, dict) or len(count) != 1:
        c.error(_join(path, "count"), "expected one counter and its change, e.g. {open_objections: 1}")
        return None
    ((counter, delta),) = count.items()
    if not isinstance(counter, str) or not _IDENT.match(counter):
        c.error(_join(path, "count"), f"'{counter}' is not a valid counter name")
        return None
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        c.error(_join(path, f"count.{counter}"), f"expected a non-zero whole number, got {_kind(delta)}")
        return None
    return Effect(counter=counter, delta=delta)


def _parse_guard_call(c: _Checker, raw: Any, path: str) -> tuple[str, dict, str] | None:
    if isinstance(raw, str):
        name, params = raw, {}
    elif isinstance(raw, dict) and len(raw) == 1:
        ((name, params),) = raw.items()
        params = {} if params is None else params
    else:
        c.error(path, "a guard is a name, or a mapping of one name to its parameters")
        return None
    if name not in REGISTRY:
        c.error(path, f"unknown guard '{name}'{_nearest(name, REGISTRY)}")
        return None
    if not isinstance(params, dict):
        c.error(_join(path, name), f"expected a mapping of parameters, got {_kind(params)}")
        return None
    return name, params, _join(path, name)


def _parse_transition(c: _Checker, raw: Any, path: str, roles: dict) -> tuple[Transition | None, list, dict]:
    """Parse what can be checked locally; names of states, guards' fields etc. are checked later."""
    t = c.mapping(raw, path, _TRANSITION_KEYS)
    if t is None:
        return None, [], {}
    trigger = c.ident(t, "trigger", path)
    if trigger in (SUSPEND, RESUME):
        c.error(_join(path, "trigger"), f"'{trigger}' is built in: declare 'suspension' instead")
    label = c.text(t, "label", path)
    sources_raw = t.get("from")
    if sources_raw is None:
        c.error(_join(path, "from"), "required: the state(s) this transition leaves")
        sources_raw = []
    if "to" not in t:
        c.error(_join(path, "to"), "required: the destination state, or null for an action that keeps the state")
    if "roles" not in t:
        c.warn(_join(path, "roles"), "no roles declared: nobody may fire this transition")
    allowed = c.names(t.get("roles", []), _join(path, "roles"), roles, "role")
    fields = []
    seen = set()
    for i, raw_field in enumerate(c.seq(t.get("fields"), _join(path, "fields"))):
        spec = _parse_field(c, raw_field, f"{path}.fields[{i}]")
        if spec is not None:
            if spec.name in seen:
                c.error(f"{path}.fields[{i}].name", f"field '{spec.name}' declared twice")
            seen.add(spec.name)
            fields.append(spec)
    guards = []
    for i, raw_guard in enumerate(c.seq(t.get("guards"), _join(path, "guards"))):
        parsed = _parse_guard_call(c, raw_guard, f"{path}.guards[{i}]")
        if parsed:
            guards.append(parsed)
    exempt = t.get("documents_exempt", False)
    if not isinstance(exempt, bool):
        c.error(_join(path, "documents_exempt"), f"expected true or false, got {_kind(exempt)}")
        exempt = False
    effect = _parse_effect(c, t["effect"], _join(path, "effect")) if "effect" in t else None
    new_round = t.get("new_round", [])  # checked against the documents in _build
    if not isinstance(new_round, list) or not all(isinstance(x, str) for x in new_round):
        c.error(_join(path, "new_round"), f"expected a list of document types, got {_kind(new_round)}")
        new_round = []
    if trigger is None or label is None:
        return None, guards, t
    sources = (sources_raw,) if isinstance(sources_raw, str) else tuple(c.seq(sources_raw, _join(path, "from")))
    dest = t.get("to")
    names_ok = True  # a list or mapping where a state id belongs would crash the name checks
    for j, src in enumerate(sources):
        if not isinstance(src, str):
            c.error(f"{path}.from[{j}]", f"expected a state id, got {_kind(src)}")
            names_ok = False
    if dest is not None and not isinstance(dest, str):
        c.error(
            _join(path, "to"), f"expected one state id, or null for an action that keeps the state, got {_kind(dest)}"
        )
        names_ok = False
    if not names_ok:
        return None, guards, t
    transition = Transition(
        trigger=trigger,
        sources=sources,
        dest=dest,
        label=label,
        roles=frozenset(allowed),
        fields=tuple(fields),
        documents_exempt=exempt,
        effect=effect,
        path=path,
        new_round=tuple(new_round),
    )
    return transition, guards, t


def _check_guard_params(
    c: _Checker,
    name: str,
    params: dict,
    path: str,
    roles: dict,
    documents: dict,
    fields: dict[str, FieldSpec],
    records: set,
    counters: set,
    triggers: frozenset[str] = frozenset(),
) -> GuardCall | None:
    spec = REGISTRY[name]
    ok = True
    values: dict[str, Any] = {}
    for key in params:
        if key not in spec.params:
            c.error(_join(path, str(key)), f"guard '{name}' has no parameter '{key}'{_nearest(key, spec.params)}")
            ok = False
    for key, pspec in spec.params.items():
        ppath = _join(path, key)
        if key not in params:
            if pspec.required:
                c.error(ppath, f"guard '{name}' needs parameter '{key}'")
                ok = False
            continue
        raw = params[key]
        kind = pspec.kind
        try:
            if kind is ParamKind.ROLES:
                values[key] = c.names(raw, ppath, roles, "role")
            elif kind is ParamKind.DOCUMENTS:
                values[key] = c.names(raw, ppath, documents, "document")
            elif kind is ParamKind.FIELD:
                if raw not in fields:
                    c.error(ppath, f"unknown field '{raw}'{_nearest(raw, fields)}: no transition declares it")
                    ok = False
                values[key] = raw
            elif kind is ParamKind.SHARE:
                values[key] = parse_share(raw)
            elif kind is ParamKind.AMOUNT:
                values[key] = parse_amount(raw)
            elif kind is ParamKind.COUNT:
                if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                    raise ValueError(f"expected a whole number >= 0, got {_kind(raw)}")
                values[key] = raw
            elif kind is ParamKind.RECORD:
                if raw not in records:
                    c.error(ppath, f"no transition signs '{raw}'{_nearest(raw, records)}: add an effect 'sign: {raw}'")
                    ok = False
                values[key] = raw
            elif kind is ParamKind.TRIGGER:
                if raw not in triggers:
                    c.error(ppath, f"unknown act '{raw}'{_nearest(raw, triggers)}: no transition has this trigger")
                    ok = False
                values[key] = raw
            elif kind is ParamKind.FLAG:
                if not isinstance(raw, bool):
                    raise ValueError(f"expected true or false, got {_kind(raw)}")
                values[key] = raw
            elif kind is ParamKind.COUNTER:
                if raw not in counters:
                    c.error(
                        ppath,
                        f"no transition counts '{raw}'{_nearest(raw, counters)}: add an effect 'count: {{{raw}: 1}}'",
                    )
                    ok = False
                values[key] = raw
        except (ValueError, ArithmeticError, TypeError) as exc:
            c.error(ppath, f"bad value {raw!r}: {exc}")
            ok = False
    return GuardCall(name, MappingProxyType(values), path) if ok else None


def _build(c: _Checker, doc: Any, file_name: str) -> Definition | None:
    if isinstance(doc, dict):  # ``x-`` keys hold YAML anchors to reuse, nothing else
        doc = {k: v for k, v in doc.items() if not (isinstance(k, str) and k.startswith("x-"))}
    top = c.mapping(doc, "", _TOP_KEYS)
    if top is None:
        return None
    def_id = c.ident(top, "id", "")
    version = top.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        c.error("version", f"expected a whole number >= 1, got {_kind(version)}")
        version = None
    title = c.text(top, "title", "")
    if "roles" not in top:
        c.error("roles", "required: the roles that take part")
    roles = _parse_labels(c, top.get("roles", {}), "roles", "role")
    documents, document_roles = _parse_documents(c, top.get("documents", {}), roles) if "documents" in top else ({}, {})
    if "open_roles" not in top:
        c.warn("open_roles", "no open_roles declared: nobody may open a case")
    open_roles = c.names(top.get("open_roles", []), "open_roles", roles, "role")

    states: dict[str, State] = {}
    position: dict[str, int] = {}  # state id -> index in the YAML list, for paths
    raw_states = c.seq(top.get("states"), "states")
    if not raw_states:
        c.error("states", "required: at least one state")
    for i, raw in enumerate(raw_states):
        state = _parse_state(c, raw, f"states[{i}]", roles, documents)
        if state is None:
            continue
        if state.id in states:
            c.error(f"states[{i}].id", f"duplicate state id '{state.id}'")
            continue
        states[state.id] = state
        position[state.id] = i

    initial = top.get("initial")
    if initial is None:
        c.error("initial", "no initial state: name the state a new case starts in")
    elif not isinstance(initial, str):
        c.error("initial", f"expected a state id, got {_kind(initial)}")
        initial = None
    elif initial not in states:
        c.error("initial", f"unknown state '{initial}'{_nearest(initial, states)}")
    elif states[initial].terminal:
        c.error("initial", f"the initial state '{initial}' is terminal")

    # Transitions: parse, then resolve names against what is declared.
    parsed: list[tuple[Transition, list, dict]] = []
    for i, raw in enumerate(c.seq(top.get("transitions"), "transitions")):
        tr, guards, _ = _parse_transition(c, raw, f"transitions[{i}]", roles)
        if tr is not None:
            parsed.append((tr, guards, raw))
    all_fields: dict[str, FieldSpec] = {}
    records, counters = set(), set()
    for tr, _, _ in parsed:
        for f in tr.fields:
            prev = all_fields.get(f.name)
            if prev is not None and prev.type is not f.type:
                c.error(f"{tr.path}.fields", f"field '{f.name}' is {f.type.value} here but {prev.type.value} elsewhere")
            all_fields.setdefault(f.name, f)
        if tr.effect and tr.effect.sign:
            records.add(tr.effect.sign)
        if tr.effect and tr.effect.counter:
            counters.add(tr.effect.counter)

    transitions: list[Transition] = []
    seen_pairs: dict[tuple[str, str], str] = {}
    for tr, guards, raw in parsed:
        single = isinstance(raw.get("from"), str)
        for j, src in enumerate(tr.sources):
            spath = f"{tr.path}.from" if single else f"{tr.path}.from[{j}]"
            if src not in states:
                c.error(spath, f"unknown state '{src}'{_nearest(src, states)}")
                continue
            if states[src].terminal:
                c.error(spath, f"terminal state '{src}' must have no way out, but '{tr.trigger}' leaves it")
            pair = (tr.trigger, src)
            if pair in seen_pairs:
                c.error(spath, f"trigger '{tr.trigger}' from state '{src}' is already declared at {seen_pairs[pair]}")
            seen_pairs.setdefault(pair, tr.path)
        if tr.dest is not None and tr.dest not in states:
            c.error(f"{tr.path}.to", f"unknown state '{tr.dest}'{_nearest(tr.dest, states)}")
        if tr.dest is None and tr.effect is None and not tr.fields:
            c.warn(f"{tr.path}.to", "an action that keeps the state and records nothing but the event")
        calls = []
        for name, params, gpath in guards:
            call = _check_guard_params(
                c,
                name,
                params,
                gpath,
                roles,
                documents,
                all_fields,
                records,
                counters,
                frozenset(t.trigger for t, _, _ in parsed),
            )
            if call is not None:
                calls.append(call)
        for j, doc in enumerate(tr.new_round):
            if doc not in documents:
                c.error(f"{tr.path}.new_round[{j}]", f"unknown document '{doc}'{_nearest(doc, documents)}")
        if tr.new_round and tr.dest is None:
            c.error(f"{tr.path}.new_round", "only a transition that moves the case can start a new round")
        transitions.append(
            Transition(
                tr.trigger,
                tr.sources,
                tr.dest,
                tr.label,
                tr.roles,
                tuple(calls),
                tr.fields,
                tr.documents_exempt,
                tr.effect,
                tr.path,
                tr.new_round,
            )
        )

    for sid, state in states.items():
        i = position[sid]
        rule = state.deadline
        if rule and rule.kind is DeadlineKind.DATE_FIELD and rule.date_field:
            spec = all_fields.get(rule.date_field)
            if spec is None:
                c.error(
                    f"states[{i}].deadline.date_field",
                    f"unknown field '{rule.date_field}'{_nearest(rule.date_field, all_fields)}: no transition declares it",
                )
            elif spec.type is not FieldType.DATE:
                c.error(
                    f"states[{i}].deadline.date_field", f"field '{rule.date_field}' is {spec.type.value}, not a date"
                )

    triggers = {tr.trigger for tr in transitions}
    for sid, state in states.items():
        rule, apath = state.deadline, f"states[{position[sid]}].deadline.from"
        if rule is None or rule.anchor_ref is None:
            continue
        if rule.anchor is Anchor.ACT and rule.anchor_ref not in triggers:
            c.error(
                f"{apath}.act",
                f"unknown act '{rule.anchor_ref}'{_nearest(rule.anchor_ref, triggers)}: no transition has this trigger",
            )
        elif rule.anchor is Anchor.FIELD:
            spec = all_fields.get(rule.anchor_ref)
            if spec is None:
                c.error(
                    f"{apath}.field",
                    f"unknown field '{rule.anchor_ref}'{_nearest(rule.anchor_ref, all_fields)}: no transition declares it",
                )
            elif spec.type is not FieldType.DATE:
                c.error(f"{apath}.field", f"field '{rule.anchor_ref}' is {spec.type.value}, not a date")

    for tr in transitions:
        name = tr.effect.amount_field if tr.effect is not None else None
        if name is not None:
            key = next(k for k in _MONEY_EFFECTS if getattr(tr.effect, k) == name)
            spec = all_fields.get(name)
            if spec is None or spec.type is not FieldType.AMOUNT:
                c.error(
                    f"{tr.path}.effect.{key}",
                    f"unknown amount field '{name}'{_nearest(name, all_fields)}: no transition declares it as an amount",
                )
        paid = [f.name for f in tr.fields if f.money in ("advanced", "paid")]
        if paid and not (tr.effect is not None and tr.effect.pay in paid):
            c.error(
                f"{tr.path}.effect",
                f"'{paid[0]}' is a payment (money: paid/advanced): declare 'effect: {{pay: {paid[0]}}}' so the ledgers are debited when it is paid",
            )

    suspension = None
    if "suspension" in top:
        s = c.mapping(top["suspension"], "suspension", _SUSPENSION_KEYS)
        if s is not None:
            sus_roles = c.names(s.get("roles"), "suspension.roles", roles, "role")
            if not sus_roles:
                c.error("suspension.roles", "name the roles that may suspend a case")
            resume = (
                c.names(s["resume_roles"], "suspension.resume_roles", roles, "role")
                if "resume_roles" in s
                else sus_roles
            )
            suspension = Suspension(frozenset(sus_roles), frozenset(resume))

    _check_graph(c, states, position, transitions, initial if initial in states else None)

    if def_id and version:
        m = _FILE_NAME.match(file_name)
        expected = f"{def_id}.v{version}.yaml"
        if m is None or m["id"] != def_id or int(m["version"]) != version:
            c.warn("", f"file name should be '{expected}' (one procedure version per file)")
    if c.failed or def_id is None or version is None or title is None:
        return None
    return Definition(
        id=def_id,
        version=version,
        title=title,
        roles=MappingProxyType({k: Role(k, v) for k, v in roles.items()}),
        documents=MappingProxyType(dict(documents)),
        states=MappingProxyType(states),
        initial=initial,
        transitions=tuple(transitions),
        suspension=suspension,
        source=c.file,
        open_roles=frozenset(open_roles),
        document_roles=MappingProxyType(document_roles),
    )


def _check_graph(
    c: _Checker, states: dict[str, State], index: Mapping[str, int], transitions: list[Transition], initial: str | None
) -> None:
    edges: dict[str, set[str]] = {sid: set() for sid in states}
    for tr in transitions:
        if tr.dest in states:
            for src in tr.sources:
                if src in edges and src != tr.dest:
                    edges[src].add(tr.dest)
    for sid, state in states.items():
        if not state.terminal and not edges[sid]:
            c.error(f"states[{index[sid]}]", f"non-terminal state '{sid}' has no way out")
    if initial is None:
        return
    reached = _reach(initial, edges)
    for sid in states:
        if sid not in reached:
            c.error(f"states[{index[sid]}]", f"state '{sid}' cannot be reached from the initial state '{initial}'")
    reverse: dict[str, set[str]] = {sid: set() for sid in states}
    for src, dests in edges.items():
        for d in dests:
            reverse[d].add(src)
    finishing = set()
    for sid, state in states.items():
        if state.terminal:
            finishing |= _reach(sid, reverse)
    for sid in states:
        if sid in reached and sid not in finishing and edges[sid]:
            c.error(f"states[{index[sid]}]", f"no terminal state can be reached from '{sid}': a case there never ends")


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in edges[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# -- entry points ----------------------------------------------------------------------


def check_text(text: str, file: str = "<text>") -> tuple[Definition | None, list[Problem]]:
    """Parse and check YAML text; return the definition (None on any error) and all problems."""
    c = _Checker(file)
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        c.error("", f"not valid YAML: {where}{getattr(exc, 'problem', None) or exc}")
        return None, c.problems
    if doc is None:
        c.error("", "the file is empty")
        return None, c.problems
    return _build(c, doc, os.path.basename(file)), c.problems


def check_file(path: str | os.PathLike) -> tuple[Definition | None, list[Problem]]:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return None, [Problem(file, "", f"cannot read: {exc.strerror or exc}")]
    return check_text(text, file)


def load_file(path: str | os.PathLike) -> Definition:
    definition, problems = check_file(path)
    if definition is None:
        raise DefinitionError([p for p in problems if p.severity is Severity.ERROR])
    return definition


def definition_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories to their ``*.yaml``/``*.yml`` files (sorted); keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            out.append(p)
    return out


class DefinitionRegistry:
    """All loaded definitions by (id, version). Immutable once built."""

    def __init__(self, definitions: Iterable[Definition] = ()):
        self._by_key: dict[tuple[str, int], Definition] = {}
        for d in definitions:
            if d.key in self._by_key:
                raise DefinitionError(
                    [
                        Problem(
                            d.source, "version", f"{d.id} v{d.version} is also defined in {self._by_key[d.key].source}"
                        )
                    ]
                )
            self._by_key[d.key] = d

    def get(self, definition_id: str, version: int | None = None) -> Definition:
        if version is None:
            versions = [v for (i, v) in self._by_key if i == definition_id]
            if not versions:
                raise UnknownDefinition(definition_id, None, self.ids())
            version = max(versions)
        try:
            return self._by_key[(definition_id, version)]
        except KeyError:
            versions = tuple(sorted(v for (i, v) in self._by_key if i == definition_id))
            raise UnknownDefinition(definition_id, version, self.ids(), versions) from None

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted({i for i, _ in self._by_key}))

    def latest(self) -> list[Definition]:
        return [self.get(i) for i in self.ids()]

    def __iter__(self):
        return iter(sorted(self._by_key.values(), key=lambda d: d.key))

    def __len__(self) -> int:
        return len(self._by_key)


def check_paths(paths: Iterable[str | os.PathLike]) -> tuple[list[Definition], list[Problem]]:
    """Check every definition file under ``paths`` (directories expanded); a second file
    with the same (id, version) is an error. Returns the good definitions and all problems."""
    problems: list[Problem] = []
    loaded: list[Definition] = []
    seen: dict[tuple[str, int], str] = {}
    for f in definition_files(paths):
        definition, found = check_file(f)
        problems.extend(found)
        if definition is None:
            continue
        if definition.key in seen:
            problems.append(
                Problem(
                    str(f),
                    "version",
                    f"{definition.id} v{definition.version} is also defined in {seen[definition.key]}",
                )
            )
            continue
        seen[definition.key] = str(f)
        loaded.append(definition)
    return loaded, problems


def load_directory(*paths: str | os.PathLike) -> tuple[DefinitionRegistry, list[Problem]]:
    """Load every definition under ``paths``; raise DefinitionError naming every error."""
    loaded, problems = check_paths(paths)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise DefinitionError(errors)
    return DefinitionRegistry(loaded), problems
