"""``figures:``: the rates a procedure reports (see fundflow/domain/figures.py), checked with
their paths.

::

    figures:
      resolved:                          # 解决率
        states: [resolved]               # end states that count as resolved
        of: [resolved, explained]        # the denominator (default: every terminal state)
      on_time:                           # 按期办结率
        of: [resolved, explained]        # default: resolved.of
        stages: [handling]               # default: every state with a deadline
      satisfaction:                      # 满意率
        field: satisfaction              # a choice field of a transition
        satisfied: [satisfied, fairly_satisfied]   # its choices' values

Each may carry ``label`` and ``description``; without them the page states a definition made
from the states' and choices' own labels.
"""

from __future__ import annotations

from typing import Any

from fundflow.domain.definition import FieldSpec, FieldType, State
from fundflow.domain.figures import ON_TIME, RATE_KINDS, RESOLVED, SATISFACTION, Figures, Rate
from fundflow.domain.loader.checker import _Checker, _join, _kind, _nearest

__all__ = ["parse_figures"]

_KEYS = {
    RESOLVED: ("label", "description", "states", "of"),
    ON_TIME: ("label", "description", "of", "stages"),
    SATISFACTION: ("label", "description", "field", "satisfied"),
}
_LABELS = {RESOLVED: "解决率", ON_TIME: "按期办结率", SATISFACTION: "满意率"}


def parse_figures(c: _Checker, raw: Any, states: dict[str, State], fields: dict[str, FieldSpec]) -> Figures | None:
    m = c.mapping(raw, "figures", RATE_KINDS)
    if m is None:
        return None
    terminal = {sid: st for sid, st in states.items() if st.terminal}
    resolved = _resolved(c, m[RESOLVED], states, terminal) if RESOLVED in m else None
    on_time = _on_time(c, m[ON_TIME], states, terminal, resolved) if ON_TIME in m else None
    satisfaction = _satisfaction(c, m[SATISFACTION], fields) if SATISFACTION in m else None
    if not m:
        c.error("figures", f"declare at least one of {', '.join(RATE_KINDS)}, or remove figures")
    return Figures(resolved, on_time, satisfaction)


def _words(c: _Checker, m: dict, path: str, kind: str, default: str) -> tuple[str, str]:
    label = c.text(m, "label", path, required=False) or _LABELS[kind]
    description = c.text(m, "description", path, required=False) or default
    return label, description


def _end_states(c: _Checker, raw: Any, path: str, states: dict[str, State], terminal: dict[str, State]) -> frozenset:
    names = c.names(raw, path, states, "state")
    for i, sid in enumerate(names):
        if sid not in terminal:
            c.error(
                f"{path}[{i}]" if isinstance(raw, list) else path,
                f"'{sid}' is not terminal: a rate counts the cases that ended{_nearest(sid, terminal)}",
            )
    return frozenset(n for n in names if n in terminal)


def _label_list(ids, states: dict[str, State]) -> str:
    return "、".join(f"“{states[s].label}”" for s in states if s in ids)


def _resolved(c: _Checker, raw: Any, states: dict[str, State], terminal: dict[str, State]) -> Rate | None:
    path = f"figures.{RESOLVED}"
    m = c.mapping(raw, path, _KEYS[RESOLVED])
    if m is None:
        return None
    if not m.get("states"):
        c.error(_join(path, "states"), "name the end states that count as resolved")
        return None
    counted = _end_states(c, m["states"], _join(path, "states"), states, terminal)
    of = _end_states(c, m["of"], _join(path, "of"), states, terminal) if "of" in m else frozenset(terminal)
    outside = sorted(counted - of)
    if outside:
        c.error(_join(path, "of"), f"'{outside[0]}' counts as resolved but is not in of: the rate could exceed 100%")
    label, description = _words(
        c,
        m,
        path,
        RESOLVED,
        f"办结为{_label_list(counted, states)}的件数 ÷ 办结为{_label_list(of, states)}的件数",
    )
    return Rate(RESOLVED, label, description, states=counted, of=of)


def _on_time(
    c: _Checker, raw: Any, states: dict[str, State], terminal: dict[str, State], resolved: Rate | None
) -> Rate | None:
    path = f"figures.{ON_TIME}"
    m = c.mapping(raw, path, _KEYS[ON_TIME])
    if m is None:
        return None
    if "of" in m:
        of = _end_states(c, m["of"], _join(path, "of"), states, terminal)
    else:
        of = resolved.of if resolved is not None else frozenset(terminal)
    timed = {sid for sid, st in states.items() if st.deadline is not None}
    if "stages" in m:
        stages = frozenset(c.names(m["stages"], _join(path, "stages"), states, "state"))
        for sid in sorted(stages - timed):
            c.error(_join(path, "stages"), f"state '{sid}' has no deadline: it cannot be on time or late")
    else:
        stages = frozenset(timed)
    if not stages:
        c.error(_join(path, "stages"), "no state has a deadline: nothing can be on time")
    label, description = _words(
        c,
        m,
        path,
        ON_TIME,
        f"办结为{_label_list(of, states)}的案件中，"
        f"{_label_list(stages, states) + '环节' if 'stages' in m else '有办理期限的各环节'}均在期限内完成的比例"
        "（期限按工作日计；批准延期的，按延长后的期限）",
    )
    return Rate(ON_TIME, label, description, of=of, stages=stages)


def _satisfaction(c: _Checker, raw: Any, fields: dict[str, FieldSpec]) -> Rate | None:
    path = f"figures.{SATISFACTION}"
    m = c.mapping(raw, path, _KEYS[SATISFACTION])
    if m is None:
        return None
    name = c.ident(m, "field", path)
    spec = fields.get(name) if name else None
    if name and spec is None:
        c.error(_join(path, "field"), f"unknown field '{name}'{_nearest(name, fields)}: no transition declares it")
        return None
    if spec is not None and spec.type is not FieldType.CHOICE:
        c.error(_join(path, "field"), f"field '{name}' is {spec.type.value}, not a choice")
        return None
    answers = c.seq(m.get("satisfied"), _join(path, "satisfied"))
    if not answers:
        c.error(_join(path, "satisfied"), "name the answers that count as satisfied")
    good = []
    for i, a in enumerate(answers):
        if spec is not None and a not in spec.choices:
            shown = a if isinstance(a, str) else _kind(a)
            c.error(
                f"{_join(path, 'satisfied')}[{i}]",
                f"'{shown}' is not a choice of '{name}'{_nearest(shown, spec.choices)} (choices: {', '.join(spec.choices)})",
            )
        else:
            good.append(a)
    if spec is None or c.failed:
        return None
    label, description = _words(
        c,
        m,
        path,
        SATISFACTION,
        f"“{spec.label}”为{'、'.join(f'“{spec.choice_labels.get(a, a)}”' for a in good)}的件数 ÷ 有“{spec.label}”的件数"
        "（重办后再次回访的，按最后一次）",
    )
    return Rate(SATISFACTION, label, description, field=name, satisfied=tuple(good))
