"""Money through the service: exact apportionment, exact columns, ledger debits, the balance guard.

``Flow`` (tests/support/flows.py, the ``flow`` fixture) walks the cases with the use cases.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import select

from fundflow.service.db import transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import Case, Household, LedgerEntry
from fundflow.service.usecases import cases, ledger
from tests.support.flows import CENT, event_count, new_community

# -- apportionment, as the API shows it ------------------------------------------------------

areas = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9999.9999"), places=4)
balances = st.decimals(min_value=CENT, max_value=Decimal("99999999.99"), places=2)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(households=st.lists(st.tuples(areas, balances), min_size=1, max_size=8), share=st.fractions(0, 1))
def test_apportionment_shares_add_up_and_follow_area(flow, households, share):
    rows = [
        HouseholdRow("1栋", "1单元", f"{i + 1:02d}01", None, area, None, bal, bal)
        for i, (area, bal) in enumerate(households)
    ]
    community_id = new_community(flow.world, rows)
    total_balance = sum(bal for _, bal in households)
    total = max(Decimal(int(Fraction(int(total_balance * 100)) * share)) / 100, CENT)  # within the balance, to the fen
    case_id = flow.open(community_id)
    flow.advance(case_id, "advance_payment", approved=str(total))

    r = flow.world.client.get(f"/api/v1/cases/{case_id}/apportionment", headers=flow.world.h("fc"))
    assert r.status_code == 200, r.text
    table = r.json()
    assert table["basis"] == "approved_amount" and Decimal(table["total"]) == total
    assert table["households"] == len(households)
    shares = [Decimal(row["share"]) for row in table["rows"]]
    assert sum(shares) == total  # exactly, to the fen
    area_sum = sum(Fraction(a) for a, _ in households)
    by_room = {row["room"]: row for row in table["rows"]}
    for i, (area, bal) in enumerate(households):
        row = by_room[f"{i + 1:02d}01"]
        assert Decimal(row["area"]) == area
        exact = Fraction(total) * Fraction(area) / area_sum
        assert abs(Fraction(Decimal(row["share"])) - exact) < Fraction(1, 100)
        assert Decimal(row["balance_after"]) == bal - Decimal(row["share"])
        assert row["below_30_percent"] == (bal - Decimal(row["share"]) < bal * Decimal("0.30"))


# -- exact money columns -----------------------------------------------------------------------

EDGES = [Decimal("9999999999.99"), CENT, Decimal("0.00"), Decimal("0.10"), Decimal("1234567.89")]


def test_money_columns_round_trip_exactly(flow):
    rows = [HouseholdRow("1栋", "", str(100 + i), None, Decimal("88.8888"), None, v, v) for i, v in enumerate(EDGES)]
    community_id = new_community(flow.world, rows)
    with transaction(flow.svc.sessions) as s:
        got = s.exec(select(Household).where(Household.community_id == community_id).order_by(Household.room)).all()
        raw = s.execute(
            text("SELECT balance, area FROM households WHERE community_id = :c ORDER BY room"), {"c": community_id}
        ).all()
    for v, h, (raw_balance, raw_area) in zip(EDGES, got, raw):
        assert type(h.balance) is Decimal and type(h.first_deposit) is Decimal
        assert h.balance == v and str(h.balance) == str(v)  # same value, same two decimals
        assert h.area == Decimal("88.8888")
        assert raw_balance == int(v * 100) and isinstance(raw_balance, int)  # integer fen, never a float
        assert raw_area == 888888
    r = flow.world.client.get(f"/api/v1/communities/{community_id}", headers=flow.world.h("fc"))
    assert r.json()["total_balance"] == str(sum(EDGES))

    # the largest figure flows through a case: approved, apportioned, read back as it was written
    case_id = flow.open(community_id)
    big = str(sum(EDGES))  # 10001234567.99
    body = flow.advance(case_id, "advance_payment", approved=big)
    assert body["money"]["approved"] == big
    with transaction(flow.svc.sessions) as s:
        assert s.get(Case, case_id).approved_amount == Decimal(big)
    table = flow.world.client.get(f"/api/v1/cases/{case_id}/apportionment", headers=flow.world.h("fc")).json()
    assert sum(Decimal(r["share"]) for r in table["rows"]) == Decimal(big)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2), min_size=1, max_size=6))
def test_any_amount_to_the_fen_round_trips(flow, values):
    rows = [HouseholdRow("1栋", "", str(i), None, Decimal("1"), None, v, v) for i, v in enumerate(values)]
    community_id = new_community(flow.world, rows)
    with transaction(flow.svc.sessions) as s:
        got = {h.room: h for h in s.exec(select(Household).where(Household.community_id == community_id))}
    for i, v in enumerate(values):
        assert type(got[str(i)].balance) is Decimal and got[str(i)].balance == v
        assert got[str(i)].first_deposit == v


@pytest.mark.parametrize("bad, error", [(0.1, TypeError), (Decimal("0.001"), ValueError)])
def test_money_column_refuses_floats_and_fractions_of_a_fen(flow, bad, error):
    with pytest.raises(StatementError) as info:
        with transaction(flow.svc.sessions) as s:
            h = s.exec(select(Household)).first()
            h.balance = bad
            s.add(h)
            s.flush()
    assert isinstance(info.value.orig, error)
    with transaction(flow.svc.sessions) as s:  # nothing was written
        assert sum(h.balance for h in s.exec(select(Household))) == Decimal("1131000.00")


# -- disbursement debits the ledgers -----------------------------------------------------------


def _households(svc, community_id: int) -> dict[int, Household]:
    with transaction(svc.sessions) as s:
        return {h.id: h for h in s.exec(select(Household).where(Household.community_id == community_id))}


def test_disbursement_debits_each_ledger_by_its_share_and_keeps_the_retention_frozen(flow):
    world = flow.world
    community = world.ids["community_a"]
    case_id = flow.open()
    settled = "33333.33"
    flow.advance(case_id, "disbursement", approved="40000.00", settled=settled)
    before = _households(flow.svc, community)
    table = world.client.get(f"/api/v1/cases/{case_id}/apportionment", headers=world.h("fc")).json()
    assert table["basis"] == "settled_amount" and table["total"] == settled
    expected = {row["household_id"]: Decimal(row["share"]) for row in table["rows"]}
    total_area = sum(Fraction(h.area) for h in before.values())
    for hid, h in before.items():  # the shares themselves, checked independently
        assert abs(Fraction(expected[hid]) - Fraction(Decimal(settled)) * Fraction(h.area) / total_area) < Fraction(
            1, 100
        )
        assert h.frozen == expected[hid]  # the settlement moved each freeze to its share

    body = flow.advance(case_id, "warranty", paid="30000.00")  # 33,333.33 less 3,333.33 retention
    assert body["money"]["settled"] == settled and body["money"]["paid"] == "30000.00"
    assert body["money"]["retention_held"] == "3333.33" and body["money"]["frozen"] == "3333.33"

    after = _households(flow.svc, community)
    with transaction(flow.svc.sessions) as s:
        entries = s.exec(select(LedgerEntry).where(LedgerEntry.case_id == case_id, LedgerEntry.kind == "debit")).all()
    assert len(entries) == 5 and sum(e.amount for e in entries) == Decimal("30000.00")
    for e in entries:
        h0, h1 = before[e.household_id], after[e.household_id]
        assert h1.balance == h0.balance - e.amount == e.balance_after
        assert h1.frozen == h0.frozen - e.amount  # the freeze turned into the debit
    assert sum(h.frozen for h in after.values()) == Decimal("3333.33")
    # households outside the community are untouched
    assert [h.balance for h in _households(flow.svc, world.ids["community_b"]).values()] == [Decimal("500000.00")]

    flow.advance(case_id, "archived")  # the retention paid after the warranty, then archived
    final = _households(flow.svc, community)
    for hid, h in final.items():
        assert h.frozen == 0 and h.balance == before[hid].balance - expected[hid]  # exactly its share
    assert_books_balance(flow.svc)


def test_disbursement_debits_only_the_buildings_in_scope(flow):
    world = flow.world
    case_id = flow.open(buildings=["2栋"])
    flow.advance(case_id, "archived", approved="1000.00", settled="999.99")
    with transaction(flow.svc.sessions) as s:
        entries = s.exec(
            select(LedgerEntry).where(
                LedgerEntry.case_id == case_id, LedgerEntry.kind.in_(["debit", "retention_release"])
            )
        ).all()
        in_scope = {h.id for h in s.exec(select(Household).where(Household.building_id == world.ids["building_a_2栋"]))}
    assert {e.household_id for e in entries} == in_scope and len(in_scope) == 2
    assert sum(e.amount for e in entries) == Decimal("999.99")


def assert_books_balance(svc) -> None:
    """``fundflow ledger verify`` finds nothing wrong."""
    with transaction(svc.sessions) as s:
        counts, problems = ledger.verify_ledgers(s)
    assert problems == [] and counts["entries"] > 0


# -- the balance guard ---------------------------------------------------------------------------


def _refused_approval(flow, case_id: int, amount: str) -> dict:
    r = flow.world.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=flow.world.h("fc"),
        json={"trigger": "approve", "data": {"approved_amount": amount, "approval_opinion": "同意"}},
    )
    assert r.status_code == 409, r.text
    return r.json()


def test_approval_above_the_balance_in_scope_is_refused_naming_the_shortfall(flow):
    case_id = flow.open()  # whole estate: 131,000.00 in the five ledgers
    flow.advance(case_id, "fund_review", approved="150000.00")
    flow.doc(case_id, "application_form")
    events = event_count(flow.svc, case_id)
    body = _refused_approval(flow, case_id, "150000.00")
    assert body["code"] == "guard_refused" and body["detail"]["guard"] == "amount_within_balance"
    assert "¥150,000.00" in body["message"] and "¥131,000.00" in body["message"]
    assert "差额 ¥19,000.00" in body["message"]
    one_fen = _refused_approval(flow, case_id, "131000.01")
    assert "差额 ¥0.01" in one_fen["message"]
    assert event_count(flow.svc, case_id) == events and flow.state(case_id) == "fund_review"
    ok = flow.fire(
        "fc", case_id, "approve", {"approved_amount": "131000.00", "approval_opinion": "同意"}
    )  # the whole balance
    assert ok["state"] == "advance_payment" and ok["money"]["approved"] == "131000.00"


def test_balance_guard_counts_only_the_buildings_in_scope(flow):
    case_id = flow.open(buildings=["1栋"])  # 1栋: 30,000 + 40,000 + 25,000
    flow.advance(case_id, "fund_review", approved="100000.00")
    flow.doc(case_id, "application_form")
    body = _refused_approval(flow, case_id, "100000.00")  # the estate holds 131,000.00, the block 95,000.00
    assert "¥95,000.00" in body["message"] and "差额 ¥5,000.00" in body["message"]


# -- the ledger: freezes, payments, retention, supplementary approval (issue 9) ---------------


def _post(flow, case_id: int, who: str, trigger: str, data: dict | None = None):
    return flow.world.client.post(
        f"/api/v1/cases/{case_id}/transitions", headers=flow.world.h(who), json={"trigger": trigger, "data": data or {}}
    )


def _refused(flow, case_id: int, who: str, trigger: str, data: dict, guard: str) -> dict:
    before = cases.get_case(flow.svc, flow.u["fc"], case_id, flow.now)
    r = _post(flow, case_id, who, trigger, data)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "guard_refused" and body["detail"]["guard"] == guard and not body["message"].isascii()
    after = cases.get_case(flow.svc, flow.u["fc"], case_id, flow.now)
    assert (after["version"], after["money"]) == (before["version"], before["money"])  # nothing moved
    return body


def _frozen(svc, community_id: int) -> Decimal:
    return sum((h.frozen for h in _households(svc, community_id).values()), Decimal(0))


def test_an_approval_freezes_the_shares_so_a_second_case_cannot_approve_the_same_money(flow):
    """Two cases over the same buildings cannot each be approved for the whole balance: the
    first freezes its floor-area shares, the second sees only what is left and is told the
    shortfall and which households lack funds."""
    community = flow.world.ids["community_a"]
    first, second = flow.open(), flow.open(buildings=["1栋"])
    flow.advance(first, "fund_review", approved="100000.00")
    flow.advance(second, "fund_review", approved="60000.00")
    flow.doc(first, "application_form")
    flow.doc(second, "application_form")
    flow.fire("fc", first, "approve", {"approved_amount": "100000.00", "approval_opinion": "同意"})
    hh = _households(flow.svc, community)
    assert sum(h.frozen for h in hh.values()) == Decimal("100000.00")
    assert sum(h.balance for h in hh.values()) == Decimal("131000.00")  # nothing paid yet
    block = [h for h in hh.values() if h.building_id == flow.world.ids["building_a_1栋"]]
    left = sum(h.balance - h.frozen for h in block)  # 95,000 less the block's part of the first freeze
    body = _refused(
        flow,
        second,
        "fc",
        "approve",
        {"approved_amount": "60000.00", "approval_opinion": "同意"},
        "amount_within_balance",
    )
    found = body["detail"]["found"]
    assert Decimal(found["available"]) == left and Decimal(found["shortfall"]) == Decimal("60000.00") - left
    assert f"差额 ¥{Decimal('60000.00') - left:,}" in body["message"] and "已扣除其他案件冻结" in body["message"]
    assert {x["household_id"] for x in found["households"]} == {h.id for h in block}  # each short of its share
    assert "1栋1单元101" in body["message"]
    ok = flow.fire("fc", second, "approve", {"approved_amount": str(left), "approval_opinion": "同意"})
    assert ok["money"]["frozen"] == str(left)
    assert (
        sum(
            h.balance - h.frozen
            for h in _households(flow.svc, community).values()
            if h.building_id == flow.world.ids["building_a_1栋"]
        )
        == 0
    )
    assert_books_balance(flow.svc)


def test_an_approval_above_the_cost_review_is_refused(flow):
    case_id = flow.open()
    flow.advance(case_id, "fund_review", approved="56084.52")
    flow.doc(case_id, "application_form")
    body = _refused(
        flow, case_id, "fc", "approve", {"approved_amount": "60000.00", "approval_opinion": "同意"}, "amount_at_most"
    )
    assert "核准金额 ¥60,000.00 超过审定金额 ¥56,084.52" in body["message"]
    assert body["detail"]["found"]["excess"] == "3915.48"


def test_a_settlement_above_the_approval_goes_to_a_supplementary_approval_that_freezes_the_difference(flow):
    community = flow.world.ids["community_a"]
    case_id = flow.open()
    flow.advance(case_id, "settlement", approved="30000.00")
    flow.doc(case_id, "settlement_statement", "invoices")
    body = _refused(flow, case_id, "so", "submit_settlement", {"settled_amount": "45000.00"}, "amount_at_most")
    assert "结算金额 ¥45,000.00 超过核准金额 ¥30,000.00" in body["message"] and "追加核准" in body["message"]
    assert body["detail"]["found"]["otherwise"] == "request_supplementary"
    # the way the definition declares: back to the fund center
    r = _post(flow, case_id, "so", "request_supplementary", {"settled_amount": "29000.00", "reason": "不超出"})
    assert r.status_code == 409 and r.json()["detail"]["guard"] == "amount_above"
    out = flow.fire("so", case_id, "request_supplementary", {"settled_amount": "45000.00", "reason": "增加水泵一台"})
    assert out["state"] == "supplementary_review" and out["money"]["frozen"] == "30000.00"
    # refused: back to settle within the approval, the freeze unchanged
    out = flow.fire("fc", case_id, "refuse_supplementary", {"reason": "水泵不在方案内"})
    assert out["state"] == "settlement" and _frozen(flow.svc, community) == Decimal("30000.00")
    flow.fire("so", case_id, "request_supplementary", {"settled_amount": "45000.00", "reason": "增加水泵一台"})
    body = _refused(
        flow,
        case_id,
        "fc",
        "approve_supplementary",
        {"approved_amount": "40000.00", "approval_opinion": "同意"},
        "amount_at_most",
    )
    out = flow.fire("fc", case_id, "approve_supplementary", {"approved_amount": "45000.00", "approval_opinion": "同意"})
    assert out["state"] == "public_notice"
    assert (out["money"]["approved"], out["money"]["settled"], out["money"]["frozen"]) == (
        "45000.00",
        "45000.00",
        "45000.00",
    )
    assert _frozen(flow.svc, community) == Decimal("45000.00")
    assert_books_balance(flow.svc)


def test_a_settlement_below_the_approval_releases_the_excess_freeze(flow):
    community = flow.world.ids["community_a"]
    case_id = flow.open()
    flow.advance(case_id, "public_notice", approved="40000.00", settled="25633.33")
    assert _frozen(flow.svc, community) == Decimal("25633.33")
    assert_books_balance(flow.svc)


def test_paying_more_than_the_settlement_or_the_retention_at_once_is_refused(flow):
    case_id = flow.open()
    flow.advance(case_id, "disbursement", approved="30000.00", settled="25633.33")
    body = _refused(flow, case_id, "fc", "disburse", {"paid_amount": "30000.00"}, "ledger")
    assert "¥23,070.00" in body["message"] and "¥2,563.33" in body["message"]  # 25,633.33 less 10%
    _refused(flow, case_id, "fc", "disburse", {"paid_amount": "25633.33"}, "ledger")  # retention paid at once
    _refused(flow, case_id, "fc", "disburse", {"paid_amount": "23070.01"}, "ledger")
    out = flow.fire("fc", case_id, "disburse", {"paid_amount": "23070.00"})
    assert out["state"] == "warranty" and out["money"]["retention_held"] == "2563.33"
    # the retention is held until the warranty is over; a repair may be paid out of it, with its reason
    r = _post(flow, case_id, "fc", "release_retention")
    assert r.status_code == 409 and r.json()["detail"]["guard"] == "period_elapsed"
    _refused(flow, case_id, "fc", "use_retention", {"repair_amount": "2563.34", "reason": "喷头漏水更换"}, "ledger")
    out = flow.fire("fc", case_id, "use_retention", {"repair_amount": "563.33", "reason": "喷头漏水更换"})
    assert (out["money"]["paid"], out["money"]["retention_held"]) == ("23633.33", "2000.00")
    with transaction(flow.svc.sessions) as s:
        reasons = {
            e.reason
            for e in s.exec(
                select(LedgerEntry).where(LedgerEntry.case_id == case_id, LedgerEntry.kind == "retention_release")
            )
        }
    assert reasons == {"喷头漏水更换"}
    flow.now += timedelta(days=366)
    out = flow.fire("fc", case_id, "release_retention")
    assert (out["money"]["paid"], out["money"]["frozen"], out["money"]["remaining"]) == ("25633.33", "0.00", "0.00")
    assert [p["label"] for p in out["money"]["payments"]] == [
        "拨付尾款",
        "质保期维修，动用质保金",
        "质保期满，支付质保金",
    ]
    assert_books_balance(flow.svc)


def test_an_advance_is_debited_when_it_is_paid(flow):
    community = flow.world.ids["community_a"]
    case_id = flow.open()
    flow.advance(case_id, "advance_payment", approved="120000.00")
    _refused(
        flow,
        case_id,
        "fc",
        "pay_advance",
        {"advance_amount": "60000.01", "payment_date": "2026-03-02"},
        "advance_within_share",
    )
    out = flow.fire("fc", case_id, "pay_advance", {"advance_amount": "60000.00", "payment_date": "2026-03-02"})
    assert (out["money"]["advanced"], out["money"]["paid"], out["money"]["frozen"]) == (
        "60000.00",
        "60000.00",
        "60000.00",
    )
    hh = _households(flow.svc, community)
    assert sum(h.balance for h in hh.values()) == Decimal("71000.00")  # paid money no longer counts
    assert sum(h.balance - h.frozen for h in hh.values()) == Decimal("11000.00")
    # a settlement below what was already paid is refused
    flow.advance(case_id, "settlement")
    flow.doc(case_id, "settlement_statement", "invoices")
    body = _refused(flow, case_id, "so", "submit_settlement", {"settled_amount": "59999.99"}, "ledger")
    assert "低于已拨付" in body["message"]
    assert_books_balance(flow.svc)


def test_a_withdrawal_after_approval_releases_the_freeze(flow):
    community = flow.world.ids["community_a"]
    case_id = flow.open()
    flow.advance(case_id, "advance_payment", approved="50000.00")
    assert _frozen(flow.svc, community) == Decimal("50000.00")
    out = flow.fire("so", case_id, "withdraw", {"reason": "业主自筹资金维修"})
    assert out["outcome"] == "withdrawn" and out["money"]["frozen"] == "0.00"
    assert _frozen(flow.svc, community) == 0
    assert_books_balance(flow.svc)


def test_the_apportionment_table_is_right_before_and_after_payout(flow):
    """After payout the table does not take the share off a second time: the balance after
    payout and the 30% flags are the same as before it."""
    case_id = flow.open()
    flow.advance(case_id, "disbursement", approved="60000.00", settled="55000.00")

    def get() -> dict:
        return flow.world.client.get(f"/api/v1/cases/{case_id}/apportionment", headers=flow.world.h("fc")).json()

    before = {r["household_id"]: r for r in get()["rows"]}
    flow.advance(case_id, "archived")
    after = {r["household_id"]: r for r in get()["rows"]}
    for hid, row in after.items():
        assert row["paid"] == row["share"] == before[hid]["share"]
        assert row["balance_after"] == before[hid]["balance_after"] == row["balance"]
        assert row["below_30_percent"] == before[hid]["below_30_percent"]
    assert sum(r["below_30_percent"] for r in after.values()) == sum(r["below_30_percent"] for r in before.values())


def test_a_household_taken_below_30_percent_gets_a_top_up_notice(flow):
    """2栋102 holds 6,000.00 of a 22,000.00 first deposit; the freeze of its share takes it
    further below the line (6,600.00): the street office gets the list and the amounts."""
    case_id = flow.open(buildings=["2栋"])
    flow.advance(case_id, "fund_review", approved="10000.00")
    flow.doc(case_id, "application_form")
    out = flow.fire("fc", case_id, "approve", {"approved_amount": "10000.00", "approval_opinion": "同意"})
    notices = out["top_up_notices"]
    assert len(notices) == 1
    rows = notices[0]["rows"]
    hh = _households(flow.svc, flow.world.ids["community_a"])
    low = {
        h.id
        for h in hh.values()
        if h.balance - h.frozen < h.first_deposit * Decimal("0.30")
        and h.building_id == flow.world.ids["building_a_2栋"]
    }
    assert {r["household_id"] for r in rows} == low and low
    for r in rows:
        h = hh[r["household_id"]]
        assert Decimal(r["top_up"]) == (h.first_deposit * Decimal("0.30")).quantize(CENT) - (h.balance - h.frozen)
    assert Decimal(notices[0]["total"]) == sum(Decimal(r["top_up"]) for r in rows)
    # the event carries it; paying converts the freeze and takes nobody lower: no new notice
    events = flow.world.client.get(f"/api/v1/cases/{case_id}/events", headers=flow.world.h("fc")).json()
    assert next(e for e in events if e["trigger"] == "approve")["data"]["ledger"]["top_up"]["households"] == len(rows)
    body = flow.advance(case_id, "warranty", approved="10000.00")
    assert len(body["top_up_notices"]) == 1
