"""``fundflow audit verify`` on a database upgraded past the facts rules for assignments and
督办 (issue 11): a row written before its rule (its event has no facts for the rule) is not
reported as inserted; a row inserted in the database today still is, and so is an edit to a
row the rule covers. The "before" is written the way the code of then wrote it: the same use
case, its event without the rule's facts. Both databases."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text
from sqlmodel import select

from fundflow.domain.tz import SHANGHAI
from fundflow.service.db import read_only
from fundflow.service.integrity.facts import ASSIGNMENTS, SUPERVISIONS
from fundflow.service.integrity.verify import verify_state
from fundflow.service.tables import Event
from fundflow.service.usecases import alerts, assignments, supervision
from tests.support.flows import add_user, load_user


def _findings(svc) -> list[tuple[str, str]]:
    with read_only(svc.sessions) as s:
        report = verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier if svc.signer else None)
    return [(f.kind, f.where) for f in report.findings]


def _sql(svc, statement: str, **params) -> None:
    with svc.sessions() as s, s.begin():
        assert s.execute(text(statement), params).rowcount == 1


def _before(monkeypatch, module, rule) -> None:
    """The module's events as the code before ``rule`` wrote them: no facts for the rule."""
    original = module.append_event

    def append_event(*args, **kwargs):
        args = list(args)
        if len(args) > 10:
            args[10] = [w for w in args[10] if w[0] != rule.name]
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "append_event", append_event)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def colleague(world):
    user, _ = add_user(world, "fr2", "fire_rescue", "HT")
    return user


def test_an_assignment_written_before_its_rule_is_not_reported(world, flow, colleague, monkeypatch):
    case_id = flow.open()
    with monkeypatch.context() as m:
        _before(m, assignments, ASSIGNMENTS)
        view = assignments.assign_stage(world.svc, flow.u["fr"], case_id, assignee_id=colleague.id, now=flow.now)
    with world.svc.sessions() as s:  # the event of then: facts, but none for assignments
        last = s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq.desc())).first()
    assert last.facts is not None and "assignments" not in last.facts
    assert _findings(world.svc) == []
    # moved to another person in the database: no event of then wrote that row
    _sql(world.svc, "UPDATE stage_assignments SET assignee_id = :u WHERE case_id = :c", u=flow.u["fr"].id, c=case_id)
    assert ("inserted", f"assignments {view['stage_id']}") in _findings(world.svc)


def test_a_claim_today_of_an_assignment_from_before_is_checked(world, flow, colleague, monkeypatch):
    case_id = flow.open()
    with monkeypatch.context() as m:
        _before(m, assignments, ASSIGNMENTS)
        view = assignments.assign_stage(world.svc, flow.u["fr"], case_id, assignee_id=colleague.id, now=flow.now)
    assignments.claim_stage(world.svc, load_user(world.svc, colleague.id), case_id, now=flow.now)
    assert _findings(world.svc) == []
    # the row is covered now (the claim put it): an edit shows
    _sql(world.svc, "UPDATE stage_assignments SET claimed_at = NULL WHERE case_id = :c", c=case_id)
    assert ("out_of_step", f"assignments {view['stage_id']}") in _findings(world.svc)


def test_an_assignment_inserted_in_the_database_is_still_reported(world, flow, colleague, monkeypatch):
    case_id = flow.open()
    with monkeypatch.context() as m:
        _before(m, assignments, ASSIGNMENTS)
        assignments.assign_stage(world.svc, flow.u["fr"], case_id, assignee_id=colleague.id, now=flow.now)
    # a second case: its stage assigned by SQL, at the first assignment's very moment
    other = flow.open()
    _sql(
        world.svc,
        "INSERT INTO stage_assignments (case_id, stage_id, assignee_id, assigned_by, assigned_at)"
        " SELECT :o, (SELECT id FROM stages WHERE case_id = :o ORDER BY id DESC LIMIT 1), assignee_id, assigned_by,"
        " assigned_at FROM stage_assignments WHERE case_id = :c",
        o=other,
        c=case_id,
    )
    findings = _findings(world.svc)
    assert [k for k, w in findings if w.startswith("assignments ")] == ["inserted"]


@pytest.fixture
def issued_before(world, flow, monkeypatch):
    """A 督办 issued by the code before the SUPERVISIONS rule."""
    flow.now = at(9, 14)
    case_id = flow.open()
    alerts.scan(world.svc, at(9, 29))  # overdue, escalated to the housing bureau
    hb = load_user(world.svc, world.ids["user_hb"])
    with monkeypatch.context() as m:
        _before(m, supervision, SUPERVISIONS)
        row = supervision.issue_supervision(
            world.svc, hb, case_id, content="请两个工作日内完成消防认定", reply_working_days=2, now=at(9, 29)
        )
    return case_id, row


def test_a_supervision_issued_before_its_rule_is_not_reported(world, issued_before):
    case_id, row = issued_before
    assert _findings(world.svc) == []


def test_a_supervision_from_before_renewed_in_the_database_is_reported(world, issued_before):
    case_id, row = issued_before
    _sql(world.svc, "UPDATE supervisions SET round = 2 WHERE id = :i", i=row["id"])
    assert ("inserted", f"supervisions {row['id']}") in _findings(world.svc)


def test_a_supervision_inserted_beside_one_from_before_is_reported(world, issued_before):
    case_id, row = issued_before
    _sql(
        world.svc,
        "INSERT INTO supervisions (case_id, stage_id, state, round, status, issuer_id, issuer_role, to_role, to_org,"
        " content, reply_working_days, reply_due_date, reply_due_at, issued_at, overdue_round)"
        " SELECT case_id, stage_id, state, round, status, issuer_id, issuer_role, to_role, to_org, content,"
        " reply_working_days, reply_due_date, reply_due_at, issued_at, 0 FROM supervisions WHERE id = :i",
        i=row["id"],
    )
    findings = _findings(world.svc)
    assert [k for k, w in findings if w.startswith("supervisions ")] == ["inserted"]
    assert ("inserted", f"supervisions {row['id']}") not in findings


def test_a_reply_today_to_a_supervision_from_before_is_checked(world, flow, issued_before):
    case_id, row = issued_before
    supervision.reply_supervision(world.svc, flow.u["fr"], row["id"], reply="已完成现场认定", now=at(9, 30))
    assert _findings(world.svc) == []
    _sql(world.svc, "UPDATE supervisions SET reply = '未处理' WHERE id = :i", i=row["id"])
    assert ("out_of_step", f"supervisions {row['id']}") in _findings(world.svc)
