"""Places: communities with their buildings, and the households imported into them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, insert
from sqlmodel import Session, select

from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Conflict, Forbidden, InvalidInput, NotFound
from fundflow.service.household_import import HouseholdRow, ImportRejected, RowProblem
from fundflow.service.identifiers import clean_identifier
from fundflow.service.jurisdiction import can_see_community
from fundflow.service.reads.common import money
from fundflow.service.tables import Building, Community, District, Household, LedgerEntry, StreetOffice, User
from fundflow.service.usecases import ledger

__all__ = ["create_community", "get_community", "import_households", "MANAGING_LEVELS"]

#: Organisation levels whose users keep the register of communities and households.
MANAGING_LEVELS = ("city", "street_office")


def _office(s: Session, street_office_id: int) -> StreetOffice:
    office = s.get(StreetOffice, street_office_id)
    if office is None:
        raise InvalidInput("街道办事处不存在", code="unknown_street_office")
    return office


def _visible_community(s: Session, user: User, community_id: int) -> tuple[Community, StreetOffice]:
    community = s.get(Community, community_id)
    office = s.get(StreetOffice, community.street_office_id) if community else None
    if community is None or office is None or not can_see_community(user, community, office.district_id):
        raise NotFound("小区不存在或不在您的管辖范围内", code="community_not_found")
    return community, office


def _require_manager(user: User) -> None:
    if user.org_level not in MANAGING_LEVELS:
        raise Forbidden("只有街道办事处和市级管理部门可以登记小区和房屋", code="cannot_manage_register")


def community_view(s: Session, community: Community, office: StreetOffice) -> dict:
    district = s.get(District, office.district_id)
    buildings = s.exec(select(Building).where(Building.community_id == community.id).order_by(Building.id)).all()
    counts = dict(
        s.exec(
            select(Household.building_id, func.count())
            .where(Household.community_id == community.id)
            .group_by(Household.building_id)
        ).all()
    )
    total_area, total_balance = s.exec(
        select(func.coalesce(func.sum(Household.area), 0), func.coalesce(func.sum(Household.balance), 0)).where(
            Household.community_id == community.id
        )
    ).one()
    return {
        "id": community.id,
        "code": community.code,
        "name": community.name,
        "address": community.address,
        "street_office": {"id": office.id, "name": office.name},
        "district": {"id": district.id, "name": district.name} if district else None,
        "buildings": [{"id": b.id, "name": b.name, "households": counts.get(b.id, 0)} for b in buildings],
        "households": sum(counts.values()),
        # SUM keeps the column types: Decimal m² and Decimal yuan
        "total_area": str(Decimal(total_area).quantize(Decimal("0.0001"))),
        "total_balance": money(Decimal(total_balance)),
    }


def create_community(
    svc: Services,
    user: User,
    *,
    name: str,
    street_office_id: int | None,
    address: str,
    buildings: list[str],
    code: str | None,
    now: datetime,
) -> dict:
    _require_manager(user)
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InvalidInput("小区名称不能为空，且不超过 128 字", code="invalid_name")
    names = []
    for b in buildings:
        try:
            names.append(clean_identifier(b))
        except ValueError as e:
            raise InvalidInput(f"楼栋名称“{b}”{e}", code="invalid_identifier", detail={"building": b}) from None
    if any(not b or len(b) > 64 for b in names) or len(set(names)) != len(names):
        raise InvalidInput("楼栋名称不能为空、不超过 64 字且不能重复", code="invalid_buildings")
    with transaction(svc.sessions) as s:
        if user.org_level == "street_office":
            if street_office_id not in (None, user.org_id):
                raise NotFound("街道办事处不存在或不在您的管辖范围内", code="street_office_not_found")
            street_office_id = user.org_id
        if street_office_id is None:
            raise InvalidInput("请指定街道办事处（street_office_id）", code="street_office_required")
        office = _office(s, street_office_id)
        if code and s.exec(select(Community).where(Community.code == code)).first():
            raise Conflict(f"小区编码 {code} 已存在", code="duplicate_code")
        community = Community(
            street_office_id=office.id,
            code=code or f"T-{uuid.uuid4().hex[:28]}",
            name=name,
            address=(address or "").strip()[:256],
            created_at=now,
        )
        s.add(community)
        s.flush()
        if not code:
            community.code = f"C{community.id:05d}"
        for b in names:
            s.add(Building(community_id=community.id, name=b))
        s.flush()
        return community_view(s, community, office)


def get_community(svc: Services, user: User, community_id: int) -> dict:
    with read_only(svc.sessions) as s:
        community, office = _visible_community(s, user, community_id)
        return community_view(s, community, office)


def import_households(svc: Services, user: User, community_id: int, rows: list[HouseholdRow], *, now: datetime) -> dict:
    """All or nothing: every row is added, or none and the report says which rows are wrong.
    Each household's balance enters its ledger journal as an opening deposit at ``now``."""
    _require_manager(user)
    with transaction(svc.sessions) as s:
        community, office = _visible_community(s, user, community_id)
        buildings = {b.name: b for b in s.exec(select(Building).where(Building.community_id == community.id))}
        for row in rows:
            if row.building not in buildings:
                b = Building(community_id=community.id, name=row.building)
                s.add(b)
                buildings[row.building] = b
        s.flush()
        existing = {
            (h.building_id, h.unit, h.room)
            for h in s.exec(select(Household).where(Household.community_id == community.id))
        }
        problems = [
            RowProblem(0, "room", f"{row.building} {row.unit} {row.room} 已登记，不能重复导入")
            for row in rows
            if (buildings[row.building].id, row.unit, row.room) in existing
        ]
        if problems:
            raise ImportRejected(problems)
        # Core bulk inserts (one statement per table; an estate has thousands of households):
        # each household opens with its balance as the journal's first entry, a deposit.
        opening = [row.balance if row.balance > 0 else Decimal("0.00") for row in rows]
        ids = (
            s.execute(
                insert(Household).returning(Household.id, sort_by_parameter_order=True),
                [
                    {
                        "community_id": community.id,
                        "building_id": buildings[row.building].id,
                        "unit": row.unit,
                        "room": row.room,
                        "floor": row.floor,
                        "area": row.area,
                        "owner": row.owner,
                        "balance": balance,
                        "frozen": Decimal("0.00"),
                        "first_deposit": row.first_deposit,
                    }
                    for row, balance in zip(rows, opening)
                ],
            )
            .scalars()
            .all()
        )
        deposits = [
            ledger.deposit_row(household_id, balance, Decimal("0.00"), now, "导入房屋清单：期初余额")
            for household_id, balance in zip(ids, opening)
            if balance > 0
        ]
        if deposits:
            s.execute(insert(LedgerEntry), deposits)
        return {"imported": len(rows), "community": community_view(s, community, office)}
