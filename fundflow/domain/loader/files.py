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
from fundflow.domain.loader.migration import check_migration_text, is_migration_file
from fundflow.domain.loader.registry import DefinitionRegistry
from fundflow.domain.loader.yaml import _SAFE_LOADER
from fundflow.domain.migration import Migration

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
    """Expand directories to their ``*.yaml``/``*.yml`` files (sorted); keep files as given.
    Migration declarations (``*.migrate.yaml``) are not definitions: see ``migration_files``."""
    return [p for p in _yaml_files(paths) if not is_migration_file(p.name)]


def migration_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The ``<id>.v<N>.migrate.yaml`` files under ``paths``."""
    return [p for p in _yaml_files(paths) if is_migration_file(p.name)]


def _yaml_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            out.append(p)
    return out


def check_migrations(
    paths: Iterable[str | os.PathLike], definitions: Iterable[Definition]
) -> tuple[list[Migration], list[Problem]]:
    """Check every migration declaration under ``paths`` against the loaded ``definitions``."""
    by_key = {d.key: d for d in definitions}
    out: list[Migration] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, int, int], str] = {}
    for f in migration_files(paths):
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(f), "", f"cannot read: {exc}"))
            continue
        migration, found = check_migration_text(text, str(f), lambda i, v: by_key.get((i, v)))
        problems.extend(found)
        if migration is None:
            continue
        if migration.key in seen:
            problems.append(Problem(str(f), "", f"this migration is also declared in {seen[migration.key]}"))
            continue
        seen[migration.key] = str(f)
        out.append(migration)
    return out, problems


def check_paths(paths: Iterable[str | os.PathLike]) -> tuple[list[Definition], list[Problem]]:
    """Check every definition file under ``paths`` (directories expanded); a second file
    with the same (id, version) is an error. Returns the good definitions and all problems
    (those of the migration declarations beside them included)."""
    loaded, problems = _check_definitions(paths)
    _, found = check_migrations(paths, loaded)
    return loaded, problems + found


def _check_definitions(paths: Iterable[str | os.PathLike]) -> tuple[list[Definition], list[Problem]]:
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


def load_directory(
    *paths: str | os.PathLike, current: dict[str, int] | None = None
) -> tuple[DefinitionRegistry, list[Problem]]:
    """Load every definition and migration under ``paths``; raise DefinitionError naming every
    error. ``current``: the version new cases of a procedure take, overriding the files."""
    loaded, problems = _check_definitions(paths)
    migrations, found = check_migrations(paths, loaded)
    problems += found
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise DefinitionError(errors)
    return DefinitionRegistry(loaded, migrations=migrations, current=current), problems
