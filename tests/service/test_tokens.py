"""API tokens expire (FUNDFLOW_API_TOKEN_DAYS, default 90) and can be revoked: by their holder
(DELETE /api/v1/tokens/current), by an administrator (fundflow user revoke-token NAME), and all at
once with the user (fundflow user deactivate NAME). Each acts on the very next request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.service.tables import ApiToken
from fundflow.service.usecases import users
from tests.support.world import NOW

API = "/api/v1"


def me(world, token: str, **headers) -> int:
    return world.client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}", **headers}).status_code


def test_api_tokens_expire_after_90_days_by_default(world, clock):
    from fundflow.service.config import Settings

    assert Settings.model_fields["api_token_days"].default == 90  # tests/conftest.py sets 3650 for the worlds
    world.svc.settings = world.svc.settings.model_copy(update={"api_token_days": 90})
    users.revoke_tokens(world.svc, "fc")
    world.tokens["fc"] = users.new_api_token(world.svc, "fc", NOW)
    with world.svc.sessions() as s:
        row = s.exec(
            select(ApiToken).where(ApiToken.user_id == world.ids["user_fc"], ApiToken.revoked.is_(False))
        ).one()
    assert row.expires_at == NOW + timedelta(days=90)
    clock(NOW + timedelta(days=90) - timedelta(seconds=1))
    assert me(world, world.tokens["fc"]) == 200
    clock(NOW + timedelta(days=90))
    r = world.client.get(f"{API}/me", headers=world.h("fc"))
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def test_the_lifetime_is_a_setting(world, clock):
    world.svc.settings = world.svc.settings.model_copy(update={"api_token_days": 7})
    token = users.new_api_token(world.svc, "hb", NOW)
    clock(NOW + timedelta(days=7))
    assert me(world, token) == 401 and me(world, world.tokens["hb"]) == 200


def test_a_token_issued_without_an_end_ends_after_the_lifetime_too(world, clock):
    """Tokens issued before tokens expired have no end recorded: they end 90 days after issue."""
    world.svc.settings = world.svc.settings.model_copy(update={"api_token_days": 90})
    with world.svc.sessions() as s, s.begin():
        row = s.exec(select(ApiToken).where(ApiToken.user_id == world.ids["user_fc"])).one()
        row.expires_at = None
    clock(NOW + timedelta(days=89))
    assert me(world, world.tokens["fc"]) == 200
    clock(NOW + timedelta(days=91))
    assert me(world, world.tokens["fc"]) == 401


def test_delete_tokens_current_revokes_the_token_presented_and_no_other(world):
    other = users.new_api_token(world.svc, "fc", NOW)
    r = world.client.delete(f"{API}/tokens/current", headers=world.h("fc"))
    assert r.status_code == 204
    assert me(world, world.tokens["fc"]) == 401 and me(world, other) == 200
    r = world.client.delete(f"{API}/tokens/current", headers=world.h("fc"))
    assert r.status_code == 401


def test_the_session_cookie_alone_cannot_revoke(world):
    world.client.cookies.set("fundflow_token", world.tokens["fc"])
    try:
        r = world.client.delete(f"{API}/tokens/current")
    finally:
        world.client.cookies.clear()
    assert r.status_code == 401 and r.json()["code"] == "bearer_required"
    assert me(world, world.tokens["fc"]) == 200


def test_login_sessions_stop_when_the_user_is_deactivated(world):
    r = world.client.post(f"{API}/login", json={"username": "so", "password": "password-123"})
    session = r.json()["token"]
    assert me(world, session) == 200 and me(world, world.tokens["so"]) == 200
    assert users.deactivate(world.svc, "so") == 2
    assert me(world, session) == 401 and me(world, world.tokens["so"]) == 401
    world.client.cookies.set("fundflow_token", session)
    try:
        page = world.client.get("/", follow_redirects=False)
    finally:
        world.client.cookies.clear()
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    r = world.client.post(f"{API}/login", json={"username": "so", "password": "password-123"})
    assert r.status_code == 401


@pytest.fixture
def cli_env(world, monkeypatch):
    from fundflow.service.config import get_settings

    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", world.svc.settings.database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(world.svc.settings.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_fundflow_user_revoke_token_and_token(world, cli_env):
    r = cli_env.invoke(cli, ["user", "revoke-token", "fc"])
    assert r.exit_code == 0 and "1 token(s) revoked" in r.output, r.output
    assert me(world, world.tokens["fc"]) == 401
    r = cli_env.invoke(cli, ["user", "token", "fc"])
    assert r.exit_code == 0, r.output
    assert me(world, r.output.split("token: ")[1].strip()) == 200


def test_fundflow_user_deactivate(world, cli_env):
    r = cli_env.invoke(cli, ["user", "deactivate", "hb"])
    assert r.exit_code == 0 and "deactivated" in r.output, r.output
    assert me(world, world.tokens["hb"]) == 401
    r = cli_env.invoke(cli, ["user", "token", "hb"])
    assert r.exit_code == 2 and "user_inactive" in r.output
    r = cli_env.invoke(cli, ["user", "deactivate", "nobody"])
    assert r.exit_code == 2 and "unknown_user" in r.output


# -- /metrics ---------------------------------------------------------------------------------


def _metrics_app(world, **settings):
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from fundflow.http.app import create_app

    svc = replace(world.svc, settings=world.svc.settings.model_copy(update=settings))
    return TestClient(create_app(services=svc), raise_server_exceptions=False)


def test_metrics_are_open_by_default(world):
    assert world.client.get("/metrics").status_code == 200


def test_metrics_can_require_a_bearer_token(world):
    from pydantic import SecretStr

    with _metrics_app(world, metrics_access="token", metrics_token=SecretStr("m" * 24)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 24}).status_code == 401
        assert client.get("/metrics", headers=world.h("admin")).status_code == 401  # a user's token is not it
        r = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 24})
        assert r.status_code == 200 and "fundflow_http_requests_total" in r.text


def test_metrics_can_be_off(world):
    with _metrics_app(world, metrics_access="off") as client:
        r = client.get("/metrics")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_metrics_token_is_required_for_token_access():
    from fundflow.service.config import Settings

    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Settings(database_url="sqlite://", metrics_access="token")
