"""``fundflow scan`` and ``fundflow calendar recompute``: the overdue scan, and the provisional
deadlines once a new year's holidays are published."""

from __future__ import annotations

from typing import Annotated

import typer

from fundflow.cli.common import now, parse_moment, services

calendar_app = typer.Typer(help="工作日历：新年度放假安排公布后重新计算暂定期限", no_args_is_help=True)


def scan(
    at: Annotated[
        str | None, typer.Option("--now", help="扫描时刻（ISO 格式，不带时区按北京时间；默认当前时间）")
    ] = None,
) -> None:
    """Run one overdue scan (stages, and 督办 replies past their deadline); print one line per alert it recorded."""
    from fundflow.service.usecases import alerts, supervision

    moment = parse_moment(at) if at else now()
    with services() as svc:
        result = alerts.scan(svc, moment)
        late = supervision.scan_overdue_replies(svc, moment)
    for line in result.lines():
        typer.echo(line)
    for a in late:
        typer.echo(f"{a['kind']:<10} {a['at']}  {a['title']}")
    typer.echo(
        f"scan at {moment.isoformat()}: {len(result.alerts)} alert(s) recorded from {result.stages} stage(s)"
        + (" (skipped: another scan is running)" if result.skipped else ""),
        err=True,
    )


@calendar_app.command("recompute")
def calendar_recompute() -> None:
    """Recompute provisional deadlines with the calendar as configured now; print each case changed."""
    from sqlmodel import select

    from fundflow.service.tables import Case, Stage
    from fundflow.service.usecases import alerts

    with services() as svc:
        changed = alerts.recompute_provisional(svc, now())
        with svc.sessions() as s:
            rows = (
                s.exec(
                    select(Case, Stage)
                    .join(Stage, Stage.case_id == Case.id)
                    .where(Case.id.in_(changed), Stage.left_at.is_(None))
                    .order_by(Case.id)
                ).all()
                if changed
                else []
            )
    for case, stage in rows:
        kind = "provisional" if stage.provisional else "known"
        typer.echo(f"case {case.id} {case.number} {stage.state}: due {stage.due_date.isoformat()} ({kind})")
    typer.echo(f"{len(changed)} case(s) recomputed", err=True)
