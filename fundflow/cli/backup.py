"""``fundflow backup`` and ``fundflow restore``: the database and the documents, together."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fundflow.cli.common import fail, guarded, load_settings


def backup(path: Annotated[Path, typer.Argument(metavar="PATH", help="新的备份目录（不存在或为空）")]) -> None:
    """Back up the database (online, consistent) and the documents into the directory PATH."""
    from fundflow.service import backup as backups

    with guarded():
        report = backups.backup(load_settings(), path)
    for line in report.lines():
        typer.echo(line)


def restore(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="fundflow backup 生成的备份目录")],
    yes: Annotated[bool, typer.Option("--yes", help="目标数据库不为空时也覆盖")] = False,
) -> None:
    """Restore a backup into the configured database and documents folder; verify it (stop the service first)."""
    from fundflow.service import backup as backups

    with guarded():
        report = backups.restore(load_settings(), path, force=yes)
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        fail("restore_check_failed: 恢复后的校验未通过（见上）", 1)
