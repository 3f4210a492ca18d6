"""Who may point alerts somewhere, and where: only admins; only http(s) to public addresses
(checked after resolving the name, when added and again before each delivery)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fundflow.service.config import Settings
from fundflow.service.notify import DeliveryFailed, send
from fundflow.service.notify.targets import TargetRefused, check_target
from fundflow.service.tables import Alert, Channel

PUBLIC = "101.91.37.20"


@pytest.fixture
def dns(monkeypatch):
    """A resolver for the tests (there is no DNS here): name -> addresses."""
    names = {
        "qyapi.weixin.qq.com": [PUBLIC],
        "hooks.example.com": [PUBLIC],
        "intranet.example.com": ["10.1.2.3"],
        "split.example.com": [PUBLIC, "127.0.0.1"],
        "metadata.example.com": ["169.254.169.254"],
        "v6.example.com": ["fd00::1"],
    }

    def resolve(host, port):
        if host in names:
            return names[host]
        import socket

        return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]

    monkeypatch.setattr("fundflow.service.notify.targets._resolve", resolve)
    return names


@pytest.mark.parametrize("who", ["fc", "hb", "so", "fr"])
def test_only_admins_add_channels(world, dns, who):
    r = world.client.post(
        "/api/v1/channels",
        headers=world.h(who),
        json={"name": "群", "kind": "webhook", "target": "https://hooks.example.com/a"},
    )
    assert r.status_code == 403 and r.json()["code"] == "cannot_configure_channels", r.text
    assert world.client.get("/api/v1/channels", headers=world.h("admin")).json() == []


def test_an_admin_adds_a_channel_to_a_public_host(world, dns):
    r = world.client.post(
        "/api/v1/channels",
        headers=world.h("admin"),
        json={"name": "群", "kind": "webhook", "target": "https://hooks.example.com/a"},
    )
    assert r.status_code == 201, r.text


INTERNAL = [
    "http://127.0.0.1:5432/",
    "http://localhost:8000/x",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.5/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://intranet.example.com/hook",
    "http://split.example.com/hook",
    "http://metadata.example.com/",
    "http://v6.example.com/",
    "http://LOCALHOST./",
]
NOT_HTTP = [
    "ftp://hooks.example.com/",
    "file:///etc/passwd",
    "gopher://hooks.example.com/",
    "hooks.example.com/x",
    "http:///nohost",
    "http://hooks.example.com:99999/",
]


@pytest.mark.parametrize("target", INTERNAL + NOT_HTTP)
def test_internal_and_non_http_targets_are_refused(world, dns, target):
    for kind in ("webhook", "wecom", "dingtalk"):
        r = world.client.post(
            "/api/v1/channels", headers=world.h("admin"), json={"name": "群", "kind": kind, "target": target}
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_channel_target", (kind, target, r.text)
    assert world.client.get("/api/v1/channels", headers=world.h("admin")).json() == []


def test_a_setting_allows_a_named_internal_host(dns):
    allowed = Settings(database_url="sqlite://", webhook_allowed_hosts="intranet.example.com, 127.0.0.1")
    check_target("http://intranet.example.com/hook", allowed)
    check_target("http://127.0.0.1:8080/hook", allowed)
    with pytest.raises(TargetRefused):
        check_target("http://10.1.2.3/hook", allowed)  # the address itself is not listed


def test_a_name_pointed_inside_after_it_was_added_is_not_delivered_to(dns):
    """Checked again at delivery: nothing is sent, the delivery fails with the reason and waits."""
    channel = Channel(
        id=1,
        name="n",
        kind="webhook",
        target="http://hooks.example.com/hook",
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    dns["hooks.example.com"] = ["127.0.0.1"]
    alert = Alert(
        id=1,
        dedupe_key="k",
        kind="overdue",
        level=1,
        repeat=0,
        at=datetime(2026, 3, 2, tzinfo=UTC),
        recipients=",fund_center,",
        title="超期",
        message="m",
        provisional=False,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    with pytest.raises(DeliveryFailed, match="内网、本机"):
        send(channel, alert, "k", Settings(database_url="sqlite://"))
