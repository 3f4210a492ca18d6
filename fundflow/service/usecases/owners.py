"""Owners (业主) on their phones: a case's query code (printed on its public notice) and their
room open a short pass that shows the notice, their own share and their own ledger, and lets
them lodge an objection while the notice runs. No account, no other household's data.

* The code is ``<case id>-<6 letters>``: the letters are an HMAC of the case id under the
  secret key, so a code cannot be made up for another case, and nothing is stored.
* A wrong code or room counts against the code's case and the caller's address in the login
  throttle (``service.login_throttle``, keys ``owner:…`` and ``addr:…``): after 5 failures
  each further try waits longer (429 with Retry-After).
* The pass is ``household.case.expiry.mac`` (HMAC under the secret key), valid 30 minutes,
  kept in an HttpOnly cookie by the owner pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from fundflow.domain.errors import ApportionmentError
from fundflow.domain.ledger import KIND_LABELS
from fundflow.service import login_throttle as throttle
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import HandoffRefused, InvalidInput, NotAuthenticated, TooManyRequests
from fundflow.service.integrity.facts import OBJECTIONS
from fundflow.service.reads.common import area_text, iso, money
from fundflow.service.tables import Building, Case, Community, Household, LedgerEntry, Objection, StreetOffice, User

__all__ = [
    "owner_code",
    "sign_in",
    "read_pass",
    "owner_view",
    "lodge_objection",
    "my_objections",
    "objections_open",
    "OwnerPass",
    "PASS_MINUTES",
]

log = logging.getLogger("fundflow.owners")
PASS_MINUTES = 30
_CODE_LETTERS = 6


def _mac(secret: str, purpose: str, value: str) -> bytes:
    return hmac.new(secret.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).digest()


def owner_code(secret: str, case_id: int) -> str:
    """The query code printed on the case's public notice, e.g. ``27-K3F9QX``."""
    letters = base64.b32encode(_mac(secret, "owner-code", str(case_id))).decode()[:_CODE_LETTERS]
    return f"{case_id}-{letters}"


def _case_of(secret: str, code: str) -> int | None:
    text = unicodedata.normalize("NFKC", code or "").strip().upper().replace(" ", "").replace("—", "-")
    number, _, letters = text.partition("-")
    if not number.isdigit() or len(number) > 10 or len(letters) != _CODE_LETTERS:
        return None
    case_id = int(number)
    return case_id if hmac.compare_digest(owner_code(secret, case_id), f"{case_id}-{letters}") else None


@dataclass(frozen=True)
class OwnerPass:
    household_id: int
    case_id: int
    token: str
    expires_at: datetime


def _pass(secret: str, household_id: int, case_id: int, expires_at: datetime) -> str:
    body = f"{household_id}.{case_id}.{int(expires_at.timestamp())}"
    return f"{body}.{base64.urlsafe_b64encode(_mac(secret, 'owner-pass', body)).decode().rstrip('=')}"


def read_pass(svc: Services, token: str | None, now: datetime) -> OwnerPass:
    """The owner's pass from its cookie; NotAuthenticated when missing, forged or expired."""
    parts = (token or "").split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts[:3]):
        household_id, case_id, expiry = (int(p) for p in parts[:3])
        expires_at = datetime.fromtimestamp(expiry, tz=now.tzinfo)
        if (
            hmac.compare_digest(_pass(svc.settings.secret_key, household_id, case_id, expires_at), token)
            and now < expires_at
        ):
            return OwnerPass(household_id, case_id, token, expires_at)
    raise NotAuthenticated("查询已过期，请重新输入查询码和房号", code="owner_pass_invalid")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().upper().removesuffix("号")


def sign_in(
    svc: Services, code: str, building: str, unit: str, room: str, now: datetime, address: str | None = None
) -> OwnerPass:
    """A pass for the household of the case's paying scope at (building, unit, room)."""
    prefix = _norm(code).partition("-")[0][:12] or "?"
    keys = [f"owner:{prefix}"] + ([f"addr:{address}"[:128]] if address else [])
    case_id = _case_of(svc.settings.secret_key, code)
    with read_only(svc.sessions) as s:
        wait = throttle.retry_after(s, keys, now)
        household = _household(s, case_id, building, unit, room) if case_id is not None and not wait else None
    if wait:
        raise TooManyRequests(f"尝试次数过多，请 {wait} 秒后再试", code="owner_throttled", detail={"retry_after": wait})
    if household is None:
        with transaction(svc.sessions) as s:
            failures = throttle.record_failure(s, keys, now, svc.settings)
        log.warning("owner sign-in failed", extra={"event": "owner_sign_in_failed", "failures": failures})
        raise NotAuthenticated(
            "查询码或房号不正确（请核对公示上的查询码和您的楼栋、单元、房号）", code="owner_not_found"
        )
    expires_at = now + timedelta(minutes=PASS_MINUTES)
    return OwnerPass(
        household.id, case_id, _pass(svc.settings.secret_key, household.id, case_id, expires_at), expires_at
    )


def _household(s, case_id: int, building: str, unit: str, room: str) -> Household | None:
    from fundflow.service.usecases.cases import scope_households

    case = s.get(Case, case_id)
    if case is None:
        return None
    names = {b.id: _norm(b.name) for b in s.exec(select(Building).where(Building.community_id == case.community_id))}
    want = (_norm(building), _norm(unit), _norm(room))
    for h in scope_households(s, case):
        if (names.get(h.building_id, ""), _norm(h.unit), _norm(h.room)) == want:
            return h
    return None


def owner_view(svc: Services, owner: OwnerPass, now: datetime) -> dict[str, Any]:
    """What the owner sees: the case and its notice, their share, their ledger entries."""
    from fundflow.service.reads.case import apportionment

    with read_only(svc.sessions) as s:
        case = s.get(Case, owner.case_id)
        h = s.get(Household, owner.household_id)
        if case is None or h is None or h.community_id != case.community_id:
            raise NotAuthenticated("查询已过期，请重新输入查询码和房号", code="owner_pass_invalid")
        d = svc.registry.get(case.definition_id, case.definition_version)
        community = s.get(Community, case.community_id) if case.community_id is not None else None
        office = s.get(StreetOffice, case.street_office_id) if case.street_office_id is not None else None
        try:
            table = apportionment(s, svc, case)
            mine = next((r for r in table["rows"] if r["household_id"] == h.id), None)
            share = {"total": table["total"], "basis": table["basis"], "households": table["households"]}
        except (InvalidInput, ApportionmentError):  # no amount or no household yet: nothing to share
            mine, share = None, None
        entries = s.exec(select(LedgerEntry).where(LedgerEntry.household_id == h.id).order_by(LedgerEntry.id)).all()

        return {
            "case": {
                "number": case.number,
                "title": case.title,
                "procedure": d.title,
                "state_label": d.states[case.state].label if case.state in d.states else "",
                "closed": case.closed,
                "posted_at": iso(_moment(_posted(d, case))),
            },
            "community": community.name if community else "",
            "street_office": office.name if office else "",
            "household": {
                "label": _room(s, h),
                "area": area_text(h.area),
                "balance": money(h.balance),
                "frozen": money(h.frozen),
                "available": money(h.balance - h.frozen),
            },
            "share": None
            if mine is None
            else {**share, "mine": mine["share"], "paid": mine["paid"], "balance_after": mine["balance_after"]},
            "entries": [
                {
                    "at": iso(e.at),
                    "kind_label": KIND_LABELS.get(e.kind, e.kind),
                    "amount": money(e.amount),
                    "balance_after": money(e.balance_after),
                    "this_case": e.case_id == case.id,
                }
                for e in entries
            ],
            "expires_at": iso(owner.expires_at),
        }


def _room(s, h: Household | None) -> str:
    """The room as the owner names it and the objection records it: 1栋1单元101."""
    if h is None:
        return ""
    building = s.get(Building, h.building_id)
    return f"{building.name if building else ''}{h.unit}{h.room}"


def _posted(d, case: Case) -> str | None:
    """When the notice was posted: the act the definition's notice period runs from."""
    _days, act = d.notice_period()
    return (case.act_times or {}).get(act) if act else None


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# -- an owner's own objection ---------------------------------------------------------------

#: the account an owner's own objection is recorded under: no password, no token, inactive (it
#: cannot sign in); the event names the room, the record the owner's name as given
PORTAL_USERNAME = "owners_portal"


def _portal_user(s, now: datetime) -> User:
    user = s.exec(select(User).where(User.username == PORTAL_USERNAME)).first()
    if user is None:
        user = User(
            username=PORTAL_USERNAME,
            display_name="业主自助",
            role="owner",
            org_level="community",
            org_id=None,
            org_name="业主",
            password_hash=None,
            active=False,
            created_at=now,
        )
        s.add(user)
        s.flush()
    return user


@dataclass(frozen=True)
class _OwnerActor:
    """Who the event names: the portal's account, as the owner of the room."""

    id: int
    display_name: str
    role: str
    org_name: str


def objections_open(svc: Services, owner: OwnerPass) -> bool:
    """Whether the case takes objections now (the definition's ``records.objections``)."""
    with read_only(svc.sessions) as s:
        case = s.get(Case, owner.case_id)
        rule = svc.registry.get(case.definition_id, case.definition_version).objections if case else None
        return bool(rule and case.state in rule.states and case.suspended_since is None)


def lodge_objection(svc: Services, owner: OwnerPass, *, name: str, text: str, now: datetime) -> dict[str, Any]:
    """The owner's objection, as a record of the case (``objections``) that the street office
    answers from its tasklist; while it is open the notice cannot close."""
    from fundflow.service.usecases.cases import append_event
    from fundflow.service.usecases.handoffs import clean_reason
    from fundflow.service.usecases.objections import OPEN, objection_view

    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name or len(name) > 64:
        raise InvalidInput("请填写业主姓名（不超过 64 字）", code="field_missing", detail={"field": "name"})
    text = clean_reason(text, "异议内容", "text")
    with transaction(svc.sessions) as s:
        case = s.exec(select(Case).where(Case.id == owner.case_id).with_for_update()).one()
        d = svc.registry.get(case.definition_id, case.definition_version)
        rule = d.objections
        if rule is None or case.state not in rule.states or case.suspended_since is not None:
            raise HandoffRefused("本案当前不在公示期，不能在线提出异议", code="objections_not_in_state")
        room = _room(s, s.get(Household, owner.household_id))
        portal = _portal_user(s, now)
        row = Objection(
            case_id=case.id, owner_name=name, room=room, text=text, status=OPEN, raised_by=portal.id, raised_at=now
        )
        s.add(row)
        s.flush()
        actor = _OwnerActor(portal.id, f"业主（{room}）", "owner", "业主自助")
        append_event(
            s,
            case,
            actor,
            "record_objection",
            f"业主在线提出异议：{room}",
            case.state,
            case.state,
            {"objection_id": row.id, "owner_name": name, "room": room, "text": text, "by_owner": True},
            None,
            now,
            [OBJECTIONS.put(row)],
        )
        case.updated_at = now
        s.add(case)
        s.flush()
        return objection_view(row)


def my_objections(svc: Services, owner: OwnerPass) -> list[dict[str, Any]]:
    """The objections lodged for the owner's room on this case, with their answers."""
    from fundflow.service.usecases.objections import objection_view

    with read_only(svc.sessions) as s:
        room = _room(s, s.get(Household, owner.household_id))
        rows = s.exec(
            select(Objection).where(Objection.case_id == owner.case_id, Objection.room == room).order_by(Objection.id)
        ).all()
        return [objection_view(r) for r in rows]
