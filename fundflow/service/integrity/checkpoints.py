"""Signed checkpoints: one global sequence over every event of every case.

Events are written with a null ``gseq``: a global counter row would serialise every
transition, and a database sequence leaves gaps on rollback and commits out of order. The
checkpoint job (the scheduler's tick, under its lease; on PostgreSQL also an advisory lock)
takes the committed unnumbered events in id order, refuses any whose seal is wrong (written
behind the service's back), numbers them ``upto+1, upto+2, ...``, extends the running head
``head_g = sha256(head_{g-1} ":" g ":" hash_g)``, and signs the statement

    {"v": 1, "number", "upto", "head", "cases": sha256 of the cases map, "at", "prev", "key"}

where ``prev`` is the sha256 of the previous statement and the cases map names each case's
last event so far ([seq, hash]) for the cases touched since the previous checkpoint. The row is
stored, then appended to ``checkpoints.jsonl`` under the data folder (after the commit, from
the table: a crash in between is made good by the next run), and, when ``witness_channel``
names a channel, sent through the outbox like an alert.

Checkpoints are written when there are new events and the last one is at least
``checkpoint_interval_seconds`` old.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from fundflow.domain.tz import require_aware
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.integrity.keys import Verifier
from fundflow.service.tables import Alert, Channel, Checkpoint, Delivery, Event

__all__ = [
    "write_checkpoint",
    "seal_legacy",
    "sync_file",
    "link",
    "statement_digest",
    "read_copies",
    "Copy",
    "GENESIS_HEAD",
    "MAX_EVENTS",
    "WITNESS_KIND",
]

log = logging.getLogger("fundflow.checkpoints")

GENESIS_HEAD = "0" * 64
MAX_EVENTS = 50_000  # per checkpoint; a backlog takes several ticks
WITNESS_KIND = "checkpoint"  # the alert kind the witness receives; no role sees it in an inbox
_EVENTS = Event.__table__


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def link(head: str, gseq: int, event_hash: str) -> str:
    return hashlib.sha256(f"{head}:{gseq}:{event_hash}".encode("ascii")).hexdigest()


def statement_digest(statement: str) -> str:
    return hashlib.sha256(statement.encode("utf-8")).hexdigest()


def _lock(s) -> None:
    if s.get_bind().dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises already
        s.execute(
            select(
                func.pg_advisory_xact_lock(func.hashtext(func.concat(func.current_schema(), ":fundflow-checkpoint")))
            )
        )


def write_checkpoint(svc: Services, now: datetime, *, force: bool = False) -> Checkpoint | None:
    """Number and sign the new events; None when there is no key, nothing new, or the last
    checkpoint is younger than the interval (``force`` ignores the interval)."""
    require_aware(now, "now")
    signer = svc.signer
    if signer is None:
        return None
    number = None
    try:
        with transaction(svc.sessions) as s:
            _lock(s)
            last = s.execute(select(Checkpoint).order_by(Checkpoint.number.desc()).limit(1)).scalars().first()
            interval = timedelta(seconds=svc.settings.checkpoint_interval_seconds)
            if last is not None and not force and now - last.at < interval:
                return None
            rows = s.execute(
                select(_EVENTS.c.id, _EVENTS.c.case_id, _EVENTS.c.seq, _EVENTS.c.hash, _EVENTS.c.seal)
                .where(_EVENTS.c.gseq.is_(None))
                .order_by(_EVENTS.c.id)
                .limit(MAX_EVENTS)
            ).all()
            refused = [r for r in rows if not signer.seal_ok(r.hash, r.seal)]
            if refused:
                log.error(
                    "checkpoint: %d event(s) without a valid seal are left out (written behind the service's "
                    "back?): %s",
                    len(refused),
                    ", ".join(f"case {r.case_id} #{r.seq}" for r in refused[:20]),
                )
            rows = [r for r in rows if signer.seal_ok(r.hash, r.seal)]
            if not rows:
                return None
            number, g, head = (last.number, last.upto, last.head) if last else (0, 0, GENESIS_HEAD)
            prev = statement_digest(last.statement) if last else GENESIS_HEAD
            numbering, cases = [], {}
            for r in rows:
                g += 1
                head = link(head, g, r.hash)
                numbering.append({"_id": r.id, "_g": g})
                cases[str(r.case_id)] = [r.seq, r.hash]
            s.execute(
                update(_EVENTS)
                .where(_EVENTS.c.id == bindparam("_id"), _EVENTS.c.gseq.is_(None))
                .values(gseq=bindparam("_g")),
                numbering,
            )
            number += 1
            statement = _dumps(
                {
                    "v": 1,
                    "number": number,
                    "upto": g,
                    "head": head,
                    "cases": hashlib.sha256(_dumps(cases).encode()).hexdigest(),
                    "at": now.isoformat(timespec="microseconds"),
                    "prev": prev,
                    "key": signer.key_id,
                }
            )
            cp = Checkpoint(
                number=number,
                upto=g,
                head=head,
                cases=cases,
                at=now,
                key_id=signer.key_id,
                statement=statement,
                signature=signer.sign(statement.encode("utf-8")),
            )
            s.add(cp)
            s.flush()
            _to_witness(svc, s, cp, now)
    except IntegrityError:  # another process wrote this checkpoint number first
        log.warning("checkpoint: another process wrote checkpoint %s at the same time", number)
        return None
    sync_file(svc)
    return cp


def seal_legacy(svc: Services) -> int:
    """Seal the events written before the service had a key (no facts, no seal, no number), so
    that the next checkpoint adopts them. Run once, by an operator, when a key is first set on
    an existing database: it vouches for whatever those rows say at that moment."""
    signer = svc.signer
    if signer is None:
        return 0
    with transaction(svc.sessions) as s:
        rows = s.execute(
            select(_EVENTS.c.id, _EVENTS.c.hash).where(
                _EVENTS.c.seal.is_(None), _EVENTS.c.facts.is_(None), _EVENTS.c.gseq.is_(None)
            )
        ).all()
        if rows:
            s.execute(
                update(_EVENTS).where(_EVENTS.c.id == bindparam("_id")).values(seal=bindparam("_seal")),
                [{"_id": r.id, "_seal": signer.seal(r.hash)} for r in rows],
            )
    return len(rows)


def _line(cp: Checkpoint) -> str:
    return _dumps({"number": cp.number, "statement": cp.statement, "signature": cp.signature})


def _to_witness(svc: Services, s, cp: Checkpoint, now: datetime) -> None:
    name = svc.settings.witness_channel
    if not name:
        return
    channel = s.execute(select(Channel).where(Channel.name == name, Channel.active.is_(True))).scalars().first()
    if channel is None:
        log.error("checkpoint %s: witness channel %r not found or inactive; only the file has a copy", cp.number, name)
        return
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    alert_id = s.execute(
        insert(Alert.__table__)
        .values(
            dedupe_key=f"checkpoint:{cp.key_id}:{cp.number}",
            kind=WITNESS_KIND,
            level=0,
            repeat=0,
            at=cp.at,
            recipients=",witness,",
            title=f"审计检查点 #{cp.number}（事件 1-{cp.upto}）",
            message=_line(cp),
            provisional=False,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Alert.__table__.c.id)
    ).scalar_one_or_none()
    if alert_id is not None:
        s.execute(
            insert(Delivery.__table__)
            .values(
                alert_id=alert_id,
                channel_id=channel.id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )


def _last_number(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    for raw in reversed(lines):
        try:
            return int(json.loads(raw)["number"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def sync_file(svc: Services) -> int:
    """Append to the checkpoint file every checkpoint it lacks; returns how many."""
    path = svc.settings.checkpoint_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        have = _last_number(path)
        with read_only(svc.sessions) as s:
            missing = (
                s.execute(select(Checkpoint).where(Checkpoint.number > have).order_by(Checkpoint.number))
                .scalars()
                .all()
            )
        for cp in missing:
            f.write(_line(cp) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return len(missing)


@dataclass(frozen=True)
class Copy:
    """A checkpoint as kept outside the database (the file, or what the witness received)."""

    source: str
    number: int
    statement: str
    signature: str
    valid: bool | None  # the signature checks out; None: no public key to check it with


def _lines(raw: str) -> Iterator[dict]:
    for ln in raw.splitlines():
        ln = ln.strip()
        if not ln:
            continue
        try:
            item = json.loads(ln)
        except ValueError:
            continue
        if isinstance(item, dict) and "message" in item and "statement" not in item:  # a webhook body as received
            try:
                item = json.loads(item["message"])
            except (TypeError, ValueError):
                continue
        if isinstance(item, dict) and {"number", "statement", "signature"} <= item.keys():
            yield item


def read_copies(paths: list[Path], verifier: Verifier | None) -> list[Copy]:
    copies = []
    for path in paths:
        if not path.exists():
            continue
        for item in _lines(path.read_text(encoding="utf-8")):
            valid = verifier.verify(item["statement"].encode("utf-8"), item["signature"]) if verifier else None
            copies.append(Copy(str(path), int(item["number"]), item["statement"], item["signature"], valid))
    return copies
