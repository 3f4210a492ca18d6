"""The shape checker: walks the parsed YAML and collects every problem with its path; the
keys each part may have."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fundflow.domain.errors import Problem, Severity

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
    "open_form",
    "documents",
    "initial",
    "states",
    "transitions",
    "suspension",
    "current",
    "handoffs",
    "records",
    "figures",
    "organisations",
    "subject",
)
_STATE_KEYS = ("id", "label", "responsible", "terminal", "documents", "deadline", "outcome", "description")
_DEADLINE_KEYS = ("working_days", "calendar_days", "date_field", "from", "warn_before_working_days", "escalate")
_ANCHOR_KEYS = ("act", "field")
_DOCUMENT_KEYS = ("label", "roles")
_ROLE_KEYS = ("label", "level", "kind")
_OPEN_FORM_KEYS = ("label", "categories", "title", "intro", "category_label", "description_label", "fields")
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
_FIELD_KEYS = ("name", "type", "label", "required", "choices", "money", "kind")
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
        #: the organisation kinds the file declares (``organisations:``), once parsed
        self.org_kinds: Mapping[str, Any] = {}

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
