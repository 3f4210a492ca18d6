"""The overdue scan: a case walked across a deadline, a weekend and the 2025 National Day
holiday; each moment alerted once; suspended cases skipped; the inbox per role."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import select

from fundflow.domain.tz import SHANGHAI
from fundflow.service.tables import Alert, Stage, User
from fundflow.service.usecases import alerts, cases


def at(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def user(world, name) -> User:
    with world.svc.sessions() as s:
        return s.exec(select(User).where(User.username == name)).one()


@pytest.fixture
def reported(world):
    """A case reported Monday 29 September 2025: 5 working days for the fire authority.
    The days: 09-30, 10-09, 10-10, 10-11 (the make-up Saturday), 10-13: due Monday 13 October."""
    reply = cases.open_case(
        world.svc,
        user(world, "so"),
        definition="fire_hazard_emergency",
        community_id=world.ids["community_a"],
        title="1栋消防泵",
        data={},
        buildings=None,
        now=at(2025, 9, 29),
    )
    return reply.body["id"]


def kinds(result):
    return [(a["kind"], a["level"]) for a in result.alerts]


def test_a_case_walked_across_the_national_day_holiday(world, reported):
    svc = world.svc
    assert alerts.scan(svc, at(2025, 10, 10, 23)).alerts == []  # Friday night: nothing yet
    r = alerts.scan(svc, at(2025, 10, 11, 8))  # the make-up Saturday: 1 working day before the due date
    assert kinds(r) == [("warning", 0)]
    assert "2025-10-13" in r.alerts[0]["title"] and r.alerts[0]["at"].startswith("2025-10-11")
    assert alerts.scan(svc, at(2025, 10, 13, 9)).alerts == []  # a repeated scan records nothing
    r = alerts.scan(svc, at(2025, 10, 14, 9))  # overdue from 00:00 on the 14th
    assert kinds(r) == [("overdue", 0)]
    # down for a week: the first scan catches up every moment that passed, once
    r = alerts.scan(svc, at(2025, 10, 21, 9))
    assert kinds(r) == [("escalation", 2), ("escalation", 2)]
    assert [a["at"][:10] for a in r.alerts] == ["2025-10-16", "2025-10-21"]  # after 14, 15; then 16, 17, 20
    assert alerts.scan(svc, at(2025, 10, 21, 9)).alerts == []
    with svc.sessions() as s:
        rows = s.exec(select(Alert).order_by(Alert.at)).all()
        assert [(a.kind, a.repeat) for a in rows] == [
            ("warning", 0),
            ("overdue", 0),
            ("escalation", 0),
            ("escalation", 1),
        ]
        overdue = rows[1]
        assert overdue.recipients == ",fire_rescue,street_office,"
        assert "月塘新村" in overdue.message and "已超期" in overdue.message and "隐患上报" in overdue.message
        assert rows[2].recipients == ",housing_bureau,"
        stage = s.exec(select(Stage).where(Stage.case_id == reported, Stage.left_at.is_(None))).one()
        assert stage.next_alert_at.astimezone(SHANGHAI) == at(2025, 10, 24, 0)  # + 21, 22, 23


def test_the_inbox_shows_each_role_its_own_alerts(world, reported):
    alerts.scan(world.svc, at(2025, 10, 21, 9))
    fr = world.client.get("/api/v1/alerts", headers=world.h("fr")).json()
    assert [a["kind"] for a in fr["items"]] == ["overdue", "warning"] and fr["unacked"] == 2
    hb = world.client.get("/api/v1/alerts", headers=world.h("hb")).json()
    assert {a["kind"] for a in hb["items"]} == {"escalation"}
    assert world.client.get("/api/v1/alerts", headers=world.h("fr_other")).json()["total"] == 0  # another district
    first = fr["items"][0]["id"]
    r = world.client.post(f"/api/v1/alerts/{first}/ack", headers=world.h("fr"))
    assert r.status_code == 200 and r.json()["acked"]
    left = world.client.get("/api/v1/alerts?unacked_only=true", headers=world.h("fr")).json()
    assert left["total"] == 1 and left["unacked"] == 1
    assert world.client.post(f"/api/v1/alerts/{first}/ack", headers=world.h("fr_other")).status_code == 404


def test_a_suspended_case_is_not_alerted_and_its_clock_moves(world, reported):
    so = user(world, "so")
    cases.fire_transition(
        world.svc,
        so,
        reported,
        trigger="suspend",
        data={"reason": "等待业主续交"},
        comment=None,
        now=at(2025, 10, 10, 9),
    )
    assert alerts.scan(world.svc, at(2025, 10, 20, 9)).alerts == []
    cases.fire_transition(
        world.svc, so, reported, trigger="resume", data={"reason": "续交到位"}, comment=None, now=at(2025, 10, 20, 10)
    )
    # suspended 10-10 to 10-20: 10-11 (make-up), 13, 14, 15, 16, 17, 20 = 7 working days later
    body = world.client.get(f"/api/v1/cases/{reported}", headers=world.h("so")).json()
    assert body["stage"]["due_date"] == "2025-10-22"
    r = alerts.scan(world.svc, at(2025, 10, 22, 9))
    assert kinds(r) == [("warning", 0)]


def test_the_scan_looks_only_at_stages_falling_due(world, reported):
    r = alerts.scan(world.svc, at(2025, 10, 1, 9))
    assert r.stages == 0  # the stage's first moment is the warning on 10-11


def test_calendar_alert_once_a_day_from_november(world):
    assert alerts.check_calendar(world.svc, at(2026, 10, 31)) is None
    first = alerts.check_calendar(world.svc, at(2026, 11, 2, 9))
    assert first and "2027" in first["title"]
    assert alerts.check_calendar(world.svc, at(2026, 11, 2, 15)) is None  # once a day
    assert alerts.check_calendar(world.svc, at(2026, 11, 3, 9)) is not None
    admin = world.client.get("/api/v1/alerts", headers=world.h("admin")).json()
    assert admin["total"] == 2 and admin["items"][0]["kind"] == "calendar"


def test_metrics_show_the_backlog_alerts_and_scheduler_steps(world, reported):
    """/metrics reads the outbox backlog, alerts by kind and overdue stages from the database,
    and times each scheduler step."""
    from fundflow.service.scheduler import tick

    world.svc.settings = world.svc.settings.model_copy(
        update={"webhook_allowed_hosts": "127.0.0.1"}
    )  # a local receiver
    alerts.add_channel(
        world.svc, None, name="hook", kind="webhook", target="http://127.0.0.1:9/x", role=None, now=at(2025, 9, 29)
    )
    tick(world.svc, at(2025, 10, 14, 9))
    text = world.client.get("/metrics").text
    assert 'fundflow_alerts{kind="overdue"} 1.0' in text and 'fundflow_alerts{kind="warning"} 1.0' in text
    assert "fundflow_overdue_stages 1.0" in text  # due 2025-10-13: overdue by the real clock too
    assert 'fundflow_scheduler_step_seconds_count{step="scan"}' in text
    pending = [line for line in text.splitlines() if line.startswith("fundflow_outbox_pending ")]
    assert pending and float(pending[0].split()[1]) >= 1.0  # port 9 refuses: the deliveries wait
