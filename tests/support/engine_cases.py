"""What the engine tests share: the main definition, a good input per field type, a good case in
any state (every guard satisfied), the roles and the moment they run at."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fundflow.domain.definition import FieldType
from fundflow.domain.engine import CaseSnapshot
from fundflow.domain.guards import Vote, VoteChoice
from fundflow.domain.ledger import CaseMoney
from tests.support.moments import at

NOW = at(2026, 3, 16, 10)  # a Monday, no holiday near
DEF_ID, VERSION = "fire_hazard_emergency", 1
ALL_ROLES = (
    "street_office",
    "fund_center",
    "fire_rescue",
    "residents_committee",
    "owners_committee",
    "property_company",
    "housing_bureau",
    "admin",
)
SIX = ("street_office", "fund_center", "fire_rescue", "residents_committee", "owners_committee", "property_company")

AMOUNTS = {
    "advance_amount": "80000.00",
    "budget_amount": "200000.00",
    "paid_amount": "150000.00",
    "repair_amount": "1000.00",
}


def good_value(spec):
    if spec.type is FieldType.AMOUNT:
        return AMOUNTS.get(spec.name, "180000.00")
    if spec.type is FieldType.DATE:
        return (NOW.date() + timedelta(days=30)).isoformat()
    if spec.type is FieldType.CHOICE:
        return spec.choices[0]
    if spec.type is FieldType.INTEGER:
        return 3
    if spec.type is FieldType.SCOPE:
        return {"buildings": ["1栋"]}
    return "情况已核实，说明详见附件"


def good_values(tr) -> dict:
    return {f.name: good_value(f) for f in tr.fields}


def good_case(definition, state: str, **changes) -> CaseSnapshot:
    base = CaseSnapshot(
        DEF_ID,
        VERSION,
        state,
        data={
            "reviewed_amount": "200000.00",
            "approved_amount": "200000.00",
            "settled_amount": "190000.00",
            "rectification_deadline": (NOW.date() + timedelta(days=20)).isoformat(),
            "signatures": {"acceptance": list(SIX)},
            "counters": {"open_objections": 0},
        },
        documents=frozenset(definition.documents),
        votes={r: Vote(True, VoteChoice.AGREE) for r in SIX},
        balance=Decimal("1000000.00"),
        money=CaseMoney(
            Decimal("200000.00"), Decimal("190000.00"), Decimal("0.00"), Decimal("190000.00"), Decimal("19000.00")
        ),
        stage_entered_at=NOW - timedelta(days=10),
        acts={"post_notice": NOW - timedelta(days=9)},
    )
    return dataclasses.replace(base, **changes)


def _definition():
    from fundflow.domain.loader import load_file
    from tests.support.paths import ROOT

    return load_file(ROOT / "fundflow" / "definitions" / "fire_hazard_emergency.v1.yaml")


FIRE = _definition()
