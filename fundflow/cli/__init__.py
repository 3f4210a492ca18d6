"""The ``fundflow`` command: one module per command group, one wrapper for the services.

Every command that needs the database opens it through ``common.services()``, which closes it
whatever happens and turns a fundflow error into ``code: message`` (Chinese) and exit code 2.
The domain commands (validate, diagram, workdays) import no database code.
"""

from __future__ import annotations

import typer

from fundflow.cli import (
    alerts,
    backup,
    db,
    definitions,
    delivery,
    ledger,
    migrate,
    organisations,
    serve,
    users,
    workdays,
)
from fundflow.cli.audit import audit_app

__all__ = ["app"]

app = typer.Typer(
    help="fundflow：住宅小区重大火灾隐患维修资金应急使用流程引擎", no_args_is_help=True, add_completion=False
)
app.command()(definitions.validate)
app.command()(definitions.diagram)
app.add_typer(workdays.app, name="workdays")
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="user")
app.add_typer(organisations.app, name="org")
app.add_typer(ledger.app, name="ledger")
app.command()(serve.serve)
app.command()(serve.demo)
app.add_typer(alerts.calendar_app, name="calendar")
app.command()(alerts.scan)
app.command()(serve.scheduler)
app.add_typer(delivery.channel_app, name="channel")
app.command()(delivery.deliver)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.add_typer(audit_app, name="audit")
app.add_typer(migrate.app, name="migrate")

if __name__ == "__main__":  # pragma: no cover
    app()
