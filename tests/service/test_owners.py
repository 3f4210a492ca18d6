"""Owners on their phones: the case's query code and their room open a short pass to their own
share and ledger (both databases); wrong codes and rooms are throttled."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from fundflow.service.errors import HandoffRefused, InvalidInput, NotAuthenticated, TooManyRequests
from fundflow.service.usecases import owners
from tests.support.drivers import CaseDriver
from tests.support.offline import NOW, record_to_the_notice


@pytest.fixture
def drv(world) -> CaseDriver:
    d = CaseDriver(world)
    d.clock.now = NOW
    return d


@pytest.fixture
def case_id(drv) -> int:
    return record_to_the_notice(drv, date(2026, 3, 5))  # 1栋 pays: 101, 102 (1单元), 201 (2单元)


def test_the_code_belongs_to_its_case_and_cannot_be_made_up(world):
    secret = world.svc.settings.secret_key
    code = owners.owner_code(secret, 27)
    assert code.startswith("27-") and len(code) == 9 and code == owners.owner_code(secret, 27)
    assert owners.owner_code(secret, 28)[3:] != code[3:]
    assert owners.owner_code("another-secret-of-another-city-000", 27) != code


def test_the_right_code_and_room_show_that_household_only(world, drv, case_id):
    code = owners.owner_code(world.svc.settings.secret_key, case_id)
    share = drv.client.get(f"/api/v1/cases/{case_id}/apportionment", headers=world.h("so")).json()
    mine = next(r for r in share["rows"] if (r["building"], r["unit"], r["room"]) == ("1栋", "1单元", "102"))
    # typed as people type it: lower case, a full-width hyphen, 号 after the room
    p = owners.sign_in(world.svc, code.lower().replace("-", "－"), "1栋", "1单元", "102号", NOW, "10.0.0.7")
    view = owners.owner_view(world.svc, p, NOW)
    assert view["household"]["label"] == "1栋1单元102"
    assert view["share"]["mine"] == mine["share"] and view["share"]["total"] == share["total"]
    assert view["community"] == "月塘新村" and view["case"]["posted_at"].startswith("2026-03-08")
    kinds = [e["kind_label"] for e in view["entries"]]
    assert kinds[0] == "交存" and "冻结" in kinds
    text = repr(view)
    others = [r for r in share["rows"] if r["household_id"] != mine["household_id"]]
    assert all(r["share"] not in text or r["share"] == mine["share"] for r in others)
    assert "owner" not in view["household"]  # no names, not even one's own
    # the pass is the owner's: read back, refused when altered or expired
    assert owners.read_pass(world.svc, p.token, NOW + timedelta(minutes=29)).household_id == p.household_id
    with pytest.raises(NotAuthenticated):
        owners.read_pass(world.svc, p.token, NOW + timedelta(minutes=31))
    forged = p.token.replace(f"{p.household_id}.", f"{p.household_id + 1}.", 1)
    with pytest.raises(NotAuthenticated):
        owners.read_pass(world.svc, forged, NOW)


def test_a_room_outside_the_paying_scope_or_a_wrong_code_is_not_found_and_then_throttled(world, drv, case_id):
    code = owners.owner_code(world.svc.settings.secret_key, case_id)
    with pytest.raises(NotAuthenticated):
        owners.sign_in(world.svc, code, "2栋", "1单元", "101", NOW, "10.0.0.8")  # 2栋 does not pay
    with pytest.raises(NotAuthenticated):
        owners.sign_in(world.svc, f"{case_id}-AAAAAA", "1栋", "1单元", "101", NOW, "10.0.0.8")
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            owners.sign_in(world.svc, code, "1栋", "1单元", "999", NOW, "10.0.0.8")
    with pytest.raises(TooManyRequests) as caught:  # the sixth try: even the right room must wait
        owners.sign_in(world.svc, code, "1栋", "1单元", "101", NOW, "10.0.0.8")
    assert caught.value.detail["retry_after"] >= 1
    # another address, the same case: the case's key waits too (guessing rooms from many phones)
    with pytest.raises(TooManyRequests):
        owners.sign_in(world.svc, code, "1栋", "1单元", "101", NOW, "10.0.0.9")
    later = NOW + timedelta(minutes=2)
    assert owners.sign_in(world.svc, code, "1栋", "1单元", "101", later, "10.0.0.9").case_id == case_id


def test_an_owners_own_objection_is_a_record_the_street_office_answers_from_its_tasklist(world, drv, case_id):
    """Lodged from the phone during the notice: a record of the case, the street office's task,
    and the notice cannot close until it is answered."""
    from fundflow.service.audit import verify_case
    from fundflow.service.tables import Case, Event
    from tests.support.drivers import API
    from tests.support.offline import post

    code = owners.owner_code(world.svc.settings.secret_key, case_id)
    p = owners.sign_in(world.svc, code, "1栋", "1单元", "101", NOW, "10.0.0.7")
    assert owners.objections_open(world.svc, p)
    with pytest.raises(InvalidInput) as empty:
        owners.lodge_objection(world.svc, p, name="王某", text="  ", now=NOW)
    assert empty.value.code == "reason_missing"
    record = owners.lodge_objection(world.svc, p, name="王某", text="分摊面积与房产证不符", now=NOW)
    assert record["status"] == "open" and record["room"] == "1栋1单元101"
    assert [o["text"] for o in owners.my_objections(world.svc, p)] == ["分摊面积与房产证不符"]
    tasks = drv.client.get(f"{API}/tasks", headers=world.h("so")).json()
    items = tasks["items"] if isinstance(tasks, dict) else tasks
    mine = [t for t in items if t["case_id"] == case_id and t["kind"] == "objection_answer"]
    assert len(mine) == 1 and "1栋1单元101" in mine[0]["what"]
    blocked = post(drv, case_id, "so", "close_notice", {})
    assert blocked.status_code == 409, blocked.text
    answered = drv.client.post(
        f"{API}/cases/{case_id}/objections/{record['id']}/answer",
        json={"answer": "已核对房产证，面积按产权登记为准"},
        headers=world.h("so"),
    )
    assert answered.status_code == 200, answered.text
    assert owners.my_objections(world.svc, p)[0]["answer"].startswith("已核对")
    assert post(drv, case_id, "so", "close_notice", {}).status_code == 200
    assert not owners.objections_open(world.svc, p)  # the notice is over
    with pytest.raises(HandoffRefused):
        owners.lodge_objection(world.svc, p, name="王某", text="再次异议", now=NOW)
    with world.svc.sessions() as s:  # the owner's act is in the case's hash chain
        case = s.get(Case, case_id)
        events = s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq)).all()
        assert verify_case(case, events) == []
        lodged = [e for e in events if e.trigger == "record_objection"]
        assert lodged and lodged[0].user_name == "业主（1栋1单元101）" and lodged[0].role == "owner"
