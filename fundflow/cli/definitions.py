"""``fundflow validate`` and ``fundflow diagram``: the procedure definitions, no database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fundflow.cli.common import DEFAULT_DEFINITIONS, DefinitionsDir, fail, guarded, load_settings


def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="定义文件或目录（默认 fundflow/definitions/）")] = None,
) -> None:
    """Check definitions; print FILE:YAML_PATH: message per problem; exit 1 on any error."""
    from fundflow.domain.errors import Severity
    from fundflow.domain.loader import check_paths, definition_files, migration_files

    targets = paths or [load_settings().definitions_dir]
    missing = [p for p in targets if not p.exists()]
    if missing:
        fail("找不到：" + "、".join(map(str, missing)))
    files = definition_files(targets) + migration_files(targets)
    if not files:
        fail("没有找到流程定义文件（*.yaml）")
    _, problems = check_paths(files)
    errors = 0
    for p in problems:
        typer.echo(str(p))
        errors += p.severity is Severity.ERROR
    typer.echo(f"{len(files)} file(s) checked, {errors} error(s)", err=True)
    raise typer.Exit(1 if errors else 0)


def diagram(
    definition_id: Annotated[str, typer.Argument(metavar="ID", help="流程定义 id")],
    version: Annotated[int | None, typer.Option("--version", help="版本（默认最新）")] = None,
    definitions: DefinitionsDir = DEFAULT_DEFINITIONS,
) -> None:
    """Print the procedure as a Mermaid stateDiagram-v2."""
    from fundflow.domain.diagram import to_mermaid
    from fundflow.domain.loader import load_directory

    with guarded():
        registry, _ = load_directory(definitions)
        typer.echo(to_mermaid(registry.get(definition_id, version)), nl=False)
