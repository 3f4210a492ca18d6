"""Reading the tasklist over the API, and ``fundflow audit verify`` in a test (issue 11a)."""

from __future__ import annotations

from fundflow.service.db import read_only
from fundflow.service.integrity.verify import verify_state


def assert_verified(svc) -> None:
    """``fundflow audit verify``: chains, seals, the rows each event recorded."""
    with read_only(svc.sessions) as s:
        report = verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier if svc.signer else None)
    assert report.ok, report.summary()


def tasks(world, who: str, scope: str = "org") -> list[dict]:
    """GET /api/v1/tasks as ``who``; its total is the length of its list."""
    r = world.client.get("/api/v1/tasks", params={"scope": scope}, headers=world.h(who))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return body["items"]


def of_case(items: list[dict], case_id: int) -> list[dict]:
    return [t for t in items if t["case_id"] == case_id]
