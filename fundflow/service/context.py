"""The service's collaborators, built once from the settings and passed to the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine as SQLEngine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.engine import Engine
from fundflow.domain.loader import DefinitionRegistry, load_directory
from fundflow.service.config import Settings
from fundflow.service.db import make_engine, make_sessionmaker
from fundflow.service.integrity.keys import Signer, load_signer
from fundflow.service.observe import Observer

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    settings: Settings
    db: SQLEngine
    sessions: sessionmaker[Session]
    engine: Engine
    signer: Signer | None = None  # seals events and signs checkpoints; None: no key configured
    observer: Observer = field(default_factory=Observer)  # the use cases' figures and transition log

    @property
    def registry(self) -> DefinitionRegistry:
        return self.engine.registry

    @property
    def calendar(self) -> WorkCalendar:
        return self.engine.calendar

    def close(self) -> None:
        self.db.dispose()


def build_services(settings: Settings) -> Services:
    registry, _ = load_directory(settings.definitions_dir, current=settings.current_version_map)
    calendar = WorkCalendar.from_file(settings.calendar_overrides)
    db = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    signer = load_signer(settings.signing_key_file)
    # append_event finds the signer in the session's info (it seals every event it writes); the
    # tasklist's sources (service/reads/handoff_tasks.py) find the definitions there
    sessions = make_sessionmaker(db, info={"signer": signer, "registry": registry})
    return Services(settings, db, sessions, Engine(registry, calendar), signer)
