"""Approval races over the household ledgers: of two approvals over overlapping buildings whose
balance covers only one, exactly one wins, on SQLite and PostgreSQL, 200 times each.

Each race has a building of its own (one household, 1,000.00) and two cases in fund review
scoped to it, each asking for 600.00. Both threads pass a barrier and approve; the households
in scope are locked in id order (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``), so
the second sees the first's freeze and is refused. The cases are written straight into fund
review (no walk through the earlier stages) to keep 200 races within seconds.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlmodel import select

from fundflow.domain.errors import FundflowError
from fundflow.service.db import transaction
from fundflow.service.errors import error_body, status_for
from fundflow.service.tables import Building, Case, Document, Household, Stage
from fundflow.service.usecases import cases, ledger
from tests.support.flows import load_user
from tests.support.world import NOW

RACES = 200
BATCH = 4
DEF = "fire_hazard_emergency"


def _cases_in_fund_review(world, n: int) -> list[tuple[int, int]]:
    """``n`` pairs of cases in fund review, each pair over a building of its own."""
    svc, ids = world.svc, world.ids
    pairs = []
    with transaction(svc.sessions) as s:
        fc = ids["user_fc"]
        for i in range(n):
            b = Building(community_id=ids["community_a"], name=f"赛{i}栋-{uuid.uuid4().hex[:6]}")
            s.add(b)
            s.flush()
            h = Household(
                community_id=ids["community_a"],
                building_id=b.id,
                unit="1单元",
                room="101",
                area=Decimal("90.00"),
                balance=Decimal("0.00"),
                first_deposit=Decimal("1000.00"),
            )
            s.add(h)
            s.flush()
            ledger.deposit(s, h, Decimal("1000.00"), NOW, "测试：期初余额")
            pair = []
            for _ in range(2):
                c = Case(
                    number=f"R{uuid.uuid4().hex[:20]}",
                    title="竞争核准",
                    definition_id=DEF,
                    definition_version=1,
                    state="fund_review",
                    community_id=ids["community_a"],
                    street_office_id=ids["office_yt"],
                    district_id=ids["district_ht"],
                    data={"reviewed_amount": "600.00"},
                    scope_building_ids=[b.id],
                    created_at=NOW,
                    updated_at=NOW,
                )
                s.add(c)
                s.flush()
                s.add(Stage(case_id=c.id, state="fund_review", entered_at=NOW))
                s.add(
                    Document(
                        case_id=c.id,
                        doc_type="application_form",
                        filename="a.pdf",
                        content_type="application/pdf",
                        size=1,
                        sha256="0" * 64,
                        uploaded_by=fc,
                        uploaded_at=NOW,
                    )
                )
                pair.append(c.id)
            pairs.append(tuple(pair))
    return pairs


def _approve(svc, user, case_id: int) -> tuple[int, str | None]:
    try:
        reply = cases.fire_transition(
            svc,
            user,
            case_id,
            trigger="approve",
            data={"approved_amount": "600.00", "approval_opinion": "同意"},
            comment=None,
            now=NOW,
        )
    except FundflowError as exc:
        return status_for(exc), error_body(exc)["code"]
    return reply.status, None


def test_two_approvals_over_the_same_money_have_exactly_one_winner_200_times(world):
    svc = world.svc
    pairs = _cases_in_fund_review(world, RACES)
    user = load_user(svc, world.ids["user_fc"])

    # BATCH races at a time (2 threads each, behind the race's own barrier); the races of a
    # batch touch different households, so only the two threads of one race contend
    outcomes = []
    with ThreadPoolExecutor(2 * BATCH) as pool:
        for k in range(0, len(pairs), BATCH):
            batch = pairs[k : k + BATCH]
            barriers = [threading.Barrier(2) for _ in batch]

            def one(j: int, side: int, barriers=barriers, batch=batch):
                barriers[j].wait(timeout=30)
                return _approve(svc, user, batch[j][side])

            futures = [[pool.submit(one, j, side) for side in (0, 1)] for j in range(len(batch))]
            outcomes += [[f.result() for f in pair] for pair in futures]
    for results in outcomes:
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], results
        assert [code for status, code in results if status == 409] == ["guard_refused"]
    with transaction(svc.sessions) as s:
        approved = {c.id for c in s.exec(select(Case).where(Case.state == "advance_payment"))}
        for a, b in pairs:
            assert len({a, b} & approved) == 1
        households = s.exec(select(Household).where(Household.first_deposit == Decimal("1000.00"))).all()
        assert len(households) == RACES
        assert all(h.frozen == Decimal("600.00") and h.balance == Decimal("1000.00") for h in households)
        counts, problems = ledger.verify_ledgers(s)
    assert problems == []
