"""Who takes part and what a case is about: the organisation kinds (``organisations:``) and the
case's subject (``subject:``), each checked with its path."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from fundflow.domain.definition import SEES, SUBJECT_KINDS, OrganisationKind, Subject
from fundflow.domain.loader.checker import _IDENT, _Checker, _join, _kind, _nearest

__all__ = ["parse_organisation_kinds", "parse_subject", "SUBJECT_LABELS"]

_KIND_KEYS = ("label", "sees")
_SUBJECT_KEYS = ("kind", "label")

#: The default label of each subject kind (the page's heading for it)
SUBJECT_LABELS = {"community": "小区", "organisation": "单位", "place": "地点", "person": "当事人", "none": ""}


def parse_organisation_kinds(c: _Checker, value: Any) -> MappingProxyType:
    """``organisations``: kind id -> {label, sees}; ``sees: handled`` (default) the cases an
    organisation of the kind is or was responsible for, ``sees: all`` every case."""
    out: dict[str, OrganisationKind] = {}
    if not isinstance(value, dict):
        c.error("organisations", f"expected a mapping of organisation kind id to {{label, sees}}, got {_kind(value)}")
        return MappingProxyType(out)
    for key, raw in value.items():
        path = _join("organisations", str(key))
        if not isinstance(key, str) or not _IDENT.match(key):
            c.error(path, f"'{key}' is not a valid organisation kind id (lowercase letters, digits, _)")
            continue
        m = c.mapping(raw, path, _KIND_KEYS)
        if m is None:
            continue
        label = c.text(m, "label", path)
        sees = m.get("sees", "handled")
        if sees not in SEES:
            c.error(_join(path, "sees"), f"unknown '{sees}'{_nearest(sees, SEES)}: one of {', '.join(SEES)}")
            continue
        if label:
            out[key] = OrganisationKind(key, label, sees)
    return MappingProxyType(out)


def parse_subject(c: _Checker, value: Any) -> Subject:
    """``subject``: ``{kind, label}`` or a kind alone; ``community`` when absent."""
    if isinstance(value, str):
        value = {"kind": value}
    m = c.mapping(value, "subject", _SUBJECT_KEYS)
    if m is None:
        return Subject()
    kind = m.get("kind", "community")
    if kind not in SUBJECT_KINDS:
        c.error(
            "subject.kind",
            f"unknown subject kind '{kind}'{_nearest(kind, SUBJECT_KINDS)}: one of {', '.join(SUBJECT_KINDS)}",
        )
        return Subject()
    label = c.text(m, "label", "subject", required=False) or SUBJECT_LABELS[kind]
    return Subject(kind, label)
