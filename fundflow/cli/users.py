"""``fundflow user``: accounts and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from fundflow.cli.common import now, services

app = typer.Typer(help="用户与令牌", no_args_is_help=True)


@app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="用户名")],
    role: Annotated[str, typer.Option("--role", help="角色，如 street_office、fund_center")],
    org: Annotated[str | None, typer.Option("--org", help="机构编码：区、街道或小区编码；市级角色可省略")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="显示名称")] = None,
    password: Annotated[str | None, typer.Option("--password", help="登录密码（可省略，仅发 API 令牌）")] = None,
) -> None:
    """Create a user and print an API token (shown once)."""
    from fundflow.service.usecases.users import add_user

    with services() as svc:
        user, token = add_user(
            svc, username=name, display_name=display_name or name, role=role, org=org, password=password, now=now()
        )
    typer.echo(f"user {user.username} ({user.role}, {user.org_name}) token: {token}")


@app.command("token")
def user_token(name: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Issue a further API token for NAME (shown once; valid FUNDFLOW_API_TOKEN_DAYS days)."""
    from fundflow.service.usecases.users import new_api_token

    with services() as svc:
        token = new_api_token(svc, name, now())
    typer.echo(f"user {name} token: {token}")


@app.command("revoke-token")
def user_revoke_token(name: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Revoke every API token and login session of NAME; they stop working at once."""
    from fundflow.service.usecases.users import revoke_tokens

    with services() as svc:
        n = revoke_tokens(svc, name)
    typer.echo(f"user {name}: {n} token(s) revoked")


@app.command("deactivate")
def user_deactivate(name: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Deactivate NAME: no more logins; every token and session stops at once."""
    from fundflow.service.usecases.users import deactivate

    with services() as svc:
        n = deactivate(svc, name)
    typer.echo(f"user {name}: deactivated, {n} token(s) revoked")
