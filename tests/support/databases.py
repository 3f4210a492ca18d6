"""The two databases the service tests run on: SQLite and PostgreSQL.

PostgreSQL comes from ``FUNDFLOW_TEST_DATABASE_URL`` (default: the local server,
``postgresql://postgres@127.0.0.1:5432/test``); each test process works in a schema of its
own, so parallel workers (pytest-xdist) never share tables.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from fundflow.service.context import Services
from fundflow.service.tables import metadata

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def pg_base_url() -> str:
    return os.environ.get("FUNDFLOW_TEST_DATABASE_URL", DEFAULT_PG)


def pg_or_skip(url: str) -> None:
    try:
        eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:
        message = f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: PostgreSQL is required)", pytrace=False)
        pytest.skip(message)


def drop_schema(admin, schema: str) -> None:
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def wipe(svc: Services) -> None:
    with svc.db.begin() as conn:
        if svc.db.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(metadata.sorted_tables):
                conn.execute(t.delete())
