"""The hot path's statements on the driver's cursor (``service/prepared.py``, ``usecases/lean.py``),
on both databases: the same rows as the traced path, SQLAlchemy's exceptions for driver errors,
one write statement per transition on PostgreSQL, and a refused write that leaves nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from fundflow.domain.tz import SHANGHAI
from fundflow.service.db import transaction
from fundflow.service.prepared import Prepared
from fundflow.service.tables import Case, Event, Stage
from fundflow.service.usecases import lean
from tests.support.statements import traced

SURVEY = {"survey_date": "2026-03-01", "survey_findings": "楼道堆放杂物"}


def _at_survey(flow) -> int:
    case_id = flow.open()
    flow.advance(case_id, "site_survey")
    flow.doc(case_id, "site_record")
    return case_id


def _rows(svc, case_id: int):
    with svc.sessions() as s:
        case = s.get(Case, case_id)
        stages = s.exec(select(Stage).where(Stage.case_id == case_id).order_by(Stage.id)).scalars().all()
        last = s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq.desc())).scalars().first()
        keep = ("state", "entered_at", "left_at", "due_date", "due_at", "warn_at", "next_alert_at", "provisional")
        return (
            (case.state, case.version, case.data, case.act_times, case.approved_amount, case.updated_at),
            [tuple(getattr(st, n) for n in keep) for st in stages],
            # the facts digest the case's own ids: their shape, not their values
            (last.trigger, last.from_state, last.to_state, last.data, last.at, sorted(last.facts)),
        )


def test_the_cursor_path_writes_what_the_traced_path_writes(flow):
    raw_case, traced_case = _at_survey(flow), _at_survey(flow)
    flow.fire("so", raw_case, "complete_survey", SURVEY)
    _, sent = traced(flow.svc.db, lambda: flow.fire("so", traced_case, "complete_survey", SURVEY))
    raw, through_listeners = _rows(flow.svc, raw_case), _rows(flow.svc, traced_case)
    assert raw == through_listeners
    case_columns, stages, _ = raw
    assert case_columns[0] == "joint_meeting"
    assert case_columns[5].tzinfo is not None  # read back aware, through the column's own type
    assert stages[-1][0] == "joint_meeting" and stages[-1][2] is None and stages[-2][2] is not None
    # the locked read, then the writes: one statement of CTEs on PostgreSQL, four on SQLite
    assert len(sent) == (2 if flow.svc.db.dialect.name == "postgresql" else 5), sent


def test_money_and_moments_round_trip_through_the_cursor(flow):
    case_id = _at_survey(flow)
    with transaction(flow.svc.sessions) as s:
        conn = s.connection()
        got = lean.load(conn, case_id, for_update=True)
        got.case.approved_amount = Decimal("12345.67")
        assert lean.update_case(conn, got.case)
    with transaction(flow.svc.sessions) as s:
        again = lean.load(s.connection(), case_id, for_update=False)
    assert again.case.approved_amount == Decimal("12345.67")
    assert again.case.version == got.case.version
    assert again.stage.entered_at.tzinfo is not None and again.stage.state == "site_survey"


def test_a_driver_error_is_raised_as_sqlalchemys_and_nothing_stays(flow):
    case_id = _at_survey(flow)
    with flow.svc.sessions() as s:
        seq = s.exec(select(func.max(Event.seq)).where(Event.case_id == case_id)).scalar_one()
    values = {c.name: None for c in Event.__table__.c if c.name not in ("id", "gseq")}
    values |= {"case_id": case_id, "seq": seq, "trigger": "x", "label": "x", "to_state": "x", "user_name": "x"}
    values |= {"role": "x", "data": {}, "at": flow.now, "prev_hash": "0", "hash": "0", "facts": {}}
    stmt = Prepared(insert(Event.__table__), list(values))
    with pytest.raises(IntegrityError):  # (case_id, seq) is taken
        with transaction(flow.svc.sessions) as s:
            stmt.rowcount(s.connection(), values)
    with flow.svc.sessions() as s:
        assert s.exec(select(func.count()).select_from(Event).where(Event.case_id == case_id)).scalar_one() == seq


def test_a_write_at_a_moved_version_keeps_nothing(flow):
    """On PostgreSQL the event and the stage rows are in the same statement as the versioned case
    row: when the version has moved, the caller's error rolls all of it back."""
    case_id = _at_survey(flow)
    before = _rows(flow.svc, case_id)

    class Moved(Exception):
        pass

    with pytest.raises(Moved):
        with transaction(flow.svc.sessions) as s:
            conn = s.connection()
            got = lean.load(conn, case_id, for_update=True)
            case, stage = got.case, got.stage
            case.version -= 1  # as if another transaction had moved it on
            stage.left_at = flow.now
            opened = lean.new_stage(case_id, "joint_meeting", flow.now)
            values = {c.name: None for c in Event.__table__.c if c.name not in ("id", "gseq")}
            values |= {"case_id": case_id, "seq": case.event_count + 1, "trigger": "x", "label": "x"}
            values |= {"to_state": "x", "user_name": "x", "role": "x", "data": {}, "at": flow.now}
            values |= {"prev_hash": "0", "hash": "0", "facts": {}}
            if not lean.write(conn, case, values, stage, opened):
                raise Moved
    assert _rows(flow.svc, case_id) == before


def test_a_statement_that_needs_a_default_is_refused_when_compiled(flow):
    stmt = Prepared(insert(Stage.__table__), ["case_id", "state", "entered_at"])
    with pytest.raises(ValueError, match="provisional"):
        stmt.compiled(flow.svc.db.dialect)


def test_a_document_and_a_vote_write_in_one_statement_on_postgresql(flow):
    from fundflow.service.usecases import documents, meetings

    case_id = flow.open()
    flow.advance(case_id, "joint_meeting")
    pg = flow.svc.db.dialect.name == "postgresql"
    doc, sent = traced(
        flow.svc.db,
        lambda: documents.attach_document(
            flow.svc,
            flow.u["so"],
            case_id,
            doc_type="meeting_minutes",
            filename="纪要.pdf",
            content_type="application/pdf",
            content=b"minutes",
            now=flow.now,
        ),
    )
    assert len(sent) == (2 if pg else 4), sent  # the locked read; the document, case row and event
    with flow.svc.sessions() as s:
        from fundflow.service.tables import Document

        assert s.get(Document, doc["id"]).filename == "纪要.pdf"  # the id the reply names is the row's
    for choice in ("disagree", "agree"):  # the second puts the same party's row again (ON CONFLICT)
        reply, sent = traced(
            flow.svc.db,
            lambda choice=choice: meetings.record_vote(
                flow.svc,
                flow.u["fc"],
                case_id,
                party="fund_center",
                attended=True,
                vote=choice,
                opinion=None,
                now=flow.now,
            ),
        )
        # the locked read, the sitting, the writes (one statement on PostgreSQL), the votes
        assert len(sent) <= (4 if pg else 8), sent
        assert [(v["party"], v["vote"]) for v in reply.body["votes"]] == [("fund_center", choice)]


def test_opening_a_case_is_lean_and_reads_back_as_written(flow):
    case_id, sent = traced(flow.svc.db, flow.open)
    pg = flow.svc.db.dialect.name == "postgresql"
    # the community and its office; the row; its number, first event and first stage
    assert len(sent) == (4 if pg else 6), sent
    with flow.svc.sessions() as s:
        case = s.get(Case, case_id)
        stages = s.exec(select(Stage).where(Stage.case_id == case_id)).scalars().all()
        events = s.exec(select(Event).where(Event.case_id == case_id)).scalars().all()
    assert case.number == f"FF{case.opened_at.astimezone(SHANGHAI).year}{case_id:06d}" and case.version == 2
    assert case.event_count == 1 and case.head_hash == events[0].hash
    assert [(st.state, st.left_at) for st in stages] == [("reported", None)] and stages[0].due_at is not None
    assert flow.state(case_id) == "reported"


@pytest.mark.parametrize("buildings", [None, ["1栋"], ["1栋", "2栋"]])
def test_the_households_in_scope_are_read_by_one_prepared_statement(flow, buildings):
    """The buildings in scope are one parameter (PostgreSQL an array, SQLite a JSON list): the
    rows are the community's households in those buildings, by id, as an ``IN`` list reads them."""
    from fundflow.service.tables import Building, Household

    case_id = flow.open(buildings=buildings)
    with transaction(flow.svc.sessions) as s:
        case = lean.load(s.connection(), case_id, for_update=True).case
        got = [h.id for h in lean.households(s.connection(), case, lock=True)]
        expected = select(Household.id).where(Household.community_id == case.community_id)
        if buildings:
            names = s.execute(select(Building.name).where(Building.id.in_(case.scope_building_ids))).scalars().all()
            assert sorted(names) == sorted(buildings)
            expected = expected.where(Household.building_id.in_(case.scope_building_ids))
        want = s.execute(expected.order_by(Household.id)).scalars().all()
    assert got == want and got
    if buildings == ["1栋"]:
        with transaction(flow.svc.sessions) as s:
            everyone = s.execute(select(func.count()).select_from(Household)).scalar_one()
        assert len(got) < everyone  # narrowed, not the whole community


def _case_update_columns(sent: list[str]) -> str:
    """The SET part of the statement that writes the case row (SQLite's UPDATE, PostgreSQL's CTE)."""
    (stmt,) = [st for st in sent if "UPDATE cases SET" in st]
    return stmt.split("UPDATE cases SET", 1)[1].split("WHERE", 1)[0]


def test_a_step_writes_only_the_case_columns_it_changed(flow):
    case_id = _at_survey(flow)
    version = _rows(flow.svc, case_id)[0][1]
    _, sent = traced(flow.svc.db, lambda: flow.fire("so", case_id, "complete_survey", SURVEY))
    written = _case_update_columns(sent)
    for changed in ("state", "data", "act_times", "event_count", "head_hash", "version"):
        assert f"{changed}=" in written.replace(" ", ""), (changed, written)
    for same in ("scope_building_ids", "renewed_documents", "approved_amount", "closed", "number"):
        assert f"{same}=" not in written.replace(" ", ""), (same, written)
    case_columns, stages, _ = _rows(flow.svc, case_id)  # and the row holds the step's values
    assert case_columns[0] == "joint_meeting" and case_columns[1] == version + 1
    assert case_columns[2]["survey_findings"] == SURVEY["survey_findings"]


@pytest.mark.parametrize("sequence", [[1, True, 1.0, "1", 1], [{"a": [1]}, {"a": [True]}, {"a": [1, 2]}]])
def test_a_change_of_type_alone_is_written(flow, sequence):
    """1, True, 1.0 and "1" are four values to a JSON column though Python finds three of them
    equal: each is written, and the row's digest (integrity.facts) stays the row's."""
    case_id = _at_survey(flow)
    for value in sequence:
        with transaction(flow.svc.sessions) as s:
            conn = s.connection()
            case = lean.load(conn, case_id, for_update=True).case
            case.data = {**case.data, "x": value}
            assert lean.update_case(conn, case)
        with transaction(flow.svc.sessions) as s:
            stored = lean.load(s.connection(), case_id, for_update=False).case.data["x"]
        assert stored == value and type(stored) is type(value)
        if isinstance(value, dict):
            assert [type(v) for v in stored["a"]] == [type(v) for v in value["a"]]


def test_a_value_changed_in_place_is_written_and_two_writes_in_one_transaction_both_count(flow):
    case_id = _at_survey(flow)
    with transaction(flow.svc.sessions) as s:
        conn = s.connection()
        case = lean.load(conn, case_id, for_update=True).case
        case.data["in_place"] = ["a"]  # the same dict, changed
        assert lean.update_case(conn, case)
        case.data["in_place"].append("b")  # the same list, changed after the first write
        case.act_times = {**case.act_times, "later": "2026-03-02T00:00:00+00:00"}
        assert lean.update_case(conn, case)
    with transaction(flow.svc.sessions) as s:
        again = lean.load(s.connection(), case_id, for_update=False).case
    assert again.data["in_place"] == ["a", "b"] and "later" in again.act_times
    assert again.version == case.version
