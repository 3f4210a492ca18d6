"""Backup and restore round trips, on SQLite and on PostgreSQL (in the session's own schema).

Cases with documents are made through the API, backed up, then the data is changed, deleted and
tampered with; the restore into the same database brings back every case, event (hash), household
balance (exact Decimal) and document file (sha256), and the audit chains verify."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from fundflow.cli import app as cli
from fundflow.service import backup as bk
from fundflow.service.audit import verify_all
from fundflow.service.db import transaction
from fundflow.service.migrate import head_revision
from fundflow.service.tables import Document, Event, Household

API = "/api/v1"
PHOTOS = [b"\xff\xd8 first photo " + bytes(range(256)), b"\xff\xd8 second photo " * 50, "隐患说明".encode() * 30]


def open_case(world, title: str, files: list[bytes]) -> int:
    r = world.client.post(
        f"{API}/cases",
        headers=world.h("so"),
        json={"definition": "fire_hazard_emergency", "community_id": world.ids["community_a"], "title": title},
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for i, content in enumerate(files):
        r = world.client.post(
            f"{API}/cases/{cid}/documents",
            data={"doc_type": "hazard_photos"},
            files={"file": (f"照片{i}.jpg", content, "image/jpeg")},
            headers=world.h("so"),
        )
        assert r.status_code == 201, r.text
    return cid


def snapshot(world) -> dict:
    """Everything the round trip must bring back, read through the API and the tables."""
    out = {"cases": {}, "balances": {}}
    listed = world.client.get(f"{API}/cases", headers=world.h("fc"), params={"page_size": 100}).json()
    for item in listed["items"]:
        cid = item["id"]
        case = world.client.get(f"{API}/cases/{cid}", headers=world.h("fc")).json()
        events = world.client.get(f"{API}/cases/{cid}/events", headers=world.h("fc")).json()
        docs = world.client.get(f"{API}/cases/{cid}/documents", headers=world.h("fc")).json()
        files = {}
        for d in docs:
            r = world.client.get(f"{API}/cases/{cid}/documents/{d['id']}", headers=world.h("fc"))
            assert r.status_code == 200, r.text
            files[d["id"]] = hashlib.sha256(r.content).hexdigest()
            assert files[d["id"]] == d["sha256"]
        out["cases"][cid] = {
            "case": case,
            "events": [(e["seq"], e["hash"], e["trigger"]) for e in events],
            "documents": docs,
            "files": files,
        }
    with world.svc.sessions() as s:
        out["balances"] = {h.id: (h.balance, h.first_deposit, h.area) for h in s.exec(select(Household))}
    return out


def test_round_trip_brings_everything_back(world, tmp_path):
    svc, settings = world.svc, world.svc.settings
    a = open_case(world, "消防泵损坏", PHOTOS[:2])
    b = open_case(world, "喷淋管道漏水", PHOTOS[2:])
    c = open_case(world, "烟感失效", [])
    r = world.client.post(
        f"{API}/cases/{c}/transitions",
        headers=world.h("so"),
        json={"trigger": "withdraw", "data": {"reason": "重复上报，已合并"}},
    )
    assert r.status_code == 200, r.text
    with transaction(svc.sessions) as s:  # an exact balance to the fen that floats would not keep
        h = s.exec(select(Household).order_by(Household.id)).first()
        h.balance = Decimal("12345678.91")
        s.add(h)
    before = snapshot(world)
    assert len(before["cases"]) == 3 and sum(len(v["files"]) for v in before["cases"].values()) == 3

    report = bk.backup(settings, tmp_path / "backup")
    m = json.loads((tmp_path / "backup" / bk.MANIFEST).read_text(encoding="utf-8"))
    assert m == report.manifest and m["database"]["kind"] == svc.db.dialect.name
    assert m["revision"] == head_revision() and m["counts"]["cases"] == 3
    assert m["counts"]["events"] == sum(len(v["events"]) for v in before["cases"].values())
    assert m["created_at"].endswith("+00:00") and m["documents"]["files"] == 3
    for rel, meta in m["files"].items():
        assert hashlib.sha256((tmp_path / "backup" / rel).read_bytes()).hexdigest() == meta["sha256"]
    if svc.db.dialect.name == "postgresql":
        assert m["database"]["schema"] and m["database"]["schema"].startswith("t_")

    # a restore over data without --yes is refused, and changes nothing
    try:
        bk.restore(settings, tmp_path / "backup")
        raise AssertionError("restore over a non-empty database was not refused")
    except bk.BackupError as exc:
        assert exc.code == "target_not_empty" and "--yes" in exc.message

    # change, add, delete and tamper
    d = open_case(world, "备份之后的案件", [b"after the backup"])
    r = world.client.post(
        f"{API}/cases/{a}/documents",
        data={"doc_type": "hazard_photos"},
        files={"file": ("新.jpg", b"new photo", "image/jpeg")},
        headers=world.h("so"),
    )
    assert r.status_code == 201
    with transaction(svc.sessions) as s:
        for h in s.exec(select(Household)):
            h.balance = h.balance - Decimal("0.01")
            s.add(h)
        ev = s.exec(select(Event).where(Event.case_id == b).order_by(Event.seq)).first()
        ev.comment = "被篡改"
        s.add(ev)
        doc = s.exec(select(Document).where(Document.case_id == b)).first()
        s.delete(doc)
    for f in settings.documents_dir.rglob("*"):
        if f.is_file() and f.parent.name == str(a):
            f.write_bytes(b"overwritten")
            break
    with svc.sessions() as s:
        assert verify_all(s)[1]  # the chain is broken now

    result = bk.restore(settings, tmp_path / "backup", force=True)
    assert result.ok, result.lines()
    assert result.counts == m["counts"] and result.revision == head_revision() and result.cases_checked == 3
    after = snapshot(world)
    assert after["cases"].keys() == before["cases"].keys() and d not in after["cases"]
    for cid, want in before["cases"].items():
        got = after["cases"][cid]
        assert got["events"] == want["events"] and got["files"] == want["files"]
        assert got["documents"] == want["documents"] and got["case"] == want["case"], cid
    assert after["balances"] == before["balances"]
    assert all(type(v[0]) is Decimal for v in after["balances"].values())
    assert Decimal("12345678.91") in {v[0] for v in after["balances"].values()}
    with svc.sessions() as s:
        assert verify_all(s) == (3, [])
        assert s.execute(text("SELECT COUNT(*) FROM documents")).scalar_one() == 3
    # the documents that were replaced are kept aside, not deleted
    assert result.documents_moved_to is not None and any(result.documents_moved_to.rglob("*"))

    # the service goes on: new cases get fresh ids (sequences came back too)
    e = open_case(world, "恢复之后的案件", [PHOTOS[0]])
    assert e not in before["cases"]


def test_cli_backup_restore_and_refusals(world, tmp_path, monkeypatch):
    """The commands: backup, refusals with a code and a Chinese message (no traceback), restore --yes."""
    from fundflow.service.config import get_settings

    settings = world.svc.settings
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    monkeypatch.setattr("fundflow.service.config.get_settings", get_settings)
    try:
        open_case(world, "命令行备份", [PHOTOS[1]])
        runner = CliRunner()
        target = tmp_path / "b"
        r = runner.invoke(cli, ["backup", str(target)])
        assert r.exit_code == 0, r.output
        assert "cases 1" in r.output and (target / bk.MANIFEST).is_file()

        r = runner.invoke(cli, ["backup", str(target)])  # not over an existing backup
        assert r.exit_code == 2 and "target_not_empty" in r.output
        r = runner.invoke(cli, ["restore", str(target)])
        assert r.exit_code == 2 and "target_not_empty" in r.output and "不为空" in r.output
        r = runner.invoke(cli, ["restore", str(tmp_path / "nowhere"), "--yes"])
        assert r.exit_code == 2 and "backup_not_found" in r.output

        corrupt = tmp_path / "corrupt"
        import shutil

        shutil.copytree(target, corrupt)
        doc = next(p for p in (corrupt / bk.DOCUMENTS).rglob("*") if p.is_file())
        doc.write_bytes(b"bit rot")
        r = runner.invoke(cli, ["restore", str(corrupt), "--yes"])
        assert r.exit_code == 2 and "backup_corrupt" in r.output

        wrong = tmp_path / "wrong"
        shutil.copytree(target, wrong)
        mf = json.loads((wrong / bk.MANIFEST).read_text(encoding="utf-8"))
        mf["database"]["kind"] = "postgresql" if mf["database"]["kind"] == "sqlite" else "sqlite"
        (wrong / bk.MANIFEST).write_text(json.dumps(mf), encoding="utf-8")
        r = runner.invoke(cli, ["restore", str(wrong), "--yes"])
        assert r.exit_code == 2 and "database_kind_mismatch" in r.output

        r = runner.invoke(cli, ["restore", str(target), "--yes"])
        assert r.exit_code == 0, r.output
        assert "cases 1" in r.output and "0 with a broken chain" in r.output
    finally:
        get_settings.cache_clear()


def test_postgresql_url_becomes_pg_dump_arguments():
    args, env, schema = bk.pg_connection_args(
        "postgresql+psycopg://ff:s%40cret@db.example:6543/prod?options=-csearch_path%3Dtenant_a,public&sslmode=require"
    )
    assert args == ["--host", "db.example", "--port", "6543", "--username", "ff", "--dbname", "prod"]
    assert env == {"PGPASSWORD": "s@cret", "PGSSLMODE": "require"} and schema == "tenant_a"
    assert bk.pg_connection_args("postgresql://postgres@127.0.0.1/test") == (
        ["--host", "127.0.0.1", "--username", "postgres", "--dbname", "test"],
        {},
        None,
    )
    try:
        bk.pg_connection_args("postgresql://postgres@127.0.0.1")
        raise AssertionError("no database name was accepted")
    except bk.BackupError as exc:
        assert exc.code == "bad_database_url"


def test_missing_tools_are_a_clear_error(monkeypatch, tmp_path):
    from fundflow.service.config import Settings

    monkeypatch.setattr(bk.shutil, "which", lambda name: None)
    monkeypatch.setattr(bk.os, "access", lambda *a: False)
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:5432/test", data_dir=tmp_path)
    try:
        bk.backup(settings, tmp_path / "b")
        raise AssertionError("backup without pg_dump did not fail")
    except bk.BackupError as exc:
        assert exc.code == "tool_missing" and "pg_dump" in exc.message and "postgresql-client" in exc.message
    assert not (tmp_path / "b").exists()


def test_online_backup_while_cases_are_being_opened(world, tmp_path):
    """A backup taken while clients write is one consistent moment: its counts match its own
    contents, and restored, every chain verifies and every named document is there. On SQLite
    the newest changes are still in the WAL file when the copy is made."""
    import threading

    open_case(world, "写入之前", [PHOTOS[0]])
    if world.svc.db.dialect.name == "sqlite":
        wal = Path(str(world.svc.settings.database_url.removeprefix("sqlite:///")) + "-wal")
        assert wal.stat().st_size > 0  # committed pages not yet checkpointed into the main file
    stop, opened = threading.Event(), []

    def writer():
        i = 0
        while not stop.is_set() and i < 200:
            i += 1
            opened.append(open_case(world, f"并发写入{i}", [f"photo {i}".encode()]))

    t = threading.Thread(target=writer)
    t.start()
    try:
        while len(opened) < 3:
            stop.wait(0.01)
        report = bk.backup(world.svc.settings, tmp_path / "online")
    finally:
        stop.set()
        t.join()
    counts = report.manifest["counts"]
    assert 1 + 3 <= counts["cases"] <= 1 + len(opened)
    assert counts["cases"] - 1 <= counts["documents"] <= counts["cases"]  # open, then attach: two transactions
    result = bk.restore(world.svc.settings, tmp_path / "online", force=True)
    assert result.ok, result.lines()
    assert result.counts == counts and result.cases_checked == counts["cases"]
