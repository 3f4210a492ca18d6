"""What an event says about the rows it wrote: one small rule per table.

An event's ``facts`` (hashed into the event, so covered by its chain, seal and checkpoint) hold
a digest of the case row as the event left it and, per table, what it did to that table's rows:

* ``["+", n, digest]``: appended ``n`` rows (sequence tables: stages, documents);
* ``[".", 1, digest]``: changed the newest row of the case (a stage closed, resumed, recomputed);
* ``["=", key, digest]``: put the row with this key (keyed tables: a meeting vote per party);
  ``["=", key, digest, 2]``: the same over the rule's fields of version 2 (a rule that grew
  columns keeps the digests of the events written before: ``Rule.legacy_fields``);
* ``["-", key, None]``: removed the row with this key (an assignment that lapsed).

A rule names the table, the columns it covers and how rows are found. To cover a new table,
add a rule here and have its writer pass ``RULE.added(rows)`` (or ``changed``/``put``) to
``append_event``. Columns left out are named with the reason (scan cursors, the chain's own
columns, which the verifier checks against the events directly).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import SQLModel

from fundflow.service.tables import (
    Case,
    CaseTransfer,
    Document,
    MeetingBallot,
    MeetingSession,
    MeetingVote,
    Objection,
    Stage,
    StageAssignment,
    StageExtension,
    Supervision,
)

__all__ = [
    "Before",
    "Rule",
    "CASE_FIELDS",
    "SEQUENCE_RULES",
    "KEYED_RULES",
    "RULES",
    "STAGES",
    "DOCUMENTS",
    "VOTES",
    "TRANSFERS",
    "EXTENSIONS",
    "OBJECTIONS",
    "SESSIONS",
    "BALLOTS",
    "ASSIGNMENTS",
    "SUPERVISIONS",
    "case_digest",
    "SUBJECT_FIELDS",
    "digest",
    "collect",
]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


_CONVERT: dict[type, Any] = {
    datetime: lambda v: (v - _EPOCH) // _MICROSECOND,  # µs since the epoch: exact, zone-free, cheap
    date: date.isoformat,
    Decimal: lambda v: format(v.normalize(), "f"),  # 5.00 and 5 are one amount (columns give back their scale)
}


def _value(v: Any) -> Any:
    convert = _CONVERT.get(type(v))
    return convert(v) if convert is not None else v


def _fields(row: Any, fields: tuple[str, ...]) -> list:
    """The row's values; reads an ORM instance's ``__dict__`` (attribute instrumentation costs
    ~1 µs a field), a Core row's mapping."""
    m = getattr(row, "__dict__", None)  # not ``_mapping`` first: pydantic's __getattr__ is slow to say no
    if m is None:
        m = row._mapping
    elif not all(f in m for f in fields):
        return [_value(getattr(row, f)) for f in fields]
    return [_value(m[f]) for f in fields]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def digest(rows: Iterable[Any], fields: tuple[str, ...]) -> str:
    """One digest for a group of rows, independent of their order within the group."""
    values = [_dumps(_fields(r, fields)) for r in rows]
    if len(values) > 1:
        values.sort()
    return hashlib.sha256(b"\n".join(values)).hexdigest()


# Not covered: id, version, event_count, head_hash, updated_at (checked against the events
# themselves: version and count = number of events, head = last hash, updated_at = last time).
CASE_FIELDS = (
    "number",
    "title",
    "definition_id",
    "definition_version",
    "state",
    "community_id",
    "street_office_id",
    "district_id",
    "data",
    "closed",
    "outcome",
    "suspended_since",
    "approved_amount",
    "advanced_amount",
    "settled_amount",
    "paid_amount",
    "created_by",
    "created_at",
    "closed_at",
    "scope_building_ids",
    "act_times",
    "doc_round",
    "renewed_documents",
)


#: What a case not about a community is about and who holds it (issue 15): in the digest only
#: when one is set, so a community case's digest (and every digest recorded before these columns
#: existed) stays what it was, while clearing them on an opinion, or setting them on a community
#: case, changes it.
SUBJECT_FIELDS = ("subject", "organisation_id", "handled_by")


def case_digest(case: Case) -> str:
    if any(_fields(case, SUBJECT_FIELDS)):
        return digest([case], CASE_FIELDS + SUBJECT_FIELDS)
    return digest([case], CASE_FIELDS)


@dataclass(frozen=True)
class Before:
    """How a row written before its rule existed is known (a database upgraded to the rule):
    an event of then that wrote it has no facts for the rule, but its data names the row
    (``match``: data key → the row's column, all equal) and the event's moment is the row's
    ``at`` column. Such a row is not reported as inserted; a row no event of then names is."""

    match: tuple[tuple[str, str], ...]
    at: str


@dataclass(frozen=True)
class Rule:
    name: str  # the key in an event's facts
    label: str  # how the report names a row of it
    table: type[SQLModel]
    fields: tuple[str, ...]
    key: str | None = None  # keyed rules: the column that identifies a row within the case
    # keyed rules that grew columns: the fields the events written before them digested (their
    # ops have no version); ``put`` writes version 2 over ``fields``
    legacy_fields: tuple[str, ...] | None = None
    # rules added after their table: how the rows written before them are recognised
    before: Before | None = None

    def added(self, rows: list[Any]) -> tuple[str, list]:
        return self.name, ["+", len(rows), digest(rows, self.fields)]

    def changed(self, row: Any) -> tuple[str, list]:
        return self.name, [".", 1, digest([row], self.fields)]

    def put(self, row: Any) -> tuple[str, list]:
        assert self.key is not None
        op = ["=", getattr(row, self.key), digest([row], self.fields)]
        return self.name, op + [2] if self.legacy_fields is not None else op

    def removed(self, row: Any) -> tuple[str, list]:
        assert self.key is not None
        return self.name, ["-", getattr(row, self.key), None]

    def fields_of(self, op: list) -> tuple[str, ...]:
        """The fields an event's op digested (``put`` of this rule's version, or before it)."""
        return self.fields if self.legacy_fields is None or len(op) > 3 else self.legacy_fields


# next_alert_at is left out: the alert scan moves it on (a cursor, not a record).
STAGES = Rule(
    "stages",
    "环节",
    Stage,
    (
        "state",
        "entered_at",
        "left_at",
        "due_date",
        "due_at",
        "warn_at",
        "escalate_at",
        "provisional",
        "rule",
        "calendar_source",
        "suspended_working_days",
        "suspended_days",
    ),
)
DOCUMENTS = Rule(
    "documents",
    "材料",
    Document,
    ("doc_type", "filename", "content_type", "size", "sha256", "uploaded_by", "uploaded_at", "round"),
)
VOTES = Rule(
    "votes", "表决", MeetingVote, ("party", "attended", "vote", "opinion", "recorded_by", "recorded_at"), key="party"
)

# --- hand-offs and records (issue 11b): each row keyed by its id, put by every event that writes it
# what a transfer row held before migration 0012 added the receiver's decision: the digest a
# transfer event of then recorded
_TRANSFER_BEFORE_0012 = (
    "role",
    "level",
    "from_org_id",
    "from_org_name",
    "to_org_id",
    "to_org_name",
    "reason",
    "transferred_by",
    "transferred_at",
    "event_seq",
)
TRANSFERS = Rule(
    "transfers",
    "转办",
    CaseTransfer,
    # the receiver's decision (migration 0012): pending, accepted or declined
    (*_TRANSFER_BEFORE_0012, "status", "decided_by", "decided_at", "decision_note"),
    key="id",
    legacy_fields=_TRANSFER_BEFORE_0012,
)
EXTENSIONS = Rule(
    "extensions",
    "延期申请",
    StageExtension,
    (
        "stage_id",
        "state",
        "working_days",
        "reason",
        "status",
        "approver_role",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "opinion",
        "due_date_before",
        "due_date_after",
    ),
    key="id",
)
OBJECTIONS = Rule(
    "objections",
    "业主异议",
    Objection,
    ("owner_name", "room", "text", "status", "raised_by", "raised_at", "answer", "answered_by", "answered_at"),
    key="id",
)

SESSIONS = Rule(
    "sessions", "联席会议", MeetingSession, ("state", "held_on", "venue", "convened_by", "recorded_at"), key="id"
)
# every vote recorded, appended in order (a re-vote keeps the earlier ballot)
BALLOTS = Rule(
    "ballots",
    "表决记录",
    MeetingBallot,
    ("session_id", "party", "attended", "attendees", "vote", "opinion", "recorded_by", "recorded_at"),
)

# --- tasks (issue 11a): who works on a stage (one row per stage), and the 督办 as a work item
ASSIGNMENTS = Rule(
    "assignments",
    "指派",
    StageAssignment,
    ("stage_id", "assignee_id", "assigned_by", "assigned_at", "claimed_at"),
    key="stage_id",
    # the 指派 event of then: {"stage_id", "assignee_id", ...} at the row's assigned_at
    before=Before((("stage_id", "stage_id"), ("assignee_id", "assignee_id")), "assigned_at"),
)
# overdue_round is in: the reply scan writes it with an event (the escalation of a late reply)
SUPERVISIONS = Rule(
    "supervisions",
    "督办",
    Supervision,
    (
        "stage_id",
        "state",
        "round",
        "status",
        "issuer_id",
        "issuer_role",
        "to_role",
        "to_org",
        "content",
        "reply_working_days",
        "reply_due_date",
        "reply_due_at",
        "issued_at",
        "reply",
        "replied_by",
        "replied_at",
        "overdue_round",
        "closed_by",
        "closed_at",
        "close_note",
        "reply_documents",
    ),
    key="id",
    # the 督办通知 or 续督 event of then: {"supervision_id", "round", ...} at the row's issued_at
    before=Before((("supervision_id", "id"), ("round", "round")), "issued_at"),
)

SEQUENCE_RULES: tuple[Rule, ...] = (STAGES, DOCUMENTS, BALLOTS)
# The ledger journal (ledger_entries) is covered by the record its causing event carries in
# its data (workflow.ledger_digest: count, totals per kind, sha256): see verify._journal.
KEYED_RULES: tuple[Rule, ...] = (VOTES, TRANSFERS, EXTENSIONS, OBJECTIONS, SESSIONS, ASSIGNMENTS, SUPERVISIONS)
RULES: tuple[Rule, ...] = SEQUENCE_RULES + KEYED_RULES


def collect(case: Case, writes: Iterable[tuple[str, list]]) -> dict[str, Any]:
    """The facts of one event: the case digest and the writes, grouped by table in order."""
    facts: dict[str, Any] = {"case": case_digest(case)}
    for name, op in writes:
        facts.setdefault(name, []).append(op)
    return facts
