"""YAML -> :class:`Definition`, checked.

The package: ``yaml`` (the safe reader), ``checker`` (paths and problems), ``shapes`` (each
part's shape), ``checks`` (the whole, cross-checked), ``registry`` (all definitions),
``files`` (the entry points, re-exported here).

Every problem names the file, the YAML path (``states[4].deadline.working_days``) and, for an
unknown name, the nearest valid one. ``check_file`` collects all problems of a file instead
of stopping at the first; ``load_file`` raises :class:`DefinitionError` when any of them is an
error. Warnings (a non-terminal state without a deadline, a transition nobody may fire) do
not stop loading.

The format is documented by example in ``fundflow/definitions/README.md``.
"""

from fundflow.domain.loader.files import (
    check_file,
    check_migrations,
    check_paths,
    check_text,
    definition_files,
    load_directory,
    load_file,
    migration_files,
)
from fundflow.domain.loader.registry import DefinitionRegistry

__all__ = [
    "check_file",
    "check_text",
    "check_paths",
    "definition_files",
    "load_file",
    "load_directory",
    "DefinitionRegistry",
    "check_migrations",
    "migration_files",
]
