"""The pages, tested two ways: TestClient (fast, fixed clock) and a real Chromium (``test_browser``).

The fast tests run on SQLite: the pages call the same use cases as the API, whose storage is
tested on both databases in ``tests/service``. Each test gets a copy of one migrated database.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fundflow.http.deps import get_now
from fundflow.service.config import Settings
from fundflow.service.context import build_services
from fundflow.service.migrate import upgrade
from tests.service.conftest import NOW, World, build_world
from tests.service.test_money import Flow

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web-template") / "fundflow.db"
    svc = build_services(Settings(database_url=f"sqlite:///{path}"))
    upgrade(svc.db)
    svc.close()
    return path


@dataclass
class Web:
    """The small city of ``tests/service`` with a browser-like client per user."""

    world: World
    flow: Flow
    app: object
    clients: dict[str, TestClient] = field(default_factory=dict)

    @property
    def svc(self):
        return self.world.svc

    @property
    def ids(self):
        return self.world.ids

    def as_(self, who: str) -> TestClient:
        """A client signed in as ``who`` (its session cookie holds the user's token)."""
        if who not in self.clients:
            client = TestClient(self.app, follow_redirects=False)
            client.cookies.set("fundflow_token", self.world.tokens[who])
            self.clients[who] = client
        return self.clients[who]

    def anonymous(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        self.clients[f"anon{len(self.clients)}"] = client
        return client

    def csrf(self, who: str, path: str = "/") -> str:
        return csrf_of(self.as_(who).get(path).text)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.world.client.close()
        self.svc.close()


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


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
