"""The seeded demo city on SQLite, built once per test run and copied where a test wants it.

Seeding the demo (4,934 households, 40 cases through the use cases) takes tens of seconds; the
browser tests and the walkthrough each need one to themselves but not a fresh one. The first
process to ask (of the pytest-xdist workers, which share the run's base temporary folder)
seeds it under an exclusive ``flock``; every caller then gets a copy of the database file and
of its data folder (the stored documents), so each writes on its own.
"""

from __future__ import annotations

import fcntl
import shutil
from datetime import UTC, datetime
from pathlib import Path

from fundflow.service.config import Settings
from fundflow.service.context import Services, build_services
from fundflow.service.migrate import upgrade
from fundflow.service.seed import seed_demo

__all__ = ["seeded_demo", "DEMO_OPINIONS"]

#: the shared demo's opinions (``fundflow demo`` seeds 14,200): enough for every page, fast in CI
DEMO_OPINIONS = 200


def _template(base: Path) -> Path:
    folder = base / "seeded-demo-city"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / "done").exists():
                svc = build_services(Settings(database_url=f"sqlite:///{folder / 'demo.db'}", data_dir=folder / "data"))
                try:
                    upgrade(svc.db)
                    seed_demo(svc, datetime.now(UTC), opinions=DEMO_OPINIONS)
                finally:
                    svc.close()
                (folder / "done").write_text(datetime.now(UTC).isoformat())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


def seeded_demo(tmp_path_factory, target: Path, **settings) -> Services:
    """Services on a copy of the seeded demo city in ``target`` (``demo.db`` and ``data/``)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base  # the workers' common folder
    template = _template(shared)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / "demo.db", target / "demo.db")
    if (template / "data").exists():
        shutil.copytree(template / "data", target / "data", dirs_exist_ok=True)
    return build_services(
        Settings(database_url=f"sqlite:///{target / 'demo.db'}", data_dir=target / "data", **settings)
    )
