"""What every command shares: the one wrapper that opens the services, closes them, and turns a
fundflow error into its Chinese message and exit code 2; and the argument parsers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from fundflow.service.config import CALENDAR_FILE, DEFINITIONS_DIR

if TYPE_CHECKING:
    from fundflow.service.config import Settings
    from fundflow.service.context import Services

__all__ = [
    "DefinitionsDir",
    "OverridesFile",
    "fail",
    "guarded",
    "services",
    "load_settings",
    "now",
    "parse_date",
    "parse_moment",
]

DefinitionsDir = Annotated[Path, typer.Option("--definitions", envvar="FUNDFLOW_DEFINITIONS_DIR", help="流程定义目录")]
OverridesFile = Annotated[
    Path, typer.Option("--calendar-overrides", envvar="FUNDFLOW_CALENDAR_OVERRIDES", help="工作日历补充文件")
]
DEFAULT_DEFINITIONS, DEFAULT_OVERRIDES = DEFINITIONS_DIR, CALENDAR_FILE


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and leave with ``code``."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from fundflow.domain.errors import FundflowError
    from fundflow.service.backup import BackupError
    from fundflow.service.integrity.keys import KeyFileError

    return FundflowError, BackupError, KeyFileError, ValidationError


def _message(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "settings_invalid: 配置有误：" + "; ".join(e["msg"] for e in exc.errors())
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    if isinstance(code, str) and isinstance(message, str):
        return f"{code}: {message}"
    return str(exc)


@contextmanager
def guarded() -> Iterator[None]:
    """A fundflow error (a use case's refusal, a broken definition or calendar, a backup or key
    file problem, invalid settings) becomes ``code: message`` on stderr and exit code 2."""
    try:
        yield
    except _errors() as exc:
        fail(_message(exc))


def load_settings() -> Settings:
    """The settings from the environment; invalid ones end the command (exit 2)."""
    from fundflow.service.config import get_settings

    with guarded():
        return get_settings()


@contextmanager
def services() -> Iterator[Services]:
    """The services for one command, closed whatever happens; errors as in ``guarded``."""
    from fundflow.service import context

    with guarded():
        svc = context.build_services(load_settings())
        try:
            yield svc
        finally:
            svc.close()


def now() -> datetime:
    return datetime.now(UTC)


def parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        fail(f"日期格式不正确：{raw!r}，应为 YYYY-MM-DD")


def parse_moment(raw: str) -> datetime:
    """An ISO date-time; a naive one is read as Asia/Shanghai."""
    from fundflow.domain.tz import SHANGHAI

    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"时间格式不正确：{raw!r}，应为 ISO 格式，如 2026-03-02T10:00 或 2026-03-02T10:00+08:00")
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment
