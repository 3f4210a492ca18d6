"""我的待办 (the first page): every act waiting on the user's party, from the tasklist read model;
and the forms of the work panel on the case page: 指派, 签收, 督办 (issue, reply, close, renew),
a top-up notice sent."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from fundflow.http.web.pages.case import Problem, _case_page
from fundflow.http.web.pages.common import FORM_ERRORS, Page, _message, form_page, page
from fundflow.http.web.render import PageRoute
from fundflow.service.errors import InvalidInput, status_for
from fundflow.service.reads import tasks as task_reads
from fundflow.service.usecases import assignments, supervision, top_up

router = APIRouter(route_class=PageRoute, include_in_schema=False)

KIND_LABELS = {
    "stage": "办理环节",
    "signature": "签署",
    "vote": "会议表决",
    "objection": "答复异议",
    "objection_answer": "答复异议",  # an objection record (issue 11b)
    "extension_decision": "延期审批",
    "supervision_issue": "督办",
    "supervision_reply": "督办反馈",
    "supervision_review": "督办销号",
    "top_up": "续交通知",
    "transfer_accept": "转办待签收",
}


@router.get("/")
def todo(p: Page = Depends(page), scope: str | None = Query(None, max_length=8)):
    chosen = scope if scope in task_reads.SCOPES else "org"
    result = task_reads.list_tasks(p.s, p.svc, p.user, p.now, chosen)
    return p.render("todo.html", {"active": "todo", "result": result, "scope": chosen, "kinds": KIND_LABELS})


def _back(p: Page, case_id: int, anchor: str) -> Response:
    return RedirectResponse(f"/cases/{case_id}?done=1#{anchor}", status_code=303)


def _days(p: Page) -> int | None:
    raw = p.text("reply_working_days")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 3:
        raise InvalidInput("反馈期限应为 1-30 个工作日", code="invalid_reply_days")
    return int(raw)


def _case_of(p: Page) -> int:
    raw = p.text("case_id")
    return int(raw) if raw.isdigit() and len(raw) < 10 else 0


def _run(p: Page, case_id: int, anchor: str, use_case, *args, **kwargs) -> Response:
    try:
        p.write(use_case, *args, now=p.now, **kwargs)
    except FORM_ERRORS as exc:
        if not case_id:
            raise
        return _case_page(p, case_id, problem=Problem("work", _message(exc)), status=status_for(exc))
    return _back(p, case_id, anchor)


@router.post("/cases/{case_id}/assignment")
def assign(case_id: int, p: Page = Depends(form_page)):
    raw = p.text("assignee_id")
    if not raw.isdigit() or len(raw) > 9:
        return _case_page(p, case_id, problem=Problem("work", "请选择指派对象"), status=422)
    return _run(p, case_id, "assignment", assignments.assign_stage, case_id, assignee_id=int(raw))


@router.post("/cases/{case_id}/claim")
def claim(case_id: int, p: Page = Depends(form_page)):
    return _run(p, case_id, "assignment", assignments.claim_stage, case_id)


@router.post("/cases/{case_id}/supervisions")
def issue(case_id: int, p: Page = Depends(form_page)):
    try:
        days = _days(p)
    except InvalidInput as exc:
        return _case_page(p, case_id, problem=Problem("work", exc.message), status=status_for(exc))
    return _run(
        p,
        case_id,
        "supervision",
        supervision.issue_supervision,
        case_id,
        content=p.text("content"),
        reply_working_days=days,
    )


@router.post("/supervisions/{supervision_id}/reply")
def reply(supervision_id: int, p: Page = Depends(form_page)):
    files = [
        (f.filename, f.content_type, f.file.read())
        for f in (p.form.getlist("files") if p.form is not None else [])
        if isinstance(f, UploadFile) and f.filename
    ]
    return _run(
        p, _case_of(p), "supervision", supervision.reply_supervision, supervision_id, reply=p.text("reply"), files=files
    )


@router.post("/supervisions/{supervision_id}/close")
def close(supervision_id: int, p: Page = Depends(form_page)):
    return _run(p, _case_of(p), "supervision", supervision.close_supervision, supervision_id, note=p.text("note"))


@router.post("/supervisions/{supervision_id}/renew")
def renew(supervision_id: int, p: Page = Depends(form_page)):
    case_id = _case_of(p)
    try:
        days = _days(p)
    except InvalidInput as exc:
        if not case_id:
            raise
        return _case_page(p, case_id, problem=Problem("work", exc.message), status=status_for(exc))
    return _run(
        p,
        case_id,
        "supervision",
        supervision.renew_supervision,
        supervision_id,
        content=p.text("content"),
        reply_working_days=days,
    )


@router.post("/cases/{case_id}/top-up-notices/{notice_id}/sent")
def top_up_sent(case_id: int, notice_id: int, p: Page = Depends(form_page)):
    return _run(p, case_id, "top-up", top_up.send_top_up_notice, case_id, notice_id)
