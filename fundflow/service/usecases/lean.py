"""The lean write path of a transition: SQLAlchemy Core statements built once, rows in hand.

A plain transition is five statements and COMMIT on SQLite (two on PostgreSQL: the locked read,
then one statement of data-modifying CTEs for the writes), in ``db.lean_transaction`` (a Core
connection; no ORM session unless a step asks for one):

1. the case row, locked (PostgreSQL ``FOR UPDATE OF cases``; SQLite's ``BEGIN IMMEDIATE``
   already holds the write lock), read once with everything the engine and the reply need:
   its open stage, its community's and street office's names, its documents (type, round),
   its votes, and whether it has ledger entries or top-up notices;
2. ``UPDATE cases ... WHERE id AND version`` (the optimistic lock: no row, a 409), setting the
   columns the step changed from what ``load`` read, and the version;
3. ``INSERT`` the hash-chained event;
4. ``UPDATE`` the stage row it closes (or whose deadlines moved);
5. ``INSERT`` the stage row it opens.

No ORM unit of work: rows are plain attribute bags (``Row``) holding what the ORM instance
would hold, so ``integrity.facts`` digests them alike and the reply is built from them. The
money-moving transitions lock and write the households in scope and insert the journal entries
and top-up notices with the statements of the last part below (``usecases/ledger.py``).

Votes (``put_vote``, ``insert_ballot``) and documents (``insert_document``) take the same path:
the case row read and locked by ``load``, their rows, the event and the versioned case row
written by the statements below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Integer, String, and_, any_, bindparam, column, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from fundflow.service.prepared import Prepared, Row
from fundflow.service.tables import (
    Case,
    Community,
    Document,
    Event,
    Household,
    IdempotencyRecord,
    LedgerEntry,
    MeetingBallot,
    MeetingVote,
    Stage,
    StreetOffice,
    TopUpNotice,
)

__all__ = [
    "Row",
    "Loaded",
    "load",
    "new_stage",
    "update_case",
    "update_stage",
    "insert_stage",
    "insert_event",
    "write",
    "write_vote",
    "write_document",
    "put_vote",
    "insert_ballot",
    "insert_document",
    "households",
    "update_households",
    "insert_entries",
    "insert_top_up",
    "new_case",
    "insert_case",
]

_C = Case.__table__
_S = Stage.__table__
_E = Event.__table__
_D = Document.__table__
_V = MeetingVote.__table__
_CASE_NAMES = tuple(c.name for c in _C.c)
_STAGE_NAMES = tuple(c.name for c in _S.c)
# what a step may change on the case row (the rest is set when the case is opened; the number
# once, by the opening's own write, when the row's id is known)
_CASE_SET = (
    "number",
    "state",
    "data",
    "closed",
    "outcome",
    "suspended_since",
    "approved_amount",
    "advanced_amount",
    "settled_amount",
    "paid_amount",
    "updated_at",
    "closed_at",
    "scope_building_ids",
    "act_times",
    "doc_round",
    "renewed_documents",
    "event_count",
    "head_hash",
    "organisation_id",  # an organisation field assigns (派单) the case (issue 15)
    "handled_by",
)
_STAGE_SET = tuple(n for n in _STAGE_NAMES if n not in ("id", "case_id", "state", "entered_at"))
STAGE_DEFAULTS: dict[str, Any] = {n: None for n in _STAGE_NAMES} | {
    "provisional": False,
    "suspended_working_days": 0,
    "suspended_days": 0,
}


def _set(table, prefix: str, names) -> dict:
    """``{column: bindparam(prefix + column)}``, typed as the column, for an INSERT or UPDATE."""
    return {n: bindparam(f"{prefix}{n}", type_=table.c[n].type) for n in names}


def new_stage(case_id: int, state: str, entered_at) -> Row:
    return Row({**STAGE_DEFAULTS, "case_id": case_id, "state": state, "entered_at": entered_at})


@dataclass
class Loaded:
    case: Row
    stage: Row | None
    community: tuple[int, str] | None
    office: tuple[int, str] | None
    documents: list  # [(doc_type, round)] of every document of the case
    votes: list  # [(party, attended, vote)]
    has_ledger: bool
    has_top_ups: bool


def _agg(dialect: str, *cols):
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*cols))
    return func.json_group_array(func.json_array(*cols))


@cache  # one per database and lock
def _load_statement(dialect: str, for_update: bool) -> Prepared:
    case_id = _C.c.id
    docs = select(_agg(dialect, _D.c.doc_type, _D.c.round)).where(_D.c.case_id == case_id).scalar_subquery()
    votes = select(_agg(dialect, _V.c.party, _V.c.attended, _V.c.vote)).where(_V.c.case_id == case_id).scalar_subquery()
    led = LedgerEntry.__table__
    top = TopUpNotice.__table__
    com, off = Community.__table__, StreetOffice.__table__
    stmt = (
        select(
            *_C.c,
            *_S.c,
            com.c.id,
            com.c.name,
            off.c.id,
            off.c.name,
            docs,
            votes,
            exists().where(led.c.case_id == case_id),
            exists().where(top.c.case_id == case_id),
        )
        .select_from(
            _C.outerjoin(_S, and_(_S.c.case_id == case_id, _S.c.left_at.is_(None)))
            .outerjoin(com, com.c.id == _C.c.community_id)
            .outerjoin(off, off.c.id == _C.c.street_office_id)
        )
        .where(case_id == bindparam("case_id"))
        .order_by(_S.c.id.desc())
        .limit(1)
    )
    if for_update and dialect == "postgresql":
        stmt = stmt.with_for_update(of=_C)
    return Prepared(stmt)


def _json_list(value) -> list:
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def load(conn: Connection, case_id: int, *, for_update: bool) -> Loaded | None:
    row = _load_statement(conn.dialect.name, for_update).first(conn, {"case_id": case_id})
    if row is None:
        return None
    nc, ns = len(_CASE_NAMES), len(_STAGE_NAMES)
    case = Row(dict(zip(_CASE_NAMES, row[:nc])))
    _read_as(case, _CASE_SET)
    stage_values = row[nc : nc + ns]
    stage = Row(dict(zip(_STAGE_NAMES, stage_values))) if stage_values[0] is not None else None
    com_id, com_name, off_id, off_name, docs, votes, has_ledger, has_top = row[nc + ns :]
    return Loaded(
        case,
        stage,
        (com_id, com_name) if com_id is not None else None,
        (off_id, off_name) if off_id is not None else None,
        _json_list(docs),
        [(p, bool(a), v) for p, a, v in _json_list(votes)],
        bool(has_ledger),
        bool(has_top),
    )


# -- the case row's versioned update: only the columns a step changed --------------------------
#
# ``load`` keeps a copy of what it read of the columns a step may set (``_AS_READ``); the update
# writes those whose value differs, compared strictly (the same types all the way down: 1, 1.0
# and True are three values to a JSON column), and always the version. A row not read by
# ``load`` (a case being opened) writes every column. One statement per set of columns, built
# once (a procedure's steps change a handful of sets; past ``_MAX_SHAPES`` every column is
# written, as before).

_AS_READ = "_as_read"
_MAX_SHAPES = 256
_SHAPES: set[tuple[str, ...]] = set()


def _fresh(v: Any) -> Any:
    """A copy of a JSON value deep enough that changing the row's value in place is seen."""
    if isinstance(v, dict):
        return {k: _fresh(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_fresh(x) for x in v]
    return v


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(x, b[k]) for k, x in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _read_as(row: Row, names: tuple[str, ...]) -> None:
    d = row.__dict__
    d[_AS_READ] = {n: _fresh(d[n]) for n in names}


def _changed_columns(case: Row) -> tuple[str, ...]:
    d = case.__dict__
    read = d.get(_AS_READ)
    if read is None:
        return _CASE_SET
    changed = tuple(n for n in _CASE_SET if not _same(d[n], read[n]))
    if changed not in _SHAPES:
        if len(_SHAPES) >= _MAX_SHAPES:
            return _CASE_SET
        _SHAPES.add(changed)
    return changed


def _written(case: Row, names: tuple[str, ...]) -> None:
    """After a write: the version moved on, and what was written is now what the row holds."""
    d = case.__dict__
    d["version"] += 1
    read = d.get(_AS_READ)
    if read is not None:
        read.update({n: _fresh(d[n]) for n in names})


@cache  # one per set of columns (at most _MAX_SHAPES + 1)
def _update_case_statement(names: tuple[str, ...]) -> Prepared:
    return Prepared(_case_update(names))


def _case_update(names: tuple[str, ...]):
    """``UPDATE cases SET <names>, version WHERE id AND version`` (the optimistic lock)."""
    return (
        update(_C)
        .where(_C.c.id == bindparam("b_id"), _C.c.version == bindparam("b_version"))
        .values(_set(_C, "v_", names) | {"version": bindparam("v_version")})
    )


_UPDATE_STAGE = Prepared(update(_S).where(_S.c.id == bindparam("b_id")).values(_set(_S, "v_", _STAGE_SET)))
_STAGE_INSERTED = tuple(n for n in _STAGE_NAMES if n != "id")
_INSERT_STAGE = Prepared(insert(_S), _STAGE_INSERTED)
_EVENT_INSERTED = tuple(c.name for c in _E.c if c.name not in ("id", "gseq"))
_INSERT_EVENT = Prepared(insert(_E), _EVENT_INSERTED)
_IDEMPOTENCY = IdempotencyRecord.__table__
_INSERT_IDEMPOTENCY = Prepared(insert(_IDEMPOTENCY), tuple(c.name for c in _IDEMPOTENCY.c if c.name != "id"))


def update_case(conn: Connection, case: Row) -> bool:
    """Write the case's new values at version + 1; False if another transaction got there first."""
    names = _changed_columns(case)
    if _update_case_statement(names).rowcount(conn, _case_params(case, names)) != 1:
        return False
    _written(case, names)
    return True


def update_stage(conn: Connection, stage: Row) -> None:
    d = stage.__dict__
    params = {f"v_{n}": d[n] for n in _STAGE_SET}
    params["b_id"] = d["id"]
    _UPDATE_STAGE.rowcount(conn, params)


def insert_stage(conn: Connection, stage: Row) -> None:
    _INSERT_STAGE.rowcount(conn, stage.__dict__)


def insert_event(conn: Connection, values: dict[str, Any]) -> None:
    _INSERT_EVENT.rowcount(conn, values)


def _case_params(case: Row, names: tuple[str, ...]) -> dict[str, Any]:
    d = case.__dict__
    params = {f"v_{n}": d[n] for n in names}
    params.update(b_id=d["id"], b_version=d["version"], v_version=d["version"] + 1)
    return params


# PostgreSQL: a step's writes in one statement of data-modifying CTEs (one round trip instead
# of four): the versioned case row, the event, and the step's own rows (the stage rows of a
# transition, a document, a vote and its ballot). Each part runs once and to completion
# whatever the others return; the statement answers how many case rows matched the version
# (and a document's new id). A 0 (another transaction got there first; with the row locked by
# ``load`` it does not happen) or an error is answered by rolling the whole transaction back,
# so nothing of the statement stays. SQLite runs the same writes one statement at a time.
_COMBINED: dict[tuple, Prepared] = {}


def _combined(key: tuple, parts, names: tuple[str, ...]) -> Prepared:
    """``parts()``: the CTEs beside the case row's and the event's, and what the statement
    reads back from them besides the count of case rows (a scalar subquery, or None);
    ``names``: the case row's columns it writes (``_changed_columns``)."""
    key = (*key, names)
    prepared = _COMBINED.get(key)
    if prepared is not None:
        return prepared
    moved = _case_update(names).returning(_C.c.id).cte("moved")
    ctes, read = parts()
    ctes = [insert(_E).values(_set(_E, "e_", _EVENT_INSERTED)).cte("event_added"), *ctes]
    count = select(func.count()).select_from(moved).scalar_subquery()
    stmt = select(count, read) if read is not None else select(count)
    prepared = _COMBINED[key] = Prepared(stmt.add_cte(*ctes))
    return prepared


def _step_params(case: Row, event: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    params = _case_params(case, names)
    params.update({f"e_{n}": event[n] for n in _EVENT_INSERTED})
    return params


def _moved(case: Row, matched: int, names: tuple[str, ...]) -> bool:
    if matched != 1:
        return False
    _written(case, names)
    return True


def _stage_parts(closes: bool, opens: bool):
    def parts():
        ctes = []
        if closes:
            ctes.append(
                update(_S).where(_S.c.id == bindparam("c_id")).values(_set(_S, "c_", _STAGE_SET)).cte("changed")
            )
        if opens:
            ctes.append(insert(_S).values(_set(_S, "o_", _STAGE_INSERTED)).cte("opened"))
        return ctes, None

    return parts


def write(conn: Connection, case: Row, event: dict[str, Any], changed: Row | None, opened: Row | None) -> bool:
    """A transition's writes: the case row at version + 1, its event, the stage row it changed
    and the one it opened. False if the case row's version had moved (nothing may be kept:
    the caller raises, which rolls the transaction back)."""
    if conn.dialect.name != "postgresql":
        if not update_case(conn, case):
            return False
        insert_event(conn, event)
        if changed is not None:
            update_stage(conn, changed)
        if opened is not None:
            insert_stage(conn, opened)
        return True
    names = _changed_columns(case)
    params = _step_params(case, event, names)
    if changed is not None:
        d = changed.__dict__
        params.update({f"c_{n}": d[n] for n in _STAGE_SET})
        params["c_id"] = d["id"]
    if opened is not None:
        d = opened.__dict__
        params.update({f"o_{n}": d[n] for n in _STAGE_INSERTED})
    closes, opens = changed is not None, opened is not None
    (matched,) = _combined(("stages", closes, opens), _stage_parts(closes, opens), names).first(conn, params)
    return _moved(case, matched, names)


def insert_idempotency(conn: Connection, values: dict[str, Any]) -> None:
    _INSERT_IDEMPOTENCY.rowcount(conn, values)


# -- votes (usecases/meetings.py): the party's vote row put, the ballot appended ---------------

_VOTE_SET = ("attended", "vote", "opinion", "recorded_by", "recorded_at")
_UPDATE_VOTE = Prepared(
    update(_V)
    .where(_V.c.case_id == bindparam("b_case_id"), _V.c.party == bindparam("b_party"))
    .values(_set(_V, "v_", _VOTE_SET))
)
_VOTE_INSERTED = ("case_id", "party", *_VOTE_SET)
_INSERT_VOTE = Prepared(insert(_V), _VOTE_INSERTED)
_B = MeetingBallot.__table__
_BALLOT_INSERTED = tuple(c.name for c in _B.c if c.name != "id")
_INSERT_BALLOT = Prepared(insert(_B), _BALLOT_INSERTED)


def _vote_parts():
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    upsert = pg_insert(_V).values(_set(_V, "w_", _VOTE_INSERTED))
    upsert = upsert.on_conflict_do_update(
        index_elements=[_V.c.case_id, _V.c.party], set_={n: upsert.excluded[n] for n in _VOTE_SET}
    )
    return [upsert.cte("vote_put"), insert(_B).values(_set(_B, "a_", _BALLOT_INSERTED)).cte("ballot_added")], None


def write_vote(conn: Connection, case: Row, event: dict[str, Any], vote: Row, ballot: Row) -> bool:
    """A vote's writes: the party's vote row put, its ballot, the event, the case row at
    version + 1 (PostgreSQL: one statement, the vote row by ``INSERT ... ON CONFLICT``).
    False if the case row's version had moved (the caller raises: nothing stays)."""
    if conn.dialect.name != "postgresql":
        put_vote(conn, vote)
        insert_ballot(conn, ballot)
        if not update_case(conn, case):
            return False
        insert_event(conn, event)
        return True
    names = _changed_columns(case)
    params = _step_params(case, event, names)
    d, b = vote.__dict__, ballot.__dict__
    params.update({f"w_{n}": d[n] for n in _VOTE_INSERTED})
    params.update({f"a_{n}": b[n] for n in _BALLOT_INSERTED})
    (matched,) = _combined(("vote",), _vote_parts, names).first(conn, params)
    return _moved(case, matched, names)


def put_vote(conn: Connection, vote: Row) -> None:
    """The party's one vote row: updated if it has one, else inserted (the case row is locked,
    so no other transaction puts the same party's vote in between)."""
    d = vote.__dict__
    params = {f"v_{n}": d[n] for n in _VOTE_SET}
    params.update(b_case_id=d["case_id"], b_party=d["party"])
    if _UPDATE_VOTE.rowcount(conn, params) != 1:
        _INSERT_VOTE.rowcount(conn, d)


def insert_ballot(conn: Connection, ballot: Row) -> None:
    _INSERT_BALLOT.rowcount(conn, ballot.__dict__)


# -- documents (usecases/documents.py) -------------------------------------------------------

_DOCUMENT_INSERTED = tuple(c.name for c in _D.c if c.name != "id")
_INSERT_DOCUMENT = Prepared(insert(_D).returning(_D.c.id), _DOCUMENT_INSERTED)


def _document_parts():
    added = insert(_D).values(_set(_D, "d_", _DOCUMENT_INSERTED)).returning(_D.c.id).cte("document_added")
    return [added], select(added.c.id).scalar_subquery()


def write_document(conn: Connection, case: Row, event: dict[str, Any], doc: Row) -> bool:
    """A document's writes: its row (its id set on ``doc``: the reply names it), the event, the
    case row at version + 1 (PostgreSQL: one statement). False if the case row's version had
    moved (the caller raises: nothing stays)."""
    if conn.dialect.name != "postgresql":
        insert_document(conn, doc)
        if not update_case(conn, case):
            return False
        insert_event(conn, event)
        return True
    names = _changed_columns(case)
    params = _step_params(case, event, names)
    d = doc.__dict__
    params.update({f"d_{n}": d[n] for n in _DOCUMENT_INSERTED})
    matched, doc.id = _combined(("document",), _document_parts, names).first(conn, params)
    return _moved(case, matched, names)


def insert_document(conn: Connection, doc: Row) -> None:
    """Insert the document row; its id is set on ``doc`` (the reply names it)."""
    (doc.id,) = _INSERT_DOCUMENT.first(conn, doc.__dict__)


# -- the money a transition moves (usecases/ledger.py): households, journal, top-up notices --

_H = Household.__table__
_HOUSEHOLD_NAMES = tuple(c.name for c in _H.c)
_UPDATE_HOUSEHOLD = Prepared(
    update(_H)
    .where(_H.c.id == bindparam("b_id"))
    .values(
        balance=bindparam("v_balance", type_=_H.c.balance.type), frozen=bindparam("v_frozen", type_=_H.c.frozen.type)
    )
)
_L = LedgerEntry.__table__
_ENTRY_INSERTED = tuple(c.name for c in _L.c if c.name != "id")
_INSERT_ENTRIES = Prepared(insert(_L), _ENTRY_INSERTED)
_T = TopUpNotice.__table__
_INSERT_TOP_UP = Prepared(insert(_T), tuple(c.name for c in _T.c if c.name != "id"))


def households(conn: Connection, case: Row, *, lock: bool) -> list[Row]:
    """The households that pay for ``case`` (its community, narrowed to its buildings), by id:
    the order shares are computed in and rows are locked in (PostgreSQL ``FOR UPDATE``; SQLite
    holds ``BEGIN IMMEDIATE``), so two cases over overlapping buildings lock in the same order."""
    scoped = bool(case.scope_building_ids)
    values = {"community_id": case.community_id}
    if scoped:
        ids = [int(i) for i in case.scope_building_ids]
        values["building_ids"] = ids if conn.dialect.name == "postgresql" else json.dumps(ids)
    rows = _households_statement(conn.dialect.name, scoped, lock).all(conn, values)
    return [Row(dict(zip(_HOUSEHOLD_NAMES, r))) for r in rows]


@cache
def _households_statement(dialect: str, scoped: bool, lock: bool) -> Prepared:
    """Built once per database, scope and lock: the buildings in scope are one parameter (an
    array on PostgreSQL, a JSON list on SQLite), not an ``IN`` list rendered on every call."""
    stmt = select(*_H.c).where(_H.c.community_id == bindparam("community_id"))
    if scoped and dialect == "postgresql":
        stmt = stmt.where(_H.c.building_id == any_(bindparam("building_ids", type_=ARRAY(Integer))))
    elif scoped:
        in_scope = select(column("value", Integer)).select_from(func.json_each(bindparam("building_ids", type_=String)))
        stmt = stmt.where(_H.c.building_id.in_(in_scope))
    stmt = stmt.order_by(_H.c.id)
    if lock and dialect == "postgresql":
        stmt = stmt.with_for_update()
    return Prepared(stmt)


def update_households(conn: Connection, rows: list[Row]) -> None:
    _UPDATE_HOUSEHOLD.many(conn, [{"b_id": h.id, "v_balance": h.balance, "v_frozen": h.frozen} for h in rows])


def insert_entries(conn: Connection, entries: list[Row]) -> None:
    """The journal entries, in the order given (their ids ascend in it)."""
    _INSERT_ENTRIES.many(conn, [e.__dict__ for e in entries])


def insert_top_up(conn: Connection, notice: Row) -> None:
    _INSERT_TOP_UP.rowcount(conn, notice.__dict__)


# -- opening a case (usecases/cases.py: open_case) -------------------------------------------


def _case_defaults() -> dict[str, Any]:
    from pydantic_core import PydanticUndefined

    out = {}
    for name, field in Case.model_fields.items():
        value = field.get_default(call_default_factory=True)
        out[name] = None if value is PydanticUndefined else value
    return out


_INSERT_CASE = Prepared(insert(_C).returning(_C.c.id), tuple(n for n in _CASE_NAMES if n != "id"))


def new_case(values: dict[str, Any]) -> Row:
    """A case row in hand: the table's defaults (as the ORM model gives them) under ``values``."""
    return Row(_case_defaults() | values)


def insert_case(conn: Connection, case: Row) -> None:
    """Insert the case row at version 1; its id is set on ``case``. Its number (made from the
    id), first event and first stage follow by ``write`` (the row at version 2, as every case
    has been opened: the integrity check counts on it)."""
    (case.id,) = _INSERT_CASE.first(conn, case.__dict__)
