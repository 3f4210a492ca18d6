"""``fundflow workdays``: working-day arithmetic on the official calendar, no database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fundflow.cli.common import DEFAULT_OVERRIDES, OverridesFile, guarded, parse_date

app = typer.Typer(help="工作日计算（含法定节假日与调休）", no_args_is_help=True)


def _calendar(path: Path):
    from fundflow.domain.calendar import WorkCalendar

    with guarded():
        return WorkCalendar.from_file(path)


@app.command("add")
def workdays_add(
    start: Annotated[str, typer.Argument(metavar="DATE")],
    n: Annotated[int, typer.Argument(metavar="N")],
    overrides: OverridesFile = DEFAULT_OVERRIDES,
) -> None:
    """Print the date N working days after DATE (N < 0: before)."""
    cal = _calendar(overrides)
    result = cal.add_workdays(parse_date(start), n)
    suffix = "  provisional（该年度放假安排尚未公布，按法定节日规则推算，不含调休）" if result.provisional else ""
    typer.echo(f"{result.date.isoformat()}{suffix}")


@app.command("between")
def workdays_between(
    a: Annotated[str, typer.Argument(metavar="A")],
    b: Annotated[str, typer.Argument(metavar="B")],
    overrides: OverridesFile = DEFAULT_OVERRIDES,
) -> None:
    """Print the number of working days after A up to and including B."""
    cal = _calendar(overrides)
    result = cal.workdays_between(parse_date(a), parse_date(b))
    suffix = "  provisional（含尚未公布放假安排的年度）" if result.provisional else ""
    typer.echo(f"{result.count}{suffix}")
