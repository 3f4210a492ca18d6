"""The joint meeting: each party's attendance, vote and opinion.

Votes are taken while the case's current state offers a transition guarded by
``meeting_quorum`` (the definition says where the meeting is, not this code). A party records
its own vote; the role responsible for the state (the convener) may record any party's, from
the sign-in sheet. Every vote is also an event in the audit chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from fundflow.domain.guards import VoteChoice
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Conflict, Forbidden, InvalidInput
from fundflow.service.integrity.facts import BALLOTS, VOTES
from fundflow.service.reads.common import case_view
from fundflow.service.tables import MeetingBallot, MeetingVote, User
from fundflow.service.usecases.cases import Reply, append_event, current_stage, load_case
from fundflow.service.usecases.meeting_sessions import current_session

__all__ = ["record_vote", "list_votes"]


def record_vote(
    svc: Services,
    user: User,
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
    the meeting's last sitting (``meeting_sessions``): a re-vote keeps the earlier one."""
    with transaction(svc.sessions) as s:
        case = load_case(s, user, case_id, for_update=True)
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
        row = s.exec(select(MeetingVote).where(MeetingVote.case_id == case.id, MeetingVote.party == party)).first()
        if row is None:
            row = MeetingVote(
                case_id=case.id,
                party=party,
                attended=attended,
                vote=vote,
                opinion=opinion,
                recorded_by=user.id,
                recorded_at=now,
            )
        else:
            row.attended, row.vote, row.opinion, row.recorded_by, row.recorded_at = (
                attended,
                vote,
                opinion,
                user.id,
                now,
            )
        s.add(row)
        attendees = (attendees or "").strip() or None
        if attendees and len(attendees) > 400:
            raise InvalidInput("出席人员不能超过 400 字", code="attendees_too_long")
        sitting = current_session(s, case)
        ballot = MeetingBallot(
            case_id=case.id,
            session_id=sitting.id if sitting else None,
            party=party,
            attended=attended,
            attendees=attendees,
            vote=vote,
            opinion=opinion,
            recorded_by=user.id,
            recorded_at=now,
        )
        s.add(ballot)
        s.flush()
        data = {"party": party, "attended": attended, "vote": vote, "opinion": opinion}
        if attendees or sitting:  # issue 11b: the ballot's sitting and attendees
            data |= {"attendees": attendees, "session_id": sitting.id if sitting else None}
        append_event(
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
        s.add(case)
        s.flush()
        return Reply(200, case_view(svc, s, user, case, current_stage(s, case), now) | {"votes": _votes(s, case.id, d)})


def _votes(s, case_id: int, d) -> list[dict]:
    rows = s.exec(select(MeetingVote).where(MeetingVote.case_id == case_id).order_by(MeetingVote.party)).all()
    return [
        {
            "party": v.party,
            "party_label": d.roles[v.party].label if v.party in d.roles else v.party,
            "attended": v.attended,
            "vote": v.vote,
            "opinion": v.opinion,
        }
        for v in rows
    ]


def list_votes(svc: Services, user: User, case_id: int) -> list[dict]:
    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        return _votes(s, case.id, svc.registry.get(case.definition_id, case.definition_version))
