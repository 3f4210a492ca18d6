"""Many rows in one statement: ``INSERT ... ON CONFLICT DO NOTHING [RETURNING]`` and
``UPDATE ... by id`` for a batch (the overdue scan's alerts, outbox rows and next moments).

On PostgreSQL the rows go as one array per column through ``unnest`` (one short statement,
parsed and planned once, whatever the batch size); SQLAlchemy's multi-row VALUES sent 1,000
rows as a statement of 13,000 placeholders that psycopg re-parsed on every batch, and an
executemany UPDATE as 1,000 pipelined statements. On SQLite: multi-row VALUES
(insertmanyvalues) and executemany, which cost no round trip there.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

__all__ = ["insert_ignore_many", "update_by_id"]


def insert_ignore_many(conn, table: Table, rows: list[dict[str, Any]], returning: tuple[str, ...] = ()) -> list:
    """Insert ``rows`` (all with the same keys), skipping the ones a unique key already holds;
    the ``returning`` columns of the rows inserted."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        stmt = sqlite_insert(table).on_conflict_do_nothing()
        if not returning:
            conn.execute(stmt, rows)
            return []
        return conn.execute(stmt.returning(*[table.c[n] for n in returning]), rows).all()
    names = tuple(rows[0])
    result = conn.execute(_pg_insert(table, names, returning), _arrays(conn, table, names, rows))
    return result.all() if returning else []


def update_by_id(conn, table: Table, column: str, pairs: list[tuple[int, Any]]) -> None:
    """``UPDATE table SET column = value WHERE id = id`` for each (id, value)."""
    if not pairs:
        return
    if conn.dialect.name != "postgresql":
        c = table.c
        stmt = update(table).where(c.id == bindparam("b_id")).values({column: bindparam("b_v", type_=c[column].type)})
        conn.execute(stmt, [{"b_id": i, "b_v": v} for i, v in pairs])
        return
    conn.execute(
        _pg_update(table, column),
        _arrays(conn, table, ("id", column), [{"id": i, column: v} for i, v in pairs]),
    )


def _arrays(conn, table: Table, names: tuple[str, ...], rows: list[dict[str, Any]]) -> dict[str, list]:
    """One list per column, each value as the column's type would bind it (aware datetimes
    checked and put in UTC)."""
    out = {}
    for n in names:
        values = [r[n] for r in rows]
        process = table.c[n].type.bind_processor(conn.dialect)
        out[f"a_{n}"] = values if process is None else [process(v) for v in values]
    return out


@lru_cache(maxsize=64)
def _pg_types(table: Table, names: tuple[str, ...]) -> str:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    return ", ".join(f"CAST(:a_{n} AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names)


@lru_cache(maxsize=64)
def _pg_insert(table: Table, names: tuple[str, ...], returning: tuple[str, ...]):
    cols = ", ".join(f'"{n}"' for n in names)
    sql = f'INSERT INTO "{table.name}" ({cols}) SELECT * FROM unnest({_pg_types(table, names)}) ON CONFLICT DO NOTHING'
    if returning:
        sql += " RETURNING " + ", ".join(f'"{n}"' for n in returning)
    stmt = text(sql)
    return stmt.columns(*[table.c[n] for n in returning]) if returning else stmt


@lru_cache(maxsize=64)
def _pg_update(table: Table, column: str):
    # ``t.id = ANY(ids)`` too: the rows are found by the primary key (without it the planner
    # hash-joins the whole table to the batch: not flat in the number of stages)
    types = _pg_types(table, ("id", column))
    ids = types.split(", ")[0]
    return text(
        f'UPDATE "{table.name}" AS t SET "{column}" = u.v FROM unnest({types}) AS u(id, v)'
        f" WHERE t.id = u.id AND t.id = ANY({ids})"
    )
