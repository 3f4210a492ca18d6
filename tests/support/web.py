"""The pages' test world: the small city with a browser-like client per user, and CSRF tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from tests.support.flows import Flow
from tests.support.world import World

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


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
