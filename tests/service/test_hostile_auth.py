"""Hostile callers: wrong, malformed, expired and revoked tokens, inactive users and another
jurisdiction's ids are each answered with the right 4xx and a JSON ``{code, message, detail}``,
never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fundflow.http import deps
from fundflow.service.auth import issue_token
from fundflow.service.db import transaction
from fundflow.service.tables import User
from fundflow.service.usecases import users
from tests.support.world import NOW

API = "/api/v1"
READS = ["/me", "/cases", "/stats", "/alerts", "/definitions"]


def assert_error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "message", "detail"}, body
    assert body["message"] and not body["message"].isascii(), body  # Chinese for people
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def case_id(world) -> int:
    r = world.client.post(
        f"{API}/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "消防泵"},
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = world.client.post(
        f"{API}/cases/{cid}/documents",
        data={"doc_type": "hazard_photos"},
        files={"file": ("p.jpg", b"\xff\xd8photo", "image/jpeg")},
        headers=world.h("so"),
    )
    assert r.status_code == 201, r.text
    return cid


def _fixed_clock(world, moment):
    world.client.app.dependency_overrides[deps.get_now] = lambda: moment


@pytest.fixture
def clock(world):
    yield lambda moment: _fixed_clock(world, moment)
    world.client.app.dependency_overrides.pop(deps.get_now, None)


MALFORMED = [
    "",  # empty
    "Bearer",  # scheme, no token
    "Bearer ",  # scheme, blank token
    "Basic c286cGFzc3dvcmQtMTIz",  # another scheme (so:password-123)
    "Token ff_abc",  # an unknown scheme
    "Bearer ff_" + "A" * 10_240,  # 10 KB long
    "Bearer " + "x" * 10_240,  # 10 KB, not even our prefix
    "Bearer ff_wrong-token-but-right-prefix",
    "Bearer not-a-token-at-all",
    "Bearer ff_' OR '1'='1",
    "Bearer ff_%00",
    "Bearer\tff_tab",
    "bearer  ff_two-spaces",
]


def test_malformed_and_wrong_authorization_headers_are_401(world):
    for header in MALFORMED:
        for path in READS:
            r = world.client.get(API + path, headers={"Authorization": header})
            assert_error(r, 401)
        r = world.client.post(
            f"{API}/cases",
            headers={"Authorization": header},
            json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"},
        )
        assert_error(r, 401)
    assert world.client.get(f"{API}/cases", headers=world.h("fc")).json()["total"] == 0  # nothing was opened


def test_a_token_without_its_scheme_and_non_ascii_headers_are_401(world):
    r = world.client.get(f"{API}/me", headers={"Authorization": world.tokens["so"]})  # no "Bearer "
    assert_error(r, 401, "not_authenticated")
    r = world.client.get(f"{API}/me", headers={"Authorization": "Bearer ff_caf\xe9".encode("latin-1")})
    assert_error(r, 401, "invalid_token")
    r = world.client.get(f"{API}/me", headers={"Authorization": "Bearer ff_令牌".encode()})
    assert_error(r, 401, "invalid_token")
    # the right token still works beside them
    assert world.client.get(f"{API}/me", headers=world.h("so")).status_code == 200


def test_no_credentials_and_bad_cookies(world):
    assert_error(world.client.get(f"{API}/cases"), 401, "not_authenticated")
    world.client.cookies.set("fundflow_token", "ff_forged-cookie")
    try:
        assert_error(world.client.get(f"{API}/cases"), 401, "invalid_token")
        world.client.cookies.set("fundflow_token", world.tokens["so"])
        # a cookie reads, but writes need the bearer header (no cross-site forgery)
        assert world.client.get(f"{API}/cases").status_code == 200
        r = world.client.post(
            f"{API}/cases",
            json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"},
        )
        assert_error(r, 401, "bearer_required")
    finally:
        world.client.cookies.clear()


def test_an_expired_session_token_is_401(world, clock):
    with transaction(world.svc.sessions) as s:
        user = s.get(User, world.ids["user_so"])
        token = issue_token(s, user, "session", NOW - timedelta(hours=13), timedelta(hours=12))  # expired NOW - 1 h
    headers = {"Authorization": f"Bearer {token}"}
    clock(NOW - timedelta(hours=2))  # still valid then: the clock override is what decides
    assert world.client.get(f"{API}/me", headers=headers).status_code == 200
    clock(NOW - timedelta(hours=1))  # expires_at itself: no longer valid
    assert_error(world.client.get(f"{API}/me", headers=headers), 401, "invalid_token")
    clock(NOW)
    for path in READS:
        assert_error(world.client.get(API + path, headers=headers), 401, "invalid_token")
    r = world.client.post(
        f"{API}/cases",
        headers=headers,
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "过期令牌"},
    )
    assert_error(r, 401, "invalid_token")
    # a login's session token at a clock past its lifetime
    clock(NOW)
    r = world.client.post(f"{API}/login", json={"username": "so", "password": "password-123"})
    assert r.status_code == 200, r.text
    session = r.json()["token"]
    clock(NOW + timedelta(hours=world.svc.settings.session_hours, seconds=1))
    assert_error(world.client.get(f"{API}/me", headers={"Authorization": f"Bearer {session}"}), 401, "invalid_token")


def test_a_revoked_token_is_401(world):
    r = world.client.post(f"{API}/login", json={"username": "so", "password": "password-123"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get(f"{API}/me", headers=headers).status_code == 200
    users.logout(world.svc, token)
    assert_error(world.client.get(f"{API}/me", headers=headers), 401, "invalid_token")
    assert_error(world.client.get(f"{API}/cases", headers=headers), 401, "invalid_token")


def test_wrong_passwords_are_401_without_saying_which_part(world):
    for body in (
        {"username": "so", "password": "wrong-password"},
        {"username": "nobody", "password": "password-123"},
        {"username": "fc", "password": "password-123"},
    ):  # fc has no password at all
        b = assert_error(world.client.post(f"{API}/login", json=body), 401, "bad_credentials")
        assert b["detail"] is None
    for body in ({}, {"username": "so"}, {"username": "x" * 10_000, "password": "y" * 10_000}, [1, 2]):
        r = world.client.post(f"{API}/login", json=body)
        assert r.status_code in (401, 422), r.text
        assert set(r.json()) == {"code", "message", "detail"}


def test_an_inactive_users_tokens_and_password_are_refused(world):
    r = world.client.post(f"{API}/login", json={"username": "so", "password": "password-123"})
    session = r.json()["token"]
    with transaction(world.svc.sessions) as s:
        user = s.get(User, world.ids["user_so"])
        user.active = False
        s.add(user)
    for headers in (world.h("so"), {"Authorization": f"Bearer {session}"}):
        assert_error(world.client.get(f"{API}/me", headers=headers), 401, "invalid_token")
        assert_error(world.client.get(f"{API}/cases", headers=headers), 401, "invalid_token")
    assert_error(
        world.client.post(f"{API}/login", json={"username": "so", "password": "password-123"}), 401, "bad_credentials"
    )


def test_another_jurisdictions_ids_are_404(world, case_id):
    """A case, its events, documents, votes, apportionment and transitions are 404 to users of
    another street office, district or community, exactly as for an id that does not exist."""
    docs = world.client.get(f"{API}/cases/{case_id}/documents", headers=world.h("so")).json()
    doc_id = docs[0]["id"]
    reads = [
        f"/cases/{case_id}",
        f"/cases/{case_id}/events",
        f"/cases/{case_id}/documents",
        f"/cases/{case_id}/documents/{doc_id}",
        f"/cases/{case_id}/votes",
        f"/cases/{case_id}/apportionment",
        f"/cases/{case_id}/apportionment.xlsx",
    ]
    for who in ("so_other", "fr_other", "pc_other"):
        for path in reads:
            assert_error(world.client.get(API + path, headers=world.h(who)), 404, "case_not_found")
        r = world.client.post(
            f"{API}/cases/{case_id}/transitions",
            headers=world.h(who),
            json={"trigger": "withdraw", "data": {"reason": "不是我的案件"}},
        )
        assert_error(r, 404, "case_not_found")
        r = world.client.post(
            f"{API}/cases/{case_id}/votes",
            headers=world.h(who),
            json={"party": "street_office", "attended": True, "vote": "agree"},
        )
        assert_error(r, 404, "case_not_found")
        r = world.client.post(
            f"{API}/cases/{case_id}/documents",
            data={"doc_type": "hazard_photos"},
            files={"file": ("x.jpg", b"x", "image/jpeg")},
            headers=world.h(who),
        )
        assert_error(r, 404, "case_not_found")
        assert_error(
            world.client.get(f"{API}/communities/{world.ids['community_a']}", headers=world.h(who)),
            404,
            "community_not_found",
        )
        listed = world.client.get(f"{API}/cases", headers=world.h(who)).json()
        assert case_id not in [c["id"] for c in listed["items"]]
    # the same answer as for a case that does not exist at all
    missing = assert_error(world.client.get(f"{API}/cases/{case_id + 1000}", headers=world.h("so")), 404)
    other = assert_error(world.client.get(f"{API}/cases/{case_id}", headers=world.h("so_other")), 404)
    assert missing["code"] == other["code"] and missing["message"] == other["message"]
    # a document id of one case through another case's URL
    other_case = world.client.post(
        f"{API}/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "另一案件"},
    ).json()["id"]
    r = world.client.get(f"{API}/cases/{other_case}/documents/{doc_id}", headers=world.h("so"))
    assert_error(r, 404)
    # nothing was written by any refusal
    events = world.client.get(f"{API}/cases/{case_id}/events", headers=world.h("so")).json()
    assert [e["trigger"] for e in events] == ["open", "attach_document"]


def test_the_transition_reads_its_token_in_its_own_transaction(world, case_id):
    """POST .../transitions reads the token inside the write's transaction (usecases.cases):
    a missing, forged or revoked token, or the pages' cookie alone, is refused as on every
    route, nothing is written, and the case fires for the real caller afterwards."""
    url = f"{API}/cases/{case_id}/transitions"
    body = {"trigger": "withdraw", "data": {"reason": "重复登记"}}

    def version() -> int:
        return world.client.get(f"{API}/cases/{case_id}", headers=world.h("so")).json()["version"]

    before = version()
    assert_error(world.client.post(url, json=body), 401, "not_authenticated")
    assert_error(world.client.post(url, json=body, headers={"Authorization": "Bearer ff_forged"}), 401, "invalid_token")
    world.client.cookies.set("fundflow_token", world.tokens["so"])
    try:
        assert_error(world.client.post(url, json=body), 401, "bearer_required")
    finally:
        world.client.cookies.clear()
    old = world.tokens["so"]
    users.revoke_tokens(world.svc, "so")
    assert_error(world.client.post(url, json=body, headers={"Authorization": f"Bearer {old}"}), 401, "invalid_token")
    world.tokens["so"] = users.new_api_token(world.svc, "so", NOW)
    assert version() == before  # nothing was written by the refused calls
    r = world.client.post(url, json=body, headers=world.h("so"))
    assert r.status_code == 200, r.text
    assert r.json()["version"] == before + 1


def test_a_vote_and_an_upload_read_their_token_in_their_own_transaction(world, case_id):
    """POST .../votes and .../documents read the token inside the write's transaction too: a
    forged or revoked token is 401 and writes nothing (no row, no file); the real caller's
    token then works."""
    docs = f"{API}/cases/{case_id}/documents"
    upload = {"doc_type": (None, "hazard_photos"), "file": ("现场.jpg", b"photo", "image/jpeg")}
    forged = {"Authorization": "Bearer ff_forged"}
    files = sorted(world.svc.settings.documents_dir.glob(f"{case_id}/*"))  # the fixture's photo
    assert_error(world.client.post(docs, files=upload, headers=forged), 401, "invalid_token")
    assert len(world.client.get(docs, headers=world.h("so")).json()) == 1
    assert sorted(world.svc.settings.documents_dir.glob(f"{case_id}/*")) == files  # no file either
    old = world.tokens["so"]
    users.revoke_tokens(world.svc, "so")
    assert_error(
        world.client.post(docs, files=upload, headers={"Authorization": f"Bearer {old}"}), 401, "invalid_token"
    )
    world.tokens["so"] = users.new_api_token(world.svc, "so", NOW)
    r = world.client.post(docs, files=upload, headers=world.h("so"))
    assert r.status_code == 201, r.text
    vote = {"party": "fund_center", "attended": True, "vote": "agree"}
    r = world.client.post(f"{API}/cases/{case_id}/votes", json=vote, headers=forged)
    assert_error(r, 401, "invalid_token")
    assert_error(world.client.post(f"{API}/cases/{case_id}/votes", json=vote), 401, "not_authenticated")
