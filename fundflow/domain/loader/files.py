"""The entry points: a text, a file, a directory of definitions -> definitions and problems."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from fundflow.domain.definition import (
    Definition,
)
from fundflow.domain.errors import DefinitionError, Problem, Severity
from fundflow.domain.loader.checker import _Checker
from fundflow.domain.loader.checks import _build
from fundflow.domain.loader.registry import DefinitionRegistry
from fundflow.domain.loader.yaml import _SAFE_LOADER

# -- entry points ----------------------------------------------------------------------


def check_text(text: str, file: str = "<text>") -> tuple[Definition | None, list[Problem]]:
    """Parse and check YAML text; return the definition (None on any error) and all problems."""
    c = _Checker(file)
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        c.error("", f"not valid YAML: {where}{getattr(exc, 'problem', None) or exc}")
        return None, c.problems
    if doc is None:
        c.error("", "the file is empty")
        return None, c.problems
    return _build(c, doc, os.path.basename(file)), c.problems


def check_file(path: str | os.PathLike) -> tuple[Definition | None, list[Problem]]:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return None, [Problem(file, "", f"cannot read: {exc.strerror or exc}")]
    return check_text(text, file)


def load_file(path: str | os.PathLike) -> Definition:
    definition, problems = check_file(path)
    if definition is None:
        raise DefinitionError([p for p in problems if p.severity is Severity.ERROR])
    return definition


def definition_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories to their ``*.yaml``/``*.yml`` files (sorted); keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            out.append(p)
    return out


def check_paths(paths: Iterable[str | os.PathLike]) -> tuple[list[Definition], list[Problem]]:
    """Check every definition file under ``paths`` (directories expanded); a second file
    with the same (id, version) is an error. Returns the good definitions and all problems."""
    problems: list[Problem] = []
    loaded: list[Definition] = []
    seen: dict[tuple[str, int], str] = {}
    for f in definition_files(paths):
        definition, found = check_file(f)
        problems.extend(found)
        if definition is None:
            continue
        if definition.key in seen:
            problems.append(
                Problem(
                    str(f),
                    "version",
                    f"{definition.id} v{definition.version} is also defined in {seen[definition.key]}",
                )
            )
            continue
        seen[definition.key] = str(f)
        loaded.append(definition)
    return loaded, problems


def load_directory(*paths: str | os.PathLike) -> tuple[DefinitionRegistry, list[Problem]]:
    """Load every definition under ``paths``; raise DefinitionError naming every error."""
    loaded, problems = check_paths(paths)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise DefinitionError(errors)
    return DefinitionRegistry(loaded), problems
