"""The bare endpoint of the HTTP comparison (``bench_http.py --compare``): FastAPI doing the
floor's UPDATE + INSERT per request, nothing else, on the same database as fundflow.

    BARE_DATABASE_URL=... python -m uvicorn benchmarks.bare_app:app

``POST /api/v1/cases/{id}/transitions`` with fundflow's body (``trigger``, ``data``):
``UPDATE bare_cases SET state, version = version + 1 WHERE id AND state = <source>`` (no row:
409, so a race has one winner here too) and ``INSERT`` one ``bare_events`` row (the trigger
and the data as JSON), in one transaction; replies with the case's id, state and version. No
authentication, no definition, no engine, no hash chain, no reply body beyond that: what the
yardstick's ``sql_floor`` does, behind the same web stack. The engine and the SQLite
connection set-up are fundflow's own (``service.db.make_engine``: WAL, ``BEGIN IMMEDIATE``,
the per-process write lock), so the two servers differ only in what they do per request.
The tables are made by ``bench_http.py`` (``create_tables``), not here.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, bindparam, insert, update

from fundflow.service.db import _WRITE_LOCKS, make_engine

SOURCE, DEST = "site_survey", "joint_meeting"
meta = MetaData()
bare_cases = Table(
    "bare_cases",
    meta,
    Column("id", Integer, primary_key=True),
    Column("state", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)
bare_events = Table(
    "bare_events",
    meta,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("from_state", String(64), nullable=False),
    Column("to_state", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
_UPDATE = (
    update(bare_cases)
    .where(bare_cases.c.id == bindparam("b_id"), bare_cases.c.state == SOURCE)
    .values(state=DEST, version=bare_cases.c.version + 1, updated_at=bindparam("b_at"))
    .returning(bare_cases.c.version)
)
_INSERT = insert(bare_events)


def create_tables(engine) -> None:
    meta.create_all(engine)


def seed(engine, n: int) -> list[int]:
    with engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                insert(bare_cases).returning(bare_cases.c.id),
                [{"state": SOURCE, "version": 1} for _ in range(n)],
            ).all()
        ]
    return ids


app = FastAPI()
_engine = None


def _db():
    global _engine
    if _engine is None:
        _engine = make_engine(os.environ["BARE_DATABASE_URL"])
    return _engine


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}


@app.post("/api/v1/cases/{case_id}/transitions")
def transition(case_id: int, body: dict) -> JSONResponse:
    engine = _db()
    lock = _WRITE_LOCKS.get(engine)
    now = datetime.now(UTC)
    with lock if lock is not None else nullcontext(), engine.begin() as conn:
        version = conn.execute(_UPDATE, {"b_id": case_id, "b_at": now}).scalar_one_or_none()
        if version is None:
            return JSONResponse({"code": "concurrent_update", "detail": "案件已被他人办理"}, status_code=409)
        conn.execute(
            _INSERT,
            {
                "case_id": case_id,
                "trigger": str(body.get("trigger")),
                "from_state": SOURCE,
                "to_state": DEST,
                "data": json.dumps(body.get("data") or {}, ensure_ascii=False),
                "at": now,
            },
        )
    return JSONResponse({"id": case_id, "state": DEST, "version": version})
