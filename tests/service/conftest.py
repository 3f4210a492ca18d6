"""Database tests run on SQLite and on PostgreSQL.

PostgreSQL comes from ``FUNDFLOW_TEST_DATABASE_URL`` (default: the local server,
``postgresql://postgres@127.0.0.1:5432/test``). Each test session works in a schema of its
own. Without a server the PostgreSQL half is skipped locally, and fails under ``CI=true``.

The helpers live in ``tests/support`` (``databases``, ``world``, ``flows``); the fixtures here:
``database_url`` (one migrated database per backend and process), ``services`` (emptied),
``world`` (the small city), ``clock`` (the API's clock, fixed) and ``flow`` (a ``Flow`` on the world).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from fundflow.http.deps import get_now
from fundflow.service.config import Settings
from fundflow.service.context import Services, build_services
from fundflow.service.migrate import upgrade
from tests.support.databases import BACKENDS, drop_schema, pg_base_url, pg_or_skip, wipe
from tests.support.flows import Flow
from tests.support.world import NOW, World, build_world


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgresql_only`` are about PostgreSQL's own behaviour: they are not
    collected for SQLite at all (deselected, not skipped); ``sqlite_only`` the other way round."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        only_pg = item.get_closest_marker("postgresql_only") and backend == "sqlite"
        only_sqlite = item.get_closest_marker("sqlite_only") and backend not in (None, "sqlite")
        (drop if only_pg or only_sqlite else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'fundflow.db'}"
    else:
        base = pg_base_url()
        pg_or_skip(base)
        schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options=-csearch_path%3D{schema}"
        request.addfinalizer(lambda: drop_schema(admin, schema))
    settings = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("data"))
    svc = build_services(settings)
    upgrade(svc.db)
    svc.close()
    return url


@pytest.fixture
def services(database_url, tmp_path) -> Services:
    svc = build_services(Settings(database_url=database_url, data_dir=tmp_path / "data"))
    wipe(svc)
    yield svc
    svc.close()


@pytest.fixture
def world(services) -> World:
    w = build_world(services)
    yield w
    w.client.close()


@pytest.fixture
def clock(world):
    """The API's clock, fixed: ``clock(moment)`` sets it (at first ``NOW``)."""

    def set_(moment: datetime) -> None:
        world.client.app.dependency_overrides[get_now] = lambda: moment

    set_(NOW)
    yield set_
    world.client.app.dependency_overrides.pop(get_now, None)


@pytest.fixture
def flow(world) -> Flow:
    world.client.app.dependency_overrides[get_now] = lambda: NOW
    return Flow(world)
