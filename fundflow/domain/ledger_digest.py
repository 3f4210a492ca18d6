"""The canonical form of ledger journal entries and the digest an event carries of them.

The event that causes journal entries (an approval, a payment, a close) records in its data a
compact account of them: how many, the total per kind and a SHA-256 over their canonical form
in the order they were written. The event is hash-chained, so a verifier that recomputes this
digest from the journal proves the journal against the events (issue 10 builds on it).

Canonical form of one entry: a JSON array, no spaces, UTF-8, of
``[household_id, case_id, event_seq, kind, amount_fen, balance_after_fen, frozen_after_fen,
at (UTC ISO 8601, microseconds), reason]``; the digest is the SHA-256 of the lines joined by
``\\n``. Amounts are integer fen, so the form does not depend on how a database prints decimals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

__all__ = ["JournalLine", "canonical", "digest"]


class JournalLine(Protocol):
    household_id: int
    case_id: int | None
    event_seq: int | None
    kind: str
    amount: Decimal
    balance_after: Decimal
    frozen_after: Decimal
    at: datetime
    reason: str | None


def _fen(value: Decimal) -> int:
    return int(value.scaleb(2).to_integral_exact())


def canonical(e: JournalLine) -> str:
    at = e.at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(
        [
            e.household_id,
            e.case_id,
            e.event_seq,
            e.kind,
            _fen(e.amount),
            _fen(e.balance_after),
            _fen(e.frozen_after),
            at,
            e.reason,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def digest(entries: Iterable[JournalLine]) -> dict[str, Any]:
    """``{"entries": n, "totals": {kind: "yuan"}, "sha256": hex}`` of entries in written order."""
    lines, totals = [], {}
    for e in entries:
        lines.append(canonical(e))
        totals[e.kind] = totals.get(e.kind, 0) + _fen(e.amount)
    return {
        "entries": len(lines),
        "totals": {k: str((Decimal(v) / 100).quantize(Decimal("0.01"))) for k, v in sorted(totals.items())},
        "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
    }
