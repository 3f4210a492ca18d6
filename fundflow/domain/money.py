"""Money: CNY as ``Decimal`` to the fen. Never a binary float.

``parse_amount`` is the one reader of amounts a person types: digits, an optional point and at
most two decimals (thousands separators allowed), strictly positive unless the caller allows
zero (a ledger balance may be nil). Signs (``-0.00`` too), exponents (``1e5``), ``NaN`` and
``Infinity`` are refused with a Chinese reason.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["FEN", "MAX_AMOUNT", "parse_amount", "format_cny", "to_json", "to_fen", "from_fen"]

FEN = Decimal("0.01")
MAX_AMOUNT = Decimal("1e13")  # exclusive: ten thousand billion yuan
_PLAIN = re.compile(r"^(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d*)?$")


def parse_amount(raw: object, *, allow_zero: bool = False) -> Decimal:
    """Parse an amount in yuan: ``"1234.5"``, ``"1,234.50"``, ``1234``, ``Decimal``.

    A float is read through its shortest text form (``0.1`` -> ``"0.1"``), so a JSON number
    reads the way it was written. Raises ``ValueError`` with a Chinese reason.
    """
    if isinstance(raw, bool) or raw is None:
        raise ValueError("金额必须是数字")
    if isinstance(raw, float):
        raw = repr(raw)
    if isinstance(raw, int):
        raw = str(raw)
    if isinstance(raw, str):
        text = raw.strip().replace("，", ",")
        if text.startswith(("-", "+")):
            raise ValueError(f"金额不能带正负号（“{str(raw)[:40]}”），应为大于 0 的数字")
        if "e" in text.lower() and any(c.isdigit() for c in text):
            if text.lower() not in ("inf", "infinity", "nan"):
                raise ValueError(f"金额不能用科学计数法：“{str(raw)[:40]}”，请写成普通数字")
        if not _PLAIN.match(text):
            raise ValueError(f"金额格式不正确：“{str(raw)[:40]}”，应为数字，最多两位小数")
        value = Decimal(text.replace(",", ""))
    elif isinstance(raw, Decimal):
        value = raw
    else:
        raise ValueError("金额必须是数字")
    try:
        if not value.is_finite():
            raise ValueError("金额必须是有限数字")
        if value.is_signed():
            raise ValueError("金额不能为负数")
        if value >= MAX_AMOUNT:
            raise ValueError("金额过大")
        if value != value.quantize(FEN):
            raise ValueError("金额最多精确到分（两位小数）")
    except InvalidOperation:
        raise ValueError(f"金额格式不正确：“{str(raw)[:40]}”，应为数字，如 86000.00") from None
    if value == 0 and not allow_zero:
        raise ValueError("金额必须大于 0")
    return value.quantize(FEN)


def format_cny(value: Decimal) -> str:
    """``Decimal("1234567.8")`` -> ``"¥1,234,567.80"``."""
    return f"¥{value.quantize(FEN):,}"


def to_json(value: Decimal) -> str:
    """The storage form in case data: a plain string with two decimals."""
    return str(value.quantize(FEN))


def to_fen(value: Decimal) -> int:
    """Yuan to integer fen, exactly (refuses fractions of a fen)."""
    scaled = value.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than two decimals")
    return int(scaled)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)
