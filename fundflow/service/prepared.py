"""Core statements compiled once per dialect and run on the driver's cursor (the hot path).

SQLAlchemy's ``Connection.execute`` costs 40-60 µs a statement in Python on this machine
(the compiled cache lookup, the execution context, parameter and result set-up, events):
on SQLite more than the statement itself. A ``Prepared`` statement is compiled once per
dialect; a call applies the statement's own bind processors (the column types: ``Money`` to
fen, ``UTCDateTime`` to UTC, JSON) to the values, runs the SQL on the cursor of the
connection's current transaction and applies the result processors to the row it reads. The
transaction stays SQLAlchemy's: ``BEGIN IMMEDIATE`` (the engine's ``begin`` event), commit and
rollback are unchanged.

* A driver error goes through SQLAlchemy's own handling (``Connection._handle_dbapi_exception``):
  it is raised as ``IntegrityError``/``DBAPIError``, and a dead connection is invalidated
  with its pool, as for any other statement.
* When the engine has ``before_cursor_execute`` listeners (the benchmarks' and tests'
  statement counters), the statement is run through ``exec_driver_sql`` instead, so they see
  the same SQL text and parameters.
* A statement whose compilation would need SQLAlchemy to compute values at run time (a Python
  column default or ``onupdate`` not given) is refused when compiled: every value is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection, Dialect

__all__ = ["Prepared", "Row"]


class Row:
    """A row in hand: its columns as plain attributes (what an ORM instance keeps in ``__dict__``)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)

    def values(self, names: tuple[str, ...]) -> dict[str, Any]:
        d = self.__dict__
        return {n: d[n] for n in names}


class _Compiled:
    __slots__ = ("sql", "driver_sql", "positional", "names", "binds", "columns", "results", "cursor")

    def __init__(self, stmt, dialect: Dialect, column_keys: list[str] | None):
        # the SQL the cursor runs, with positional parameters: SQLite's ``?``; on PostgreSQL
        # ``$1``... for psycopg's RawCursor, which sends the query as it is (its usual cursor
        # rewrites ``%(name)s`` on every call of a statement longer than its cache takes:
        # 0.35 ms for a transition's write statement)
        raw_dialect = dialect
        self.cursor = None
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            import psycopg

            raw_dialect = type(dialect)(paramstyle="numeric_dollar")
            self.cursor = psycopg.RawCursor
        compiled = stmt.compile(dialect=raw_dialect, column_keys=column_keys)
        if compiled.insert_prefetch or compiled.update_prefetch:
            names = [c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
            raise ValueError(f"a prepared statement must be given every value; missing {names}")
        self.sql = compiled.string
        # what exec_driver_sql is given when statement listeners are on (the dialect's own style)
        self.driver_sql = (
            self.sql if raw_dialect is dialect else stmt.compile(dialect=dialect, column_keys=column_keys).string
        )
        # another driver keeps its own style: positional (a tuple) or named (a dict)
        self.positional = raw_dialect.positional
        self.names = (
            tuple(compiled.positiontup) if self.positional else tuple(dict.fromkeys(compiled.bind_names.values()))
        )
        binds = []
        for name in self.names:
            bp = compiled.binds[name]
            proc = bp.type.dialect_impl(dialect).bind_processor(dialect)
            if bp.required or (column_keys is not None and name in column_keys):
                binds.append((name, proc, False, None))
            else:  # a value in the statement itself (LIMIT 1): processed once
                v = bp.effective_value
                binds.append((name, None, True, v if proc is None else proc(v)))
        self.binds = tuple(binds)
        read = stmt.selected_columns if hasattr(stmt, "selected_columns") else stmt.exported_columns
        self.columns = tuple(c.type for c in read)
        self.results: tuple | None = None  # per column, on the first row read (needs the driver's type codes)

    def params(self, values: Mapping[str, Any]) -> tuple:
        return tuple(v if fixed else values[n] if p is None else p(values[n]) for n, p, fixed, v in self.binds)

    def raw_params(self, params: tuple):
        return params if self.positional else dict(zip(self.names, params))

    def driver_params(self, params: tuple):
        return self.raw_params(params) if self.driver_sql is self.sql else dict(zip(self.names, params))

    def processors(self, dialect: Dialect, cursor) -> tuple:
        if self.results is None:
            self.results = tuple(
                t.dialect_impl(dialect).result_processor(dialect, d[1])
                for t, d in zip(self.columns, cursor.description)
            )
        return self.results


class Prepared:
    """One Core statement, compiled once per dialect (``column_keys``: the values an INSERT or
    UPDATE is given, as for ``Connection.execute`` with a dict)."""

    def __init__(self, stmt, column_keys: Iterable[str] | None = None):
        self.stmt = stmt
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        c = self._by_dialect.get(dialect.name)
        if c is None:
            c = self._by_dialect[dialect.name] = _Compiled(self.stmt, dialect, self.column_keys)
        return c

    def _run(self, conn: Connection, values: Mapping[str, Any], fetch: bool | str):
        dialect = conn.dialect
        c = self.compiled(dialect)
        params = c.params(values)
        if conn.dispatch.before_cursor_execute or conn.engine.dispatch.before_cursor_execute:
            result = conn.exec_driver_sql(c.driver_sql, c.driver_params(params))
            if not fetch:
                return result.rowcount, None
            procs = c.processors(dialect, result.cursor)  # before the rows: fetching all closes the cursor
            row = result.fetchall() if fetch == "all" else result.fetchone()
            result.close()
            return -1, (row, procs)
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor() if c.cursor is None else c.cursor(dbapi)
        try:
            cursor.execute(c.sql, c.raw_params(params))
            if not fetch:
                return cursor.rowcount, None
            row = cursor.fetchall() if fetch == "all" else cursor.fetchone()
            return -1, (row, c.results or c.processors(dialect, cursor))
        except dialect.loaded_dbapi.Error as exc:
            conn._handle_dbapi_exception(exc, c.sql, params, cursor, None)
            raise  # not reached: the handler raises SQLAlchemy's exception
        finally:
            cursor.close()

    def rowcount(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Run an INSERT/UPDATE/DELETE; the number of rows it matched."""
        return self._run(conn, values, False)[0]

    def first(self, conn: Connection, values: Mapping[str, Any]) -> tuple | None:
        """Run a SELECT (or a statement with RETURNING); its first row, each column processed
        by its type as ``Connection.execute`` would, or None."""
        _, (row, procs) = self._run(conn, values, True)
        if row is None:
            return None
        return tuple(v if p is None else p(v) for v, p in zip(row, procs))

    def all(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple]:
        """Run a SELECT; every row, processed as by ``first``."""
        _, (rows, procs) = self._run(conn, values, "all")
        return [tuple(v if p is None else p(v) for v, p in zip(row, procs)) for row in rows]

    def many(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        """Run an INSERT/UPDATE once per row (the driver's executemany: psycopg pipelines it)."""
        if not rows:
            return
        dialect = conn.dialect
        c = self.compiled(dialect)
        params = [c.raw_params(c.params(r)) for r in rows]
        if conn.dispatch.before_cursor_execute or conn.engine.dispatch.before_cursor_execute:
            conn.exec_driver_sql(c.driver_sql, [c.driver_params(c.params(r)) for r in rows])
            return
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor() if c.cursor is None else c.cursor(dbapi)
        try:
            cursor.executemany(c.sql, params)
        except dialect.loaded_dbapi.Error as exc:
            conn._handle_dbapi_exception(exc, c.sql, params, cursor, None)
            raise  # not reached: the handler raises SQLAlchemy's exception
        finally:
            cursor.close()
