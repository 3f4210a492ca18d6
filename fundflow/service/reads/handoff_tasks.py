"""Task sources of the hand-offs and records (issue 11b) for the tasklist (待办): each
``source(s, user, now)`` lists the acts that wait on the user's party, as dicts with the keys
``kind, case_id, case_number, case_title, what, since, due_at, href`` (``since`` and ``due_at``
aware datetimes; ``due_at`` None when the act has no deadline of its own).

* an extension to decide (延期申请待审批): the declared approver's role; by the stage's due
  moment, since an extension decided after it comes too late;
* an objection record to answer (业主异议待答复): the roles that answer objections; by the
  public notice's due moment.

* a transfer to accept (转办待签收): the receiving organisation's users of the transferring
  role; the case is not yet theirs (they cannot open it), so the task links to the transfers
  page, where they accept or decline it. No deadline of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from fundflow.service.tables import User

__all__ = ["SOURCES", "extension_decisions", "objections_to_answer", "transfers_to_accept"]


class _Definitions:
    """The definitions the session's services loaded (``build_services`` puts them in its info)."""

    def __init__(self, s: Session):
        self.registry = s.info["registry"]


def extension_decisions(s: Session, user: User, now: datetime, svc=None) -> list[dict[str, Any]]:
    from fundflow.service.usecases.cases import current_stage
    from fundflow.service.usecases.handoffs import pending_extensions

    svc = svc or _Definitions(s)
    out = []
    for ext, case in pending_extensions(s, user):
        d = svc.registry.get(case.definition_id, case.definition_version)
        stage = current_stage(s, case)
        label = d.states[ext.state].label if ext.state in d.states else ext.state
        out.append(
            {
                "kind": "extension_decision",
                "case_id": case.id,
                "case_number": case.number,
                "case_title": case.title,
                "what": f"审批延期申请：“{label}”环节申请延期 {ext.working_days} 个工作日",
                "since": ext.requested_at,
                "due_at": stage.due_at if stage is not None else None,
                "href": f"/cases/{case.id}#handoffs",
            }
        )
    return out


def objections_to_answer(s: Session, user: User, now: datetime, svc=None) -> list[dict[str, Any]]:
    from fundflow.service.usecases.objections import open_objections_for

    svc = svc or _Definitions(s)
    return [
        {
            "kind": "objection_answer",
            "case_id": case.id,
            "case_number": case.number,
            "case_title": case.title,
            "what": f"答复业主异议：{obj.room} {obj.owner_name}",
            "since": obj.raised_at,
            "due_at": stage.due_at if stage is not None else None,
            "href": f"/cases/{case.id}#objections",
        }
        for obj, case, stage in open_objections_for(s, svc, user)
    ]


def transfers_to_accept(s: Session, user: User, now: datetime, svc=None) -> list[dict[str, Any]]:
    from fundflow.service.usecases.handoffs import pending_transfers_to

    return [
        {
            "kind": "transfer_accept",
            "case_id": case.id,
            "case_number": case.number,
            "case_title": case.title,
            "what": f"签收转办：{row.from_org_name}转来（{_short(row.reason)}）",
            "since": row.transferred_at,
            "due_at": None,
            "href": f"/transfers#transfer-{row.id}",
        }
        for row, case in pending_transfers_to(s, user)
    ]


def _short(text: str, n: int = 30) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


SOURCES = (extension_decisions, objections_to_answer, transfers_to_accept)
