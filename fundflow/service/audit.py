"""The audit trail: every change of a case is an event, hash-chained per case.

``event_hash`` covers everything an event says (who, what, when, from, to, data, comment)
and the previous event's hash, so altering, deleting or reordering events breaks the chain.
The case row keeps the count and the head hash, so deleting the newest event shows too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from fundflow.service.tables import Case, Event

__all__ = ["GENESIS", "event_hash", "verify_case", "verify_all", "ChainBreak"]

GENESIS = "0" * 64


def _canonical(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(
    case_id: int,
    seq: int,
    trigger: str,
    from_state: str | None,
    to_state: str,
    user_id: int | None,
    user_name: str,
    role: str,
    org: str | None,
    data: dict,
    comment: str | None,
    at: datetime,
    prev_hash: str,
    facts: dict | None = None,
) -> str:
    body = {
        "case": case_id,
        "seq": seq,
        "trigger": trigger,
        "from": from_state,
        "to": to_state,
        "user": user_id,
        "name": user_name,
        "role": role,
        "org": org,
        "data": data,
        "comment": comment,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "prev": prev_hash,
    }
    if facts is not None:  # events written before facts existed hash as they always did
        body["facts"] = facts
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def hash_of(e: Event) -> str:
    return event_hash(
        e.case_id,
        e.seq,
        e.trigger,
        e.from_state,
        e.to_state,
        e.user_id,
        e.user_name,
        e.role,
        e.org,
        e.data,
        e.comment,
        e.at,
        e.prev_hash,
        e.facts,
    )


@dataclass(frozen=True, slots=True)
class ChainBreak:
    case_id: int
    case_number: str
    seq: int | None
    problem: str
    kind: str = "altered"  # altered | deleted | inserted | reordered | out_of_step (see integrity/verify.py)

    def __str__(self) -> str:
        where = f" event #{self.seq}" if self.seq is not None else ""
        return f"case {self.case_number} (id {self.case_id}){where}: {self.problem}"


def _reordered(events: list) -> int | None:
    """The seq of the first event that cannot follow the one before it: leaving a state the case
    was not in, or chained to an event that comes after it. (Not time: two processes' clocks
    may differ by a few milliseconds.)"""
    later = {e.hash: e.seq for e in events}
    for before, e in zip(events, events[1:]):
        if e.from_state != before.to_state or later.get(e.prev_hash, 0) > e.seq:
            return e.seq
    return None


def verify_case(case: Case, events: Iterable[Event]) -> list[ChainBreak]:
    events = list(events)
    breaks: list[ChainBreak] = []
    prev = GENESIS
    expected_seq = 1
    last_to = None
    count = 0
    for e in events:
        count += 1
        if e.seq != expected_seq:
            breaks.append(
                ChainBreak(
                    case.id,
                    case.number,
                    e.seq,
                    f"expected event #{expected_seq}: events deleted or reordered",
                    "deleted" if e.seq > expected_seq else "reordered",
                )
            )
        if e.prev_hash != prev:
            breaks.append(ChainBreak(case.id, case.number, e.seq, "does not follow the previous event (chain broken)"))
        if hash_of(e) != e.hash:
            breaks.append(ChainBreak(case.id, case.number, e.seq, "content altered (hash mismatch)"))
        prev, expected_seq, last_to = e.hash, e.seq + 1, e.to_state
    moved = _reordered(events)
    if moved is not None:
        breaks.append(ChainBreak(case.id, case.number, moved, "out of order with the event before it", "reordered"))
    if count != case.event_count or prev != (case.head_hash or GENESIS):
        kind = "deleted" if count < case.event_count else "inserted" if count > case.event_count else "altered"
        breaks.append(
            ChainBreak(
                case.id,
                case.number,
                None,
                f"case records {case.event_count} events, found {count}: events deleted or added",
                kind,
            )
        )
    elif last_to is not None and last_to != case.state:
        breaks.append(
            ChainBreak(
                case.id,
                case.number,
                None,
                f"case is in '{case.state}' but its last event leads to '{last_to}'",
                "out_of_step",
            )
        )
    return breaks


def verify_all(session: Session, batch: int = 500) -> tuple[int, list[ChainBreak]]:
    """Check every case's chain; returns (cases checked, breaks)."""
    checked, breaks = 0, []
    last_id = 0
    while True:
        cases = session.exec(select(Case).where(Case.id > last_id).order_by(Case.id).limit(batch)).all()
        if not cases:
            return checked, breaks
        ids = [c.id for c in cases]
        events: dict[int, list[Event]] = {i: [] for i in ids}
        for e in session.exec(select(Event).where(Event.case_id.in_(ids)).order_by(Event.case_id, Event.seq, Event.id)):
            events[e.case_id].append(e)
        for c in cases:
            breaks.extend(verify_case(c, events[c.id]))
        checked += len(cases)
        last_id = ids[-1]
