"""The parts of a definition, each checked for its shape: roles (with their organisation level),
the opening form, documents, deadlines, states, fields, effects, guard calls, transitions."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from fundflow.domain.definition import (
    MONEY_KINDS,
    ORG_LEVELS,
    OUTCOMES,
    RESUME,
    RETURN,
    SUSPEND,
    Anchor,
    DeadlineKind,
    DeadlineRule,
    Effect,
    Escalation,
    FieldSpec,
    FieldType,
    OpenForm,
    Role,
    State,
    Transition,
)
from fundflow.domain.guards import REGISTRY, parse_share
from fundflow.domain.loader.checker import (
    _ANCHOR_KEYS,
    _DEADLINE_KEYS,
    _DOCUMENT_KEYS,
    _EFFECT_KEYS,
    _ESCALATION_KEYS,
    _FIELD_KEYS,
    _IDENT,
    _MONEY_EFFECTS,
    _OPEN_FORM_KEYS,
    _ROLE_KEYS,
    _STATE_KEYS,
    _TRANSITION_KEYS,
    RESPONSIBLE,
    _Checker,
    _join,
    _kind,
    _nearest,
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


def _parse_roles(c: _Checker, value: Any) -> dict[str, Role]:
    """``roles``: id -> {label, level} (the organisation level its users belong to), id ->
    {label, kind} (an organisation kind of ``organisations:``; the level follows from the kind),
    or id -> a Chinese label alone (no level: no user may hold the role)."""
    if not isinstance(value, dict):
        c.error("roles", f"expected a mapping of role id to {{label, level}}, got {_kind(value)}")
        return {}
    plain: dict[str, Any] = {}
    levels: dict[str, str | None] = {}
    kinds: dict[str, str | None] = {}
    for key, raw in value.items():
        if not isinstance(raw, dict):
            plain[key], levels[key] = raw, None
            continue
        path = _join("roles", str(key))
        m = c.mapping(raw, path, _ROLE_KEYS)
        if m is None:
            continue
        plain[key] = m.get("label")
        level, kind = m.get("level"), m.get("kind")
        if kind is not None:
            if not isinstance(kind, str) or kind not in c.org_kinds:
                shown = kind if isinstance(kind, str) else _kind(kind)
                known = ", ".join(c.org_kinds) or "none declared"
                c.error(
                    _join(path, "kind"),
                    f"unknown organisation kind '{shown}'{_nearest(shown, c.org_kinds)}: declare it under "
                    f"'organisations' (declared: {known})",
                )
                levels[key] = None
                continue
            if level is not None:
                c.error(_join(path, "level"), f"a role of kind '{kind}' takes its level from the kind: drop 'level'")
            kinds[key], levels[key] = kind, c.org_kinds[kind].level
            continue
        if level is None:
            c.error(
                _join(path, "level"),
                f"required: the organisation level, one of {', '.join(ORG_LEVELS)} (or a 'kind' of 'organisations')",
            )
        elif not isinstance(level, str) or level not in ORG_LEVELS:
            shown = level if isinstance(level, str) else _kind(level)
            c.error(
                _join(path, "level"),
                f"unknown organisation level '{shown}'{_nearest(shown, ORG_LEVELS)}: one of {', '.join(ORG_LEVELS)}",
            )
        levels[key] = level if level in ORG_LEVELS else None
    labels = _parse_labels(c, plain, "roles", "role")
    return {k: Role(k, v, levels.get(k), kinds.get(k)) for k, v in labels.items()}


def _parse_open_form(c: _Checker, value: Any) -> OpenForm:
    """``open_form``: the label of the event that opens a case, the report's categories, the
    form's words (title, intro, category_label, description_label; each optional) and its own
    fields (as a transition's: name, type, label, required, choices)."""
    m = c.mapping(value, "open_form", _OPEN_FORM_KEYS)
    if m is None:
        return OpenForm()
    words = {
        key: c.text(m, key, "open_form")
        for key in ("title", "intro", "category_label", "description_label")
        if key in m
    }
    label = c.text(m, "label", "open_form") if "label" in m else None
    categories: list[str] = []
    for i, item in enumerate(c.seq(m.get("categories", []), "open_form.categories")):
        if not isinstance(item, str) or not item.strip():
            c.error(f"open_form.categories[{i}]", f"expected a Chinese category name, got {_kind(item)}")
        elif item in categories:
            c.error(f"open_form.categories[{i}]", f"duplicate category '{item}'")
        else:
            categories.append(item)
    fields: list[FieldSpec] = []
    for i, raw in enumerate(c.seq(m.get("fields", []), "open_form.fields")):
        spec = _parse_field(c, raw, f"open_form.fields[{i}]")
        if spec is None:
            continue
        if spec.name in OPEN_FORM_RESERVED:
            c.error(
                f"open_form.fields[{i}].name",
                f"'{spec.name}' is the form's own (category or description): use category_label/description_label",
            )
        elif spec.type in (FieldType.SCOPE, FieldType.ORGANISATION):
            c.error(f"open_form.fields[{i}].type", f"a {spec.type.value} field is set by an act, not by the report")
        elif any(f.name == spec.name for f in fields):
            c.error(f"open_form.fields[{i}].name", f"duplicate field '{spec.name}'")
        else:
            fields.append(spec)
    words = {key: text for key, text in words.items() if text}
    if label:
        words["label"] = label
    return OpenForm(categories=tuple(categories), fields=tuple(fields), **words)


#: The data keys of the report's category and description (the form's fixed two)
OPEN_FORM_RESERVED = ("hazard_category", "description")


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
    org_kind = f.get("kind")
    if ftype is FieldType.ORGANISATION:
        if not isinstance(org_kind, str) or org_kind not in c.org_kinds:
            shown = org_kind if isinstance(org_kind, str) else _kind(org_kind)
            c.error(
                _join(path, "kind"),
                f"an organisation field names the kind of organisation it assigns the case to; "
                f"'{shown}' is not declared under 'organisations'{_nearest(shown, c.org_kinds)}",
            )
            org_kind = None
    elif org_kind is not None:
        c.error(_join(path, "kind"), f"only organisation fields have a kind (this one is {ftype.value})")
        org_kind = None
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
    return FieldSpec(name, ftype, label, required, tuple(choices), MappingProxyType(choices), money, org_kind)


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
    if trigger == RETURN:
        c.error(_join(path, "trigger"), f"'{trigger}' is built in: declare the return in 'handoffs.returns' instead")
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
