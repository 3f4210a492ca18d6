"""The ledger rules (workflow.ledger), pure: invariants over random interleavings of approve,
advance, settle, pay, release and withdraw across three cases on overlapping households.

For every household after every step: balance = deposits − debits, frozen = the open cases'
freezes, available never below zero unless the declared shortfall path (Ganzhou: the accounts
in scope together cover the approval) was taken; per case: paid ≤ settled (≤ approved before
the settlement), every operation's shares add up to its amount to the fen, and a closed case
holds nothing frozen.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundflow.domain import ledger as L
from fundflow.domain.ledger import Account, CaseMoney, LedgerError, Move
from fundflow.domain.money import from_fen

RETAIN = Fraction(1, 10)
SCOPES = ((0, 1, 2, 3, 4, 5), (0, 1, 2, 3), (3, 4, 5))  # overlapping buildings
OPS = ("approve", "advance", "settle", "pay", "repair", "release", "withdraw")


class Book:
    """An in-memory journal driven the way the service drives it."""

    def __init__(self, areas, balances):
        self.areas = areas
        self.journal: list[tuple[int, int | None, str, int]] = []  # household, case, kind, fen
        self.state = {h: [0, 0] for h in range(len(areas))}  # balance, frozen
        for h, b in enumerate(balances):
            self.write(None, [Move(h, "deposit", b)] if b else [])
        self.cases = [
            {"phase": "new", "approved": None, "settled": None, "paid": 0, "shortfall": False} for _ in SCOPES
        ]

    def accounts(self, c: int) -> list[Account]:
        out = []
        for h in SCOPES[c]:
            sums: dict[str, int] = {}
            for hh, cc, kind, fen in self.journal:
                if hh == h and cc == c:
                    sums[kind] = sums.get(kind, 0) + fen

            def g(k: str, sums: dict[str, int] = sums) -> int:
                return sums.get(k, 0)

            out.append(
                Account(
                    h,
                    self.areas[h],
                    self.state[h][0],
                    self.state[h][1],
                    100_000,
                    g("freeze") - g("unfreeze") - g("debit") - g("retention_release"),
                    g("retention_hold") - g("retention_release"),
                    g("debit") + g("retention_release"),
                )
            )
        return out

    def write(self, c, moves):
        accounts = [Account(h, self.areas[h], *self.state[h]) for h in range(len(self.areas))]
        if c is not None:
            accounts = [a for a in accounts if a.key not in SCOPES[c]] + self.accounts(c)
        posted, after = L.post(accounts, moves)
        for p in posted:
            self.journal.append((p.move.key, c, p.move.kind, p.move.amount))
            self.state[p.move.key] = [p.balance_after, p.frozen_after]
        return posted

    def money(self, c) -> CaseMoney:
        k = self.cases[c]
        acc = self.accounts(c)
        return CaseMoney(
            from_fen(k["approved"]) if k["approved"] is not None else None,
            from_fen(k["settled"]) if k["settled"] is not None else None,
            from_fen(k["paid"]),
            from_fen(sum(a.case_frozen for a in acc)),
            from_fen(sum(a.case_held for a in acc)),
        )

    def do(self, c: int, op: str, frac: Fraction) -> None:
        k, acc = self.cases[c], self.accounts(c)
        available = sum(a.available_to_case for a in acc)
        moves: list[Move] = []
        if op == "approve" and k["phase"] == "new":
            amount = int(available * frac)
            if amount <= 0:
                return
            shares = L.area_shares(acc, amount)
            short = any(s > a.available_to_case for a, s in zip(acc, shares))
            if short and frac.numerator % 2:  # each household must cover its share: refused
                return
            k["shortfall"] |= short  # Ganzhou: the accounts in scope together cover it
            moves = L.settle(acc, amount)
            assert sum(m.amount for m in moves if m.kind == "freeze") == amount  # shares add up to the fen
            k.update(phase="approved", approved=amount)
        elif op == "advance" and k["phase"] == "approved" and k["paid"] == 0:
            amount = int(k["approved"] * frac / 2)
            if amount <= 0 or L.check_payment(self.money(c), from_fen(amount)) is not None:
                return
            moves = L.pay(acc, amount)
        elif op == "settle" and k["phase"] == "approved":
            amount = int(k["approved"] * frac * Fraction(6, 5))
            if amount <= 0 or L.check_settlement(self.money(c), from_fen(amount)) is not None:
                return
            if amount > k["approved"]:  # the supplementary approval: only what the accounts cover
                if amount - sum(a.case_frozen for a in acc) > sum(a.available for a in acc):
                    return
                shares = L.area_shares(acc, amount)
                k["shortfall"] |= any(s - a.case_paid > a.available_to_case for a, s in zip(acc, shares))
                k["approved"] = amount
            moves = L.settle(acc, amount)
            k.update(phase="settled", settled=amount)
        elif op == "pay" and k["phase"] == "settled":
            retention = int(L.retention_of(from_fen(k["settled"]), RETAIN) * 100)
            rest = k["settled"] - retention - k["paid"]
            amount = rest if frac >= Fraction(1, 2) else int(rest * frac * 2) or rest
            if amount <= 0:
                return
            assert L.check_payment(self.money(c), from_fen(amount), RETAIN) is None
            assert (
                L.check_payment(self.money(c), from_fen(k["settled"] - k["paid"]), RETAIN) is not None or retention == 0
            )
            moves = L.pay(acc, amount)
            after = L.post(acc, moves)[1]
            moves += L.hold_retention(after, retention)
            k["phase"] = "warranty"
        elif op == "repair" and k["phase"] == "warranty":
            held = sum(a.case_held for a in acc)
            amount = int(held * frac)
            if amount <= 0:
                return
            moves = L.release_retention(acc, amount)
        elif op == "release" and k["phase"] == "warranty":
            moves = L.release_retention(acc)
            moves += L.release_all(L.post(acc, moves)[1])
            k["phase"] = "closed"
        elif op == "withdraw" and k["phase"] in ("new", "approved") and k["paid"] == 0:
            moves = L.release_all(acc)
            k["phase"] = "closed"
        else:
            return
        posted = self.write(c, moves)
        k["paid"] += sum(p.move.amount for p in posted if p.move.kind in L.PAYMENTS)

    def check(self) -> None:
        for h, (balance, frozen) in self.state.items():
            mine = [(c, kind, fen) for hh, c, kind, fen in self.journal if hh == h]
            assert balance == sum(f for _, k, f in mine if k == "deposit") - sum(
                f for _, k, f in mine if k in L.PAYMENTS
            )
            open_freeze = 0
            for c, kind, fen in mine:
                if c is not None:
                    open_freeze += L.EFFECTS[kind][1] * fen
            assert frozen == open_freeze
            if not any(k["shortfall"] for k in self.cases):
                assert balance - frozen >= 0, (h, balance, frozen)
        for c, k in enumerate(self.cases):
            acc = self.accounts(c)
            assert all(a.case_frozen >= 0 and 0 <= a.case_held <= a.case_frozen for a in acc)
            assert k["paid"] == sum(a.case_paid for a in acc)
            ceiling = k["settled"] if k["settled"] is not None else k["approved"]
            assert k["paid"] <= (ceiling or 0)
            if k["phase"] == "closed":
                assert sum(a.case_frozen for a in acc) == 0
            if k["phase"] == "closed" and k["settled"] is not None and k["paid"] == k["settled"]:
                # paid in full: each household paid exactly its floor-area share of the settlement
                assert [a.case_paid for a in acc] == L.area_shares(acc, k["settled"])


areas = st.lists(st.decimals(min_value=Decimal("30"), max_value=Decimal("150"), places=2), min_size=6, max_size=6)
balances = st.lists(st.integers(0, 5_000_000), min_size=6, max_size=6)
steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(OPS), st.fractions(0, 1, max_denominator=97)), max_size=40
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(areas=areas, balances=balances, steps=steps)
def test_the_books_balance_under_any_interleaving(areas, balances, steps):
    book = Book(areas, balances)
    for c, op, frac in steps:
        book.do(c, op, frac)
        book.check()


def test_a_payment_never_takes_more_from_a_household_than_the_case_froze_there():
    acc = [Account(i, Decimal(a), 10_000, 0) for i, a in enumerate(("1", "1", "1"))]
    _, acc = L.post(acc, L.freeze(acc, 100))  # 34, 33, 33
    _, acc = L.post(acc, L.pay(acc, 50))
    _, acc = L.post(acc, L.pay(acc, 50))
    assert [a.case_paid for a in acc] == [34, 33, 33] and all(a.case_frozen == 0 for a in acc)
    with pytest.raises(LedgerError, match="不足以支付"):
        L.pay(acc, 1)


def test_a_settlement_below_what_was_paid_and_a_close_with_retention_held_are_refused():
    acc = [Account(0, Decimal("1"), 10_000, 0)]
    _, acc = L.post(acc, L.freeze(acc, 1000))
    _, acc = L.post(acc, L.pay(acc, 600))
    with pytest.raises(LedgerError, match="低于已拨付"):
        L.settle(acc, 599)
    _, acc = L.post(acc, L.hold_retention(acc, 100))
    with pytest.raises(LedgerError, match="质保金尚未支付"):
        L.release_all(acc)
    assert L.check_settlement(CaseMoney(paid=Decimal("6.00")), Decimal("5.99")) is not None


def test_the_top_up_line_names_who_fell_below_and_the_amount():
    """30% of a 200.00 first deposit is 60.00: exactly on the line is not below it."""
    before = [
        Account(1, Decimal("1"), 10_000, 0, first_deposit=20_000),
        Account(2, Decimal("1"), 50_000, 0, first_deposit=20_000),
    ]
    _, on_line = L.post(before, L.freeze(before, 8_000))  # 40.00 each: 60.00 left in the first
    assert L.top_up(before, on_line) == []
    _, below = L.post(before, L.freeze(before, 8_002))  # 40.01 each
    assert [(t.key, t.available, t.line, t.amount) for t in L.top_up(before, below)] == [(1, 5_999, 6_000, 1)]
    _, paid = L.post(below, L.pay([a for a in below], 8_002))  # a payment converts the freeze: nobody lower
    assert L.top_up(below, paid) == []


def _ctx(amount: str, accounts, balance):
    from datetime import datetime

    from fundflow.domain.guards import GuardContext

    return GuardContext(
        {"approved_amount": Decimal(amount)},
        {},
        frozenset(),
        {},
        balance,
        datetime(2026, 3, 2, tzinfo=UTC),
        None,
        accounts=tuple(accounts),
    )


def test_the_balance_guard_names_the_shortfall_and_the_households_and_can_require_each_to_cover():
    from fundflow.domain.guards import amount_within_balance

    acc = [Account(1, Decimal("1"), 100_00, 0, label="1栋101"), Account(2, Decimal("1"), 1_000_00, 0, label="1栋102")]
    # 800.00 shared 400/400: 1栋101 holds only 100.00; together they hold 1,100.00
    assert amount_within_balance(_ctx("800.00", acc, Decimal("1100.00")), "approved_amount") is None  # Ganzhou
    strict = amount_within_balance(_ctx("800.00", acc, Decimal("1100.00")), "approved_amount", each_household=True)
    assert "1栋101（差 ¥300.00）" in strict and strict.detail["households"][0]["household_id"] == 1
    over = amount_within_balance(_ctx("1200.00", acc, Decimal("1100.00")), "approved_amount")
    assert "差额 ¥100.00" in over and over.detail["shortfall"] == "100.00"
    assert [x["household"] for x in over.detail["households"]] == ["1栋101"]  # 600.00 of 1,000.00 is covered
