"""Moving running cases from one version of a procedure to the next, as frozen data and pure rules.

A :class:`Migration` is what ``loader.migration`` makes of ``<id>.v<N>.migrate.yaml``: for each
state of the old version the state of the new one a running case lands in, what happens to the
open stage's deadline there (``keep``: the due date as applied; ``recompute``: the new
version's rule, counted from the stage's original entry), and the case-data fields renamed or
given a default. :func:`land` says, for one case, where it lands, its data afterwards, its
deadline and what the new version requires that the case lacks. No clock, no database: the
service passes the case in and writes the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.deadlines import Anchors, StageDeadlines, compute_deadlines
from fundflow.domain.definition import Anchor, DeadlineKind, Definition
from fundflow.domain.guards import REGISTRY, ParamKind

__all__ = [
    "Migration",
    "StateMap",
    "Landing",
    "KEEP",
    "RECOMPUTE",
    "POLICIES",
    "VERSION_EVENTS",
    "land",
    "required_fields",
    "event_versions",
]

KEEP = "keep"  # the open stage keeps the due date it was given under the old version
RECOMPUTE = "recompute"  # the new version's rule, from the stage's original entry
POLICIES = (KEEP, RECOMPUTE)

#: Guard parameters that name a field of the case data already recorded (not the
#: transition's own input): ``at_most: reviewed_amount``, ``than:``, ``of:``.
_DATA_PARAMS = ("at_most", "than", "of")


@dataclass(frozen=True, slots=True)
class StateMap:
    source: str  # the old version's state
    target: str  # the new version's state
    deadline: str = KEEP  # KEEP or RECOMPUTE
    path: str = ""  # YAML path, for messages


@dataclass(frozen=True, slots=True)
class Migration:
    definition_id: str
    from_version: int
    to_version: int
    states: Mapping[str, StateMap]  # old state -> where its cases land
    rename: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # old field -> new field
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # new field -> value
    source: str = "<memory>"

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.definition_id, self.from_version, self.to_version)

    def mapping(self) -> dict[str, str]:
        """old state -> new state, as the ``migrated`` event records it."""
        return {s: m.target for s, m in self.states.items()}

    def migrate_data(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The case data under the new version: renamed fields moved, defaults filled where
        the case has no value (a value the case has is never overwritten)."""
        out = dict(data)
        for old, new in self.rename.items():
            if old in out:
                value = out.pop(old)
                out.setdefault(new, value)
        for name, value in self.defaults.items():
            if out.get(name) is None:
                out[name] = value
        return out


def required_fields(d: Definition, state_id: str) -> dict[str, str]:
    """The case-data fields a case must already hold in ``state_id`` of ``d`` (field -> why, in
    Chinese): its deadline's date field or anchor field, and the recorded amounts the guards of
    its transitions compare against (``at_most``/``than``/``of``)."""
    out: dict[str, str] = {}
    state = d.states[state_id]
    rule = state.deadline
    if rule is not None:
        if rule.kind is DeadlineKind.DATE_FIELD and rule.date_field:
            out[rule.date_field] = f"“{state.label}”的期限按此日期计算"
        if rule.anchor is Anchor.FIELD and rule.anchor_ref:
            out[rule.anchor_ref] = f"“{state.label}”的期限自此日期起算"
    for tr in d.transitions_from(state_id):
        own = {f.name for f in tr.fields}
        for g in tr.guards:
            spec = REGISTRY.get(g.name)
            if spec is None:
                continue
            for key in _DATA_PARAMS:
                value = g.params.get(key)
                p = spec.params.get(key)
                if isinstance(value, str) and p is not None and p.kind is ParamKind.FIELD and value not in own:
                    out.setdefault(value, f"“{tr.label}”须与此字段比较")
    return out


@dataclass(frozen=True, slots=True)
class Landing:
    """Where one running case lands, and what it carries there."""

    source: str
    target: str
    policy: str  # KEEP or RECOMPUTE
    data: Mapping[str, Any]  # the case data under the new version
    renamed: Mapping[str, str]  # the renames that applied to this case
    defaulted: tuple[str, ...]  # the fields given their default
    deadlines: StageDeadlines | None  # RECOMPUTE: the new ones; KEEP: None (the stage keeps its own)
    missing_documents: tuple[str, ...]  # the target state requires them, the case has none valid
    missing_fields: Mapping[str, str]  # field -> why the new version needs it


def land(
    m: Migration,
    new: Definition,
    *,
    state: str,
    data: Mapping[str, Any],
    documents: frozenset[str],
    stage_entered_at: datetime | None,
    calendar: WorkCalendar,
    suspended_working_days: int = 0,
    suspended_days: int = 0,
    anchors: Anchors | None = None,
) -> Landing:
    """One case in ``state`` of the old version, moved by ``m`` onto ``new``."""
    sm = m.states[state]
    after = m.migrate_data(data)
    renamed = {o: n for o, n in m.rename.items() if o in data}
    defaulted = tuple(k for k in m.defaults if data.get(k) is None and after.get(k) == m.defaults[k])
    target = new.states[sm.target]
    deadlines = None
    if sm.deadline == RECOMPUTE and target.deadline is not None and stage_entered_at is not None:
        deadlines = compute_deadlines(
            target.deadline,
            stage_entered_at,
            calendar,
            after,
            suspended_working_days=suspended_working_days,
            suspended_days=suspended_days,
            anchors=anchors,
        )
    missing_docs = tuple(doc for doc in target.documents if doc not in documents)
    missing_fields = {f: why for f, why in required_fields(new, sm.target).items() if after.get(f) is None}
    return Landing(
        state,
        sm.target,
        sm.deadline,
        MappingProxyType(after),
        MappingProxyType(renamed),
        defaulted,
        deadlines,
        missing_docs,
        MappingProxyType(missing_fields),
    )


#: The events that move a case between versions; their data name ``from_version`` and ``to_version``.
VERSION_EVENTS = ("migrated", "migration_reverted")


def event_versions(events: list[tuple[str, Mapping[str, Any]]], current: int) -> list[int]:
    """The version each event of a case was fired under, from its (trigger, data) in order and the
    case's version now: an event before a migration keeps the version it was fired under."""
    out: list[int] = []
    version = current
    for trigger, data in reversed(events):
        if trigger in VERSION_EVENTS and isinstance(data.get("from_version"), int):
            version = data["from_version"]
        out.append(version)
    return out[::-1]
