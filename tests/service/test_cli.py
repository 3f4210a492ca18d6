"""The command's one wrapper: every database command opens the services through
``fundflow.cli.common.services()``, which closes them whatever happens and turns a fundflow
error into ``code: message`` (Chinese) on stderr and exit code 2."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fundflow.cli
from fundflow.cli import app
from fundflow.service import context
from fundflow.service.config import get_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    """Runs the command against the test database; returns (result, the services it built)."""
    for var in ("FUNDFLOW_DEFINITIONS_DIR", "FUNDFLOW_CALENDAR_OVERRIDES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FUNDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("FUNDFLOW_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    built = []
    real_build = context.build_services

    def tracking_build(settings):
        svc = real_build(settings)
        closed = []
        real_close = svc.close
        svc.close = lambda: (closed.append(True), real_close())[1]
        built.append((svc, closed))
        return svc

    monkeypatch.setattr(context, "build_services", tracking_build)

    def invoke(*args):
        return CliRunner().invoke(app, list(args)), built

    yield invoke
    get_settings.cache_clear()


def test_a_use_case_refusal_is_its_code_and_chinese_message_and_the_services_are_closed(run):
    up, _ = run("db", "upgrade")
    assert up.exit_code == 0, up.output
    result, built = run("user", "token", "nobody")
    assert result.exit_code == 2, result.output
    assert result.stderr == "unknown_user: 没有用户 nobody\n"
    assert result.stdout == ""
    assert built and all(closed for _, closed in built)


def test_success_closes_the_services_too(run):
    run("db", "upgrade")
    name = f"clerk_{uuid.uuid4().hex[:8]}"
    result, built = run("user", "add", name, "--role", "fund_center")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"user {name} (fund_center, ")
    again, built = run("user", "add", name, "--role", "fund_center")
    assert again.exit_code == 2 and again.stderr.startswith("duplicate_username: ")
    assert all(closed for _, closed in built)


def test_invalid_settings_are_a_message_not_a_traceback(run, monkeypatch):
    monkeypatch.setenv("FUNDFLOW_SCAN_INTERVAL_SECONDS", "0")
    get_settings.cache_clear()
    result, built = run("ledger", "verify")
    assert result.exit_code == 2
    assert result.stderr.startswith("settings_invalid: 配置有误：")
    assert built == []


def test_a_broken_definitions_directory_is_a_message(run, monkeypatch):
    monkeypatch.setenv("FUNDFLOW_DEFINITIONS_DIR", str(ROOT / "tests" / "workflow" / "broken"))
    get_settings.cache_clear()
    result, built = run("scan")
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.stderr.strip()
    assert built == []  # refused while building, nothing left open


def test_every_cli_module_imports_alone_and_the_commands_are_all_there():
    for mod in pkgutil.iter_modules(fundflow.cli.__path__):
        if mod.name != "__main__":
            done = subprocess.run(
                [sys.executable, "-c", f"import fundflow.cli.{mod.name}"], capture_output=True, text=True, cwd=ROOT
            )
            assert done.returncode == 0, (mod.name, done.stderr)
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    groups = {g.name for g in app.registered_groups}
    assert names == {"validate", "diagram", "serve", "demo", "scan", "scheduler", "deliver", "backup", "restore"}
    assert groups == {"workdays", "db", "user", "ledger", "calendar", "channel", "audit", "migrate", "org"}


def test_python_dash_m_fundflow_cli_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "fundflow.cli", "workdays", "add", "2025-09-30", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2025-10-09"


def test_migrate_plan_apply_revert_from_the_command_line(run, world, tmp_path):
    """The running cases of the small city moved onto fire_hazard_emergency v2 and back."""
    from tests.support.flows import Flow

    flow = Flow(world)
    case_id = flow.open()
    plan_file = tmp_path / "plan.json"
    planned, _ = run("migrate", "plan", "fire_hazard_emergency", "--from", "1", "--to", "2", "--out", str(plan_file))
    assert planned.exit_code == 0, planned.output
    assert "reported -> reported" in planned.output and plan_file.is_file()
    applied, _ = run("migrate", "apply", "fire_hazard_emergency", "--from", "1", "--to", "2", "--plan", str(plan_file))
    assert applied.exit_code == 0 and "1 of 1 case(s) moved" in applied.output, applied.output
    assert flow.fire("fr", case_id, "not_major", {"reason": "经复核不构成重大隐患"})["state"] == "ordinary_repair"
    reverted, _ = run("migrate", "revert", "1")
    assert reverted.exit_code == 0 and "0 case(s) moved back" in reverted.output and "kept" in reverted.output
    again, _ = run("migrate", "apply", "fire_hazard_emergency", "--from", "1", "--to", "2")
    assert again.exit_code == 0 and "no running case" in again.output
    undeclared, _ = run("migrate", "plan", "fire_hazard_emergency", "--from", "2", "--to", "1")
    assert undeclared.exit_code == 2 and "migration_not_declared" in undeclared.output
