"""Tests for the ``fundflow`` command (fundflow.cli:app), run from the repository root."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from typer.testing import CliRunner

from fundflow.cli import app
from tests.support.corpus import EXPECTED

ROOT = Path(__file__).resolve().parents[2]
BROKEN_REL = Path("tests/domain/broken")

runner = CliRunner()


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    for var in ("FUNDFLOW_DEFINITIONS_DIR", "FUNDFLOW_CALENDAR_OVERRIDES"):
        monkeypatch.delenv(var, raising=False)


def invoke(*args: str):
    return runner.invoke(app, list(args))


# -- validate ----------------------------------------------------------------------------


def test_validate_definitions_dir_is_clean():
    result = invoke("validate", str(ROOT / "fundflow" / "definitions"))
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.stderr


def test_validate_defaults_to_definitions_dir():
    result = invoke("validate")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_broken_file(name):
    rel = BROKEN_REL / name
    assert (ROOT / rel).exists()
    expected_path, fragment = EXPECTED[name]
    result = invoke("validate", str(rel))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{rel}:{expected_path}: ") and fragment in line for line in lines), result.stdout
    assert "error(s)" in result.stderr


def test_validate_broken_directory_reports_every_file():
    result = invoke("validate", str(BROKEN_REL))
    assert result.exit_code == 1
    files_with_lines = {line.split(":", 1)[0] for line in result.stdout.splitlines()}
    assert files_with_lines >= {str(BROKEN_REL / n) for n in EXPECTED}


def test_validate_missing_path():
    result = invoke("validate", "no/such/dir")
    assert result.exit_code != 0
    assert "no/such/dir" in result.stderr
    assert "找不到" in result.stderr


# -- diagram -----------------------------------------------------------------------------


def test_diagram_prints_mermaid_with_chinese_labels():
    result = invoke("diagram", "fire_hazard_emergency")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "stateDiagram-v2" in out
    assert '"隐患上报，待消防认定" as reported' in out
    assert "认定为重大火灾隐患" in out  # a transition label
    assert "[*] --> reported" in out


def test_diagram_unknown_id():
    result = invoke("diagram", "unknown_id")
    assert result.exit_code != 0
    assert "unknown_id" in result.stderr
    assert "fire_hazard_emergency" in result.stderr  # lists the known ids


def test_diagram_of_a_version_that_does_not_exist_lists_the_versions_that_do():
    result = invoke("diagram", "fire_hazard_emergency", "--version", "9")
    assert result.exit_code != 0
    assert "fire_hazard_emergency v9" in result.stderr and "已有版本：1" in result.stderr


# -- workdays ----------------------------------------------------------------------------


def test_workdays_add_over_national_day_2025():
    # 10月1日至8日放假: the next working day after 2025-09-30 is 2025-10-09.
    result = invoke("workdays", "add", "2025-09-30", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2025-10-09"


def test_workdays_add_into_unpublished_year_is_provisional():
    result = invoke("workdays", "add", "2026-12-20", "15")
    assert result.exit_code == 0, result.output
    assert "provisional" in result.stdout
    assert result.stdout.startswith("2027-")


def test_workdays_add_does_not_count_new_years_day_of_an_unpublished_year():
    result = invoke("workdays", "add", "2026-12-28", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2027-01-05") and "provisional" in result.stdout


def test_workdays_between_matches_chinesecalendar():
    a, b = date(2025, 9, 26), date(2025, 10, 13)
    expected = sum(chinese_calendar.is_workday(a + timedelta(i)) for i in range(1, (b - a).days + 1))
    assert expected == 7  # 9-28 (make-up Sunday), 9-29, 9-30, 10-9, 10-10, 10-11 (make-up Saturday), 10-13
    result = invoke("workdays", "between", "2025-09-26", "2025-10-13")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(expected)


@pytest.mark.parametrize(
    "args",
    [
        ("workdays", "add", "2025-13-01", "1"),
        ("workdays", "add", "tomorrow", "1"),
        ("workdays", "between", "2025-09-26", "2025/10/13"),
    ],
)
def test_workdays_bad_date(args):
    result = invoke(*args)
    assert result.exit_code != 0
    assert "日期格式不正确" in result.stderr
    assert "YYYY-MM-DD" in result.stderr
