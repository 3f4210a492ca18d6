"""The tasklist (待办, GET /api/v1/tasks, the first page): every act that waits on the caller's
party, wherever it comes from.

Each source in ``SOURCES`` is ``def source(s, user, now) -> list[dict]`` (the request's
services, for the procedures and the calendar: ``services()``, set by ``list_tasks``) and returns dicts with exactly the keys of
``TASK_KEYS``: ``kind``, ``case_id``, ``case_number``, ``case_title``, ``what`` (Chinese),
``since`` and ``due_at`` (aware datetimes; ``due_at`` None: no deadline) and ``href`` (the page
where it is done). ``list_tasks`` adds, the same way for every task, the due date, working
days left and overdue (``fundflow.domain.deadlines.deadline_status``: the one predicate), and
for a stage the user it is assigned to (指派/签收), then filters (mine / my organisation) and
sorts. The menu's count is the length of the same list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from fundflow.domain.deadlines import deadline_status
from fundflow.domain.definition import Definition, State
from fundflow.domain.tz import local_date
from fundflow.service.errors import InvalidInput
from fundflow.service.jurisdiction import case_clause, holder_clause
from fundflow.service.reads import handoff_tasks
from fundflow.service.reads.common import iso, money
from fundflow.service.tables import (
    Alert,
    Case,
    MeetingVote,
    Stage,
    StageAssignment,
    Supervision,
    TopUpNotice,
    TopUpSend,
    User,
)
from fundflow.service.usecases.supervision import ISSUED, REPLIED, pending_since, supervisor_roles

__all__ = ["SOURCES", "TASK_KEYS", "SCOPES", "list_tasks", "task_count", "services"]

TASK_KEYS = frozenset({"kind", "case_id", "case_number", "case_title", "what", "since", "due_at", "href"})
SCOPES = ("org", "mine")  # my organisation's (all), mine (assigned to me)

#: the request's services (registry, calendar), for the sources' fixed signature
_services: ContextVar[Any] = ContextVar("fundflow_task_services")


def services():
    """The services of the list being assembled (a source's registry and calendar)."""
    return _services.get()


def _task(kind: str, case: Case, what: str, since: datetime, due_at: datetime | None, href: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "case_id": case.id,
        "case_number": case.number,
        "case_title": case.title,
        "what": what,
        "since": since,
        "due_at": due_at,
        "href": href,
    }


def _open_cases(
    s: Session, user: User, pick: Callable[[Definition, State], bool]
) -> list[tuple[Case, Stage, Definition]]:
    """The open cases the user sees whose current state ``pick`` chooses, with their stage."""
    registry = services().registry
    keys = [(d.id, d.version, st.id) for d in registry for st in d.states.values() if not st.terminal and pick(d, st)]
    if not keys:
        return []
    rows = s.exec(
        select(Case, Stage)
        .join(Stage, and_(Stage.case_id == Case.id, Stage.left_at.is_(None)))
        .where(
            case_clause(user),
            holder_clause(user),
            Case.closed.is_(False),
            or_(*[and_(Case.definition_id == i, Case.definition_version == v, Case.state == st) for i, v, st in keys]),
        )
        .order_by(Case.id)
    ).all()
    return [(c, st, registry.get(c.definition_id, c.definition_version)) for c, st in rows]


# -- the sources -------------------------------------------------------------------------------


def stage_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """The current stage, where the user's role is responsible for it."""
    out = []
    for case, stage, d in _open_cases(s, user, lambda d, st: st.responsible == user.role):
        label = d.states[case.state].label
        if case.suspended_since is not None:  # the clock stops; what waits is the resumption
            out.append(_task("stage", case, f"“{label}”已挂起，待恢复办理", case.suspended_since, None, _href(case)))
        else:
            out.append(_task("stage", case, f"办理“{label}”", stage.entered_at, stage.due_at, _href(case)))
    return out


def _signatures(d: Definition, st: State, role: str) -> list[tuple[str, str]]:
    """(record, the signing action's label) that ``role`` must sign in ``st``: a ``signed_by``
    guard of a transition out of it names the role, and a ``sign`` action lets it sign."""
    out = []
    for t in d.transitions_from(st.id):
        for g in t.guards:
            if g.name != "signed_by" or role not in g.params.get("parties", ()):
                continue
            record = g.params.get("record")
            signer = next(
                (x for x in d.transitions_from(st.id) if x.effect and x.effect.sign == record and role in x.roles), None
            )
            if signer is not None and (record, signer.label) not in out:
                out.append((record, signer.label))
    return out


def signature_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """An acceptance (or any ``signed_by`` record) still waiting for the user's party."""
    out = []
    for case, stage, d in _open_cases(s, user, lambda d, st: bool(_signatures(d, st, user.role))):
        if case.suspended_since is not None:
            continue
        signed = (case.data or {}).get("signatures", {})
        for record, label in _signatures(d, d.states[case.state], user.role):
            if user.role not in signed.get(record, ()):
                out.append(_task("signature", case, label, stage.entered_at, stage.due_at, _href(case, "actions")))
    return out


def vote_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """The joint meeting is being held and the user's party has no attendance or vote yet."""
    rows = _open_cases(s, user, lambda d, st: d.may_record_vote(st.id, user.role, user.role))
    if not rows:
        return []
    voted = set(
        s.exec(
            select(MeetingVote.case_id).where(
                MeetingVote.case_id.in_([c.id for c, _, _ in rows]), MeetingVote.party == user.role
            )
        ).all()
    )
    return [
        _task(
            "vote", case, "联席会议：登记本单位出席与表决意见", stage.entered_at, stage.due_at, _href(case, "meeting")
        )
        for case, stage, _ in rows
        if case.id not in voted and case.suspended_since is None
    ]


def _answers(d: Definition, st: State, role: str) -> list[tuple[str, str, str | None]]:
    """(counter, the answering action's label, the raising trigger) that ``role`` works down in ``st``."""
    out = []
    for t in d.transitions_from(st.id):
        e = t.effect
        if e is not None and e.counter and e.delta < 0 and role in t.roles:
            raiser = next(
                (
                    x.trigger
                    for x in d.transitions_from(st.id)
                    if x.effect and x.effect.counter == e.counter and x.effect.delta > 0
                ),
                None,
            )
            out.append((e.counter, t.label, raiser))
    return out


def objection_counter_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """Open items of a counter (the public notice's open objections) that the user's party answers."""
    out = []
    for case, stage, d in _open_cases(s, user, lambda d, st: bool(_answers(d, st, user.role))):
        if case.suspended_since is not None:
            continue
        counters = (case.data or {}).get("counters", {})
        acts = case.act_times or {}
        for counter, label, raiser in _answers(d, d.states[case.state], user.role):
            n = int(counters.get(counter, 0) or 0)
            if n > 0:
                since = datetime.fromisoformat(acts[raiser]) if raiser in acts else stage.entered_at
                out.append(
                    _task("objection", case, f"{label}（{n} 项待答复）", since, stage.due_at, _href(case, "actions"))
                )
    return out


def supervision_issue_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """A stage escalated to the user's role (督办) without an open 督办, none closed since."""
    rows = s.exec(
        select(Case, Stage, func.min(Alert.at), func.max(Alert.at))
        .join(Stage, Stage.id == Alert.stage_id)
        .join(Case, Case.id == Stage.case_id)
        .where(
            Alert.kind == "escalation",
            Alert.recipients.like(f"%,{user.role},%"),
            Stage.left_at.is_(None),
            Case.closed.is_(False),
            case_clause(user),
        )
        .group_by(Case.id, Stage.id)
        .order_by(Case.id)
    ).all()
    if not rows:
        return []
    sups: dict[int, list[Supervision]] = {}
    for row in s.exec(select(Supervision).where(Supervision.stage_id.in_([st.id for _, st, _, _ in rows]))):
        sups.setdefault(row.stage_id, []).append(row)
    registry = services().registry
    out = []
    for case, stage, first, last in rows:
        d = registry.get(case.definition_id, case.definition_version)
        if user.role not in supervisor_roles(d, stage.state):
            continue
        since = pending_since(first, last, sups.get(stage.id, []))
        if since is None:  # one open, or closed after the latest escalation (a new one reopens it)
            continue
        label = d.states[stage.state].label
        out.append(
            _task(
                "supervision_issue",
                case,
                f"“{label}”逾期报请督办：下发督办通知",
                since,
                None,
                _href(case, "supervision"),
            )
        )
    return out


def supervision_reply_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """A 督办 issued to the user's party, not yet replied to (反馈)."""
    rows = s.exec(
        select(Supervision, Case)
        .join(Case, Case.id == Supervision.case_id)
        .where(Supervision.status == ISSUED, Supervision.to_role == user.role, case_clause(user))
        .order_by(Supervision.id)
    ).all()
    return [
        _task(
            "supervision_reply",
            case,
            f"反馈督办（第 {row.round} 轮）：{_short(row.content)}",
            row.issued_at,
            row.reply_due_at,
            _href(case, "supervision"),
        )
        for row, case in rows
    ]


def supervision_review_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """A 督办 the user's role issued, replied to: close it (销号) or renew it (续督)."""
    rows = s.exec(
        select(Supervision, Case)
        .join(Case, Case.id == Supervision.case_id)
        .where(Supervision.status == REPLIED, Supervision.issuer_role == user.role, case_clause(user))
        .order_by(Supervision.id)
    ).all()
    return [
        _task(
            "supervision_review",
            case,
            f"{row.to_org}已反馈督办：审阅后销号或续督",
            row.replied_at or row.issued_at,
            None,
            _href(case, "supervision"),
        )
        for row, case in rows
    ]


def top_up_tasks(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """A top-up notice (续交通知) of the user's street office not yet sent to its households."""
    if user.org_level != "street_office" or user.org_id is None:
        return []
    rows = s.exec(
        select(TopUpNotice, Case)
        .join(Case, Case.id == TopUpNotice.case_id)
        .outerjoin(TopUpSend, TopUpSend.notice_id == TopUpNotice.id)
        .where(TopUpNotice.street_office_id == user.org_id, TopUpSend.id.is_(None), case_clause(user))
        .order_by(TopUpNotice.id)
    ).all()
    return [
        _task(
            "top_up",
            case,
            f"送达续交通知（{n.households} 户，合计 {money(n.total)} 元）",
            n.created_at,
            None,
            _href(case, "top-up"),
        )
        for n, case in rows
    ]


#: Every kind of task, in the order the list shows equal deadlines.
SOURCES: tuple[Callable[[Session, User, datetime], list[dict[str, Any]]], ...] = (
    stage_tasks,
    signature_tasks,
    vote_tasks,
    # objections raised through the definition's counter transitions (raise_objection) ...
    objection_counter_tasks,
    # ... and the hand-offs' records: an extension to decide, an objection record to answer
    # (a record does not move the counter, so no objection is listed twice)
    *handoff_tasks.SOURCES,
    supervision_issue_tasks,
    supervision_reply_tasks,
    supervision_review_tasks,
    top_up_tasks,
)


def _href(case: Case, anchor: str | None = None) -> str:
    return f"/cases/{case.id}" + (f"#{anchor}" if anchor else "")


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- the list ----------------------------------------------------------------------------------


def _stages(s: Session, case_ids: Iterable[int]) -> dict[int, tuple[datetime | None, dict[str, Any] | None]]:
    """case id -> its current stage's warning moment and whom the stage is assigned to."""
    ids = list(set(case_ids))
    if not ids:
        return {}
    rows = s.exec(
        select(Stage.case_id, Stage.warn_at, StageAssignment, User)
        .outerjoin(StageAssignment, StageAssignment.stage_id == Stage.id)
        .outerjoin(User, User.id == StageAssignment.assignee_id)
        .where(Stage.case_id.in_(ids), Stage.left_at.is_(None))
    ).all()
    return {
        case_id: (
            warn_at,
            {"id": u.id, "name": u.display_name, "claimed": a.claimed_at is not None} if a is not None else None,
        )
        for case_id, warn_at, a, u in rows
    }


def _view(svc, t: dict[str, Any], now: datetime, stage: tuple | None) -> dict[str, Any]:
    """The task as listed: its due date, working days left, overdue (and, for a stage, warned
    and its assignee), by the one rule (``deadline_status``)."""
    due_at = t["due_at"]
    warn_at, assignee = stage if stage is not None else (None, None)
    # due_at is 00:00 of the day after the due date (fundflow.domain.deadlines)
    due_date = local_date(due_at - timedelta(microseconds=1)) if due_at is not None else None
    status = deadline_status(due_date, due_at, warn_at, now, svc.calendar)
    return {
        **t,
        "since": iso(t["since"]),
        "due_at": iso(due_at),
        "due_date": due_date.isoformat() if due_date else None,
        "working_days_left": status.working_days_left,
        "overdue": status.overdue,
        "warned": status.warned,
        "assignee": assignee,
    }


def list_tasks(s: Session, svc, user: User, now: datetime, scope: str = "org") -> dict[str, Any]:
    """The tasks waiting on ``user``'s party (``scope`` "org") or assigned to ``user`` ("mine"),
    overdue first, then by deadline, then oldest first."""
    if scope not in SCOPES:
        raise InvalidInput("scope 应为 org（本单位）或 mine（指派给我）", code="invalid_scope")
    token = _services.set(svc)
    try:
        raw = [t for source in SOURCES for t in source(s, user, now)]
    finally:
        _services.reset(token)
    stages = _stages(s, (t["case_id"] for t in raw if t["kind"] == "stage"))
    items = [_view(svc, t, now, stages.get(t["case_id"]) if t["kind"] == "stage" else None) for t in raw]
    mine = [t for t in items if t["assignee"] and t["assignee"]["id"] == user.id]
    shown = mine if scope == "mine" else items
    far = datetime.max.replace(tzinfo=now.tzinfo)
    shown.sort(
        key=lambda t: (
            not t["overdue"],
            datetime.fromisoformat(t["due_at"]) if t["due_at"] else far,
            datetime.fromisoformat(t["since"]),
            t["case_id"],
        )
    )
    return {"items": shown, "total": len(shown), "scope": scope, "counts": {"org": len(items), "mine": len(mine)}}


def task_count(s: Session, svc, user: User, now: datetime) -> int:
    """The menu's count: the length of the list the first page shows."""
    return list_tasks(s, svc, user, now)["total"]
