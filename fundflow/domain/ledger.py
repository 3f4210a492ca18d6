"""The household ledger (分户账) as an append-only journal: the rules, pure, in integer fen.

Every movement of owners' money is a journal entry of one of these kinds:

=====================  ===========  ==========  ==============================================
kind                   balance      frozen      when
=====================  ===========  ==========  ==============================================
``deposit``            + amount                 交存: owners pay in (and the opening balance)
``freeze``                          + amount    冻结: an approval reserves a household's share
``unfreeze``                        − amount    解冻: a settlement below the approval, a close
``debit``              − amount     − amount    支取: a payment (advance, final) turns the
                                                freeze into a debit when the bank pays
``retention_hold``                              质保金留存: part of the freeze is marked as the
                                                retention; it stays frozen
``retention_release``  − amount     − amount    质保金支付: the retention is paid out (after
                                                the warranty, or for a warranty repair)
``adjustment``         ± amount                 调账, always with a reason
=====================  ===========  ==========  ==============================================

So a household's ``balance`` and ``frozen`` are sums over its entries, and what it can still
give is ``available = balance − frozen``. The functions here compute the entries of one case's
operation from the accounts in scope (:class:`Account`: the household's balance and frozen
amount, and what this case has frozen, held and paid there); the service writes them.

Shares are by floor area, largest remainder (``apportionment.allocate``), so they add up to
the amount to the fen. A payment is spread in proportion to what the case still has frozen in
each household (so no household pays more than the case froze there), and a settlement moves
each household's freeze to its area share of the settled amount less what it has paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import ceil

from fundflow.domain.apportionment import TOP_UP_SHARE, allocate
from fundflow.domain.errors import LedgerError
from fundflow.domain.money import FEN, format_cny, from_fen

__all__ = [
    "top_up_line",
    "below_top_up_line",
    "KINDS",
    "KIND_LABELS",
    "EFFECTS",
    "PAYMENTS",
    "area_shares",
    "LedgerError",
    "Account",
    "Move",
    "Posted",
    "CaseMoney",
    "freeze",
    "settle",
    "pay",
    "hold_retention",
    "release_retention",
    "release_all",
    "post",
    "retention_of",
    "check_payment",
    "check_settlement",
    "check_retention_use",
    "top_up",
    "TopUp",
]

KINDS = ("deposit", "freeze", "unfreeze", "debit", "retention_hold", "retention_release", "adjustment")

KIND_LABELS = {
    "deposit": "交存",
    "freeze": "冻结",
    "unfreeze": "解冻",
    "debit": "支取",
    "retention_hold": "质保金留存",
    "retention_release": "质保金支付",
    "adjustment": "调账",
}

#: kind -> (sign on balance, sign on frozen)
EFFECTS: dict[str, tuple[int, int]] = {
    "deposit": (1, 0),
    "freeze": (0, 1),
    "unfreeze": (0, -1),
    "debit": (-1, -1),
    "retention_hold": (0, 0),
    "retention_release": (-1, -1),
    "adjustment": (1, 0),  # the amount carries the sign
}

#: kinds that pay money out of the fund (a case's paid total is their sum)
PAYMENTS = ("debit", "retention_release")


@dataclass(frozen=True, slots=True)
class Account:
    """One household's ledger as one case sees it, in fen."""

    key: int
    area: Decimal
    balance: int
    frozen: int
    first_deposit: int = 0
    case_frozen: int = 0  # what this case holds frozen here (the retention included)
    case_held: int = 0  # of which the retention held back
    case_paid: int = 0  # what this case has paid out of this household
    label: str = ""

    @property
    def available(self) -> int:
        return self.balance - self.frozen

    @property
    def available_to_case(self) -> int:
        """What this case may use here: the available balance and its own freeze."""
        return self.available + self.case_frozen

    @property
    def covers(self) -> int:
        """How much of a case's total this household can bear: what the case may still use here
        and what the case has already paid out of it (an advance counts towards the settlement)."""
        return self.available_to_case + self.case_paid


@dataclass(frozen=True, slots=True)
class Move:
    key: int
    kind: str
    amount: int  # fen, > 0 (an adjustment may be negative)


@dataclass(frozen=True, slots=True)
class Posted:
    """A move with the household's balance and frozen amount after it."""

    move: Move
    balance_after: int
    frozen_after: int
    available_before: int


@dataclass(frozen=True, slots=True)
class CaseMoney:
    """A case's figures, in yuan: what the payment rules look at."""

    approved: Decimal | None = None
    settled: Decimal | None = None
    paid: Decimal = Decimal("0.00")
    frozen: Decimal = Decimal("0.00")
    held: Decimal = Decimal("0.00")  # retention held back

    @property
    def ceiling(self) -> Decimal | None:
        """What may be paid in all: the settled amount once known, else the approved one."""
        return self.settled if self.settled is not None else self.approved


# -- the operations -------------------------------------------------------------------------


def _moves(accounts: Sequence[Account], parts: Iterable[int], kind: str) -> list[Move]:
    return [Move(a.key, kind, p) for a, p in zip(accounts, parts) if p > 0]


def area_shares(accounts: Sequence[Account], amount: int) -> list[int]:
    if not accounts:
        raise LedgerError("分摊范围内没有登记房屋，请先导入房屋清单")
    return allocate(amount, [Fraction(a.area) for a in accounts])


def freeze(accounts: Sequence[Account], amount: int) -> list[Move]:
    """An approval: freeze each household's floor-area share of ``amount``."""
    return _moves(accounts, area_shares(accounts, amount), "freeze")


def settle(accounts: Sequence[Account], settled: int) -> list[Move]:
    """Move this case's freezes to each household's area share of ``settled`` less what it
    has already paid there: unfreeze what is no longer needed, freeze what is missing (a
    supplementary approval)."""
    paid = sum(a.case_paid for a in accounts)
    if settled < paid:
        raise LedgerError(f"结算金额 {format_cny(from_fen(settled))} 低于已拨付的 {format_cny(from_fen(paid))}")
    if any(a.case_held for a in accounts):
        raise LedgerError("质保金已留存，不能再调整结算")
    wanted = [s - a.case_paid for a, s in zip(accounts, area_shares(accounts, settled))]
    if any(w < 0 for w in wanted):  # an earlier payment took more than the area share somewhere
        wanted = allocate(settled - paid, [max(w, 0) for w in wanted])
    moves = []
    for a, w in zip(accounts, wanted):
        if w > a.case_frozen:
            moves.append(Move(a.key, "freeze", w - a.case_frozen))
        elif w < a.case_frozen:
            moves.append(Move(a.key, "unfreeze", a.case_frozen - w))
    return moves


def pay(accounts: Sequence[Account], amount: int) -> list[Move]:
    """A payment: debit ``amount`` out of this case's freezes (the retention held excepted)."""
    free = [a.case_frozen - a.case_held for a in accounts]
    if amount > sum(free):
        raise LedgerError(f"本案冻结资金 {format_cny(from_fen(sum(free)))} 不足以支付 {format_cny(from_fen(amount))}")
    return _moves(accounts, allocate(amount, free), "debit")


def hold_retention(accounts: Sequence[Account], amount: int) -> list[Move]:
    """Mark ``amount`` of this case's freezes as the retention; it stays frozen."""
    free = [a.case_frozen - a.case_held for a in accounts]
    if amount > sum(free):
        raise LedgerError(
            f"本案冻结资金 {format_cny(from_fen(sum(free)))} 不足以留存质保金 {format_cny(from_fen(amount))}"
        )
    return _moves(accounts, allocate(amount, free), "retention_hold")


def release_retention(accounts: Sequence[Account], amount: int | None = None) -> list[Move]:
    """Pay ``amount`` (default: all) of the retention held, from each household's hold."""
    held = [a.case_held for a in accounts]
    amount = sum(held) if amount is None else amount
    if amount > sum(held):
        raise LedgerError(f"质保金余额 {format_cny(from_fen(sum(held)))} 不足 {format_cny(from_fen(amount))}")
    return _moves(accounts, allocate(amount, held), "retention_release")


def release_all(accounts: Sequence[Account]) -> list[Move]:
    """A case closes (archived, rejected, withdrawn): whatever it still holds frozen is released."""
    if any(a.case_held for a in accounts):
        raise LedgerError("质保金尚未支付，案件不能办结")
    return [Move(a.key, "unfreeze", a.case_frozen) for a in accounts if a.case_frozen > 0]


def post(accounts: Sequence[Account], moves: Sequence[Move]) -> tuple[list[Posted], list[Account]]:
    """Apply ``moves`` in order: each with its balance and frozen amount after, and the
    accounts after all of them."""
    by_key = {a.key: a for a in accounts}
    posted = []
    for m in moves:
        a = by_key[m.key]
        if m.kind not in EFFECTS:
            raise LedgerError(f"未知的分户账记账类型：{m.kind}")
        if m.amount <= 0 and m.kind != "adjustment":
            raise LedgerError(f"记账金额必须大于 0：{m.kind} {m.amount}")
        db, df = EFFECTS[m.kind]
        case_frozen = a.case_frozen + df * m.amount
        case_held = a.case_held + (
            m.amount if m.kind == "retention_hold" else -m.amount if m.kind == "retention_release" else 0
        )
        case_paid = a.case_paid + (m.amount if m.kind in PAYMENTS else 0)
        if case_frozen < 0 or case_held < 0 or case_held > case_frozen:
            raise LedgerError(f"房屋 {a.label or a.key} 的本案冻结金额不足以{m.kind}")
        after = replace(
            a,
            balance=a.balance + db * m.amount,
            frozen=a.frozen + df * m.amount,
            case_frozen=case_frozen,
            case_held=case_held,
            case_paid=case_paid,
        )
        posted.append(Posted(m, after.balance, after.frozen, a.available))
        by_key[m.key] = after
    return posted, [by_key[a.key] for a in accounts]


# -- the payment rules ----------------------------------------------------------------------


def retention_of(settled: Decimal, share: Fraction) -> Decimal:
    """The retention (质保金) kept back of a settlement: ``share`` of it, to the fen."""
    return (settled * share.numerator / share.denominator).quantize(FEN, rounding=ROUND_HALF_UP)


def check_payment(m: CaseMoney, amount: Decimal, retain: Fraction | None = None) -> str | None:
    """May ``amount`` be paid now? ``retain``: this payment is the final one, and that share of
    the settlement stays back as the retention. ``None``: yes; a string: why not."""
    ceiling = m.ceiling
    if ceiling is None:
        return "案件尚未核准使用维修资金，不能拨付"
    if retain is not None:
        if m.settled is None:
            return "尚未结算，不能拨付尾款"
        retention = retention_of(m.settled, retain)
        limit = m.settled - retention - m.paid
        if amount > limit:
            return (
                f"本次拨付 {format_cny(amount)} 超过可拨付的 {format_cny(max(limit, Decimal(0)))}"
                f"（结算金额 {format_cny(m.settled)}，已拨付 {format_cny(m.paid)}，"
                f"质保金 {_share(retain)} 即 {format_cny(retention)} 须留存至质保期满）"
            )
        return None
    what = "结算金额" if m.settled is not None else "核准金额"
    if m.paid + amount > ceiling:
        return (
            f"本次拨付 {format_cny(amount)} 后累计拨付 {format_cny(m.paid + amount)}，超过{what} {format_cny(ceiling)}"
        )
    if amount > m.frozen - m.held:
        return f"本案冻结资金 {format_cny(m.frozen - m.held)} 不足以拨付 {format_cny(amount)}"
    return None


def _share(share: Fraction) -> str:
    pct = share * 100
    return f"{pct.numerator}%" if pct.denominator == 1 else f"{share.numerator}/{share.denominator}"


def check_settlement(m: CaseMoney, settled: Decimal) -> str | None:
    if settled < m.paid:
        return f"结算金额 {format_cny(settled)} 低于已拨付的 {format_cny(m.paid)}，多拨部分须先追回"
    return None


def check_retention_use(m: CaseMoney, amount: Decimal | None) -> str | None:
    if m.held <= 0:
        return "本案没有留存的质保金"
    if amount is not None and amount > m.held:
        return f"金额 {format_cny(amount)} 超过留存的质保金 {format_cny(m.held)}"
    return None


# -- the top-up line ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopUp:
    key: int
    available: int
    line: int  # 30% of the first deposit, rounded up to the fen
    amount: int  # what brings it back to the line


def top_up_line(first_deposit: int, share: Decimal = TOP_UP_SHARE) -> int:
    """THE top-up line (续交), in fen: ``share`` (30%) of the first deposit, rounded up to the fen."""
    return ceil(Fraction(first_deposit) * Fraction(share))


def below_top_up_line(available: int, first_deposit: int, share: Decimal = TOP_UP_SHARE) -> bool:
    """Below the line (exactly on it is not), amounts in fen: the notices and the
    apportionment table's flag both ask this."""
    return available < top_up_line(first_deposit, share)


def top_up(before: Sequence[Account], after: Sequence[Account], share: Decimal = TOP_UP_SHARE) -> list[TopUp]:
    """Households that this operation took below the top-up line (续交: ``share`` of the first
    deposit), or further below it, with the amount that brings each back to the line."""
    old = {a.key: a for a in before}
    out = []
    for a in after:
        line = top_up_line(a.first_deposit, share)
        if below_top_up_line(a.available, a.first_deposit, share) and a.available < old[a.key].available:
            out.append(TopUp(a.key, a.available, line, line - a.available))
    return out
