"""Recording a case as it happened offline: acts with their real dates (``occurred_at``), all
recorded at one moment (``NOW``, Monday 16 March 2026, 15:00 Beijing time), through the API."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fundflow.domain.tz import SHANGHAI
from tests.support.drivers import API, CaseDriver


def at(m, d, hh=10, mm=0) -> datetime:
    return datetime(2026, m, d, hh, mm, tzinfo=SHANGHAI)


NOW = at(3, 16, 15)  # Monday 16 March 2026, 15:00: when everything below is recorded


def post(drv: CaseDriver, case_id: int, who: str, trigger: str, data: dict | None = None, occurred_at=None):
    body = {"trigger": trigger, "data": data or {}}
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    return drv.client.post(f"{API}/cases/{case_id}/transitions", json=body, headers=drv.world.h(who))


def ok(drv, case_id, who, trigger, data=None, occurred_at=None) -> dict:
    r = post(drv, case_id, who, trigger, data, occurred_at)
    assert r.status_code == 200, (trigger, r.text)
    return r.json()


def upload(drv, case_id, who, *types):
    for t in types:
        r = drv.upload(case_id, t, who)
        assert r.status_code == 201, r.text


def open_offline(drv, occurred_at="2026-03-05", **extra) -> int:
    r = drv.client.post(
        f"{API}/cases",
        headers=drv.world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": drv.world.ids["community_a"],
            "title": "1栋消防水泵损坏",
            "buildings": ["1栋"],
            "occurred_at": occurred_at,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def events(drv, case_id) -> list[dict]:
    return drv.client.get(f"{API}/cases/{case_id}/events", headers=drv.world.h("fc")).json()


def record_to_the_notice(drv, d0: date) -> int:
    """Report on ``d0``, finding the same day, survey and meeting the next, works done the day
    after, the notice posted on the fourth day: everything recorded now (NOW)."""
    d = [(d0 + timedelta(days=i)).isoformat() for i in range(4)]
    cid = open_offline(drv, d[0])
    upload(drv, cid, "so", "hazard_photos")
    upload(drv, cid, "fr", "fire_notice")
    ok(
        drv,
        cid,
        "fr",
        "confirm_major",
        {"notice_no": "株荷消隐字〔2026〕3号", "finding_route": "direct", "hazard_elements": "消防水泵无法启动"},
        d[0],
    )
    upload(drv, cid, "so", "site_record")
    ok(drv, cid, "so", "complete_survey", {"survey_date": d[1], "survey_findings": "电机烧毁"}, f"{d[1]}T08:30")
    for party in (
        "street_office",
        "fund_center",
        "fire_rescue",
        "residents_committee",
        "owners_committee",
        "property_company",
    ):
        assert drv.vote(cid, "so", party).status_code == 200
    upload(drv, cid, "so", "meeting_minutes", "sign_in_sheet")
    ok(
        drv,
        cid,
        "so",
        "meeting_approve",
        {
            "paying_scope": {"buildings": ["1栋"]},
            "scope_reason": "1栋自用水泵",
            "budget_estimate": "60000",
            "implementer": "property_company",
        },
        f"{d[1]}T09:30",
    )
    upload(drv, cid, "pc", "repair_plan", "budget")
    ok(drv, cid, "pc", "submit_plan", {"budget_amount": "60000.00", "rectification_deadline": "2026-04-30"}, d[1])
    upload(drv, cid, "fc", "cost_review_report")
    ok(drv, cid, "fc", "confirm_cost", {"reviewed_amount": "60000.00"}, d[1])
    upload(drv, cid, "oc", "application_form")
    ok(drv, cid, "fc", "approve", {"approved_amount": "60000.00", "approval_opinion": "同意"}, d[1])
    ok(drv, cid, "fc", "skip_advance", {}, d[1])
    upload(drv, cid, "pc", "construction_contract")
    ok(drv, cid, "pc", "complete_works", {"completion_date": d[2]}, d[2])
    for who in ("fr", "so", "fc", "oc"):
        ok(drv, cid, who, "sign_acceptance", {"opinion": "合格"}, d[2])
    upload(drv, cid, "so", "acceptance_report")
    ok(drv, cid, "so", "pass_acceptance", {}, d[2])
    upload(drv, cid, "pc", "settlement_statement", "invoices")
    ok(drv, cid, "pc", "submit_settlement", {"settled_amount": "58000.00"}, d[2])
    upload(drv, cid, "so", "notice_text", "cost_table", "notice_photos")
    ok(drv, cid, "so", "post_notice", {"notice_place": "小区公示栏"}, d[3])
    return cid
