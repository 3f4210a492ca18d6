"""Moving running cases onto a new version of their procedure: plan, apply, revert.

The rules are the migration declared beside the new version (``<id>.v<N>.migrate.yaml``,
``fundflow.domain.migration``); this module reads the cases, asks ``land`` where each one goes
and writes it:

* ``plan`` only reads: for every running case, where it lands, the deadline before and after
  (old and new due date), the documents and fields the new version requires that it lacks, and
  a summary by target state.
* ``apply`` records a batch and one item per case (the case's version as the plan saw it), then
  moves each case in a transaction of its own, under the case row's lock and version (the
  optimistic lock a transition uses): the open stage is closed, a stage of the new state opens
  with the deadline kept or recomputed, the case row takes the new version, state and data, and
  a ``migrated`` event (versions, mapping, deadline derivation) joins the case's hash chain. A
  case that changed since the plan is reported (``stale``), never forced. Killed half-way, a
  rerun resumes the unfinished batch; a case already moved is never moved twice.
* ``revert`` moves back the cases of a batch that have not been advanced since (their version
  is still the one the migration left), restoring the data and the stage's deadline, with a
  ``migration_reverted`` event.

Events before the migration keep the version they were fired under: the ``migrated`` and
``migration_reverted`` events name the versions, so each event's version follows from the
chain; stage rows before the migration are not touched.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from fundflow.domain.deadlines import Anchors
from fundflow.domain.definition import Definition
from fundflow.domain.migration import RECOMPUTE, Landing, Migration, land
from fundflow.service.context import Services
from fundflow.service.db import read_only, transaction
from fundflow.service.errors import Conflict, Forbidden, InvalidInput, MigrationNotDeclared, NotFound
from fundflow.service.integrity.facts import STAGES
from fundflow.service.tables import Case, Document, MigrationBatch, MigrationItem, Stage, User
from fundflow.service.usecases.cases import OPEN_TRIGGER, act_moments, append_event, set_deadlines

__all__ = ["plan", "apply", "revert", "request", "require_admin", "batches", "batch_report", "MIGRATED", "REVERTED"]

MIGRATED = "migrated"  # the event's trigger
REVERTED = "migration_reverted"

#: What a stage's deadline is made of: copied when kept, saved for a revert.
_DEADLINE_COLUMNS = (
    "due_date",
    "due_at",
    "warn_at",
    "escalate_at",
    "next_alert_at",
    "provisional",
    "rule",
    "calendar_source",
    "suspended_working_days",
    "suspended_days",
)


def _migration(svc: Services, definition_id: str, from_version: int, to_version: int) -> Migration:
    svc.registry.get(definition_id, from_version)  # UnknownDefinition (404) names the versions there are
    svc.registry.get(definition_id, to_version)
    m = svc.registry.migration(definition_id, from_version, to_version)
    if m is None:
        raise MigrationNotDeclared(
            f"未声明 {definition_id} 第{from_version}版到第{to_version}版的迁移"
            f"（应有 {definition_id}.v{to_version}.migrate.yaml）",
            detail={"definition": definition_id, "from_version": from_version, "to_version": to_version},
        )
    return m


def _running(s: Session, m: Migration, case_ids: Iterable[int] | None) -> list[Case]:
    stmt = select(Case).where(
        Case.definition_id == m.definition_id, Case.definition_version == m.from_version, Case.closed.is_(False)
    )
    rows = list(s.exec(stmt.order_by(Case.id)))
    if case_ids is None:
        return rows
    wanted = set(case_ids)  # filtered here, not in an IN list of any length
    return [c for c in rows if c.id in wanted]


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _landing(svc: Services, m: Migration, new: Definition, case: Case, stage: Stage | None, docs) -> Landing:
    acts = act_moments(case)
    return land(
        m,
        new,
        state=case.state,
        data=case.data or {},
        documents=docs,
        stage_entered_at=stage.entered_at if stage else None,
        calendar=svc.calendar,
        suspended_working_days=stage.suspended_working_days if stage else 0,
        suspended_days=stage.suspended_days if stage else 0,
        anchors=Anchors(acts.get(OPEN_TRIGGER, case.created_at), acts),
    )


def _due(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


# -- plan --------------------------------------------------------------------------------


def plan(
    svc: Services,
    definition_id: str,
    from_version: int,
    to_version: int,
    *,
    cases: Iterable[int] | None = None,
    chunk: int = 500,
) -> dict[str, Any]:
    """The dry run: nothing is written."""
    m = _migration(svc, definition_id, from_version, to_version)
    old, new = svc.registry.get(definition_id, from_version), svc.registry.get(definition_id, to_version)
    out: list[dict[str, Any]] = []
    with read_only(svc.sessions) as s:
        running = _running(s, m, cases)
        for ids in _chunks([c.id for c in running], chunk):
            stages = {
                st.case_id: st for st in s.exec(select(Stage).where(Stage.case_id.in_(ids), Stage.left_at.is_(None)))
            }
            rounds: dict[int, dict[str, int]] = defaultdict(dict)
            for case_id, doc_type, rnd in s.exec(
                select(Document.case_id, Document.doc_type, func.max(Document.round))
                .where(Document.case_id.in_(ids))
                .group_by(Document.case_id, Document.doc_type)
            ):
                rounds[case_id][doc_type] = rnd or 1
            for case in (c for c in running if c.id in set(ids)):
                renewed = case.renewed_documents or {}
                docs = frozenset(t for t, r in rounds[case.id].items() if r >= int(renewed.get(t, 0)))
                stage = stages.get(case.id)
                landing = _landing(svc, m, new, case, stage, docs)
                out.append(_plan_entry(old, new, case, stage, landing))
    summary = Counter(e["to_state"] for e in out)
    return {
        "definition": definition_id,
        "from_version": from_version,
        "to_version": to_version,
        "total": len(out),
        "summary": [
            {"state": sid, "label": new.states[sid].label, "cases": summary[sid]}
            for sid in new.states
            if sid in summary
        ],
        "cases": out,
        # what apply checks each case against: a case changed since is reported, not forced
        "versions": {str(e["id"]): e["version"] for e in out},
    }


def _plan_entry(old: Definition, new: Definition, case: Case, stage: Stage | None, landing: Landing) -> dict:
    before = stage.due_date if stage else None
    if landing.policy == RECOMPUTE and new.states[landing.target].deadline is not None:
        after = landing.deadlines.due_date if landing.deadlines else None
        rule_after = landing.deadlines.rule if landing.deadlines else None
    else:
        after, rule_after = before, stage.rule if stage else None
    return {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "version": case.version,
        "from_state": case.state,
        "from_label": old.states[case.state].label,
        "to_state": landing.target,
        "to_label": new.states[landing.target].label,
        "suspended": case.suspended_since is not None,
        "deadline": {
            "policy": landing.policy,
            "due_before": _due(before),
            "due_after": _due(after),
            "rule_before": stage.rule if stage else None,
            "rule_after": rule_after,
            "changed": before != after,
        },
        "missing_documents": [{"type": t, "label": new.documents.get(t, t)} for t in landing.missing_documents],
        "missing_fields": [{"field": f, "why": why} for f, why in landing.missing_fields.items()],
        "renamed": dict(landing.renamed),
        "defaulted": list(landing.defaulted),
    }


# -- apply -------------------------------------------------------------------------------


def _spec(m: Migration) -> dict[str, Any]:
    return {
        "states": {s: {"to": sm.target, "deadline": sm.deadline} for s, sm in m.states.items()},
        "rename": dict(m.rename),
        "defaults": dict(m.defaults),
        "source": m.source.replace("\\", "/").rsplit("/", 1)[-1],
    }


def apply(
    svc: Services,
    user: User | None,
    definition_id: str,
    from_version: int,
    to_version: int,
    *,
    now: datetime,
    cases: Iterable[int] | None = None,
    expected: dict[int, int] | None = None,
    batch_size: int = 500,
    workers: int = 1,
) -> dict[str, Any]:
    """Move the running cases (all, or ``cases``) onto the new version. ``expected``: case id ->
    the version the plan showed (default: the version when the batch is recorded). ``user``
    None: the system (the command line). ``workers``: on PostgreSQL, that many threads move
    ``batch_size`` cases at a time each (still one transaction per case)."""
    m = _migration(svc, definition_id, from_version, to_version)
    new = svc.registry.get(definition_id, to_version)
    batch_id, resumed = _open_batch(svc, user, m, now, cases, expected)
    if batch_id is None:
        return {"batch": None, "resumed": False, "migrated": 0, "stale": [], "total": 0}
    with read_only(svc.sessions) as s:
        pending = s.exec(
            select(MigrationItem.id, MigrationItem.case_id, MigrationItem.planned_version)
            .where(MigrationItem.batch_id == batch_id, MigrationItem.status == "pending")
            .order_by(MigrationItem.id)
        ).all()

    def move(rows) -> None:
        for item_id, case_id, planned in rows:
            try:
                _migrate_one(svc, user, m, new, batch_id, item_id, now, planned, case_id)
            except StaleDataError:  # lost a race with a transition (or another run): reported below
                _mark_stale(svc, item_id, "迁移时案件正被他人办理，未迁移")

    chunks = list(_chunks(pending, max(1, batch_size)))
    if workers > 1 and svc.db.dialect.name == "postgresql":  # SQLite serialises writers anyway
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in [pool.submit(move, rows) for rows in chunks]:
                done.result()
    else:
        for rows in chunks:
            move(rows)
    with transaction(svc.sessions) as s:
        b = s.get(MigrationBatch, batch_id)
        b.status, b.finished_at = "done", now
        s.add(b)
    return {**batch_report(svc, batch_id), "resumed": resumed}


def _mark_stale(svc: Services, item_id: int, reason: str) -> None:
    with transaction(svc.sessions) as s:
        s.execute(
            update(_ITEMS)
            .where(_ITEMS.c.id == item_id, _ITEMS.c.status == "pending")
            .values(status="stale", note=reason)
        )


def _open_batch(
    svc: Services,
    user: User | None,
    m: Migration,
    now: datetime,
    cases: Iterable[int] | None,
    expected: dict[int, int] | None,
) -> tuple[int | None, bool]:
    """The unfinished batch of this migration (a crashed run: resumed), or a new one with an
    item per running case; None when no case is left to move."""
    with transaction(svc.sessions) as s:
        running = s.exec(
            select(MigrationBatch.id).where(
                MigrationBatch.definition_id == m.definition_id,
                MigrationBatch.from_version == m.from_version,
                MigrationBatch.to_version == m.to_version,
                MigrationBatch.status == "running",
            )
        ).first()
        if running is not None:
            return running, True
        picked = _running(s, m, cases if cases is not None else (expected.keys() if expected else None))
        if not picked:
            return None, False
        b = MigrationBatch(
            definition_id=m.definition_id,
            from_version=m.from_version,
            to_version=m.to_version,
            spec=_spec(m),
            created_by=user.id if user is not None else None,
            created_at=now,
        )
        s.add(b)
        s.flush()
        s.add_all(
            MigrationItem(
                batch_id=b.id,
                case_id=c.id,
                planned_version=(expected or {}).get(c.id, c.version),
                from_state=c.state,
            )
            for c in picked
        )
        return b.id, False


_CASES, _STAGES, _ITEMS = Case.__table__, Stage.__table__, MigrationItem.__table__
_STAGE_COLUMNS = tuple(c.name for c in _STAGES.c)


def _fast_commit(s: Session) -> None:
    """On PostgreSQL a case's transaction commits without waiting for its WAL flush: a server
    crash may lose the last few moves, whole (case, stage, event and item together), and the
    rerun makes them again; the batch's final commit waits, and with it everything before."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SET LOCAL synchronous_commit = off"))


_LOCK = (
    sa_select(_CASES, *(c.label(f"st_{c.name}") for c in _STAGES.c))
    .select_from(_CASES.outerjoin(_STAGES, and_(_STAGES.c.case_id == _CASES.c.id, _STAGES.c.left_at.is_(None))))
    .where(_CASES.c.id == bindparam("case_id"))
)
_LOCK_PG = _LOCK.with_for_update(of=_CASES)
# built once: statement construction costs more than the round trip here
_CLOSE_STAGE = update(_STAGES).where(_STAGES.c.id == bindparam("stage_id")).values(left_at=bindparam("left_at"))
_ADD_STAGE = insert(_STAGES)
_CASE_MOVED = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("case_id"), _CASES.c.version == bindparam("read_version"))
    .values(
        definition_version=bindparam("definition_version"),
        state=bindparam("state"),
        data=bindparam("data"),
        updated_at=bindparam("updated_at"),
        event_count=bindparam("event_count"),
        head_hash=bindparam("head_hash"),
        version=bindparam("new_version"),
    )
)
_ITEM_DONE = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"), _ITEMS.c.status == bindparam("was"))
    .values(
        status=bindparam("status"),
        to_state=bindparam("to_state"),
        case_version=bindparam("case_version"),
        before=bindparam("before"),
    )
)
_ITEM_REVERTED = (
    update(_ITEMS)
    .where(_ITEMS.c.id == bindparam("item_id"), _ITEMS.c.status == MIGRATED)
    .values(status="reverted", case_version=bindparam("case_version"))
)


def _lock(s: Session, case_id: int) -> tuple[SimpleNamespace, SimpleNamespace | None]:
    """The case row (locked on PostgreSQL; SQLite serialises writers) and its open stage, in one
    statement, as plain objects the facts' digests read."""
    conn = s.connection()
    stmt = _LOCK_PG if conn.dialect.name == "postgresql" else _LOCK
    row = conn.execute(stmt, {"case_id": case_id}).one()._mapping
    case = SimpleNamespace(**{c.name: row[c] for c in _CASES.c})
    stage = SimpleNamespace(**{n: row[f"st_{n}"] for n in _STAGE_COLUMNS}) if row["st_id"] is not None else None
    return case, stage


def _move(
    s: Session,
    user: User | None,
    case: SimpleNamespace,
    stage: SimpleNamespace | None,
    fresh: SimpleNamespace,
    *,
    version: int,
    state: str,
    data: dict,
    trigger: str,
    label: str,
    event_data: dict,
    now: datetime,
) -> int:
    """Close the open stage, open ``fresh``, put the case on ``version`` in ``state`` with
    ``data``, and chain the event; returns the case's new version (the optimistic lock: the
    row must still be at the version read)."""
    conn = s.connection()
    writes: list[tuple[str, list]] = []
    if stage is not None:
        stage.left_at = now
        conn.execute(_CLOSE_STAGE, {"stage_id": stage.id, "left_at": now})
        writes.append(STAGES.changed(stage))
    writes.append(STAGES.added([fresh]))
    conn.execute(_ADD_STAGE, {k: v for k, v in vars(fresh).items() if k in _STAGE_COLUMNS and k != "id"})
    source = case.state
    read_version = case.version
    case.definition_version, case.state, case.data, case.updated_at = version, state, data, now
    append_event(s, case, user, trigger, label, source, state, event_data, None, now, writes)
    done = conn.execute(
        _CASE_MOVED,
        {
            "case_id": case.id,
            "read_version": read_version,
            "definition_version": version,
            "state": state,
            "data": data,
            "updated_at": now,
            "event_count": case.event_count,
            "head_hash": case.head_hash,
            "new_version": read_version + 1,
        },
    )
    if done.rowcount != 1:
        raise StaleDataError("the case changed while it was being moved")
    return read_version + 1


def _deadline_of(stage: SimpleNamespace) -> dict[str, Any]:
    out: dict[str, Any] = {"entered_at": stage.entered_at.isoformat()}
    for col in _DEADLINE_COLUMNS:
        v = getattr(stage, col)
        out[col] = v.isoformat() if isinstance(v, (date, datetime)) else v
    return out


def _restore_deadline(stage: SimpleNamespace, saved: dict[str, Any]) -> None:
    for col in _DEADLINE_COLUMNS:
        v = saved.get(col)
        if col == "due_date" and v is not None:
            v = date.fromisoformat(v)
        elif col in ("due_at", "warn_at", "escalate_at", "next_alert_at") and v is not None:
            v = datetime.fromisoformat(v)
        setattr(stage, col, v)


def _new_stage(case_id: int, state: str, entered_at: datetime) -> SimpleNamespace:
    blank = {c: None for c in _DEADLINE_COLUMNS}
    blank.update(provisional=False, suspended_working_days=0, suspended_days=0)
    return SimpleNamespace(case_id=case_id, state=state, entered_at=entered_at, left_at=None, **blank)


def _migrate_one(
    svc: Services,
    user: User | None,
    m: Migration,
    new: Definition,
    batch_id: int,
    item_id: int,
    now: datetime,
    planned: int | None = None,
    case_id: int | None = None,
) -> str:
    with transaction(svc.sessions) as s:
        _fast_commit(s)
        if planned is None or case_id is None:
            item = s.get(MigrationItem, item_id)
            if item is None or item.status != "pending":
                return item.status if item else "gone"
            planned, case_id = item.planned_version, item.case_id
        case, stage = _lock(s, case_id)
        reason = None
        if case.closed or case.definition_id != m.definition_id or case.definition_version != m.from_version:
            reason = f"案件已不在第{m.from_version}版上运行（已办结或已迁移）"
        elif case.version != planned:
            reason = f"案件自计划后已办理（计划时版本 {planned}，现为 {case.version}），未迁移"
        elif case.state not in m.states:
            reason = f"环节 {case.state} 未声明迁移去向"
        if reason is not None:
            s.execute(
                update(_ITEMS)
                .where(_ITEMS.c.id == item_id, _ITEMS.c.status == "pending")
                .values(status="stale", note=reason)
            )
            return "stale"
        landing = _landing(svc, m, new, case, stage, frozenset())
        before = {"data": dict(case.data or {}), "stage": _deadline_of(stage) if stage else None}
        fresh = _new_stage(case.id, landing.target, stage.entered_at if stage else now)
        if landing.policy == RECOMPUTE:
            set_deadlines(fresh, landing.deadlines)
        elif stage is not None:
            for col in _DEADLINE_COLUMNS:
                setattr(fresh, col, getattr(stage, col))
        if case.suspended_since is not None:
            fresh.next_alert_at = None  # the clock stands still until the case resumes
        event_data = {
            "from_version": m.from_version,
            "to_version": m.to_version,
            "batch": batch_id,
            "mapping": m.mapping(),
            "renamed": dict(landing.renamed),
            "defaulted": list(landing.defaulted),
            "deadline": {
                "policy": landing.policy,
                "counted_from": fresh.entered_at.isoformat(),
                "rule_before": stage.rule if stage else None,
                "due_before": _due(stage.due_date) if stage else None,
                "rule_after": fresh.rule,
                "due_after": _due(fresh.due_date),
            },
        }
        version = _move(
            s,
            user,
            case,
            stage,
            fresh,
            version=m.to_version,
            state=landing.target,
            data=dict(landing.data),
            trigger=MIGRATED,
            label=f"迁移至第{m.to_version}版",
            event_data=event_data,
            now=now,
        )
        s.flush()  # the event
        done = s.connection().execute(
            _ITEM_DONE,
            {
                "item_id": item_id,
                "was": "pending",
                "status": MIGRATED,
                "to_state": landing.target,
                "case_version": version,
                "before": before,
            },
        )
        if done.rowcount != 1:  # another run took this item meanwhile: undo ours
            raise StaleDataError("the item was taken by another run")
        return MIGRATED


# -- revert ------------------------------------------------------------------------------


def revert(svc: Services, user: User | None, batch_id: int, *, now: datetime) -> dict[str, Any]:
    """Move back the cases of a batch that have not been advanced since."""
    with read_only(svc.sessions) as s:
        b = s.get(MigrationBatch, batch_id)
        if b is None:
            raise NotFound(f"迁移批次 {batch_id} 不存在", code="migration_batch_not_found")
        if b.status == "running":
            raise Conflict(f"迁移批次 {batch_id} 尚未完成，请先重新执行迁移使其完成", code="migration_batch_running")
        items = list(
            s.exec(
                select(MigrationItem)
                .where(MigrationItem.batch_id == batch_id, MigrationItem.status == MIGRATED)
                .order_by(MigrationItem.id)
            )
        )
    for item in items:
        _revert_one(svc, user, b, item, now)
    with transaction(svc.sessions) as s:
        row = s.get(MigrationBatch, batch_id)
        row.status, row.reverted_at = "reverted", now
        s.add(row)
    return batch_report(svc, batch_id)


def _revert_one(svc: Services, user: User | None, b: MigrationBatch, item: MigrationItem, now: datetime) -> None:
    with transaction(svc.sessions) as s:
        _fast_commit(s)
        case, stage = _lock(s, item.case_id)
        if case.version != item.case_version or case.definition_version != b.to_version:
            note = f"迁移后已办理（版本 {item.case_version} → {case.version}），保留在第{b.to_version}版"
            s.execute(update(_ITEMS).where(_ITEMS.c.id == item.id).values(note=note))
            return
        saved = item.before.get("stage")
        entered = datetime.fromisoformat(saved["entered_at"]) if saved else (stage.entered_at if stage else now)
        back = _new_stage(case.id, item.from_state, entered)
        if saved:
            _restore_deadline(back, saved)
        if case.suspended_since is not None:
            back.next_alert_at = None
        version = _move(
            s,
            user,
            case,
            stage,
            back,
            version=b.from_version,
            state=item.from_state,
            data=dict(item.before.get("data") or {}),
            trigger=REVERTED,
            label=f"撤销迁移，回到第{b.from_version}版",
            event_data={"from_version": b.to_version, "to_version": b.from_version, "batch": b.id, "reverts": True},
            now=now,
        )
        s.flush()
        s.connection().execute(_ITEM_REVERTED, {"item_id": item.id, "case_version": version})


# -- reports -----------------------------------------------------------------------------


def batch_report(svc: Services, batch_id: int) -> dict[str, Any]:
    with read_only(svc.sessions) as s:
        b = s.get(MigrationBatch, batch_id)
        if b is None:
            raise NotFound(f"迁移批次 {batch_id} 不存在", code="migration_batch_not_found")
        rows = s.exec(
            select(MigrationItem, Case.number)
            .join(Case, Case.id == MigrationItem.case_id)
            .where(MigrationItem.batch_id == batch_id)
            .order_by(MigrationItem.id)
        ).all()
    counts = Counter(i.status for i, _ in rows)
    return {
        "batch": b.id,
        "definition": b.definition_id,
        "from_version": b.from_version,
        "to_version": b.to_version,
        "status": b.status,
        "total": len(rows),
        "counts": dict(counts),
        "migrated": counts.get(MIGRATED, 0),
        "reverted": counts.get("reverted", 0),
        "stale": [{"id": i.case_id, "number": n, "reason": i.note} for i, n in rows if i.status == "stale"],
        "kept": [{"id": i.case_id, "number": n, "reason": i.note} for i, n in rows if i.status == MIGRATED and i.note],
    }


def batches(svc: Services, limit: int = 50) -> list[dict[str, Any]]:
    with read_only(svc.sessions) as s:
        rows = s.exec(select(MigrationBatch).order_by(MigrationBatch.id.desc()).limit(limit)).all()
    return [
        {
            "batch": b.id,
            "definition": b.definition_id,
            "from_version": b.from_version,
            "to_version": b.to_version,
            "status": b.status,
            "created_at": b.created_at.isoformat(),
        }
        for b in rows
    ]


# -- one entry for the API and the page --------------------------------------------------


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("只有系统管理员可以迁移案件的流程版本", code="cannot_migrate_cases")


def request(
    svc: Services,
    user: User,
    action: str,
    *,
    now: datetime,
    definition: str | None = None,
    from_version: int | None = None,
    to_version: int | None = None,
    cases: list[int] | None = None,
    expected: dict[int, int] | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """``plan``, ``apply`` or ``revert`` for an administrator."""
    require_admin(user)
    if action == "revert":
        if batch is None:
            raise InvalidInput("撤销迁移须指定批次号 batch", code="field_missing", detail={"field": "batch"})
        return {"action": action, **revert(svc, user, batch, now=now)}
    missing = [
        k
        for k, v in (("definition", definition), ("from_version", from_version), ("to_version", to_version))
        if v is None
    ]
    if missing:
        raise InvalidInput(f"须指定：{'、'.join(missing)}", code="field_missing", detail={"fields": missing})
    if action == "plan":
        return {"action": action, **plan(svc, definition, from_version, to_version, cases=cases)}
    return {
        "action": action,
        **apply(svc, user, definition, from_version, to_version, now=now, cases=cases, expected=expected),
    }
