"""The service answers: health, auth, a case opened and advanced, on both databases."""

from __future__ import annotations


def test_health_reports_database_and_migration(world):
    r = world.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["migration"] == "0001"
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
