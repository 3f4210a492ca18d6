"""The case list (GET /cases, the case list page) and the to-do list: filtered, in due order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from fundflow.service.errors import InvalidInput
from fundflow.service.jurisdiction import case_clause
from fundflow.service.reads.common import iso, not_overdue_clause, overdue_clause, stage_view
from fundflow.service.tables import Case, Community, Stage, User


def subject_name(d, case) -> dict | None:
    """A list's line for a case not about a community: the subject's label and name."""
    if d.subject.is_community or d.subject.kind == "none":
        return None
    return {"label": d.subject.label, "name": (case.subject or {}).get("name")}


__all__ = ["list_cases", "MAX_PAGE_SIZE", "COUNT_CAP", "INBOX_COUNT_CAP"]

MAX_PAGE_SIZE = 100
COUNT_CAP = 10_000
# The to-do list (``responsible_role``) counts at most this many (ten pages): a clerk with
# more waiting needs a filter, and counting 33,000 of them cost 80 ms a page (1,000: 10 ms).
INBOX_COUNT_CAP = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def list_cases(
    s: Session,
    svc,
    user: User,
    *,
    now: datetime,
    state: str | None = None,
    street_office_id: int | None = None,
    overdue: bool | None = None,
    q: str | None = None,
    responsible_role: str | None = None,
    include_closed: bool = True,
    page: int = 1,
    page_size: int = 20,
    after: str | None = None,
) -> dict[str, Any]:
    """One page in due order (then newest first). ``after``: the ``next`` of the previous page
    (a keyset cursor on due moment and case id; ``page`` is then not used): deep pages cost
    what the first one does. ``next`` is None on the last page."""
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page 从 1 开始，page_size 为 1-{MAX_PAGE_SIZE}", code="invalid_page")
    cursor = _parse_cursor(after) if after is not None else None
    # An open case always has its open stage: without closed cases the join is inner, so
    # the planner can walk ix_stages_open_due in due order and stop at the page.
    open_stage = and_(Stage.case_id == Case.id, Stage.left_at.is_(None))
    # columns, not entities: a page is 20 tuples, not 60 ORM objects with identity bookkeeping;
    # a case about something other than a community has none (issue 15): an outer join
    stmt = select(*_CASE_COLS, *_COMMUNITY_COLS, *_STAGE_COLS).outerjoin(Community, Community.id == Case.community_id)
    stmt = stmt.outerjoin(Stage, open_stage) if include_closed else stmt.join(Stage, open_stage)
    stmt = stmt.where(case_clause(user))
    if state:
        stmt = stmt.where(Case.state == state)
    if street_office_id is not None:
        stmt = stmt.where(Case.street_office_id == street_office_id)
    if not include_closed:
        stmt = stmt.where(Case.closed.is_(False))
    if overdue is True:
        stmt = stmt.where(overdue_clause(now))
    elif overdue is False:
        stmt = stmt.where(or_(Stage.id.is_(None), not_overdue_clause(now)))
    if q:
        like = f"%{q.strip()[:100]}%"
        stmt = stmt.where(or_(Case.title.ilike(like), Case.number.ilike(like), Community.name.ilike(like)))
    if responsible_role:
        states = [
            (d.id, d.version, st.id)
            for d in svc.registry
            for st in d.states.values()
            if st.responsible == responsible_role
        ]
        if not states:
            stmt = stmt.where(Case.id.is_(None))
        else:
            if not include_closed:
                # the open stage is in the case's state: naming it lets the planner walk
                # ix_stages_open_by_state_due in due order (one state: no sort at all)
                stmt = stmt.where(Stage.state.in_(sorted({st for _, _, st in states})))
            stmt = stmt.where(
                or_(
                    *[
                        and_(Case.definition_id == i, Case.definition_version == v, Case.state == st)
                        for i, v, st in states
                    ]
                )
            )
    # Counting stops at a cap: beyond it a clerk needs a filter, not a page number.
    cap = INBOX_COUNT_CAP if responsible_role else COUNT_CAP
    total = s.exec(select(func.count()).select_from(stmt.with_only_columns(Case.id).limit(cap + 1).subquery())).one()
    if cursor is None:
        ordered = stmt.order_by(Stage.due_at.asc().nulls_last(), Case.id.desc())
        rows = s.exec(ordered.offset((page - 1) * page_size).limit(page_size)).all()
    else:
        rows = _after(s, stmt, cursor, page_size)
    items = [_item(svc, row, now) for row in rows]
    last = rows[-1] if len(rows) == page_size else None
    return {
        "items": items,
        "total": min(total, cap),
        "total_exact": total <= cap,
        "page": page,
        "page_size": page_size,
        "next": _cursor(last.due_at, last.id) if last is not None else None,
    }


_CASE_COLS = (
    Case.id,
    Case.number,
    Case.title,
    Case.definition_id,
    Case.definition_version,
    Case.state,
    Case.street_office_id,
    Case.suspended_since,
    Case.closed,
    Case.version,
    Case.updated_at,
    Case.subject,
)
_COMMUNITY_COLS = (Community.id.label("community_id"), Community.name.label("community_name"))
# the open stage's columns under the names ``stage_view`` reads (``stage_state``: the stage's)
_STAGE_COLS = (
    Stage.id.label("stage_id"),
    Stage.state.label("stage_state"),
    Stage.entered_at,
    Stage.due_date,
    Stage.due_at,
    Stage.warn_at,
    Stage.escalate_at,
    Stage.rule,
    Stage.calendar_source,
    Stage.provisional,
)


class _StageCols:
    """The open stage of a list row, as ``stage_view`` reads a stage."""

    __slots__ = (
        "state",
        "entered_at",
        "due_date",
        "due_at",
        "warn_at",
        "escalate_at",
        "rule",
        "calendar_source",
        "provisional",
    )

    def __init__(self, row) -> None:
        self.state = row.stage_state
        self.entered_at = row.entered_at
        self.due_date = row.due_date
        self.due_at = row.due_at
        self.warn_at = row.warn_at
        self.escalate_at = row.escalate_at
        self.rule = row.rule
        self.calendar_source = row.calendar_source
        self.provisional = row.provisional


def _item(svc, row, now: datetime) -> dict[str, Any]:
    d = svc.registry.get(row.definition_id, row.definition_version)
    suspended = row.suspended_since is not None
    stage = _StageCols(row) if row.stage_id is not None else None
    return {
        "id": row.id,
        "number": row.number,
        "title": row.title,
        "definition": d.id,
        "state": row.state,
        "state_label": d.states[row.state].label,
        "community": {"id": row.community_id, "name": row.community_name} if row.community_id is not None else None,
        # what a case not about a community is about: its name (never a person's contact)
        "subject": subject_name(d, row),
        "street_office_id": row.street_office_id,
        "suspended": suspended,
        "closed": row.closed,
        "version": row.version,
        "stage": stage_view(svc, d, stage, now, suspended),
        "updated_at": iso(row.updated_at),
    }


def _after(s: Session, stmt, cursor: tuple[datetime | None, int], page_size: int) -> list:
    """The page after ``cursor`` in (due moment, case id desc) order, NULL due moments last. The
    rows still due are one range of the due index (``due_at >= due`` is an index condition, the
    tie on the case id a filter on that one moment); only a page that runs past the last due
    moment reads the rows without one."""
    due, last_id = cursor
    rows: list = []
    if due is not None:
        due_rows = stmt.where(Stage.due_at >= due, or_(Stage.due_at > due, Stage.case_id < last_id))
        rows = list(s.exec(due_rows.order_by(Stage.due_at.asc(), Case.id.desc()).limit(page_size)).all())
        if len(rows) == page_size:
            return rows
    undue = stmt.where(Stage.due_at.is_(None))
    if due is None:
        undue = undue.where(Case.id < last_id)
    return rows + list(s.exec(undue.order_by(Case.id.desc()).limit(page_size - len(rows))).all())


def _cursor(due: datetime | None, case_id: int) -> str:
    """``<µs since the epoch of the due moment>_<case id>``, or ``_<case id>`` with no due moment."""
    return f"{(due - _EPOCH) // timedelta(microseconds=1) if due is not None else ''}_{case_id}"


def _parse_cursor(raw: str) -> tuple[datetime | None, int]:
    try:
        due, _, case_id = raw.partition("_")
        if not case_id or len(raw) > 64:
            raise ValueError(raw)
        return (_EPOCH + timedelta(microseconds=int(due)) if due else None), int(case_id)
    except (ValueError, OverflowError):
        raise InvalidInput("after 应为上一页返回的 next", code="invalid_cursor", detail={"field": "after"}) from None
