"""The ledger through the service, on both databases: random interleavings of approve, advance,
settle (with a supplementary approval when above), pay, release and withdraw across three
cases on overlapping buildings, with ``fundflow ledger verify`` after every step.

Bounded (a few examples of up to a dozen steps) so that the suite stays fast; the pure rules get
hundreds of examples in tests/domain/test_ledger.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from fundflow.domain.errors import TransitionRefused
from fundflow.service.db import transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import Building, Case, Community, Document, Household, Stage, TopUpNotice
from fundflow.service.usecases import cases, ledger
from tests.support.flows import CENT, Flow, add_user, new_community
from tests.support.world import NOW

SCOPES = (["1栋", "2栋"], ["1栋"], ["2栋"])  # the estate, and two blocks of it
#: each step moves one case on (approve, advance, settle, pay, release, archive: whatever is next
#: for it), or withdraws it
OPS = ("next", "next", "next", "next", "withdraw")
NEXT = {
    "fund_review": "approve",
    "advance_payment": "advance",
    "rectification": "settle",
    "disbursement": "pay",
    "warranty": "release",
    "archiving": "archive",
}


def _docs(flow: Flow, case_id: int, *types: str) -> None:
    with transaction(flow.svc.sessions) as s:
        for t in types:
            s.add(
                Document(
                    case_id=case_id,
                    doc_type=t,
                    filename=f"{t}.pdf",
                    content_type="application/pdf",
                    size=1,
                    sha256="0" * 64,
                    uploaded_by=flow.u["so"].id,
                    uploaded_at=flow.now,
                )
            )


def _in_fund_review(flow: Flow, community_id: int, scope: list[str], reviewed: str) -> int:
    with transaction(flow.svc.sessions) as s:
        ids = [
            b.id
            for b in s.exec(select(Building).where(Building.community_id == community_id, Building.name.in_(scope)))
        ]
        c = Case(
            number=f"P{uuid.uuid4().hex[:20]}",
            title="属性测试",
            definition_id="fire_hazard_emergency",
            definition_version=1,
            state="fund_review",
            community_id=community_id,
            street_office_id=flow.world.ids["office_yt"],
            district_id=flow.world.ids["district_ht"],
            data={"reviewed_amount": reviewed},
            scope_building_ids=sorted(ids),
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(c)
        s.flush()
        s.add(Stage(case_id=c.id, state="fund_review", entered_at=NOW))
        case_id = c.id
    _docs(flow, case_id, "application_form")
    return case_id


def _try(flow: Flow, who, case_id: int, trigger: str, data: dict | None = None, later: int = 0) -> dict | None:
    try:
        reply = cases.fire_transition(
            flow.svc,
            flow.u[who] if isinstance(who, str) else who,
            case_id,
            trigger=trigger,
            data=data,
            comment=None,
            now=flow.now + timedelta(days=later),
        )
    except TransitionRefused:
        return None
    return reply.body


def _yuan(value: Fraction | Decimal) -> str:
    return str(Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value)


def _step(flow: Flow, case_id: int, op: str, frac: Fraction) -> None:
    body = cases.get_case(flow.svc, flow.u["fc"], case_id, flow.now)
    state, m = body["state"], body["money"]
    if op == "next":
        op = NEXT.get(state, "none")

    def amount(base: str) -> str:
        return str((Decimal(base) * Decimal(frac.numerator) / frac.denominator).quantize(CENT, ROUND_DOWN))

    if op == "approve" and state == "fund_review":
        _try(
            flow,
            "fc",
            case_id,
            "approve",
            {"approved_amount": amount(body["data"]["reviewed_amount"]), "approval_opinion": "同意"},
        )
    elif op == "advance" and state == "advance_payment":
        if frac < Fraction(1, 3):
            _try(flow, "fc", case_id, "skip_advance")
        else:
            _try(
                flow,
                "fc",
                case_id,
                "pay_advance",
                {"advance_amount": amount(Decimal(m["approved"]) / 2), "payment_date": "2026-03-02"},
            )
    elif op == "settle" and state == "rectification":
        _docs(
            flow,
            case_id,
            "construction_contract",
            "acceptance_report",
            "settlement_statement",
            "invoices",
            "notice_text",
            "notice_photos",
            "cost_table",
        )
        _try(flow, "so", case_id, "complete_works", {"completion_date": "2026-03-02"})
        for who in ("fr", "so", "fc", flow.u["oc_here"]):
            _try(flow, who, case_id, "sign_acceptance")
        _try(flow, "so", case_id, "pass_acceptance")
        settled = amount(Decimal(m["approved"]) * Decimal("1.2"))
        if Decimal(settled) > Decimal(m["approved"]):
            _try(flow, "so", case_id, "request_supplementary", {"settled_amount": settled, "reason": "增加工程量"})
            if (
                _try(
                    flow,
                    "fc",
                    case_id,
                    "approve_supplementary",
                    {"approved_amount": settled, "approval_opinion": "同意"},
                )
                is None
            ):
                _try(flow, "fc", case_id, "refuse_supplementary", {"reason": "余额不足"})
                _try(flow, "so", case_id, "submit_settlement", {"settled_amount": m["approved"]})
        else:
            _try(flow, "so", case_id, "submit_settlement", {"settled_amount": settled})
        _try(flow, "so", case_id, "close_notice", later=8)
    elif op == "pay" and state == "disbursement":
        s = Decimal(m["settled"])
        rest = s - (s / 10).quantize(CENT) - Decimal(m["paid"] or 0)
        _try(flow, "fc", case_id, "disburse", {"paid_amount": str(rest if frac > Fraction(1, 4) else rest + CENT)})
    elif op == "release" and state == "warranty":
        _try(flow, "fc", case_id, "release_retention", later=400)
    elif op == "archive" and state == "archiving":
        _try(flow, "so", case_id, "archive", {"archive_no": "P-1"}, later=401)
    elif op == "withdraw" and state in ("fund_review", "advance_payment"):
        _try(flow, "so", case_id, "withdraw", {"reason": "撤回测试"})


def _check(flow: Flow, community_id: int, case_ids: list[int]) -> None:
    with transaction(flow.svc.sessions) as s:
        _, problems = ledger.verify_ledgers(s)
        assert problems == []
        hh = s.exec(select(Household).where(Household.community_id == community_id)).all()
        # the one way below zero is the declared shortfall path (Ganzhou: the accounts in scope
        # together cover the approval); whoever it takes below zero is on a top-up notice
        negative = {h.id for h in hh if h.balance - h.frozen < 0}
        noticed = {
            r["household_id"]
            for n in s.exec(select(TopUpNotice).where(TopUpNotice.case_id.in_(case_ids)))
            for r in n.rows
            if Decimal(r["available"]) < 0
        }
        assert negative <= noticed
        for cid in case_ids:
            c = s.get(Case, cid)
            ceiling = c.settled_amount if c.settled_amount is not None else c.approved_amount
            assert (c.paid_amount or 0) <= (ceiling or 0)
            m = ledger.case_money(s, c)
            if c.closed:
                assert m.frozen == 0


balances = st.lists(st.integers(500_000, 10_000_000), min_size=4, max_size=4)
steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(OPS), st.fractions(Fraction(1, 10), 1, max_denominator=20)),
    min_size=8,
    max_size=16,
)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)  # no shrinking: each example is a dozen transactions
@given(balances=balances, steps=steps)
def test_the_books_balance_through_the_service_under_any_interleaving(flow, balances, steps):
    rows = [
        HouseholdRow(b, "1单元", f"{i + 1}01", None, Decimal(80 + 10 * i), None, Decimal(fen) / 100, Decimal(10_000))
        for i, (b, fen) in enumerate(zip(("1栋", "1栋", "2栋", "2栋"), balances))
    ]
    community_id = new_community(flow.world, rows)
    with transaction(flow.svc.sessions) as s:
        code = s.get(Community, community_id).code
    flow.u["oc_here"] = add_user(flow.world, f"oc-{code}", "owners_committee", code)[0]  # its owners' committee
    total = sum(balances) / 100
    case_ids = [_in_fund_review(flow, community_id, scope, str(Decimal(total).quantize(CENT))) for scope in SCOPES]
    for c, op, frac in steps:
        _step(flow, case_ids[c], op, frac)
        _check(flow, community_id, case_ids)
