"""Whole procedures over the HTTP API: a fire hazard case from report to archive, a lift case.

Every step runs as the user whose role does it, on a clock the test moves (``get_now``
overridden). Expected dates are worked out by hand from the 2026 holiday arrangement:
Qingming 4-6 April (Monday 6 April off), Labour Day 1-5 May with Saturday 9 May worked.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl

from fundflow.domain.tz import SHANGHAI
from fundflow.service.audit import GENESIS, event_hash
from tests.support.drivers import API, LIFT, MAIN, OTHERS, SEES_A, CaseDriver, expected_actions
from tests.support.world import HOUSEHOLDS, USERS


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


def money(text: str) -> Decimal:
    return Decimal(text)


class Walk:
    """One case walked step by step, checking what every step must show."""

    def __init__(self, world, drv: CaseDriver, case: dict):
        self.world, self.drv, self.case = world, drv, case
        self.uploads = 0

    def get(self, who: str = "so") -> dict:
        return self.drv.get(self.case["id"], who)

    def upload(self, who: str, *doc_types: str, content: bytes | None = None) -> None:
        for doc_type in doc_types:
            r = self.drv.upload(self.case["id"], doc_type, who, content)
            assert r.status_code == 201, r.text
            assert r.json()["doc_type_label"] == MAIN.documents[doc_type]
            self.uploads += 1

    def check_actions(self, state: str) -> None:
        """Every user who sees the case is offered exactly what its role may do now."""
        for who in SEES_A:
            offered = {a["trigger"] for a in self.get(who)["actions"]}
            assert offered == expected_actions(MAIN, state, USERS[who][0]), (state, who)

    def step(self, who: str, trigger: str, data: dict, to: str, due: date | None = None) -> dict:
        """Fire ``trigger`` as ``who``; check state, version, the new stage's due date, actions."""
        before = self.get()
        r = self.drv.post_fire(self.case["id"], who, trigger, data)
        assert r.status_code == 200, (trigger, r.text)
        out = r.json()
        assert out["state"] == to and out["state_label"] == MAIN.states[to].label
        assert out["version"] > before["version"]
        rule = MAIN.states[to].deadline
        if MAIN.states[to].terminal:
            assert out["stage"] is None and out["terminal"] is True and out["actions"] == []
        else:
            stage = out["stage"]
            assert stage["state"] == to and stage["due_date"] is not None and stage["overdue"] is False
            assert date.fromisoformat(stage["due_date"]) == due, (to, stage["due_date"])
            if rule.kind.value == "working_days":
                assert self.world.svc.calendar.is_workday(due), due
                assert stage["rule"] == f"{rule.amount}个工作日"
        self.case = out
        self.check_actions(to)
        return out

    def refused(self, who: str, trigger: str, data: dict, code: str) -> dict:
        before = self.get()
        r = self.drv.post_fire(self.case["id"], who, trigger, data)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["code"] == code and not body["message"].isascii()
        after = self.get()
        assert (after["state"], after["version"]) == (before["state"], before["version"])
        return body


def test_fire_hazard_case_from_report_to_archive(world):
    """A case is reported, found major, surveyed, decided, planned, reviewed, approved, fixed,
    accepted, settled, noticed for 7 days, paid out of the household ledgers and archived."""
    drv = CaseDriver(world)
    clock = drv.clock
    cid_a = world.ids["community_a"]
    community = world.client.get(f"{API}/communities/{cid_a}", headers=world.h("so")).json()
    assert community["total_balance"] == "131000.00"  # the five households of conftest

    # 1. report (Monday 2 March): due 5 working days later
    clock.now = at(3, 2)
    case = drv.open(
        "so", title="月塘新村消防水泵房水泵损坏", data={"category": "消防给水", "description": "水泵无法启动"}
    )
    assert case["state"] == "reported" and case["responsible"] == "fire_rescue"
    assert case["stage"]["due_date"] == "2026-03-09"
    w = Walk(world, drv, case)
    w.check_actions("reported")
    for who in OTHERS:
        assert world.client.get(f"{API}/cases/{case['id']}", headers=world.h(who)).status_code == 404
    w.upload("so", "hazard_photos")

    # 2. fire authority finding: the written notice is required
    clock.now = at(3, 3)
    finding = {
        "notice_no": "株荷消隐字〔2026〕第12号",
        "finding_route": "direct",
        "hazard_elements": "消防给水系统不能正常运行",
    }
    body = w.refused("fr", "confirm_major", finding, "guard_refused")
    assert body["detail"]["guard"] == "documents_present" and "confirm_major" in body["detail"]["available"]
    w.upload("fr", "fire_notice")
    w.step("fr", "confirm_major", finding, "site_survey", date(2026, 3, 4))

    # 3. site survey (Dongguan: 2 working days from the report of Monday 2 March)
    clock.now = at(3, 4)
    survey = {"survey_date": "2026-03-04", "survey_findings": "消防水泵电机烧毁，控制柜损坏"}
    w.refused("so", "complete_survey", survey, "documents_missing")
    w.upload("so", "site_record")
    w.step("so", "complete_survey", survey, "joint_meeting", date(2026, 3, 11))

    # 4. joint meeting: the street office convenes and records the absent parties' votes;
    #    the fund center and the fire authority record their own
    clock.now = at(3, 12)
    w.upload("so", "meeting_minutes", "sign_in_sheet")
    votes = [
        ("fc", "fund_center", "agree"),
        ("fr", "fire_rescue", "agree"),
        ("so", "street_office", "agree"),
        ("so", "residents_committee", "agree"),
        ("so", "owners_committee", "agree"),
        ("so", "property_company", "abstain"),
    ]
    for who, party, choice in votes:
        r = drv.vote(case["id"], who, party, choice, opinion="同意启动应急使用" if choice == "agree" else None)
        assert r.status_code == 200, r.text
    listed = world.client.get(f"{API}/cases/{case['id']}/votes", headers=world.h("oc")).json()
    assert {v["party"]: v["vote"] for v in listed} == {p: c for _, p, c in votes}
    meeting = {
        "budget_estimate": "12000",
        "implementer": "property_company",
        "paying_scope": {"whole_estate": True},
        "scope_reason": "水泵房为全小区共用设施，全体业主分摊",
    }
    w.step("so", "meeting_approve", meeting, "plan_budget", date(2026, 3, 26))

    # 5. plan and budget by the property company; rectification due 8 May
    clock.now = at(3, 26)
    w.upload("pc", "repair_plan", "budget")
    plan = {"budget_amount": "12000.00", "rectification_deadline": "2026-05-08"}
    w.step("pc", "submit_plan", plan, "cost_review", date(2026, 4, 2))

    # 6. cost review, then fund review across Qingming (4-6 April): due Tuesday 7 April
    clock.now = at(4, 2)
    w.upload("fc", "cost_review_report")
    w.step("fc", "confirm_cost", {"reviewed_amount": "12000.00"}, "fund_review", date(2026, 4, 7))
    clock.now = at(4, 7)
    w.upload("oc", "application_form")
    out = w.step(
        "fc",
        "approve",
        {"approved_amount": "12000.00", "approval_opinion": "同意应急使用"},
        "advance_payment",
        date(2026, 4, 9),
    )
    assert out["money"]["approved"] == "12000.00"
    approved = world.client.get(f"{API}/cases/{case['id']}/apportionment", headers=world.h("so")).json()
    assert approved["basis"] == "approved_amount" and approved["total"] == "12000.00"

    # 7. no advance on a project of CNY 100,000 or less (Shenzhen rule): paid after the works
    clock.now = at(4, 8)
    body = w.refused("fc", "pay_advance", {"advance_amount": "6000.00", "payment_date": "2026-04-08"}, "guard_refused")
    assert body["detail"]["guard"] == "advance_within_share"
    w.step("fc", "skip_advance", {}, "rectification", date(2026, 5, 8))  # the plan's deadline

    # 8. works, then acceptance: 5 working days from Thursday 7 May, Saturday 9 May worked
    clock.now = at(5, 7)
    w.upload("pc", "construction_contract")
    w.step("pc", "complete_works", {"completion_date": "2026-05-07"}, "acceptance", date(2026, 5, 13))

    # 9. four parties sign, then the street office passes the acceptance
    clock.now = at(5, 8)
    w.upload("so", "acceptance_report")
    body = w.refused("so", "pass_acceptance", {}, "guard_refused")
    assert body["detail"]["guard"] == "signed_by"
    for who in ("fr", "so", "fc", "oc"):
        signed = drv.fire(case["id"], who, "sign_acceptance", {"opinion": "整改到位，同意验收"})
        assert signed["state"] == "acceptance" and USERS[who][0] in signed["data"]["signatures"]["acceptance"]
    w.refused("fr", "sign_acceptance", {}, "guard_refused")  # once each
    w.step("so", "pass_acceptance", {}, "settlement", date(2026, 5, 21))

    # 10. settlement; 11. public notice of 10 calendar days from Monday 11 May
    clock.now = at(5, 11)
    w.upload("pc", "settlement_statement", "invoices")
    out = w.step("pc", "submit_settlement", {"settled_amount": "10000.00"}, "public_notice", date(2026, 5, 21))
    assert out["money"]["settled"] == "10000.00"

    table = world.client.get(f"{API}/cases/{case['id']}/apportionment", headers=world.h("so")).json()
    assert table["basis"] == "settled_amount" and table["total"] == "10000.00" and table["households"] == 5
    shares = {(r["building"], r["unit"], r["room"]): r for r in table["rows"]}
    assert sum(money(r["share"]) for r in table["rows"]) == money("10000.00")
    total_area = sum(Decimal(h[3]) for h in HOUSEHOLDS)
    for bld, unit, room, area, balance, _first in HOUSEHOLDS:
        row = shares[(bld, unit, room)]
        assert abs(money(row["share"]) - Decimal("10000") * Decimal(area) / total_area) < Decimal("0.01")
        assert money(row["balance"]) == money(balance)
    # only 2栋 102 (balance 6,000 of a 22,000 first deposit) ends below the 30% line (6,600)
    assert [k for k, r in shares.items() if r["below_30_percent"]] == [("2栋", "1单元", "102")]

    xlsx = world.client.get(f"{API}/cases/{case['id']}/apportionment.xlsx", headers=world.h("oc"))
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if "分摊金额（元）" in r)
    col = rows[header].index("分摊金额（元）")
    body_rows = [r for r in rows[header + 1 :] if r[0] != "合计"]
    assert len(body_rows) == 5
    assert sum(Decimal(str(r[col])) for r in body_rows) == money("10000.00")
    assert str(rows[-1][col]).startswith("=SUM(")  # the total row sums the column in Excel

    w.upload("so", "notice_text", "notice_photos")
    w.upload("so", "cost_table", content=xlsx.content)
    drv.fire(case["id"], "so", "post_notice", {"notice_place": "小区公示栏"})  # posted on 11 May
    clock.now = at(5, 12)
    objection = drv.fire(case["id"], "oc", "raise_objection", {"objection": "2栋业主对分摊方式有疑问"})
    assert objection["data"]["counters"]["open_objections"] == 1
    clock.now = at(5, 13)
    drv.fire(case["id"], "so", "answer_objection", {"answer": "按建筑面积分摊，依据《民法典》第283条"})
    # 7 calendar days from 11 May run out at the end of 18 May: closing on the 18th is refused
    clock.now = at(5, 18, 17)
    body = w.refused("so", "close_notice", {}, "guard_refused")
    assert body["detail"]["guard"] == "period_elapsed" and "2026-05-18" in body["message"]
    clock.now = at(5, 19, 9)
    w.step("so", "close_notice", {}, "disbursement", date(2026, 5, 26))

    # 12. disbursement: the final payment leaves the 10% retention (质保金) frozen
    clock.now = at(5, 20)
    body = w.refused("fc", "disburse", {"paid_amount": "10000.00"}, "guard_refused")
    assert body["detail"]["guard"] == "ledger" and "¥1,000.00" in body["message"] and "质保金" in body["message"]
    out = w.step("fc", "disburse", {"paid_amount": "9000.00"}, "warranty", date(2027, 5, 27))
    assert {k: out["money"][k] for k in ("approved", "settled", "paid", "frozen", "retention_held", "remaining")} == {
        "approved": "12000.00",
        "settled": "10000.00",
        "paid": "9000.00",
        "frozen": "1000.00",
        "retention_held": "1000.00",
        "remaining": "1000.00",
    }
    assert [(p["label"], p["amount"]) for p in out["money"]["payments"]] == [("拨付尾款", "9000.00")]
    community = world.client.get(f"{API}/communities/{cid_a}", headers=world.h("so")).json()
    assert community["total_balance"] == "122000.00"  # 131,000 less the 9,000 paid
    after = world.client.get(f"{API}/cases/{case['id']}/apportionment", headers=world.h("so")).json()
    for row in after["rows"]:  # right after the payout: the share is not taken twice
        old = shares[(row["building"], row["unit"], row["room"])]
        assert money(row["balance"]) == money(old["balance"]) - money(row["paid"])
        assert money(row["balance_after"]) == money(old["balance"]) - money(old["share"])
    events = world.client.get(f"{API}/cases/{case['id']}/events", headers=world.h("so")).json()
    record = next(e for e in events if e["trigger"] == "disburse")["data"]["ledger"]
    assert record["entries"] == 10 and record["totals"] == {"debit": "9000.00", "retention_hold": "1000.00"}
    assert len(record["sha256"]) == 64

    # 12a. the warranty: one year; the retention is paid when it is over
    clock.now = at(5, 21)
    body = w.refused("fc", "release_retention", {}, "guard_refused")
    assert body["detail"]["guard"] == "period_elapsed"
    clock.now = datetime(2027, 5, 21, 10, tzinfo=SHANGHAI)
    out = w.step("fc", "release_retention", {}, "archiving", date(2027, 6, 4))
    assert (out["money"]["paid"], out["money"]["frozen"], out["money"]["retention_held"]) == (
        "10000.00",
        "0.00",
        "0.00",
    )
    community = world.client.get(f"{API}/communities/{cid_a}", headers=world.h("so")).json()
    assert community["total_balance"] == "121000.00"

    # 13. archive
    clock.now = datetime(2027, 5, 24, 10, tzinfo=SHANGHAI)
    out = w.step("so", "archive", {"archive_no": "YT-2026-007"}, "archived")
    assert out["outcome"] == "completed" and out["closed_at"] is not None
    for who in SEES_A:
        assert w.get(who)["actions"] == []
    r = drv.post_fire(case["id"], "so", "archive", {"archive_no": "x"})
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    r = drv.upload(case["id"], "invoices")
    assert r.status_code == 422 and r.json()["code"] == "case_closed"

    # the whole history, in order, hash-chained
    events = world.client.get(f"{API}/cases/{case['id']}/events", headers=world.h("fc")).json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    moves = [
        (e["trigger"], e["from_state"], e["to_state"])
        for e in events
        if e["trigger"] not in ("attach_document", "record_vote") and e["from_state"] != e["to_state"]
    ]
    assert [m[0] for m in moves] == [
        "open",
        "confirm_major",
        "complete_survey",
        "meeting_approve",
        "submit_plan",
        "confirm_cost",
        "approve",
        "skip_advance",
        "complete_works",
        "pass_acceptance",
        "submit_settlement",
        "close_notice",
        "disburse",
        "release_retention",
        "archive",
    ]
    assert all(a[2] == b[1] for a, b in zip(moves, moves[1:]))  # each move starts where the last ended
    assert sum(e["trigger"] == "attach_document" for e in events) == w.uploads
    assert sum(e["trigger"] == "record_vote" for e in events) == 6
    assert [e["role"] for e in events if e["trigger"] == "sign_acceptance"] == [
        "fire_rescue",
        "street_office",
        "fund_center",
        "owners_committee",
    ]
    prev = GENESIS
    user_ids = {name: world.ids[f"user_{name}"] for name in USERS}
    for e in events:
        assert len(e["hash"]) == 64
        assert e["hash"] == event_hash(
            case["id"],
            e["seq"],
            e["trigger"],
            e["from_state"],
            e["to_state"],
            user_ids[e["user"]],
            e["user"],
            e["role"],
            e["org"],
            e["data"],
            e["comment"],
            datetime.fromisoformat(e["at"]),
            prev,
            e["facts"],
        ), e["seq"]
        prev = e["hash"]

    # the city's figures
    stats = world.client.get(f"{API}/stats", headers=world.h("hb")).json()
    assert {k: stats["city"][k] for k in ("started", "finished", "closed", "in_progress", "overdue")} == {
        "started": 1,
        "finished": 1,
        "closed": 1,
        "in_progress": 0,
        "overdue": 0,
    }
    assert (stats["city"]["approved"], stats["city"]["paid"]) == ("12000.00", "10000.00")
    office = next(o for o in stats["street_offices"] if o["street_office_id"] == world.ids["office_yt"])
    assert (office["finished"], office["paid"]) == (1, "10000.00")
    days = {s["state"]: s["average_working_days"] for s in stats["stages"] if s["definition"] == MAIN.id}
    # 2 -> 7 April: 3 and 7 April; 12 -> 26 March: ten working days; 11 -> 19 May: 6
    assert (days["fund_review"], days["plan_budget"], days["public_notice"]) == (2, 10, 6)
    assert days["acceptance"] == 1  # 7 -> 8 May
    listed = world.client.get(f"{API}/cases", params={"include_closed": "false"}, headers=world.h("so")).json()
    assert listed["total"] == 0


def test_definitions_and_their_diagram(world):
    """The definitions are listed with states and transitions; the diagram is Mermaid with the
    Chinese labels of every state and transition."""
    r = world.client.get(f"{API}/definitions", headers=world.h("oc"))
    assert r.status_code == 200
    defs = {d["id"]: d for d in r.json() if d["current"]}  # every version is listed; new cases take these
    assert set(defs) == {MAIN.id, LIFT.id, "public_opinion"}
    assert sorted(d["version"] for d in r.json() if d["id"] == MAIN.id) == [1, 2]
    main = defs[MAIN.id]
    assert main["title"] == MAIN.title and main["initial"] == "reported"
    assert [s["id"] for s in main["states"]] == list(MAIN.states)
    assert [(t["trigger"], t["to"]) for t in main["transitions"]] == [(t.trigger, t.dest) for t in MAIN.transitions]
    approve = next(t for t in main["transitions"] if t["trigger"] == "approve")
    assert approve["roles"] == ["fund_center"] and approve["guards"] == ["amount_at_most", "amount_within_balance"]
    assert {f["name"]: f["type"] for f in approve["fields"]} == {
        "approved_amount": "amount",
        "approval_opinion": "text",
    }

    r = world.client.get(f"{API}/definitions/{MAIN.id}/diagram", headers=world.h("oc"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "stateDiagram-v2" in text and f"[*] --> {MAIN.initial}" in text
    for s in MAIN.states.values():
        assert f'state "{s.label}" as {s.id}' in text
    for t in MAIN.transitions:
        assert t.label in text
        if t.dest is not None:
            assert f"{t.sources[0]} --> {t.dest}: {t.label}" in text
    lift = world.client.get(f"{API}/definitions/{LIFT.id}/diagram", params={"version": 1}, headers=world.h("so"))
    assert lift.status_code == 200 and "维修验收" in lift.text


def test_lift_fault_case_reaches_repair(world):
    """The second procedure runs on the same engine: reported by the property company,
    confirmed by the street office, approved by the fund center, then repaired."""
    drv = CaseDriver(world, LIFT)
    drv.clock.now = at(3, 2)
    case = drv.open("pc", title="2栋电梯困人后停运", definition=LIFT.id)
    assert case["definition"]["id"] == LIFT.id and case["responsible"] == "street_office"
    assert case["stage"]["due_date"] == "2026-03-04"  # 2 working days after Monday 2 March
    assert {a["trigger"] for a in drv.get(case["id"], "so")["actions"]} == expected_actions(
        LIFT, "reported", "street_office"
    )
    for doc in ("fault_photos", "inspection_report"):
        assert drv.upload(case["id"], doc, "pc").status_code == 201
    r = drv.upload(case["id"], "fire_notice", "pc")  # a document type of the other procedure
    assert r.status_code == 422 and r.json()["code"] == "unknown_document_type"
    drv.clock.now = at(3, 3)
    out = drv.fire(case["id"], "so", "confirm_fault", {"fault_description": "曳引机故障", "quote_amount": "45000.00"})
    assert out["state"] == "fund_review" and out["stage"]["due_date"] == "2026-03-10"  # 4,5,6,9,10 March
    assert drv.upload(case["id"], "repair_quote", "pc").status_code == 201
    drv.clock.now = at(3, 4)
    r = drv.post_fire(case["id"], "fc", "approve", {"approved_amount": "45000.00", "repair_deadline": "2026-03-01"})
    assert r.status_code == 409 and r.json()["detail"]["guard"] == "date_not_past"
    out = drv.fire(case["id"], "fc", "approve", {"approved_amount": "45000.00", "repair_deadline": "2026-03-20"})
    assert out["state"] == "repair" and out["responsible"] == "property_company"
    assert out["stage"]["due_date"] == "2026-03-20" and out["money"]["approved"] == "45000.00"
    assert {a["trigger"] for a in drv.get(case["id"], "pc")["actions"]} == {"complete_repair"}
    drv.clock.now = at(3, 18)
    out = drv.fire(case["id"], "pc", "complete_repair", {"completion_date": "2026-03-18"})
    assert out["state"] == "acceptance" and out["stage"]["due_date"] == "2026-03-25"


def test_a_case_scoped_to_one_building_draws_on_that_building_only(world):
    """Buildings named at the report and kept by the meeting are the scope: the balance check and
    the apportionment use that building's households only (1栋: three households, CNY 95,000.00)."""
    drv = CaseDriver(world)
    r = world.client.post(
        f"{API}/cases",
        headers=world.h("so"),
        json={
            "definition": MAIN.id,
            "community_id": world.ids["community_a"],
            "title": "1栋报警系统故障",
            "buildings": ["1栋", "9栋"],
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_building" and r.json()["detail"]["unknown"] == ["9栋"]
    case = drv.case_in("fund_review", buildings=["1栋"])
    assert case["scope_building_ids"] == [world.ids["building_a_1栋"]]
    drv.upload(case["id"], "application_form", "oc")
    r = drv.post_fire(case["id"], "fc", "approve", {"approved_amount": "95000.01", "approval_opinion": "超出余额"})
    assert r.status_code == 409 and r.json()["detail"]["guard"] == "amount_within_balance"
    assert "¥95,000.00" in r.json()["message"]
    out = drv.fire(case["id"], "fc", "approve", {"approved_amount": "95000.00", "approval_opinion": "同意"})
    assert out["state"] == "advance_payment"
    table = world.client.get(f"{API}/cases/{case['id']}/apportionment", headers=world.h("so")).json()
    assert table["households"] == 3 and {r["building"] for r in table["rows"]} == {"1栋"}
    assert Decimal(table["total_area"]) == Decimal("89.50") + Decimal("120.25") + Decimal("65.00")
    assert sum(Decimal(r["share"]) for r in table["rows"]) == Decimal("95000.00")
    r = world.client.get(f"{API}/cases/{case['id']}/apportionment", params={"format": "xlsx"}, headers=world.h("so"))
    rows = openpyxl.load_workbook(io.BytesIO(r.content)).active.max_row
    assert r.status_code == 200 and rows == 2 + 1 + 3 + 1  # title lines, header, households, total
    stats = world.client.get(f"{API}/stats", headers=world.h("so_other")).json()
    assert stats["city"]["started"] == 0 and stats["street_offices"] == []  # another street office's view
    stats = world.client.get(f"{API}/stats", headers=world.h("so")).json()
    assert (stats["city"]["started"], stats["city"]["in_progress"], stats["city"]["approved"]) == (1, 1, "95000.00")
