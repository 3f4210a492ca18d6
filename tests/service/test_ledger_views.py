"""What people see of the ledger: a household's statement (API, Excel), the top-up notice
(API, Excel with formula-safe cells), ``fundflow ledger verify`` naming each mismatch, and
migration 0003 carrying an existing database into the journal."""

from __future__ import annotations

import io
from datetime import UTC
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.service.db import transaction
from fundflow.service.household_import import HouseholdRow
from fundflow.service.tables import Household, LedgerEntry
from fundflow.service.usecases import ledger
from tests.support.flows import new_community

API = "/api/v1"
HOSTILE = "=cmd|' /C calc'!A0"


def _xlsx_rows(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))


def test_a_household_statement_lists_every_entry_with_running_balance_and_frozen(flow):
    world = flow.world
    case_id = flow.open(buildings=["2栋"])
    flow.advance(case_id, "warranty", approved="2000.00", settled="1800.00")
    with transaction(flow.svc.sessions) as s:
        h = s.exec(
            select(Household).where(Household.building_id == world.ids["building_a_2栋"]).order_by(Household.id)
        ).first()
    r = world.client.get(f"{API}/households/{h.id}/ledger", headers=world.h("so"))
    assert r.status_code == 200, r.text
    body = r.json()
    kinds = [e["kind"] for e in body["entries"]]
    assert kinds == ["deposit", "freeze", "unfreeze", "debit", "retention_hold"]  # approve, settle, pay
    assert [e["kind_label"] for e in body["entries"]][:2] == ["交存", "冻结"]
    balance = frozen = Decimal(0)
    for e in body["entries"]:  # the running figures follow from the amounts
        balance += Decimal(e["balance_change"])
        frozen += Decimal(e["frozen_change"])
        assert (Decimal(e["balance_after"]), Decimal(e["frozen_after"])) == (balance, frozen)
    assert (Decimal(body["household"]["balance"]), Decimal(body["household"]["frozen"])) == (balance, frozen)
    assert body["entries"][1]["case_number"] and body["entries"][1]["event_seq"]
    xlsx = world.client.get(f"{API}/households/{h.id}/ledger?format=xlsx", headers=world.h("so"))
    assert xlsx.status_code == 200
    rows = _xlsx_rows(xlsx.content)
    header = next(i for i, row in enumerate(rows) if row[0] == "序号")
    assert [row[2] for row in rows[header + 1 :]] == ["交存", "冻结", "解冻", "支取", "质保金留存"]
    # another street office's household is not found
    assert world.client.get(f"{API}/households/{h.id}/ledger", headers=world.h("so_other")).status_code == 404
    assert (
        world.client.get(f"{API}/households/999999/ledger", headers=world.h("fc")).json()["code"]
        == "household_not_found"
    )


def test_the_top_up_notice_is_on_the_case_and_exports_user_text_as_text(flow):
    rows = [
        HouseholdRow("1栋", "1单元", "101", None, Decimal("100"), HOSTILE, Decimal("1000.00"), Decimal("3000.00")),
        HouseholdRow("1栋", "1单元", "102", None, Decimal("100"), "@SUM(A1)", Decimal("9000.00"), Decimal("3000.00")),
    ]
    community_id = new_community(flow.world, rows)
    case_id = flow.open(community_id)
    flow.advance(case_id, "fund_review", approved="1000.00")
    flow.doc(case_id, "application_form")
    out = flow.fire("fc", case_id, "approve", {"approved_amount": "1000.00", "approval_opinion": "同意"})
    (notice,) = out["top_up_notices"]  # 101: 1,000 less its 500 share, under the 900 line
    assert [(r["owner"], r["available"], r["line"], r["top_up"]) for r in notice["rows"]] == [
        (HOSTILE, "500.00", "900.00", "400.00")
    ]
    world = flow.world
    r = world.client.get(f"{API}/cases/{case_id}/top-up-notices/{notice['id']}", headers=world.h("so"))
    assert r.status_code == 200 and r.json()["total"] == "400.00" and r.json()["street_office"]
    xlsx = world.client.get(f"{API}/cases/{case_id}/top-up-notices/{notice['id']}?format=xlsx", headers=world.h("so"))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    owners = [c for row in sheet.iter_rows() for c in row if c.value == HOSTILE]
    assert owners and all(c.data_type == "s" for c in owners)  # text, not a formula
    assert str(list(sheet.iter_rows(values_only=True))[-1][-1]).startswith("=SUM(")  # our own total is a formula
    table = world.client.get(f"{API}/cases/{case_id}/apportionment.xlsx", headers=world.h("so"))
    cells = [
        c
        for row in openpyxl.load_workbook(io.BytesIO(table.content)).active.iter_rows()
        for c in row
        if c.value in (HOSTILE, "@SUM(A1)")
    ]
    assert len(cells) == 2 and all(c.data_type == "s" for c in cells)
    assert world.client.get(f"{API}/cases/{case_id}/top-up-notices/999", headers=world.h("so")).status_code == 404


@pytest.fixture
def ledger_cli(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(tmp_path))
    from fundflow.service.config import get_settings

    get_settings.cache_clear()
    yield lambda: CliRunner().invoke(cli, ["ledger", "verify"])
    get_settings.cache_clear()


def test_ledger_verify_passes_and_names_each_mismatch(flow, ledger_cli):
    case_id = flow.open()
    flow.advance(case_id, "warranty", approved="40000.00", settled="30000.00")
    ok = ledger_cli()
    assert ok.exit_code == 0, ok.output
    with transaction(flow.svc.sessions) as s:
        h = s.exec(select(Household).order_by(Household.id)).first()
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.case_id == case_id, LedgerEntry.kind == "debit")).first()
        s.execute(text("UPDATE households SET balance = balance + 100 WHERE id = :i"), {"i": h.id})
        s.execute(text("UPDATE ledger_entries SET amount = amount + 1 WHERE id = :i"), {"i": entry.id})
        s.execute(text("UPDATE cases SET paid_amount = paid_amount + 500 WHERE id = :i"), {"i": case_id})
    bad = ledger_cli()
    assert bad.exit_code == 1
    out = bad.output
    assert f"房屋 {h.id}：分户账余额" in out  # the projection edited
    assert f"分户账明细 #{entry.id}" in out  # the entry edited breaks its running balance
    assert "已拨付" in out and "分户账明细与事件记载不符" in out  # the case's paid total, the event's record


def _old_database(url: str) -> None:
    """A database at revision 0002 as the pre-journal code left it: balances on households,
    an archived case whose disbursement debited the ledgers (old ``ledger_entries``), and an
    approved open case with an advance paid but never debited."""
    from datetime import datetime

    from fundflow.service.config import Settings
    from fundflow.service.context import build_services
    from fundflow.service.migrate import upgrade

    svc = build_services(Settings(database_url=url))
    upgrade(svc.db, "0002")
    pg = svc.db.dialect.name == "postgresql"
    at = datetime(2026, 1, 5, 2, tzinfo=UTC)
    at = at if pg else at.replace(tzinfo=None)
    with svc.db.begin() as c:

        def run(sql: str, **kw):
            return c.execute(text(sql), kw)

        run("INSERT INTO districts (id, code, name) VALUES (1, 'D', '区')")
        run("INSERT INTO street_offices (id, district_id, code, name) VALUES (1, 1, 'D-S', '街道')")
        run(
            "INSERT INTO communities (id, street_office_id, code, name, address, created_at) VALUES (1, 1, 'C', '小区', '', :at)",
            at=at,
        )
        run("INSERT INTO buildings (id, community_id, name) VALUES (1, 1, '1栋')")
        for hid, area, fen in ((1, 1000000, 2000000), (2, 500000, 1000000)):  # 100 m², 50 m²; 20,000 and 10,000 yuan
            run(
                "INSERT INTO households (id, community_id, building_id, unit, room, area, balance, first_deposit) "
                "VALUES (:i, 1, 1, '', :r, :a, :b, :b)",
                i=hid,
                r=str(hid),
                a=area,
                b=fen,
            )
        for cid, state, closed, approved, paid in (
            (1, "archived", True, 300000, 300000),
            (2, "rectification", False, 600000, 150000),
        ):
            run(
                "INSERT INTO cases (id, number, title, definition_id, definition_version, state, community_id, street_office_id, "
                "district_id, data, closed, approved_amount, paid_amount, advanced_amount, created_at, updated_at, scope_building_ids, "
                "event_count, head_hash, version) VALUES (:i, :n, 't', 'fire_hazard_emergency', 1, :s, 1, 1, 1, '{}', :c, :ap, :p, "
                ":adv, :at, :at, '[]', 0, '', 1)",
                i=cid,
                n=f"N{cid}",
                s=state,
                c=closed,
                ap=approved,
                p=paid,
                adv=paid if cid == 2 else None,
                at=at,
            )
        # case 1 debited 2,000 and 1,000 (its 3,000.00 settled), balances already reduced
        run("UPDATE households SET balance = balance - 200000 WHERE id = 1")
        run("UPDATE households SET balance = balance - 100000 WHERE id = 2")
        run(
            "INSERT INTO ledger_entries (household_id, case_id, amount, balance_after, at) VALUES (1, 1, 200000, 1800000, :at)",
            at=at,
        )
        run(
            "INSERT INTO ledger_entries (household_id, case_id, amount, balance_after, at) VALUES (2, 1, 100000, 900000, :at)",
            at=at,
        )
    svc.close()


def test_migration_0003_moves_an_existing_database_into_the_journal(database_url, tmp_path):
    import os
    import uuid as _uuid

    from sqlalchemy import create_engine

    from fundflow.service.config import Settings
    from fundflow.service.context import build_services
    from fundflow.service.migrate import check_current, head_revision, upgrade
    from tests.support.databases import pg_base_url

    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        schema = f"m_{os.getpid()}_{_uuid.uuid4().hex[:8]}"
        admin = create_engine(pg_base_url().replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{pg_base_url()}?options=-csearch_path%3D{schema}"
    try:
        _old_database(url)
        svc = build_services(Settings(database_url=url))
        upgrade(svc.db)
        revision = check_current(svc.db)
        with transaction(svc.sessions) as s:
            counts, problems = ledger.verify_ledgers(s)
            hh = {h.id: h for h in s.exec(select(Household))}
            entries = s.exec(select(LedgerEntry).order_by(LedgerEntry.id)).all()
        svc.close()
        assert problems == [] and revision == head_revision()
        # balances unchanged by the carry-over, less the advance the old code never debited;
        # case 2 (approved 6,000.00 over areas 2:1) holds the rest of its approval frozen
        assert (hh[1].balance, hh[2].balance) == (Decimal("17000.00"), Decimal("8500.00"))
        assert (hh[1].frozen, hh[2].frozen) == (Decimal("3000.00"), Decimal("1500.00"))
        assert [e.kind for e in entries if e.household_id == 1] == ["deposit", "freeze", "debit", "freeze", "debit"]
        assert entries[0].amount == Decimal("20000.00") and all("0003" in (e.reason or "") for e in entries)
    finally:
        if not database_url.startswith("sqlite"):
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
