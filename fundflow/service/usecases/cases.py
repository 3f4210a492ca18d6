"""Cases: open, fire a transition, read. Each use case owns its transaction.

The engine decides; this module loads what it needs (the case, its documents, votes, the
balance of the accounts in scope), asks ``Engine.fire`` and writes the outcome: the case row
(versioned), the stage rows, the hash-chained event, money figures and ledger debits, all in
one transaction. Of two conflicting fires exactly one wins; the other gets a 409.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as core_select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Select
from sqlmodel import Session, select

from fundflow.domain.deadlines import StageDeadlines
from fundflow.domain.engine import Actor, CaseSnapshot, Outcome
from fundflow.domain.errors import Refusal, refused
from fundflow.domain.guards import Vote, VoteChoice
from fundflow.domain.ledger import CaseMoney
from fundflow.domain.occurred import parse_occurred_at, resolve_occurred_at
from fundflow.domain.open_form import check_open_fields, check_subject
from fundflow.domain.tz import SHANGHAI, UTC
from fundflow.service.audit import GENESIS, event_hash
from fundflow.service.context import Services
from fundflow.service.db import flushed, lean_transaction, read_only, transaction
from fundflow.service.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from fundflow.service.integrity.facts import STAGES, collect
from fundflow.service.jurisdiction import can_see_case, can_see_community, holds_case
from fundflow.service.prepared import Prepared
from fundflow.service.reads.common import case_body, case_view, money_body, money_view, organisation_of, top_ups_of
from fundflow.service.reads.session import Bearer, caller
from fundflow.service.tables import (
    Building,
    Case,
    Community,
    Document,
    Event,
    Household,
    IdempotencyRecord,
    MeetingVote,
    Objection,
    Stage,
    StreetOffice,
    User,
)
from fundflow.service.usecases import lean, ledger, organisations

__all__ = [
    "open_case",
    "locked_case",
    "fire_transition",
    "get_case",
    "load_case",
    "snapshot",
    "actor_of",
    "Reply",
    "valid_documents",
    "occurred_value",
    "act_moments",
]

OPEN_TRIGGER = "open"
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Reply:
    """A use case's answer as the API sends it, so that idempotent replays are identical."""

    status: int
    body: dict[str, Any]


def actor_of(user: User) -> Actor:
    return Actor(str(user.id), user.role, user.org_name)


def load_case(session: Session, user: User, case_id: int, *, for_update: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    case = session.exec(stmt).first()
    if case is None or not can_see_case(user, case):
        raise NotFound("案件不存在或不在您的管辖范围内", code="case_not_found", detail={"case_id": case_id})
    return case


def current_stage(session: Session, case: Case) -> Stage | None:
    return session.exec(select(Stage).where(Stage.case_id == case.id, Stage.left_at.is_(None))).first()


def _in_scope(stmt: Select, case: Case) -> Select:
    """The households that pay for ``case``: its community, narrowed to its buildings."""
    stmt = stmt.where(Household.community_id == case.community_id)
    if case.scope_building_ids:
        stmt = stmt.where(Household.building_id.in_(case.scope_building_ids))
    return stmt


def scope_balance(session: Session, case: Case) -> Decimal:
    # SUM keeps the column's type, so the fen come back as Decimal yuan
    total = session.exec(_in_scope(select(func.coalesce(func.sum(Household.balance), 0)), case)).one()
    return Decimal(total).quantize(Decimal("0.01"))


def scope_households(session: Session, case: Case, *, lock: bool = False) -> list[Household]:
    """The households in scope, by id: the order shares are computed in and rows are locked
    in (PostgreSQL: SELECT ... FOR UPDATE; SQLite serialises writers with BEGIN IMMEDIATE),
    so two cases over overlapping buildings always lock in the same order."""
    stmt = _in_scope(select(Household), case).order_by(Household.id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return list(session.exec(stmt))


def valid_documents(session: Session, case: Case) -> frozenset[str]:
    """The document types on the case that count now: a type renewed by a new round (a return
    for correction, a failed acceptance) counts only with a document of that round or later."""
    renewed = case.renewed_documents or {}
    rows = session.exec(
        select(Document.doc_type, func.max(Document.round))
        .where(Document.case_id == case.id)
        .group_by(Document.doc_type)
    ).all()
    return frozenset(t for t, r in rows if (r or 1) >= int(renewed.get(t, 0)))


def act_moments(case: Case) -> dict[str, datetime]:
    """trigger -> when that act last happened, from the case row."""
    return {k: datetime.fromisoformat(v) for k, v in (case.act_times or {}).items()}


def _utc_text(moment: datetime) -> str:
    """How an act's moment is written in event data and ``cases.act_times``: UTC, ISO, to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def occurred_value(raw: Any):
    """An ``occurred_at`` from a request (text, date or datetime) -> date | aware datetime | None."""
    try:
        return parse_occurred_at(raw)
    except ValueError as exc:
        raise InvalidInput(f"实际发生时间{exc}", code="invalid_occurred_at", detail={"field": "occurred_at"}) from None


_BALANCE_GUARDS = frozenset({"amount_within_balance"})


def touches_ledger(svc: Services, case: Case, trigger: str) -> bool:
    """Whether ``trigger`` from the case's state may read or move the ledgers in scope."""
    d = svc.registry.get(case.definition_id, case.definition_version)
    tr = d.transition(trigger, case.state)
    if tr is None:
        return False
    return bool(
        (tr.effect is not None and tr.effect.moves_money)
        or (tr.dest is not None and d.states[tr.dest].terminal)
        or any(g.name in _BALANCE_GUARDS for g in tr.guards)
    )


def counted_documents(case: Any, rows: Iterable[tuple[str, int | None]]) -> frozenset[str]:
    """Of (doc type, round) rows, the types that count now (see ``valid_documents``)."""
    renewed = case.renewed_documents or {}
    latest: dict[str, int] = {}
    for t, r in rows:
        r = r or 1
        if r > latest.get(t, 0):
            latest[t] = r
    return frozenset(t for t, r in latest.items() if r >= int(renewed.get(t, 0)))


def snapshot(
    session: Session,
    case: Any,
    stage: Any,
    households: list[Household] | None = None,
    *,
    documents: Iterable[tuple[str, int | None]] | None = None,
    votes: Iterable[tuple[str, bool, str | None]] | None = None,
) -> CaseSnapshot:
    """What the engine sees of a case; with ``households`` (locked), its ledgers in scope too.
    ``documents`` (type, round) and ``votes`` (party, attended, vote): already read with the case."""
    docs = valid_documents(session, case) if documents is None else counted_documents(case, documents)
    if votes is None:
        votes = [
            (v.party, v.attended, v.vote)
            for v in session.exec(select(MeetingVote).where(MeetingVote.case_id == case.id))
        ]
    votes = {party: Vote(attended, VoteChoice(vote) if vote else None) for party, attended, vote in votes}
    acts = act_moments(case)
    accounts, balance, money = (), None, None
    if households is not None:
        accounts = tuple(ledger.accounts_of(session, case, households))
        balance = sum((Decimal(a.covers) for a in accounts), Decimal(0)) / 100
        money = ledger.case_money(session, case, accounts)
    return CaseSnapshot(
        definition_id=case.definition_id,
        version=case.definition_version,
        state=case.state,
        data=case.data,
        documents=docs,
        votes=votes,
        balance=balance.quantize(Decimal("0.01")) if balance is not None else None,
        accounts=accounts,
        money=money,
        stage_entered_at=stage.entered_at if stage else None,
        suspended_since=case.suspended_since,
        suspended_working_days=stage.suspended_working_days if stage else 0,
        suspended_days=stage.suspended_days if stage else 0,
        opened_at=acts.get(OPEN_TRIGGER, case.created_at),
        acts=acts,
        last_act_at=max(acts.values()) if acts else None,
        open_objections=lambda: open_objection_count(session, case.id),  # asked only by its guard
    )


def open_objection_count(session: Session, case_id: int) -> int:
    """The case's objection records still to answer (issue 11b, ``records.objections``)."""
    return _OPEN_OBJECTIONS.first(flushed(session), {"case_id": case_id})[0]


_OPEN_OBJECTIONS = Prepared(
    core_select(func.count(Objection.id)).where(Objection.case_id == bindparam("case_id"), Objection.status == "open")
)


def set_deadlines(stage: Stage, d: StageDeadlines | None) -> None:
    if d is None:
        stage.due_date = stage.due_at = stage.warn_at = stage.escalate_at = stage.next_alert_at = None
        stage.provisional, stage.rule, stage.calendar_source = False, None, None
        return
    stage.due_date, stage.due_at, stage.warn_at = d.due_date, d.due_at, d.warn_at
    stage.escalate_at = d.escalations[0].at if d.escalations else None
    # the scan looks from the first moment on; alerts are unique per moment, so a moment
    # already alerted (before a suspension) is not alerted again; a stage that begins overdue
    # (an offline act recorded late) is looked at by the next scan
    stage.next_alert_at = min(m for m in (d.warn_at, d.due_at) if m is not None)
    stage.provisional, stage.rule, stage.calendar_source = d.provisional, d.rule, d.calendar_source
    stage.suspended_working_days, stage.suspended_days = d.suspended_working_days, d.suspended_days


SYSTEM_NAME, SYSTEM_ROLE = "系统", "system"


def event_values(
    session: Session,
    case: Any,
    user: User | None,
    trigger: str,
    label: str,
    from_state: str | None,
    to_state: str,
    data: dict,
    comment: str | None,
    at: datetime,
    writes: Iterable[tuple[str, list]] = (),
) -> dict[str, Any]:
    """The next event of the case's hash chain, as column values; moves the case's count and
    head on. ``user`` None: the system (scheduler, calendar).

    Call it once the case row and every row in ``writes`` hold their new values: their digests
    (fundflow/service/integrity/facts.py) go into the event, and the event is sealed when a key is set."""
    seq = case.event_count + 1
    prev = case.head_hash or GENESIS
    user_id, name, role, org = (
        (user.id, user.display_name, user.role, user.org_name)
        if user is not None
        else (None, SYSTEM_NAME, SYSTEM_ROLE, None)
    )
    facts = collect(case, writes)
    h = event_hash(
        case.id, seq, trigger, from_state, to_state, user_id, name, role, org, data, comment, at, prev, facts
    )
    signer = session.info.get("signer")
    case.event_count, case.head_hash = seq, h
    return {
        "case_id": case.id,
        "seq": seq,
        "trigger": trigger,
        "label": label,
        "from_state": from_state,
        "to_state": to_state,
        "user_id": user_id,
        "user_name": name,
        "role": role,
        "org": org,
        "data": data,
        "comment": comment,
        "at": at,
        "prev_hash": prev,
        "hash": h,
        "facts": facts,
        "seal": signer.seal(h) if signer is not None else None,
    }


def append_event(
    session: Session,
    case: Case,
    user: User | None,
    trigger: str,
    label: str,
    from_state: str | None,
    to_state: str,
    data: dict,
    comment: str | None,
    at: datetime,
    writes: Iterable[tuple[str, list]] = (),
) -> Event:
    """``event_values`` added to the session as an ``Event`` (the ORM use cases)."""
    event = Event(**event_values(session, case, user, trigger, label, from_state, to_state, data, comment, at, writes))
    session.add(event)
    return event


def _clean_comment(comment: str | None) -> str | None:
    if comment is None:
        return None
    comment = comment.strip()
    if len(comment) > 2000:
        raise InvalidInput("备注不能超过 2000 字", code="comment_too_long")
    return comment or None


# -- open ----------------------------------------------------------------------------------


def open_case(
    svc: Services,
    user: User,
    *,
    definition: str,
    community_id: int | None,
    title: str,
    data: dict,
    buildings: list[str] | None,
    now: datetime,
    version: int | None = None,
    occurred_at: Any = None,
    subject: dict | None = None,
) -> Reply:
    """``occurred_at``: when the hazard was reported, if that was before it is recorded here.
    ``community_id`` (and ``buildings``) for a procedure about a community (``subject:
    community``, the default); ``subject`` ({name, phone, address}) for one about an
    organisation, a place or a person; neither for ``subject: none``."""
    d = svc.registry.get(definition, version)
    happened = resolve_occurred_at(occurred_value(occurred_at), now, None)
    if isinstance(happened, str):
        raise InvalidInput(happened, code="invalid_occurred_at", detail={"field": "occurred_at"})
    if user.role not in d.open_roles:
        raise Forbidden(
            f"{d.roles[user.role].label if user.role in d.roles else user.role}不能发起“{d.title}”案件",
            code="role_cannot_open",
        )
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise InvalidInput("标题不能为空，且不超过 200 字", code="invalid_title")
    _check_json(data)
    form_values, problems = check_open_fields(d, data or {})
    subject_row, subject_problems = ({}, {}) if d.subject.is_community else check_subject(d.subject, subject)
    problems = {**subject_problems, **problems}
    if problems:
        raise InvalidInput("；".join(problems.values()), code="invalid_open_form", detail={"fields": problems})
    if d.subject.is_community:
        if community_id is None:
            raise InvalidInput("请选择小区", code="community_required", detail={"field": "community_id"})
        if subject:
            raise InvalidInput("本流程的案件对象是小区，不填 subject", code="subject_not_allowed")
    elif community_id is not None or buildings:
        raise InvalidInput(f"“{d.title}”的案件对象是{d.subject.label}，不填小区和楼栋", code="community_not_allowed")
    with transaction(svc.sessions) as s:
        community = office = None
        if d.subject.is_community:
            community = s.get(Community, community_id)
            office = s.get(StreetOffice, community.street_office_id) if community else None
            if community is None or office is None or not can_see_community(user, community, office.district_id):
                raise NotFound("小区不存在或不在您的管辖范围内", code="community_not_found")
        scope_ids: list[int] = []
        if buildings and community is not None:
            known = {b.name: b.id for b in s.exec(select(Building).where(Building.community_id == community.id))}
            unknown = [b for b in buildings if b not in known]
            if unknown:
                raise InvalidInput(
                    f"本小区没有以下楼栋：{'、'.join(unknown)}",
                    code="unknown_building",
                    detail={"unknown": unknown, "known": sorted(known)},
                )
            scope_ids = sorted({known[b] for b in buildings})
        owned = sorted(k for k in (data or {}) if k in svc.engine.owned_keys(d))
        if owned:
            raise InvalidInput(
                f"以下字段由流程各环节填写，立案时不能提供：{'、'.join(owned)}",
                code="reserved_case_data",
                detail={"fields": owned},
            )
        _, deadlines = svc.engine.start(d.id, data, happened, d.version)
        clean = {**{k: v for k, v in (data or {}).items()}, **form_values}
        # the lean path (usecases/lean.py): the row inserted, then its number (from its id), the
        # first event and the first stage (PostgreSQL: one statement); no ORM unit of work
        conn = s.connection()
        case = lean.new_case(
            {
                "number": f"T-{uuid.uuid4().hex[:28]}",
                "title": title,
                "definition_id": d.id,
                "definition_version": d.version,
                "state": d.initial,
                "community_id": community.id if community else None,
                "street_office_id": office.id if office else None,
                "district_id": office.district_id if office else None,
                "subject": subject_row,
                "data": clean,
                "scope_building_ids": scope_ids,
                "created_by": user.id,
                "created_at": now,
                "updated_at": now,
                "opened_at": happened,
                "act_times": {OPEN_TRIGGER: _utc_text(happened)},
            }
        )
        lean.insert_case(conn, case)
        case.number = f"FF{happened.astimezone(SHANGHAI).year}{case.id:06d}"
        stage = lean.new_stage(case.id, d.initial, happened)
        set_deadlines(stage, deadlines)
        event = event_values(
            s,
            case,
            user,
            OPEN_TRIGGER,
            d.open_form.label,  # the definition names its report
            None,
            d.initial,
            # the subject by its name only: a person's contact stays on the case row (personal data)
            {**clean, **({"subject": subject_row["name"]} if subject_row else {}), "occurred_at": _utc_text(happened)},
            None,
            now,
            [STAGES.added([stage])],
        )
        lean.write(conn, case, event, None, stage)  # its own row, just inserted: no one else's version
        # a new case has moved no money and has no notices (the community and office: in hand)
        money = money_body(case, CaseMoney(None, None, _ZERO), [], {})
        body = case_view(svc, s, user, case, stage, now, money=money, top_ups=[])
    return Reply(201, body)


def _check_json(data: dict | None) -> None:
    """Case data is stored and answered as JSON: NaN and Infinity (which the request parser lets
    through) would be stored, then fail every answer that shows the case."""
    try:
        json.dumps(data or {}, allow_nan=False)
    except ValueError:
        raise InvalidInput("案件数据不能包含 NaN、Infinity 等非数值", code="invalid_case_data") from None


# -- fire ----------------------------------------------------------------------------------


def _request_hash(case_id: int, trigger: str, data: dict, comment: str | None, occurred: Any = None) -> str:
    parts = [case_id, trigger, data, comment] + ([occurred.isoformat()] if occurred is not None else [])
    raw = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def fire_transition(
    svc: Services,
    user: User | Bearer,
    case_id: int,
    *,
    trigger: str,
    data: dict | None,
    comment: str | None,
    now: datetime,
    if_match: int | None = None,
    idempotency_key: str | None = None,
    occurred_at: Any = None,
    make_actor: Callable[[Session, Any], Actor] | None = None,
) -> Reply:
    """``user`` a ``Bearer``: the token is read in the transition's own transaction (the API's
    hot path: one transaction, no read transaction before it; 401 and nothing written if it
    does not sign anyone in). ``occurred_at``: when the act happened offline (a day or a moment);
    default now. ``make_actor(session, case)``: the actor the engine sees, when the caller's role is not all
    of it (the hand-offs' withdrawal: whether the caller's party opened the case)."""
    data = data or {}
    comment = _clean_comment(comment)
    occurred = occurred_value(occurred_at)
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 128):
        raise InvalidInput("Idempotency-Key 长度应为 1-128 个字符", code="invalid_idempotency_key")
    req_hash = _request_hash(case_id, trigger, data, comment, occurred)
    args = (svc, user, case_id, trigger, data, comment, now, if_match, idempotency_key, occurred, req_hash, make_actor)
    try:
        reached: list = []  # the case was read (and by whom): from there on an error is not retried
        try:
            reply, fired = _fire(*args, reached)
        except DBAPIError as exc:
            if reached or not exc.connection_invalidated:
                raise
            # the pooled connection had died (no pre-ping per checkout): nothing was written
            # on it, and the pool has let go of it; once more on a fresh one
            reply, fired = _fire(*args, reached)
        user = reached[0]
        if fired:
            _observe(svc, user, case_id, trigger, reply)
        return reply
    except StaleDataError:
        raise Conflict("案件刚被他人办理，请刷新后重试", code="concurrent_update") from None
    except IntegrityError:
        if idempotency_key is not None and reached:
            user = reached[0]
            with read_only(svc.sessions) as s:
                replay = _replay(s, user, idempotency_key, req_hash)
                if replay is not None:
                    return replay
        raise Conflict("案件刚被他人办理，请刷新后重试", code="concurrent_update") from None


def locked_case(s: Session, svc: Services, user: User | Bearer, case_id: int, now: datetime):
    """``(user, lean.Loaded)``: the caller (a ``Bearer``'s token read here, in the step's own
    transaction) and the case row locked and read once with what a step needs; 404 if there is
    no such case or the caller may not see it. The lean steps (transitions, votes, documents)
    begin with it."""
    conn = s.connection()  # SQLite: BEGIN IMMEDIATE here
    user = caller(s, svc, user, now)
    got = lean.load(conn, case_id, for_update=True)
    if got is None or not can_see_case(user, got.case):
        raise NotFound("案件不存在或不在您的管辖范围内", code="case_not_found", detail={"case_id": case_id})
    return user, got


def _fire(
    svc, user, case_id, trigger, data, comment, now, if_match, idempotency_key, occurred, req_hash, make_actor, reached
):
    with lean_transaction(svc.sessions) as s:
        # Lock the case first, then look for the key: a request with the same key that is
        # still running holds the lock, and once it commits its record is visible here
        # (PostgreSQL reads each statement afresh), so the replay answers, not the engine.
        user, got = locked_case(s, svc, user, case_id, now)
        reached.append(user)
        conn = s.connection()
        case, stage = got.case, got.stage
        if not holds_case(user, case):
            raise Forbidden("本单位已不再承办此案件", code="not_case_holder")
        if idempotency_key is not None:
            replay = _replay(s, user, idempotency_key, req_hash)
            if replay is not None:
                return replay, False
        if if_match is not None and case.version != if_match:
            raise PreconditionFailed(
                f"案件已更新（当前版本 {case.version}，请求版本 {if_match}），请刷新后重试",
                detail={"current_version": case.version},
            )
        households = lean.households(conn, case, lock=True) if touches_ledger(svc, case, trigger) else None
        snap = snapshot(s, case, stage, households, documents=got.documents, votes=got.votes)
        actor = make_actor(s, case) if make_actor is not None else actor_of(user)
        out = svc.engine.fire(snap, trigger, actor, data, now, occurred)
        if isinstance(out, Refusal):
            svc.observer.refused(out, case_id=case_id, user=user.username, role=user.role)
            raise refused(out)
        posted = out.ledger is not None or out.closed
        stage = apply_outcome(svc, s, case, stage, out, user, comment, now, households, snap.accounts)
        if posted:
            s.flush()  # the households and journal entries, before the reply reads the money
        money = (
            money_view(s, case)
            if got.has_ledger or posted
            else money_body(
                case, CaseMoney(case.approved_amount, case.settled_amount, case.paid_amount or _ZERO), [], {}
            )
        )
        top_ups = top_ups_of(s, case.id) if got.has_top_ups or posted else []
        held = organisation_of(s, case)
        reply = Reply(200, case_body(svc, user, case, stage, now, got.community, got.office, money, top_ups, held))
        if idempotency_key is not None:
            lean.insert_idempotency(
                conn,
                {
                    "user_id": user.id,
                    "key": idempotency_key,
                    "request_hash": req_hash,
                    "status_code": reply.status,
                    "body": reply.body,
                    "created_at": now,
                },
            )
    return reply, True


def _observe(svc: Services, user: User, case_id: int, trigger: str, reply: Reply) -> None:
    """Count and log the committed transition (an idempotent replay is not one)."""
    body = reply.body
    svc.observer.transition(
        definition=body["definition"]["id"],
        case_id=case_id,
        case_number=body["number"],
        trigger=trigger,
        state=body["state"],
        version=body["version"],
        user=user.username,
        role=user.role,
    )


def _replay(session: Session, user: User, key: str, req_hash: str) -> Reply | None:
    rec = session.exec(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == key)
    ).first()
    if rec is None:
        return None
    if rec.request_hash != req_hash:
        raise InvalidInput("同一 Idempotency-Key 已用于不同的请求", code="idempotency_key_reused")
    return Reply(rec.status_code, rec.body)


def apply_outcome(
    svc: Services,
    s: Session,
    case: lean.Row,
    stage: lean.Row | None,
    out: Outcome,
    user: User,
    comment: str | None,
    now: datetime,
    households: list[Household] | None = None,
    accounts: tuple = (),
) -> lean.Row | None:
    """Write an engine outcome with Core statements (``usecases/lean.py``): case row (versioned),
    stage rows, event; money figures and ledgers through the session (``households``: the
    scope, locked, when the outcome may move money). Stages begin and end when their acts
    happened (``occurred_at``); the event keeps both moments."""
    conn = s.connection()
    event_data = dict(out.event.data)
    writes: list[tuple[str, list]] = []
    happened = out.occurred_at or now
    event_data["occurred_at"] = _utc_text(happened)
    case.act_times = {**(case.act_times or {}), out.event.trigger: _utc_text(happened)}
    if out.scope is not None:
        event_data.update(set_scope(s, case, out.scope))
    if out.renew_documents:
        case.doc_round = (case.doc_round or 1) + 1
        case.renewed_documents = {**(case.renewed_documents or {}), **{t: case.doc_round for t in out.renew_documents}}
        event_data["new_round"] = {"round": case.doc_round, "documents": list(out.renew_documents)}
    changed = opened = None
    if out.new_stage:
        if stage is not None:
            stage.left_at = happened
            changed = stage
            writes.append(STAGES.changed(stage))
        stage = None
        if not out.closed:
            stage = opened = lean.new_stage(case.id, out.state, happened)
            set_deadlines(stage, out.deadlines)
            writes.append(STAGES.added([stage]))
    elif out.deadlines is not None and stage is not None:  # resumed, or the anchor act happened: the due date moved
        set_deadlines(stage, out.deadlines)
        changed = stage
        writes.append(STAGES.changed(stage))
    elif out.suspended and stage is not None:  # suspended: the clock stops, so do the alerts
        stage.next_alert_at = None
        changed = stage
    d_now = svc.registry.get(case.definition_id, case.definition_version)
    if any(f.org_kind for t in d_now.transitions if t.trigger == out.event.trigger for f in t.fields):
        # 派单: an organisation field assigns the case (usecases/organisations.py)
        event_data.update(
            organisations.assign_by_fields(s, d_now, out.event.trigger, out.previous, dict(out.data), case, now)
        )
    case.state = out.state
    case.data = dict(out.data)
    case.suspended_since = out.suspended_since if out.suspended else None
    case.updated_at = now
    if out.closed:
        d = svc.registry.get(case.definition_id, case.definition_version)
        case.closed, case.closed_at, case.outcome = True, happened, d.states[out.state].outcome
    for kind, amount in out.money.items():
        if kind == "approved":
            case.approved_amount = amount
        elif kind == "settled":
            case.settled_amount = amount
        elif kind == "advanced":
            case.advanced_amount = amount
        # "paid": the paid total is what the ledgers were debited (below)
    if out.ledger is not None or out.closed:
        if households is None:
            households = lean.households(conn, case, lock=True)
        # a LedgerError answers 409 ledger_refused (service.errors.ERRORS)
        record = ledger.post_case(
            s, case, households, out.ledger, out.closed, case.event_count + 1, now, accounts or None
        )
        if record is not None:
            event_data["ledger"] = record
    # the journal's entries are covered by the record in the event's data (hashed with it)
    event = event_values(
        s, case, user, out.event.trigger, out.event.label, out.previous, out.state, event_data, comment, now, writes
    )
    if not lean.write(conn, case, event, changed, opened):
        raise Conflict("案件刚被他人办理，请刷新后重试", code="concurrent_update")
    return stage


def set_scope(s: Session, case: Case, scope: dict[str, Any]) -> dict[str, Any]:
    """Set the paying scope the meeting decided (buildings of the community, or the whole
    estate: ``scope_building_ids`` []); returns what the event records of it."""
    before = list(case.scope_building_ids or [])
    if scope.get("whole_estate"):
        ids: list[int] = []
    else:
        known = {b.name: b.id for b in s.exec(select(Building).where(Building.community_id == case.community_id))}
        unknown = [b for b in scope["buildings"] if b not in known]
        if unknown:
            raise InvalidInput(
                f"本小区没有以下楼栋：{'、'.join(unknown)}",
                code="unknown_building",
                detail={"unknown": unknown, "known": sorted(known)},
            )
        ids = sorted({known[b] for b in scope["buildings"]})
    case.scope_building_ids = ids
    return {"scope_building_ids": ids, "scope_building_ids_before": before}


# -- read ----------------------------------------------------------------------------------


def get_case(svc: Services, user: User, case_id: int, now: datetime) -> dict[str, Any]:
    """``reads.case.case_detail`` in a read transaction of its own."""
    from fundflow.service.reads.case import case_detail

    with read_only(svc.sessions) as s:
        return case_detail(s, svc, user, case_id, now)
