"""The whole definition: its parts built and cross-checked (names, guards' parameters, the
graph: every state reachable, every case able to end)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from fundflow.domain.definition import (
    Anchor,
    DeadlineKind,
    Definition,
    FieldSpec,
    FieldType,
    GuardCall,
    Handoffs,
    OpenForm,
    State,
    Subject,
    Suspension,
    Transition,
)
from fundflow.domain.guards import REGISTRY, ParamKind, parse_share
from fundflow.domain.loader.checker import (
    _FILE_NAME,
    _MONEY_EFFECTS,
    _SUSPENSION_KEYS,
    _TOP_KEYS,
    _Checker,
    _join,
    _kind,
    _nearest,
)
from fundflow.domain.loader.figures import parse_figures
from fundflow.domain.loader.handoffs import parse_handoffs, parse_records
from fundflow.domain.loader.parties import parse_organisation_kinds, parse_subject
from fundflow.domain.loader.shapes import (
    _parse_documents,
    _parse_open_form,
    _parse_roles,
    _parse_state,
    _parse_transition,
)
from fundflow.domain.money import parse_amount


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
            elif kind is ParamKind.TEXTS:
                items = raw if isinstance(raw, list) else None
                if not items or not all(isinstance(x, str) and x.strip() for x in items):
                    raise ValueError(f"expected a list of non-empty texts, got {_kind(raw)}")
                values[key] = tuple(items)
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
    c.org_kinds = parse_organisation_kinds(c, top["organisations"]) if "organisations" in top else MappingProxyType({})
    subject = parse_subject(c, top["subject"]) if "subject" in top else Subject()
    role_specs = _parse_roles(c, top.get("roles", {}))
    roles = {k: r.label for k, r in role_specs.items()}
    open_form = _parse_open_form(c, top["open_form"]) if "open_form" in top else OpenForm()
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
    all_fields: dict[str, FieldSpec] = {f.name: f for f in open_form.fields}
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

    handoffs = Handoffs()
    if "handoffs" in top:
        handoffs, returns = parse_handoffs(c, top["handoffs"], states, role_specs, transitions)
        transitions.extend(returns)
    objections = parse_records(c, top.get("records", {}), states, role_specs, transitions)

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
    figures = parse_figures(c, top["figures"], states, all_fields) if "figures" in top else None

    if def_id and version:
        m = _FILE_NAME.match(file_name)
        expected = f"{def_id}.v{version}.yaml"
        if m is None or m["id"] != def_id or int(m["version"]) != version:
            c.warn("", f"file name should be '{expected}' (one procedure version per file)")
    current = top.get("current", True)
    if not isinstance(current, bool):
        c.error("current", f"expected true or false, got {_kind(current)}")
    if c.failed or def_id is None or version is None or title is None:
        return None
    return Definition(
        current=current,
        id=def_id,
        version=version,
        title=title,
        roles=MappingProxyType(role_specs),
        documents=MappingProxyType(dict(documents)),
        states=MappingProxyType(states),
        initial=initial,
        transitions=tuple(transitions),
        suspension=suspension,
        source=c.file,
        open_roles=frozenset(open_roles),
        document_roles=MappingProxyType(document_roles),
        open_form=open_form,
        handoffs=handoffs,
        objections=objections,
        figures=figures,
        organisation_kinds=c.org_kinds,
        subject=subject,
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
