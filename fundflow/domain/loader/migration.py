"""``<id>.v<N>.migrate.yaml`` -> :class:`~fundflow.domain.migration.Migration`, checked against
both versions.

Every problem is located ``FILE:YAML_PATH: message``: an unknown state of either version (with
the nearest name), an old non-terminal state left unmapped, a running state mapped to a
terminal one (or a closed one to a running one), an unknown deadline policy, a renamed or
defaulted field neither version declares, and a field the new version needs in a target state
(a date deadline, an amount a guard compares against) that the old version never records and
no rename or default provides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import yaml

from fundflow.domain.definition import Definition
from fundflow.domain.errors import Problem
from fundflow.domain.loader.checker import _Checker, _join, _kind, _nearest
from fundflow.domain.loader.yaml import _SAFE_LOADER
from fundflow.domain.migration import KEEP, POLICIES, Migration, StateMap, required_fields

__all__ = ["MIGRATION_FILE", "is_migration_file", "check_migration_text"]

#: ``fire_hazard_emergency.v2.migrate.yaml``: the migration onto version 2, beside it.
MIGRATION_FILE = re.compile(r"^(?P<id>.+)\.v(?P<version>\d+)\.migrate\.ya?ml$")

_TOP_KEYS = ("id", "from_version", "to_version", "description", "deadline", "states", "data")
_STATE_KEYS = ("to", "deadline")
_DATA_KEYS = ("rename", "defaults")

Lookup = Callable[[str, int], Definition | None]


def is_migration_file(name: str) -> bool:
    return MIGRATION_FILE.match(name) is not None


def _fields(d: Definition) -> set[str]:
    return {f.name for t in d.transitions for f in t.fields}


def _version(c: _Checker, top: dict, key: str) -> int | None:
    value = top.get(key)
    if value is None:
        c.error(key, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        c.error(key, f"expected a version number (1, 2, ...), got {_kind(value)}")
        return None
    return value


def check_migration_text(text: str, file: str, lookup: Lookup) -> tuple[Migration | None, list[Problem]]:
    """Parse and check a migration declaration; ``lookup(id, version)`` gives the loaded
    definitions (None: not loaded)."""
    c = _Checker(file)
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        c.error("", f"not valid YAML: {where}{getattr(exc, 'problem', None) or exc}")
        return None, c.problems
    top = c.mapping(doc, "", _TOP_KEYS)
    if top is None:
        return None, c.problems
    def_id = c.ident(top, "id", "")
    old_v, new_v = _version(c, top, "from_version"), _version(c, top, "to_version")
    if old_v is not None and new_v is not None and new_v <= old_v:
        c.error("to_version", f"must be later than from_version {old_v}, got {new_v}")
        return None, c.problems
    if def_id is None or old_v is None or new_v is None:
        return None, c.problems
    m = MIGRATION_FILE.match(file.replace("\\", "/").rsplit("/", 1)[-1])
    if m is None or m["id"] != def_id or int(m["version"]) != new_v:
        c.warn("", f"file name should be '{def_id}.v{new_v}.migrate.yaml' (beside the version it migrates to)")
    old, new = lookup(def_id, old_v), lookup(def_id, new_v)
    for d, key, v in ((old, "from_version", old_v), (new, "to_version", new_v)):
        if d is None:
            c.error(key, f"{def_id} v{v} is not defined (no {def_id}.v{v}.yaml loaded)")
    if old is None or new is None:
        return None, c.problems

    default_policy = top.get("deadline", KEEP)
    if default_policy not in POLICIES:
        c.error("deadline", f"unknown deadline policy '{default_policy}'{_nearest(default_policy, POLICIES)}")
        default_policy = KEEP

    states: dict[str, StateMap] = {}
    raw_states = top.get("states")
    if raw_states is None:
        c.error("states", f"required: the state of v{new_v} each state of v{old_v} maps to")
        raw_states = {}
    elif not isinstance(raw_states, dict):
        c.error("states", f"expected a mapping, got {_kind(raw_states)}")
        raw_states = {}
    for source, raw in raw_states.items():
        path = _join("states", str(source))
        if source not in old.states:
            c.error(path, f"unknown state '{source}' of v{old_v}{_nearest(source, old.states)}")
            continue
        if isinstance(raw, str):
            target, policy, tpath = raw, default_policy, path
        else:
            entry = c.mapping(raw, path, _STATE_KEYS)
            if entry is None:
                continue
            target, tpath = entry.get("to"), _join(path, "to")
            if target is None:
                c.error(tpath, f"required: the state of v{new_v} it maps to")
                continue
            policy = entry.get("deadline", default_policy)
            if policy not in POLICIES:
                c.error(_join(path, "deadline"), f"unknown deadline policy '{policy}'{_nearest(policy, POLICIES)}")
                continue
        if not isinstance(target, str) or target not in new.states:
            c.error(tpath, f"unknown state '{target}' of v{new_v}{_nearest(target, new.states)}")
            continue
        was, now = old.states[source].terminal, new.states[target].terminal
        if not was and now:
            c.error(tpath, f"'{source}' is a running state, '{target}' a terminal one: cases would close by migration")
            continue
        if was and not now:
            c.error(tpath, f"'{source}' is terminal, '{target}' is not: closed cases would reopen")
            continue
        states[source] = StateMap(source, target, policy, tpath)
    for sid, state in old.states.items():
        if not state.terminal and sid not in raw_states:
            c.error("states", f"state '{sid}' of v{old_v} is not mapped: its running cases would have nowhere to go")

    rename: dict[str, str] = {}
    defaults: dict[str, Any] = {}
    data = top.get("data")
    if data is not None:
        d = c.mapping(data, "data", _DATA_KEYS)
        if d is not None:
            old_fields, new_fields = _fields(old), _fields(new)
            raw_rename = d.get("rename") or {}
            if not isinstance(raw_rename, dict):
                c.error("data.rename", f"expected a mapping (old field: new field), got {_kind(raw_rename)}")
                raw_rename = {}
            for o, n in raw_rename.items():
                path = _join("data.rename", str(o))
                if o not in old_fields:
                    c.error(path, f"unknown field '{o}' of v{old_v}{_nearest(o, old_fields)}")
                elif not isinstance(n, str) or n not in new_fields:
                    c.error(path, f"unknown field '{n}' of v{new_v}{_nearest(n, new_fields)}")
                else:
                    rename[o] = n
            raw_defaults = d.get("defaults") or {}
            if not isinstance(raw_defaults, dict):
                c.error("data.defaults", f"expected a mapping (field: value), got {_kind(raw_defaults)}")
                raw_defaults = {}
            for k, v in raw_defaults.items():
                path = _join("data.defaults", str(k))
                if k not in new_fields:
                    c.error(path, f"unknown field '{k}' of v{new_v}{_nearest(k, new_fields)}")
                elif v is None or isinstance(v, (dict, list)):
                    c.error(path, f"expected a plain value (text, number, date), got {_kind(v)}")
                else:
                    defaults[str(k)] = v.isoformat() if hasattr(v, "isoformat") else v

    # a field the new version needs where cases land, that old cases never hold and nothing fills
    provided = set(_fields(old)) - set(rename) | set(rename.values()) | set(defaults)
    for sm in states.values():
        if new.states[sm.target].terminal:
            continue
        for name, why in required_fields(new, sm.target).items():
            if name not in provided:
                c.error(
                    sm.path,
                    f"cases land in '{sm.target}', where v{new_v} needs field '{name}' ({why}), which v{old_v} never "
                    f"records: give it a value under data.defaults or data.rename",
                )
    if c.failed:
        return None, c.problems
    return (
        Migration(
            def_id,
            old_v,
            new_v,
            MappingProxyType(states),
            MappingProxyType(rename),
            MappingProxyType(defaults),
            file,
        ),
        c.problems,
    )
