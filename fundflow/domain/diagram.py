"""Definition -> Mermaid ``stateDiagram-v2`` with the Chinese labels."""

from __future__ import annotations

from fundflow.domain.definition import Definition

__all__ = ["to_mermaid"]


def _text(label: str) -> str:
    # Mermaid ends a transition label at a newline and treats ':' and quotes specially.
    return label.replace('"', "'").replace(":", "：").replace("\n", " ")


def to_mermaid(definition: Definition) -> str:
    lines = [
        "---",
        f"title: {_text(definition.title)}（v{definition.version}）",
        "---",
        "stateDiagram-v2",
    ]
    for state in definition.states.values():
        lines.append(f'    state "{_text(state.label)}" as {state.id}')
    lines.append(f"    [*] --> {definition.initial}")
    in_place: dict[str, list[str]] = {}
    for tr in definition.transitions:
        for src in tr.sources:
            if tr.dest is None:
                in_place.setdefault(src, []).append(_text(tr.label))
            else:
                lines.append(f"    {src} --> {tr.dest}: {_text(tr.label)}")
    for state in definition.states.values():
        if state.terminal:
            lines.append(f"    {state.id} --> [*]")
    for src, labels in in_place.items():
        lines.append(f"    note right of {src}: {'；'.join(labels)}")
    if definition.suspension is not None:
        lines.append(f"    note left of {definition.initial}: 办结前任一环节可挂起、恢复（挂起期间停止计时）")
    return "\n".join(lines) + "\n"
