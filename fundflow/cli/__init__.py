"""The ``fundflow`` command."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date
from pathlib import Path
from typing import Annotated

import typer

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.diagram import to_mermaid
from fundflow.domain.errors import CalendarError, DefinitionError, Severity, UnknownDefinition
from fundflow.domain.loader import check_paths, definition_files, load_directory
from fundflow.service.config import CALENDAR_FILE, DEFINITIONS_DIR, get_settings

app = typer.Typer(
    help="fundflow：住宅小区重大火灾隐患维修资金应急使用流程引擎", no_args_is_help=True, add_completion=False
)
workdays_app = typer.Typer(help="工作日计算（含法定节假日与调休）", no_args_is_help=True)
app.add_typer(workdays_app, name="workdays")
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="用户与令牌", no_args_is_help=True)
app.add_typer(user_app, name="user")
ledger_app = typer.Typer(help="分户账（维修资金明细账）", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")

DefinitionsDir = Annotated[Path, typer.Option("--definitions", envvar="FUNDFLOW_DEFINITIONS_DIR", help="流程定义目录")]
OverridesFile = Annotated[
    Path, typer.Option("--calendar-overrides", envvar="FUNDFLOW_CALENDAR_OVERRIDES", help="工作日历补充文件")
]


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
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="定义文件或目录（默认 fundflow/definitions/）")] = None,
) -> None:
    """Check definitions; print FILE:YAML_PATH: message per problem; exit 1 on any error."""
    targets = paths or [get_settings().definitions_dir]
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
    version: Annotated[int | None, typer.Option("--version", help="版本（默认最新）")] = None,
    definitions: DefinitionsDir = DEFINITIONS_DIR,
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
    overrides: OverridesFile = CALENDAR_FILE,
) -> None:
    """Print the date N working days after DATE (N < 0: before)."""
    cal = _calendar(overrides)
    result = cal.add_workdays(_parse_date(start), n)
    suffix = "  provisional（该年度放假安排尚未公布，按法定节日规则推算，不含调休）" if result.provisional else ""
    typer.echo(f"{result.date.isoformat()}{suffix}")


@workdays_app.command("between")
def workdays_between(
    a: Annotated[str, typer.Argument(metavar="A")],
    b: Annotated[str, typer.Argument(metavar="B")],
    overrides: OverridesFile = CALENDAR_FILE,
) -> None:
    """Print the number of working days after A up to and including B."""
    cal = _calendar(overrides)
    result = cal.workdays_between(_parse_date(a), _parse_date(b))
    suffix = "  provisional（含尚未公布放假安排的年度）" if result.provisional else ""
    typer.echo(f"{result.count}{suffix}")


# -- service commands: imported lazily so that the domain commands need no database --------


def _services():
    from fundflow.service.config import get_settings
    from fundflow.service.context import build_services

    try:
        return build_services(get_settings())
    except (DefinitionError, CalendarError) as exc:
        _fail(str(exc))
        raise


@contextmanager
def _service_call():
    """The services for one command: a use case's refusal is printed (code: message, exit 2),
    and the database is closed whatever happens."""
    from fundflow.service.errors import ServiceError

    svc = _services()
    try:
        yield svc
    except ServiceError as exc:
        _fail(f"{exc.code}: {exc.message}")
    finally:
        svc.close()


def _now():
    from datetime import datetime

    return datetime.now(UTC)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations to the configured database (FUNDFLOW_DATABASE_URL)."""
    from fundflow.service.migrate import check_current, upgrade

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
    org: Annotated[str | None, typer.Option("--org", help="机构编码：区、街道或小区编码；市级角色可省略")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="显示名称")] = None,
    password: Annotated[str | None, typer.Option("--password", help="登录密码（可省略，仅发 API 令牌）")] = None,
) -> None:
    """Create a user and print an API token (shown once)."""
    from fundflow.service.usecases.users import add_user

    with _service_call() as svc:
        user, token = add_user(
            svc, username=name, display_name=display_name or name, role=role, org=org, password=password, now=_now()
        )
    typer.echo(f"user {user.username} ({user.role}, {user.org_name}) token: {token}")


@user_app.command("token")
def user_token(name: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Issue a further API token for NAME (shown once; valid FUNDFLOW_API_TOKEN_DAYS days)."""
    from fundflow.service.usecases.users import new_api_token

    with _service_call() as svc:
        token = new_api_token(svc, name, _now())
    typer.echo(f"user {name} token: {token}")


@user_app.command("revoke-token")
def user_revoke_token(name: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Revoke every API token and login session of NAME; they stop working at once."""
    from fundflow.service.usecases.users import revoke_tokens

    with _service_call() as svc:
        n = revoke_tokens(svc, name)
    typer.echo(f"user {name}: {n} token(s) revoked")


@user_app.command("deactivate")
def user_deactivate(name: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Deactivate NAME: no more logins; every token and session stops at once."""
    from fundflow.service.usecases.users import deactivate

    with _service_call() as svc:
        n = deactivate(svc, name)
    typer.echo(f"user {name}: deactivated, {n} token(s) revoked")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every household's balance and frozen amount from the journal, every case's paid
    total from its payments and every event's ledger record; name each mismatch; exit 1 on any."""
    from fundflow.service.usecases.ledger import verify_ledgers

    svc = _services()
    try:
        with svc.sessions() as session:
            counts, problems = verify_ledgers(session)
    finally:
        svc.close()
    for p in problems:
        typer.echo(p)
    typer.echo(
        f"{counts['households']} household(s), {counts['entries']} journal entries, {counts['cases']} case(s), "
        f"{counts['events']} event record(s) checked; {len(problems)} mismatch(es)",
        err=True,
    )
    raise typer.Exit(1 if problems else 0)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    workers: Annotated[int, typer.Option(help="进程数（PostgreSQL 时可大于 1）")] = 1,
) -> None:
    """Run the API (upgrading an embedded SQLite database first)."""
    import uvicorn

    from fundflow.service.config import get_settings
    from fundflow.service.migrate import upgrade

    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        _fail("SQLite 只支持单进程运行；多进程请使用 PostgreSQL（FUNDFLOW_DATABASE_URL）")
    svc = _services()
    if settings.is_sqlite:
        upgrade(svc.db)
    svc.close()
    if workers <= 1:
        uvicorn.run(
            "fundflow.http.asgi:app", host=host, port=port, workers=workers, log_level=settings.log_level.lower()
        )
        return
    _serve_workers(host, port, workers, settings.log_level.lower())


def _bind_tcp_socket(host: str, port: int):
    """The listening socket for several workers, created with ``proto=IPPROTO_TCP``.

    uvicorn's own ``Config.bind_socket`` creates it with ``proto=0`` (uvicorn issue #3149);
    the accepted sockets inherit that, asyncio then does not set ``TCP_NODELAY`` on them, and
    every response's body waits ~40 ms for the client's delayed ACK. With ``IPPROTO_TCP``
    asyncio sets ``TCP_NODELAY`` on each accepted connection (``TCP_NODELAY`` is also set on
    the listener, which Linux copies to the accepted sockets)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        _fail(f"无法监听 {host}:{port}：{exc}")
    sock.set_inheritable(True)
    return sock


def _serve_workers(host: str, port: int, workers: int, log_level: str) -> None:
    """``uvicorn.run(..., workers=N)`` with the listener bound by ``_bind_tcp_socket``."""
    import logging

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("fundflow.http.asgi:app", host=host, port=port, workers=workers, log_level=log_level)
    sock = _bind_tcp_socket(host, port)
    bound = sock.getsockname()
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d with %d workers (Press CTRL+C to quit)", host, bound[1], workers
    )
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    reset: Annotated[bool, typer.Option(help="清空已有演示数据后重新生成")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只生成数据，不启动服务")] = False,
) -> None:
    """Migrate, seed a demo city (Zhuzhou's urban districts), print a token per role, and serve."""
    from fundflow.service.migrate import upgrade
    from fundflow.service.seed import seed_demo

    svc = _services()
    try:
        upgrade(svc.db)
        result = seed_demo(svc, _now(), reset=reset)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        typer.echo(result.summary(f"http://{shown}:{port}"))
    finally:
        svc.close()
    if not no_serve:
        serve(host=host, port=port, workers=1)


# -- alerts: the scan, the scheduler, the calendar's next year ------------------------------

calendar_app = typer.Typer(help="工作日历：新年度放假安排公布后重新计算暂定期限", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")


def _parse_moment(raw: str):
    """An ISO date-time; a naive one is read as Asia/Shanghai."""
    from datetime import datetime

    from fundflow.domain.tz import SHANGHAI

    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        _fail(f"时间格式不正确：{raw!r}，应为 ISO 格式，如 2026-03-02T10:00 或 2026-03-02T10:00+08:00")
        raise
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment


@app.command()
def scan(
    now: Annotated[
        str | None, typer.Option("--now", help="扫描时刻（ISO 格式，不带时区按北京时间；默认当前时间）")
    ] = None,
) -> None:
    """Run one overdue scan; print one line per alert it recorded."""
    from fundflow.service.usecases import alerts

    moment = _parse_moment(now) if now else _now()
    svc = _services()
    try:
        result = alerts.scan(svc, moment)
    finally:
        svc.close()
    for line in result.lines():
        typer.echo(line)
    typer.echo(
        f"scan at {moment.isoformat()}: {len(result.alerts)} alert(s) recorded from {result.stages} stage(s)"
        + (" (skipped: another scan is running)" if result.skipped else ""),
        err=True,
    )


@app.command()
def scheduler() -> None:
    """Run the alert scheduler in the foreground (scan, deliveries, daily calendar work) until SIGTERM or Ctrl-C."""
    import logging

    from fundflow.service.config import get_settings
    from fundflow.service.scheduler import run_blocking

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if settings.scheduler == "embedded":
        typer.echo(
            "note: FUNDFLOW_SCHEDULER=embedded, so the API processes tick too; one process per tick "
            "does the work (a lease row). Set FUNDFLOW_SCHEDULER=off for the API to leave it to this one.",
            err=True,
        )
    svc = _services()
    try:
        run_blocking(svc, settings)
    finally:
        svc.close()


@calendar_app.command("recompute")
def calendar_recompute() -> None:
    """Recompute provisional deadlines with the calendar as configured now; print each case changed."""
    from sqlmodel import select

    from fundflow.service.tables import Case, Stage
    from fundflow.service.usecases import alerts

    svc = _services()
    try:
        changed = alerts.recompute_provisional(svc, _now())
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
    finally:
        svc.close()
    for case, stage in rows:
        kind = "provisional" if stage.provisional else "known"
        typer.echo(f"case {case.id} {case.number} {stage.state}: due {stage.due_date.isoformat()} ({kind})")
    typer.echo(f"{len(changed)} case(s) recomputed", err=True)


# -- alert delivery: channels and the outbox -------------------------------------------------

channel_app = typer.Typer(help="提醒渠道（Webhook、企业微信、钉钉、邮件）", no_args_is_help=True)
app.add_typer(channel_app, name="channel")


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

    with _service_call() as svc:
        ch = add_channel(
            svc,
            None,
            name=name or kind,
            kind=kind,
            target=target,
            role=role,
            org_level=org_level,
            org_id=org_id,
            now=_now(),
        )
    scope = ch["org_level"] + (f" {ch['org_id']}" if ch["org_id"] is not None else "")
    typer.echo(f"channel {ch['id']} {ch['name']} ({ch['kind']}, role {ch['role'] or 'any'}, {scope})")


@app.command()
def deliver(
    now: Annotated[
        str | None, typer.Option("--now", help="投递时刻（ISO 格式，不带时区按北京时间；默认当前时间）")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="本次最多投递条数")] = 100,
) -> None:
    """Run one delivery pass over the outbox; print each delivery sent or failed."""
    from fundflow.service.usecases.delivery import deliver_pending

    moment = _parse_moment(now) if now else _now()
    svc = _services()
    try:
        report = deliver_pending(svc, moment, limit=limit)
    finally:
        svc.close()
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"deliver at {moment.isoformat()}: {report.summary()}", err=True)


# -- backup and restore ----------------------------------------------------------------------


def _backup_settings():
    from pydantic import ValidationError

    from fundflow.service.config import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        _fail("settings_invalid: 配置有误：" + "; ".join(e["msg"] for e in exc.errors()))
        raise


@app.command("backup")
def backup_cmd(path: Annotated[Path, typer.Argument(metavar="PATH", help="新的备份目录（不存在或为空）")]) -> None:
    """Back up the database (online, consistent) and the documents into the directory PATH."""
    from fundflow.service.backup import BackupError, backup

    try:
        report = backup(_backup_settings(), path)
    except BackupError as exc:
        _fail(f"{exc.code}: {exc.message}")
        raise
    for line in report.lines():
        typer.echo(line)


@app.command("restore")
def restore_cmd(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="fundflow backup 生成的备份目录")],
    yes: Annotated[bool, typer.Option("--yes", help="目标数据库不为空时也覆盖")] = False,
) -> None:
    """Restore a backup into the configured database and documents folder; verify it (stop the service first)."""
    from fundflow.service.backup import BackupError, restore

    try:
        report = restore(_backup_settings(), path, force=yes)
    except BackupError as exc:
        _fail(f"{exc.code}: {exc.message}")
        raise
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        _fail("restore_check_failed: 恢复后的校验未通过（见上）", 1)


from fundflow.cli.audit import audit_app  # noqa: E402  (the commands use the helpers above)

app.add_typer(audit_app, name="audit")

if __name__ == "__main__":  # pragma: no cover
    app()
