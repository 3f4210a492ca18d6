"""The FastAPI application: ``create_app()`` builds it; nothing runs at import time."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from fundflow.domain.errors import FundflowError
from fundflow.http.api.openapi import install as install_openapi
from fundflow.http.api.routes import router
from fundflow.http.middleware import JsonDepthLimit, LimitAndMeasure, Metrics
from fundflow.http.web import STATIC_DIR
from fundflow.http.web import router as pages
from fundflow.service.config import Settings, get_settings
from fundflow.service.context import Services, build_services
from fundflow.service.errors import NotAuthenticated, NotFound, error_body, error_headers, status_for
from fundflow.service.heap import freeze_startup
from fundflow.service.metrics import PROCESS, DatabaseFigures
from fundflow.service.migrate import check_current

__all__ = ["create_app"]

log = logging.getLogger("fundflow")

_HTTP_CODES = {
    400: ("bad_request", "请求体无法解析：应为 UTF-8 编码的 JSON 或表单"),
    401: ("not_authenticated", "请先登录"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    406: ("not_acceptable", "不支持的响应格式"),
    413: ("payload_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
}


def _allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the request's path (Starlette's 405 names one
    route's only, and the API has one route per method)."""
    paths = request.app.openapi().get("paths", {})
    allowed: set[str] = set()
    for template, operations in paths.items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
            allowed |= {m.upper() for m in operations}
    return sorted(allowed)


def create_app(
    settings: Settings | None = None, services: Services | None = None, *, scheduler: bool | None = None
) -> FastAPI:
    """``scheduler``: run the alert scheduler in-app (when ``settings.scheduler == "embedded"``).
    None, the default, runs it only when the app builds its own services: an app handed its
    services (tests, tools) does not tick unless asked to."""
    settings = settings or (services.settings if services else get_settings())
    metrics = Metrics()
    database_figures = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = app.state.services is None
        if owned:
            app.state.services = build_services(settings)
            freeze_startup()  # a served process: its start-up heap out of the collector's way
        try:
            if (owned if scheduler is None else scheduler) and settings.scheduler == "embedded":
                from fundflow.service.scheduler import start_background

                app.state.scheduler = start_background(app.state.services, settings)
            yield
        finally:
            if app.state.scheduler is not None:
                from fundflow.service.scheduler import stop_background

                # waits for a running tick: off the event loop
                await asyncio.to_thread(stop_background, app.state.scheduler, app.state.services)
                app.state.scheduler = None
            if owned:
                app.state.services.close()
                app.state.services = None

    app = FastAPI(
        title="fundflow 维修资金应急使用流程",
        description="住宅小区重大火灾隐患维修资金应急使用：案件、环节、期限、联席会议、资金与审计。",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below with local assets: an intranet has no CDN
    )
    app.state.services = services
    database_figures.register(DatabaseFigures(lambda: app.state.services))
    app.state.scheduler = None  # the in-app BackgroundScheduler while the lifespan runs it
    app.state.metrics = metrics

    @app.exception_handler(FundflowError)
    async def domain_error(request: Request, exc: FundflowError):
        """Every error of the tree, from the one table (``service.errors.ERRORS``)."""
        status = status_for(exc)
        if status >= 500:
            log.error("error on %s: %s", request.url.path, exc)
        return JSONResponse(error_body(exc), status_code=status, headers=error_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in exc.errors()]
        where = "、".join(".".join(str(p) for p in e["loc"][1:] or e["loc"]) for e in problems[:5])
        # our own validators' reasons are Chinese: say the first one
        reason = next((str(e["msg"]).removeprefix("Value error, ") for e in problems if e["type"] == "value_error"), "")
        message = f"请求参数有误：{where}" + (f"（{reason}）" if reason else "")
        return JSONResponse({"code": "validation_error", "message": message, "detail": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", "请求错误"))
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers["Allow"] = ", ".join(allowed)
        return JSONResponse(
            {"code": code, "message": message, "detail": exc.detail},
            status_code=exc.status_code,
            headers=headers or None,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: log it whole, answer plainly
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"code": "internal_error", "message": "服务器内部错误", "detail": None}, status_code=500)

    @app.get("/healthz", tags=["ops"], summary="健康检查")
    def healthz():
        svc: Services = app.state.services
        try:
            with svc.db.connect() as conn:
                conn.execute(text("SELECT 1"))
            revision = check_current(svc.db)
        except Exception as exc:
            return JSONResponse({"status": "error", "database": str(exc.__class__.__name__)}, status_code=503)
        return {
            "status": "ok",
            "database": svc.db.dialect.name,
            "migration": revision,
            "definitions": [f"{d.id}.v{d.version}" for d in svc.registry],
            "calendar_years": [min(svc.calendar.known_years()), max(svc.calendar.known_years())],
        }

    @app.get("/metrics", tags=["ops"], summary="Prometheus 指标（FUNDFLOW_METRICS_ACCESS: open、token 或 off）")
    def prometheus(request: Request):
        if settings.metrics_access == "off":
            raise NotFound("指标接口未开放", code="not_found")
        if settings.metrics_access == "token":
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
                raise NotAuthenticated(
                    "指标接口须携带 Authorization: Bearer <FUNDFLOW_METRICS_TOKEN>", code="metrics_token_required"
                )
        svc: Services | None = app.state.services
        observed = generate_latest(svc.observer.registry) if svc is not None else b""
        body = (
            generate_latest(metrics.registry) + observed + generate_latest(PROCESS) + generate_latest(database_figures)
        )
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API 文档",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    app.include_router(router)
    install_openapi(app)  # every operation's 4xx answers, with the error schema
    app.include_router(pages)  # the pages for people, at /
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(JsonDepthLimit)  # inside LimitAndMeasure: the body it reads is size-limited
    app.add_middleware(
        LimitAndMeasure, metrics=metrics, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    return app
