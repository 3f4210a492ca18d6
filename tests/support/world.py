"""The tests' small city: two districts, three street offices, three communities, a user per
role, built with the use cases at a fixed moment (``NOW``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import select

from fundflow.http.app import create_app
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import Building, Case, District, StreetOffice
from fundflow.service.usecases import communities, users

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


@dataclass
class World:
    """A small city: two districts, three street offices, three communities, a user per role."""

    svc: Services
    client: TestClient
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}


HOUSEHOLDS = [
    ("1栋", "1单元", "101", "89.50", "30000.00", "30000.00"),
    ("1栋", "1单元", "102", "120.25", "40000.00", "36000.00"),
    ("1栋", "2单元", "201", "65.00", "25000.00", "20000.00"),
    ("2栋", "1单元", "101", "98.10", "30000.00", "30000.00"),
    ("2栋", "1单元", "102", "76.40", "6000.00", "22000.00"),
]

#: name -> (role, org level code)
USERS = {
    "so": ("street_office", "HT-YT"),
    "so_other": ("street_office", "LS-JN"),
    "fc": ("fund_center", None),
    "fr": ("fire_rescue", "HT"),
    "fr_other": ("fire_rescue", "LS"),
    "rc": ("residents_committee", "C-A"),
    "oc": ("owners_committee", "C-A"),
    "pc": ("property_company", "C-A"),
    "pc_other": ("property_company", "C-B"),
    "hb": ("housing_bureau", None),
    "admin": ("admin", None),
}


def uploader(registry, doc_type: str, who: str | None = "so", definition: str = "fire_hazard_emergency") -> str:
    """The user (a USERS key) to upload ``doc_type``: ``who`` if the definition lets that role
    upload it, else the first user whose role may (the fire notice: the fire authority)."""
    d = registry.get(definition)
    if who is not None and d.may_upload(doc_type, USERS[who][0]):
        return who
    return next(k for k, (role, _) in USERS.items() if d.may_upload(doc_type, role))


def meeting_scope(svc, case_id: int) -> dict:
    """The meeting's paying-scope fields that keep the buildings the report named (none: the
    whole estate)."""
    with read_only(svc.sessions) as s:  # a read, as the API's (PostgreSQL: no ROLLBACK)
        ids = s.get(Case, case_id).scope_building_ids
        names = sorted(b.name for b in s.exec(select(Building).where(Building.id.in_(ids)))) if ids else []
    return {
        "paying_scope": {"buildings": names} if names else {"whole_estate": True},
        "scope_reason": "受益范围与上报楼栋一致",
    }


def build_world(svc: Services, now: datetime = NOW) -> World:
    ids: dict[str, int] = {}
    with transaction(svc.sessions) as s:
        ht = District(code="HT", name="荷塘区")
        ls = District(code="LS", name="芦淞区")
        s.add_all([ht, ls])
        s.flush()
        yt = StreetOffice(district_id=ht.id, code="HT-YT", name="月塘街道")
        cgt = StreetOffice(district_id=ht.id, code="HT-CGT", name="茨菇塘街道")
        jn = StreetOffice(district_id=ls.id, code="LS-JN", name="建宁街道")
        s.add_all([yt, cgt, jn])
        s.flush()
        ids.update(district_ht=ht.id, district_ls=ls.id, office_yt=yt.id, office_cgt=cgt.id, office_jn=jn.id)
    city = users.add_user(
        svc, username="bootstrap", display_name="引导", role="admin", org=None, password=None, now=now
    )[0]
    a = communities.create_community(
        svc,
        city,
        name="月塘新村",
        street_office_id=ids["office_yt"],
        address="荷塘区月塘路1号",
        buildings=["1栋", "2栋"],
        code="C-A",
        now=now,
    )
    b = communities.create_community(
        svc,
        city,
        name="茨菇塘小区",
        street_office_id=ids["office_cgt"],
        address="",
        buildings=["1栋"],
        code="C-B",
        now=now,
    )
    c = communities.create_community(
        svc,
        city,
        name="建宁小区",
        street_office_id=ids["office_jn"],
        address="",
        buildings=["1栋"],
        code="C-C",
        now=now,
    )
    ids.update(community_a=a["id"], community_b=b["id"], community_c=c["id"])
    ids.update({f"building_a_{x['name']}": x["id"] for x in a["buildings"]})
    rows = [
        HouseholdRow(bld, unit, room, None, Decimal(area), None, Decimal(bal), Decimal(first))
        for bld, unit, room, area, bal, first in HOUSEHOLDS
    ]
    communities.import_households(svc, city, a["id"], rows, now=now)
    for cid in (b["id"], c["id"]):
        communities.import_households(
            svc,
            city,
            cid,
            [
                HouseholdRow(
                    "1栋", "1单元", "101", None, Decimal("100"), None, Decimal("500000.00"), Decimal("500000.00")
                )
            ],
            now=now,
        )
    tokens = {}
    for name, (role, org) in USERS.items():
        user, tokens[name] = users.add_user(
            svc,
            username=name,
            display_name=name,
            role=role,
            org=org,
            password="password-123" if name == "so" else None,
            now=now,
        )
        ids[f"user_{name}"] = user.id
    app = create_app(services=svc)
    return World(svc, TestClient(app, raise_server_exceptions=False), ids, tokens)
