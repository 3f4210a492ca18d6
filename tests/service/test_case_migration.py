"""Running cases moved from fire_hazard_emergency v1 onto the shipped v2 (plan, apply, revert),
on both databases, with the audit chain verifying after each step."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest
from sqlmodel import select

from fundflow.service.config import DEFINITIONS_DIR, Settings
from fundflow.service.context import build_services
from fundflow.service.errors import MigrationNotDeclared
from fundflow.service.integrity.verify import verify_state
from fundflow.service.tables import Case, Event, MigrationItem, Stage
from fundflow.service.usecases import migration

DEF = "fire_hazard_emergency"


def verify(svc):
    with svc.sessions() as s:
        report = verify_state(s, svc.settings, signer=svc.signer, verifier=None, files=False)
    assert report.ok, [str(f) for f in report.findings]
    return report


def case_row(svc, case_id: int) -> Case:
    with svc.sessions() as s:
        return s.get(Case, case_id)


def open_stage(svc, case_id: int) -> Stage:
    with svc.sessions() as s:
        return s.exec(select(Stage).where(Stage.case_id == case_id, Stage.left_at.is_(None))).one()


def stages(svc, case_id: int) -> list[tuple[str, bool]]:
    with svc.sessions() as s:
        rows = s.exec(select(Stage).where(Stage.case_id == case_id).order_by(Stage.id)).all()
    return [(r.state, r.left_at is None) for r in rows]


def events(svc, case_id: int) -> list[Event]:
    with svc.sessions() as s:
        return list(s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))


def at(flow, state: str) -> int:
    case_id = flow.open()
    flow.advance(case_id, state, approved="5000.00")  # small: many cases share the community's balance
    return case_id


def test_new_cases_keep_taking_v1_while_v2_is_not_current(world, flow):
    case_id = flow.open()
    assert case_row(world.svc, case_id).definition_version == 1
    assert world.svc.registry.current_version(DEF) == 1
    assert world.svc.registry.versions(DEF) == (1, 2)


def test_plan_says_where_each_case_lands_and_writes_nothing(world, flow):
    svc = world.svc
    survey, plan_case, review, pay = (
        at(flow, s) for s in ("site_survey", "plan_budget", "cost_review", "disbursement")
    )
    flow.doc(plan_case, "repair_plan", "budget")  # all v1 asks of the plan
    closed = flow.open()
    flow.fire("so", closed, "withdraw", {"reason": "重复上报"})
    before = {c: case_row(svc, c).version for c in (survey, plan_case, review, pay)}

    p = migration.plan(svc, DEF, 1, 2)

    by_id = {c["id"]: c for c in p["cases"]}
    assert set(by_id) == {survey, plan_case, review, pay}  # the withdrawn case is closed: not moved
    assert by_id[survey]["to_state"] == "joint_meeting"  # removed state, mapped
    assert by_id[pay]["to_state"] == "final_payment"  # renamed state
    # the new version requires the assessment report before the plan can leave plan_budget
    assert [d["type"] for d in by_id[plan_case]["missing_documents"]] == ["safety_assessment"]
    # the site record is now part of the meeting's file: the moved survey case lacks it
    assert "site_record" in [d["type"] for d in by_id[survey]["missing_documents"]]
    # the cost review: 5 working days under v1, 2 under v2, recomputed from the original entry
    deadline = by_id[review]["deadline"]
    assert deadline["policy"] == "recompute" and deadline["changed"]
    assert date.fromisoformat(deadline["due_after"]) < date.fromisoformat(deadline["due_before"])
    assert (deadline["rule_before"], deadline["rule_after"]) == ("5个工作日", "2个工作日")
    assert {s["state"]: s["cases"] for s in p["summary"]} == {
        "joint_meeting": 1,
        "plan_budget": 1,
        "cost_review": 1,
        "final_payment": 1,
    }
    assert {c: case_row(svc, c).version for c in before} == before
    assert all(case_row(svc, c).definition_version == 1 for c in before)


def test_apply_moves_cases_records_a_migrated_event_and_the_chain_verifies(world, flow):
    svc = world.svc
    survey, review, works, settle, pay = (
        at(flow, s) for s in ("site_survey", "cost_review", "rectification", "settlement", "disbursement")
    )
    entered = open_stage(svc, review).entered_at
    history_before = stages(svc, works)

    r = migration.apply(svc, None, DEF, 1, 2, now=flow.now)

    assert r["migrated"] == 5 and r["stale"] == [] and r["status"] == "done"
    for case_id, state in (
        (survey, "joint_meeting"),
        (review, "cost_review"),
        (works, "rectification"),
        (settle, "settlement"),
        (pay, "final_payment"),
    ):
        row = case_row(svc, case_id)
        assert (row.definition_version, row.state) == (2, state)
    # the recomputed deadline: v2's 2 working days counted from the stage's original entry
    stage = open_stage(svc, review)
    assert stage.entered_at == entered and stage.rule == "2个工作日"
    assert stage.due_date == date(2026, 3, 4)  # Monday 2 March + 2 working days (v1: Monday 9 March)
    # the field the plan's deadline reads was renamed; the deadline was kept as applied
    works_row = case_row(svc, works)
    assert "rectification_deadline" not in works_row.data and works_row.data["rectification_due"] == "2026-06-30"
    assert open_stage(svc, works).due_date == date(2026, 6, 30)
    # stage history before the migration kept; the v1 stage closed, the v2 stage open
    after = stages(svc, works)
    assert after[: len(history_before) - 1] == history_before[:-1]
    assert after[-2:] == [("rectification", False), ("rectification", True)]
    # the event: versions, mapping, deadline derivation; the events before it untouched
    last = events(svc, review)[-1]
    assert last.trigger == "migrated" and (last.from_state, last.to_state) == ("cost_review", "cost_review")
    assert last.data["from_version"] == 1 and last.data["to_version"] == 2
    assert last.data["mapping"]["disbursement"] == "final_payment"
    assert last.data["deadline"]["policy"] == "recompute" and last.data["deadline"]["rule_before"] == "5个工作日"
    verify(svc)
    # the moved cases run on v2: the split settlement now goes to the fund center's audit
    flow.doc(settle, "settlement_statement", "invoices")
    assert flow.fire("so", settle, "submit_settlement", {"settled_amount": "5000.00"})["state"] == "settlement_audit"
    assert flow.fire("fc", settle, "confirm_settlement")["state"] == "public_notice"
    verify(svc)


def test_a_second_apply_moves_nothing_twice(world, flow):
    svc = world.svc
    a, b = at(flow, "cost_review"), at(flow, "acceptance")
    migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    counts = {c: len(events(svc, c)) for c in (a, b)}
    again = migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    assert again["batch"] is None and again["migrated"] == 0
    assert {c: len(events(svc, c)) for c in (a, b)} == counts
    verify(svc)


def test_a_case_advanced_between_plan_and_apply_is_reported_not_forced(world, flow):
    svc = world.svc
    moved, advanced = at(flow, "cost_review"), at(flow, "cost_review")
    p = migration.plan(svc, DEF, 1, 2)
    flow.doc(advanced, "cost_review_report")
    flow.fire("fc", advanced, "confirm_cost", {"reviewed_amount": "50000.00"})

    r = migration.apply(svc, None, DEF, 1, 2, now=flow.now, expected={int(k): v for k, v in p["versions"].items()})

    assert r["migrated"] == 1
    assert [s["id"] for s in r["stale"]] == [advanced] and "计划" in r["stale"][0]["reason"]
    assert case_row(svc, moved).definition_version == 2
    row = case_row(svc, advanced)
    assert (row.definition_version, row.state) == (1, "fund_review")
    verify(svc)


def test_revert_moves_back_only_cases_not_advanced_since_and_apply_works_again(world, flow):
    svc = world.svc
    back, onward = at(flow, "cost_review"), at(flow, "disbursement")
    before = open_stage(svc, back)
    r = migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    flow.fire("fc", onward, "disburse", {"paid_amount": "4500.00"})  # advanced under v2

    rv = migration.revert(svc, None, r["batch"], now=flow.now)

    assert rv["reverted"] == 1 and [k["id"] for k in rv["kept"]] == [onward]
    row = case_row(svc, back)
    assert (row.definition_version, row.state) == (1, "cost_review")
    restored = open_stage(svc, back)
    assert (restored.due_date, restored.rule, restored.entered_at) == (before.due_date, before.rule, before.entered_at)
    assert events(svc, back)[-1].trigger == "migration_reverted"
    assert case_row(svc, onward).definition_version == 2
    verify(svc)
    # and applied again: a new batch moves the reverted case once more
    again = migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    assert again["batch"] != r["batch"] and again["migrated"] == 1
    assert case_row(svc, back).definition_version == 2
    verify(svc)


def test_a_crashed_run_is_resumed(world, flow):
    """An apply killed after recording its batch (some cases still pending) is finished by the rerun."""
    svc = world.svc
    a, b = at(flow, "cost_review"), at(flow, "fund_review")
    m = svc.registry.migration(DEF, 1, 2)
    batch_id, resumed = migration._open_batch(svc, None, m, flow.now, None, None)
    assert not resumed
    with svc.sessions() as s:
        first = s.exec(select(MigrationItem).where(MigrationItem.case_id == a)).one().id
    migration._migrate_one(svc, None, m, svc.registry.get(DEF, 2), batch_id, first, flow.now)  # then the crash
    r = migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    assert r["resumed"] and r["batch"] == batch_id and r["migrated"] == 2
    assert [e.trigger for e in events(svc, a)].count("migrated") == 1
    assert case_row(svc, b).definition_version == 2
    verify(svc)


def test_deadline_kept_as_applied_when_the_declaration_says_keep(world, flow, tmp_path):
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, folder)
    decl = folder / "fire_hazard_emergency.v2.migrate.yaml"
    decl.write_text(
        decl.read_text(encoding="utf-8").replace(
            "cost_review: {to: cost_review, deadline: recompute}", "cost_review: {to: cost_review, deadline: keep}"
        ),
        encoding="utf-8",
    )
    svc = build_services(
        Settings(database_url=world.svc.settings.database_url, data_dir=tmp_path / "data", definitions_dir=folder)
    )
    try:
        review = at(flow, "cost_review")
        before = open_stage(svc, review)
        assert migration.plan(svc, DEF, 1, 2)["cases"][0]["deadline"]["changed"] is False
        migration.apply(svc, None, DEF, 1, 2, now=flow.now)
        kept = open_stage(svc, review)
        assert (kept.state, kept.due_date, kept.rule) == ("cost_review", before.due_date, "5个工作日")
        verify(svc)
    finally:
        svc.close()


def test_no_declared_migration_is_refused(world):
    with pytest.raises(MigrationNotDeclared):
        migration.plan(world.svc, DEF, 2, 1)


# -- the API and the page ----------------------------------------------------------------


def test_the_api_plans_applies_and_reverts_for_admins_only(world, flow):
    svc, c = world.svc, world.client
    case_id = at(flow, "cost_review")
    body = {"action": "plan", "definition": DEF, "from_version": 1, "to_version": 2}
    refused = c.post("/api/v1/migrations", json=body, headers=world.h("so"))
    assert refused.status_code == 403 and refused.json()["code"] == "cannot_migrate_cases"
    p = c.post("/api/v1/migrations", json=body, headers=world.h("admin"))
    assert p.status_code == 200 and p.json()["total"] == 1 and case_row(svc, case_id).definition_version == 1
    applied = c.post(
        "/api/v1/migrations",
        json={**body, "action": "apply", "expected": p.json()["versions"]},
        headers=world.h("admin"),
    )
    assert applied.status_code == 200 and applied.json()["migrated"] == 1
    assert case_row(svc, case_id).definition_version == 2
    back = c.post(
        "/api/v1/migrations", json={"action": "revert", "batch": applied.json()["batch"]}, headers=world.h("admin")
    )
    assert back.status_code == 200 and back.json()["reverted"] == 1
    assert case_row(svc, case_id).definition_version == 1
    verify(svc)
    missing = c.post("/api/v1/migrations", json={"action": "apply"}, headers=world.h("admin"))
    assert missing.status_code == 422
    undeclared = c.post(
        "/api/v1/migrations", json={**body, "from_version": 2, "to_version": 1}, headers=world.h("admin")
    )
    assert undeclared.status_code == 404 and undeclared.json()["code"] == "migration_not_declared"
    unknown_batch = c.post("/api/v1/migrations", json={"action": "revert", "batch": 999}, headers=world.h("admin"))
    assert unknown_batch.status_code == 404


def test_the_page_shows_the_plan_before_it_is_applied(world, flow):
    from fastapi.testclient import TestClient

    from tests.support.web import csrf_of

    svc = world.svc
    case_id = at(flow, "cost_review")
    number = case_row(svc, case_id).number
    admin = TestClient(world.client.app, follow_redirects=False)
    admin.cookies.set("fundflow_token", world.tokens["admin"])
    clerk = TestClient(world.client.app, follow_redirects=False)
    clerk.cookies.set("fundflow_token", world.tokens["so"])
    try:
        assert clerk.get("/migrations").status_code == 403
        shown = admin.get(f"/migrations?definition={DEF}&from=1&to=2")
        assert shown.status_code == 200
        assert number in shown.text and "按此计划执行迁移" in shown.text and "按新版本重算" in shown.text
        assert case_row(svc, case_id).definition_version == 1  # shown, not applied
        form = {
            "csrf_token": csrf_of(shown.text),
            "definition": DEF,
            "from_version": "1",
            "to_version": "2",
            "expected": json.dumps({str(case_id): case_row(svc, case_id).version}),
        }
        done = admin.post("/migrations/apply", data=form)
        assert done.status_code == 200 and "已迁移" in done.text and "撤销此批次" in done.text
        assert case_row(svc, case_id).definition_version == 2
        verify(svc)
        batch = migration.batches(svc)[0]["batch"]
        back = admin.post(f"/migrations/{batch}/revert", data={"csrf_token": form["csrf_token"]})
        assert back.status_code == 200 and "已撤销" in back.text
        assert case_row(svc, case_id).definition_version == 1
        forged = admin.post(f"/migrations/{batch}/revert", data={"csrf_token": "0" * 64})
        assert forged.status_code == 403
        verify(svc)
    finally:
        admin.close()
        clerk.close()


# -- a crash half-way ----------------------------------------------------------------------


def test_an_apply_killed_with_sigkill_half_way_is_finished_by_the_rerun(services, tmp_path):
    """``fundflow migrate apply`` in a process of its own, SIGKILLed once it has moved 30 or more
    of 1,200 cases; the rerun resumes the batch and moves every case exactly once.

    The test counts and kills while it holds the lock the child's next commit needs (SQLite's
    write lock; on PostgreSQL an EXCLUSIVE lock on migration_items), so the child cannot finish
    the batch between the count and the kill however the two processes are scheduled (timed
    polling alone failed CI once: 1,200 of 1,200 moved before the kill landed). The child runs
    at a lower priority, so it does not race ahead while the test waits for its turn."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from sqlalchemy import func, text

    from tests.support.benchmarks import benchmark

    bench = benchmark("bench_migration")
    n = 1200
    bench.load(services, n)  # bulk: 1,200 running cases over every v1 state
    env = {
        **os.environ,
        "FUNDFLOW_DATABASE_URL": services.settings.database_url,
        "FUNDFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    script = Path(sys.executable).parent / "fundflow"
    proc = subprocess.Popen(
        [str(script), "migrate", "apply", DEF, "--from", "1", "--to", "2", "--batch", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.nice(10),
    )
    migrated = select(func.count()).select_from(MigrationItem).where(MigrationItem.status == "migrated")

    def moved() -> int:
        with services.sessions() as s:
            return s.exec(migrated).one()

    killed_at = None
    try:
        deadline = time.monotonic() + 120
        while killed_at is None and proc.poll() is None and time.monotonic() < deadline:
            with services.db.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the write lock
                if conn.dialect.name == "postgresql":
                    conn.execute(text("LOCK TABLE migration_items IN EXCLUSIVE MODE"))
                count = conn.execute(migrated).scalar_one()
                if count >= 30:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    os.kill(proc.pid, signal.SIGKILL)
                    assert proc.wait(timeout=30) == -signal.SIGKILL
                    killed_at = count
            time.sleep(0.002)
        assert killed_at is not None, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert 30 <= killed_at < n
    assert moved() == killed_at  # what it had not committed when killed is gone, nothing more

    r = migration.apply(services, None, DEF, 1, 2, now=bench.NOW)

    assert r["resumed"] and r["migrated"] == n and r["stale"] == []
    with services.sessions() as s:
        assert s.exec(select(func.count()).where(Case.definition_version == 2)).one() == n
        per_case = s.exec(
            select(Event.case_id, func.count()).where(Event.trigger == "migrated").group_by(Event.case_id)
        ).all()
    assert len(per_case) == n and {c for _, c in per_case} == {1}


def test_events_keep_the_version_they_were_fired_under(world, flow):
    svc = world.svc
    case_id = at(flow, "site_survey")
    migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    listed = world.client.get(f"/api/v1/cases/{case_id}/events", headers=world.h("fc")).json()
    assert [e["definition_version"] for e in listed[:-1]] == [1] * (len(listed) - 1)
    migrated = listed[-1]
    assert migrated["trigger"] == "migrated" and migrated["definition_version"] == 1
    # the removed state is named as v1 named it; where it landed, as v2 names it
    assert (migrated["from_label"], migrated["to_label"]) == ("现场查勘", "现场查勘与六方联席会议")
    flow.fire("so", case_id, "withdraw", {"reason": "重复上报"})
    after = world.client.get(f"/api/v1/cases/{case_id}/events", headers=world.h("fc")).json()
    assert after[-1]["definition_version"] == 2


def test_a_suspended_case_moves_with_its_clock_stopped_and_resumes_under_v2(world, flow):
    svc = world.svc
    case_id = at(flow, "cost_review")
    flow.fire("so", case_id, "suspend", {"reason": "等待业主续交"})
    migration.apply(svc, None, DEF, 1, 2, now=flow.now)
    row, stage = case_row(svc, case_id), open_stage(svc, case_id)
    assert row.definition_version == 2 and row.suspended_since is not None
    assert stage.next_alert_at is None  # no alerts while suspended
    flow.fire("so", case_id, "resume", {"reason": "已续交"})
    resumed = open_stage(svc, case_id)
    assert resumed.rule == "2个工作日" and resumed.next_alert_at is not None
    verify(svc)


# -- the demo city -------------------------------------------------------------------------


def test_the_demo_city_moves_to_v2_and_back_and_again_with_the_chain_verifying(tmp_path_factory, tmp_path):
    """plan -> apply -> revert -> apply on the seeded demo city (SQLite, the run's one seeded copy,
    seeded at the real moment): every running case of v1 lands somewhere in v2, the audit chain
    and the ledgers verify after each step."""
    from datetime import UTC, datetime, timedelta

    from fundflow.service.usecases import ledger
    from tests.support.demo_city import seeded_demo

    now = datetime.now(UTC)
    svc = seeded_demo(tmp_path_factory, tmp_path)
    try:

        def check():
            verify(svc)
            with svc.sessions() as s:
                assert ledger.verify_ledgers(s)[1] == []

        p = migration.plan(svc, DEF, 1, 2)
        running = p["total"]
        assert running >= 10 and sum(x["cases"] for x in p["summary"]) == running
        assert {"joint_meeting", "final_payment", "cost_review"} <= {x["state"] for x in p["summary"]}
        first = migration.apply(svc, None, DEF, 1, 2, now=now + timedelta(minutes=1))
        assert first["migrated"] == running
        check()
        back = migration.revert(svc, None, first["batch"], now=now + timedelta(minutes=2))
        assert back["reverted"] == running
        check()
        again = migration.apply(svc, None, DEF, 1, 2, now=now + timedelta(minutes=3))
        assert again["migrated"] == running
        check()
    finally:
        svc.close()
