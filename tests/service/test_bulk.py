"""Batched writes (``service.bulk``, the overdue scan's): one statement per batch on both
databases; a row whose unique key is taken is skipped, the new rows' ids come back, datetimes
are stored as the column stores them, an update touches only the rows it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import StatementError

from fundflow.domain.tz import SHANGHAI
from fundflow.service.bulk import insert_ignore_many, update_by_id
from fundflow.service.tables import Alert, Stage

AT = datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)


def _alert(key: str, at: datetime = AT) -> dict:
    return dict(
        dedupe_key=key,
        kind="warning",
        level=0,
        repeat=0,
        case_id=None,
        stage_id=None,
        state=None,
        at=at,
        recipients=",fire_rescue,",
        title=f"提醒 {key}",
        message="即将到期",
        provisional=False,
        created_at=at,
    )


def _statements(engine, block) -> list[str]:
    seen: list[str] = []
    listener = lambda c, cur, st, params, ctx, many: seen.append(st)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        block()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return [st for st in seen if not st.lstrip().upper().startswith(("BEGIN", "COMMIT"))]


def test_taken_keys_are_skipped_and_the_new_ids_come_back(services):
    table = Alert.__table__
    with services.db.begin() as conn:
        first = insert_ignore_many(conn, table, [_alert("a"), _alert("b")], ("dedupe_key", "id"))
    assert sorted(k for k, _ in first) == ["a", "b"]
    rows = [_alert(k, AT + timedelta(minutes=i)) for i, k in enumerate(["b", "c", "d"])]
    second: list = []
    with services.db.begin() as conn:
        sent = _statements(
            services.db, lambda: second.extend(insert_ignore_many(conn, table, rows, ("dedupe_key", "id")))
        )
    assert len(sent) == 1  # one statement for the batch
    assert sorted(k for k, _ in second) == ["c", "d"]
    with services.db.connect() as conn:
        stored = dict(conn.execute(select(table.c.dedupe_key, table.c.id)).all())
        ats = dict(conn.execute(select(table.c.dedupe_key, table.c.at)).all())
    assert set(stored) == {"a", "b", "c", "d"}
    assert dict(first) | dict(second) == stored
    assert ats["b"] == AT.astimezone(UTC)  # the first "b" stays
    assert ats["d"] == (AT + timedelta(minutes=2)).astimezone(UTC)
    with services.db.begin() as conn:
        assert insert_ignore_many(conn, table, [], ("id",)) == []


def test_a_naive_datetime_is_refused(services):
    with services.db.begin() as conn, pytest.raises((ValueError, StatementError), match="naive"):
        insert_ignore_many(conn, Alert.__table__, [_alert("n", datetime(2026, 3, 9, 9, 0))])


def test_update_by_id_sets_only_the_rows_named(world, flow):
    ids = [flow.open(title=f"案件 {i}") for i in range(3)]
    svc = world.svc
    stages = Stage.__table__
    with svc.db.connect() as conn:
        stage_ids = list(
            conn.execute(select(stages.c.id).where(stages.c.case_id.in_(ids)).order_by(stages.c.case_id)).scalars()
        )
        before = dict(conn.execute(select(stages.c.id, stages.c.next_alert_at)).all())
    later = AT + timedelta(days=3)
    with svc.db.begin() as conn:
        sent = _statements(
            svc.db, lambda: update_by_id(conn, stages, "next_alert_at", [(stage_ids[0], later), (stage_ids[2], None)])
        )
    assert len(sent) == 1  # one statement (an executemany on SQLite)
    with svc.db.connect() as conn:
        after = dict(conn.execute(select(stages.c.id, stages.c.next_alert_at)).all())
    assert after[stage_ids[0]] == later.astimezone(UTC)
    assert after[stage_ids[2]] is None
    assert after[stage_ids[1]] == before[stage_ids[1]] is not None
    assert {k: v for k, v in after.items() if k not in (stage_ids[0], stage_ids[2])} == {
        k: v for k, v in before.items() if k not in (stage_ids[0], stage_ids[2])
    }
