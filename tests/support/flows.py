"""Driving cases with the use cases (time passed in): ``Flow`` walks a case through the
fire-hazard procedure; users, communities and event counts for the service tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import select

from fundflow.service.db import transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import Event, User
from fundflow.service.usecases import cases, communities, documents, meetings, users
from tests.support.world import NOW, World, meeting_scope, uploader

DEF = "fire_hazard_emergency"
CENT = Decimal("0.01")


# -- driving cases ---------------------------------------------------------------------------


def load_user(svc, user_id: int) -> User:
    with transaction(svc.sessions) as s:
        return s.get(User, user_id)


def add_user(world: World, name: str, role: str, org: str | None) -> tuple[User, str]:
    """A further user (and its API token) in the world."""
    user, token = users.add_user(
        world.svc, username=name, display_name=name, role=role, org=org, password=None, now=NOW
    )
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
    def open(
        self, community_id: int | None = None, buildings: list[str] | None = None, title: str = "消防管网锈蚀漏水"
    ) -> int:
        reply = cases.open_case(
            self.svc,
            self.u["so"],
            definition=DEF,
            community_id=community_id or self.world.ids["community_a"],
            title=title,
            data={"hazard": "消防管网"},
            buildings=buildings,
            now=self.now,
        )
        assert reply.status == 201
        return reply.body["id"]

    def doc(self, case_id: int, *doc_types: str) -> None:
        for t in doc_types:
            documents.attach_document(
                self.svc,
                self.u[uploader(self.svc.registry, t)],
                case_id,
                doc_type=t,
                filename=f"{t}.pdf",
                content_type="application/pdf",
                content=f"{t}-{uuid.uuid4()}".encode(),
                now=self.now,
            )

    def fire(self, who: str | User, case_id: int, trigger: str, data: dict | None = None, **kw: Any) -> dict:
        user = self.u[who] if isinstance(who, str) else who
        reply = cases.fire_transition(
            self.svc, user, case_id, trigger=trigger, data=data, comment=None, now=self.now, **kw
        )
        assert reply.status == 200
        return reply.body

    def state(self, case_id: int) -> str:
        return cases.get_case(self.svc, self.u["fc"], case_id, self.now)["state"]

    # one step out of each state, forward
    def step(self, case_id: int, approved: str, settled: str, paid: str | None) -> dict:
        state = self.state(case_id)
        if state == "reported":
            self.doc(case_id, "hazard_photos", "fire_notice")
            return self.fire(
                "fr",
                case_id,
                "confirm_major",
                {"notice_no": "株消隐字〔2026〕1号", "finding_route": "direct", "hazard_elements": "消防给水设施损坏"},
            )
        if state == "site_survey":
            self.doc(case_id, "site_record")
            return self.fire(
                "so", case_id, "complete_survey", {"survey_date": "2026-03-02", "survey_findings": "管网锈蚀"}
            )
        if state == "joint_meeting":
            for party in ("street_office", "fund_center", "fire_rescue", "residents_committee"):
                meetings.record_vote(
                    self.svc,
                    self.u["so"],
                    case_id,
                    party=party,
                    attended=True,
                    vote="agree",
                    opinion=None,
                    now=self.now,
                )
            self.doc(case_id, "meeting_minutes", "sign_in_sheet")
            return self.fire(
                "so",
                case_id,
                "meeting_approve",
                {"budget_estimate": "50000.00", "implementer": "property_company", **meeting_scope(self.svc, case_id)},
            )
        if state == "plan_budget":
            self.doc(case_id, "repair_plan", "budget")
            return self.fire(
                "so", case_id, "submit_plan", {"budget_amount": "50000.00", "rectification_deadline": "2026-06-30"}
            )
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
            if paid is None:  # all but the 10% retention
                case = cases.get_case(self.svc, self.u["fc"], case_id, self.now)["money"]
                s = Decimal(case["settled"])
                paid = str(s - (s / 10).quantize(CENT, rounding=ROUND_HALF_UP) - Decimal(case["paid"] or 0))
            return self.fire("fc", case_id, "disburse", {"paid_amount": paid})
        if state == "warranty":
            self.now += timedelta(days=366)  # the one-year warranty is over
            return self.fire("fc", case_id, "release_retention")
        if state == "archiving":
            return self.fire("so", case_id, "archive", {"archive_no": "2026-001"})
        raise AssertionError(f"no step out of {state}")

    def advance(
        self, case_id: int, to: str, *, approved: str = "50000.00", settled: str | None = None, paid: str | None = None
    ) -> dict:
        body: dict = {}
        for _ in range(20):
            if self.state(case_id) == to:
                return body
            body = self.step(case_id, approved, settled or approved, paid)
        raise AssertionError(f"case {case_id} did not reach {to}")


def event_count(svc, case_id: int) -> int:
    with transaction(svc.sessions) as s:
        return len(s.exec(select(Event.id).where(Event.case_id == case_id)).all())


def new_community(world: World, rows: list[HouseholdRow]) -> int:
    city = load_user(world.svc, world.ids["user_admin"])
    code = "H" + uuid.uuid4().hex[:10]
    c = communities.create_community(
        world.svc,
        city,
        name=f"小区{code}",
        street_office_id=world.ids["office_yt"],
        address="",
        buildings=[],
        code=code,
        now=NOW,
    )
    communities.import_households(world.svc, city, c["id"], rows, now=NOW)
    return c["id"]
