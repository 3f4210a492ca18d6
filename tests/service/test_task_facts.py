"""``fundflow audit verify`` covers the tasks' rows (issue 11a): a stage assignment (指派/签收)
and a 督办 are put in the facts of every event that writes them, so a row edited, removed or
added in the database, not through the use cases, is reported; on both databases."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from fundflow.domain.tz import SHANGHAI
from fundflow.service.db import read_only
from fundflow.service.integrity.verify import verify_state
from fundflow.service.usecases import alerts, assignments, supervision
from tests.support.flows import add_user, load_user
from tests.support.tasklist import assert_verified


def _findings(svc) -> list[tuple[str, str]]:
    with read_only(svc.sessions) as s:
        report = verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier if svc.signer else None)
    return [(f.kind, f.where) for f in report.findings]


def _sql(svc, statement: str, **params) -> None:
    with svc.sessions() as s, s.begin():
        assert s.execute(text(statement), params).rowcount == 1


@pytest.fixture
def assigned(world, flow):
    case_id = flow.open()
    colleague, _ = add_user(world, "fr2", "fire_rescue", "HT")
    view = assignments.assign_stage(world.svc, flow.u["fr"], case_id, assignee_id=colleague.id, now=flow.now)
    return case_id, view


def test_an_edited_assignment_is_reported(world, assigned):
    case_id, view = assigned
    assert_verified(world.svc)
    # someone points the stage at another person in the database
    _sql(
        world.svc, "UPDATE stage_assignments SET assignee_id = :u WHERE case_id = :c", u=world.ids["user_fr"], c=case_id
    )
    assert ("out_of_step", f"assignments {view['stage_id']}") in _findings(world.svc)


def test_a_claim_written_in_the_database_is_reported(world, assigned, flow):
    case_id, view = assigned
    _sql(world.svc, "UPDATE stage_assignments SET claimed_at = assigned_at WHERE case_id = :c", c=case_id)
    assert ("out_of_step", f"assignments {view['stage_id']}") in _findings(world.svc)


def test_a_removed_assignment_is_reported(world, assigned):
    case_id, view = assigned
    _sql(world.svc, "DELETE FROM stage_assignments WHERE case_id = :c", c=case_id)
    assert ("deleted", f"assignments {view['stage_id']}") in _findings(world.svc)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def issued(world, flow):
    flow.now = at(9, 14)
    case_id = flow.open()
    alerts.scan(world.svc, at(9, 29))  # overdue, escalated to the housing bureau
    hb = load_user(world.svc, world.ids["user_hb"])
    row = supervision.issue_supervision(
        world.svc, hb, case_id, content="请两个工作日内完成消防认定", reply_working_days=2, now=at(9, 29)
    )
    return case_id, row


def test_an_edited_supervision_is_reported(world, issued):
    case_id, row = issued
    assert_verified(world.svc)
    # the bureau's 督办 "closed" in the database, without the close act
    _sql(world.svc, "UPDATE supervisions SET status = 'closed' WHERE id = :i", i=row["id"])
    assert ("out_of_step", f"supervisions {row['id']}") in _findings(world.svc)


def test_a_moved_reply_deadline_is_reported(world, issued):
    case_id, row = issued
    _sql(world.svc, "UPDATE supervisions SET reply_due_date = '2026-12-31' WHERE id = :i", i=row["id"])
    assert ("out_of_step", f"supervisions {row['id']}") in _findings(world.svc)


def test_a_supervision_no_event_wrote_is_reported(world, issued):
    case_id, row = issued
    _sql(
        world.svc,
        "INSERT INTO supervisions (case_id, stage_id, state, round, status, issuer_id, issuer_role, to_role, to_org,"
        " content, reply_working_days, reply_due_date, reply_due_at, issued_at, overdue_round)"
        " SELECT case_id, stage_id, state, 2, status, issuer_id, issuer_role, to_role, to_org, content,"
        " reply_working_days, reply_due_date, reply_due_at, issued_at, 0 FROM supervisions WHERE id = :i",
        i=row["id"],
    )
    kinds = _findings(world.svc)
    assert [k for k, w in kinds if w.startswith("supervisions ") and w != f"supervisions {row['id']}"] == ["inserted"]


def test_transfer_facts_written_before_0012_are_checked_over_the_columns_they_covered():
    """A transfer's facts grew the decision's columns (0012): an event written before carries a
    digest of the columns of then (its op has no version) and is checked over those."""
    from datetime import UTC

    from fundflow.service.integrity.facts import TRANSFERS, digest
    from fundflow.service.tables import CaseTransfer

    row = CaseTransfer(
        id=7,
        case_id=1,
        role="street_office",
        level="street_office",
        from_org_id=1,
        from_org_name="月塘街道",
        to_org_id=2,
        to_org_name="建宁街道",
        reason="误报",
        transferred_by=1,
        transferred_at=datetime(2026, 3, 2, 2, tzinfo=UTC),
        event_seq=2,
        status="accepted",
    )
    name, op = TRANSFERS.put(row)
    assert name == "transfers" and op[3] == 2 and TRANSFERS.fields_of(op) == TRANSFERS.fields
    legacy = ["=", 7, digest([row], TRANSFERS.legacy_fields)]
    assert TRANSFERS.fields_of(legacy) == TRANSFERS.legacy_fields
    assert digest([row], TRANSFERS.fields_of(legacy)) == legacy[2]
    row.status = "declined"  # the decision is covered only by the new digest
    assert digest([row], TRANSFERS.fields_of(op)) != op[2]
