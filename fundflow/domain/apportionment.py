"""Sharing a cost among households by building floor area (建筑面积).

``apportion`` splits a total in CNY among households in proportion to their area, exactly:
it works in integer fen with exact fractions (never floats), gives each household the floor
of its exact share, then hands the fen left over one by one to the largest fractional
remainders (largest-remainder method); equal remainders go to the household listed first.
So the shares add up to the total, each is within one fen of its exact proportional amount
(strictly: ``|share - total*area/sum| < 0.01``), and a larger area never pays less than a
smaller one (equal areas differ by at most one fen, the earlier one paying more).

The top-up line (续交, ``TOP_UP_SHARE`` of the first deposit) is applied to the accounts by
``fundflow.domain.ledger.top_up``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from fundflow.domain.errors import ApportionmentError
from fundflow.domain.money import FEN

__all__ = ["ApportionmentError", "Share", "allocate", "apportion", "TOP_UP_SHARE"]

#: A household whose ledger falls below this share of its first deposit must top up (续交).
TOP_UP_SHARE = Decimal("0.30")


_TOO_LARGE = Decimal("1e13")  # the same ceiling as money.parse_amount


@dataclass(frozen=True, slots=True)
class Share:
    key: str
    area: Decimal
    amount: Decimal  # quantized to 0.01


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise ApportionmentError(f"{what}必须是精确的十进制数（Decimal），不能是 {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite():
        raise ApportionmentError(f"{what}必须是有限数字")
    return value


def apportion(total: Decimal, areas: Sequence[tuple[str, Decimal]]) -> list[Share]:
    """Share ``total`` (yuan, to the fen) among ``(key, area)`` households; in input order."""
    total = _decimal(total, "分摊总额")
    if total < 0:
        raise ApportionmentError(f"分摊总额不能为负数：{total}")
    if total >= _TOO_LARGE:
        raise ApportionmentError(f"分摊总额过大：{total}")
    if total != total.quantize(FEN):
        raise ApportionmentError(f"分摊总额必须精确到分（最多两位小数）：{total}")
    if not areas:
        raise ApportionmentError("没有参与分摊的住户")
    seen: set[str] = set()
    checked: list[tuple[str, Decimal]] = []
    for key, area in areas:
        if key in seen:
            raise ApportionmentError(f"住户重复：{key}")
        seen.add(key)
        area = _decimal(area, f"住户 {key} 的建筑面积")
        if area <= 0:
            raise ApportionmentError(f"住户 {key} 的建筑面积必须大于 0：{area}")
        checked.append((key, area))
    fen = allocate(int(Fraction(total) * 100), [Fraction(a) for _, a in checked])
    return [Share(k, a, (Decimal(f) / 100).quantize(FEN)) for (k, a), f in zip(checked, fen)]


def allocate(total: int, weights: Sequence[Fraction | int]) -> list[int]:
    """Split ``total`` integer units in proportion to ``weights`` (>= 0) by largest remainder.

    Each part is the floor of its exact share; the units left over go one by one to the
    largest fractional remainders, ties to the earlier weight. The parts add up to ``total``,
    a zero weight gets nothing, and no part exceeds its exact share by a whole unit (so a
    part never exceeds its weight when ``total`` is at most the sum of the weights, in units).
    """
    if total < 0:
        raise ApportionmentError(f"分配总额不能为负数：{total}")
    weights = [Fraction(w) for w in weights]
    if any(w < 0 for w in weights):
        raise ApportionmentError("分配权重不能为负数")
    whole = sum(weights, Fraction(0))
    if whole == 0:
        if total:
            raise ApportionmentError("没有可分配的对象")
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    parts = [e.numerator // e.denominator for e in exact]
    left = total - sum(parts)  # 0 <= left < number of non-zero weights
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts
