"""The service answers: health, auth, a case opened and advanced, on both databases."""

from __future__ import annotations

from fundflow.service.migrate import head_revision


def test_health_reports_database_and_migration(world):
    r = world.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["migration"] == head_revision()
    assert body["database"] == world.svc.db.dialect.name


def test_missing_and_bad_tokens_are_401_with_a_chinese_message(world):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer ff_" + "x" * 40}):
        r = world.client.get("/api/v1/cases", headers=headers)
        assert r.status_code == 401
        assert r.json()["code"] in ("not_authenticated", "invalid_token")
        assert not r.json()["message"].isascii()


def test_password_login_gives_a_session_token(world):
    r = world.client.post("/api/v1/login", json={"username": "so", "password": "password-123"})
    assert r.status_code == 200
    token = r.json()["token"]
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "street_office"
    bad = world.client.post("/api/v1/login", json={"username": "so", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.json()["code"] == "bad_credentials"


def test_community_totals_are_exact_sums_of_the_households(world):
    """Sums of money and area columns come back in yuan and m², not in stored fen or 1/10000 m²."""
    from decimal import Decimal

    from tests.support.world import HOUSEHOLDS

    body = world.client.get(f"/api/v1/communities/{world.ids['community_a']}", headers=world.h("so")).json()
    assert body["households"] == len(HOUSEHOLDS)
    assert Decimal(body["total_balance"]) == sum(Decimal(h[4]) for h in HOUSEHOLDS)
    assert Decimal(body["total_area"]) == sum(Decimal(h[3]) for h in HOUSEHOLDS)


def test_the_balance_guard_sees_the_balance_of_the_buildings_in_scope(world):
    """Building 1 holds 95,000.00: approving 95,000.00 passes the guard's check, 95,000.01 does not."""
    from fundflow.service.tables import Case
    from fundflow.service.usecases.cases import scope_balance

    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={
            "definition": "fire_hazard_emergency",
            "community_id": world.ids["community_a"],
            "title": "1栋消防泵",
            "buildings": ["1栋"],
        },
    )
    assert r.status_code == 201, r.text
    with world.svc.sessions() as s:
        case = s.get(Case, r.json()["id"])
        assert str(scope_balance(s, case)) == "95000.00"


def test_metrics_count_requests_and_transitions(world, caplog):
    """/metrics speaks Prometheus; a transition is counted and logged as one JSON line with the request id."""
    import json
    import logging

    r = world.client.post(
        "/api/v1/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"},
    )
    case = r.json()["id"]
    with caplog.at_level(logging.INFO, logger="fundflow.transitions"):
        r = world.client.post(
            f"/api/v1/cases/{case}/transitions",
            headers=world.h("so"),
            json={"trigger": "withdraw", "data": {"reason": "业主自行维修"}},
        )
    assert r.status_code == 200
    line = json.loads([rec.getMessage() for rec in caplog.records if rec.name == "fundflow.transitions"][-1])
    assert line["trigger"] == "withdraw" and line["request_id"] == r.headers["x-request-id"]
    text = world.client.get("/metrics").text
    assert 'fundflow_transitions_total{definition="fire_hazard_emergency",trigger="withdraw"} 1.0' in text
    assert "fundflow_http_request_seconds_bucket" in text


def test_the_session_cookie_reads_the_api_but_cannot_write(world):
    """A browser sends cookies by itself: API writes need the bearer header (no cross-site forgery)."""
    token = world.client.post("/api/v1/login", json={"username": "so", "password": "password-123"}).json()["token"]
    world.client.cookies.set("fundflow_token", token)
    try:
        assert world.client.get("/api/v1/me").status_code == 200
        r = world.client.post(
            "/api/v1/cases",
            json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": "t"},
        )
        assert r.status_code == 401 and r.json()["code"] == "bearer_required"
    finally:
        world.client.cookies.clear()


def test_logout_revokes_the_session_token(world):
    from fundflow.service.usecases import users

    token = world.client.post("/api/v1/login", json={"username": "so", "password": "password-123"}).json()["token"]
    assert world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    users.logout(world.svc, token)
    assert world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
