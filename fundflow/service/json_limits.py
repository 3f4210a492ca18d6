"""Bounds on JSON from requests: nesting depth and size, checked without recursion.

Python's JSON parser and every recursive walker over the parsed value (a NUL check,
``json.dumps``, a template) raise ``RecursionError`` somewhere past depth ~400, which used to
answer 500. ``raw_depth`` measures the nesting of a request body *before* it is parsed (the API
refuses a body deeper than :data:`MAX_DEPTH` with 422), and ``check_value`` walks a parsed value
with an explicit stack: depth, NUL characters, and the size of case or transition ``data``.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_DATA_BYTES",
    "NUL_MESSAGE",
    "DEPTH_MESSAGE",
    "raw_depth",
    "check_value",
    "contains_nul",
    "check_data",
]

MAX_DEPTH = 32
MAX_DATA_BYTES = 64 * 1024  # case or transition ``data``, as compact UTF-8 JSON
NUL_MESSAGE = "内容含有不可见的空字符（U+0000），请删除后重试"
DEPTH_MESSAGE = f"JSON 嵌套层数超过 {MAX_DEPTH} 层上限"

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = [0] * 256
for _b in b"[{":
    _DELTA[_b] = 1
for _b in b"]}":
    _DELTA[_b] = -1


def raw_depth(body: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text (brackets inside strings ignored).
    Linear, in C loops: about 0.1 s for 2 MiB of brackets."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:  # the common case: nothing to measure
        return 0
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def check_value(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The reason ``value`` is refused (too deep, or a NUL character anywhere), or None."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
        elif isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                return DEPTH_MESSAGE
            if isinstance(item, dict):
                stack.extend((k, depth + 1) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def contains_nul(value: Any) -> bool:
    """True if a NUL character hides anywhere in ``value`` (PostgreSQL cannot store one)."""
    return check_value(value, max_depth=10**9) == NUL_MESSAGE


def check_data(data: dict[str, Any]) -> dict[str, Any]:
    """Case or transition ``data``: bounded depth and size; raises ValueError with the reason."""
    reason = check_value(data)
    if reason:
        raise ValueError(reason)
    size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())  # NaN: refused by the use case
    if size > MAX_DATA_BYTES:
        raise ValueError(f"案件数据过大（{size} 字节，上限 {MAX_DATA_BYTES} 字节）")
    return data
