"""``fundflow serve``, ``fundflow demo`` and ``fundflow scheduler``: the long-running processes."""

from __future__ import annotations

from typing import Annotated

import typer

from fundflow.cli.common import fail, load_settings, now, services
from fundflow.service import logs


def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    workers: Annotated[int, typer.Option(help="进程数（PostgreSQL 时可大于 1）")] = 1,
) -> None:
    """Run the API (upgrading an embedded SQLite database first)."""
    import uvicorn

    from fundflow.service.migrate import upgrade

    settings = load_settings()
    if workers > 1 and settings.is_sqlite:
        fail("SQLite 只支持单进程运行；多进程请使用 PostgreSQL（FUNDFLOW_DATABASE_URL）")
    with services() as svc:
        if settings.is_sqlite:
            upgrade(svc.db)
    if workers <= 1:
        uvicorn.run(
            "fundflow.http.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=logs.dict_config(settings.log_level),  # uvicorn's lines as JSON too
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
        fail(f"无法监听 {host}:{port}：{exc}")
    sock.set_inheritable(True)
    return sock


def _serve_workers(host: str, port: int, workers: int, log_level: str) -> None:
    """``uvicorn.run(..., workers=N)`` with the listener bound by ``_bind_tcp_socket``."""
    import logging

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "fundflow.http.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=logs.dict_config(log_level),  # the supervisor's and each worker's lines as JSON
    )
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


def demo(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    reset: Annotated[bool, typer.Option(help="清空已有演示数据后重新生成")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只生成数据，不启动服务")] = False,
    opinions: Annotated[
        int | None, typer.Option(help="民意收集办理：生成的意见件数（默认取设置 FUNDFLOW_DEMO_OPINIONS，14200）", min=0)
    ] = None,
) -> None:
    """Migrate, seed a demo city (Zhuzhou's urban districts), print a token per role, and serve."""
    from fundflow.service import seed
    from fundflow.service.migrate import upgrade

    with services() as svc:
        upgrade(svc.db)
        result = seed.seed_demo(svc, now(), reset=reset, opinions=opinions)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        typer.echo(result.summary(f"http://{shown}:{port}"))
    if not no_serve:
        serve(host=host, port=port, workers=1)


def scheduler() -> None:
    """Run the alert scheduler in the foreground (scan, deliveries, daily calendar work) until SIGTERM or Ctrl-C."""

    from fundflow.service.scheduler import run_blocking

    settings = load_settings()
    logs.configure(settings.log_level)  # one JSON object a line, like the API's
    if settings.scheduler == "embedded":
        typer.echo(
            "note: FUNDFLOW_SCHEDULER=embedded, so the API processes tick too; one process per tick "
            "does the work (a lease row). Set FUNDFLOW_SCHEDULER=off for the API to leave it to this one.",
            err=True,
        )
    from fundflow.service.heap import freeze_startup

    with services() as svc:
        freeze_startup()  # a long-running process: its start-up heap out of the collector's way
        run_blocking(svc, settings)
