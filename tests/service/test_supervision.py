"""督办 as a work item: issue -> reply -> close (or renew), and a late reply escalated by the
scheduler's scan, on real dates around the 2026 National Day holiday.

2026: Sunday 20 September is a make-up working day, Friday 25 September the Mid-Autumn holiday;
1-7 October is the National Day break and Saturday 10 October a make-up working day. A case
reported on Monday 14 September 10:00 has 5 working days for the fire authority's finding
(15, 16, 17, 18 and Sunday 20: due Sunday 20 September); the ladder escalates to the housing
bureau 2 working days later (21, 22: at the end of Tuesday 22 September), again every 3 working
days (23, 24, 28: at the end of Monday 28 September).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from fundflow.domain.tz import SHANGHAI
from fundflow.service import scheduler
from fundflow.service.errors import PayloadTooLarge
from fundflow.service.usecases import alerts, supervision
from tests.support.flows import load_user
from tests.support.tasklist import assert_verified, of_case, tasks


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def escalated(world, flow, clock) -> int:
    flow.now = at(9, 14)
    case_id = flow.open()
    alerts.scan(world.svc, at(9, 29))  # overdue since 22 September, escalated on the 23rd
    clock(at(9, 29))
    return case_id


def issue(world, case_id: int, days: int = 2, who: str = "hb"):
    return world.client.post(
        f"/api/v1/cases/{case_id}/supervisions",
        json={"content": "请于国庆节后两个工作日内完成消防认定并反馈", "reply_working_days": days},
        headers=world.h(who),
    )


def test_the_escalation_names_the_recipient_the_ladder_declares(world, escalated):
    inbox = world.client.get("/api/v1/alerts", params={"kind": "escalation"}, headers=world.h("hb")).json()
    assert inbox["items"] and all("请住房和城乡建设局督办" in a["message"] for a in inbox["items"])


def test_a_supervision_goes_issue_reply_close(world, escalated, clock):
    [task] = of_case(tasks(world, "hb"), escalated)
    assert task["kind"] == "supervision_issue" and task["href"] == f"/cases/{escalated}#supervision"
    assert task["since"].startswith("2026-09-23T00:00")  # the end of 22 September
    r = issue(world, escalated)
    assert r.status_code == 201, r.text
    sup = r.json()
    # two working days after Tuesday 29 September: 30 September, then Thursday 8 October
    assert sup["reply_due_date"] == "2026-10-08" and sup["to_role"] == "fire_rescue"
    assert sup["to_org"] == "荷塘区消防救援机构" and sup["status"] == "issued"
    assert of_case(tasks(world, "hb"), escalated) == []  # issued: nothing more until the reply
    reply_task = [t for t in of_case(tasks(world, "fr"), escalated) if t["kind"] == "supervision_reply"]
    assert len(reply_task) == 1 and reply_task[0]["due_date"] == "2026-10-08"
    assert reply_task[0]["working_days_left"] == 2
    assert of_case(tasks(world, "fr_other"), escalated) == []
    # during the holiday the reply is still due on the 8th, no days used up
    clock(at(10, 5))
    [t] = [t for t in of_case(tasks(world, "fr"), escalated) if t["kind"] == "supervision_reply"]
    assert t["working_days_left"] == 1 and t["overdue"] is False
    r = world.client.post(
        f"/api/v1/supervisions/{sup['id']}/reply", json={"reply": "已安排10月8日现场复核"}, headers=world.h("fr")
    )
    assert r.status_code == 200 and r.json()["status"] == "replied"
    [review] = of_case(tasks(world, "hb"), escalated)
    assert review["kind"] == "supervision_review" and "荷塘区消防救援机构已反馈" in review["what"]
    assert [t["kind"] for t in of_case(tasks(world, "fr"), escalated)] == ["stage"]
    r = world.client.post(f"/api/v1/supervisions/{sup['id']}/close", json={"note": "同意销号"}, headers=world.h("hb"))
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert of_case(tasks(world, "hb"), escalated) == []  # closed after the latest escalation
    labels = [e["label"] for e in world.client.get(f"/api/v1/cases/{escalated}/events", headers=world.h("hb")).json()]
    assert labels[-3:] == ["督办通知：荷塘区消防救援机构", "督办反馈", "督办销号"]
    assert_verified(world.svc)
    # the dashboard counts it per street office
    stats = world.client.get("/api/v1/stats", headers=world.h("hb")).json()
    office = next(o for o in stats["street_offices"] if o["street_office_id"] == world.ids["office_yt"])
    assert office["supervision_closed"] == 1 and office["supervision_open"] == 0
    assert stats["city"]["supervision_closed"] == 1


def test_a_later_escalation_after_closing_is_a_new_task(world, escalated, clock):
    sup = issue(world, escalated).json()
    world.client.post(f"/api/v1/supervisions/{sup['id']}/close", json={}, headers=world.h("hb"))
    assert of_case(tasks(world, "hb"), escalated) == []
    r = issue(world, escalated)  # closed: a fresh 督办 waits for the next escalation
    assert r.status_code == 409 and r.json()["code"] == "supervision_closed_since"
    assert world.client.get(f"/api/v1/cases/{escalated}/work", headers=world.h("hb")).json()["may_issue"] is False
    # the ladder repeats every 3 working days: 23, 24, 28 September -> at the end of the 28th,
    # which the scan of the 29th recorded before the 督办 was closed; the next: 29, 30 September
    # and Thursday 8 October (the holiday skipped) -> at the end of 8 October
    alerts.scan(world.svc, at(10, 8, 12))
    clock(at(10, 8, 12))
    assert of_case(tasks(world, "hb"), escalated) == []
    alerts.scan(world.svc, at(10, 9))
    clock(at(10, 9))
    [task] = of_case(tasks(world, "hb"), escalated)
    assert task["kind"] == "supervision_issue" and task["since"].startswith("2026-10-09T00:00")
    assert world.client.get(f"/api/v1/cases/{escalated}/work", headers=world.h("hb")).json()["may_issue"] is True
    assert issue(world, escalated).status_code == 201


def test_a_late_reply_is_escalated_once_by_the_scan(world, escalated, clock):
    sup = issue(world, escalated).json()
    # 23:59 on 8 October: still in time
    assert supervision.scan_overdue_replies(world.svc, at(10, 8, 23, 59)) == []
    tick = scheduler.tick(world.svc, at(10, 9, 0, 1))
    assert len(tick.supervision_alerts) == 1 and not tick.errors
    assert supervision.scan_overdue_replies(world.svc, at(10, 12)) == []  # once per round
    clock(at(10, 9, 9))
    inbox = world.client.get("/api/v1/alerts", params={"kind": "escalation"}, headers=world.h("fr")).json()
    late = [a for a in inbox["items"] if "督办反馈超期" in a["title"]]
    assert len(late) == 1 and "荷塘区消防救援机构尚未反馈" in late[0]["message"]
    [t] = [t for t in of_case(tasks(world, "fr"), escalated) if t["kind"] == "supervision_reply"]
    assert t["overdue"] is True and t["working_days_left"] == -1
    events = world.client.get(f"/api/v1/cases/{escalated}/events", headers=world.h("hb")).json()
    assert events[-1]["label"] == "督办反馈超期" and events[-1]["user"] == "系统"
    # a renewed round has its own deadline and its own escalation
    r = world.client.post(
        f"/api/v1/supervisions/{sup['id']}/renew",
        json={"content": "请立即完成认定", "reply_working_days": 1},
        headers=world.h("hb"),
    )
    assert r.status_code == 200 and r.json()["round"] == 2
    # one working day after Friday 9 October: the make-up Saturday, 10 October
    assert r.json()["reply_due_date"] == "2026-10-10"
    assert len(supervision.scan_overdue_replies(world.svc, at(10, 11, 0, 1))) == 1
    assert_verified(world.svc)


def test_who_may_do_what(world, escalated, flow):
    assert issue(world, escalated, who="so").status_code == 403  # not the ladder's supervisor
    assert issue(world, escalated, days=0).status_code == 422
    sup = issue(world, escalated).json()
    r = issue(world, escalated)
    assert r.status_code == 409 and r.json()["code"] == "supervision_open"
    r = world.client.post(f"/api/v1/supervisions/{sup['id']}/reply", json={"reply": "x"}, headers=world.h("fc"))
    assert r.status_code == 403
    r = world.client.post(f"/api/v1/supervisions/{sup['id']}/reply", json={"reply": "x"}, headers=world.h("fr_other"))
    assert r.status_code == 404  # another district's
    r = world.client.post(f"/api/v1/supervisions/{sup['id']}/close", json={}, headers=world.h("fr"))
    assert r.status_code == 403
    world.client.post(f"/api/v1/supervisions/{sup['id']}/close", json={}, headers=world.h("hb"))
    r = world.client.post(f"/api/v1/supervisions/{sup['id']}/reply", json={"reply": "x"}, headers=world.h("fr"))
    assert r.status_code == 409 and r.json()["code"] == "supervision_not_open"
    r = world.client.post(f"/api/v1/supervisions/{sup['id']}/close", json={}, headers=world.h("hb"))
    assert r.status_code == 409 and r.json()["code"] == "supervision_closed"
    assert world.client.post("/api/v1/supervisions/99999/close", json={}, headers=world.h("hb")).status_code == 404


def test_a_stage_not_yet_escalated_cannot_be_supervised(world, flow, clock):
    flow.now = at(9, 14)
    case_id = flow.open()
    clock(at(9, 15))
    r = issue(world, case_id)
    assert r.status_code == 409 and r.json()["code"] == "not_escalated"
    assert of_case(tasks(world, "hb"), case_id) == []


def test_the_alert_text_names_whom_the_ladder_escalates_to():
    from datetime import date

    from fundflow.domain.alerts import AlertKind, AlertMoment
    from fundflow.domain.calendar import WorkCalendar
    from fundflow.service.alert_text import stage_alert_text

    moment = AlertMoment(AlertKind.ESCALATION, 2, 0, at(9, 23, 0), ("fund_center",))
    _, message = stage_alert_text(
        moment,
        community="桂园新村",
        case_number="FF2026000001",
        case_title="水泵损坏",
        stage_label="隐患上报，待消防认定",
        due_date=date(2026, 9, 20),
        provisional=False,
        calendar=WorkCalendar(),
        responsible_label="消防救援机构",
        escalate_to="维修资金管理中心",
    )
    assert "请维修资金管理中心督办（第 2 级）" in message and "住房和城乡建设局" not in message


def test_the_supervision_notice_is_generated_with_its_round_deadline_and_reply(world, escalated, clock):
    """督办通知单 as Word: to whom, what, by when (working days after the holiday), and once
    replied the reply; a new version when the reply changes what it says."""
    import io

    import docx

    sup = issue(world, escalated).json()
    first = world.client.get(f"/api/v1/cases/{escalated}/generated/supervision.docx", headers=world.h("hb"))
    assert first.status_code == 200, first.text
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(first.content)).paragraphs)
    assert "督办通知单" in text and "荷塘区消防救援机构：" in text and "第 1 次督办" in text
    assert "请于国庆节后两个工作日内完成消防认定并反馈" in text and "2026年10月8日" in text
    assert "住房和城乡建设局" in text and "反馈情况" not in text
    world.client.post(
        f"/api/v1/supervisions/{sup['id']}/reply", json={"reply": "已安排现场复核"}, headers=world.h("fr")
    )
    second = world.client.get(f"/api/v1/cases/{escalated}/generated/supervision.docx", headers=world.h("hb"))
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(second.content)).paragraphs)
    assert "反馈情况" in text and "已安排现场复核" in text
    assert second.headers["x-document-version"] == "2"
    # the period report counts it, at every level
    report = world.client.get("/api/v1/reports", params={"year": "2026"}, headers=world.h("hb")).json()
    assert report["city"]["supervisions_issued"] == 1 and report["city"]["supervisions_closed"] == 0
    assert sum(r["supervisions_issued"] for r in report["street_offices"]) == 1
    assert report["figures"]["supervisions_issued"] == "督办（件次）"
    none = world.client.get(f"/api/v1/cases/{flow_case(world)}/generated/supervision.pdf", headers=world.h("hb"))
    assert none.status_code == 422 and none.json()["code"] == "no_supervision"


def flow_case(world) -> int:
    r = world.client.post(
        "/api/v1/cases",
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "2栋消防水泵"},
        headers=world.h("so"),
    )
    return r.json()["id"]


def test_a_reply_with_documents_over_the_api_keeps_them_with_the_reply_and_the_case(world, escalated, clock):
    sup = issue(world, escalated).json()
    url = f"/api/v1/supervisions/{sup['id']}/reply-with-documents"
    too_big = b"x" * (world.svc.settings.max_upload_bytes + 1)
    r = world.client.post(url, data={"reply": "已复核"}, files=[("files", ("大.pdf", too_big))], headers=world.h("fr"))
    assert r.status_code == 413  # the request body's limit, before the use case
    fr = load_user(world.svc, world.ids["user_fr"])
    with pytest.raises(PayloadTooLarge) as e:  # the document upload limit, in the use case
        supervision.reply_supervision(
            world.svc, fr, sup["id"], reply="已复核", files=[("大.pdf", None, too_big)], now=at(9, 29)
        )
    assert e.value.code == "file_too_large"
    r = world.client.post(
        url, data={"reply": "已复核"}, files=[("files", ("记录.pdf", b"%PDF"))], headers=world.h("so")
    )
    assert r.status_code == 403 and r.json()["code"] == "not_supervised_party"
    files = [("files", ("复核记录.pdf", b"%PDF-1.4 check", "application/pdf"))]
    r = world.client.post(url, data={"reply": "已现场复核"}, files=files, headers=world.h("fr"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "replied" and [d["filename"] for d in body["documents"]] == ["复核记录.pdf"]
    work = world.client.get(f"/api/v1/cases/{escalated}/work", headers=world.h("hb")).json()
    [shown] = [s for s in work["supervisions"] if s["id"] == sup["id"]]
    assert [d["filename"] for d in shown["reply_documents"]] == ["复核记录.pdf"]
    docs = world.client.get(f"/api/v1/cases/{escalated}/documents", headers=world.h("hb")).json()
    assert [(d["doc_type"], d["filename"]) for d in docs] == [("supervision_reply", "复核记录.pdf")]
    events = world.client.get(f"/api/v1/cases/{escalated}/events", headers=world.h("hb")).json()
    assert events[-1]["data"]["documents"][0]["filename"] == "复核记录.pdf"
    assert_verified(world.svc)
    # a renewed round starts without the earlier round's attachments (they stay in the documents)
    r = world.client.post(
        f"/api/v1/supervisions/{sup['id']}/renew",
        json={"content": "请补充整改计划", "reply_working_days": 2},
        headers=world.h("hb"),
    )
    assert r.status_code == 200, r.text
    work = world.client.get(f"/api/v1/cases/{escalated}/work", headers=world.h("hb")).json()
    assert [s["reply_documents"] for s in work["supervisions"] if s["id"] == sup["id"]] == [[]]
    assert_verified(world.svc)
