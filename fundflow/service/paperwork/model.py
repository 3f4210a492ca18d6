"""A generated document as data: its title, paragraphs, tables and signature lines, rendered the
same way as Word and as PDF. Deterministic: the same data gives the same bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Paper", "Table"]


@dataclass(frozen=True)
class Table:
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None = None  # the last, bold row (合计)
    numeric: frozenset[int] = frozenset()  # columns aligned right


@dataclass(frozen=True)
class Paper:
    title: str
    subtitle: str = ""
    before: tuple[str, ...] = ()  # paragraphs before the table
    table: Table | None = None
    after: tuple[str, ...] = ()  # paragraphs after it
    signature: tuple[str, ...] = ()  # right-aligned lines at the end (unit, date)
    meta: dict[str, str] = field(default_factory=dict)  # author, subject: the file's properties
