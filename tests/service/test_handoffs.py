"""Hand-offs between the parties (issue 11b), on both databases: 转办 to another organisation of
the same role, 退回 to the previous stage's party, 延期申请 approved or refused by the declared
role (the due date, warning and ladder move), 撤回 by the party that opened the case until the
approval; each one an event on the case's hash chain that ``audit verify`` accepts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from fundflow.domain.errors import TransitionRefused
from fundflow.domain.tz import SHANGHAI
from fundflow.service.errors import Forbidden, HandoffRefused, InvalidInput, NotFound
from fundflow.service.integrity.verify import verify_state
from fundflow.service.reads.tasks import list_tasks
from fundflow.service.tables import Case, Stage, StageExtension
from fundflow.service.usecases import cases, handoffs
from tests.support.flows import DEF, Flow, load_user


def _verify_ok(svc):
    with svc.sessions() as s:
        report = verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier if svc.signer else None)
    assert report.ok, [str(f) for f in report.findings]


def _case_row(svc, case_id) -> Case:
    with svc.sessions() as s:
        return s.get(Case, case_id)


def _open_stage(svc, case_id) -> Stage:
    with svc.sessions() as s:
        return s.exec(select(Stage).where(Stage.case_id == case_id, Stage.left_at.is_(None))).one()


def _triggers(flow: Flow, who: str, case_id: int) -> list[str]:
    return [e["trigger"] for e in cases.get_case(flow.svc, flow.u[who], case_id, flow.now)["actions"]]


# -- 转办 ------------------------------------------------------------------------------------


def _request(flow, who="so", to="office_jn", reason="该小区属建宁街道辖区，误报至本街道"):
    case_id = flow.open()
    reply = handoffs.transfer_case(
        flow.svc, flow.u[who], case_id, to_org_id=flow.world.ids[to], reason=reason, now=flow.now
    )
    return case_id, reply


def test_a_transfer_waits_for_the_receiving_office_and_the_case_stays_with_the_sender(flow):
    w = flow.world
    case_id, reply = _request(flow)
    assert reply.status == 201 and reply.body["status"] == "pending"
    assert (reply.body["from_org"], reply.body["to_org"]) == ("月塘街道", "建宁街道")
    row = _case_row(flow.svc, case_id)
    assert (row.street_office_id, row.district_id) == (w.ids["office_yt"], w.ids["district_ht"])
    # the sender still works on it; the receiver cannot open it yet
    assert "withdraw" in _triggers(flow, "so", case_id)
    receiver = _user(flow, "so_other")
    with pytest.raises(NotFound):
        cases.get_case(flow.svc, receiver, case_id, flow.now)
    # the receiver has it on its tasklist, a transfer to accept; the sender does not
    with flow.svc.sessions() as s:
        theirs = [t for t in list_tasks(s, flow.svc, receiver, flow.now)["items"] if t["case_id"] == case_id]
        ours = [t["kind"] for t in list_tasks(s, flow.svc, flow.u["so"], flow.now)["items"] if t["case_id"] == case_id]
        incoming = handoffs.transfers_of(s, flow.svc, receiver)
    assert [(t["kind"], t["href"]) for t in theirs] == [("transfer_accept", f"/transfers#transfer-{reply.body['id']}")]
    assert "transfer_accept" not in ours
    assert [(t["direction"], t["status"], t["may_decide"], t["may_open"]) for t in incoming] == [
        ("in", "pending", True, False)
    ]
    with pytest.raises(HandoffRefused) as e:  # one transfer at a time
        handoffs.transfer_case(
            flow.svc, flow.u["so"], case_id, to_org_id=w.ids["office_cgt"], reason="再转一次", now=flow.now
        )
    assert e.value.code == "transfer_pending"
    _verify_ok(flow.svc)


def test_the_receiving_office_accepts_and_the_case_is_its_own(flow):
    w = flow.world
    case_id, reply = _request(flow)
    receiver = _user(flow, "so_other")
    later = flow.now + timedelta(hours=2)
    accepted = handoffs.accept_transfer(flow.svc, receiver, reply.body["id"], now=later)
    assert accepted.status == 200 and accepted.body["status"] == "accepted"
    row = _case_row(flow.svc, case_id)
    # the office and its district follow the receiving office
    assert (row.street_office_id, row.district_id) == (w.ids["office_jn"], w.ids["district_ls"])
    with pytest.raises(NotFound):  # the case is no longer the first office's
        cases.get_case(flow.svc, flow.u["so"], case_id, later)
    assert cases.get_case(flow.svc, receiver, case_id, later)["street_office"]["name"] == "建宁街道"
    with flow.svc.sessions() as s:  # its case page reads (the community stays the case's)
        from fundflow.service.reads.case import case_page

        assert [b["name"] for b in case_page(s, flow.svc, receiver, case_id, later)["buildings"]] == ["1栋", "2栋"]
    triggers = [e["trigger"] for e in _events(flow, receiver, case_id)]
    assert triggers[-2:] == ["transfer", "accept_transfer"]
    with flow.svc.sessions() as s:
        outgoing = handoffs.transfers_of(s, flow.svc, flow.u["so"])
        incoming = handoffs.transfers_of(s, flow.svc, receiver)
        tasks = [t["kind"] for t in list_tasks(s, flow.svc, receiver, later)["items"] if t["case_id"] == case_id]
    assert [(t["case_id"], t["direction"], t["status"]) for t in outgoing] == [(case_id, "out", "accepted")]
    assert [(t["case_id"], t["direction"], t["may_decide"], t["may_open"]) for t in incoming] == [
        (case_id, "in", False, True)
    ]
    assert "transfer_accept" not in tasks
    # the receiving office carries on: it may act on the case now
    assert "withdraw" in [a["trigger"] for a in cases.get_case(flow.svc, receiver, case_id, later)["actions"]]
    with pytest.raises(HandoffRefused) as e:
        handoffs.accept_transfer(flow.svc, receiver, reply.body["id"], now=later)
    assert e.value.code == "transfer_decided"
    _verify_ok(flow.svc)


def test_the_receiving_office_declines_with_a_reason_and_the_case_stays(flow):
    w = flow.world
    case_id, reply = _request(flow)
    receiver = _user(flow, "so_other")
    with pytest.raises(InvalidInput) as e:
        handoffs.decline_transfer(flow.svc, receiver, reply.body["id"], reason=" ", now=flow.now)
    assert e.value.code == "reason_missing"
    declined = handoffs.decline_transfer(
        flow.svc, receiver, reply.body["id"], reason="经核实属月塘街道辖区", now=flow.now
    )
    assert declined.body["status"] == "declined" and declined.body["decision_note"] == "经核实属月塘街道辖区"
    assert _case_row(flow.svc, case_id).street_office_id == w.ids["office_yt"]
    events = _events(flow, flow.u["so"], case_id)
    assert events[-1]["trigger"] == "decline_transfer" and events[-1]["data"]["note"] == "经核实属月塘街道辖区"
    with flow.svc.sessions() as s:
        assert not [t for t in list_tasks(s, flow.svc, receiver, flow.now)["items"] if t["case_id"] == case_id]
        assert handoffs.transfers_of(s, flow.svc, flow.u["so"])[0]["status"] == "declined"
    # declined, the sender may transfer it again
    again = handoffs.transfer_case(
        flow.svc, flow.u["so"], case_id, to_org_id=w.ids["office_cgt"], reason="转车站路街道", now=flow.now
    )
    assert again.body["status"] == "pending"
    _verify_ok(flow.svc)


def test_only_the_receiving_office_decides_a_transfer(flow):
    case_id, reply = _request(flow)
    tid = reply.body["id"]
    for who in ("so", "fr", "pc"):  # the sender, another role, a party of the case
        with pytest.raises(NotFound) as e:
            handoffs.accept_transfer(flow.svc, flow.u[who], tid, now=flow.now)
        assert e.value.code == "transfer_not_found"
    with pytest.raises(NotFound):
        handoffs.accept_transfer(flow.svc, _user(flow, "so_other"), 999999, now=flow.now)
    assert _case_row(flow.svc, case_id).street_office_id == flow.world.ids["office_yt"]


def test_a_transfer_lapses_when_the_case_closes_before_it_is_accepted(flow):
    case_id, reply = _request(flow)
    cases.fire_transition(
        flow.svc, flow.u["so"], case_id, trigger="withdraw", data={"reason": "业主自行修复"}, comment=None, now=flow.now
    )
    with pytest.raises(HandoffRefused) as e:
        handoffs.accept_transfer(flow.svc, _user(flow, "so_other"), reply.body["id"], now=flow.now)
    assert e.value.code == "case_closed"
    with flow.svc.sessions() as s:
        [shown] = handoffs.transfers_of(s, flow.svc, _user(flow, "so_other"))
        assert shown["may_decide"] is False and shown["status_label"] == "案件已办结，转办失效"
        assert not [
            t
            for t in list_tasks(s, flow.svc, _user(flow, "so_other"), flow.now)["items"]
            if t["kind"] == "transfer_accept"
        ]


def test_accepted_the_case_s_open_alerts_and_tasks_go_to_the_new_office(flow):
    """The old office no longer sees the case's alerts nor its tasks; the new one does; an
    assignment to a person of the old office lapses (its facts say so), an open 督办 names the
    new office."""
    from fundflow.service.tables import Alert, StageAssignment, Supervision
    from fundflow.service.usecases import alerts as alert_cases
    from fundflow.service.usecases import assignments

    w = flow.world
    case_id = flow.open()
    assignments.claim_stage(flow.svc, flow.u["fr"], case_id, now=flow.now)  # fire rescue: reported is theirs
    stage = _open_stage(flow.svc, case_id)
    with flow.svc.sessions() as s, s.begin():
        s.add(
            Alert(
                dedupe_key=f"test:{case_id}",
                kind="overdue",
                case_id=case_id,
                stage_id=stage.id,
                state=stage.state,
                at=flow.now,
                recipients=",street_office,fire_rescue,",
                title="超期",
                message="案件超期",
                created_at=flow.now,
            )
        )
    old, new = flow.u["fr"], _user(flow, "fr_other")

    def seen(user):
        alerts = [a["case_id"] for a in alert_cases.list_alerts(flow.svc, user, flow.now)["items"]]
        with flow.svc.sessions() as s:
            tasks = [t["case_id"] for t in list_tasks(s, flow.svc, user, flow.now)["items"]]
        return case_id in alerts, case_id in tasks

    assert seen(old) == (True, True) and seen(new) == (False, False)
    reply = handoffs.transfer_case(
        flow.svc, old, case_id, to_org_id=w.ids["district_ls"], reason="属芦淞区消防救援大队辖区", now=flow.now
    )
    assert seen(old) == (True, True)  # still the sender's until accepted
    assert seen(new) == (False, True)  # the transfer to accept, not yet the case's alerts
    handoffs.accept_transfer(flow.svc, new, reply.body["id"], now=flow.now)
    assert seen(old) == (False, False) and seen(new) == (True, True)
    with flow.svc.sessions() as s:
        kinds = [t["kind"] for t in list_tasks(s, flow.svc, new, flow.now)["items"] if t["case_id"] == case_id]
        assert kinds == ["stage"]
        assert s.exec(select(StageAssignment).where(StageAssignment.case_id == case_id)).first() is None
        assert s.exec(select(Supervision).where(Supervision.case_id == case_id)).first() is None
    accepted = _events(flow, new, case_id)[-1]
    assert accepted["data"]["assignment_lapsed"]["assignee_id"] == old.id
    _verify_ok(flow.svc)


def _user(flow: Flow, name: str):
    if name not in flow.u:
        flow.u[name] = load_user(flow.svc, flow.world.ids[f"user_{name}"])
    return flow.u[name]


def _events(flow, user, case_id):
    from fundflow.service.reads.case import events

    with flow.svc.sessions() as s:
        return events(s, flow.svc, s.get(Case, case_id))


def test_a_fire_authority_transfers_to_another_district_and_the_street_office_keeps_the_case(flow):
    w = flow.world
    case_id = flow.open()
    reply = handoffs.transfer_case(
        flow.svc, flow.u["fr"], case_id, to_org_id=w.ids["district_ls"], reason="属芦淞区消防救援大队辖区", now=flow.now
    )
    handoffs.accept_transfer(flow.svc, _user(flow, "fr_other"), reply.body["id"], now=flow.now)
    row = _case_row(flow.svc, case_id)
    assert (row.street_office_id, row.district_id) == (w.ids["office_yt"], w.ids["district_ls"])
    cases.get_case(flow.svc, flow.u["so"], case_id, flow.now)  # the street office still sees it
    with pytest.raises(NotFound):
        cases.get_case(flow.svc, flow.u["fr"], case_id, flow.now)
    _verify_ok(flow.svc)


def test_transfers_the_definition_or_the_holder_does_not_allow_are_refused(flow):
    w = flow.world
    case_id = flow.open()
    with pytest.raises(Forbidden) as e:  # the property company is not a transferable role
        handoffs.transfer_case(
            flow.svc, flow.u["pc"], case_id, to_org_id=w.ids["office_jn"], reason="不归我们管", now=flow.now
        )
    assert e.value.code == "role_cannot_transfer"
    with pytest.raises(InvalidInput) as e:
        handoffs.transfer_case(
            flow.svc, flow.u["so"], case_id, to_org_id=w.ids["office_yt"], reason="转给自己", now=flow.now
        )
    assert e.value.code == "transfer_to_self"
    with pytest.raises(NotFound) as e:
        handoffs.transfer_case(flow.svc, flow.u["so"], case_id, to_org_id=999999, reason="不存在的街道", now=flow.now)
    assert e.value.code == "transfer_target_not_found"
    with pytest.raises(InvalidInput) as e:
        handoffs.transfer_case(flow.svc, flow.u["so"], case_id, to_org_id=w.ids["office_jn"], reason=" ", now=flow.now)
    assert e.value.code == "reason_missing"
    assert _case_row(flow.svc, case_id).street_office_id == w.ids["office_yt"]  # nothing changed


# -- 退回 ------------------------------------------------------------------------------------


def test_the_responsible_party_returns_the_case_to_the_previous_stage_with_a_reason(flow):
    case_id = flow.open()
    flow.advance(case_id, "site_survey")
    assert "return_to_previous" in _triggers(flow, "so", case_id)
    assert "return_to_previous" not in _triggers(flow, "fr", case_id)
    with pytest.raises(TransitionRefused) as e:  # a reason is required
        flow.fire("so", case_id, "return_to_previous", {})
    assert e.value.refusal.field == "reason"
    body = flow.fire("so", case_id, "return_to_previous", {"reason": "认定通知书所列要素与现场不符，请复核"})
    assert body["state"] == "reported" and body["responsible"] == "fire_rescue"
    assert body["stage"]["due_date"] is not None  # the fire authority's stage starts afresh
    assert "return_to_previous" not in _triggers(flow, "fr", case_id)  # not declared from the first stage
    _verify_ok(flow.svc)


def test_the_property_company_returns_the_plan_stage_to_the_joint_meeting(flow):
    case_id = flow.open()
    flow.advance(case_id, "plan_budget")
    with pytest.raises(TransitionRefused) as e:
        flow.fire("so", case_id, "return_to_previous", {"reason": "不是本单位的环节"})
    assert e.value.refusal.code.value == "role_not_allowed"
    body = flow.fire("pc", case_id, "return_to_previous", {"reason": "议定的实施方式无法执行，请重新议定"})
    assert body["state"] == "joint_meeting"


# -- 延期申请 ----------------------------------------------------------------------------------


def test_an_approved_extension_moves_the_due_date_warning_and_ladder_by_working_days(flow):
    case_id = flow.open()  # reported on Monday 2 March 2026: 5 working days, due Monday 9 March
    before = _open_stage(flow.svc, case_id)
    assert before.due_date == date(2026, 3, 9)
    asked = handoffs.request_extension(
        flow.svc, flow.u["fr"], case_id, working_days=3, reason="需等待检测报告", now=flow.now
    )
    assert asked.status == 201 and asked.body["status"] == "pending" and asked.body["approver_role"] == "fund_center"
    with pytest.raises(HandoffRefused) as e:  # one request at a time
        handoffs.request_extension(flow.svc, flow.u["fr"], case_id, working_days=1, reason="再申请一次", now=flow.now)
    assert e.value.code == "extension_pending"
    with pytest.raises(Forbidden):  # the housing bureau does not decide this stage's extensions
        handoffs.decide_extension(
            flow.svc, _user(flow, "hb"), case_id, asked.body["id"], approve=True, opinion=None, now=flow.now
        )
    done = handoffs.decide_extension(
        flow.svc, flow.u["fc"], case_id, asked.body["id"], approve=True, opinion="同意", now=flow.now
    )
    assert done.body["status"] == "approved"
    assert (done.body["due_date_before"], done.body["due_date_after"]) == ("2026-03-09", "2026-03-12")
    after = _open_stage(flow.svc, case_id)
    assert after.due_date == date(2026, 3, 12)
    assert after.due_at - before.due_at == timedelta(days=3)
    # warned one working day before: Friday 6 March before, Wednesday 11 March now (Shanghai)
    assert before.warn_at.astimezone(SHANGHAI).date() == date(2026, 3, 6)
    assert after.warn_at.astimezone(SHANGHAI).date() == date(2026, 3, 11)
    assert after.escalate_at - before.escalate_at == timedelta(days=3)
    assert done.body["case"]["stage"]["due_date"] == "2026-03-12"
    with pytest.raises(HandoffRefused) as e:
        handoffs.decide_extension(
            flow.svc, flow.u["fc"], case_id, asked.body["id"], approve=False, opinion="重复", now=flow.now
        )
    assert e.value.code == "extension_decided"
    _verify_ok(flow.svc)


def test_an_extension_survives_a_suspension_and_the_stage_keeps_both(flow):
    case_id = flow.open()
    ext = handoffs.request_extension(
        flow.svc, flow.u["fr"], case_id, working_days=2, reason="检测机构排期", now=flow.now
    )
    handoffs.decide_extension(flow.svc, flow.u["fc"], case_id, ext.body["id"], approve=True, opinion=None, now=flow.now)
    assert _open_stage(flow.svc, case_id).due_date == date(2026, 3, 11)
    flow.fire("so", case_id, "suspend", {"reason": "等待业主续交"})
    flow.now += timedelta(days=7)  # suspended Monday 2 March, resumed Monday 9 March: 5 working days
    flow.fire("so", case_id, "resume", {"reason": "已续交"})
    stage = _open_stage(flow.svc, case_id)
    assert stage.due_date == date(2026, 3, 18)  # 5 + 2 + 5 working days after 2 March
    with flow.svc.sessions() as s:
        listed = handoffs.extensions_of(s, flow.svc, s.get(Case, case_id))
    assert [(e["working_days"], e["due_date_after"]) for e in listed] == [(2, "2026-03-11")]
    _verify_ok(flow.svc)


def test_a_refused_extension_leaves_the_deadline_and_needs_a_reason(flow):
    case_id = flow.open()
    flow.advance(case_id, "cost_review")  # the fund center's own stage: the housing bureau decides
    stage = _open_stage(flow.svc, case_id)
    ext = handoffs.request_extension(
        flow.svc, flow.u["fc"], case_id, working_days=2, reason="造价咨询机构未出报告", now=flow.now
    )
    assert ext.body["approver_role"] == "housing_bureau"
    with pytest.raises(InvalidInput) as e:
        handoffs.decide_extension(
            flow.svc, _user(flow, "hb"), case_id, ext.body["id"], approve=False, opinion="", now=flow.now
        )
    assert e.value.detail["field"] == "opinion"
    out = handoffs.decide_extension(
        flow.svc,
        _user(flow, "hb"),
        case_id,
        ext.body["id"],
        approve=False,
        opinion="期限充足，请按期完成",
        now=flow.now,
    )
    assert out.body["status"] == "refused" and out.body["due_date_after"] is None
    assert _open_stage(flow.svc, case_id).due_date == stage.due_date


def test_extension_requests_the_definition_does_not_allow_are_refused(flow):
    case_id = flow.open()
    with pytest.raises(Forbidden) as e:  # the street office is not responsible for the fire finding
        handoffs.request_extension(flow.svc, flow.u["so"], case_id, working_days=2, reason="代为申请", now=flow.now)
    assert e.value.code == "not_responsible"
    with pytest.raises(InvalidInput) as e:  # at most 10 working days (handoffs.extension.max_working_days)
        handoffs.request_extension(flow.svc, flow.u["fr"], case_id, working_days=11, reason="时间不够", now=flow.now)
    assert e.value.code == "invalid_extension_days"
    flow.fire("so", case_id, "suspend", {"reason": "等待"})
    with pytest.raises(HandoffRefused) as e:
        handoffs.request_extension(flow.svc, flow.u["fr"], case_id, working_days=2, reason="挂起中申请", now=flow.now)
    assert e.value.code == "case_suspended"


def test_an_extension_lapses_when_the_stage_moves_on_before_it_is_decided(flow):
    case_id = flow.open()
    ext = handoffs.request_extension(flow.svc, flow.u["fr"], case_id, working_days=2, reason="等待检测", now=flow.now)
    flow.advance(case_id, "site_survey")
    with pytest.raises(HandoffRefused) as e:
        handoffs.decide_extension(
            flow.svc, flow.u["fc"], case_id, ext.body["id"], approve=True, opinion=None, now=flow.now
        )
    assert e.value.code == "extension_lapsed"
    with flow.svc.sessions() as s:
        assert s.get(StageExtension, ext.body["id"]).status == "pending"


# -- 撤回 ------------------------------------------------------------------------------------


def _opened_by(flow: Flow, who: str) -> int:
    reply = cases.open_case(
        flow.svc,
        flow.u[who],
        definition=DEF,
        community_id=flow.world.ids["community_a"],
        title="消防水泵无法启动",
        data={},
        buildings=None,
        now=flow.now,
    )
    return reply.body["id"]


def test_the_owners_committee_that_opened_a_case_withdraws_it_before_the_approval(flow):
    case_id = _opened_by(flow, "oc")
    assert "withdraw" not in _triggers(flow, "oc", case_id)  # not its role's action...
    with pytest.raises(TransitionRefused):  # ...and another community party did not open it
        handoffs.withdraw_case(flow.svc, flow.u["pc"], case_id, reason="物业要求撤回", now=flow.now)
    body = handoffs.withdraw_case(flow.svc, flow.u["oc"], case_id, reason="业主已自筹资金维修", now=flow.now).body
    assert body["state"] == "withdrawn" and body["outcome"] == "withdrawn"
    event = _events(flow, flow.u["oc"], case_id)[-1]
    assert (event["trigger"], event["role"], event["data"]["reason"]) == (
        "withdraw",
        "owners_committee",
        "业主已自筹资金维修",
    )
    _verify_ok(flow.svc)


def test_after_the_approval_only_the_declared_role_withdraws(flow):
    case_id = _opened_by(flow, "oc")
    flow.advance(case_id, "advance_payment")
    with pytest.raises(TransitionRefused) as e:
        handoffs.withdraw_case(flow.svc, flow.u["oc"], case_id, reason="业主改变主意", now=flow.now)
    assert e.value.refusal.code.value == "role_not_allowed" and "核准使用维修资金" in e.value.refusal.message
    body = handoffs.withdraw_case(flow.svc, flow.u["so"], case_id, reason="联席会议决定撤回", now=flow.now).body
    assert body["outcome"] == "withdrawn" and body["money"]["frozen"] == "0.00"  # the approval's freeze released
    _verify_ok(flow.svc)


# -- 转办 over the API ----------------------------------------------------------------------------


def test_a_transfer_is_requested_and_accepted_or_declined_over_the_api(world):
    from tests.support.drivers import API, CaseDriver

    drv = CaseDriver(world)
    c = drv.client
    case_id = drv.open()["id"]
    body = {"to_org_id": world.ids["office_jn"], "reason": "误报，属建宁街道"}
    r = c.post(f"{API}/cases/{case_id}/transfer", json=body, headers=world.h("so"))
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    tid = r.json()["id"]
    r = c.post(f"{API}/cases/{case_id}/transfer", json=body, headers=world.h("so"))
    assert r.status_code == 409 and r.json()["code"] == "transfer_pending"
    tasks = c.get(f"{API}/tasks", headers=world.h("so_other")).json()["items"]
    assert [t["kind"] for t in tasks if t["case_id"] == case_id] == ["transfer_accept"]
    mine = c.get(f"{API}/transfers", headers=world.h("so_other")).json()
    assert [(t["id"], t["status"], t["may_decide"]) for t in mine] == [(tid, "pending", True)]
    r = c.post(f"{API}/transfers/{tid}/decision", json={"accept": False}, headers=world.h("so_other"))
    assert r.status_code == 422 and r.json()["code"] == "reason_missing"
    r = c.post(f"{API}/transfers/{tid}/decision", json={"accept": True}, headers=world.h("so"))
    assert r.status_code == 404 and r.json()["code"] == "transfer_not_found"  # not the sender's to decide
    r = c.post(
        f"{API}/transfers/{tid}/decision", json={"accept": True, "note": "同意接收"}, headers=world.h("so_other")
    )
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert c.get(f"{API}/cases/{case_id}", headers=world.h("so_other")).json()["street_office"]["name"] == "建宁街道"
    assert c.get(f"{API}/cases/{case_id}", headers=world.h("so")).status_code == 404
    r = c.post(f"{API}/transfers/{tid}/decision", json={"accept": False, "note": "再议"}, headers=world.h("so_other"))
    assert r.status_code == 409 and r.json()["code"] == "transfer_decided"
