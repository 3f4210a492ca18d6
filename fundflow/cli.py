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
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="用户与令牌", no_args_is_help=True)
app.add_typer(user_app, name="user")
audit_app = typer.Typer(help="审计链校验", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

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


# -- service commands: imported lazily so that the domain commands need no database --------


def _services():
    from service.config import get_settings
    from service.context import build_services

    try:
        return build_services(get_settings())
    except (DefinitionError, CalendarError) as exc:
        _fail(str(exc))
        raise


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations to the configured database (FUNDFLOW_DATABASE_URL)."""
    from service.migrate import check_current, upgrade

    svc = _services()
    try:
        upgrade(svc.db, revision)
        typer.echo(f"{svc.db.url.render_as_string(hide_password=True)}: at revision {check_current(svc.db)}")
    finally:
        svc.close()


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="用户名")],
    role: Annotated[str, typer.Option("--role", help="角色，如 street_office、fund_center")],
    org: Annotated[Optional[str], typer.Option("--org", help="机构编码：区、街道或小区编码；市级角色可省略")] = None,
    display_name: Annotated[Optional[str], typer.Option("--display-name", help="显示名称")] = None,
    password: Annotated[Optional[str], typer.Option("--password", help="登录密码（可省略，仅发 API 令牌）")] = None,
) -> None:
    """Create a user and print an API token (shown once)."""
    from service.errors import ServiceError
    from service.usecases.users import add_user

    svc = _services()
    try:
        user, token = add_user(svc, username=name, display_name=display_name or name, role=role, org=org,
                               password=password, now=_now())
    except ServiceError as exc:
        _fail(f"{exc.code}: {exc.message}")
        raise
    finally:
        svc.close()
    typer.echo(f"user {user.username} ({user.role}, {user.org_name}) token: {token}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every case's hash chain; name each case whose events were altered, deleted or reordered."""
    from service.audit import verify_all

    svc = _services()
    try:
        with svc.sessions() as session:
            checked, breaks = verify_all(session)
    finally:
        svc.close()
    for b in breaks:
        typer.echo(str(b))
    typer.echo(f"{checked} case(s) checked, {len({b.case_id for b in breaks})} with a broken chain", err=True)
    raise typer.Exit(1 if breaks else 0)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    workers: Annotated[int, typer.Option(help="进程数（PostgreSQL 时可大于 1）")] = 1,
) -> None:
    """Run the API (upgrading an embedded SQLite database first)."""
    import uvicorn

    from service.config import get_settings
    from service.migrate import upgrade

    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        _fail("SQLite 只支持单进程运行；多进程请使用 PostgreSQL（FUNDFLOW_DATABASE_URL）")
    svc = _services()
    if settings.is_sqlite:
        upgrade(svc.db)
    svc.close()
    uvicorn.run("service.api.asgi:app", host=host, port=port, workers=workers, log_level=settings.log_level.lower())


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    reset: Annotated[bool, typer.Option(help="清空已有演示数据后重新生成")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只生成数据，不启动服务")] = False,
) -> None:
    """Migrate, seed a demo city (Zhuzhou's urban districts), print a token per role, and serve."""
    from service.migrate import upgrade
    from service.seed import seed_demo

    svc = _services()
    try:
        upgrade(svc.db)
        result = seed_demo(svc, _now(), reset=reset)
        typer.echo(result.summary())
    finally:
        svc.close()
    if not no_serve:
        serve(host=host, port=port, workers=1)


if __name__ == "__main__":  # pragma: no cover
    app()
