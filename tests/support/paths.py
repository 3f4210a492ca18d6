"""Paths the tests read from the checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "fundflow" / "definitions"
CALENDARS = ROOT / "fundflow" / "calendars"
