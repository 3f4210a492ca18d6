"""The pages, tested two ways: TestClient (fast, fixed clock) and a real Chromium (``test_browser``).

The fast tests run on SQLite: the pages call the same use cases as the API, whose storage is
tested on both databases in ``tests/service``. Each test gets a copy of one migrated database.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fundflow.http.deps import get_now
from fundflow.service.config import Settings
from fundflow.service.context import build_services
from fundflow.service.migrate import upgrade
from tests.support.flows import Flow
from tests.support.web import Web
from tests.support.world import NOW, build_world


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web-template") / "fundflow.db"
    svc = build_services(Settings(database_url=f"sqlite:///{path}", data_dir=path.parent / "data"))
    upgrade(svc.db)
    svc.close()
    return path


@pytest.fixture
def web(migrated_db, tmp_path) -> Web:
    db = tmp_path / "fundflow.db"
    shutil.copy(migrated_db, db)
    svc = build_services(Settings(database_url=f"sqlite:///{db}", data_dir=tmp_path / "data"))
    world = build_world(svc)
    app = world.client.app
    app.dependency_overrides[get_now] = lambda: NOW
    w = Web(world, Flow(world), app)
    yield w
    w.close()
