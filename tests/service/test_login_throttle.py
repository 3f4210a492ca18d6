"""Failed logins are throttled per user name and per address: 5 free, then 30 s, doubling; the
counters are in the database (every process sees them); time is passed in; each is logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from fundflow.service.context import build_services
from fundflow.service.errors import NotAuthenticated, TooManyRequests
from fundflow.service.usecases import users
from tests.support.world import NOW

LOGIN = "/api/v1/login"


def attempt(world, password: str, username: str = "so"):
    return world.client.post(LOGIN, json={"username": username, "password": password})


def test_five_failures_then_a_wait_that_grows(world, clock, caplog):
    caplog.set_level(logging.WARNING, logger="fundflow.auth")
    for _ in range(5):
        assert attempt(world, "wrong-password").status_code == 401
    r = attempt(world, "password-123")  # the right one, but the name waits: not even checked
    assert r.status_code == 429 and r.json()["code"] == "login_throttled" and r.headers["Retry-After"] == "30"
    assert "30 秒" in r.json()["message"] and r.json()["detail"] == {"retry_after": 30}
    clock(NOW + timedelta(seconds=29))
    assert attempt(world, "password-123").status_code == 429
    clock(NOW + timedelta(seconds=30))
    assert attempt(world, "wrong-password").status_code == 401  # the 6th failure: 60 s
    assert attempt(world, "password-123").headers["Retry-After"] == "60"
    clock(NOW + timedelta(seconds=90))
    assert attempt(world, "wrong-password").status_code == 401  # the 7th: 120 s
    assert attempt(world, "password-123").headers["Retry-After"] == "120"
    failed = [r.message for r in caplog.records if '"login_failed"' in r.message]
    throttled = [r.message for r in caplog.records if '"login_throttled"' in r.message]
    assert len(failed) == 7 and '"failures": 7' in failed[-1] and '"username": "so"' in failed[-1]
    assert len(throttled) == 4 and '"address": "testclient"' in throttled[0]


def test_a_success_clears_the_name_but_not_the_address(world):
    def login(password, address, username="so"):
        return users.login(world.svc, username, password, NOW, address)

    for _ in range(4):
        with pytest.raises(NotAuthenticated):
            login("wrong-password", "10.0.0.1")
    login("password-123", "10.0.0.1")
    for _ in range(4):  # the name counts from 0 again: four more are free
        with pytest.raises(NotAuthenticated):
            login("wrong-password", "10.0.0.2")
    login("password-123", "10.0.0.2")
    with pytest.raises(NotAuthenticated):
        login("wrong-password", "10.0.0.1")  # the address's 5th failure
    with pytest.raises(TooManyRequests):
        login("password-123", "10.0.0.1")
    login("password-123", "10.0.0.3")


def test_unknown_names_are_counted_and_answered_alike(world, clock):
    for _ in range(5):
        assert attempt(world, "x-password", username="nobody").status_code == 401
    r = attempt(world, "x-password", username="nobody")
    assert r.status_code == 429  # as for a real user: nothing to learn about who exists


def test_one_address_trying_many_names_waits(world, clock):
    """Guessing one password across many accounts is throttled by the address."""
    for i in range(5):
        assert attempt(world, "password-123", username=f"user{i}").status_code == 401
    r = attempt(world, "password-123", username="so")
    assert r.status_code == 429, r.text


def test_failures_are_forgotten_a_day_later(world, clock):
    for _ in range(5):
        attempt(world, "wrong-password")
    clock(NOW + timedelta(days=1, seconds=1))
    assert attempt(world, "wrong-password").status_code == 401
    assert attempt(world, "password-123").status_code == 200


def test_the_counters_are_shared_by_processes(world):
    """A second set of services on the same database (another process) sees the wait."""
    other = build_services(world.svc.settings)
    try:
        for _ in range(5):
            with pytest.raises(NotAuthenticated):
                users.login(world.svc, "so", "wrong-password", NOW, "10.0.0.9")
        with pytest.raises(TooManyRequests) as caught:
            users.login(other, "so", "password-123", NOW + timedelta(seconds=1), "10.0.0.10")
        assert caught.value.detail == {"retry_after": 29}
    finally:
        other.close()


def test_the_login_page_says_to_wait(world, clock):
    import re

    for _ in range(5):
        attempt(world, "wrong-password")
    page = world.client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    r = world.client.post("/login", data={"username": "so", "password": "password-123", "csrf_token": csrf.group(1)})
    assert r.status_code == 429 and "秒后再试" in r.text
