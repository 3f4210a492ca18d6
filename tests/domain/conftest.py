"""Shared fixtures for the domain tests: the real definitions, calendar and engine."""

from __future__ import annotations

import pytest

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.engine import Engine
from fundflow.domain.loader import load_directory
from tests.support.paths import CALENDARS, DEFINITIONS


@pytest.fixture(scope="session")
def registry():
    reg, _ = load_directory(DEFINITIONS)
    return reg


@pytest.fixture(scope="session")
def calendar():
    return WorkCalendar.from_file(CALENDARS / "overrides.yaml")


@pytest.fixture(scope="session")
def engine(registry, calendar):
    return Engine(registry, calendar)


@pytest.fixture(scope="session")
def fire_def(registry):
    return registry.get("fire_hazard_emergency", 1)
