"""Records, not counters (issue 11b), on both databases: the public notice's objections are
records (owner, room, text, the answer linked to it, status) and the notice cannot close while
one is open; each record is covered by its event's facts, so ``audit verify`` sees a changed
row. And the task sources the tasklist reads (service/reads/handoff_tasks.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from fundflow.domain.errors import TransitionRefused
from fundflow.service.errors import Forbidden, HandoffRefused, InvalidInput
from fundflow.service.integrity.verify import verify_state
from fundflow.service.reads import handoff_tasks
from fundflow.service.tables import Objection
from fundflow.service.usecases import handoffs, objections
from tests.support.flows import Flow, load_user

KEYS = {"kind", "case_id", "case_number", "case_title", "what", "since", "due_at", "href"}


def _verify(svc):
    with svc.sessions() as s:
        return verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier if svc.signer else None)


def _at_notice(flow: Flow) -> int:
    case_id = flow.open()
    flow.advance(case_id, "public_notice")
    flow.doc(case_id, "notice_text", "notice_photos", "cost_table")
    flow.fire("so", case_id, "post_notice")
    return case_id


def _raise(flow: Flow, case_id: int, who: str = "oc", room: str = "1栋1单元101"):
    return objections.raise_objection(
        flow.svc, flow.u[who], case_id, owner_name="张三", room=room, text="一楼不使用消防水泵，不应分摊", now=flow.now
    )


def _tasks(flow: Flow, source, who: str) -> list[dict]:
    user = flow.u.get(who) or load_user(flow.svc, flow.world.ids[f"user_{who}"])
    with flow.svc.sessions() as s:
        return source(s, user, flow.now)


def test_an_open_objection_record_keeps_the_notice_from_closing_until_it_is_answered(flow):
    case_id = _at_notice(flow)
    raised = _raise(flow, case_id)
    assert raised.status == 201 and raised.body["status"] == "open" and raised.body["open"] == 1
    assert (raised.body["owner_name"], raised.body["room"]) == ("张三", "1栋1单元101")
    flow.now += timedelta(days=8)  # the 7-day notice has run out
    with pytest.raises(TransitionRefused) as e:
        flow.fire("so", case_id, "close_notice")
    assert e.value.refusal.guard == "objections_answered" and "1 条业主异议" in e.value.refusal.message
    answered = objections.answer_objection(
        flow.svc, flow.u["so"], case_id, raised.body["id"], answer="按不动产登记面积分摊，已当面解释", now=flow.now
    )
    assert answered.body["status"] == "answered" and answered.body["open"] == 0
    with flow.svc.sessions() as s:
        from fundflow.service.tables import Case

        listed = objections.objections_of(s, s.get(Case, case_id))
    assert [(o["room"], o["text"][:4], o["answer"][:4], o["status"]) for o in listed] == [
        ("1栋1单元101", "一楼不使", "按不动产", "answered")
    ]
    assert flow.fire("so", case_id, "close_notice")["state"] == "disbursement"
    report = _verify(flow.svc)
    assert report.ok, [str(f) for f in report.findings]


def test_who_records_and_answers_objections_and_where_is_declared(flow):
    case_id = flow.open()
    with pytest.raises(HandoffRefused) as e:  # no public notice yet
        _raise(flow, case_id)
    assert e.value.code == "objections_not_in_state"
    flow.advance(case_id, "public_notice")
    with pytest.raises(Forbidden):  # the property company does not record objections
        _raise(flow, case_id, "pc")
    with pytest.raises(InvalidInput) as e:
        objections.raise_objection(
            flow.svc, flow.u["oc"], case_id, owner_name="", room="101", text="有异议", now=flow.now
        )
    assert e.value.detail["field"] == "owner_name"
    raised = _raise(flow, case_id, "rc")
    with pytest.raises(Forbidden):  # the owners' committee does not answer them
        objections.answer_objection(flow.svc, flow.u["oc"], case_id, raised.body["id"], answer="自行答复", now=flow.now)
    objections.answer_objection(flow.svc, flow.u["so"], case_id, raised.body["id"], answer="已复核面积", now=flow.now)
    with pytest.raises(HandoffRefused) as e:
        objections.answer_objection(flow.svc, flow.u["so"], case_id, raised.body["id"], answer="再答一次", now=flow.now)
    assert e.value.code == "objection_answered"


def test_a_changed_objection_record_is_out_of_step_with_its_event(flow):
    case_id = _at_notice(flow)
    raised = _raise(flow, case_id)
    with flow.svc.sessions() as s:
        s.execute(update(Objection).where(Objection.id == raised.body["id"]).values(text="已篡改的异议"))
        s.commit()
    report = _verify(flow.svc)
    assert any(f.kind == "out_of_step" and f.where.startswith("objections") for f in report.findings), [
        str(f) for f in report.findings
    ]


def test_the_answering_party_gets_a_task_for_each_open_objection(flow):
    case_id = _at_notice(flow)
    raised = _raise(flow, case_id)
    tasks = _tasks(flow, handoff_tasks.objections_to_answer, "so")
    assert [t["kind"] for t in tasks] == ["objection_answer"]
    t = tasks[0]
    assert set(t) == KEYS and t["case_id"] == case_id and t["href"] == f"/cases/{case_id}#objections"
    assert "1栋1单元101" in t["what"] and isinstance(t["since"], datetime) and t["since"].tzinfo is not None
    assert t["due_at"] is not None and t["due_at"].tzinfo is not None
    assert _tasks(flow, handoff_tasks.objections_to_answer, "oc") == []  # it raised it; it does not answer
    objections.answer_objection(flow.svc, flow.u["so"], case_id, raised.body["id"], answer="已解释", now=flow.now)
    assert _tasks(flow, handoff_tasks.objections_to_answer, "so") == []


def test_the_declared_approver_gets_a_task_for_an_extension_to_decide(flow):
    case_id = flow.open()
    ext = handoffs.request_extension(flow.svc, flow.u["fr"], case_id, working_days=2, reason="检测排期", now=flow.now)
    tasks = _tasks(flow, handoff_tasks.extension_decisions, "fc")
    assert [(t["kind"], t["case_id"]) for t in tasks] == [("extension_decision", case_id)]
    assert set(tasks[0]) == KEYS and "2 个工作日" in tasks[0]["what"] and tasks[0]["due_at"].tzinfo is not None
    assert _tasks(flow, handoff_tasks.extension_decisions, "hb") == []
    assert _tasks(flow, handoff_tasks.extension_decisions, "fr") == []
    handoffs.decide_extension(flow.svc, flow.u["fc"], case_id, ext.body["id"], approve=True, opinion=None, now=flow.now)
    assert _tasks(flow, handoff_tasks.extension_decisions, "fc") == []
    assert handoff_tasks.SOURCES == (
        handoff_tasks.extension_decisions,
        handoff_tasks.objections_to_answer,
        handoff_tasks.transfers_to_accept,
    )


# -- signatures ---------------------------------------------------------------------------------


def _signatures(flow: Flow, case_id: int) -> list[dict]:
    from fundflow.service.reads.records import signatures
    from fundflow.service.tables import Case

    with flow.svc.sessions() as s:
        return signatures(s, flow.svc, s.get(Case, case_id))


def test_a_signature_names_the_person_the_party_and_the_opinion(flow):
    case_id = flow.open()
    flow.advance(case_id, "acceptance")
    flow.fire("fr", case_id, "sign_acceptance", {"signer": "张建军（大队长）", "opinion": "消防水泵联动正常，同意验收"})
    flow.fire("oc", case_id, "sign_acceptance", {"opinion": "业主代表现场确认"})
    sigs = _signatures(flow, case_id)
    assert [(g["party"], g["person"], g["opinion"], g["current"]) for g in sigs] == [
        ("fire_rescue", "张建军（大队长）", "消防水泵联动正常，同意验收", True),
        ("owners_committee", "oc", "业主代表现场确认", True),  # no signer named: the signed-in user
    ]
    assert sigs[0]["party_label"] == "消防救援机构" and sigs[0]["org"] and sigs[0]["record"] == "acceptance"
    # a failed acceptance sends the works back: the next visit is signed afresh, the earlier kept
    flow.doc(case_id, "acceptance_report")
    flow.fire("so", case_id, "fail_acceptance", {"reason": "喷淋末端压力不足", "rectification_deadline": "2026-06-30"})
    flow.fire("so", case_id, "complete_works", {"completion_date": "2026-03-02"})
    flow.fire("fr", case_id, "sign_acceptance", {"signer": "张建军（大队长）", "opinion": "复验合格"})
    sigs = _signatures(flow, case_id)
    assert [(g["opinion"], g["current"]) for g in sigs] == [
        ("消防水泵联动正常，同意验收", False),
        ("业主代表现场确认", False),
        ("复验合格", True),
    ]


# -- the joint meeting as a session ------------------------------------------------------------


def _meeting(flow: Flow, case_id: int) -> dict:
    from fundflow.service.tables import Case
    from fundflow.service.usecases.meeting_sessions import meeting_record

    with flow.svc.sessions() as s:
        return meeting_record(s, flow.svc, s.get(Case, case_id))


def test_the_meeting_is_a_session_and_a_revote_keeps_the_earlier_vote(flow):
    from fundflow.service.usecases import meeting_sessions, meetings

    case_id = flow.open()
    flow.advance(case_id, "joint_meeting")
    sitting = meeting_sessions.open_session(
        flow.svc, flow.u["so"], case_id, held_on="2026-03-02", venue="月塘街道办事处三楼会议室", now=flow.now
    )
    assert sitting.status == 201 and sitting.body["venue"] == "月塘街道办事处三楼会议室"
    vote = dict(party="fund_center", attended=True, now=flow.now)
    meetings.record_vote(
        flow.svc, flow.u["fc"], case_id, vote="disagree", opinion="预算偏高", attendees="王科长（审核科）", **vote
    )
    meetings.record_vote(flow.svc, flow.u["fc"], case_id, vote="agree", opinion="核减后同意", **vote)
    m = _meeting(flow, case_id)
    assert [x["held_on"] for x in m["sessions"]] == ["2026-03-02"]
    assert [(b["party"], b["vote"], b["attendees"], b["superseded"], b["session_id"]) for b in m["ballots"]] == [
        ("fund_center", "disagree", "王科长（审核科）", True, sitting.body["id"]),
        ("fund_center", "agree", None, False, sitting.body["id"]),
    ]
    # the quorum counts the current vote only
    assert [v["vote"] for v in meetings.list_votes(flow.svc, flow.u["so"], case_id)] == ["agree"]
    report = _verify(flow.svc)
    assert report.ok, [str(f) for f in report.findings]
    from fundflow.service.tables import MeetingBallot

    with flow.svc.sessions() as s:  # rewriting the earlier vote shows
        s.execute(update(MeetingBallot).where(MeetingBallot.vote == "disagree").values(vote="agree"))
        s.commit()
    assert any(f.where.startswith("ballots") for f in _verify(flow.svc).findings)


def test_only_the_convener_records_a_sitting_where_the_meeting_is_held(flow):
    from fundflow.service.usecases import meeting_sessions

    case_id = flow.open()
    with pytest.raises(HandoffRefused) as e:
        meeting_sessions.open_session(
            flow.svc, flow.u["so"], case_id, held_on="2026-03-02", venue="会议室", now=flow.now
        )
    assert e.value.code == "no_meeting_in_state"
    flow.advance(case_id, "joint_meeting")
    with pytest.raises(Forbidden):
        meeting_sessions.open_session(
            flow.svc, flow.u["pc"], case_id, held_on="2026-03-02", venue="会议室", now=flow.now
        )
    with pytest.raises(InvalidInput) as e:
        meeting_sessions.open_session(
            flow.svc, flow.u["so"], case_id, held_on="2026-03-03", venue="会议室", now=flow.now
        )
    assert e.value.code == "date_in_future"
