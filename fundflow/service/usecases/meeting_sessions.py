"""The joint meeting as a session (issue 11b): its sittings (date, venue, convener) and every vote
recorded, in order, with the attendees of each party. ``meetings.record_vote`` keeps each party's
current vote (what the quorum guard reads) and appends a ballot to the sitting held last, so a
re-vote keeps the earlier vote in the history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, select

from fundflow.domain.tz import local_date
from fundflow.service.context import Services
from fundflow.service.db import flushed, transaction
from fundflow.service.errors import Forbidden, HandoffRefused, InvalidInput
from fundflow.service.integrity.facts import SESSIONS
from fundflow.service.prepared import Prepared
from fundflow.service.reads.common import iso
from fundflow.service.tables import Case, MeetingBallot, MeetingSession, User
from fundflow.service.usecases.cases import Reply, append_event, load_case

__all__ = ["open_session", "current_session_id", "meeting_record", "session_view"]


def _held_on(raw: Any, today: date) -> date:
    if isinstance(raw, date):
        day = raw
    else:
        try:
            day = date.fromisoformat(str(raw or "").strip())
        except ValueError:
            raise InvalidInput(
                "会议日期格式不正确，应为 YYYY-MM-DD", code="invalid_date", detail={"field": "held_on"}
            ) from None
    if day > today:
        raise InvalidInput("会议日期不能晚于今天", code="date_in_future", detail={"field": "held_on"})
    return day


def open_session(svc: Services, user: User, case_id: int, *, held_on: Any, venue: str, now: datetime) -> Reply:
    """The convener (the meeting state's responsible role) records a sitting of the meeting."""
    day = _held_on(held_on, local_date(now))
    venue = (venue or "").strip()
    if not venue or len(venue) > 200:
        raise InvalidInput("请填写会议地点（不超过 200 字）", code="invalid_venue", detail={"field": "venue"})
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
        d = svc.registry.get(case.definition_id, case.definition_version)
        state = d.states[case.state]
        if not d.meeting_parties(case.state):
            raise HandoffRefused(f"当前环节“{state.label}”不召开联席会议", code="no_meeting_in_state")
        if case.suspended_since is not None:
            raise HandoffRefused("案件已挂起，不能登记会议", code="case_suspended")
        if user.role != state.responsible:
            raise Forbidden(f"联席会议由{d.roles[state.responsible].label}召集", code="not_convener")
        row = MeetingSession(
            case_id=case.id, state=case.state, held_on=day, venue=venue, convened_by=user.id, recorded_at=now
        )
        s.add(row)
        s.flush()
        case.updated_at = now
        append_event(
            s,
            case,
            user,
            "meeting_session",
            f"召开联席会议：{day.isoformat()} {venue}",
            case.state,
            case.state,
            {"session_id": row.id, "held_on": day.isoformat(), "venue": venue},
            None,
            now,
            [SESSIONS.put(row)],
        )
        s.add(case)
        s.flush()
        return Reply(201, session_view(row))


_CURRENT = Prepared(
    select(MeetingSession.id)
    .where(MeetingSession.case_id == bindparam("case_id"), MeetingSession.state == bindparam("state"))
    .order_by(MeetingSession.id.desc())
    .limit(1)
)


def current_session_id(s: Session, case: Any) -> int | None:
    """The id of the sitting held last in the case's current state (none recorded: None)."""
    row = _CURRENT.first(flushed(s), {"case_id": case.id, "state": case.state})
    return row[0] if row else None


def session_view(row: MeetingSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "held_on": row.held_on.isoformat(),
        "venue": row.venue,
        "recorded_at": iso(row.recorded_at),
    }


def meeting_record(s: Session, svc: Services, case: Case) -> dict[str, Any]:
    """The sittings and every ballot, oldest first; a ballot a later one of the same party and
    sitting replaced is ``superseded`` (kept, not counted)."""
    d = svc.registry.get(case.definition_id, case.definition_version)
    sessions = [
        session_view(r)
        for r in s.exec(select(MeetingSession).where(MeetingSession.case_id == case.id).order_by(MeetingSession.id))
    ]
    rows = list(s.exec(select(MeetingBallot).where(MeetingBallot.case_id == case.id).order_by(MeetingBallot.id)))
    last: dict[tuple[int | None, str], int] = {}
    for b in rows:
        last[(b.session_id, b.party)] = b.id
    ballots = [
        {
            "id": b.id,
            "session_id": b.session_id,
            "party": b.party,
            "party_label": d.roles[b.party].label if b.party in d.roles else b.party,
            "attended": b.attended,
            "attendees": b.attendees,
            "vote": b.vote,
            "opinion": b.opinion,
            "recorded_at": iso(b.recorded_at),
            "superseded": last[(b.session_id, b.party)] != b.id,
        }
        for b in rows
    ]
    return {"sessions": sessions, "ballots": ballots}
