"""Shared fixtures for the domain tests: the real definitions, calendar and engine."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.engine import Engine
from fundflow.domain.loader import load_directory

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """An aware Asia/Shanghai moment."""
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@pytest.fixture(scope="session")
def registry():
    reg, _ = load_directory(ROOT / "fundflow" / "definitions")
    return reg


@pytest.fixture(scope="session")
def calendar():
    return WorkCalendar.from_file(ROOT / "fundflow" / "calendars" / "overrides.yaml")


@pytest.fixture(scope="session")
def engine(registry, calendar):
    return Engine(registry, calendar)


@pytest.fixture(scope="session")
def fire_def(registry):
    return registry.get("fire_hazard_emergency", 1)
