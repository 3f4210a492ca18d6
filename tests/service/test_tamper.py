"""The tamper corpus: what an insider with write access to the database (and the data folder)
could do behind the service's back, and the exact kind ``fundflow audit verify`` names for it.

The estate: case A walked to the archive (votes, documents, the settlement's ledger debits),
case B in plan_budget after its joint meeting, case C suspended and resumed in site_survey; all
of it under signed checkpoint 1, copied to the checkpoint file. Each tamper is done in SQL (or
on disk) the way an attacker who knows every algorithm but not the key would: recomputing the
chain, the head, the counters and the row digests where that helps them. Each must be reported
with its kind, naming the case it touched and no other; an untouched estate verifies clean.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Integer, text, update
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.http.app import create_app
from fundflow.http.deps import get_now
from fundflow.service import backup as bk
from fundflow.service import context
from fundflow.service.audit import GENESIS, event_hash
from fundflow.service.config import Settings, get_settings
from fundflow.service.context import build_services
from fundflow.service.db import transaction
from fundflow.service.integrity.checkpoints import write_checkpoint
from fundflow.service.integrity.facts import case_digest
from fundflow.service.integrity.keys import generate
from fundflow.service.integrity.verify import verify_state
from fundflow.service.scheduler import tick
from fundflow.service.tables import Case, Channel, Event, metadata
from tests.support.databases import wipe
from tests.support.flows import Flow
from tests.support.receivers import Receiver
from tests.support.world import NOW, World, build_world


@pytest.fixture
def key_file(tmp_path, template) -> Path:
    """The estate's signing key (and its public half), copied for this test."""
    shutil.copytree(template.keys, tmp_path / "keys")
    return tmp_path / "keys" / "audit.pem"


@pytest.fixture
def services(database_url, tmp_path, key_file):
    """Overrides conftest's: the service holds a signing key, as in production."""
    svc = build_services(Settings(database_url=database_url, data_dir=tmp_path / "data", signing_key_file=key_file))
    wipe(svc)
    yield svc
    svc.close()


@dataclass
class Estate:
    svc: object
    flow: Flow
    a: int
    b: int
    c: int
    numbers: dict[int, str]


@dataclass
class Template:
    """The estate as built once per database and test process: every table's rows, the data
    folder (documents, the checkpoint file) and the signing key; each test gets a copy."""

    rows: dict[str, list[dict]]
    data: Path
    keys: Path
    ids: dict[str, int]
    tokens: dict[str, str]
    now: object
    cases: tuple[int, int, int]
    numbers: dict[int, str]


def build_estate(world) -> Estate:
    world.client.app.dependency_overrides[get_now] = lambda: NOW
    flow = Flow(world)
    a = flow.open(title="一号楼消防泵房")
    flow.advance(a, "archived")  # the disbursement debits every household's ledger
    b = flow.open(title="二号楼消火栓")
    flow.advance(b, "plan_budget")
    flow.doc(b, "repair_plan")  # B's newest event: an upload, the state unchanged
    c = flow.open(title="三号楼喷淋")
    flow.advance(c, "site_survey")
    flow.fire("so", c, "suspend", {"reason": "等待业主续交"})
    flow.now += timedelta(days=3)
    flow.fire("so", c, "resume", {"reason": "续交到位"})
    svc = world.svc
    cp = write_checkpoint(svc, flow.now, force=True)
    with svc.sessions() as s:
        total = s.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
        numbers = dict(s.execute(text("SELECT id, number FROM cases")).all())
        assert s.execute(text("SELECT COUNT(*) FROM ledger_entries WHERE case_id = :a"), {"a": a}).scalar_one() > 1
    assert cp is not None and cp.number == 1 and cp.upto == total
    report = verify(svc)
    assert report.ok, [str(f) for f in report.findings]
    assert report.checkpoints == 1 and report.cases == 3 and report.events == total
    return Estate(svc, flow, a, b, c, numbers)


@pytest.fixture(scope="session")
def template(database_url, tmp_path_factory) -> Template:
    """Walking the three cases costs seconds; the ~40 tests that tamper with the estate share
    one walk per database and restore its rows, data folder and key (``estate``)."""
    root = tmp_path_factory.mktemp("estate")
    generate(root / "keys" / "audit.pem")
    svc = build_services(
        Settings(database_url=database_url, data_dir=root / "data", signing_key_file=root / "keys" / "audit.pem")
    )
    try:
        wipe(svc)
        world = build_world(svc)
        e = build_estate(world)
        world.client.close()
        with svc.db.begin() as conn:
            rows = {t.name: [dict(r) for r in conn.execute(t.select()).mappings()] for t in metadata.sorted_tables}
        wipe(svc)
    finally:
        svc.close()
    return Template(rows, root / "data", root / "keys", world.ids, world.tokens, e.flow.now, (e.a, e.b, e.c), e.numbers)


def restore(svc, template: Template) -> None:
    """The template's rows into the (emptied) database, the sequences past them."""
    with svc.db.begin() as conn:
        for t in metadata.sorted_tables:
            if template.rows[t.name]:
                conn.execute(t.insert(), template.rows[t.name])
        if svc.db.dialect.name == "postgresql":
            for t in metadata.sorted_tables:
                for col in t.primary_key.columns:
                    if col.autoincrement is not False and isinstance(col.type, Integer):
                        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": t.name, "c": col.name})
                        if (name := seq.scalar()) is not None:
                            conn.execute(
                                text(
                                    f'SELECT setval(:s, COALESCE((SELECT MAX("{col.name}") FROM "{t.name}"), 0) + 1, false)'
                                ),
                                {"s": name},
                            )


@pytest.fixture
def estate(services, template, tmp_path) -> Estate:
    """Case A walked to the archive, B in plan_budget, C suspended and resumed, under checkpoint 1:
    the template's copy, verified clean."""
    restore(services, template)
    shutil.copytree(template.data, tmp_path / "data", dirs_exist_ok=True)
    world = World(
        services,
        TestClient(create_app(services=services), raise_server_exceptions=False),
        dict(template.ids),
        dict(template.tokens),
    )
    world.client.app.dependency_overrides[get_now] = lambda: NOW
    flow = Flow(world, now=template.now)
    report = verify(services)
    assert report.ok, [str(f) for f in report.findings]
    yield Estate(services, flow, *template.cases, dict(template.numbers))
    world.client.close()


def verify(svc, witness=()):
    with svc.sessions() as s:
        return verify_state(s, svc.settings, signer=svc.signer, verifier=svc.signer.verifier, witness=witness)


@pytest.fixture
def audit_cli(database_url, monkeypatch, tmp_path, key_file):
    """``fundflow audit verify`` against the test database, with the service's data folder and key."""
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FUNDFLOW_SIGNING_KEY_FILE", str(key_file))
    get_settings.cache_clear()
    built = []
    real_build = context.build_services

    def tracking_build(settings):
        svc = real_build(settings)
        built.append(svc)
        return svc

    monkeypatch.setattr(context, "build_services", tracking_build)

    def run(*args, command="verify"):
        result = CliRunner().invoke(cli, ["audit", command, *args])
        for svc in built:
            svc.close()
        built.clear()
        return result

    yield run
    get_settings.cache_clear()


# -- the attacker's tools ------------------------------------------------------------------------


def sql(svc, statement: str, **params):
    with svc.db.begin() as conn:
        return conn.execute(text(statement), params)


def one(svc, statement: str, **params):
    with svc.db.begin() as conn:
        return conn.execute(text(statement), params).first()


def jsonb(svc) -> str:
    return "CAST(:data AS JSONB)" if svc.db.dialect.name == "postgresql" else ":data"


def events_of(svc, case_id: int) -> list[Event]:
    with transaction(svc.sessions) as s:
        return list(s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))


def rechain(svc, case_id: int) -> None:
    """Recompute every hash of the case from the stored content, and the case's head and count:
    what the plain hash chain could not catch. (The seals cannot be recomputed without the key.)"""
    prev = GENESIS
    evs = events_of(svc, case_id)
    with svc.db.begin() as conn:
        for e in evs:
            h = event_hash(
                e.case_id,
                e.seq,
                e.trigger,
                e.from_state,
                e.to_state,
                e.user_id,
                e.user_name,
                e.role,
                e.org,
                e.data,
                e.comment,
                e.at,
                prev,
                e.facts,
            )
            conn.execute(
                text("UPDATE events SET prev_hash = :p, hash = :h WHERE id = :i"), {"p": prev, "h": h, "i": e.id}
            )
            prev = h
        conn.execute(
            text("UPDATE cases SET head_hash = :h, event_count = :n WHERE id = :c"),
            {"h": prev, "n": len(evs), "c": case_id},
        )


def refact_case(svc, case_id: int) -> None:
    """Make the newest event's digest of the case row match the (edited) row, then rechain."""
    with transaction(svc.sessions) as s:
        case = s.get(Case, case_id)
        last = s.exec(select(Event).where(Event.case_id == case_id).order_by(Event.seq.desc())).first()
        facts = dict(last.facts, case=case_digest(case))
    sql(svc, f"UPDATE events SET facts = {jsonb(svc)} WHERE id = :i", data=json.dumps(facts), i=last.id)
    rechain(svc, case_id)


# -- the corpus: each returns (the kind that must be named, the case it touched or None) ------------


def edit_event_and_recompute_every_hash(e: Estate):
    ev = events_of(e.svc, e.b)[3]
    sql(
        e.svc,
        f"UPDATE events SET data = {jsonb(e.svc)} WHERE id = :i",
        data=json.dumps(dict(ev.data, notice_no="株消隐字〔2026〕999号")),
        i=ev.id,
    )
    rechain(e.svc, e.b)
    return "altered", e.b


def edit_event_actor(e: Estate):
    sql(
        e.svc,
        "UPDATE events SET user_name = 'someone_else', role = 'fund_center' WHERE case_id = :c AND seq = 4",
        c=e.b,
    )
    return "altered", e.b


def forge_appended_event(e: Estate):
    last = events_of(e.svc, e.b)[-1]
    with transaction(e.svc.sessions) as s:
        case = s.get(Case, e.b)
        facts = {"case": case_digest(case)}
        seq = case.event_count + 1
    data = {"reason": "补充说明"}
    h = event_hash(
        e.b,
        seq,
        "add_note",
        last.to_state,
        last.to_state,
        None,
        "系统",
        "system",
        None,
        data,
        None,
        last.at,
        last.hash,
        facts,
    )
    sql(
        e.svc,
        "INSERT INTO events (case_id, seq, trigger, label, from_state, to_state, user_id, user_name, role, org, "
        f"data, comment, at, prev_hash, hash, facts) VALUES (:c, :s, 'add_note', '补充', :f, :f, NULL, '系统', "
        f"'system', NULL, {jsonb(e.svc)}, NULL, :at, :p, :h, {jsonb(e.svc).replace(':data', ':facts')})",
        c=e.b,
        s=seq,
        f=last.to_state,
        data=json.dumps(data),
        at=last.at,
        p=last.hash,
        h=h,
        facts=json.dumps(facts),
    )
    sql(
        e.svc,
        "UPDATE cases SET event_count = :n, head_hash = :h, version = version + 1 WHERE id = :c",
        n=seq,
        h=h,
        c=e.b,
    )
    return "inserted", e.b


def forge_event_numbered_past_the_checkpoint(e: Estate):
    forge_appended_event(e)
    top = one(e.svc, "SELECT MAX(gseq) FROM events")[0]
    sql(e.svc, "UPDATE events SET gseq = :g WHERE case_id = :c AND gseq IS NULL", g=top + 1, c=e.b)
    return "inserted", e.b


def delete_middle_event(e: Estate):
    sql(e.svc, "DELETE FROM events WHERE case_id = :c AND seq = 3", c=e.b)
    return "deleted", e.b


def delete_last_event_and_reset_the_case(e: Estate):
    """B's newest event (an upload) and its document go; count, head, state, version and the
    time are set back as they were before it: the case is consistent, only the checkpoint knows."""
    evs = events_of(e.svc, e.b)
    last, before = evs[-1], evs[-2]
    sql(e.svc, "DELETE FROM documents WHERE id = (SELECT MAX(id) FROM documents WHERE case_id = :c)", c=e.b)
    sql(e.svc, "DELETE FROM events WHERE id = :i", i=last.id)
    sql(
        e.svc,
        "UPDATE cases SET event_count = :n, head_hash = :h, state = :st, version = version - 1, updated_at = :at "
        "WHERE id = :c",
        n=before.seq,
        h=before.hash,
        st=before.to_state,
        at=before.at,
        c=e.b,
    )
    return "deleted", e.b


def delete_whole_case(e: Estate):
    for table in ("events", "stages", "documents", "meeting_votes", "ledger_entries", "top_up_notices"):
        sql(e.svc, f"DELETE FROM {table} WHERE case_id = :c", c=e.c)
    sql(e.svc, "DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE case_id = :c)", c=e.c)
    sql(e.svc, "DELETE FROM alerts WHERE case_id = :c", c=e.c)
    sql(e.svc, "DELETE FROM cases WHERE id = :c", c=e.c)
    return "deleted", e.c


def swap_events_and_recompute(e: Estate):
    """Two events of B change places (a transition and the upload before it), chain recomputed."""
    evs = events_of(e.svc, e.b)
    i = next(k for k, ev in enumerate(evs) if k > 0 and ev.from_state != ev.to_state)
    x, y = evs[i - 1], evs[i]
    sql(e.svc, "UPDATE events SET seq = -1 WHERE id = :i", i=x.id)
    sql(e.svc, "UPDATE events SET seq = :s WHERE id = :i", s=x.seq, i=y.id)
    sql(e.svc, "UPDATE events SET seq = :s WHERE id = :i", s=y.seq, i=x.id)
    rechain(e.svc, e.b)
    return "reordered", e.b


def swap_seq(e: Estate):
    sql(e.svc, "UPDATE events SET seq = -1 WHERE case_id = :c AND seq = 2", c=e.b)
    sql(e.svc, "UPDATE events SET seq = 2 WHERE case_id = :c AND seq = 3", c=e.b)
    sql(e.svc, "UPDATE events SET seq = 3 WHERE case_id = :c AND seq = -1", c=e.b)
    return "reordered", e.b


def edit_stage_due_date(e: Estate):
    sql(
        e.svc,
        "UPDATE stages SET due_date = :d, due_at = :t WHERE case_id = :c AND left_at IS NULL",
        d=(NOW + timedelta(days=300)).date(),
        t=NOW + timedelta(days=300),
        c=e.b,
    )
    return "out_of_step", e.b


def edit_stage_history(e: Estate):
    sql(
        e.svc,
        "UPDATE stages SET entered_at = :t WHERE id = (SELECT MIN(id) FROM stages WHERE case_id = :c)",
        t=NOW - timedelta(days=40),
        c=e.a,
    )
    return "out_of_step", e.a


def edit_suspension(e: Estate):
    sql(
        e.svc,
        "UPDATE stages SET suspended_days = 0, suspended_working_days = 0 WHERE case_id = :c AND left_at IS NULL",
        c=e.c,
    )
    return "out_of_step", e.c


def insert_stage_row(e: Estate):
    sql(
        e.svc,
        "INSERT INTO stages (case_id, state, entered_at, provisional, suspended_working_days, suspended_days) "
        "VALUES (:c, 'site_survey', :t, false, 0, 0)",
        c=e.b,
        t=NOW,
    )
    return "inserted", e.b


def edit_money_columns(e: Estate):
    sql(e.svc, "UPDATE cases SET approved_amount = approved_amount + 1000000, paid_amount = 0 WHERE id = :c", c=e.a)
    return "out_of_step", e.a


def edit_money_and_recompute_the_digest(e: Estate):
    sql(e.svc, "UPDATE cases SET settled_amount = settled_amount * 2 WHERE id = :c", c=e.a)
    refact_case(e.svc, e.a)
    return "altered", e.a


def edit_household_balance(e: Estate):
    hid = one(e.svc, "SELECT MIN(household_id) FROM ledger_entries WHERE case_id = :c", c=e.a)[0]
    sql(e.svc, "UPDATE households SET balance = balance + 100000 WHERE id = :h", h=hid)  # fen: 1,000 yuan
    return "out_of_step", None


def edit_ledger_entry(e: Estate):
    sql(
        e.svc,
        "UPDATE ledger_entries SET amount = amount - 100, balance_after = balance_after + 100 "
        "WHERE id = (SELECT MIN(id) FROM ledger_entries WHERE case_id = :c)",
        c=e.a,
    )
    return "out_of_step", e.a


def delete_ledger_entry(e: Estate):
    sql(e.svc, "DELETE FROM ledger_entries WHERE id = (SELECT MAX(id) FROM ledger_entries WHERE case_id = :c)", c=e.a)
    return "deleted", e.a


def edit_household_frozen(e: Estate):
    sql(e.svc, "UPDATE households SET frozen = frozen + 5000 WHERE id = (SELECT MIN(id) FROM households)")
    return "out_of_step", None


def forge_journal_entry(e: Estate):
    """A debit added to case A's journal under the event that made its payment."""
    row = one(
        e.svc,
        "SELECT household_id, event_seq, balance_after, frozen_after, at FROM ledger_entries "
        "WHERE case_id = :c AND kind = 'debit' ORDER BY id DESC",
        c=e.a,
    )
    sql(
        e.svc,
        "INSERT INTO ledger_entries (household_id, case_id, event_seq, kind, amount, balance_after, frozen_after, "
        "at) VALUES (:h, :c, :s, 'debit', 100, :b, :f, :at)",
        h=row[0],
        c=e.a,
        s=row[1],
        b=row[2] - 100,
        f=row[3],
        at=row[4],
    )
    return "inserted", e.a


def edit_case_data(e: Estate):
    with transaction(e.svc.sessions) as s:
        data = dict(s.get(Case, e.b).data, budget_estimate="990000.00")
    sql(e.svc, f"UPDATE cases SET data = {jsonb(e.svc)} WHERE id = :c", data=json.dumps(data), c=e.b)
    return "out_of_step", e.b


def edit_case_title(e: Estate):
    sql(e.svc, "UPDATE cases SET title = '另一个案件' WHERE id = :c", c=e.b)
    return "out_of_step", e.b


def move_case_opened_at(e: Estate):
    """Moved into another period, the case would count in another year's rates."""
    with e.svc.db.begin() as conn:
        conn.execute(update(Case).where(Case.id == e.b).values(opened_at=e.flow.now - timedelta(days=400)))
    return "out_of_step", e.b


def rewind_case_state(e: Estate):
    sql(e.svc, "UPDATE cases SET state = 'site_survey' WHERE id = :c", c=e.b)
    return "out_of_step", e.b


def edit_meeting_vote(e: Estate):
    sql(e.svc, "UPDATE meeting_votes SET vote = 'disagree' WHERE case_id = :c AND party = 'fund_center'", c=e.b)
    return "out_of_step", e.b


def delete_meeting_vote(e: Estate):
    sql(e.svc, "DELETE FROM meeting_votes WHERE case_id = :c AND party = 'fire_rescue'", c=e.b)
    return "deleted", e.b


def edit_document_row(e: Estate):
    sql(
        e.svc,
        "UPDATE documents SET filename = '伪造.pdf', size = size + 1 WHERE id = "
        "(SELECT MIN(id) FROM documents WHERE case_id = :c)",
        c=e.b,
    )
    return "out_of_step", e.b


def change_document_file(e: Estate):
    sha = one(e.svc, "SELECT sha256 FROM documents WHERE case_id = :c ORDER BY id", c=e.b)[0]
    (e.svc.settings.documents_dir / str(e.b) / sha).write_bytes(b"another photo")
    return "file_changed", e.b


def delete_document_file(e: Estate):
    sha = one(e.svc, "SELECT sha256 FROM documents WHERE case_id = :c ORDER BY id", c=e.a)[0]
    (e.svc.settings.documents_dir / str(e.a) / sha).unlink()
    return "file_changed", e.a


def alter_checkpoint_row(e: Estate):
    sql(e.svc, "UPDATE checkpoints SET head = :h", h="f" * 64)
    return "altered", None


def delete_newest_checkpoint(e: Estate):
    sql(e.svc, "UPDATE events SET gseq = NULL")
    sql(e.svc, "DELETE FROM checkpoints")
    return "rolled_back", None


def roll_back_the_database_past_a_witnessed_checkpoint(e: Estate):
    """A backup taken under checkpoint 1; then more work and checkpoint 2 (copied to the file);
    then the old backup is restored: every row is consistent, the copy outside is not."""
    settings = e.svc.settings
    bk.backup(settings, settings.data_dir.parent / "old-backup")
    e.flow.doc(e.b, "budget")
    assert write_checkpoint(e.svc, e.flow.now + timedelta(minutes=10)).number == 2
    e.svc.db.dispose()  # the restore replaces the database under the pool
    assert bk.restore(settings, settings.data_dir.parent / "old-backup", force=True).ok
    return "rolled_back", None


CORPUS = [
    edit_event_and_recompute_every_hash,
    edit_event_actor,
    forge_appended_event,
    forge_event_numbered_past_the_checkpoint,
    delete_middle_event,
    delete_last_event_and_reset_the_case,
    delete_whole_case,
    swap_events_and_recompute,
    swap_seq,
    edit_stage_due_date,
    edit_stage_history,
    edit_suspension,
    insert_stage_row,
    edit_money_columns,
    edit_money_and_recompute_the_digest,
    edit_household_balance,
    edit_household_frozen,
    edit_ledger_entry,
    delete_ledger_entry,
    forge_journal_entry,
    edit_case_data,
    edit_case_title,
    move_case_opened_at,
    rewind_case_state,
    edit_meeting_vote,
    delete_meeting_vote,
    edit_document_row,
    change_document_file,
    delete_document_file,
    alter_checkpoint_row,
    delete_newest_checkpoint,
    roll_back_the_database_past_a_witnessed_checkpoint,
]


@pytest.mark.parametrize("tamper", CORPUS, ids=lambda f: f.__name__)
def test_each_kind_of_tampering_is_named(estate, audit_cli, tamper):
    kind, target = tamper(estate)
    report = verify(estate.svc)
    lines = [str(f) for f in report.findings]
    assert not report.ok
    named = [f for f in report.findings if f.kind == kind and f.case_id == target]
    assert named, (kind, target, lines)
    others = {estate.a, estate.b, estate.c} - {target}
    if target is not None:
        assert not [f for f in report.findings if f.case_id in others], lines

    result = audit_cli()
    assert result.exit_code == 1, result.output
    assert any(line.startswith(f"{kind}: ") for line in result.stdout.splitlines()), result.stdout
    if target is not None and tamper is not delete_whole_case:
        assert estate.numbers[target] in result.stdout
    for other in others:
        assert estate.numbers[other] not in result.stdout


def test_the_untouched_estate_verifies_clean_from_the_command_line(estate, audit_cli):
    result = audit_cli()
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "3 case(s)," in result.stderr and "1 checkpoint(s)" in result.stderr and "0 finding(s)" in result.stderr


def test_the_public_key_alone_verifies_checkpoints(estate, audit_cli, key_file, monkeypatch, tmp_path):
    """Without the private key (an auditor's machine) the checkpoints still verify, and a
    checkpoint signed by another key is refused."""
    monkeypatch.delenv("FUNDFLOW_SIGNING_KEY_FILE")
    result = audit_cli("--public-key", f"{key_file}.pub")
    assert result.exit_code == 0, result.output
    assert "event seals not checked" in result.stderr
    other = generate(tmp_path / "other.pem")
    with estate.svc.sessions() as s:
        st = s.execute(text("SELECT statement FROM checkpoints")).scalar_one()
    sql(estate.svc, "UPDATE checkpoints SET signature = :sig", sig=other.sign(st.encode()))
    result = audit_cli("--public-key", f"{key_file}.pub")
    assert result.exit_code == 1
    assert "altered: checkpoint 1: its signature does not verify" in result.stdout


def test_the_checkpointer_never_signs_a_forged_event(estate):
    forge_appended_event(estate)
    estate.flow.doc(estate.c, "site_record")  # a real event after the forged one
    cp = write_checkpoint(estate.svc, estate.flow.now + timedelta(minutes=10))
    assert cp is not None and cp.number == 2
    with estate.svc.sessions() as s:
        unnumbered = s.execute(text("SELECT case_id, trigger FROM events WHERE gseq IS NULL")).all()
    assert [tuple(r) for r in unnumbered] == [(estate.b, "add_note")]
    report = verify(estate.svc)
    assert report.kinds(estate.b) >= {"inserted"} and not report.kinds(estate.c)


def test_checkpoints_come_from_the_tick_at_most_once_per_interval(estate):
    svc = estate.svc
    later = estate.flow.now + timedelta(seconds=30)
    estate.flow.doc(estate.b, "budget")
    assert tick(svc, later).checkpoint is None  # 30 s after checkpoint 1: not yet
    result = tick(svc, estate.flow.now + timedelta(minutes=6))
    assert result.checkpoint == 2 and not result.errors
    assert tick(svc, estate.flow.now + timedelta(minutes=20)).checkpoint is None  # nothing new
    lines = svc.settings.checkpoint_file.read_text().splitlines()
    assert [json.loads(ln)["number"] for ln in lines] == [1, 2]
    assert verify(svc).ok


def test_each_checkpoint_reaches_the_witness_and_a_rollback_shows_against_its_copy(database_url, tmp_path, key_file):
    """The witness (a webhook here) receives every checkpoint through the outbox; after the
    database is rolled back and the local file is lost too, the witness's copy still shows it."""
    receiver = Receiver()
    receiver.start()
    try:
        svc = build_services(
            Settings(
                database_url=database_url,
                data_dir=tmp_path / "data",
                signing_key_file=key_file,
                witness_channel="审计见证",
                webhook_allowed_hosts="127.0.0.1",
            )
        )  # the local receiver
        wipe(svc)
        try:
            world = build_world(svc)
            with transaction(svc.sessions) as s:
                s.add(
                    Channel(
                        name="审计见证", kind="webhook", target=receiver.url("/witness"), role="witness", created_at=NOW
                    )
                )
            flow = Flow(world)
            case = flow.open()
            bk.backup(svc.settings, tmp_path / "old-backup")
            assert tick(svc, NOW + timedelta(minutes=1)).checkpoint == 1
            flow.doc(case, "hazard_photos")
            assert tick(svc, NOW + timedelta(minutes=7)).checkpoint == 2
            got = [e["body"] for e in receiver.accepted if e["path"] == "/witness"]
            assert [json.loads(b["message"])["number"] for b in got] == [1, 2]
            assert all(b["kind"] == "checkpoint" for b in got)
            copy = tmp_path / "witness.jsonl"
            copy.write_text("".join(json.dumps(b) + "\n" for b in got))

            svc.db.dispose()
            assert bk.restore(svc.settings, tmp_path / "old-backup", force=True).ok
            svc.settings.checkpoint_file.unlink()
            assert verify(svc).ok  # nothing in the database or the data folder shows it now
            report = verify(svc, witness=[copy])
            assert report.kinds() == {"rolled_back"}, [str(f) for f in report.findings]
            world.client.close()
        finally:
            svc.close()
    finally:
        receiver.stop()


def test_the_signing_key_is_written_once_and_kept_private(tmp_path):
    path = tmp_path / "k" / "audit.pem"
    signer = generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert "PUBLIC KEY" in Path(f"{path}.pub").read_text() and len(signer.key_id) == 16
    with pytest.raises(Exception, match="already exists"):
        generate(path)


def test_production_requires_a_signing_key():
    with pytest.raises(ValueError, match="SIGNING_KEY_FILE"):
        Settings(environment="production", secret_key="x" * 40, database_url="postgresql://db/fundflow")


def test_money_is_decimal_in_the_digest():
    """Decimal('5.00') and Decimal('5') are one amount: the row read back has the column's scale."""
    from fundflow.service.integrity.facts import digest

    class Row:
        def __init__(self, v):
            self.v = v

    assert digest([Row(Decimal("5.00"))], ("v",)) == digest([Row(Decimal("5"))], ("v",))
    assert digest([Row(Decimal("5.01"))], ("v",)) != digest([Row(Decimal("5"))], ("v",))


def test_concurrent_checkpoints_number_every_event_once(estate):
    """Checkpointers racing each other (a lease that ran out, a manual run) while events are
    written: the global sequence stays gap-free, each event is numbered once, every checkpoint
    follows the one before."""
    import threading

    svc, flow = estate.svc, estate.flow
    errors: list[BaseException] = []
    done = threading.Event()

    def checkpointer(k: int):
        try:
            for i in range(6):
                write_checkpoint(svc, flow.now + timedelta(minutes=10 * i + k), force=True)
        except BaseException as exc:
            errors.append(exc)

    def writer():
        try:
            for _ in range(8):
                flow.doc(estate.b, "budget")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=checkpointer, args=(k,)) for k in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    write_checkpoint(svc, flow.now + timedelta(hours=2), force=True)
    with svc.sessions() as s:
        total = s.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
        numbered = [r[0] for r in s.execute(text("SELECT gseq FROM events WHERE gseq IS NOT NULL ORDER BY gseq"))]
        cps = [tuple(r) for r in s.execute(text("SELECT number, upto FROM checkpoints ORDER BY number"))]
    assert numbered == list(range(1, total + 1))
    assert [n for n, _ in cps] == list(range(1, len(cps) + 1)) and cps[-1][1] == total
    assert all(a[1] < b[1] for a, b in zip(cps, cps[1:]))
    assert verify(svc).ok


def test_events_from_before_the_key_are_adopted_once_by_the_operator(world, audit_cli, monkeypatch):
    """A database that ran without a key: its events have no facts and no seal. With the key
    set they show as not written by the service, until `audit checkpoint --adopt-legacy`."""
    svc = world.svc
    flow = Flow(world)
    case = flow.open()
    flow.doc(case, "hazard_photos")
    sql(svc, "UPDATE events SET facts = NULL, seal = NULL")  # as written by the previous version
    rechain(svc, case)
    report = verify(svc)
    assert report.kinds(case) == {"inserted"}
    result = audit_cli("--adopt-legacy", command="checkpoint")
    assert result.exit_code == 0, result.output
    assert "2 event(s) from before the key sealed" in result.stderr and "checkpoint 1: events 1-2" in result.stderr
    report = verify(svc)
    assert report.ok, [str(f) for f in report.findings]
    assert any("before facts were recorded" in n for n in report.notes)
