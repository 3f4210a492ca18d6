"""The ``fundflow`` command."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from workflow.calendar import WorkCalendar
from workflow.diagram import to_mermaid
from workflow.errors import CalendarError, DefinitionError, Severity, UnknownDefinition
from workflow.loader import check_paths, definition_files, load_directory

app = typer.Typer(help="fundflow：住宅小区重大火灾隐患维修资金应急使用流程引擎", no_args_is_help=True, add_completion=False)
workdays_app = typer.Typer(help="工作日计算（含法定节假日与调休）", no_args_is_help=True)
app.add_typer(workdays_app, name="workdays")

DefinitionsDir = Annotated[Path, typer.Option("--definitions", envvar="FUNDFLOW_DEFINITIONS_DIR", help="流程定义目录")]
OverridesFile = Annotated[Path, typer.Option("--calendar-overrides", envvar="FUNDFLOW_CALENDAR_OVERRIDES", help="工作日历补充文件")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _calendar(path: Path) -> WorkCalendar:
    try:
        return WorkCalendar.from_file(path)
    except CalendarError as exc:
        _fail(str(exc))
        raise  # unreachable


def _parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        _fail(f"日期格式不正确：{raw!r}，应为 YYYY-MM-DD")
        raise


@app.command()
def validate(paths: Annotated[Optional[list[Path]], typer.Argument(help="定义文件或目录（默认 definitions/）")] = None) -> None:
    """Check definitions; print FILE:YAML_PATH: message per problem; exit 1 on any error."""
    targets = paths or [Path("definitions")]
    missing = [p for p in targets if not p.exists()]
    if missing:
        _fail("找不到：" + "、".join(map(str, missing)))
    files = definition_files(targets)
    if not files:
        _fail("没有找到流程定义文件（*.yaml）")
    _, problems = check_paths(files)
    errors = 0
    for p in problems:
        typer.echo(str(p))
        errors += p.severity is Severity.ERROR
    typer.echo(f"{len(files)} file(s) checked, {errors} error(s)", err=True)
    raise typer.Exit(1 if errors else 0)


@app.command()
def diagram(
    definition_id: Annotated[str, typer.Argument(metavar="ID", help="流程定义 id")],
    version: Annotated[Optional[int], typer.Option("--version", help="版本（默认最新）")] = None,
    definitions: DefinitionsDir = Path("definitions"),
) -> None:
    """Print the procedure as a Mermaid stateDiagram-v2."""
    try:
        registry, _ = load_directory(definitions)
        typer.echo(to_mermaid(registry.get(definition_id, version)), nl=False)
    except (DefinitionError, UnknownDefinition) as exc:
        _fail(str(exc))


@workdays_app.command("add")
def workdays_add(
    start: Annotated[str, typer.Argument(metavar="DATE")],
    n: Annotated[int, typer.Argument(metavar="N")],
    overrides: OverridesFile = Path("calendars/overrides.yaml"),
) -> None:
    """Print the date N working days after DATE (N < 0: before)."""
    cal = _calendar(overrides)
    result = cal.add_workdays(_parse_date(start), n)
    suffix = "  provisional（该年度放假安排尚未公布，按周一至周五推算）" if result.provisional else ""
    typer.echo(f"{result.date.isoformat()}{suffix}")


@workdays_app.command("between")
def workdays_between(
    a: Annotated[str, typer.Argument(metavar="A")],
    b: Annotated[str, typer.Argument(metavar="B")],
    overrides: OverridesFile = Path("calendars/overrides.yaml"),
) -> None:
    """Print the number of working days after A up to and including B."""
    cal = _calendar(overrides)
    result = cal.workdays_between(_parse_date(a), _parse_date(b))
    suffix = "  provisional（含尚未公布放假安排的年度）" if result.provisional else ""
    typer.echo(f"{result.count}{suffix}")


if __name__ == "__main__":  # pragma: no cover
    app()
