"""Acts recorded after they happened offline: ``occurred_at`` beside the recording time, checked,
counted from, audited; the meeting's paying scope; documents by round and by party."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from fundflow.domain.tz import SHANGHAI
from fundflow.service.audit import verify_case
from fundflow.service.tables import Case, Event, Stage
from tests.support.drivers import API, CaseDriver
from tests.support.offline import NOW, events, ok, open_offline, post, record_to_the_notice, upload


@pytest.fixture
def drv(world) -> CaseDriver:
    d = CaseDriver(world)
    d.clock.now = NOW
    return d


def test_a_case_recorded_with_offline_dates_a_year_ago_reaches_the_archive_the_same_day(world, drv):
    """Everything, the one-year warranty included, happened offline from 3 February 2025 and is
    recorded on 16 March 2026: the case goes from the report to the archive today."""
    cid = record_to_the_notice(drv, date(2025, 2, 3))
    ok(drv, cid, "so", "close_notice", {}, "2025-02-14")
    # the final payment keeps the 10% retention (5,800.00) frozen for the warranty
    out = ok(drv, cid, "fc", "disburse", {"paid_amount": "52200.00"}, "2025-02-17")
    assert out["state"] == "warranty"
    ok(drv, cid, "fc", "release_retention", {}, "2026-02-20")  # 365 days after the warranty began
    out = ok(drv, cid, "so", "archive", {"archive_no": "YT-2026-030"})
    assert out["state"] == "archived" and out["outcome"] == "completed"
    assert out["money"]["paid"] == "58000.00" and out["money"]["frozen"] == "0.00"


def test_a_case_recorded_with_offline_dates_a_week_ago_reaches_its_final_payment_the_same_day(world, drv):
    """Everything happened offline from Thursday 5 March (the notice went up on Sunday the 8th)
    and is recorded on Monday 16 March: the 7-day notice has run, so the notice closes and the
    final payment is made today; the retention then waits out its one-year warranty."""
    cid = record_to_the_notice(drv, date(2026, 3, 5))
    ok(drv, cid, "so", "close_notice", {})  # today: 7 full days after 8 March ran out on the 15th
    out = ok(drv, cid, "fc", "disburse", {"paid_amount": "52200.00"})
    assert out["state"] == "warranty"
    assert out["money"]["retention_held"] == "5800.00"
    r = post(drv, cid, "fc", "release_retention", {})
    assert r.status_code == 409 and r.json()["detail"]["guard"] == "period_elapsed"

    with world.svc.sessions() as s:
        case = s.get(Case, cid)
        rows = s.exec(select(Event).where(Event.case_id == cid).order_by(Event.seq)).all()
        stages = s.exec(select(Stage).where(Stage.case_id == cid).order_by(Stage.id)).all()
        assert verify_case(case, rows) == []  # occurred_at is in the hashed event data
    # stages begin and end when their acts happened, not when they were recorded
    assert stages[0].entered_at.astimezone(SHANGHAI).date() == date(2026, 3, 5)
    notice = next(st for st in stages if st.state == "public_notice")
    assert notice.entered_at.astimezone(SHANGHAI).date() == date(2026, 3, 7)
    assert all(st.left_at is not None for st in stages[:-1]) and stages[-1].state == "warranty"
    log = events(drv, cid)
    acts = [e for e in log if e["trigger"] not in ("attach_document", "record_vote")]
    assert all(e["occurred_at"] is not None and datetime.fromisoformat(e["at"]) == NOW for e in acts)
    meeting = next(e for e in acts if e["trigger"] == "meeting_approve")
    assert meeting["occurred_at"] == "2026-03-06T09:30:00+08:00"
    post_notice = next(e for e in acts if e["trigger"] == "post_notice")
    assert post_notice["occurred_at"].startswith("2026-03-08T12:00")  # a day alone: noon of that day
    assert next(e for e in acts if e["trigger"] == "disburse")["occurred_at"] == NOW.isoformat()


def test_a_case_recorded_with_offline_dates_a_week_ago_reaches_the_archive_the_same_day(world, drv):
    """Where no retention is held (the contract keeps none, or a bank guarantee stands in for it),
    the final payment pays the rest and the case is archived the day it is recorded: report on
    Thursday 5 March, notice posted Sunday the 8th, everything recorded Monday 16 March."""
    cid = record_to_the_notice(drv, date(2026, 3, 5))
    ok(drv, cid, "so", "close_notice", {})
    # more than the settlement is refused by the same check as every payment
    r = post(drv, cid, "fc", "disburse_in_full", {"paid_amount": "58000.01", "no_retention_reason": "合同未约定质保金"})
    assert r.status_code == 409, r.text
    out = ok(drv, cid, "fc", "disburse_in_full", {"paid_amount": "58000.00", "no_retention_reason": "已提交质量保函"})
    assert out["state"] == "archiving" and out["money"]["retention_held"] == "0.00"
    out = ok(drv, cid, "so", "archive", {"archive_no": "YT-2026-031"})
    assert out["state"] == "archived" and out["outcome"] == "completed"
    # all of the settlement paid, what the approval froze beyond it released at the close
    assert out["money"]["paid"] == "58000.00" and out["money"]["frozen"] == "0.00"
    log = events(drv, cid)
    assert [e["trigger"] for e in log][-2:] == ["disburse_in_full", "archive"]
    assert all(datetime.fromisoformat(e["at"]) == NOW for e in log[-2:])
    with world.svc.sessions() as s:
        case = s.get(Case, cid)
        rows = s.exec(select(Event).where(Event.case_id == cid).order_by(Event.seq)).all()
        assert verify_case(case, rows) == []


def test_occurred_at_may_not_be_in_the_future_nor_before_the_stage_nor_before_the_last_act(world, drv):
    cid = open_offline(drv, "2026-03-10")
    upload(drv, cid, "fr", "fire_notice")
    upload(drv, cid, "so", "hazard_photos")
    finding = {"notice_no": "株荷消隐字〔2026〕4号", "finding_route": "direct", "hazard_elements": "报警系统瘫痪"}
    future = post(drv, cid, "fr", "confirm_major", finding, "2026-03-17")
    assert future.status_code == 409 and future.json()["detail"]["field"] == "occurred_at"
    assert "晚于今天" in future.json()["message"]
    later_today = post(drv, cid, "fr", "confirm_major", finding, "2026-03-16T18:00")
    assert later_today.status_code == 409 and "晚于当前时间" in later_today.json()["message"]
    before = post(drv, cid, "fr", "confirm_major", finding, "2026-03-09")
    assert before.status_code == 409 and "本环节开始时间" in before.json()["message"]
    bad = post(drv, cid, "fr", "confirm_major", finding, "3月9日")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_occurred_at"
    ok(drv, cid, "fr", "confirm_major", finding, "2026-03-12")
    # an act of the new stage before the finding that opened it: refused
    ok(drv, cid, "so", "suspend", {"reason": "等待业主委员会换届"}, "2026-03-13")
    earlier = post(drv, cid, "so", "resume", {"reason": "换届完成"}, "2026-03-12T23:00")
    assert earlier.status_code == 409 and "早于" in earlier.json()["message"]
    future_open = drv.client.post(
        f"{API}/cases",
        headers=drv.world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": drv.world.ids["community_a"],
            "title": "明日之事",
            "occurred_at": "2026-03-20",
        },
    )
    assert future_open.status_code == 422 and future_open.json()["code"] == "invalid_occurred_at"


def test_the_notice_period_runs_from_the_posting_date(world, drv):
    """Posted the day after the settlement (recorded days later): the 7 days run from the
    posting, so the day that would end them counted from the settlement is still refused."""
    case = drv.case_in("public_notice")
    cid = case["id"]
    upload(drv, cid, "so", "notice_text", "cost_table", "notice_photos")
    refused = post(drv, cid, "so", "close_notice")
    assert refused.status_code == 409 and "张贴公示" in refused.json()["message"]
    entered = datetime.fromisoformat(case["stage"]["entered_at"]).date()
    drv.clock.advance(days=3)
    ok(drv, cid, "so", "post_notice", {}, (entered + timedelta(days=1)).isoformat())
    ends = entered + timedelta(days=8)
    drv.clock.now = datetime.combine(ends, datetime.min.time(), SHANGHAI).replace(hour=16)
    refused = post(drv, cid, "so", "close_notice")
    assert refused.status_code == 409 and ends.isoformat() in refused.json()["message"]
    drv.clock.advance(days=1)
    assert ok(drv, cid, "so", "close_notice")["state"] == "disbursement"


def test_the_meeting_decides_the_paying_scope_and_a_later_change_is_an_event(world, drv):
    """Reported for 1栋; the meeting widens it to the whole estate (the pump room serves all), then
    the street office narrows it to 1栋 and 2栋 with a reason; each is in the event log."""
    case = drv.case_in("joint_meeting", buildings=["1栋"])
    cid = case["id"]
    assert case["scope_building_ids"] == [world.ids["building_a_1栋"]]
    t = drv.definition.transition("meeting_approve", "joint_meeting")
    drv.prepare(cid, "joint_meeting", t)
    data = drv.data_for(t) | {"paying_scope": {"buildings": ["1栋", "9栋"]}, "scope_reason": "水泵房服务全小区"}
    r = post(drv, cid, "so", "meeting_approve", data)
    assert r.status_code == 422 and r.json()["code"] == "unknown_building"
    out = ok(drv, cid, "so", "meeting_approve", data | {"paying_scope": {"whole_estate": True}})
    assert out["scope_building_ids"] == []  # the whole estate: the balance check and the apportionment use all
    change = {"paying_scope": {"buildings": ["2栋", "1栋"]}, "scope_reason": "经复核，水泵仅供1栋、2栋"}
    out = ok(drv, cid, "so", "change_scope", change)
    assert out["scope_building_ids"] == sorted([world.ids["building_a_1栋"], world.ids["building_a_2栋"]])
    log = [e for e in events(drv, cid) if e["trigger"] in ("meeting_approve", "change_scope")]
    assert log[0]["data"]["paying_scope"] == {"whole_estate": True} and log[0]["data"]["scope_building_ids"] == []
    assert log[0]["data"]["scope_building_ids_before"] == [world.ids["building_a_1栋"]]
    assert log[1]["data"]["paying_scope"] == {"buildings": ["1栋", "2栋"]}
    assert log[1]["data"]["scope_reason"] == "经复核，水泵仅供1栋、2栋"
    # what the whole estate (131,000.00) allows, two buildings (1栋 95,000 + 2栋 36,000) allow too;
    # the balance check reads the scope the meeting decided
    balance = drv.client.get(f"{API}/communities/{world.ids['community_a']}", headers=world.h("so")).json()
    assert balance["total_balance"] == "131000.00"


def test_a_failed_acceptance_starts_a_new_round_of_its_report(world, drv):
    """The failed visit's report stays on the case, shown as round 1, but the second
    acceptance needs a report of its own."""
    case = drv.case_in("acceptance")
    cid = case["id"]
    upload(drv, cid, "so", "acceptance_report")
    past = post(
        drv, cid, "so", "fail_acceptance", {"reason": "喷淋末端压力不足", "rectification_deadline": "2026-02-13"}
    )
    assert past.status_code == 409 and past.json()["detail"]["guard"] == "date_not_past"
    deadline = (drv.clock.now + timedelta(days=20)).astimezone(SHANGHAI).date().isoformat()
    ok(drv, cid, "so", "fail_acceptance", {"reason": "喷淋末端压力不足", "rectification_deadline": deadline})
    ok(drv, cid, "pc", "complete_works", {"completion_date": drv.clock.now.astimezone(SHANGHAI).date().isoformat()})
    for role_user in ("fr", "so", "fc", "oc"):
        ok(drv, cid, role_user, "sign_acceptance", {"opinion": "复验"})
    again = post(drv, cid, "so", "pass_acceptance")
    assert again.status_code == 409 and again.json()["code"] == "documents_missing"
    docs = drv.client.get(f"{API}/cases/{cid}/documents", headers=world.h("so")).json()
    report = [x for x in docs if x["doc_type"] == "acceptance_report"]
    assert [(x["round"], x["current"]) for x in report] == [(1, False)]
    upload(drv, cid, "so", "acceptance_report")
    assert ok(drv, cid, "so", "pass_acceptance")["state"] == "settlement"
    docs = drv.client.get(f"{API}/cases/{cid}/documents", headers=world.h("so")).json()
    assert [(x["round"], x["current"]) for x in docs if x["doc_type"] == "acceptance_report"] == [(1, False), (2, True)]


def test_a_return_for_correction_needs_the_corrected_file(world, drv):
    case = drv.case_in("fund_review")
    cid = case["id"]
    ok(drv, cid, "fc", "return_for_correction", {"reason": "预算缺少分项单价"})
    t = drv.definition.transition("submit_plan", "plan_budget")
    refused = post(drv, cid, "pc", "submit_plan", drv.data_for(t))
    assert refused.status_code == 409 and refused.json()["code"] == "documents_missing"
    assert "维修方案" in refused.json()["message"] and "工程预算" in refused.json()["message"]
    upload(drv, cid, "pc", "repair_plan", "budget")
    assert ok(drv, cid, "pc", "submit_plan", drv.data_for(t))["state"] == "cost_review"


def test_each_document_type_is_uploaded_by_its_roles_only(world, drv):
    """The fire authority's notice only by fire_rescue: a property company cannot supply it."""
    case = drv.open()
    r = drv.upload(case["id"], "fire_notice", "pc")
    assert r.status_code == 403 and r.json()["code"] == "document_role_not_allowed"
    assert "消防救援机构" in r.json()["message"]
    assert drv.upload(case["id"], "fire_notice", "fr").status_code == 201
    assert drv.upload(case["id"], "hazard_photos", "pc").status_code == 201


def test_a_stage_that_begins_overdue_alerts_at_the_next_scan(world, drv):
    """The site survey counts 2 working days from the report (Dongguan): a report of Monday
    2 March found major on Friday the 13th starts the survey already overdue."""
    from fundflow.service.usecases import alerts

    cid = open_offline(drv, "2026-03-02")
    upload(drv, cid, "fr", "fire_notice")
    upload(drv, cid, "so", "hazard_photos")
    out = ok(
        drv,
        cid,
        "fr",
        "confirm_major",
        {"notice_no": "株荷消隐字〔2026〕5号", "finding_route": "direct", "hazard_elements": "报警系统瘫痪"},
        "2026-03-13",
    )
    assert out["stage"]["due_date"] == "2026-03-04" and out["stage"]["overdue"]
    assert out["stage"]["warn_at"] is None  # no warning for a stage that begins overdue
    result = alerts.scan(world.svc, NOW + timedelta(minutes=1))
    assert [a["kind"] for a in result.alerts if a["case_id"] == cid][:1] == ["overdue"]


def test_lists_figures_and_case_views_agree_on_overdue(world, drv):
    """The SQL filter (lists, the dashboard, /metrics) mirrors the predicate the case view uses."""
    ids = [open_offline(drv, day) for day in ("2026-03-02", "2026-03-09", "2026-03-16")]
    ok(drv, ids[1], "so", "suspend", {"reason": "等待续交"})
    views = {i: drv.get(i)["stage"] for i in ids}
    overdue = {i for i, st in views.items() if st["overdue"]}
    assert overdue == {ids[0]}  # due 03-09; the second is suspended; the third is due 03-23
    listed = drv.client.get(f"{API}/cases", params={"overdue": "true"}, headers=world.h("so")).json()
    assert {c["id"] for c in listed["items"]} == overdue
    rest = drv.client.get(f"{API}/cases", params={"overdue": "false"}, headers=world.h("so")).json()
    assert {c["id"] for c in rest["items"]} == set(ids) - overdue
    stats = drv.client.get(f"{API}/stats", headers=world.h("so")).json()
    assert stats["city"]["overdue"] == len(overdue)
    assert views[ids[0]]["working_days_left"] == -5  # 03-10 .. 03-16 (five working days late)


def test_the_stage_view_says_when_the_escalation_ladder_begins(world, drv):
    """``stages.escalate_at`` is read: the API's stage view and the case page give the moment the
    ladder's first step is due (this definition: on the due moment itself, after 0 working days)."""
    from fundflow.domain.tz import UTC

    cid = open_offline(drv, "2026-03-16")
    view = drv.get(cid)["stage"]
    with world.svc.sessions() as s:
        stage = s.exec(select(Stage).where(Stage.case_id == cid)).one()
    assert stage.escalate_at is not None
    assert datetime.fromisoformat(view["escalate_at"]) == stage.escalate_at.astimezone(UTC)
    assert datetime.fromisoformat(view["escalate_at"]) >= datetime.fromisoformat(view["due_at"])
