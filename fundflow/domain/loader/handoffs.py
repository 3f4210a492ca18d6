"""``handoffs:``: the procedure rules of 转办, 退回, 延期申请 and 撤回; ``records:`` the objections
kept as records; each checked with its paths.

::

    handoffs:
      transfer: {roles: [street_office, fire_rescue]}      # 转办 to another organisation of the role
      returns:                                             # 退回 to the previous stage's party
        - {from: joint_meeting, to: site_survey}
      extension:                                           # 延期申请
        approver: fund_center
        max_working_days: 10
        by_state: {fund_review: housing_bureau}            # the approver where it is not the default
      withdrawal: {trigger: withdraw, opener_until: approve}   # 撤回 by the party that opened the case

Each declared return becomes a transition ``return_to_previous`` from its state, fired by the
state's responsible role with a reason; the engine runs it like any other.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from fundflow.domain.definition import (
    RETURN,
    Extension,
    FieldSpec,
    FieldType,
    Handoffs,
    Objections,
    Role,
    State,
    Transfer,
    Transition,
    Withdrawal,
)
from fundflow.domain.loader.checker import _Checker, _join, _kind, _nearest

__all__ = ["parse_handoffs", "parse_records", "TRANSFER_LEVELS"]

_HANDOFF_KEYS = ("transfer", "returns", "extension", "withdrawal")
_TRANSFER_KEYS = ("roles",)
_RETURN_KEYS = ("from", "to", "label")
_EXTENSION_KEYS = ("approver", "max_working_days", "by_state", "states")
_WITHDRAWAL_KEYS = ("trigger", "opener_until")
#: The organisation levels a case can be handed between: it has one street office and one
#: district; its community is where the hazard is, and the city is one.
TRANSFER_LEVELS = ("street_office", "district", "organisation")  # organisation: a department to another of its kind
RETURN_FIELDS = (FieldSpec("reason", FieldType.REASON, "退回原因"),)


def parse_handoffs(
    c: _Checker,
    raw: Any,
    states: dict[str, State],
    roles: dict[str, Role],
    transitions: list[Transition],
) -> tuple[Handoffs, list[Transition]]:
    """The hand-off rules and the return transitions they add."""
    m = c.mapping(raw, "handoffs", _HANDOFF_KEYS)
    if m is None:
        return Handoffs(), []
    transfer = _transfer(c, m["transfer"], roles) if "transfer" in m else None
    returns, added = _returns(c, m["returns"], states, transitions) if "returns" in m else ((), [])
    extension = _extension(c, m["extension"], states, roles) if "extension" in m else None
    withdrawal = _withdrawal(c, m["withdrawal"], states, transitions) if "withdrawal" in m else None
    return Handoffs(transfer, extension, withdrawal, returns), added


def _transfer(c: _Checker, raw: Any, roles: dict[str, Role]) -> Transfer | None:
    path = "handoffs.transfer"
    m = c.mapping(raw, path, _TRANSFER_KEYS)
    if m is None:
        return None
    names = c.names(m.get("roles"), _join(path, "roles"), roles, "role")
    if not m.get("roles"):
        c.error(_join(path, "roles"), "name the roles whose cases may be transferred")
    ok = []
    for i, r in enumerate(names):
        level = roles[r].level
        if level not in TRANSFER_LEVELS:
            c.error(
                f"{path}.roles[{i}]",
                f"role '{r}' belongs to the {level or 'undeclared'} level: a case has one organisation of it, "
                f"so it cannot be transferred (transferable levels: {', '.join(TRANSFER_LEVELS)})",
            )
        else:
            ok.append(r)
    return Transfer(frozenset(ok)) if ok else None


def _returns(
    c: _Checker, raw: Any, states: dict[str, State], transitions: list[Transition]
) -> tuple[tuple[tuple[str, str], ...], list[Transition]]:
    pairs: list[tuple[str, str]] = []
    added: list[Transition] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(c.seq(raw, "handoffs.returns")):
        path = f"handoffs.returns[{i}]"
        m = c.mapping(item, path, _RETURN_KEYS)
        if m is None:
            continue
        src, dest = m.get("from"), m.get("to")
        good = True
        for key, sid in (("from", src), ("to", dest)):
            if not isinstance(sid, str) or sid not in states:
                shown = sid if isinstance(sid, str) else _kind(sid)
                c.error(_join(path, key), f"unknown state '{shown}'{_nearest(shown, states)}")
                good = False
            elif states[sid].terminal:
                c.error(_join(path, key), f"'{sid}' is terminal: a return goes between running stages")
                good = False
        if not good:
            continue
        if src in seen:
            c.error(_join(path, "from"), f"a return from '{src}' is already declared at {seen[src]}")
            continue
        if not any(t.dest == src and dest in t.sources for t in transitions):
            leads = sorted({s for t in transitions if t.dest == src for s in t.sources if s != src})
            c.error(
                _join(path, "to"),
                f"'{dest}' is not a previous stage of '{src}': no transition leads from it to '{src}'"
                + (f" (previous stages: {', '.join(leads)})" if leads else ""),
            )
            continue
        label = m.get("label", f"退回{states[dest].label}")
        if not isinstance(label, str) or not label.strip():
            c.error(_join(path, "label"), f"expected non-empty text, got {_kind(label)}")
            continue
        seen[src] = path
        pairs.append((src, dest))
        responsible = states[src].responsible
        added.append(
            Transition(
                RETURN,
                (src,),
                dest,
                label,
                frozenset({responsible}) if responsible else frozenset(),
                fields=RETURN_FIELDS,
                documents_exempt=True,
                path=path,
            )
        )
    return tuple(pairs), added


def _extension(c: _Checker, raw: Any, states: dict[str, State], roles: dict[str, Role]) -> Extension | None:
    path = "handoffs.extension"
    m = c.mapping(raw, path, _EXTENSION_KEYS)
    if m is None:
        return None
    approver = c.names(m.get("approver"), _join(path, "approver"), roles, "role") if "approver" in m else ()
    if "approver" not in m:
        c.error(_join(path, "approver"), "required: the role that approves or refuses an extension")
    most = c.count(m, "max_working_days", path, minimum=1)
    if "max_working_days" not in m:
        c.error(_join(path, "max_working_days"), "required: the most working days one extension may add")
    timed = {sid for sid, s in states.items() if not s.terminal and s.deadline is not None}
    if "states" in m:
        where = c.names(m["states"], _join(path, "states"), states, "state")
        for i, sid in enumerate(where):
            if sid not in timed:
                c.error(f"{path}.states[{i}]", f"state '{sid}' has no deadline to extend")
        where = tuple(s for s in where if s in timed)
    else:
        where = tuple(sid for sid in states if sid in timed)
    by_state: dict[str, str] = {}
    raw_by = m.get("by_state", {})
    if not isinstance(raw_by, dict):
        c.error(_join(path, "by_state"), f"expected a mapping of state id to role id, got {_kind(raw_by)}")
        raw_by = {}
    for sid, role in raw_by.items():
        spath = f"{path}.by_state.{sid}"
        if sid not in states:
            c.error(spath, f"unknown state '{sid}'{_nearest(sid, states)}")
        elif sid not in where:
            c.error(spath, f"no extension may be asked for in '{sid}' (it has no deadline, or is not in states)")
        elif not isinstance(role, str) or role not in roles:
            shown = role if isinstance(role, str) else _kind(role)
            c.error(spath, f"unknown role '{shown}'{_nearest(shown, roles)}")
        else:
            by_state[sid] = role
    if not approver or most is None:
        return None
    ext = Extension(approver[0], most, MappingProxyType(by_state), frozenset(where))
    for sid in where:
        if ext.approver_of(sid) == states[sid].responsible:
            at = f"{path}.by_state.{sid}" if sid in by_state else _join(path, "approver")
            c.error(
                at,
                f"'{ext.approver_of(sid)}' is responsible for '{sid}': it would approve its own extension "
                f"(name another approver for '{sid}' in by_state)",
            )
    return ext


def _withdrawal(c: _Checker, raw: Any, states: dict[str, State], transitions: list[Transition]) -> Withdrawal | None:
    path = "handoffs.withdrawal"
    m = c.mapping(raw, path, _WITHDRAWAL_KEYS)
    if m is None:
        return None
    trigger = c.ident(m, "trigger", path)
    triggers = {t.trigger for t in transitions}
    if trigger is None:
        return None
    if trigger not in triggers:
        c.error(
            _join(path, "trigger"),
            f"unknown act '{trigger}'{_nearest(trigger, triggers)}: no transition has this trigger",
        )
        return None
    for t in transitions:
        if t.trigger == trigger and (t.dest not in states or states[t.dest].outcome != "withdrawn"):
            c.error(
                _join(path, "trigger"),
                f"'{trigger}' at {t.path} does not end the case as withdrawn (its state's outcome must be withdrawn)",
            )
            return None
    until = c.ident(m, "opener_until", path, required=False)
    if until is not None and until not in triggers:
        c.error(
            _join(path, "opener_until"),
            f"unknown act '{until}'{_nearest(until, triggers)}: no transition has this trigger",
        )
        return None
    return Withdrawal(trigger, until)


# -- records (``records:``) -----------------------------------------------------------------------

_RECORDS_KEYS = ("objections",)
_OBJECTION_KEYS = ("states", "raise_roles", "answer_roles")
OBJECTIONS_GUARD = "objections_answered"


def parse_records(
    c: _Checker, raw: Any, states: dict[str, State], roles: dict[str, Role], transitions: list[Transition]
) -> Objections | None:
    """``records: {objections: {states, raise_roles, answer_roles}}``; the guard
    ``objections_answered`` may only hold back a transition from a state where they are taken."""
    m = c.mapping(raw, "records", _RECORDS_KEYS)
    objections = None
    if m is not None and "objections" in m:
        path = "records.objections"
        o = c.mapping(m["objections"], path, _OBJECTION_KEYS)
        if o is not None:
            where = c.names(o.get("states"), _join(path, "states"), states, "state")
            for i, sid in enumerate(where):
                if states[sid].terminal:
                    c.error(f"{path}.states[{i}]", f"'{sid}' is terminal: no objection can be taken there")
            raising = c.names(o.get("raise_roles"), _join(path, "raise_roles"), roles, "role")
            answering = c.names(o.get("answer_roles"), _join(path, "answer_roles"), roles, "role")
            for key in ("states", "raise_roles", "answer_roles"):
                if not o.get(key):
                    c.error(_join(path, key), "required: name at least one")
            if where and raising and answering:
                objections = Objections(frozenset(where), frozenset(raising), frozenset(answering))
    for t in transitions:
        for g in t.guards:
            if g.name != OBJECTIONS_GUARD:
                continue
            outside = [s for s in t.sources if objections is None or s not in objections.states]
            if outside:
                c.error(
                    g.path,
                    f"no objections are recorded in '{outside[0]}': declare it in records.objections.states",
                )
    return objections
