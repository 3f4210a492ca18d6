"""The outbox follows an accepted 转办 (issue 11): the case's pending deliveries to the old
organisation's channels are cancelled with a reason and its new organisation's channels get
them (one row per alert and channel, as the scan writes them); sent rows stay as history; the
city's channels are not touched. Both databases, with a local webhook receiver."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from fundflow.domain.tz import SHANGHAI
from fundflow.service.tables import Alert, Delivery, Event, User
from fundflow.service.usecases import alerts, cases, delivery, handoffs
from tests.support.receivers import Receiver


@pytest.fixture(autouse=True)
def local_receivers_allowed(monkeypatch):
    monkeypatch.setenv("FUNDFLOW_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


def at(m, d, hh=10) -> datetime:
    return datetime(2025, m, d, hh, tzinfo=SHANGHAI)


OPENED = at(9, 29)  # due 2025-10-13
T0 = at(10, 21, 9)  # warning, overdue and escalations have passed


def _user(world, name) -> User:
    with world.svc.sessions() as s:
        return s.exec(select(User).where(User.username == name)).one()


def _scan(svc, now):
    for _ in range(400):  # the scan's lock is database-wide on PostgreSQL (other test schemas)
        if not alerts.scan(svc, now).skipped:
            return
        time.sleep(0.05)
    raise AssertionError("the scan lock stayed taken for 20 s")


def _channel(world, receiver, path, level, org) -> int:
    return alerts.add_channel(
        world.svc,
        None,
        name=path,
        kind="webhook",
        target=receiver.url(path),
        role=None,
        org_level=level,
        org_id=world.ids[org] if org else None,
        now=OPENED,
    )["id"]


def _rows(svc, case_id) -> list[Delivery]:
    with svc.sessions() as s:
        return list(
            s.exec(
                select(Delivery)
                .join(Alert, Alert.id == Delivery.alert_id)
                .where(Alert.case_id == case_id)
                .order_by(Delivery.id)
            )
        )


def _by_channel(rows) -> dict[int, Counter]:
    out: dict[int, Counter] = {}
    for r in rows:
        out.setdefault(r.channel_id, Counter())[r.status] += 1
    return out


@pytest.fixture
def setting(world, receiver):
    ch = {
        "old": _channel(world, receiver, "/old", "street_office", "office_yt"),
        "new": _channel(world, receiver, "/new", "street_office", "office_jn"),
        "old_district": _channel(world, receiver, "/old_district", "district", "district_ht"),
        "new_district": _channel(world, receiver, "/new_district", "district", "district_ls"),
        "city": _channel(world, receiver, "/city", "city", None),
        "community": _channel(world, receiver, "/community", "community", "community_a"),
    }
    case_id = cases.open_case(
        world.svc,
        _user(world, "so"),
        definition="fire_hazard_emergency",
        community_id=world.ids["community_a"],
        title="1栋消防泵",
        data={},
        buildings=None,
        now=OPENED,
    ).body["id"]
    return case_id, ch


def _transfer(world, case_id, sender, receiver_user, to, now):
    reply = handoffs.transfer_case(
        world.svc, _user(world, sender), case_id, to_org_id=world.ids[to], reason="该小区属建宁街道辖区，误报", now=now
    )
    return handoffs.accept_transfer(world.svc, _user(world, receiver_user), reply.body["id"], now=now)


def test_pending_deliveries_follow_an_accepted_transfer_and_sent_ones_stay(world, receiver, setting):
    case_id, ch = setting
    _scan(world.svc, at(10, 11))  # the first alert(s), delivered to the old office
    delivery.deliver_pending(world.svc, at(10, 11, 11))
    first = _by_channel(_rows(world.svc, case_id))
    sent_before = first[ch["old"]]["sent"]
    assert sent_before >= 1 and set(first[ch["old"]]) == {"sent"}
    assert ch["new"] not in first  # the new office's channel had nothing of this case
    _scan(world.svc, T0)  # more alerts: queued, not yet sent (nobody delivered since)
    pending = _by_channel(_rows(world.svc, case_id))[ch["old"]]["pending"]
    assert pending >= 1

    later = T0 + timedelta(minutes=5)
    accepted = _transfer(world, case_id, "so", "so_other", "office_jn", later)
    assert accepted.status == 200

    rows = _rows(world.svc, case_id)
    now_by = _by_channel(rows)
    # the old office: its sent rows stay, its pending ones are cancelled with the reason
    assert now_by[ch["old"]] == Counter(sent=sent_before, cancelled=pending)
    assert all("建宁街道" in r.last_error for r in rows if r.status == "cancelled")
    # the new office's channel (and its district's) gets what was still to be sent, once each
    assert now_by[ch["new"]] == Counter(pending=pending)
    assert now_by[ch["new_district"]]["pending"] == now_by[ch["old_district"]]["cancelled"] >= 1
    # the city's and the community's channels are not re-addressed
    assert "cancelled" not in now_by[ch["city"]] and "cancelled" not in now_by[ch["community"]]
    moved = {r.alert_id for r in rows if r.status == "cancelled" and r.channel_id == ch["old"]}
    assert moved == {r.alert_id for r in rows if r.channel_id == ch["new"]}

    receiver.accepted.clear()
    delivery.deliver_pending(world.svc, later + timedelta(minutes=1))
    paths = Counter(e["path"] for e in receiver.accepted)
    assert paths["/new"] == pending and paths["/old"] == 0 and paths["/old_district"] == 0
    assert Counter(r.status for r in _rows(world.svc, case_id) if r.channel_id == ch["old"]) == Counter(
        sent=sent_before, cancelled=pending
    )
    # the event says so
    with world.svc.sessions() as s:
        last = s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq.desc())).first()
    assert last.data["deliveries_readdressed"]["cancelled"] == pending + now_by[ch["old_district"]]["cancelled"]


def test_a_transfer_back_requeues_the_rows_it_had_cancelled_once_each(world, receiver, setting):
    case_id, ch = setting
    _scan(world.svc, T0)
    queued = _by_channel(_rows(world.svc, case_id))[ch["old"]]["pending"]
    assert queued >= 1
    later = T0 + timedelta(minutes=5)
    _transfer(world, case_id, "so", "so_other", "office_jn", later)
    _transfer(world, case_id, "so_other", "so", "office_yt", later + timedelta(minutes=1))
    by = _by_channel(_rows(world.svc, case_id))
    assert by[ch["old"]] == Counter(pending=queued)  # the same rows, pending again
    assert by[ch["new"]] == Counter(cancelled=queued)
    receiver.accepted.clear()
    delivery.deliver_pending(world.svc, later + timedelta(minutes=2))
    paths = Counter(e["path"] for e in receiver.accepted)
    assert paths["/old"] == queued and paths["/new"] == 0


def test_a_declined_transfer_leaves_the_outbox_alone(world, receiver, setting):
    case_id, ch = setting
    _scan(world.svc, T0)
    before = [(r.id, r.channel_id, r.status) for r in _rows(world.svc, case_id)]
    reply = handoffs.transfer_case(
        world.svc, _user(world, "so"), case_id, to_org_id=world.ids["office_jn"], reason="误报", now=T0
    )
    handoffs.decline_transfer(world.svc, _user(world, "so_other"), reply.body["id"], reason="不属本街道", now=T0)
    assert [(r.id, r.channel_id, r.status) for r in _rows(world.svc, case_id)] == before


def test_a_row_sent_while_its_case_was_re_addressed_is_recorded_as_sent(world, receiver, setting, monkeypatch):
    """A pass had claimed the rows to the old office when the transfer was accepted, while it
    was sending one of them: that row says sent (it was), not cancelled; the others claimed
    with it are not sent to the old office."""
    case_id, ch = setting
    _scan(world.svc, T0)
    original = delivery.notify.send
    done = []

    def send(channel, alert, key, settings):
        if channel.id == ch["old"] and not done:
            done.append(alert.id)
            _transfer(world, case_id, "so", "so_other", "office_jn", T0 + timedelta(minutes=5))
        return original(channel, alert, key, settings)

    monkeypatch.setattr(delivery.notify, "send", send)
    report = delivery.deliver_pending(world.svc, T0 + timedelta(minutes=6))
    (row,) = [r for r in _rows(world.svc, case_id) if r.channel_id == ch["old"] and r.alert_id == done[0]]
    assert row.status == "sent" and row.sent_at is not None
    others = [r.status for r in _rows(world.svc, case_id) if r.channel_id == ch["old"] and r.alert_id != done[0]]
    assert others and set(others) == {"cancelled"} and report.cancelled >= len(others)
    assert Counter(e["path"] for e in receiver.accepted)["/old"] == 1
