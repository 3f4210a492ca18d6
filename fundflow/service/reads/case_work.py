"""The case page's work panel (and GET /cases/{id}/work):
who the current stage is assigned to and whom the caller may assign it to (指派/签收), the
case's 督办 and what the caller may do with each, and the top-up notices already sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from fundflow.service.reads.common import iso
from fundflow.service.tables import Case, Document, StageAssignment, Supervision, TopUpSend, User
from fundflow.service.usecases.assignments import assignment_view, colleagues
from fundflow.service.usecases.cases import current_stage, load_case
from fundflow.service.usecases.supervision import (
    CLOSED,
    DEFAULT_REPLY_DAYS,
    ISSUED,
    MAX_REPLY_FILES,
    escalations,
    pending_since,
    reply_document_view,
    supervisor_roles,
    view,
)

__all__ = ["case_work"]


def _supervisions(s: Session, svc, user: User, case: Case) -> list[dict[str, Any]]:
    d = svc.registry.get(case.definition_id, case.definition_version)
    rows = s.exec(select(Supervision).where(Supervision.case_id == case.id).order_by(Supervision.id)).all()
    ids = [i for r in rows for i in (r.reply_documents or ())]
    docs = {doc.id: doc for doc in s.exec(select(Document).where(Document.id.in_(ids)))} if ids else {}
    out = []
    for r in rows:
        supervises = user.role == r.issuer_role or user.role in supervisor_roles(d, r.state)
        out.append(
            view(r, d)
            | {
                "may_reply": r.status == ISSUED and user.role == r.to_role,
                "may_close": r.status != CLOSED and supervises,
                "may_renew": r.status != CLOSED and supervises,
                # the documents attached to this round's reply
                "reply_documents": [reply_document_view(docs[i]) for i in (r.reply_documents or ()) if i in docs],
            }
        )
    return out


def case_work(s: Session, svc, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    case = load_case(s, user, case_id)
    d = svc.registry.get(case.definition_id, case.definition_version)
    state = d.states[case.state]
    stage = current_stage(s, case)
    responsible = not state.terminal and stage is not None and state.responsible == user.role
    row = s.exec(select(StageAssignment).where(StageAssignment.stage_id == stage.id)).first() if stage else None
    assignment = assignment_view(s, row)
    supervisions = _supervisions(s, svc, user, case)
    span = escalations(s, stage.id, user.role) if stage is not None and not state.terminal else None
    may_issue = bool(
        span is not None
        and user.role in supervisor_roles(d, case.state)
        and pending_since(*span, list(s.exec(select(Supervision).where(Supervision.stage_id == stage.id)))) is not None
    )
    sent = {t.notice_id: t for t in s.exec(select(TopUpSend).where(TopUpSend.case_id == case.id))}
    return {
        "assignment": assignment,
        "may_assign": responsible,
        "may_claim": responsible
        and (assignment is None or (assignment["assignee_id"] == user.id and not assignment["claimed"])),
        "colleagues": [{"id": u.id, "name": u.display_name} for u in colleagues(s, user, case)] if responsible else [],
        "supervisions": supervisions,
        "may_issue": may_issue,
        "default_reply_days": DEFAULT_REPLY_DAYS,
        "max_reply_files": MAX_REPLY_FILES,
        "top_up_sent": {str(nid): iso(t.sent_at) for nid, t in sent.items()},  # notice id -> when sent
        "may_send_top_up": user.org_level == "street_office" and user.org_id == case.street_office_id,
    }
