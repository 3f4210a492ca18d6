"""``fundflow migrate plan|apply|revert``: running cases moved onto a new version of their
procedure (``fundflow.service.usecases.migration``). Not to be confused with ``fundflow db
upgrade``, which migrates the database schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fundflow.cli.common import fail, now, services

app = typer.Typer(help="流程版本迁移：把在办案件迁移到流程的新版本（预览、执行、撤销）", no_args_is_help=True)

FromV = Annotated[int, typer.Option("--from", help="原版本")]
ToV = Annotated[int, typer.Option("--to", help="新版本")]


def _case_ids(raw: str) -> list[int] | None:
    if raw.strip().lower() == "all":
        return None
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        fail(f"--cases 应为 all 或以逗号分隔的案件 id，如 12,15：{raw!r}")


@app.command("plan")
def plan(
    definition_id: Annotated[str, typer.Argument(metavar="ID", help="流程定义 id")],
    from_version: FromV,
    to_version: ToV,
    cases: Annotated[str, typer.Option("--cases", help="all 或案件 id 列表 N,M")] = "all",
    out: Annotated[Path | None, typer.Option("--out", help="把计划写入 JSON 文件（供 apply --plan 核对）")] = None,
) -> None:
    """Dry run: where every running case lands, which deadline changes, what it lacks. Writes nothing."""
    from fundflow.service.usecases import migration

    with services() as svc:
        p = migration.plan(svc, definition_id, from_version, to_version, cases=_case_ids(cases))
    for c in p["cases"]:
        d = c["deadline"]
        due = f"due {d['due_before']} -> {d['due_after']} ({d['policy']})" if d["changed"] else f"due {d['due_after']}"
        lacks = [x["type"] for x in c["missing_documents"]] + [x["field"] for x in c["missing_fields"]]
        typer.echo(
            f"{c['number']} (id {c['id']}, v{c['version']}): {c['from_state']} -> {c['to_state']}; {due}"
            + (f"; lacks {', '.join(lacks)}" if lacks else "")
        )
    for s in p["summary"]:
        typer.echo(f"  {s['state']} {s['label']}: {s['cases']}")
    typer.echo(f"{p['total']} running case(s) would move from v{from_version} to v{to_version}", err=True)
    if out is not None:
        out.write_text(json.dumps(p, ensure_ascii=False, indent=1), encoding="utf-8")


@app.command("apply")
def apply(
    definition_id: Annotated[str, typer.Argument(metavar="ID", help="流程定义 id")],
    from_version: FromV,
    to_version: ToV,
    cases: Annotated[str, typer.Option("--cases", help="all 或案件 id 列表 N,M")] = "all",
    batch: Annotated[int, typer.Option("--batch", min=1, help="每次读取的案件数（每个案件一个事务）")] = 500,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="PostgreSQL：并行线程数")] = 1,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="plan --out 写下的计划：此后有变化的案件不迁移")
    ] = None,
) -> None:
    """Move the running cases, each in a transaction of its own; a rerun resumes an unfinished batch."""
    from fundflow.service.usecases import migration

    expected = None
    if plan_file is not None:
        try:
            expected = {
                int(k): int(v) for k, v in json.loads(plan_file.read_text(encoding="utf-8"))["versions"].items()
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"无法读取计划文件 {plan_file}：{exc}")
    with services() as svc:
        r = migration.apply(
            svc,
            None,
            definition_id,
            from_version,
            to_version,
            now=now(),
            cases=_case_ids(cases),
            expected=expected,
            batch_size=batch,
            workers=workers,
        )
    if r["batch"] is None:
        typer.echo(f"no running case of {definition_id} v{from_version} to move", err=True)
        return
    for s in r["stale"]:
        typer.echo(f"not moved: {s['number']} (id {s['id']}): {s['reason']}")
    typer.echo(
        f"batch {r['batch']}{' (resumed)' if r['resumed'] else ''}: {r['migrated']} of {r['total']} case(s) moved "
        f"to v{to_version}, {len(r['stale'])} not moved",
        err=True,
    )


@app.command("revert")
def revert(batch: Annotated[int, typer.Argument(metavar="BATCH", help="迁移批次号")]) -> None:
    """Move back the cases of a batch that have not been advanced since."""
    from fundflow.service.usecases import migration

    with services() as svc:
        r = migration.revert(svc, None, batch, now=now())
    for k in r["kept"]:
        typer.echo(f"kept: {k['number']} (id {k['id']}): {k['reason']}")
    typer.echo(
        f"batch {r['batch']}: {r['reverted']} case(s) moved back to v{r['from_version']}, {len(r['kept'])} kept",
        err=True,
    )
