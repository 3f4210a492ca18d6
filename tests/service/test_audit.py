"""The audit trail catches tampering done behind the service's back, straight in the database.

Each case's events are hash-chained and the case row keeps the count and the head hash: an
altered, deleted, or reordered event breaks the chain of that case, and only that case.
``fundflow audit verify`` names it and exits 1; an untouched database verifies with exit 0.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.service import context
from fundflow.service.audit import verify_all
from fundflow.service.config import get_settings
from fundflow.service.db import transaction
from fundflow.service.tables import Case, Event
from tests.support.flows import Flow
from tests.support.world import NOW


@pytest.fixture
def trail(world):
    """Three cases, each with six events (open, two uploads, the finding, an upload, the survey)."""
    flow = Flow(world)
    ids = []
    for title in ("一号楼消防泵房", "二号楼消火栓", "三号楼喷淋"):
        case_id = flow.open(title=title)
        flow.advance(case_id, "joint_meeting")
        ids.append(case_id)
    with transaction(world.svc.sessions) as s:
        numbers = {c.id: c.number for c in s.exec(select(Case))}
        assert all(c.event_count == 6 for c in s.exec(select(Case)))
    return world, ids, numbers


@pytest.fixture
def audit_cli(database_url, monkeypatch, tmp_path):
    """Runs ``fundflow audit verify`` against the test database; returns the click result."""
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(tmp_path / "data"))  # the world's: its documents are there
    get_settings.cache_clear()
    built = []
    real_build = context.build_services

    def tracking_build(settings):  # the command leaves its engine open; close it here
        svc = real_build(settings)
        built.append(svc)
        return svc

    monkeypatch.setattr(context, "build_services", tracking_build)

    def run():
        result = CliRunner().invoke(cli, ["audit", "verify"])
        for svc in built:
            svc.close()
        built.clear()
        return result

    yield run
    get_settings.cache_clear()


def _sql(svc, statement: str, **params) -> None:
    with svc.db.begin() as conn:
        conn.execute(text(statement), params)


def _json_param(svc) -> str:
    return "CAST(:data AS JSONB)" if svc.db.dialect.name == "postgresql" else ":data"


def _event(svc, case_id: int, seq: int) -> Event:
    with transaction(svc.sessions) as s:
        return s.exec(select(Event).where(Event.case_id == case_id, Event.seq == seq)).one()


def alter_data(svc, case_id):
    e = _event(svc, case_id, 4)
    assert e.trigger == "confirm_major"
    data = dict(e.data, notice_no="株消隐字〔2026〕999号")  # the finding now cites another notice
    _sql(
        svc,
        f"UPDATE events SET data = {_json_param(svc)} WHERE case_id = :c AND seq = 4",
        data=json.dumps(data),
        c=case_id,
    )


def alter_actor(svc, case_id):
    _sql(
        svc,
        "UPDATE events SET user_name = 'someone_else', role = 'fund_center' WHERE case_id = :c AND seq = 4",
        c=case_id,
    )


def delete_middle(svc, case_id):
    _sql(svc, "DELETE FROM events WHERE case_id = :c AND seq = 3", c=case_id)


def delete_newest(svc, case_id):
    _sql(svc, "DELETE FROM events WHERE case_id = :c AND seq = 6", c=case_id)


def swap_seq(svc, case_id):
    _sql(svc, "UPDATE events SET seq = -1 WHERE case_id = :c AND seq = 2", c=case_id)
    _sql(svc, "UPDATE events SET seq = 2 WHERE case_id = :c AND seq = 3", c=case_id)
    _sql(svc, "UPDATE events SET seq = 3 WHERE case_id = :c AND seq = -1", c=case_id)


def rewind_state(svc, case_id):
    """The case row is set back to an earlier state without an event saying so."""
    _sql(svc, "UPDATE cases SET state = 'site_survey' WHERE id = :c", c=case_id)


@pytest.mark.parametrize(
    "tamper", [alter_data, alter_actor, delete_middle, delete_newest, swap_seq, rewind_state], ids=lambda f: f.__name__
)
def test_tampering_is_caught_and_names_only_that_case(trail, audit_cli, tamper):
    world, ids, numbers = trail
    target = ids[1]
    tamper(world.svc, target)

    with transaction(world.svc.sessions) as s:
        checked, breaks = verify_all(s)
    assert checked == 3
    assert breaks and {b.case_id for b in breaks} == {target}
    assert all(b.case_number == numbers[target] for b in breaks)

    result = audit_cli()
    assert result.exit_code == 1, result.output
    assert numbers[target] in result.stdout
    assert all(numbers[other] not in result.stdout for other in ids if other != target)
    assert "3 case(s)," in result.stderr and "1 case(s) affected" in result.stderr


def test_small_batches_check_every_case(trail):
    world, ids, _ = trail
    delete_newest(world.svc, ids[2])
    with transaction(world.svc.sessions) as s:
        checked, breaks = verify_all(s, batch=1)
    assert checked == 3 and {b.case_id for b in breaks} == {ids[2]}


def test_an_untampered_database_verifies(trail, audit_cli):
    world, ids, _ = trail
    with transaction(world.svc.sessions) as s:
        assert verify_all(s) == (3, [])
    result = audit_cli()
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "3 case(s)," in result.stderr and "0 finding(s)" in result.stderr


def test_events_are_append_only_through_the_api(trail):
    world, ids, _ = trail
    app = world.client.app
    schema = world.client.get("/openapi.json").json()
    for path, ops in schema["paths"].items():
        if "event" in path:
            assert set(ops) == {"get"}, path
    for route in app.routes:
        if "event" in getattr(route, "path", ""):
            assert route.methods <= {"GET", "HEAD"}, route.path
    with transaction(world.svc.sessions) as s:
        before = [(e.id, e.hash) for e in s.exec(select(Event).order_by(Event.id))]
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for url in (f"/api/v1/cases/{ids[0]}/events", f"/api/v1/cases/{ids[0]}/events/1"):
            r = world.client.request(method, url, headers=world.h("admin"), json={"seq": 1, "data": {}})
            assert r.status_code in (404, 405), (method, url, r.status_code)
    listed = world.client.get(f"/api/v1/cases/{ids[0]}/events", headers=world.h("admin")).json()
    assert [e["seq"] for e in listed] == list(range(1, 7))
    with transaction(world.svc.sessions) as s:
        assert [(e.id, e.hash) for e in s.exec(select(Event).order_by(Event.id))] == before
        assert verify_all(s) == (3, [])


def test_every_change_of_a_case_is_an_event_in_its_chain(trail):
    """Uploads, votes and transitions all land in the chain, each linked to the one before."""
    world, ids, _ = trail
    flow = Flow(world)
    flow.advance(ids[0], "plan_budget")
    with transaction(world.svc.sessions) as s:
        events = s.exec(select(Event).where(Event.case_id == ids[0]).order_by(Event.seq)).all()
        case = s.get(Case, ids[0])
    kinds = [e.trigger for e in events]
    assert kinds.count("record_vote") == 4 and kinds.count("attach_document") == 5 and kinds[-1] == "meeting_approve"
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert case.head_hash == events[-1].hash and case.event_count == len(events)
    assert all(e.at == NOW for e in events)
