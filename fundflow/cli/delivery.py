"""``fundflow channel`` and ``fundflow deliver``: where alerts go, and one pass over the outbox."""

from __future__ import annotations

from typing import Annotated

import typer

from fundflow.cli.common import now, parse_moment, services

channel_app = typer.Typer(help="提醒渠道（Webhook、企业微信、钉钉、邮件）", no_args_is_help=True)


@channel_app.command("add")
def channel_add(
    kind: Annotated[
        str, typer.Option("--kind", help="webhook、wecom（企业微信群机器人）、dingtalk（钉钉群机器人）或 email")
    ],
    target: Annotated[str, typer.Option("--target", help="机器人或 Webhook 地址；email 为逗号分隔的邮箱")],
    role: Annotated[str | None, typer.Option("--role", help="只接收发给该角色的提醒（默认全部）")] = None,
    name: Annotated[str | None, typer.Option("--name", help="渠道名称（默认为类型）")] = None,
    org_level: Annotated[str, typer.Option("--org-level", help="city、district、street_office 或 community")] = "city",
    org_id: Annotated[
        int | None, typer.Option("--org-id", help="区、街道或小区的 id（org-level 非 city 时必填）")
    ] = None,
) -> None:
    """Add a channel alerts are delivered to; alerts recorded from now on get a delivery to it."""
    from fundflow.service.usecases.alerts import add_channel

    with services() as svc:
        ch = add_channel(
            svc,
            None,
            name=name or kind,
            kind=kind,
            target=target,
            role=role,
            org_level=org_level,
            org_id=org_id,
            now=now(),
        )
    scope = ch["org_level"] + (f" {ch['org_id']}" if ch["org_id"] is not None else "")
    typer.echo(f"channel {ch['id']} {ch['name']} ({ch['kind']}, role {ch['role'] or 'any'}, {scope})")


def deliver(
    at: Annotated[
        str | None, typer.Option("--now", help="投递时刻（ISO 格式，不带时区按北京时间；默认当前时间）")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="本次最多投递条数")] = 100,
) -> None:
    """Run one delivery pass over the outbox; print each delivery sent or failed."""
    from fundflow.service.usecases.delivery import deliver_pending

    moment = parse_moment(at) if at else now()
    with services() as svc:
        report = deliver_pending(svc, moment, limit=limit)
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"deliver at {moment.isoformat()}: {report.summary()}", err=True)
