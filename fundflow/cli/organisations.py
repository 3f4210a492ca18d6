"""``fundflow org``: organisations of the kinds the definitions declare (``organisations:``)."""

from __future__ import annotations

from typing import Annotated

import typer

from fundflow.cli.common import now, services

app = typer.Typer(help="单位（市直部门、热线中心等，类型由流程定义声明）", no_args_is_help=True)


@app.command("add")
def org_add(
    code: Annotated[str, typer.Argument(help="单位编码，如 JYJ")],
    name: Annotated[str, typer.Argument(help="单位名称，如 市教育局")],
    kind: Annotated[str, typer.Option("--kind", help="单位类型，如 department（见流程定义 organisations）")],
) -> None:
    """Add an organisation; users join it with ``fundflow user add --org CODE``."""
    from fundflow.service.usecases.organisations import add_organisation

    with services() as svc:
        row = add_organisation(svc, kind=kind, code=code, name=name, now=now())
    typer.echo(f"organisation {row['code']} {row['name']} ({row['kind']}) id {row['id']}")


@app.command("list")
def org_list(kind: Annotated[str | None, typer.Option("--kind", help="只列某一类型")] = None) -> None:
    from fundflow.service.usecases.organisations import list_organisations

    with services() as svc:
        for row in list_organisations(svc, kind):
            typer.echo(f"{row['id']}\t{row['code']}\t{row['name']}\t{row['kind']}")
