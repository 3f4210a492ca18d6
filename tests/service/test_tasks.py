"""The tasklist (GET /api/v1/tasks): every act waiting on the caller's party, and 指派/签收.

Cases are walked with the use cases (``Flow``); the tasks are read over the API, as each party."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fundflow.service.reads.tasks import SOURCES, TASK_KEYS
from tests.support.flows import Flow, add_user
from tests.support.tasklist import assert_verified, of_case, tasks
from tests.support.world import NOW


def kinds(world, who: str, case_id: int) -> list[str]:
    return sorted(t["kind"] for t in of_case(tasks(world, who), case_id))


def test_the_responsible_party_sees_the_stage_with_its_deadline(world, flow):
    case_id = flow.open()
    [task] = of_case(tasks(world, "fr"), case_id)
    assert task["kind"] == "stage" and "隐患上报" in task["what"]
    assert task["href"] == f"/cases/{case_id}"
    assert task["case_number"].startswith("FF2026") and task["case_title"] == "消防管网锈蚀漏水"
    # opened Monday 2 March: 5 working days -> Monday 9 March; 5 left on the day it opens
    assert task["due_date"] == "2026-03-09" and task["working_days_left"] == 5 and task["overdue"] is False
    assert set(TASK_KEYS) <= set(task)
    assert of_case(tasks(world, "so"), case_id) == []  # the street office is not responsible now
    assert of_case(tasks(world, "fr_other"), case_id) == []  # another district's fire authority


def test_an_overdue_stage_comes_first_and_says_how_late(world, flow, clock):
    late = flow.open(title="早报的案件")
    flow.now = NOW + timedelta(days=7)
    fresh = flow.open(title="新报的案件")
    clock(NOW + timedelta(days=9))  # Wednesday 11 March: the first case's 9 March has passed
    items = tasks(world, "fr")
    assert [t["case_id"] for t in items][:2] == [late, fresh]
    assert items[0]["overdue"] is True and items[0]["working_days_left"] == -2
    assert items[1]["overdue"] is False


def test_the_owners_committee_is_told_the_acceptance_waits_for_its_signature(world, flow):
    case_id = flow.open()
    flow.advance(case_id, "acceptance")
    for who in ("fr", "so", "fc"):
        flow.fire(who, case_id, "sign_acceptance")
    [task] = of_case(tasks(world, "oc"), case_id)
    assert task["kind"] == "signature" and task["what"] == "签署验收意见"
    assert task["href"] == f"/cases/{case_id}#actions" and task["due_at"] is not None
    # parties the definition does not require to sign have nothing to do
    assert of_case(tasks(world, "pc"), case_id) == [] and of_case(tasks(world, "rc"), case_id) == []
    assert kinds(world, "fr", case_id) == []  # signed already
    flow.fire("oc", case_id, "sign_acceptance")
    assert of_case(tasks(world, "oc"), case_id) == []
    assert "signature" not in kinds(world, "so", case_id)


def test_a_top_up_notice_waits_until_the_street_office_sends_it(world, flow):
    case_id = flow.open()
    flow.advance(case_id, "advance_payment")  # the approval froze shares: 2栋102 fell below the line
    [task] = [t for t in of_case(tasks(world, "so"), case_id) if t["kind"] == "top_up"]
    assert task["what"].startswith("送达续交通知（") and task["href"] == f"/cases/{case_id}#top-up"
    assert of_case(tasks(world, "so_other"), case_id) == []
    notice_id = world.client.get(f"/api/v1/cases/{case_id}", headers=world.h("so")).json()["top_up_notices"][0]["id"]
    url = f"/api/v1/cases/{case_id}/top-up-notices/{notice_id}/sent"
    assert world.client.post(url, headers=world.h("fc")).status_code == 403
    r = world.client.post(url, headers=world.h("so"))
    assert r.status_code == 200, r.text
    assert "top_up" not in kinds(world, "so", case_id)
    assert world.client.post(url, headers=world.h("so")).json()["code"] == "top_up_already_sent"
    events = world.client.get(f"/api/v1/cases/{case_id}/events", headers=world.h("so")).json()
    assert events[-1]["label"] == "送达续交通知"


def test_a_missing_meeting_vote_is_a_task_of_that_party(world, flow):
    from fundflow.service.usecases import meetings

    case_id = flow.open()
    flow.advance(case_id, "joint_meeting")
    assert kinds(world, "fc", case_id) == ["vote"]
    assert kinds(world, "so", case_id) == ["stage", "vote"]  # the convener votes too
    assert kinds(world, "oc", case_id) == ["vote"]
    meetings.record_vote(
        flow.svc, flow.u["fc"], case_id, party="fund_center", attended=True, vote="agree", opinion=None, now=flow.now
    )
    assert kinds(world, "fc", case_id) == []
    # the convener records the owners' committee's vote from the sign-in sheet: it is no longer missing
    meetings.record_vote(
        flow.svc, flow.u["so"], case_id, party="owners_committee", attended=False, vote=None, opinion=None, now=flow.now
    )
    assert kinds(world, "oc", case_id) == []


def test_an_open_objection_is_a_task_of_the_party_that_answers_it(world, flow):
    case_id = flow.open()
    flow.advance(case_id, "public_notice")
    assert "objection" not in kinds(world, "so", case_id)
    flow.fire("oc", case_id, "raise_objection", {"objection": "分摊有疑问"})
    flow.fire("oc", case_id, "raise_objection", {"objection": "施工质量有疑问"})
    objection = [t for t in of_case(tasks(world, "so"), case_id) if t["kind"] == "objection"]
    assert len(objection) == 1 and "2 项待答复" in objection[0]["what"]
    for _ in range(2):
        flow.fire("so", case_id, "answer_objection", {"answer": "已答复"})
    assert "objection" not in kinds(world, "so", case_id)


def test_a_suspended_stage_waits_for_resumption_without_a_deadline(world, flow):
    case_id = flow.open()
    flow.advance(case_id, "site_survey")
    flow.fire("so", case_id, "suspend", {"reason": "等待业主续交"})
    [task] = of_case(tasks(world, "so"), case_id)
    assert "已挂起" in task["what"] and task["due_at"] is None and task["overdue"] is False


def test_every_source_returns_exactly_the_task_keys(world, flow):
    case_id = flow.open()
    flow.advance(case_id, "acceptance")
    from fundflow.service.reads import Reader
    from fundflow.service.reads.tasks import _services

    token = _services.set(world.svc)
    try:
        with Reader(world.svc) as r:
            for who in ("so", "fc", "fr", "oc"):
                for source in SOURCES:
                    for t in source(r.s, flow.u[who], flow.now):
                        assert set(t) == TASK_KEYS, source.__name__
                        assert t["since"].tzinfo is not None
    finally:
        _services.reset(token)


def test_a_bad_scope_is_refused(world):
    r = world.client.get("/api/v1/tasks", params={"scope": "everyone"}, headers=world.h("so"))
    assert r.status_code == 422


# -- 指派 / 签收 --------------------------------------------------------------------------------


@pytest.fixture
def survey(world, flow) -> int:
    case_id = flow.open()
    flow.advance(case_id, "site_survey")
    add_user(world, "so2", "street_office", "HT-YT")
    return case_id


def test_the_stage_is_assigned_to_a_colleague_who_claims_it(world, flow, survey):
    so2 = world.ids["user_so2"]
    r = world.client.post(f"/api/v1/cases/{survey}/assignment", json={"assignee_id": so2}, headers=world.h("so"))
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == "so2" and r.json()["claimed"] is False
    # mine: the assignee's; my organisation's: everyone's of the office
    assert [t["case_id"] for t in tasks(world, "so2", "mine")] == [survey]
    assert tasks(world, "so", "mine") == []
    [org] = of_case(tasks(world, "so"), survey)
    assert org["assignee"] == {"id": so2, "name": "so2", "claimed": False}
    r = world.client.post(f"/api/v1/cases/{survey}/claim", headers=world.h("so"))
    assert r.status_code == 409 and r.json()["code"] == "assigned_to_other"
    r = world.client.post(f"/api/v1/cases/{survey}/claim", headers=world.h("so2"))
    assert r.status_code == 200 and r.json()["claimed"] is True
    r = world.client.post(f"/api/v1/cases/{survey}/claim", headers=world.h("so2"))
    assert r.status_code == 409 and r.json()["code"] == "already_claimed"
    events = world.client.get(f"/api/v1/cases/{survey}/events", headers=world.h("so")).json()
    labels = [e["label"] for e in events]
    assert "指派：现场查勘 → so2" in labels and "签收：现场查勘" in labels
    # the next stage starts unassigned
    flow.advance(survey, "joint_meeting")
    [stage] = [t for t in of_case(tasks(world, "so"), survey) if t["kind"] == "stage"]
    assert stage["assignee"] is None
    assert tasks(world, "so2", "mine") == []


def test_only_the_responsible_organisation_assigns_and_only_to_its_own(world, survey):
    r = world.client.post(
        f"/api/v1/cases/{survey}/assignment", json={"assignee_id": world.ids["user_pc"]}, headers=world.h("pc")
    )
    assert r.status_code == 403 and r.json()["code"] == "not_responsible"
    r = world.client.post(
        f"/api/v1/cases/{survey}/assignment", json={"assignee_id": world.ids["user_so_other"]}, headers=world.h("so")
    )
    assert r.status_code == 422 and r.json()["code"] == "assignee_not_colleague"
    r = world.client.post(f"/api/v1/cases/{survey}/assignment", json={"assignee_id": 999999}, headers=world.h("so"))
    assert r.status_code == 404
    r = world.client.post(
        f"/api/v1/cases/{survey}/assignment", json={"assignee_id": world.ids["user_so"]}, headers=world.h("so_other")
    )
    assert r.status_code == 404  # another office's case is not found


def test_claiming_an_unassigned_stage_takes_it(world, survey):
    r = world.client.post(f"/api/v1/cases/{survey}/claim", headers=world.h("so2"))
    assert r.status_code == 200 and r.json()["assignee"] == "so2" and r.json()["claimed"]
    assert [t["case_id"] for t in tasks(world, "so2", "mine")] == [survey]
    work = world.client.get(f"/api/v1/cases/{survey}/work", headers=world.h("so")).json()
    assert work["assignment"]["assignee"] == "so2" and work["may_assign"] and not work["may_claim"]
    assert {c["name"] for c in work["colleagues"]} == {"so", "so2"}


def test_assignments_keep_the_audit_chain_whole(world, flow, survey):
    world.client.post(
        f"/api/v1/cases/{survey}/assignment", json={"assignee_id": world.ids["user_so2"]}, headers=world.h("so")
    )
    world.client.post(f"/api/v1/cases/{survey}/claim", headers=world.h("so2"))
    flow.advance(survey, "joint_meeting")
    assert_verified(world.svc)


def test_a_stale_flow_keeps_working(world):
    """A second Flow over the same world sees the same tasks (nothing is cached per process)."""
    f = Flow(world)
    case_id = f.open()
    assert of_case(tasks(world, "fr"), case_id)
