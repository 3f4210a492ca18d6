"""The package's modules, for the tests that read the code's boundaries."""

from __future__ import annotations

from tests.support.paths import ROOT

PACKAGE = ROOT / "fundflow"


def module_names() -> list[str]:
    """Every importable module of the package (alembic's migration scripts are loaded by path)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.parts[1] == "migrations" or rel.name == "__main__":
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        names.append(".".join(parts))
    return names
