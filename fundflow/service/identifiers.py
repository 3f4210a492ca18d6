"""Identifiers people type and compare: room numbers, units, building names.

``A101`` with a Cyrillic ``А``, ``101`` followed by a zero-width space, ``B1`` with a Greek ``Β``
and ``104`` with a right-to-left mark look like ``A101``, ``101``, ``B1`` and ``104`` but were
imported as four more households. :func:`clean_identifier` folds what NFKC folds (full-width
``Ａ１０１`` is ``A101``, an ideographic space a space) and refuses what would still look like
something it is not: invisible and bidi control characters, right-to-left letters, letters of
any script but Latin and Han (Cyrillic, Greek...: look-alikes of Latin letters), and digits
other than 0-9. The reason is in Chinese and names the character by its code point.
"""

from __future__ import annotations

import unicodedata

__all__ = ["clean_identifier", "identifier_problem"]

_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}  # controls, format (ZWSP, RLM, BOM...), unassigned
_RTL = {"R", "AL", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI"}
_ALLOWED_SCRIPTS = {"LATIN", "CJK"}  # unicodedata names: "LATIN CAPITAL LETTER A", "CJK UNIFIED IDEOGRAPH-680B"
_SCRIPT_NAMES = {
    "CYRILLIC": "西里尔字母",
    "GREEK": "希腊字母",
    "ARMENIAN": "亚美尼亚字母",
    "HEBREW": "希伯来字母",
    "ARABIC": "阿拉伯字母",
    "HIRAGANA": "日文假名",
    "KATAKANA": "日文假名",
    "HANGUL": "韩文字母",
}


def _show(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def identifier_problem(value: str) -> str | None:
    """Why ``value`` (already NFKC-normalised) may not be an identifier, or None."""
    for ch in value:
        category = unicodedata.category(ch)
        if category in _INVISIBLE:
            return f"含有不可见或控制字符（{_show(ch)}），请删除后重试"
        if unicodedata.bidirectional(ch) in _RTL:
            return f"含有从右向左书写的字符（{_show(ch)}），请删除后重试"
        if category == "Nd" and not "0" <= ch <= "9":
            return f"含有非 0-9 的数字“{ch}”（{_show(ch)}），请改用 0-9"
        if category.startswith("L"):
            script = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
            if script not in _ALLOWED_SCRIPTS:
                kind = _SCRIPT_NAMES.get(script, "非拉丁、非汉字的字母")
                return f"含有{kind}“{ch}”（{_show(ch)}），易与拉丁字母或汉字混淆：请只用拉丁字母、汉字和数字"
    return None


def clean_identifier(text: str) -> str:
    """``text`` NFKC-normalised and stripped; ValueError (with the reason in Chinese) if it holds
    invisible, bidi or look-alike characters."""
    value = unicodedata.normalize("NFKC", text).strip()
    problem = identifier_problem(value)
    if problem:
        raise ValueError(problem)
    return value
