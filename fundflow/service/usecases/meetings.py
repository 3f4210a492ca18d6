"""The joint meeting: each party's attendance, vote and opinion.

Votes are taken while the case's current state offers a transition guarded by
``meeting_quorum`` (the definition says where the meeting is, not this code). A party records
its own vote; the role responsible for the state (the convener) may record any party's, from
the sign-in sheet. Every vote is also an event in the audit chain.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam
from sqlmodel import select

from fundflow.domain.guards import VoteChoice
from fundflow.domain.ledger import CaseMoney
from fundflow.service.context import Services
from fundflow.service.db import flushed, lean_transaction, read_only
from fundflow.service.errors import Conflict, Forbidden, InvalidInput
from fundflow.service.integrity.facts import BALLOTS, VOTES
from fundflow.service.prepared import Prepared
from fundflow.service.reads.common import case_body, money_body, money_view, top_ups_of
from fundflow.service.reads.session import Bearer
from fundflow.service.tables import MeetingVote, User
from fundflow.service.usecases import lean
from fundflow.service.usecases.cases import Reply, event_values, load_case, locked_case
from fundflow.service.usecases.meeting_sessions import current_session_id

__all__ = ["record_vote", "list_votes"]


def record_vote(
    svc: Services,
    user: User | Bearer,
    case_id: int,
    *,
    party: str,
    attended: bool,
    vote: str | None,
    opinion: str | None,
    now: datetime,
    attendees: str | None = None,
) -> Reply:
    """``attendees``: who came for the party (names, duties). Each call also appends a ballot to
    the meeting's last sitting (``meeting_sessions``): a re-vote keeps the earlier one.

    The lean path (``usecases/lean.py``): the case row locked and read once with its stage and
    names, the vote row put, the ballot and the event inserted and the case row updated at its
    version with Core statements built once; the rows digested (``integrity.facts``) as the
    ORM rows were."""
    with lean_transaction(svc.sessions) as s:
        user, got = locked_case(s, svc, user, case_id, now)  # a Bearer (the API): its token read here
        conn = s.connection()
        case = got.case
        d = svc.registry.get(case.definition_id, case.definition_version)
        state = d.states[case.state]
        if case.suspended_since is not None:
            raise Conflict("案件已挂起，不能登记表决", code="case_suspended")
        parties = d.meeting_parties(case.state)  # the one rule (the definition's meeting guards)
        if not parties:
            raise Conflict(f"当前环节“{state.label}”不召开联席会议", code="no_meeting_in_state")
        if party not in parties:
            raise InvalidInput(
                f"{d.roles[party].label if party in d.roles else party}不是联席会议的参会单位",
                code="unknown_party",
                detail={"parties": sorted(parties)},
            )
        if not d.may_record_vote(case.state, user.role, party):
            raise Forbidden("只能登记本单位的表决意见（召集单位可代为登记）", code="not_your_party")
        if vote is not None:
            try:
                vote = VoteChoice(vote).value
            except ValueError:
                raise InvalidInput(
                    "表决意见应为 agree（同意）、disagree（不同意）或 abstain（弃权）", code="invalid_vote"
                ) from None
        if not attended and vote is not None:
            raise InvalidInput("未出席的单位不能表决", code="absent_cannot_vote")
        if attended and vote is None:
            raise InvalidInput("出席单位须表决（同意、不同意或弃权）", code="vote_missing")
        opinion = (opinion or "").strip() or None
        if opinion and len(opinion) > 2000:
            raise InvalidInput("意见不能超过 2000 字", code="opinion_too_long")
        row = lean.Row(
            {
                "case_id": case.id,
                "party": party,
                "attended": attended,
                "vote": vote,
                "opinion": opinion,
                "recorded_by": user.id,
                "recorded_at": now,
            }
        )
        attendees = (attendees or "").strip() or None
        if attendees and len(attendees) > 400:
            raise InvalidInput("出席人员不能超过 400 字", code="attendees_too_long")
        sitting = current_session_id(s, case)
        ballot = lean.Row(
            {
                "case_id": case.id,
                "session_id": sitting,
                "party": party,
                "attended": attended,
                "attendees": attendees,
                "vote": vote,
                "opinion": opinion,
                "recorded_by": user.id,
                "recorded_at": now,
            }
        )
        data = {"party": party, "attended": attended, "vote": vote, "opinion": opinion}
        if attendees or sitting is not None:  # issue 11b: the ballot's sitting and attendees
            data |= {"attendees": attendees, "session_id": sitting}
        event = event_values(
            s,
            case,
            user,
            "record_vote",
            f"登记表决：{d.roles[party].label}",
            case.state,
            case.state,
            data,
            None,
            now,
            [VOTES.put(row), BALLOTS.added([ballot])],
        )
        case.updated_at = now
        if not lean.write_vote(conn, case, event, row, ballot):
            raise Conflict("案件刚被他人办理，请刷新后重试", code="concurrent_update")
        money = money_view(s, case) if got.has_ledger else money_body(case, _money_of(case), [], {})
        top_ups = top_ups_of(s, case.id) if got.has_top_ups else []
        body = case_body(svc, user, case, got.stage, now, got.community, got.office, money, top_ups)
        return Reply(200, body | {"votes": _votes(s, case.id, d)})


def _money_of(case) -> CaseMoney:
    return CaseMoney(case.approved_amount, case.settled_amount, case.paid_amount or Decimal("0.00"))


_VOTE_ROWS = Prepared(
    select(MeetingVote.party, MeetingVote.attended, MeetingVote.vote, MeetingVote.opinion)
    .where(MeetingVote.case_id == bindparam("case_id"))
    .order_by(MeetingVote.party)
)


def _votes(s, case_id: int, d) -> list[dict]:
    rows = _VOTE_ROWS.all(flushed(s), {"case_id": case_id})
    return [
        {
            "party": party,
            "party_label": d.roles[party].label if party in d.roles else party,
            "attended": attended,
            "vote": vote,
            "opinion": opinion,
        }
        for party, attended, vote, opinion in rows
    ]


def list_votes(svc: Services, user: User, case_id: int) -> list[dict]:
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        return _votes(s, case.id, svc.registry.get(case.definition_id, case.definition_version))
