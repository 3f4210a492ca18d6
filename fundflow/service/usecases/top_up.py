"""Sending a top-up notice (续交通知): the street office marks a notice as sent to its households.

The notice itself is written by the ledger when an event takes households below the top-up
line (``usecases/ledger.py``); sending it is the street office's task until this is recorded.
The act is an event on the case, with the notice's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from fundflow.service.context import Services
from fundflow.service.db import transaction
from fundflow.service.errors import Forbidden, NotFound, TaskRefused
from fundflow.service.reads.common import iso, money
from fundflow.service.tables import TopUpNotice, TopUpSend, User
from fundflow.service.usecases.cases import append_event, load_case

__all__ = ["send_top_up_notice"]


def send_top_up_notice(svc: Services, user: User, case_id: int, notice_id: int, *, now: datetime) -> dict[str, Any]:
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        notice = s.get(TopUpNotice, notice_id)
        if notice is None or notice.case_id != case.id:
            raise NotFound("续交通知不存在", code="top_up_notice_not_found", detail={"notice_id": notice_id})
        if user.org_level != "street_office" or user.org_id != notice.street_office_id:
            raise Forbidden("续交通知由案件所在街道办事处送达", code="not_notice_office")
        if s.exec(select(TopUpSend).where(TopUpSend.notice_id == notice.id)).first() is not None:
            raise TaskRefused("该续交通知已送达", code="top_up_already_sent")
        row = TopUpSend(notice_id=notice.id, case_id=case.id, sent_by=user.id, sent_at=now)
        s.add(row)
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "send_top_up_notice",
            "送达续交通知",
            case.state,
            case.state,
            {"notice_id": notice.id, "households": notice.households, "total": money(notice.total)},
            None,
            now,
        )
        s.add(case)
        s.flush()
        return {"notice_id": notice.id, "case_id": case.id, "sent_at": iso(now), "sent_by": user.display_name}
