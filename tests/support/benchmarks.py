"""The modules of ``benchmarks/`` (a folder of scripts, not a package) that tests share builders with."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from tests.support.paths import ROOT


def benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py``, imported (its folder joins ``sys.path`` once, as the scripts expect)."""
    folder = str(ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
