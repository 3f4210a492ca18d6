"""The demo city: every stage populated, the guideline's 30/13, a sound audit chain, working
tokens, idempotent re-runs and a clean reset."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import select

from fundflow.service.audit import verify_all
from fundflow.service.config import Settings
from fundflow.service.context import build_services
from fundflow.service.db import transaction
from fundflow.service.migrate import upgrade
from fundflow.service.seed import DEMO_PASSWORD, seed_demo
from fundflow.service.tables import (
    ApiToken,
    Case,
    Community,
    District,
    Document,
    Event,
    Household,
    LedgerEntry,
    Stage,
    StreetOffice,
    User,
)
from fundflow.service.usecases import ledger, queries, users

NOW = datetime(2026, 11, 26, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
OPINIONS = 120  # fundflow demo seeds 14,200
FIRE = "fire_hazard_emergency"
COUNTED = (District, StreetOffice, Community, Household, User, Case, Event, Document, LedgerEntry)


def _counts(svc) -> dict[str, int]:
    with transaction(svc.sessions) as s:
        return {m.__tablename__: s.exec(select(func.count()).select_from(m)).one() for m in COUNTED + (ApiToken,)}


def _rows(counts: dict[str, int]) -> dict[str, int]:
    """Every count but the tokens (a re-run issues fresh ones)."""
    return {k: v for k, v in counts.items() if k != "api_tokens"}


def _user(svc, username: str) -> User:
    with transaction(svc.sessions) as s:
        return s.exec(select(User).where(User.username == username)).one()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("seed")
    svc = build_services(Settings(database_url=f"sqlite:///{tmp_path}/t.db", data_dir=tmp_path))
    upgrade(svc.db)
    result = seed_demo(svc, NOW, opinions=OPINIONS)
    yield svc, result
    svc.close()


def test_places_and_counts(seeded):
    svc, result = seeded
    counts = _counts(svc)
    assert counts["districts"] == 4
    assert 16 <= counts["street_offices"] <= 24
    assert counts["communities"] == 30 == result.communities
    assert not result.skipped
    assert result.cases == counts["cases"] >= 33
    assert result.archived == 13
    with transaction(svc.sessions) as s:
        # every community has a fire case; 2-8 buildings with 12-48 households each
        with_fire = set(s.exec(select(Case.community_id).where(Case.definition_id == FIRE)).all())
        assert len(with_fire) == 30
        per_building = s.exec(select(Household.building_id, func.count()).group_by(Household.building_id)).all()
        assert all(12 <= n <= 48 for _, n in per_building)
        h = s.exec(select(Household)).all()
        assert all(45 <= x.area <= 140 for x in h)
        assert any(x.owner and x.owner.endswith("某某") for x in h)


def test_every_stage_and_outcome(seeded):
    svc, _ = seeded
    d = svc.registry.get(FIRE)
    with transaction(svc.sessions) as s:
        rows = s.exec(
            select(Case.state, Case.outcome, Case.suspended_since, Case.closed).where(Case.definition_id == FIRE)
        ).all()
    states = {r[0] for r in rows}
    for st in d.states.values():
        if not st.terminal:
            assert st.id in states, f"no case in {st.id}"
    assert sum(1 for r in rows if r[0] == "archived") == 13
    outcomes = {r[1] for r in rows if r[3]}
    assert {"completed", "withdrawn", "rejected", "diverted"} <= outcomes
    assert any(r[2] is not None and not r[3] for r in rows), "no suspended case"
    with transaction(svc.sessions) as s:
        lifts = s.exec(select(func.count()).select_from(Case).where(Case.definition_id == "lift_fault_emergency")).one()
    assert lifts >= 2


def test_deadlines_and_stats(seeded):
    svc, _ = seeded
    hb = _user(svc, "housing_bureau")
    overdue = queries.list_cases(svc, hb, now=NOW, overdue=True, page_size=100)
    assert overdue["total"] >= 1
    listed = queries.list_cases(svc, hb, now=NOW, include_closed=False, page_size=100)
    assert any(item["stage"] and item["stage"]["warned"] for item in listed["items"]), "no warned case"
    stats = queries.city_stats(svc, hb, NOW)
    assert stats["city"]["started"] >= 30
    with transaction(svc.sessions) as s:  # the second loop's opinions count in the city too
        closed_opinions = s.exec(
            select(func.count())
            .select_from(Case)
            .where(Case.definition_id == "public_opinion", Case.outcome == "completed")
        ).one()
    assert stats["city"]["finished"] == 13 + closed_opinions
    assert stats["city"]["overdue"] >= 1
    placed = [d for d in stats["districts"] if d["district_id"]]
    assert len(placed) == 4
    # the opinions belong to no district: one row of their own, named
    assert [d["district"] for d in stats["districts"] if not d["district_id"]] == ["无属地（市直部门等）"]


def test_jurisdiction(seeded):
    svc, _ = seeded
    mine = queries.list_cases(svc, _user(svc, "so_yuetang"), now=NOW, page_size=100)
    other = queries.list_cases(svc, _user(svc, "so_jianning"), now=NOW, page_size=100)
    assert mine["total"] >= 3 and other["total"] >= 2
    assert not {c["id"] for c in mine["items"]} & {c["id"] for c in other["items"]}
    oc = queries.list_cases(svc, _user(svc, "oc_guiyuan"), now=NOW, page_size=100)
    assert oc["total"] >= 3 and len({c["community"]["id"] for c in oc["items"]}) == 1


def test_history_is_consistent(seeded):
    svc, _ = seeded
    with transaction(svc.sessions) as s:
        checked, breaks = verify_all(s)
        assert checked == s.exec(select(func.count()).select_from(Case)).one()
        assert breaks == []
        events = s.exec(select(Event).order_by(Event.case_id, Event.seq)).all()
        households = s.exec(select(Household)).all()
        cases = s.exec(select(Case)).all()
    assert all(e.at <= NOW for e in events)
    by_case: dict[int, list[Event]] = {}
    for e in events:
        by_case.setdefault(e.case_id, []).append(e)
    for evs in by_case.values():
        assert all(a.at < b.at for a, b in zip(evs, evs[1:]))
    assert all(h.balance >= 0 for h in households)
    archived = [c for c in cases if c.state == "archived"]
    assert all(c.settled_amount and c.paid_amount and c.approved_amount for c in archived)
    assert all(c.settled_amount <= c.approved_amount for c in archived)
    assert any(c.advanced_amount for c in archived)


def test_tokens_and_passwords(seeded):
    svc, result = seeded
    roles = {r[0] for r in result.users}
    assert roles == {
        "street_office",
        "fund_center",
        "fire_rescue",
        "residents_committee",
        "owners_committee",
        "property_company",
        "housing_bureau",
        "admin",
    }
    assert sum(1 for r in result.users if r[0] == "street_office") == 2
    for role, username, _display, _org, token in result.users:
        user = users.authenticate(svc, token, NOW)
        assert (user.username, user.role) == (username, role)
    assert users.login(svc, "so_yuetang", DEMO_PASSWORD, NOW)[0].username == "so_yuetang"
    assert users.login(svc, "so_cigutang", DEMO_PASSWORD, NOW)[0].role == "street_office"
    text = result.summary()
    assert "http://127.0.0.1:8000/docs" in text and "http://127.0.0.1:8000/login" in text
    assert "http://10.0.0.5:8765/docs" in result.summary("http://10.0.0.5:8765")
    assert all(r[1] in text and r[4] in text for r in result.users)


def test_rerun_is_skipped_then_reset_reseeds(seeded):
    svc, first = seeded
    before = _counts(svc)
    again = seed_demo(svc, NOW, opinions=OPINIONS)
    assert again.skipped
    after = _counts(svc)
    assert _rows(after) == _rows(before)
    assert after["api_tokens"] == before["api_tokens"] + len(again.users)
    assert [r[:2] for r in again.users] == [r[:2] for r in first.users]
    assert {r[4] for r in again.users}.isdisjoint({r[4] for r in first.users})
    for r in again.users:
        assert users.authenticate(svc, r[4], NOW).username == r[1]
    assert (again.cases, again.archived, again.communities) == (first.cases, first.archived, first.communities)
    assert "已存在" in again.summary()

    reset = seed_demo(svc, NOW, reset=True, opinions=OPINIONS)
    assert not reset.skipped
    assert (reset.cases, reset.archived, reset.communities) == (first.cases, first.archived, first.communities)
    counts = _counts(svc)
    assert _rows(counts) == _rows(before)
    for r in reset.users:
        assert users.authenticate(svc, r[4], NOW).username == r[1]
    with transaction(svc.sessions) as s:
        assert verify_all(s)[1] == []
    stored = [p for p in svc.settings.documents_dir.rglob("*") if p.is_file()]
    assert len(stored) == counts["documents"]


def test_the_demo_city_passes_ledger_verify(seeded):
    """Every household's balance and frozen amount is its journal's sum, every case's paid
    total its payments, every event's ledger record its entries: ``fundflow ledger verify``."""
    svc, _ = seeded
    with transaction(svc.sessions) as s:
        counts, problems = ledger.verify_ledgers(s)
        frozen = s.exec(select(func.sum(Household.frozen))).one()
        warranty = s.exec(select(Case).where(Case.state == "warranty")).all()
    assert problems == []
    assert counts["entries"] > counts["households"] and counts["events"] > 13
    assert frozen > 0  # approved open cases hold money
    assert warranty and all(c.paid_amount < c.settled_amount for c in warranty)  # the retention is held


def test_the_attached_documents_are_plain_text_stand_ins(seeded):
    """No hand-written PDF: each demo document is a short UTF-8 text naming what it stands for,
    the case and who attached it; its stored file is the one its row names."""
    svc, _ = seeded
    with transaction(svc.sessions) as s:
        docs = s.exec(select(Document, Case).join(Case, Case.id == Document.case_id).limit(50)).all()
        labels = {d.id: svc.registry.get(c.definition_id, c.definition_version).documents[d.doc_type] for d, c in docs}
    assert docs
    for doc, case in docs:
        assert doc.content_type == "text/plain; charset=utf-8" and doc.filename.endswith(".txt")
        text = (svc.settings.documents_dir / str(case.id) / doc.sha256).read_bytes().decode("utf-8")
        assert text.startswith("fundflow 演示材料（虚构，非真实文件）")
        assert f"材料：{labels[doc.id]}" in text and f"案件：{case.number}" in text


def test_each_party_of_the_demo_has_its_tasks(seeded):
    """The owners' committee sees the acceptance waiting for its signature; the housing bureau an
    open 督办's issue or review; the party of the open 督办 the reply; the audit chain stays whole."""
    from fundflow.service.reads import Reader
    from fundflow.service.reads.tasks import list_tasks
    from fundflow.service.tables import Supervision, User

    svc, _ = seeded
    with Reader(svc) as r:
        users = {u.username: u for u in r.s.exec(select(User))}
        oc = list_tasks(r.s, svc, users["oc_guiyuan"], NOW)["items"]
        assert any(t["kind"] == "signature" and t["what"] == "签署验收意见" for t in oc)
        bureau = list_tasks(r.s, svc, users["housing_bureau"], NOW)["items"]
        assert bureau and all(t["kind"].startswith("supervision") for t in bureau)
        statuses = sorted(x.status for x in r.s.exec(select(Supervision)))
        assert statuses == ["closed", "issued"]
        open_one = r.s.exec(select(Supervision).where(Supervision.status == "issued")).one()
        party = [u for u in users.values() if u.role == open_one.to_role]
        assert any(
            t["kind"] == "supervision_reply" and t["case_id"] == open_one.case_id
            for u in party
            for t in list_tasks(r.s, svc, u, NOW)["items"]
        )


def test_a_year_of_opinions_through_the_use_cases(seeded):
    """The second loop's demo: the opinions asked for, over the year before now and several
    departments, each with the events of its real transitions; most closed, three kinds of end,
    duplicates aside about 96% resolved; the chain verifies."""
    svc, result = seeded
    assert result.opinions == OPINIONS
    with transaction(svc.sessions) as s:
        rows = s.exec(select(Case).where(Case.definition_id == "public_opinion")).all()
        assert len(rows) == OPINIONS
        created = [r.created_at for r in rows]  # recorded a minute after the report (offline)
        months = {
            (c.astimezone(ZoneInfo("Asia/Shanghai")).year, c.astimezone(ZoneInfo("Asia/Shanghai")).month)
            for c in created
        }
        assert len(months) >= 10 and max(created) <= NOW
        assert all(r.community_id is None and r.subject.get("phone") for r in rows)
        holders = {r.organisation_id for r in rows if r.organisation_id is not None}
        assert len(holders) >= 6
        ends = {}
        for r in rows:
            ends[r.state] = ends.get(r.state, 0) + 1
        assert {"resolved", "explained", "duplicate"} <= set(ends)
        closed = ends["resolved"] + ends["explained"]
        assert 0.9 <= ends["resolved"] / closed <= 0.99
        events = s.exec(select(func.count()).select_from(Event).where(Event.case_id.in_([r.id for r in rows]))).one()
        assert events >= 5 * OPINIONS
        assert verify_all(s)[1] == []


def test_the_opinions_rates_are_the_seeded_cases_counted_by_the_definitions_rules(seeded):
    """GET /stats' rates for the second loop, against a count made here from the rows alone:
    resolved among resolved + explained, the department's stage left by its due moment, the last
    satisfaction answer."""
    from datetime import timedelta

    from fundflow.domain.periods import parse_period
    from fundflow.service.reads.rates import percent, procedure_rates

    svc, _ = seeded
    d = svc.registry.get("public_opinion")
    period = parse_period(NOW.date(), start=(NOW - timedelta(days=400)).date().isoformat(), end=NOW.date().isoformat())
    fund_center = _user(svc, "fund_center")
    with transaction(svc.sessions) as s:
        got = procedure_rates(s, svc, fund_center, d, period, NOW)
        rows = s.exec(select(Case).where(Case.definition_id == "public_opinion")).all()
        late = {
            cid
            for cid, left, due in s.exec(
                select(Stage.case_id, Stage.left_at, Stage.due_at).where(Stage.state == "handling")
            ).all()
            if left is not None and due is not None and left > due
        }
    ended = [r for r in rows if r.state in ("resolved", "explained")]
    answered = [r for r in rows if r.data.get("satisfaction")]
    want = {
        "resolved": (sum(r.state == "resolved" for r in ended), len(ended)),
        "on_time": (sum(r.id not in late for r in ended), len(ended)),
        "satisfaction": (
            sum(r.data["satisfaction"] in ("satisfied", "basically_satisfied") for r in answered),
            len(answered),
        ),
    }
    city = got["city"]
    assert city["collected"] == len(rows) and city["closed"] == sum(r.closed for r in rows)
    for kind, (count, of) in want.items():
        assert city[kind] == {"count": count, "of": of, "rate": percent(count, of)}, kind
    assert 0 < want["on_time"][0] < want["on_time"][1]  # the seed has late answers, and in-time ones
    assert len(got["organisations"]) >= 6  # per department holding them
    assert sum(o["collected"] for o in got["organisations"]) == len([r for r in rows if r.organisation_id])
