"""Driving cases through the HTTP API: ``CaseDriver`` opens and advances a case as the right
users with good data (documents, votes, signatures, clock); the users and amounts it uses, and
``expected_actions`` (what a role may do in a state by the definition)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fundflow.domain.definition import FieldType, Transition
from fundflow.domain.loader import load_file
from fundflow.domain.tz import local_date
from fundflow.http.deps import get_now
from tests.support.paths import DEFINITIONS
from tests.support.world import NOW, USERS, meeting_scope, uploader

MAIN = load_file(DEFINITIONS / "fire_hazard_emergency.v1.yaml")
LIFT = load_file(DEFINITIONS / "lift_fault_emergency.v1.yaml")
API = "/api/v1"

#: the user of conftest.USERS who acts for each role on community A (月塘新村, 月塘街道, 荷塘区)
ROLE_USER = {role: name for name, (role, _org) in USERS.items() if not name.endswith("_other")}
#: users who can see a case of community A: its street office, the district's fire rescue,
#: the community's own parties, and the city-level users (fund center, bureau, admin)
SEES_A = ("so", "fc", "fr", "rc", "oc", "pc", "hb", "admin")
OTHERS = ("so_other", "fr_other", "pc_other")  # another street office, district, community
#: the six parties of the joint meeting (domain.md); the housing bureau is not one
PARTIES = ("street_office", "fund_center", "fire_rescue", "residents_committee", "owners_committee", "property_company")

#: the main road from report to archive: state -> (trigger, user) that leaves it
HAPPY = {
    "reported": ("confirm_major", "fr"),
    "site_survey": ("complete_survey", "so"),
    "joint_meeting": ("meeting_approve", "so"),
    "plan_budget": ("submit_plan", "pc"),
    "cost_review": ("confirm_cost", "fc"),
    "fund_review": ("approve", "fc"),
    "advance_payment": ("pay_advance", "fc"),
    "rectification": ("complete_works", "pc"),
    "acceptance": ("pass_acceptance", "so"),
    "settlement": ("request_supplementary", "pc"),
    "supplementary_review": ("approve_supplementary", "fc"),
    "public_notice": ("close_notice", "so"),
    "disbursement": ("disburse", "fc"),
    "warranty": ("release_retention", "fc"),
    "archiving": ("archive", "so"),
}
#: amounts that satisfy the guards on community A (balance 131,000.00 in scope): approved over
#: CNY 100,000 so that an advance is allowed, an advance of exactly half, a settlement within
#: the balance and a final payment of the rest but the 10% retention; on the road, a settlement
#: above the approval that the fund center approves (追加核准), a warranty repair out of the retention
AMOUNTS = {
    ("approve", "approved_amount"): "120000.00",
    ("pay_advance", "advance_amount"): "60000.00",
    ("submit_settlement", "settled_amount"): "118000.00",
    ("request_supplementary", "settled_amount"): "125000.00",
    ("approve_supplementary", "approved_amount"): "125000.00",
    ("disburse", "paid_amount"): "46000.00",
    ("disburse_in_full", "paid_amount"): "58000.00",  # the settlement less the advance: all of it
    ("use_retention", "repair_amount"): "1000.00",
}
DEFAULT_AMOUNT = "120000.00"  # budgets and reviews: under the CNY 300,000 safety-assessment line


class Clock:
    """The API's clock (``get_now``), moved forward by the tests."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class CaseDriver:
    """Opens and advances cases through the HTTP API, as the right users, with good data."""

    world: object
    definition: object = MAIN

    def __post_init__(self):
        self.client = self.world.client
        self.clock = Clock(NOW)
        self.client.app.dependency_overrides[get_now] = self.clock
        self.fired: dict[int, list[tuple[str, str]]] = {}  # case id -> (trigger, role) fired, in order

    # -- plain calls ---------------------------------------------------------------------
    def open(
        self,
        who: str = "so",
        community: str = "community_a",
        title: str = "水泵房消防水泵损坏",
        definition: str | None = None,
        **extra,
    ) -> dict:
        body = {
            "definition": definition or self.definition.id,
            "community_id": self.world.ids[community],
            "title": title,
            **extra,
        }
        r = self.client.post(f"{API}/cases", json=body, headers=self.world.h(who))
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, case_id: int, who: str = "so") -> dict:
        r = self.client.get(f"{API}/cases/{case_id}", headers=self.world.h(who))
        assert r.status_code == 200, r.text
        return r.json()

    def upload(self, case_id: int, doc_type: str, who: str | None = None, content: bytes | None = None):
        """As ``who``, or as a user whose role the definition lets upload ``doc_type``."""
        if who is None:
            who = uploader(self.world.svc.registry, doc_type, "so", self.definition.id)
        files = {"file": (f"{doc_type}.pdf", content or f"%PDF-1.4 {doc_type}".encode(), "application/pdf")}
        return self.client.post(
            f"{API}/cases/{case_id}/documents", data={"doc_type": doc_type}, files=files, headers=self.world.h(who)
        )

    def post_fire(self, case_id: int, who: str, trigger: str, data: dict | None = None, **extra):
        return self.client.post(
            f"{API}/cases/{case_id}/transitions",
            json={"trigger": trigger, "data": data or {}},
            headers=self.world.h(who, **extra),
        )

    def fire(self, case_id: int, who: str, trigger: str, data: dict | None = None) -> dict:
        r = self.post_fire(case_id, who, trigger, data)
        assert r.status_code == 200, (trigger, who, r.text)
        self.fired.setdefault(case_id, []).append((trigger, USERS[who][0]))
        return r.json()

    def vote(
        self,
        case_id: int,
        who: str,
        party: str,
        vote: str | None = "agree",
        attended: bool = True,
        opinion: str | None = None,
    ):
        return self.client.post(
            f"{API}/cases/{case_id}/votes",
            headers=self.world.h(who),
            json={"party": party, "attended": attended, "vote": vote, "opinion": opinion},
        )

    # -- good data -----------------------------------------------------------------------
    def data_for(self, t: Transition) -> dict:
        """Valid values for the required fields of ``t``, built from its field specs."""
        today = local_date(self.clock.now)
        out = {}
        for f in t.fields:
            if not f.required:
                continue
            if f.type is FieldType.AMOUNT:
                out[f.name] = AMOUNTS.get((t.trigger, f.name), DEFAULT_AMOUNT)
            elif f.type is FieldType.DATE:
                out[f.name] = (today + timedelta(days=30)).isoformat()
            elif f.type is FieldType.CHOICE:
                out[f.name] = f.choices[0]
            elif f.type is FieldType.INTEGER:
                out[f.name] = 1
            elif f.type is FieldType.SCOPE:
                out[f.name] = {"whole_estate": True}
            else:  # text and reason
                out[f.name] = f"{f.label}：经核实情况属实"
        return out

    def prepare(self, case_id: int, state: str, t: Transition) -> None:
        """Everything ``t`` needs before it may fire from ``state``: documents, votes,
        signatures, an elapsed notice period, objections answered (or one to answer)."""
        st = self.definition.states[state]
        docs = [] if (t.dest is None or t.documents_exempt) else list(st.documents)
        data = None
        for g in t.guards:
            if g.name == "documents_present":
                docs += [d for d in g.params["documents"] if d not in docs]
            elif g.name == "meeting_quorum":
                for party in PARTIES:
                    assert self.vote(case_id, "so", party).status_code == 200
            elif g.name == "signed_by":
                data = data or self.get(case_id)["data"]
                signed = set(data.get("signatures", {}).get(g.params["record"], ()))
                for role in g.params["parties"]:
                    if role not in signed:
                        self.fire(case_id, ROLE_USER[role], self._effect_trigger(state, "sign", g.params["record"]))
            elif g.name == "period_elapsed":
                act = g.params.get("from_act")
                if act is not None:  # the period runs from an act (the notice's posting): do it first
                    at = self.definition.transition(act, state)
                    self.prepare(case_id, state, at)
                    self.fire(case_id, ROLE_USER[sorted(at.roles)[0]], act, self.data_for(at))
                self.clock.advance(days=g.params["calendar_days"] + 1)
            elif g.name == "counter_zero":
                data = data or self.get(case_id)["data"]
                for _ in range(int(data.get("counters", {}).get(g.params["counter"], 0))):
                    self._count(case_id, state, g.params["counter"], -1)
        for doc in docs:
            r = self.upload(case_id, doc)
            assert r.status_code == 201, r.text
        effect = t.effect
        if effect is not None and effect.counter is not None and effect.delta < 0:
            if not int(self.get(case_id)["data"].get("counters", {}).get(effect.counter, 0)):
                self._count(case_id, state, effect.counter, +1)

    def _count(self, case_id: int, state: str, counter: str, sign: int) -> None:
        t = next(
            x
            for x in self.definition.transitions_from(state)
            if x.effect is not None and x.effect.counter == counter and x.effect.delta * sign > 0
        )
        self.fire(case_id, ROLE_USER[sorted(t.roles)[0]], t.trigger, self.data_for(t))

    def _effect_trigger(self, state: str, kind: str, name: str) -> str:
        return next(
            x.trigger
            for x in self.definition.transitions_from(state)
            if x.effect is not None and getattr(x.effect, kind) == name
        )

    def leave(self, case_id: int, state: str, trigger: str, who: str) -> dict:
        t = self.definition.transition(trigger, state)
        self.prepare(case_id, state, t)
        data = self.data_for(t)
        if any(f.type is FieldType.SCOPE for f in t.fields):  # the meeting keeps the report's buildings
            data.update(meeting_scope(self.world.svc, case_id))
        return self.fire(case_id, who, trigger, data)

    def advance_to(self, case_id: int, target: str, case: dict | None = None) -> dict:
        """Walk the case along ``HAPPY`` until it is in ``target``."""
        case = case or self.get(case_id)
        while case["state"] != target:
            trigger, who = HAPPY[case["state"]]
            self.clock.advance(hours=1)
            case = self.leave(case_id, case["state"], trigger, who)
        return case

    def case_in(self, state: str, **open_kw) -> dict:
        case = self.open(**open_kw)
        return self.advance_to(case["id"], state, case)


def expected_actions(definition, state: str, role: str) -> set[str]:
    """What ``role`` may do in ``state`` by the definition (suspension included)."""
    out = {t.trigger for t in definition.transitions if state in t.sources and role in t.roles}
    if (
        definition.suspension is not None
        and not definition.states[state].terminal
        and role in definition.suspension.roles
    ):
        out.add("suspend")
    return out
