"""``fundflow db``: migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from fundflow.cli.common import services

app = typer.Typer(help="数据库迁移", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations to the configured database (FUNDFLOW_DATABASE_URL)."""
    from fundflow.service.migrate import check_current, upgrade

    with services() as svc:
        upgrade(svc.db, revision)
        typer.echo(f"{svc.db.url.render_as_string(hide_password=True)}: at revision {check_current(svc.db)}")
