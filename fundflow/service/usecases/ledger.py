"""The household ledger journal in the database: posting a case's money, reading a household's
statement, and verifying that every projection agrees with the journal.

The rules are ``fundflow.domain.ledger`` (pure, in fen); this module loads the accounts a case sees
(the households in its scope, what it has frozen, held and paid in each), asks the rules for
the moves, writes one ``LedgerEntry`` per move with the household's balance and frozen amount
after it, updates the projections (``Household.balance``/``frozen``, ``Case.paid_amount``),
and returns the compact record the causing event carries (``fundflow.domain.ledger_digest``).
The caller holds the household rows locked (``cases.scope_households(..., lock=True)``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from fundflow.domain import ledger as rules
from fundflow.domain.engine import LedgerOp
from fundflow.domain.ledger import Account, CaseMoney, Move
from fundflow.domain.ledger_digest import digest
from fundflow.domain.money import from_fen, to_fen
from fundflow.service.context import Services
from fundflow.service.db import flushed, read_only
from fundflow.service.errors import NotFound
from fundflow.service.jurisdiction import can_see_community
from fundflow.service.prepared import Prepared
from fundflow.service.reads.common import iso, money, top_up_view
from fundflow.service.tables import (
    Building,
    Case,
    Community,
    Event,
    Household,
    LedgerEntry,
    StreetOffice,
    TopUpNotice,
    User,
)

__all__ = [
    "accounts_of",
    "case_money",
    "post_case",
    "deposit",
    "household_label",
    "case_positions",
    "verify_ledgers",
    "household_statement",
    "top_up_notice",
]

ZERO = Decimal("0.00")


def household_label(h: Household, buildings: dict[int, str]) -> str:
    return f"{buildings.get(h.building_id, '')}{h.unit}{h.room}"


_BUILDINGS = Prepared(select(Building.id, Building.name).where(Building.community_id == bindparam("community_id")))
_POSITIONS = Prepared(
    select(LedgerEntry.household_id, LedgerEntry.kind, func.sum(LedgerEntry.amount))
    .where(LedgerEntry.case_id == bindparam("case_id"))
    .group_by(LedgerEntry.household_id, LedgerEntry.kind)
)


def _buildings(s: Session, community_id: int) -> dict[int, str]:
    return dict(_BUILDINGS.all(flushed(s), {"community_id": community_id}))


def case_positions(s: Session, case_id: int) -> dict[int, dict[str, Decimal]]:
    """household id -> kind -> the sum of this case's entries there."""
    rows = _POSITIONS.all(flushed(s), {"case_id": case_id})
    out: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for hid, kind, total in rows:
        out[hid][kind] = Decimal(total)
    return out


def _case_figures(sums: dict[str, Decimal]) -> tuple[int, int, int]:
    """(frozen, held, paid) in fen of one case in one household."""
    g = lambda k: to_fen(sums.get(k, ZERO))  # noqa: E731
    frozen = g("freeze") - g("unfreeze") - g("debit") - g("retention_release")
    held = g("retention_hold") - g("retention_release")
    return frozen, held, g("debit") + g("retention_release")


def accounts_of(s: Session, case: Any, households: Sequence[Any]) -> list[Account]:
    positions = case_positions(s, case.id)
    buildings = _buildings(s, case.community_id)
    out = []
    for h in households:
        frozen, held, paid = _case_figures(positions.get(h.id, {}))
        out.append(
            Account(
                h.id,
                h.area,
                to_fen(h.balance),
                to_fen(h.frozen),
                to_fen(h.first_deposit),
                frozen,
                held,
                paid,
                household_label(h, buildings),
            )
        )
    return out


def case_money(s: Session, case: Case, accounts: Sequence[Account] | None = None) -> CaseMoney:
    """The case's figures; its frozen and held totals from ``accounts`` when given (same transaction)."""
    if accounts is not None:
        frozen, held = sum(a.case_frozen for a in accounts), sum(a.case_held for a in accounts)
    else:
        frozen = held = 0
        for sums in case_positions(s, case.id).values():
            f, h, _ = _case_figures(sums)
            frozen, held = frozen + f, held + h
    return CaseMoney(
        case.approved_amount, case.settled_amount, case.paid_amount or ZERO, from_fen(frozen), from_fen(held)
    )


def _moves_of(op: LedgerOp | None, closed: bool, accounts: list[Account], case: Case) -> list[tuple[Move, str | None]]:
    moves: list[tuple[Move, str | None]] = []
    after = accounts

    def add(ms: list[Move], reason: str | None = None) -> None:
        nonlocal after
        moves.extend((m, reason) for m in ms)
        after = rules.post(after, ms)[1]

    if op is not None:
        if op.op == "reserve":
            add(rules.settle(after, to_fen(op.amount)))
        elif op.op == "pay":
            add(rules.pay(after, to_fen(op.amount)))
            if op.retain is not None:
                add(rules.hold_retention(after, to_fen(rules.retention_of(case.settled_amount, op.retain))))
        elif op.op == "use_retention":
            add(rules.release_retention(after, to_fen(op.amount)), op.reason)
        elif op.op == "release_retention":
            add(rules.release_retention(after))
    if closed:
        add(rules.release_all(after))
    return moves


def post_case(
    s: Session,
    case: Any,
    households: Sequence[Any],
    op: LedgerOp | None,
    closed: bool,
    seq: int,
    now: datetime,
    accounts: Sequence[Account] | None = None,
) -> dict[str, Any] | None:
    """Write the journal entries of one event of ``case``; the record the event carries, or
    None when nothing moved. ``households``: the scope's rows in hand, locked
    (``lean.households``); ``accounts``: those the engine saw, read in this transaction.

    Core statements (``usecases/lean.py``): the households whose balance or frozen amount moved
    updated, the entries inserted in order, a top-up notice inserted; ``case.paid_amount``
    moves with the payments (the caller writes the case row)."""
    from fundflow.service.usecases import lean

    accounts = list(accounts) if accounts is not None else accounts_of(s, case, households)
    moves = _moves_of(op, closed, accounts, case)
    if not moves:
        return None
    by_id = {h.id: h for h in households}
    posted, after = rules.post(accounts, [m for m, _ in moves])
    entries = []
    paid = 0
    for p, (_, reason) in zip(posted, moves):
        entries.append(
            lean.Row(
                {
                    "household_id": p.move.key,
                    "case_id": case.id,
                    "event_seq": seq,
                    "kind": p.move.kind,
                    "amount": from_fen(p.move.amount),
                    "balance_after": from_fen(p.balance_after),
                    "frozen_after": from_fen(p.frozen_after),
                    "reason": reason,
                    "at": now,
                }
            )
        )
        if p.move.kind in rules.PAYMENTS:
            paid += p.move.amount
    moved = []
    for a in after:
        h = by_id[a.key]
        balance, frozen = from_fen(a.balance), from_fen(a.frozen)
        if (balance, frozen) != (h.balance, h.frozen):
            h.balance, h.frozen = balance, frozen
            moved.append(h)
    conn = s.connection()
    lean.update_households(conn, moved)
    lean.insert_entries(conn, entries)
    if paid:
        case.paid_amount = (case.paid_amount or ZERO) + from_fen(paid)
    record = digest(entries)
    notice = _top_up(conn, case, accounts, after, by_id, seq, now)
    if notice is not None:
        record["top_up"] = {"households": notice.households, "total": str(notice.total)}
    return record


def _top_up(
    conn, case: Any, before: list[Account], after: list[Account], by_id: dict[int, Any], seq: int, now: datetime
) -> Any:
    from fundflow.service.usecases import lean

    low = rules.top_up(before, after)
    if not low:
        return None
    by_key = {a.key: a for a in after}
    rows = [
        {
            "household_id": t.key,
            "household": by_key[t.key].label,
            "owner": by_id[t.key].owner if t.key in by_id else None,
            "first_deposit": str(from_fen(by_key[t.key].first_deposit)),
            "balance": str(from_fen(by_key[t.key].balance)),
            "frozen": str(from_fen(by_key[t.key].frozen)),
            "available": str(from_fen(t.available)),
            "line": str(from_fen(t.line)),
            "top_up": str(from_fen(t.amount)),
        }
        for t in low
    ]
    notice = lean.Row(
        {
            "case_id": case.id,
            "event_seq": seq,
            "street_office_id": case.street_office_id,
            "households": len(rows),
            "total": from_fen(sum(t.amount for t in low)),
            "rows": rows,
            "created_at": now,
        }
    )
    lean.insert_top_up(conn, notice)
    return notice


def deposit(s: Session, h: Household, amount: Decimal, now: datetime, reason: str) -> LedgerEntry | None:
    """Owners pay in (交存), or a household's opening balance; ``h`` flushed (it has an id)."""
    if amount <= 0:
        return None
    h.balance = h.balance + amount
    e = LedgerEntry(**deposit_row(h.id, h.balance, h.frozen, now, reason, amount))
    s.add(e)
    return e


def deposit_row(
    household_id: int, balance_after: Decimal, frozen_after: Decimal, now: datetime, reason: str, amount=None
) -> dict[str, Any]:
    """The journal entry of a deposit, as column values (``amount`` defaults to the balance after
    it: an opening deposit); the bulk import inserts these with one statement."""
    return {
        "household_id": household_id,
        "kind": "deposit",
        "amount": balance_after if amount is None else amount,
        "balance_after": balance_after,
        "frozen_after": frozen_after,
        "reason": reason,
        "at": now,
    }


# -- reads ----------------------------------------------------------------------------------


def household_statement(svc: Services, user: User, household_id: int) -> dict[str, Any]:
    """A household's ledger (分户账明细): every entry with its running balance and frozen amount."""
    with read_only(svc.sessions) as s:
        h = s.get(Household, household_id)
        community = s.get(Community, h.community_id) if h is not None else None
        office = s.get(StreetOffice, community.street_office_id) if community is not None else None
        if h is None or office is None or not can_see_community(user, community, office.district_id):
            raise NotFound(
                "房屋不存在或不在您的管辖范围内", code="household_not_found", detail={"household_id": household_id}
            )
        buildings = _buildings(s, h.community_id)
        entries = s.exec(select(LedgerEntry).where(LedgerEntry.household_id == h.id).order_by(LedgerEntry.id)).all()
        numbers = (
            {
                c.id: (c.number, c.title)
                for c in s.exec(select(Case).where(Case.id.in_({e.case_id for e in entries if e.case_id is not None})))
            }
            if entries
            else {}
        )
        rows = []
        for e in entries:
            db, df = rules.EFFECTS.get(e.kind, (0, 0))
            number, title = numbers.get(e.case_id, (None, None))
            rows.append(
                {
                    "id": e.id,
                    "at": iso(e.at),
                    "kind": e.kind,
                    "kind_label": rules.KIND_LABELS.get(e.kind, e.kind),
                    "amount": money(e.amount),
                    "balance_change": money(db * e.amount),
                    "frozen_change": money(df * e.amount),
                    "balance_after": money(e.balance_after),
                    "frozen_after": money(e.frozen_after),
                    "available_after": money(e.balance_after - e.frozen_after),
                    "case_id": e.case_id,
                    "case_number": number,
                    "case_title": title,
                    "event_seq": e.event_seq,
                    "reason": e.reason,
                }
            )
        return {
            "household": {
                "id": h.id,
                "community": {"id": community.id, "name": community.name},
                "building": buildings.get(h.building_id, ""),
                "unit": h.unit,
                "room": h.room,
                "label": household_label(h, buildings),
                "owner": h.owner,
                "area": str(h.area),
                "first_deposit": money(h.first_deposit),
                "balance": money(h.balance),
                "frozen": money(h.frozen),
                "available": money(h.balance - h.frozen),
                "top_up_line": money((h.first_deposit * rules.TOP_UP_SHARE).quantize(Decimal("0.01"))),
            },
            "entries": rows,
        }


def top_up_notice(svc: Services, user: User, case_id: int, notice_id: int) -> dict[str, Any]:
    """One top-up notice (续交通知) of a case, with the case it belongs to."""
    from fundflow.service.usecases.cases import load_case

    with read_only(svc.sessions) as s:
        case = load_case(s, user, case_id)
        n = s.get(TopUpNotice, notice_id)
        if n is None or n.case_id != case.id:
            raise NotFound("续交通知不存在", code="top_up_notice_not_found", detail={"notice_id": notice_id})
        community = s.get(Community, case.community_id) if case.community_id is not None else None
        office = s.get(StreetOffice, case.street_office_id) if case.street_office_id is not None else None
        return {
            **top_up_view(n),
            "case_id": case.id,
            "case_number": case.number,
            "title": case.title,
            "community": community.name if community else "",
            "street_office": office.name if office else "",
        }


# -- verify ---------------------------------------------------------------------------------


def verify_ledgers(s: Session) -> tuple[dict[str, int], list[str]]:
    """Recompute every household's balance and frozen amount from the journal, every case's
    paid total from its payments and every ledger record an event carries; (counts, problems
    in Chinese, each naming the household, case or event)."""
    problems: list[str] = []
    households = {h.id: h for h in s.exec(select(Household))}
    run: dict[int, list[int]] = {hid: [0, 0] for hid in households}
    per_case: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    per_event: dict[tuple[int, int], list[LedgerEntry]] = defaultdict(list)
    count = 0
    for e in s.exec(select(LedgerEntry).order_by(LedgerEntry.id)):
        count += 1
        if e.household_id not in run:
            problems.append(f"分户账明细 #{e.id}：房屋 {e.household_id} 不存在")
            continue
        if e.kind not in rules.EFFECTS:
            problems.append(f"分户账明细 #{e.id}：未知类型 {e.kind}")
            continue
        db, df = rules.EFFECTS[e.kind]
        r = run[e.household_id]
        r[0] += db * to_fen(e.amount)
        r[1] += df * to_fen(e.amount)
        if (r[0], r[1]) != (to_fen(e.balance_after), to_fen(e.frozen_after)):
            problems.append(
                f"分户账明细 #{e.id}（房屋 {e.household_id}）：记载余额 {e.balance_after}、冻结 {e.frozen_after}，"
                f"按明细累计应为 {from_fen(r[0])}、{from_fen(r[1])}"
            )
            r[0], r[1] = to_fen(e.balance_after), to_fen(e.frozen_after)
        if e.case_id is not None:
            sums = per_case[e.case_id][e.household_id]
            sums[e.kind] = sums.get(e.kind, ZERO) + e.amount
            if e.event_seq is not None:
                per_event[(e.case_id, e.event_seq)].append(e)
    for hid, h in households.items():
        balance, frozen = run[hid]
        if to_fen(h.balance) != balance:
            problems.append(f"房屋 {hid}：分户账余额 {h.balance}，按明细应为 {from_fen(balance)}")
        if to_fen(h.frozen) != frozen:
            problems.append(f"房屋 {hid}：冻结金额 {h.frozen}，按明细应为 {from_fen(frozen)}")
    cases = {c.id: c for c in s.exec(select(Case))}
    for cid, c in cases.items():
        paid = frozen = 0
        for hid, sums in per_case.get(cid, {}).items():
            f, held, p = _case_figures(sums)
            paid, frozen = paid + p, frozen + f
            if f < 0 or held < 0:
                problems.append(f"案件 {c.number}：房屋 {hid} 的冻结 {from_fen(f)}、质保金 {from_fen(held)} 为负")
        if to_fen(c.paid_amount or ZERO) != paid:
            problems.append(f"案件 {c.number}：已拨付 {c.paid_amount or ZERO}，按分户账支取应为 {from_fen(paid)}")
        if c.closed and frozen:
            problems.append(f"案件 {c.number}：已办结，仍冻结 {from_fen(frozen)}")
    recorded = {
        (ev.case_id, ev.seq): ev.data["ledger"]
        for ev in s.exec(select(Event).where(Event.trigger != "open"))
        if isinstance(ev.data, dict) and isinstance(ev.data.get("ledger"), dict) and "sha256" in ev.data["ledger"]
    }
    for key in sorted(set(recorded) | set(per_event)):
        number = cases[key[0]].number if key[0] in cases else key[0]
        want = recorded.get(key)
        got = digest(per_event.get(key, []))
        if want is None:
            problems.append(f"案件 {number} 事件 {key[1]}：有 {got['entries']} 条分户账明细，事件未记载")
        elif {k: want.get(k) for k in got} != got:
            problems.append(
                f"案件 {number} 事件 {key[1]}：分户账明细与事件记载不符"
                f"（记载 {want.get('entries')} 条 {want.get('totals')}，实有 {got['entries']} 条 {got['totals']}）"
            )
    return {"households": len(households), "entries": count, "cases": len(cases), "events": len(recorded)}, problems
