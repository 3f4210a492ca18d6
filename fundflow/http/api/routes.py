"""Thin routers: parse -> use case -> response. No business rules here."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from fundflow.domain.diagram import to_mermaid
from fundflow.domain.errors import UnknownDefinition
from fundflow.http.deps import bearer, bearer_caller, current_user, get_now, get_services, no_nul_in_url, reader
from fundflow.service.context import Services
from fundflow.service.errors import InvalidInput
from fundflow.service.exports import apportionment_xlsx, statement_xlsx, top_up_xlsx
from fundflow.service.handoff_schemas import (
    ExtensionDecision,
    ExtensionRequest,
    MeetingSessionCreate,
    ObjectionAnswer,
    ObjectionCreate,
    TransferDecision,
    TransferRequest,
    WithdrawRequest,
)
from fundflow.service.household_import import parse_household_json, parse_households
from fundflow.service.reads import Reader, case_list, case_work, inbox, places
from fundflow.service.reads import case as case_reads
from fundflow.service.reads import rates as rates_reads
from fundflow.service.reads import records as records_reads
from fundflow.service.reads import reports as report_reads
from fundflow.service.reads import stats as stats_reads
from fundflow.service.reads import tasks as task_reads
from fundflow.service.reads.common import field_view
from fundflow.service.reads.session import Bearer, Principal
from fundflow.service.report_xlsx import report_xlsx
from fundflow.service.schemas import (
    NUL_MESSAGE,
    AssignRequest,
    CaseCreate,
    ChannelCreate,
    CommunityCreate,
    LoginRequest,
    MigrationRequest,
    SupervisionClose,
    SupervisionIssue,
    SupervisionReply,
    TransitionRequest,
    VoteRequest,
    contains_nul,
)
from fundflow.service.usecases import (
    alerts,
    assignments,
    cases,
    communities,
    delivery,
    documents,
    handoffs,
    ledger,
    meeting_sessions,
    meetings,
    objections,
    organisations,
    paperwork,
    supervision,
    top_up,
    users,
)
from fundflow.service.usecases import migration as version_migration

router = APIRouter(prefix="/api/v1", dependencies=[Depends(no_nul_in_url)])
#: Every id in a path: a positive 32-bit integer, so no database is asked about 10**20.
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _reply(reply: cases.Reply) -> JSONResponse:
    return JSONResponse(reply.body, status_code=reply.status)


# -- auth ----------------------------------------------------------------------------------


@router.post("/login", tags=["auth"], summary="用户名密码登录，返回会话令牌")
def login(
    body: LoginRequest, request: Request, svc: Services = Depends(get_services), now: datetime = Depends(get_now)
):
    user, token = users.login(svc, body.username, body.password, now, request.client.host if request.client else None)
    return {"token": token, "token_type": "bearer", "user": _me(user)}


@router.delete("/tokens/current", status_code=204, tags=["auth"], summary="注销当前令牌（API 令牌或登录会话）")
def revoke_current_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    user: Principal = Depends(current_user),
    svc: Services = Depends(get_services),
):
    users.logout(svc, credentials.credentials)  # current_user took it from the header (writes need one)
    return Response(status_code=204)


@router.get("/me", tags=["auth"], summary="当前用户")
def me(user: Principal = Depends(current_user)):
    return _me(user)


def _me(user: Principal) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.display_name,
        "role": user.role,
        "org_level": user.org_level,
        "org_id": user.org_id,
        "org_name": user.org_name,
    }


# -- places --------------------------------------------------------------------------------


@router.post("/communities", status_code=201, tags=["communities"], summary="登记小区及楼栋")
def create_community(
    body: CommunityCreate,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return communities.create_community(
        svc,
        user,
        name=body.name,
        street_office_id=body.street_office_id,
        address=body.address,
        buildings=body.buildings,
        code=body.code,
        now=now,
    )


@router.get("/communities/{community_id}", tags=["communities"], summary="小区详情")
def get_community(community_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return places.community(r.s, user, community_id)


@router.post(
    "/communities/{community_id}/households",
    status_code=201,
    tags=["communities"],
    summary="导入房屋清单（JSON 列表、CSV 或 XLSX；全部成功或全部不导入）",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            }
        }
    },
)
async def import_households(
    community_id: Id,
    request: Request,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            items = await request.json()
        except ValueError:
            raise InvalidInput("请求体不是有效的 JSON", code="invalid_json") from None
        if not isinstance(items, list):
            raise InvalidInput("应为房屋对象的 JSON 列表", code="invalid_household_list")
        if contains_nul(items):
            raise InvalidInput(NUL_MESSAGE, code="nul_character")
        rows = await run_in_threadpool(parse_household_json, items)
    elif ctype == "multipart/form-data":
        async with request.form() as form:  # closes the spooled upload files afterwards
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidInput("请以 file 字段上传 CSV 或 XLSX 文件", code="file_missing")
            content = await upload.read()
            rows = await run_in_threadpool(parse_households, content, upload.filename, upload.content_type)
    else:
        # parsing a workbook takes CPU: off the event loop, which keeps answering (/healthz)
        rows = await run_in_threadpool(parse_households, await request.body(), None, ctype)
    # a rejected list (ImportRejected, ImportTooLarge) answers from the error table: 422 or 413
    return await run_in_threadpool(partial(communities.import_households, now=now), svc, user, community_id, rows)


# -- cases ---------------------------------------------------------------------------------


@router.post("/cases", status_code=201, tags=["cases"], summary="发起案件（隐患上报）")
def open_case(
    body: CaseCreate,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    try:
        reply = cases.open_case(
            svc,
            user,
            definition=body.definition,
            version=body.version,
            community_id=body.community_id,
            subject=body.subject.model_dump(exclude_none=True) if body.subject is not None else None,
            title=body.title,
            data=body.data,
            buildings=body.buildings,
            now=now,
            occurred_at=body.occurred_at,
        )
    except UnknownDefinition as exc:
        raise InvalidInput(
            str(exc), code="unknown_definition", detail={"definitions": list(svc.registry.ids())}
        ) from None
    return _reply(reply)


@router.get("/cases", tags=["cases"], summary="案件列表（按期限排序，可筛选）")
def list_cases(
    state: str | None = Query(None, max_length=64),
    street_office_id: int | None = Query(None, ge=1, le=2**31 - 1),
    overdue: bool | None = None,
    q: str | None = Query(None, max_length=100, description="标题、编号或小区名称"),
    mine: bool = Query(False, description="只看当前待我方办理的案件"),
    include_closed: bool = True,
    page: int = Query(1, ge=1, le=100000),
    page_size: int = Query(20, ge=1, le=100),
    after: str | None = Query(None, max_length=64, description="上一页返回的 next（按期限翻页，忽略 page）"),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return case_list.list_cases(
        r.s,
        r.svc,
        user,
        now=now,
        state=state,
        street_office_id=street_office_id,
        overdue=overdue,
        q=q,
        responsible_role=user.role if mine else None,
        include_closed=include_closed and not mine,
        page=page,
        page_size=page_size,
        after=after,
    )


@router.get("/cases/{case_id}", tags=["cases"], summary="案件详情：环节、期限、可执行操作")
def get_case(
    case_id: Id,
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return case_reads.case_detail(r.s, r.svc, user, case_id, now)  # one read transaction, the caller's too


@router.post(
    "/cases/{case_id}/transitions",
    tags=["cases"],
    summary="办理（触发流程操作）",
    responses={409: {"description": "流程拒绝或并发冲突"}, 412: {"description": "If-Match 版本过期"}},
)
def fire(
    case_id: Id,
    body: TransitionRequest,
    request: Request,  # the services from the app itself: one dependency less to solve (~60 µs)
    user: Bearer = Depends(bearer_caller),  # the token is read in the transition's transaction
    now: datetime = Depends(get_now),
    if_match: str | None = Header(None, max_length=32, description='案件版本号，如 7 或 "7"'),
    idempotency_key: str | None = Header(None, max_length=128),
):
    version = None
    if if_match is not None:
        raw = if_match.strip().strip('"').removeprefix("W/").strip('"')
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidInput("If-Match 应为案件版本号", code="invalid_if_match")
        version = int(raw)
    reply = cases.fire_transition(
        request.app.state.services,
        user,
        case_id,
        trigger=body.trigger,
        data=body.data,
        comment=body.comment,
        now=now,
        if_match=version,
        idempotency_key=idempotency_key,
        occurred_at=body.occurred_at,
    )
    return _reply(reply)  # counted and logged by the use case (service.observe)


@router.post("/cases/{case_id}/votes", tags=["cases"], summary="登记联席会议出席与表决")
def vote(
    case_id: Id,
    body: VoteRequest,
    svc: Services = Depends(get_services),
    user: Bearer = Depends(bearer_caller),  # the token is read in the vote's transaction
    now: datetime = Depends(get_now),
):
    return _reply(
        meetings.record_vote(
            svc,
            user,
            case_id,
            party=body.party,
            attended=body.attended,
            vote=body.vote,
            opinion=body.opinion,
            now=now,
            attendees=body.attendees,
        )
    )


@router.get("/cases/{case_id}/votes", tags=["cases"], summary="联席会议表决情况")
def votes(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return case_reads.votes(r.s, r.svc, case_reads.load(r.s, user, case_id))


@router.post("/cases/{case_id}/documents", status_code=201, tags=["cases"], summary="上传材料")
async def upload(
    case_id: Id,
    doc_type: str = Form(..., min_length=1, max_length=64),
    file: UploadFile = File(...),
    svc: Services = Depends(get_services),
    user: Bearer = Depends(bearer_caller),  # the token is read in the upload's transaction
    now: datetime = Depends(get_now),
):
    content = await file.read()
    # the write in a worker thread, as for a sync route: the event loop serves others meanwhile
    return await run_in_threadpool(
        documents.attach_document,
        svc,
        user,
        case_id,
        doc_type=doc_type,
        filename=file.filename or "file",
        content_type=file.content_type,
        content=content,
        now=now,
    )


@router.get("/cases/{case_id}/documents", tags=["cases"], summary="材料列表")
def list_documents(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return case_reads.documents(r.s, r.svc, case_reads.load(r.s, user, case_id))


@router.get("/cases/{case_id}/documents/{document_id}", tags=["cases"], summary="下载材料")
def download(
    case_id: Id, document_id: Id, svc: Services = Depends(get_services), user: Principal = Depends(current_user)
):
    doc, path = documents.open_document(svc, user, case_id, document_id)
    return FileResponse(path, media_type=doc.content_type, filename=doc.filename)


@router.get("/cases/{case_id}/events", tags=["cases"], summary="办理记录（审计链）")
def events(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return case_reads.events(r.s, r.svc, case_reads.load(r.s, user, case_id))


@router.get("/cases/{case_id}/apportionment", tags=["cases"], summary="按建筑面积分摊（JSON；format=xlsx 导出 Excel）")
def apportionment(
    case_id: Id,
    format: str = Query("json", pattern="^(json|xlsx)$"),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
):
    table = case_reads.apportionment(r.s, r.svc, case_reads.load(r.s, user, case_id))
    if format == "xlsx":
        return _xlsx(table)
    return table


@router.get("/cases/{case_id}/apportionment.xlsx", tags=["cases"], summary="分户费用分摊表（Excel）")
def apportionment_excel(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return _xlsx(case_reads.apportionment(r.s, r.svc, case_reads.load(r.s, user, case_id)))


@router.get(
    "/cases/{case_id}/generated/{name}",
    tags=["cases"],
    summary="生成文书：notice（维修资金使用公示）、minutes（联席会议纪要）、top_up（续交通知），.docx 或 .pdf；"
    "文书作为材料保存在案件上（内容变化时保存新版本）",
)
def generated_document(
    case_id: Id,
    name: str = Path(..., max_length=32, pattern=r"^[a-z_]+\.(docx|pdf)$", description="如 notice.docx、minutes.pdf"),
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    kind, fmt = name.rsplit(".", 1)
    view, content = paperwork.generate(svc, user, case_id, kind, fmt, now)
    return Response(
        content,
        media_type=view["content_type"],
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(view['filename'])}",
            "X-Document-Id": str(view["id"]),
            "X-Document-Version": str(view["version"]),
            "X-Document-Sha256": view["sha256"],
        },
    )


@router.get(
    "/cases/{case_id}/top-up-notices/{notice_id}", tags=["ledger"], summary="续交通知（JSON；format=xlsx 导出 Excel）"
)
def top_up_notice(
    case_id: Id,
    notice_id: Id,
    format: str = Query("json", pattern="^(json|xlsx)$"),
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
):
    notice = ledger.top_up_notice(svc, user, case_id, notice_id)
    if format == "xlsx":
        return Response(
            top_up_xlsx(notice),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="top-up-{notice["case_number"]}-{notice_id}.xlsx"'},
        )
    return notice


@router.get("/households/{household_id}/ledger", tags=["ledger"], summary="分户账明细（JSON；format=xlsx 导出 Excel）")
def household_ledger(
    household_id: Id,
    format: str = Query("json", pattern="^(json|xlsx)$"),
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
):
    statement = ledger.household_statement(svc, user, household_id)
    if format == "xlsx":
        return Response(
            statement_xlsx(statement),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="ledger-{household_id}.xlsx"'},
        )
    return statement


def _xlsx(table: dict) -> Response:
    return Response(
        apportionment_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="apportionment-{table["case_number"]}.xlsx"'},
    )


# -- figures and definitions ---------------------------------------------------------------


def _period_query(
    start: str | None = Query(
        None, alias="from", max_length=10, description="起始日期 YYYY-MM-DD（默认当年 1 月 1 日）"
    ),
    end: str | None = Query(None, alias="to", max_length=10, description="截止日期 YYYY-MM-DD（默认今天）"),
    year: str | None = Query(None, max_length=4, description="年度，如 2026"),
    quarter: str | None = Query(None, max_length=7, description="季度，如 2026Q1"),
    month: str | None = Query(None, max_length=7, description="月份，如 2026-03"),
    definition: str | None = Query(None, max_length=64, description="只统计某一流程"),
) -> dict[str, str | None]:
    return {"start": start, "end": end, "year": year, "quarter": quarter, "month": month, "definition_id": definition}


@router.get(
    "/stats",
    tags=["figures"],
    summary="按区、街道统计：发起、办结、在办、超期、各环节平均工作日、资金；"
    "rates：期间内收集的案件的解决率、按期办结率、满意率（各流程按其定义的口径，按区、街道、月份）",
)
def stats(
    period: dict = Depends(_period_query),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return {
        **stats_reads.city_stats(r.s, r.svc, user, now, period["definition_id"]),
        "rates": rates_reads.rates_for(r.s, r.svc, user, now, **period),
    }


@router.get(
    "/reports",
    tags=["figures"],
    summary="期间报表：按区、街道、小区统计发起、办结（案件与小区）、在办、超期、资金，各环节按期率，逐月趋势",
)
def report(
    period: dict = Depends(_period_query),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return report_reads.report_for(r.s, r.svc, user, now, **period)


@router.get("/reports/city.xlsx", tags=["figures"], summary="期间报表导出 Excel（与 /reports 同一组数字）")
def report_excel(
    period: dict = Depends(_period_query),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    data = report_reads.report_for(r.s, r.svc, user, now, **period)
    name = f"report-{data['period']['from']}-{data['period']['to']}.xlsx"
    return Response(
        report_xlsx(data), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/organisations", tags=["definitions"], summary="单位（市直部门、热线中心等）：派单、转办时选择的单位编号")
def list_organisations(
    request: Request,
    kind: str | None = Query(None, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="单位类型，如 department"),
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
):
    if len(request.query_params.getlist("kind")) > 1:  # one kind: a repeated one is not taken silently
        raise InvalidInput("kind 只能给一个", code="invalid_query", detail={"field": "kind"})
    return organisations.list_organisations(svc, kind)


@router.get("/definitions", tags=["definitions"], summary="流程定义")
def definitions(svc: Services = Depends(get_services), user: Principal = Depends(current_user)):
    out = []
    for d in svc.registry:
        out.append(
            {
                "id": d.id,
                "version": d.version,
                # the version new cases take (the others: cases opened earlier, or migrated onto it)
                "current": d.version == svc.registry.current_version(d.id),
                "title": d.title,
                "roles": {r.id: r.label for r in d.roles.values()},
                "documents": dict(d.documents),
                "initial": d.initial,
                "states": [
                    {
                        "id": s.id,
                        "label": s.label,
                        "responsible": s.responsible,
                        "terminal": s.terminal,
                        "documents": list(s.documents),
                        "deadline": s.deadline.describe() if s.deadline else None,
                    }
                    for s in d.states.values()
                ],
                "transitions": [
                    {
                        "trigger": t.trigger,
                        "label": t.label,
                        "from": list(t.sources),
                        "to": t.dest,
                        "roles": sorted(t.roles),
                        "guards": [g.name for g in t.guards],
                        "fields": [field_view(f) for f in t.fields],
                    }
                    for t in d.transitions
                ],
            }
        )
    return out


@router.get(
    "/definitions/{definition_id}/diagram",
    tags=["definitions"],
    summary="流程图（Mermaid）",
    response_class=PlainTextResponse,
)
def diagram(
    definition_id: str,
    version: int | None = Query(None, ge=1, le=10000),
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
):
    return PlainTextResponse(to_mermaid(svc.registry.get(definition_id, version)))


# -- alerts --------------------------------------------------------------------------------


@router.get("/alerts", tags=["alerts"], summary="我的提醒（预警、超期、督办）")
def my_alerts(
    unacked_only: bool = False,
    kind: str | None = Query(None, pattern="^(warning|overdue|escalation|calendar)$"),
    case_id: int | None = Query(None, ge=1, le=2**31 - 1),
    page: int = Query(1, ge=1, le=100000),
    page_size: int = Query(20, ge=1, le=100),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
):
    return inbox.inbox(r.s, user, unacked_only=unacked_only, kind=kind, case_id=case_id, page=page, page_size=page_size)


@router.post("/alerts/{alert_id}/ack", tags=["alerts"], summary="确认已阅")
def ack(
    alert_id: Id,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return alerts.ack_alert(svc, user, alert_id, now)


@router.get("/channels", tags=["alerts"], summary="提醒渠道及投递状态（市级）")
def channels(svc: Services = Depends(get_services), user: Principal = Depends(current_user)):
    return alerts.list_channels(svc, user)


@router.post("/channels", status_code=201, tags=["alerts"], summary="新增提醒渠道（Webhook、企业微信、钉钉、邮件）")
def add_channel(
    body: ChannelCreate,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return alerts.add_channel(
        svc,
        user,
        name=body.name,
        kind=body.kind,
        target=body.target,
        role=body.role,
        org_level=body.org_level,
        org_id=body.org_id,
        now=now,
    )


# -- alert delivery ------------------------------------------------------------------------


@router.get("/alerts/{alert_id}/deliveries", tags=["alerts"], summary="提醒在各渠道的投递状态（市级）")
def alert_deliveries(alert_id: Id, svc: Services = Depends(get_services), user: Principal = Depends(current_user)):
    return delivery.delivery_status(svc, user, alert_id)


# --- version migration (issue 16) ---


@router.post(
    "/migrations",
    tags=["definitions"],
    summary="流程版本迁移：预览（plan）、执行（apply）、撤销（revert），仅系统管理员",
)
def migrations(
    body: MigrationRequest,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return version_migration.request(
        svc,
        user,
        body.action,
        now=now,
        definition=body.definition,
        from_version=body.from_version,
        to_version=body.to_version,
        cases=body.cases,
        expected={int(k): v for k, v in body.expected.items()} if body.expected is not None else None,
        batch=body.batch,
    )


# -- hand-offs and records (issue 11b) ------------------------------------------------------


@router.post(
    "/cases/{case_id}/transfer",
    tags=["hand-offs"],
    status_code=201,
    summary="转办：请同一角色的另一单位（街道办事处、区消防救援机构）签收；签收前案件仍由本单位办理",
)
def transfer(
    case_id: Id,
    body: TransferRequest,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(handoffs.transfer_case(svc, user, case_id, to_org_id=body.to_org_id, reason=body.reason, now=now))


@router.post(
    "/transfers/{transfer_id}/decision",
    tags=["hand-offs"],
    summary="签收或不予签收转给本单位的案件（接收单位）",
)
def decide_transfer(
    transfer_id: Id,
    body: TransferDecision,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    if body.accept:
        return _reply(handoffs.accept_transfer(svc, user, transfer_id, note=body.note, now=now))
    return _reply(handoffs.decline_transfer(svc, user, transfer_id, reason=body.note, now=now))


@router.get("/transfers", tags=["hand-offs"], summary="本单位转出、转入的案件")
def my_transfers(r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return handoffs.transfers_of(r.s, r.svc, user)


@router.post("/cases/{case_id}/extensions", status_code=201, tags=["hand-offs"], summary="延期申请（本环节责任单位）")
def ask_extension(
    case_id: Id,
    body: ExtensionRequest,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(
        handoffs.request_extension(svc, user, case_id, working_days=body.working_days, reason=body.reason, now=now)
    )


@router.get("/cases/{case_id}/extensions", tags=["hand-offs"], summary="案件的延期申请及审批")
def list_extensions(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return handoffs.extensions_of(r.s, r.svc, case_reads.load(r.s, user, case_id))


@router.post(
    "/cases/{case_id}/extensions/{extension_id}/decision", tags=["hand-offs"], summary="审批延期申请（流程规定的单位）"
)
def decide_extension(
    case_id: Id,
    extension_id: Id,
    body: ExtensionDecision,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(
        handoffs.decide_extension(svc, user, case_id, extension_id, approve=body.approve, opinion=body.opinion, now=now)
    )


@router.post("/cases/{case_id}/withdraw", tags=["hand-offs"], summary="撤回（发起单位在核准前；其后由流程规定的单位）")
def withdraw(
    case_id: Id,
    body: WithdrawRequest,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(handoffs.withdraw_case(svc, user, case_id, reason=body.reason, comment=body.comment, now=now))


@router.post("/cases/{case_id}/objections", status_code=201, tags=["records"], summary="登记业主异议（公示期间）")
def add_objection(
    case_id: Id,
    body: ObjectionCreate,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(
        objections.raise_objection(
            svc, user, case_id, owner_name=body.owner_name, room=body.room, text=body.text, now=now
        )
    )


@router.get("/cases/{case_id}/objections", tags=["records"], summary="业主异议及答复")
def list_objections(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return objections.objections_of(r.s, case_reads.load(r.s, user, case_id))


@router.post("/cases/{case_id}/objections/{objection_id}/answer", tags=["records"], summary="答复业主异议")
def answer_objection(
    case_id: Id,
    objection_id: Id,
    body: ObjectionAnswer,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(objections.answer_objection(svc, user, case_id, objection_id, answer=body.answer, now=now))


@router.get("/cases/{case_id}/signatures", tags=["records"], summary="签署记录：签字人、所代表单位、意见")
def list_signatures(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return records_reads.signatures(r.s, r.svc, case_reads.load(r.s, user, case_id))


@router.post(
    "/cases/{case_id}/meeting-sessions", status_code=201, tags=["records"], summary="登记联席会议召开（日期、地点）"
)
def add_meeting_session(
    case_id: Id,
    body: MeetingSessionCreate,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return _reply(meeting_sessions.open_session(svc, user, case_id, held_on=body.held_on, venue=body.venue, now=now))


@router.get(
    "/cases/{case_id}/meeting", tags=["records"], summary="联席会议：各次会议及全部表决记录（含重新表决前的记录）"
)
def meeting_record(case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user)):
    return meeting_sessions.meeting_record(r.s, r.svc, case_reads.load(r.s, user, case_id))


# --- tasks and supervision (issue 11a) ----------------------------------------------------


@router.get("/tasks", tags=["tasks"], summary="我的待办：等待本单位办理的各项事务（scope=mine 只看指派给我的）")
def my_tasks(
    scope: str = Query("org", pattern="^(org|mine)$"),
    r: Reader = Depends(reader),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return task_reads.list_tasks(r.s, r.svc, user, now, scope)


@router.get("/cases/{case_id}/work", tags=["tasks"], summary="当前环节的指派情况、可指派人员、督办")
def case_work_panel(
    case_id: Id, r: Reader = Depends(reader), user: Principal = Depends(current_user), now: datetime = Depends(get_now)
):
    return case_work.case_work(r.s, r.svc, user, case_id, now)


@router.post("/cases/{case_id}/assignment", tags=["tasks"], summary="指派：当前环节交本单位某人办理")
def assign(
    case_id: Id,
    body: AssignRequest,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return assignments.assign_stage(svc, user, case_id, assignee_id=body.assignee_id, now=now)


@router.post("/cases/{case_id}/claim", tags=["tasks"], summary="签收：本人接手当前环节")
def claim(
    case_id: Id,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return assignments.claim_stage(svc, user, case_id, now=now)


@router.post(
    "/cases/{case_id}/supervisions", status_code=201, tags=["tasks"], summary="下发督办通知（逾期报请督办的环节）"
)
def issue_supervision(
    case_id: Id,
    body: SupervisionIssue,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return supervision.issue_supervision(
        svc, user, case_id, content=body.content, reply_working_days=body.reply_working_days, now=now
    )


@router.post("/supervisions/{supervision_id}/reply", tags=["tasks"], summary="督办反馈（责任单位）")
def reply_supervision(
    supervision_id: Id,
    body: SupervisionReply,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return supervision.reply_supervision(svc, user, supervision_id, reply=body.reply, now=now)


@router.post(
    "/supervisions/{supervision_id}/reply-with-documents",
    tags=["tasks"],
    summary="督办反馈并附材料（multipart：reply 与 files；材料存入案件材料，受上传大小限制）",
)
async def reply_supervision_with_documents(
    supervision_id: Id,
    reply: str = Form(..., min_length=1, max_length=2000),
    files: list[UploadFile] = File(...),
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    uploads = [(f.filename or "file", f.content_type, await f.read()) for f in files]
    return await run_in_threadpool(
        partial(supervision.reply_supervision, svc, user, supervision_id, reply=reply, files=uploads, now=now)
    )


@router.post("/supervisions/{supervision_id}/close", tags=["tasks"], summary="督办销号（督办单位）")
def close_supervision(
    supervision_id: Id,
    body: SupervisionClose,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return supervision.close_supervision(svc, user, supervision_id, note=body.note, now=now)


@router.post("/supervisions/{supervision_id}/renew", tags=["tasks"], summary="续督：新一轮督办（督办单位）")
def renew_supervision(
    supervision_id: Id,
    body: SupervisionIssue,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return supervision.renew_supervision(
        svc, user, supervision_id, content=body.content, reply_working_days=body.reply_working_days, now=now
    )


@router.post("/cases/{case_id}/top-up-notices/{notice_id}/sent", tags=["tasks"], summary="续交通知已送达（街道办事处）")
def top_up_sent(
    case_id: Id,
    notice_id: Id,
    svc: Services = Depends(get_services),
    user: Principal = Depends(current_user),
    now: datetime = Depends(get_now),
):
    return top_up.send_top_up_notice(svc, user, case_id, notice_id, now=now)
