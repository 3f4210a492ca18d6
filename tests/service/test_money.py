"""Money through the service: exact apportionment, exact columns, ledger debits, the balance guard.

Also home of ``Flow``, the small driver that walks a case through the fire-hazard procedure
with the use cases (time passed in), used by the other service test modules.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import select

from service.api.deps import get_now
from service.db import transaction
from service.household_import import HouseholdRow
from service.tables import Case, Event, Household, LedgerEntry, User
from service.usecases import cases, communities, documents, meetings, users
from tests.service.conftest import NOW, World, meeting_scope, uploader

DEF = "fire_hazard_emergency"
CENT = Decimal("0.01")


# -- driving cases ---------------------------------------------------------------------------


def load_user(svc, user_id: int) -> User:
    with transaction(svc.sessions) as s:
        return s.get(User, user_id)


def add_user(world: World, name: str, role: str, org: str | None) -> tuple[User, str]:
    """A further user (and its API token) in the world."""
    user, token = users.add_user(world.svc, username=name, display_name=name, role=role, org=org, password=None,
                                 now=NOW)
    world.ids[f"user_{name}"] = user.id
    world.tokens[name] = token
    return user, token


class Flow:
    """Walks cases forward with the use cases; ``now`` moves only when a step needs it."""

    def __init__(self, world: World, now: datetime = NOW):
        self.world = world
        self.svc = world.svc
        self.now = now
        self.u = {n: load_user(self.svc, world.ids[f"user_{n}"]) for n in ("so", "fc", "fr", "pc", "oc", "rc")}

    # the building blocks
    def open(self, community_id: int | None = None, buildings: list[str] | None = None, title: str = "消防管网锈蚀漏水") -> int:
        reply = cases.open_case(self.svc, self.u["so"], definition=DEF, community_id=community_id or self.world.ids["community_a"],
                                title=title, data={"hazard": "消防管网"}, buildings=buildings, now=self.now)
        assert reply.status == 201
        return reply.body["id"]

    def doc(self, case_id: int, *doc_types: str) -> None:
        for t in doc_types:
            documents.attach_document(self.svc, self.u[uploader(self.svc.registry, t)], case_id, doc_type=t, filename=f"{t}.pdf",
                                      content_type="application/pdf", content=f"{t}-{uuid.uuid4()}".encode(), now=self.now)

    def fire(self, who: str | User, case_id: int, trigger: str, data: dict | None = None, **kw: Any) -> dict:
        user = self.u[who] if isinstance(who, str) else who
        reply = cases.fire_transition(self.svc, user, case_id, trigger=trigger, data=data, comment=None, now=self.now, **kw)
        assert reply.status == 200
        return reply.body

    def state(self, case_id: int) -> str:
        return cases.get_case(self.svc, self.u["fc"], case_id, self.now)["state"]

    # one step out of each state, forward
    def step(self, case_id: int, approved: str, settled: str, paid: str) -> dict:
        state = self.state(case_id)
        if state == "reported":
            self.doc(case_id, "hazard_photos", "fire_notice")
            return self.fire("fr", case_id, "confirm_major", {"notice_no": "株消隐字〔2026〕1号", "finding_route": "direct",
                                                              "hazard_elements": "消防给水设施损坏"})
        if state == "site_survey":
            self.doc(case_id, "site_record")
            return self.fire("so", case_id, "complete_survey", {"survey_date": "2026-03-02", "survey_findings": "管网锈蚀"})
        if state == "joint_meeting":
            for party in ("street_office", "fund_center", "fire_rescue", "residents_committee"):
                meetings.record_vote(self.svc, self.u["so"], case_id, party=party, attended=True, vote="agree",
                                     opinion=None, now=self.now)
            self.doc(case_id, "meeting_minutes", "sign_in_sheet")
            return self.fire("so", case_id, "meeting_approve", {"budget_estimate": "50000.00", "implementer": "property_company",
                                                                **meeting_scope(self.svc, case_id)})
        if state == "plan_budget":
            self.doc(case_id, "repair_plan", "budget")
            return self.fire("so", case_id, "submit_plan", {"budget_amount": "50000.00", "rectification_deadline": "2026-06-30"})
        if state == "cost_review":
            self.doc(case_id, "cost_review_report")
            return self.fire("fc", case_id, "confirm_cost", {"reviewed_amount": approved})
        if state == "fund_review":
            self.doc(case_id, "application_form")
            return self.fire("fc", case_id, "approve", {"approved_amount": approved, "approval_opinion": "同意"})
        if state == "advance_payment":
            return self.fire("fc", case_id, "skip_advance")
        if state == "rectification":
            self.doc(case_id, "construction_contract")
            return self.fire("so", case_id, "complete_works", {"completion_date": "2026-03-02"})
        if state == "acceptance":
            for who in ("fr", "so", "fc", "oc"):
                self.fire(who, case_id, "sign_acceptance")
            self.doc(case_id, "acceptance_report")
            return self.fire("so", case_id, "pass_acceptance")
        if state == "settlement":
            self.doc(case_id, "settlement_statement", "invoices")
            return self.fire("so", case_id, "submit_settlement", {"settled_amount": settled})
        if state == "public_notice":
            self.doc(case_id, "notice_text", "notice_photos", "cost_table")
            self.fire("so", case_id, "post_notice")
            self.now += timedelta(days=8)  # the 7-day notice has run out
            return self.fire("so", case_id, "close_notice")
        if state == "disbursement":
            return self.fire("fc", case_id, "disburse", {"paid_amount": paid})
        if state == "archiving":
            return self.fire("so", case_id, "archive", {"archive_no": "2026-001"})
        raise AssertionError(f"no step out of {state}")

    def advance(self, case_id: int, to: str, *, approved: str = "50000.00", settled: str | None = None,
                paid: str | None = None) -> dict:
        body: dict = {}
        for _ in range(20):
            if self.state(case_id) == to:
                return body
            body = self.step(case_id, approved, settled or approved, paid or settled or approved)
        raise AssertionError(f"case {case_id} did not reach {to}")


def event_count(svc, case_id: int) -> int:
    with transaction(svc.sessions) as s:
        return len(s.exec(select(Event.id).where(Event.case_id == case_id)).all())


def new_community(world: World, rows: list[HouseholdRow]) -> int:
    city = load_user(world.svc, world.ids["user_admin"])
    code = "H" + uuid.uuid4().hex[:10]
    c = communities.create_community(world.svc, city, name=f"小区{code}", street_office_id=world.ids["office_yt"],
                                     address="", buildings=[], code=code, now=NOW)
    communities.import_households(world.svc, city, c["id"], rows)
    return c["id"]


@pytest.fixture
def flow(world) -> Flow:
    world.client.app.dependency_overrides[get_now] = lambda: NOW
    return Flow(world)


# -- apportionment, as the API shows it ------------------------------------------------------

areas = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9999.9999"), places=4)
balances = st.decimals(min_value=CENT, max_value=Decimal("99999999.99"), places=2)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(households=st.lists(st.tuples(areas, balances), min_size=1, max_size=8), share=st.fractions(0, 1))
def test_apportionment_shares_add_up_and_follow_area(flow, households, share):
    rows = [HouseholdRow("1栋", "1单元", f"{i + 1:02d}01", None, area, None, bal, bal) for i, (area, bal) in enumerate(households)]
    community_id = new_community(flow.world, rows)
    total_balance = sum(bal for _, bal in households)
    total = Decimal(int(Fraction(int(total_balance * 100)) * share)) / 100  # within the balance, to the fen
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
        raw = s.execute(text("SELECT balance, area FROM households WHERE community_id = :c ORDER BY room"),
                        {"c": community_id}).all()
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


def test_disbursement_debits_each_ledger_by_its_share_and_flags_low_balances(flow):
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
        assert abs(Fraction(expected[hid]) - Fraction(Decimal(settled)) * Fraction(h.area) / total_area) < Fraction(1, 100)

    body = flow.advance(case_id, "archiving", paid="30000.00")
    assert body["money"]["settled"] == settled and body["money"]["paid"] == "30000.00"

    after = _households(flow.svc, community)
    with transaction(flow.svc.sessions) as s:
        entries = s.exec(select(LedgerEntry).where(LedgerEntry.case_id == case_id)).all()
        ledger = s.exec(select(Event).where(Event.case_id == case_id, Event.trigger == "disburse")).one().data["ledger"]
    assert len(entries) == len(before) == 5
    assert sum(e.amount for e in entries) == Decimal(settled)
    for e in entries:
        assert e.amount == expected[e.household_id]
        assert after[e.household_id].balance == before[e.household_id].balance - e.amount == e.balance_after
    low = {hid for hid, h in after.items() if h.balance < h.first_deposit * Decimal("0.30")}
    assert low  # 2栋102 (6000.00 of a 22000.00 first deposit) is below the line
    assert set(ledger["low_balance_households"]) == low
    assert {r["household_id"] for r in table["rows"] if r["below_30_percent"]} == low
    assert ledger["debited"] == settled and ledger["households"] == 5
    # households outside the community are untouched
    assert [h.balance for h in _households(flow.svc, world.ids["community_b"]).values()] == [Decimal("500000.00")]


def test_disbursement_debits_only_the_buildings_in_scope(flow):
    world = flow.world
    case_id = flow.open(buildings=["2栋"])
    flow.advance(case_id, "archiving", approved="1000.00", settled="999.99", paid="999.99")
    with transaction(flow.svc.sessions) as s:
        entries = s.exec(select(LedgerEntry).where(LedgerEntry.case_id == case_id)).all()
        in_scope = {h.id for h in s.exec(select(Household).where(Household.building_id == world.ids["building_a_2栋"]))}
    assert {e.household_id for e in entries} == in_scope and len(in_scope) == 2
    assert sum(e.amount for e in entries) == Decimal("999.99")


# -- the balance guard ---------------------------------------------------------------------------


def _refused_approval(flow, case_id: int, amount: str) -> dict:
    r = flow.world.client.post(f"/api/v1/cases/{case_id}/transitions", headers=flow.world.h("fc"),
                               json={"trigger": "approve", "data": {"approved_amount": amount, "approval_opinion": "同意"}})
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
    ok = flow.fire("fc", case_id, "approve", {"approved_amount": "131000.00", "approval_opinion": "同意"})  # the whole balance
    assert ok["state"] == "advance_payment" and ok["money"]["approved"] == "131000.00"


def test_balance_guard_counts_only_the_buildings_in_scope(flow):
    case_id = flow.open(buildings=["1栋"])  # 1栋: 30,000 + 40,000 + 25,000
    flow.advance(case_id, "fund_review", approved="100000.00")
    flow.doc(case_id, "application_form")
    body = _refused_approval(flow, case_id, "100000.00")  # the estate holds 131,000.00, the block 95,000.00
    assert "¥95,000.00" in body["message"] and "差额 ¥5,000.00" in body["message"]
