"""The case page's hand-offs (issue 11b): 转办, 延期申请 and its decision, 撤回 by the party that
opened the case, and the public notice's objections. Each form writes through the same use case
as the API; a refusal is shown beside its form (``_case_body.html`` includes
``_case_handoffs.html``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse, Response

from fundflow.http.web.pages.case import Problem, _after_post, _case_page
from fundflow.http.web.pages.common import FORM_ERRORS, Page, _message, form_page, page
from fundflow.http.web.render import PageRoute
from fundflow.service.errors import InvalidInput, status_for
from fundflow.service.usecases import handoffs, meeting_sessions, objections

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _int(raw: str, field: str, what: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"请填写{what}", code="invalid_number", detail={"field": field})
    return int(raw)


def _refused(p: Page, case_id: int, form: str, exc: Exception, values: dict) -> Response:
    field = exc.detail.get("field") if isinstance(getattr(exc, "detail", None), dict) else None
    return _case_page(p, case_id, problem=Problem(form, _message(exc), field, values), status=status_for(exc))


@router.post("/cases/{case_id}/transfer")
def transfer(case_id: int, p: Page = Depends(form_page)):
    values = {k: p.text(k) for k in ("to_org_id", "reason")}
    try:
        reply = p.write(
            handoffs.transfer_case,
            case_id,
            to_org_id=_int(values["to_org_id"], "to_org_id", "接收单位"),
            reason=values["reason"],
            now=p.now,
        )
    except FORM_ERRORS as exc:
        return _refused(p, case_id, "transfer", exc, values)
    # the case stays here until the receiver accepts: to the transfers, which show it waiting
    target = f"/transfers?done={reply.body['id']}"
    if p.htmx:
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_id}/extensions")
def ask_extension(case_id: int, p: Page = Depends(form_page)):
    values = {k: p.text(k) for k in ("working_days", "reason")}
    try:
        p.write(
            handoffs.request_extension,
            case_id,
            working_days=_int(values["working_days"], "working_days", "延期工作日数"),
            reason=values["reason"],
            now=p.now,
        )
    except FORM_ERRORS as exc:
        return _refused(p, case_id, "extension", exc, values)
    return _after_post(p, case_id, "handoffs")


@router.post("/cases/{case_id}/extensions/{extension_id}/decision")
def decide_extension(case_id: int, extension_id: int, p: Page = Depends(form_page)):
    values = {k: p.text(k) for k in ("decision", "opinion")}
    try:
        p.write(
            handoffs.decide_extension,
            case_id,
            extension_id,
            approve=values["decision"] == "approve",
            opinion=values["opinion"] or None,
            now=p.now,
        )
    except FORM_ERRORS as exc:
        return _refused(p, case_id, f"decision:{extension_id}", exc, values)
    return _after_post(p, case_id, "handoffs")


@router.post("/cases/{case_id}/withdraw")
def withdraw(case_id: int, p: Page = Depends(form_page)):
    values = {"reason": p.text("reason")}
    try:
        p.write(handoffs.withdraw_case, case_id, reason=values["reason"], now=p.now)
    except FORM_ERRORS as exc:
        return _refused(p, case_id, "withdraw", exc, values)
    return _after_post(p, case_id, "case-top")


@router.post("/cases/{case_id}/objections")
def raise_objection(case_id: int, p: Page = Depends(form_page)):
    values = {k: p.text(k) for k in ("owner_name", "room", "text")}
    try:
        p.write(objections.raise_objection, case_id, now=p.now, **values)
    except FORM_ERRORS as exc:
        return _refused(p, case_id, "objection", exc, values)
    return _after_post(p, case_id, "objections")


@router.post("/cases/{case_id}/objections/{objection_id}/answer")
def answer_objection(case_id: int, objection_id: int, p: Page = Depends(form_page)):
    values = {"answer": p.text("answer")}
    try:
        p.write(objections.answer_objection, case_id, objection_id, answer=values["answer"], now=p.now)
    except FORM_ERRORS as exc:
        return _refused(p, case_id, f"answer:{objection_id}", exc, values)
    return _after_post(p, case_id, "objections")


@router.post("/cases/{case_id}/meeting-sessions")
def open_session(case_id: int, p: Page = Depends(form_page)):
    values = {k: p.text(k) for k in ("held_on", "venue")}
    try:
        p.write(meeting_sessions.open_session, case_id, held_on=values["held_on"], venue=values["venue"], now=p.now)
    except FORM_ERRORS as exc:
        return _refused(p, case_id, "session", exc, values)
    return _after_post(p, case_id, "meeting")


@router.post("/transfers/{transfer_id}/decision")
def decide_transfer(transfer_id: int, p: Page = Depends(form_page)):
    """签收 or 不予签收 a transfer to the user's organisation; a refusal shows beside its form."""
    values = {k: p.text(k) for k in ("decision", "note")}
    accept = values["decision"] == "accept"
    try:
        if accept:
            reply = p.write(handoffs.accept_transfer, transfer_id, note=values["note"] or None, now=p.now)
        else:
            reply = p.write(handoffs.decline_transfer, transfer_id, reason=values["note"] or None, now=p.now)
    except FORM_ERRORS as exc:
        return _transfers(
            p, status=status_for(exc), problem=Problem(f"transfer:{transfer_id}", _message(exc), None, values)
        )
    # accepted: the case is ours now, to its page; declined: back to the transfers
    target = f"/cases/{reply.body['case_id']}?done=1" if accept else f"/transfers?declined={transfer_id}"
    if p.htmx:
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _transfers(p: Page, *, flash: str | None = None, problem: Problem | None = None, status: int = 200) -> Response:
    transfers = handoffs.transfers_of(p.s, p.svc, p.user)
    context = {"active": "transfers", "transfers": transfers, "flash": flash, "problem": problem}
    return p.render("transfers.html", context, status=status)


@router.get("/transfers")
def transfers_page(
    p: Page = Depends(page),
    done: str | None = Query(None, max_length=10),
    declined: str | None = Query(None, max_length=10),
):
    transfers = handoffs.transfers_of(p.s, p.svc, p.user)
    flash = None
    if done and transfers and str(transfers[0]["id"]) == done:
        flash = (
            f"已转办：{transfers[0]['case_number']} 转至{transfers[0]['to_org']}，待对方签收；签收前由本单位继续办理。"
        )
    gone = next((t for t in transfers if str(t["id"]) == declined), None) if declined else None
    if gone is not None:
        flash = f"已不予签收：{gone['case_number']} 仍由{gone['from_org']}办理。"
    return _transfers(p, flash=flash)
