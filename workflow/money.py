"""Money: CNY as ``Decimal`` to the fen. Never a binary float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["FEN", "parse_amount", "format_cny", "to_json"]

FEN = Decimal("0.01")


def parse_amount(raw: object) -> Decimal:
    """Parse an amount in yuan: ``"1234.5"``, ``1234``, ``Decimal``; at most two decimals.

    A float is accepted only through its shortest text form (``0.1`` -> ``"0.1"``), so a
    JSON number reads the way it was written. Raises ``ValueError`` with a Chinese reason.
    """
    if isinstance(raw, bool) or raw is None:
        raise ValueError("金额必须是数字")
    if isinstance(raw, float):
        raw = repr(raw)
    if isinstance(raw, str):
        raw = raw.strip().replace(",", "").replace("，", "")
    try:
        value = Decimal(raw) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"金额格式不正确：“{str(raw)[:40]}”，应为数字，如 86000.00") from None
    if not value.is_finite():
        raise ValueError("金额必须是有限数字")
    if value < 0:
        raise ValueError("金额不能为负数")
    if value >= Decimal("1e13"):
        raise ValueError("金额过大")
    if value != value.quantize(FEN, rounding=ROUND_HALF_UP):
        raise ValueError("金额最多精确到分（两位小数）")
    return value.quantize(FEN)


def format_cny(value: Decimal) -> str:
    """``Decimal("1234567.8")`` -> ``"¥1,234,567.80"``."""
    return f"¥{value.quantize(FEN):,}"


def to_json(value: Decimal) -> str:
    """The storage form in case data: a plain string with two decimals."""
    return str(value.quantize(FEN))
