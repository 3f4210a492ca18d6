"""Delivery of alerts through the outbox: a local HTTP receiver and a local SMTP server that fail
for a while and then recover; each alert arrives exactly once per channel; retries back off;
concurrent passes never send a row twice. Time is passed in: nothing here sleeps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.domain.tz import SHANGHAI
from fundflow.service.config import Settings, get_settings
from fundflow.service.context import build_services
from fundflow.service.notify import DeliveryFailed, dingtalk, send, wecom
from fundflow.service.tables import Alert, Channel, Delivery, User
from fundflow.service.usecases import alerts, cases, delivery
from tests.support.receivers import Receiver, free_port


@pytest.fixture(autouse=True)
def local_receivers_allowed(monkeypatch):
    """The receivers here listen on 127.0.0.1, which channels may reach only when allowed."""
    monkeypatch.setenv("FUNDFLOW_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")


def at(y, m, d, hh=10, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


OPENED = at(2025, 9, 29)  # due 2025-10-13 (see test_alerts_scan.py)
T0 = at(2025, 10, 21, 9)  # a scan then records 4 alerts per case: warning, overdue, escalation x2
S = timedelta(seconds=1)


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


class Mailbox:
    """An aiosmtpd handler: answers DATA with ``reply``; keeps the mails it accepted."""

    def __init__(self) -> None:
        self.reply = "250 OK"
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        if self.reply.startswith("250"):
            self.mails.append((list(envelope.rcpt_tos), envelope.content))
        return self.reply


def scan(svc, now: datetime):
    """``alerts.scan``, again while skipped: the scan's advisory lock is database-wide on PostgreSQL,
    and another test session in another schema of the same database may hold it for a moment."""
    for _ in range(400):
        result = alerts.scan(svc, now)
        if not result.skipped:
            return result
        time.sleep(0.05)  # contention with another process, not a test of time
    raise AssertionError("the scan lock stayed taken for 20 s")


def user(world, name) -> User:
    with world.svc.sessions() as s:
        return s.exec(select(User).where(User.username == name)).one()


def open_cases(world, n: int) -> list[int]:
    so = user(world, "so")
    return [
        cases.open_case(
            world.svc,
            so,
            definition="fire_hazard_emergency",
            community_id=world.ids["community_a"],
            title=f"{i + 1}栋消防泵",
            data={},
            buildings=None,
            now=OPENED,
        ).body["id"]
        for i in range(n)
    ]


def channel(world, kind: str, target: str, name: str | None = None, role: str | None = None) -> int:
    return alerts.add_channel(world.svc, None, name=name or kind, kind=kind, target=target, role=role, now=OPENED)["id"]


def rows(svc, channel_id: int) -> list[Delivery]:
    with svc.sessions() as s:
        return s.exec(select(Delivery).where(Delivery.channel_id == channel_id).order_by(Delivery.id)).all()


def lead(svc, channel_id: int) -> Delivery:
    """The row that carries the channel's back-off: the one tried most."""
    return max(rows(svc, channel_id), key=lambda d: (d.attempts, -d.id))


def alert_ids(svc) -> list[int]:
    with svc.sessions() as s:
        return list(s.exec(select(Alert.id).order_by(Alert.id)).all())


# -- the back-off -------------------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_to_a_30_minute_cap():
    assert [delivery.backoff(n).total_seconds() for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]
    assert delivery.backoff(0) == timedelta(seconds=30) and delivery.backoff(10_000) == timedelta(minutes=30)


# -- HTTP channels down for hours, then back -----------------------------------------------------


def test_channels_down_for_hours_receive_each_alert_once_when_back(world, receiver):
    svc = world.svc
    hook = channel(world, "webhook", receiver.url("/hook"), name="值班系统")
    robot = channel(world, "wecom", receiver.url("/wecom"), name="应急群")
    open_cases(world, 2)
    assert len(scan(svc, T0).alerts) == 8
    assert len(rows(svc, hook)) == len(rows(svc, robot)) == 8

    # the webhook answers 503, the WeCom robot errcode 93000: one probe each, the rest waits with it
    receiver.modes.update({"/hook": "503", "/wecom": "errcode"})
    r = delivery.deliver_pending(svc, T0)
    assert (len(r.sent), len(r.failed), r.put_back) == (0, 2, 14)
    errors = {f["kind"]: f["error"] for f in r.failed}
    assert errors["webhook"].startswith("HTTP 503") and errors["wecom"].startswith("企业微信 errcode=93000")
    assert len(receiver.received) == 2
    for ch in (hook, robot):
        assert {d.next_attempt_at for d in rows(svc, ch)} == {T0 + 30 * S}
        assert sorted(d.attempts for d in rows(svc, ch)) == [0] * 7 + [1]
    assert delivery.deliver_pending(svc, T0 + 29 * S).failed == []  # not due yet: nothing is tried

    # then the receiver is gone (connection refused) for hours: the probes back off to 30 minutes
    receiver.stop()
    now, gaps = T0 + 30 * S, []
    while now < T0 + timedelta(hours=3):
        r = delivery.deliver_pending(svc, now)
        assert len(r.failed) == 2 and r.sent == [] and all(f["error"].startswith("连接失败") for f in r.failed)
        nxt = lead(svc, hook).next_attempt_at
        assert lead(svc, robot).next_attempt_at == nxt
        assert {d.next_attempt_at for d in rows(svc, hook)} == {nxt}  # every pending row waits with the probe
        gaps.append(int((nxt - now).total_seconds()))
        assert delivery.deliver_pending(svc, nxt - S).failed == []
        now = nxt
    assert gaps == [60, 120, 240, 480, 960, 1800, 1800, 1800, 1800, 1800]
    assert lead(svc, hook).attempts == 11

    # back: everything goes out once, each with its own key
    receiver.modes.clear()
    receiver.start()
    r = delivery.deliver_pending(svc, now)
    assert (len(r.sent), len(r.failed)) == (16, 0)
    assert delivery.deliver_pending(svc, now + timedelta(hours=1)).sent == []
    ids = alert_ids(svc)
    for path, ch in (("/hook", hook), ("/wecom", robot)):
        keys = receiver.keys(path)
        assert len(keys) == len(set(keys)) == 8
        assert set(keys) == {f"fundflow-alert-{a}-{ch}" for a in ids}
        assert all(d.status == "sent" and d.sent_at == now and d.last_error is None for d in rows(svc, ch))

    # every delivery's status, for city-level users
    first = ids[0]
    reply = world.client.get(f"/api/v1/alerts/{first}/deliveries", headers=world.h("hb"))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["alert_id"] == first
    assert [(d["channel"], d["kind"], d["status"]) for d in body["deliveries"]] == [
        ("值班系统", "webhook", "sent"),
        ("应急群", "wecom", "sent"),
    ]
    assert (
        body["deliveries"][0]["attempts"] == 12
        and body["deliveries"][0]["idempotency_key"] == f"fundflow-alert-{first}-{hook}"
    )
    assert world.client.get(f"/api/v1/alerts/{first}/deliveries", headers=world.h("so")).status_code == 403
    assert world.client.get("/api/v1/alerts/999999/deliveries", headers=world.h("hb")).status_code == 404


def test_pending_and_failed_statuses_are_visible(world, receiver):
    hook = channel(world, "webhook", receiver.url("/hook"))
    open_cases(world, 1)
    scan(world.svc, T0)
    receiver.modes["/hook"] = "503"
    delivery.deliver_pending(world.svc, T0)
    ids = alert_ids(world.svc)
    items = [
        world.client.get(f"/api/v1/alerts/{a}/deliveries", headers=world.h("admin")).json()["deliveries"][0]
        for a in ids
    ]
    assert all(d["status"] == "pending" and d["channel_id"] == hook for d in items)
    assert sorted(d["attempts"] for d in items) == [0, 0, 0, 1]
    assert all(d["last_error"] and "HTTP 503" in d["last_error"] for d in items)
    assert {d["next_attempt_at"] for d in items} == {(T0 + 30 * S).isoformat()}
    channels = world.client.get("/api/v1/channels", headers=world.h("admin")).json()
    assert channels[0]["deliveries"] == {"pending": 4}


# -- the robots' message formats ----------------------------------------------------------------


def test_webhook_wecom_and_dingtalk_bodies(world, receiver):
    svc = world.svc
    hook = channel(world, "webhook", receiver.url("/hook"))
    channel(world, "wecom", receiver.url("/cgi-bin/webhook/send?key=abc"))
    channel(world, "dingtalk", receiver.url("/robot/send?access_token=tok#SECtest-secret"))
    open_cases(world, 1)
    scan(svc, T0)
    assert len(delivery.deliver_pending(svc, T0).sent) == 12
    with svc.sessions() as s:
        by_text = {f"{a.title}\n{a.message}": a for a in s.exec(select(Alert))}

    hooks = [e for e in receiver.accepted if e["path"] == "/hook"]
    overdue = next(e["body"] for e in hooks if e["body"]["kind"] == "overdue")
    assert set(overdue) >= {
        "id",
        "kind",
        "level",
        "repeat",
        "case_id",
        "state",
        "at",
        "title",
        "message",
        "provisional",
        "recipients",
    }
    assert overdue["recipients"] == ["fire_rescue", "street_office"] and overdue["provisional"] is False
    assert "月塘新村" in overdue["message"] and "已超期" in overdue["message"]
    assert overdue["at"].startswith("2025-10-14T00:00:00+08:00")
    assert all(e["key"] == f"fundflow-alert-{e['body']['id']}-{hook}" for e in hooks)
    assert all(e["headers"]["Content-Type"] == "application/json" for e in hooks)

    robots = [e for e in receiver.accepted if e["path"] in ("/cgi-bin/webhook/send", "/robot/send")]
    assert len(robots) == 8
    for e in robots:
        body = e["body"]
        assert body["msgtype"] == "text" and set(body["text"]) == {"content"}
        assert body["text"]["content"] in by_text  # the title, then the whole Chinese message
        assert len(body["text"]["content"].encode("utf-8")) <= 2048
    assert {e["path"]: set(e["body"]) for e in robots} == {
        "/cgi-bin/webhook/send": {"msgtype", "text"},
        "/robot/send": {"msgtype", "text", "at"},
    }
    for e in robots:
        if e["path"] == "/cgi-bin/webhook/send":
            assert e["query"] == {"key": ["abc"]}
        else:  # 加签: timestamp + sign, the secret itself never leaves
            ts, sign = e["query"]["timestamp"][0], e["query"]["sign"][0]
            expected = base64.b64encode(
                hmac.new(b"SECtest-secret", f"{ts}\nSECtest-secret".encode(), hashlib.sha256).digest()
            ).decode()
            assert e["query"]["access_token"] == ["tok"] and sign == expected
            assert "SECtest" not in json.dumps(e["query"]) + e["path"]


def test_robot_text_is_cut_to_the_robot_limit_on_a_character_boundary():
    alert = Alert(
        id=1,
        dedupe_key="k",
        kind="overdue",
        recipients=",a,",
        title="【超期】标题",
        message="超期" * 2000,
        at=T0,
        created_at=T0,
    )
    content = wecom.body(alert)["text"]["content"]
    assert len(content.encode("utf-8")) <= 2048 and content.endswith("…") and content.startswith("【超期】标题\n")
    assert len(dingtalk.body(alert)["text"]["content"].encode("utf-8")) <= 4096


# -- each failure is a DeliveryFailed -------------------------------------------------------------


def _alert() -> Alert:
    return Alert(
        id=7,
        dedupe_key="k",
        kind="escalation",
        level=2,
        repeat=1,
        case_id=3,
        state="hazard_report",
        recipients=",housing_bureau,",
        title="【督办】月塘新村 隐患上报 到期日 2025-10-13",
        message="【督办】月塘新村 案件…已超期 6 个工作日。",
        provisional=False,
        at=T0,
        created_at=T0,
    )


@pytest.mark.parametrize(
    "kind, path, mode, reason",
    [
        ("webhook", "/x", "503", "HTTP 503"),
        ("wecom", "/x", "errcode", "企业微信 errcode=93000"),
        ("dingtalk", "/x", "errcode", "钉钉 errcode=93000"),
        ("wecom", "/x", "503", "HTTP 503"),
    ],
)
def test_every_failure_raises_delivery_failed(receiver, kind, path, mode, reason):
    receiver.modes[path] = mode
    ch = Channel(id=1, name="n", kind=kind, target=receiver.url(path), created_at=T0)
    with pytest.raises(DeliveryFailed) as failed:
        send(ch, _alert(), "fundflow-alert-7-1", Settings(database_url="sqlite://"))
    assert failed.value.reason.startswith(reason)


def test_refused_and_timed_out_connections_fail():
    settings = Settings(database_url="sqlite://", delivery_timeout_seconds=0.2)
    refused = Channel(id=1, name="n", kind="webhook", target=f"http://127.0.0.1:{free_port()}/x", created_at=T0)
    with pytest.raises(DeliveryFailed, match="^连接失败"):
        send(refused, _alert(), "k", settings)
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        stuck = Channel(
            id=1, name="n", kind="wecom", target=f"http://127.0.0.1:{silent.getsockname()[1]}/x", created_at=T0
        )
        with pytest.raises(DeliveryFailed, match="^超时"):
            send(stuck, _alert(), "k", settings)
    mail = Channel(id=1, name="n", kind="email", target="a@example.cn", created_at=T0)
    with pytest.raises(DeliveryFailed, match="FUNDFLOW_SMTP_HOST"):
        send(mail, _alert(), "k", Settings(database_url="sqlite://", smtp_host=None))
    with pytest.raises(DeliveryFailed, match="^SMTP 连接失败"):
        send(mail, _alert(), "k", Settings(database_url="sqlite://", smtp_host="127.0.0.1", smtp_port=free_port()))


# -- e-mail ---------------------------------------------------------------------------------------


def test_email_server_down_then_up_gets_each_alert_once(world):
    port = free_port()
    settings = world.svc.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "维修资金应急系统 <fundflow@zz.gov.cn>"}
    )
    svc = replace(world.svc, settings=settings)
    mail = channel(world, "email", "hb@zz.gov.cn, duty@zz.gov.cn", name="住建局邮箱")
    open_cases(world, 1)
    scan(svc, T0)

    r = delivery.deliver_pending(svc, T0)  # nothing listens
    assert (len(r.failed), r.put_back) == (1, 3) and r.failed[0]["error"].startswith("SMTP 连接失败")
    box = Mailbox()
    box.reply = "451 4.3.0 Mail server temporarily rejected message"
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        r = delivery.deliver_pending(svc, T0 + 30 * S)  # up, but refusing for now
        assert r.failed[0]["error"].startswith("SMTP 451") and box.mails == []
        retry = lead(svc, mail).next_attempt_at
        assert retry == T0 + 90 * S
        box.reply = "250 OK"
        r = delivery.deliver_pending(svc, retry)
        assert (len(r.sent), len(r.failed)) == (4, 0)
        assert delivery.deliver_pending(svc, retry + timedelta(hours=2)).sent == []
    finally:
        controller.stop()

    with svc.sessions() as s:
        by_id = {a.id: a for a in s.exec(select(Alert))}
    assert len(box.mails) == 4
    seen = Counter()
    for rcpt, raw in box.mails:
        assert rcpt == ["hb@zz.gov.cn", "duty@zz.gov.cn"]
        msg = message_from_bytes(raw, policy=policy.default)
        key = msg["X-Idempotency-Key"]
        alert = by_id[int(key.split("-")[2])]
        assert key == f"fundflow-alert-{alert.id}-{mail}" and msg["Message-ID"] == f"<{key}@zz.gov.cn>"
        assert msg["Subject"] == alert.title and msg["Subject"].startswith("【")  # Chinese, decoded
        assert msg.get_content_charset() == "utf-8" and msg.get_content().rstrip("\n") == alert.message
        assert msg["From"].addresses[0].display_name == "维修资金应急系统"
        seen[key] += 1
    assert len(seen) == 4 and set(seen.values()) == {1}


# -- concurrency and leases -----------------------------------------------------------------------


def test_concurrent_passes_never_send_a_row_twice(world, receiver):
    """Four passes at once: two threads on one Services, two on another (its own engine and pool,
    as a second process would have); PostgreSQL claims with SKIP LOCKED, SQLite serialises."""
    hook = channel(world, "webhook", receiver.url("/hook"))
    robot = channel(world, "dingtalk", receiver.url("/ding"))
    open_cases(world, 5)
    assert len(scan(world.svc, T0).alerts) == 20
    other = build_services(world.svc.settings)
    barrier = threading.Barrier(4)
    reports: list[delivery.DeliveryReport] = []
    errors: list[BaseException] = []

    def run(svc):
        try:
            barrier.wait()
            while True:
                r = delivery.deliver_pending(svc, T0, limit=7)
                reports.append(r)
                if not r.sent and not r.failed:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(svc,)) for svc in (world.svc, world.svc, other, other)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    assert errors == []
    assert sum(len(r.sent) for r in reports) == 40 and sum(len(r.failed) + r.lost for r in reports) == 0
    for path, ch in (("/hook", hook), ("/ding", robot)):
        keys = receiver.keys(path)
        assert len(keys) == len(set(keys)) == 20
        assert all(d.status == "sent" and d.attempts == 1 for d in rows(world.svc, ch))
    assert len(receiver.received) == 40


@pytest.mark.postgresql_only  # SQLite serialises the claims (BEGIN IMMEDIATE): nothing to skip
def test_postgresql_claims_skip_rows_another_claim_holds(world):
    """While one claim's transaction holds rows, another process's claim takes the others at once
    (SKIP LOCKED) instead of waiting for them and then claiming them a second time."""
    assert world.svc.db.dialect.name == "postgresql"
    hook = channel(world, "webhook", "http://127.0.0.1:9/hook")
    open_cases(world, 1)
    scan(world.svc, T0)
    other = build_services(world.svc.settings)
    holder = world.svc.sessions()
    got: list = []
    worker = threading.Thread(
        target=lambda: got.append(delivery._claim(other, T0, timedelta(minutes=5), 10, exclude=()))
    )
    try:
        holder.begin()
        held = [d.id for d in holder.exec(select(Delivery).order_by(Delivery.id).limit(2).with_for_update())]
        worker.start()
        worker.join(timeout=20)
        waited = worker.is_alive()
    finally:
        holder.rollback()
        holder.close()
        if worker.is_alive() or worker.ident is not None:
            worker.join()
        other.close()
    assert not waited, "the claim waited for the locked rows"
    assert sorted(c.id for c in got[0]) == sorted(d.id for d in rows(world.svc, hook))[2:]
    assert not {c.id for c in got[0]} & set(held)


def test_a_dead_pass_lease_runs_out_and_its_late_result_is_dropped(world, receiver):
    svc = world.svc
    hook = channel(world, "webhook", receiver.url("/hook"))
    open_cases(world, 1)
    scan(svc, T0)
    lease = timedelta(seconds=svc.settings.delivery_lease_seconds)
    dead = delivery._claim(svc, T0, lease, 10, exclude=())  # claimed, then the process died
    assert len(dead) == 4
    assert delivery.deliver_pending(svc, T0 + lease - S).sent == []  # still leased
    r = delivery.deliver_pending(svc, T0 + lease)
    assert len(r.sent) == 4
    assert delivery._record_sent(svc, dead[0], T0 + lease, None) is False  # the fence holds
    assert delivery._record_failed(svc, dead[1], T0 + lease, "late") is None
    assert all(d.status == "sent" and d.attempts == 2 and d.last_error is None for d in rows(svc, hook))
    keys = receiver.keys("/hook")
    assert len(keys) == len(set(keys)) == 4


def test_a_pass_stops_sending_before_its_lease_could_run_out(world, receiver, monkeypatch):
    """Sends that take long (timeouts) would outlive the lease and let another pass re-claim rows
    this one still means to send: past half the lease (real time) the rest is put back untouched."""
    hook = channel(world, "webhook", receiver.url("/hook"))
    open_cases(world, 1)
    scan(world.svc, T0)
    ticks = iter([0.0, 0.0] + [world.svc.settings.delivery_lease_seconds] * 10)
    monkeypatch.setattr(delivery, "_clock", lambda: next(ticks))
    r = delivery.deliver_pending(world.svc, T0)
    assert (len(r.sent), len(r.failed), r.put_back) == (1, 0, 3)
    waiting = [d for d in rows(world.svc, hook) if d.status == "pending"]
    assert [(d.attempts, d.next_attempt_at, d.last_error) for d in waiting] == [(0, T0, None)] * 3
    monkeypatch.setattr(delivery, "_clock", lambda: 0.0)
    assert len(delivery.deliver_pending(world.svc, T0).sent) == 3
    assert len(set(receiver.keys("/hook"))) == len(receiver.keys("/hook")) == 4


def test_an_inactive_channel_is_not_sent_to(world, receiver):
    hook = channel(world, "webhook", receiver.url("/hook"))
    open_cases(world, 1)
    scan(world.svc, T0)
    with world.svc.sessions.begin() as s:
        s.get(Channel, hook).active = False
    assert delivery.deliver_pending(world.svc, T0).sent == [] and receiver.received == []


# -- the command line -----------------------------------------------------------------------------


def test_cli_adds_a_channel_and_runs_a_delivery_pass(world, receiver, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(
            cli,
            [
                "channel",
                "add",
                "--kind",
                "wecom",
                "--target",
                receiver.url("/wecom"),
                "--role",
                "housing_bureau",
                "--name",
                "住建局督办群",
            ],
        )
        assert added.exit_code == 0, added.output
        assert "住建局督办群 (wecom, role housing_bureau, city)" in added.output
        bad = runner.invoke(cli, ["channel", "add", "--kind", "fax", "--target", "x"])
        assert bad.exit_code == 2 and "unknown_channel_kind" in bad.output
        open_cases(world, 1)
        scan(world.svc, T0)  # 2 escalations go to the housing bureau
        out = runner.invoke(cli, ["deliver", "--now", "2025-10-21T09:00:00"])
        assert out.exit_code == 0, out.output
        assert out.output.count("sent    #") == 2 and "2 sent, 0 failed, 0 put back" in out.output
        assert "【督办】" in out.output
        receiver.stop()
        again = runner.invoke(cli, ["deliver", "--now", "2025-10-21T09:00:00+08:00"])
        assert again.exit_code == 0 and "0 sent, 0 failed" in again.output
        assert runner.invoke(cli, ["deliver", "--now", "yesterday"]).exit_code == 2
    finally:
        get_settings.cache_clear()
    assert len(receiver.keys("/wecom")) == 2
