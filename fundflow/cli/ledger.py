"""``fundflow ledger``: the households' ledgers (分户账)."""

from __future__ import annotations

import typer

from fundflow.cli.common import services

app = typer.Typer(help="分户账（维修资金明细账）", no_args_is_help=True)


@app.command("verify")
def ledger_verify() -> None:
    """Recompute every household's balance and frozen amount from the journal, every case's paid
    total from its payments and every event's ledger record; name each mismatch; exit 1 on any."""
    from fundflow.service.usecases.ledger import verify_ledgers

    with services() as svc, svc.sessions() as session:
        counts, problems = verify_ledgers(session)
    for p in problems:
        typer.echo(p)
    typer.echo(
        f"{counts['households']} household(s), {counts['entries']} journal entries, {counts['cases']} case(s), "
        f"{counts['events']} event record(s) checked; {len(problems)} mismatch(es)",
        err=True,
    )
    raise typer.Exit(1 if problems else 0)
