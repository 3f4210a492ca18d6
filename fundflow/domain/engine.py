"""The engine: the only thing that decides a case's next state.

``Engine.fire(case, trigger, actor, data, now)`` takes a snapshot of a case and returns either
an :class:`Outcome` (new state, the event to record, the new case data, the deadlines of the
new stage) or a :class:`~workflow.errors.Refusal` that says why not. It reads no clock, no
database and no request: the caller passes everything in, stores the outcome in one
transaction, and discards it on any error.

One ``transitions`` machine is compiled per definition version and cached; a case is bound
only for the call, through a plain adapter object (never a database row). The definition's
guards run as the machine's conditions, so the library itself refuses a guarded move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from transitions import Machine

from fundflow.domain.calendar import WorkCalendar
from fundflow.domain.deadlines import Anchors, StageDeadlines, compute_deadlines, suspension_length
from fundflow.domain.definition import RESUME, SUSPEND, Anchor, Definition, FieldSpec, FieldType, Transition
from fundflow.domain.errors import Refusal, RefusalCode
from fundflow.domain.guards import REGISTRY, GuardContext, Vote
from fundflow.domain.ledger import Account, CaseMoney, check_payment, check_retention_use, check_settlement
from fundflow.domain.loader import DefinitionRegistry
from fundflow.domain.money import parse_amount, to_json
from fundflow.domain.occurred import resolve_occurred_at
from fundflow.domain.tz import require_aware

__all__ = [
    "opener_may_withdraw",
    "Engine",
    "CaseSnapshot",
    "Actor",
    "Event",
    "Outcome",
    "Action",
    "LedgerOp",
    "SUSPEND_FIELDS",
    "parse_scope",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
MIN_REASON_CHARS = 2
MAX_TEXT_CHARS = 2000

#: The fields of the built-in suspend and resume actions.
SUSPEND_FIELDS = (FieldSpec("reason", FieldType.REASON, "原因"),)


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    role: str
    org: str | None = None
    #: the actor's party (role and organisation) opened the case: it may withdraw it as the
    #: definition's ``handoffs.withdrawal`` says, whatever the withdrawal's roles
    opener: bool = False


@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """What the engine needs to know of a case. The caller builds it from storage."""

    definition_id: str
    version: int
    state: str
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    documents: frozenset[str] = frozenset()
    votes: Mapping[str, Vote] = field(default_factory=lambda: _EMPTY)
    balance: Decimal | None = None  # available to this case in the accounts in scope
    accounts: tuple[Account, ...] = ()  # the household accounts in scope, as this case sees them
    money: CaseMoney | None = None  # the case's figures (approved, settled, paid, frozen, held)
    stage_entered_at: datetime | None = None
    suspended_since: datetime | None = None
    suspended_working_days: int = 0  # accumulated in the current stage
    suspended_days: int = 0
    opened_at: datetime | None = None  # when the report that opened the case happened
    acts: Mapping[str, datetime] = field(default_factory=lambda: _EMPTY)  # trigger -> when it last happened
    last_act_at: datetime | None = None  # when the case's latest act happened
    #: the number of open objection records, asked only by the guard that needs it
    open_objections: Callable[[], int] | None = None

    @property
    def anchors(self) -> Anchors:
        return Anchors(self.opened_at, self.acts)


@dataclass(frozen=True, slots=True)
class Event:
    trigger: str
    label: str
    from_state: str
    to_state: str
    actor: Actor
    at: datetime  # when it was recorded
    data: Mapping[str, Any]  # the fields given, in their stored (JSON) form
    occurred_at: datetime | None = None  # when it happened (offline); the recording time if not given


@dataclass(frozen=True, slots=True)
class LedgerOp:
    """What the household ledgers must record for an outcome (see ``fundflow.domain.ledger``)."""

    op: str  # reserve | pay | release_retention | use_retention
    amount: Decimal | None = None
    retain: Fraction | None = None  # pay: the final payment; this share of the settlement stays
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    previous: str
    event: Event
    data: Mapping[str, Any]  # the whole case data after the transition
    new_stage: bool  # the case entered a (new or the same) stage: a new stage row
    deadlines: StageDeadlines | None  # of the new stage; or the shifted ones after resume
    suspended: bool
    closed: bool
    suspended_since: datetime | None = None
    money: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)  # figure -> amount set now
    ledger: LedgerOp | None = None  # the money this transition moves in the household ledgers
    occurred_at: datetime | None = None  # when the act happened: the new stage's start
    renew_documents: tuple[str, ...] = ()  # a new round: these documents must be supplied afresh
    scope: Mapping[str, Any] | None = None  # the paying scope the act decided (a ``scope`` field)

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Action:
    """A trigger an actor may fire now, with the fields it asks for."""

    trigger: str
    label: str
    dest: str | None
    fields: tuple[FieldSpec, ...]


class _Adapter:
    """The model bound to the machine for one call: a state and the guard context."""

    __slots__ = ("state", "ctx", "refusal")

    def __init__(self, state: str, ctx: GuardContext):
        self.state = state
        self.ctx = ctx
        self.refusal: tuple[str, str] | None = None


def _condition(name: str, params: Mapping[str, Any]):
    fn = REGISTRY[name].fn

    def check(event) -> bool:
        model: _Adapter = event.model
        reason = fn(model.ctx, **params)
        if reason is None:
            return True
        model.refusal = (name, reason)
        return False

    check.__name__ = f"guard_{name}"
    return check


@dataclass(slots=True)
class _Compiled:
    definition: Definition
    machine: Machine
    table: dict[tuple[str, str], Transition]  # (state, trigger) -> transition
    triggers: frozenset[str]
    role_labels: Mapping[str, str]
    suspend: Transition | None = None
    resume: Transition | None = None
    actions: dict[str, tuple[Transition, ...]] = field(default_factory=dict)  # state -> transitions
    # what a visit to a state records afresh: signatures and counters of its in-place actions
    fresh: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    owned: frozenset[str] = frozenset()
    labels: dict[str, Mapping[str, str]] = field(default_factory=dict)  # for the guards' messages


def _field_labels(definition: Definition) -> dict[str, str]:
    """Each field's label where it is first declared, without its unit (``核准金额（元）`` -> ``核准金额``)."""
    out: dict[str, str] = {}
    for t in definition.transitions:
        for f in t.fields:
            out.setdefault(f.name, f.label.split("（")[0])
    return out


def _compile(definition: Definition) -> _Compiled:
    open_states = [s.id for s in definition.states.values() if not s.terminal]
    specs = []
    table: dict[tuple[str, str], Transition] = {}
    for tr in definition.transitions:
        conditions = [_condition(g.name, g.params) for g in tr.guards]
        for src in tr.sources:
            table[(src, tr.trigger)] = tr
        specs.append({"trigger": tr.trigger, "source": list(tr.sources), "dest": tr.dest, "conditions": conditions})
    suspend = resume = None
    if definition.suspension is not None:
        suspend = Transition(
            SUSPEND,
            tuple(open_states),
            None,
            "挂起",
            definition.suspension.roles,
            fields=SUSPEND_FIELDS,
            documents_exempt=True,
        )
        resume = Transition(
            RESUME,
            tuple(open_states),
            None,
            "恢复",
            definition.suspension.resume_roles,
            fields=SUSPEND_FIELDS,
            documents_exempt=True,
        )
        for tr in (suspend, resume):
            specs.append({"trigger": tr.trigger, "source": open_states, "dest": None})
            for src in open_states:
                table[(src, tr.trigger)] = tr
    machine = Machine(
        model=None,
        states=list(definition.states),
        initial=definition.initial,
        transitions=specs,
        auto_transitions=False,
        send_event=True,
    )
    actions: dict[str, list[Transition]] = {s: [] for s in definition.states}
    for (src, _), tr in table.items():
        actions[src].append(tr)
    fresh = {
        sid: (
            # in-place actions only: a count made by an act that leaves the state (an opinion's
            # reopening) is the case's history, kept across visits
            frozenset(t.effect.sign for t in trs if t.effect and t.effect.sign and t.dest is None),
            frozenset(t.effect.counter for t in trs if t.effect and t.effect.counter and t.dest is None),
        )
        for sid, trs in actions.items()
    }
    return _Compiled(
        definition=definition,
        machine=machine,
        table=table,
        triggers=frozenset(t for _, t in table),
        role_labels=MappingProxyType({r.id: r.label for r in definition.roles.values()}),
        suspend=suspend,
        resume=resume,
        actions={s: tuple(v) for s, v in actions.items()},
        fresh=fresh,
        owned=frozenset({f.name for t in table.values() for f in t.fields} | {"signatures", "counters"}),
        labels={
            "documents": MappingProxyType(dict(definition.documents)),
            "records": MappingProxyType(
                {t.effect.sign: t.label for t in definition.transitions if t.effect and t.effect.sign}
            ),
            "counters": MappingProxyType(
                {
                    t.effect.counter: t.label
                    for t in definition.transitions
                    if t.effect and t.effect.counter and t.effect.delta > 0
                }
            ),
            "triggers": MappingProxyType({t.trigger: t.label for t in definition.transitions}),
            "fields": MappingProxyType(_field_labels(definition)),
        },
    )


def _parse_field(spec: FieldSpec, raw: Any) -> tuple[Any, Any]:
    """(parsed value, stored JSON value); ValueError with a Chinese reason."""
    t = spec.type
    if t is FieldType.AMOUNT:
        value = parse_amount(raw)
        return value, to_json(value)
    if t is FieldType.DATE:
        if isinstance(raw, datetime):
            raise ValueError("应为日期（YYYY-MM-DD），不是日期时间")
        if isinstance(raw, date):
            return raw, raw.isoformat()
        if not isinstance(raw, str):
            raise ValueError("应为日期（YYYY-MM-DD）")
        try:
            value = date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(f"日期格式不正确：“{str(raw)[:40]}”，应为 YYYY-MM-DD") from None
        return value, value.isoformat()
    if t is FieldType.ORGANISATION:  # an organisation's id; the service checks it exists and is of the kind
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 2**31 - 1:
            raise ValueError("应为单位编号")
        return raw, raw
    if t is FieldType.INTEGER:
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                raw = int(raw)
            else:
                raise ValueError("应为整数")
        return raw, raw
    if t is FieldType.SCOPE:
        value = parse_scope(raw)
        return value, value
    if t is FieldType.CHOICE:
        if raw not in spec.choice_labels:
            options = "、".join(f"{k}（{v}）" for k, v in spec.choice_labels.items())
            raise ValueError(f"应为以下之一：{options}")
        return raw, raw
    # TEXT and REASON
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("不能为空")
    text = raw.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"不能超过 {MAX_TEXT_CHARS} 字")
    if t is FieldType.REASON and len(text) < MIN_REASON_CHARS:
        raise ValueError(f"请写明原因（至少 {MIN_REASON_CHARS} 个字）")
    return text, text


MAX_SCOPE_BUILDINGS = 500


def parse_scope(raw: Any) -> dict[str, Any]:
    """The paying scope: ``{"whole_estate": true}`` or ``{"buildings": ["1栋", ...]}`` (a list of
    names alone is read as buildings). Names are checked against the community by the service."""
    if isinstance(raw, (list, tuple)):
        raw = {"buildings": list(raw)}
    if not isinstance(raw, Mapping) or set(raw) - {"whole_estate", "buildings"}:
        raise ValueError("应为全小区（whole_estate）或楼栋列表（buildings）")
    if raw.get("whole_estate") is True:
        if raw.get("buildings"):
            raise ValueError("不能同时选择全小区和具体楼栋")
        return {"whole_estate": True}
    names = raw.get("buildings")
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError("请选择分摊的楼栋，或选择全小区")
    if len(names) > MAX_SCOPE_BUILDINGS or not all(isinstance(n, str) and n.strip() and len(n) <= 64 for n in names):
        raise ValueError("楼栋名称应为不超过 64 字的文字")
    return {"buildings": sorted({n.strip() for n in names})}


def _ledger_op(
    effect, values: Mapping[str, Any], data: Mapping[str, Any], m: CaseMoney
) -> tuple[LedgerOp | None, str | None]:
    """The ledger operation of a money effect, or why the payment rules refuse it."""
    name = effect.amount_field
    amount = None
    if name is not None:
        amount = values.get(name)
        if amount is None:
            try:
                amount = parse_amount(data.get(name))
            except ValueError:
                return None, f"缺少金额 {name}"
    reason = values.get("reason")
    if effect.reserve:
        return LedgerOp("reserve", amount), check_settlement(m, amount)
    if effect.pay:
        return LedgerOp("pay", amount, effect.retain), check_payment(m, amount, effect.retain)
    if effect.use_retention:
        return LedgerOp("use_retention", amount, reason=reason), check_retention_use(m, amount)
    return LedgerOp("release_retention"), None


def opener_may_withdraw(definition: Definition, tr: Transition, case: CaseSnapshot, actor: Actor) -> bool:
    """The party that opened the case may fire the declared withdrawal until its ``opener_until``
    act has happened (``handoffs.withdrawal``)."""
    w = definition.handoffs.withdrawal
    return (
        actor.opener
        and w is not None
        and tr.trigger == w.trigger
        and (w.opener_until is None or w.opener_until not in case.acts)
    )


class Engine:
    """Runs cases through the definitions of a registry, counting days on a calendar."""

    def __init__(self, registry: DefinitionRegistry, calendar: WorkCalendar):
        self.registry = registry
        self.calendar = calendar
        self._compiled: dict[tuple[str, int], _Compiled] = {}

    def _machine(self, definition_id: str, version: int) -> _Compiled:
        key = (definition_id, version)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self.registry.get(definition_id, version))
        return compiled

    def definition(self, definition_id: str, version: int | None = None) -> Definition:
        return self.registry.get(definition_id, version)

    # -- starting a case ---------------------------------------------------------------
    def start(
        self, definition_id: str, data: Mapping[str, Any], now: datetime, version: int | None = None
    ) -> tuple[Definition, StageDeadlines | None]:
        """The definition a new case runs on and the deadlines of its first stage."""
        require_aware(now, "now")
        d = self.registry.get(definition_id, version)
        return d, compute_deadlines(d.states[d.initial].deadline, now, self.calendar, data, anchors=Anchors(now))

    def owned_keys(self, definition: Definition) -> frozenset[str]:
        """Case-data keys the procedure itself writes: its transitions' fields and the
        records of its effects. A new case's data may not preset them."""
        return self._machine(definition.id, definition.version).owned

    # -- what may be done --------------------------------------------------------------
    def actions(self, case: CaseSnapshot, role: str) -> tuple[Action, ...]:
        """The triggers ``role`` may fire now (guards are not evaluated: they need input)."""
        c = self._machine(case.definition_id, case.version)
        out = []
        for tr in c.actions.get(case.state, ()):
            if role not in tr.roles:
                continue
            if case.suspended_since is not None and tr.trigger != RESUME:
                continue
            if case.suspended_since is None and tr.trigger == RESUME:
                continue
            out.append(Action(tr.trigger, tr.label, tr.dest, tr.fields))
        return tuple(out)

    # -- firing ------------------------------------------------------------------------
    def fire(
        self,
        case: CaseSnapshot,
        trigger: str,
        actor: Actor,
        data: Mapping[str, Any] | None,
        now: datetime,
        occurred_at: date | datetime | None = None,
    ) -> Outcome | Refusal:
        """``occurred_at``: when the act happened offline (a day or a moment); not in the future,
        not before the stage was entered nor before the case's previous act. Default: ``now``."""
        require_aware(now, "now")
        c = self._machine(case.definition_id, case.version)
        definition = c.definition
        state = definition.states.get(case.state)
        if state is None:
            raise ValueError(
                f"case is in state {case.state!r}, which {definition.id} v{definition.version} does not declare"
            )
        data = data or _EMPTY

        def refuse(code: RefusalCode, message: str, **kw) -> Refusal:
            available = tuple(a.trigger for a in self.actions(case, actor.role))
            return Refusal(code, message, trigger, case.state, available, **kw)

        if state.terminal:
            return refuse(RefusalCode.CASE_CLOSED, f"案件已{state.label}，不能再办理")
        tr = c.table.get((case.state, trigger))
        if tr is None:
            if trigger in c.triggers:
                return refuse(RefusalCode.NOT_AVAILABLE, f"当前环节“{state.label}”不能执行此操作（{trigger}）")
            return refuse(RefusalCode.UNKNOWN_TRIGGER, f"流程中没有此操作：{trigger}")
        suspended = case.suspended_since is not None
        if suspended and tr is not c.resume:
            return refuse(RefusalCode.CASE_SUSPENDED, "案件已挂起，请先恢复再办理")
        if not suspended and tr is c.resume:
            return refuse(RefusalCode.NOT_SUSPENDED, "案件未挂起，无需恢复")
        if actor.role not in tr.roles and not opener_may_withdraw(definition, tr, case, actor):
            who = "、".join(c.role_labels[r] for r in sorted(tr.roles)) or "无"
            w = definition.handoffs.withdrawal
            if actor.opener and w is not None and tr.trigger == w.trigger:
                return refuse(
                    RefusalCode.ROLE_NOT_ALLOWED,
                    f"“{c.labels['triggers'].get(w.opener_until, w.opener_until)}”之后，发起单位不能再撤回，须由{who}办理",
                )
            return refuse(
                RefusalCode.ROLE_NOT_ALLOWED,
                f"{c.role_labels.get(actor.role, actor.role)}无权执行“{tr.label}”（可执行：{who}）",
            )

        bounds = [
            (t, w)
            for t, w in ((case.stage_entered_at, "本环节开始时间"), (case.last_act_at, "案件上一办理事项"))
            if t is not None
        ]
        lower = max(bounds, key=lambda b: b[0]) if bounds else (None, "")
        happened = resolve_occurred_at(occurred_at, now, lower[0], lower[1])
        if isinstance(happened, str):
            return refuse(RefusalCode.FIELD_INVALID, happened, field="occurred_at")

        # fields
        values: dict[str, Any] = {}
        stored: dict[str, Any] = {}
        declared = {f.name for f in tr.fields}
        for name in data:
            if name not in declared:
                return refuse(RefusalCode.FIELD_INVALID, f"“{tr.label}”没有字段 {name}", field=name)
        for spec in tr.fields:
            raw = data.get(spec.name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if spec.required:
                    return refuse(RefusalCode.FIELD_MISSING, f"请填写“{spec.label}”（{spec.name}）", field=spec.name)
                continue
            try:
                values[spec.name], stored[spec.name] = _parse_field(spec, raw)
            except ValueError as exc:
                code = RefusalCode.INVALID_AMOUNT if spec.type is FieldType.AMOUNT else RefusalCode.FIELD_INVALID
                return refuse(code, f"“{spec.label}”{exc}", field=spec.name)

        leaving = tr.dest is not None
        if leaving and not tr.documents_exempt and state.documents:
            missing = [definition.documents.get(d, d) for d in state.documents if d not in case.documents]
            if missing:
                return refuse(RefusalCode.DOCUMENTS_MISSING, f"离开“{state.label}”前须上传：{'、'.join(missing)}")

        # effects that can be refused before the machine runs
        new_data = dict(case.data)
        new_data.update(stored)
        effect = tr.effect
        if effect is not None and effect.counter is not None:
            counters = dict(new_data.get("counters", {}))
            value = int(counters.get(effect.counter, 0)) + effect.delta
            if value < 0:
                return refuse(RefusalCode.GUARD_REFUSED, f"没有可办理的事项（{effect.counter} 为 0）", guard="count")
            counters[effect.counter] = value
            new_data["counters"] = counters
        if effect is not None and effect.sign is not None:
            signatures = {k: list(v) for k, v in new_data.get("signatures", {}).items()}
            signed = signatures.setdefault(effect.sign, [])
            if actor.role in signed:
                return refuse(RefusalCode.GUARD_REFUSED, f"{c.role_labels[actor.role]}已签署", guard="sign")
            signed.append(actor.role)
            new_data["signatures"] = signatures

        ctx = GuardContext(
            values,
            case.data,
            case.documents,
            case.votes,
            case.balance,
            now,
            case.stage_entered_at,
            c.role_labels,
            c.labels["documents"],
            c.labels["records"],
            c.labels["counters"],
            occurred_at=happened,
            acts=case.acts,
            trigger_labels=c.labels["triggers"],
            accounts=case.accounts,
            field_labels=c.labels["fields"],
            open_objections=case.open_objections,
        )
        adapter = _Adapter(case.state, ctx)
        c.machine.events[trigger].trigger(adapter)
        if adapter.refusal is not None:
            name, reason = adapter.refusal
            return refuse(RefusalCode.GUARD_REFUSED, reason, guard=name, detail=getattr(reason, "detail", None))
        new_state = adapter.state
        ledger = None
        if effect is not None and effect.moves_money:
            ledger, why = _ledger_op(effect, values, new_data, case.money or CaseMoney())
            if why is not None:
                return refuse(RefusalCode.GUARD_REFUSED, why, guard="ledger")

        event = Event(trigger, tr.label, case.state, new_state, actor, now, MappingProxyType(stored), happened)
        dest = definition.states[new_state]
        acts = MappingProxyType({**case.acts, trigger: happened})
        anchors = Anchors(case.opened_at, acts)
        scope = next((stored[f.name] for f in tr.fields if f.type is FieldType.SCOPE and f.name in stored), None)
        money = {f.money: values[f.name] for f in tr.fields if f.money and values.get(f.name) is not None}
        if leaving:
            # A new visit to a state starts with no signatures and no open counts of its own:
            # an acceptance after rework is signed again.
            records, counters = c.fresh[new_state]
            if records and new_data.get("signatures"):
                new_data["signatures"] = {k: v for k, v in new_data["signatures"].items() if k not in records}
            if counters and new_data.get("counters"):
                new_data["counters"] = {k: v for k, v in new_data["counters"].items() if k not in counters}
            deadlines = (
                None
                if dest.terminal
                else compute_deadlines(dest.deadline, happened, self.calendar, new_data, anchors=anchors)
            )
            return Outcome(
                new_state,
                case.state,
                event,
                new_data,
                True,
                deadlines,
                False,
                dest.terminal,
                money=MappingProxyType(money),
                ledger=ledger,
                occurred_at=happened,
                renew_documents=tr.new_round,
                scope=scope,
            )
        if tr is c.suspend:
            return Outcome(
                new_state,
                case.state,
                event,
                new_data,
                False,
                None,
                True,
                False,
                suspended_since=happened,
                occurred_at=happened,
            )
        deadlines = None
        work = days = 0
        if tr is c.resume:
            work, days = suspension_length(self.calendar, case.suspended_since, happened)
        rule = state.deadline
        recount = rule is not None and rule.anchor is Anchor.ACT and rule.anchor_ref == trigger
        if (tr is c.resume or recount) and case.stage_entered_at is not None:
            # resumed: the due date moves by the days suspended; or the act this stage's
            # deadline counts from has just happened
            deadlines = compute_deadlines(
                rule,
                case.stage_entered_at,
                self.calendar,
                new_data,
                suspended_working_days=case.suspended_working_days + work,
                suspended_days=case.suspended_days + days,
                anchors=anchors,
            )
        if tr is c.resume:
            return Outcome(new_state, case.state, event, new_data, False, deadlines, False, False, occurred_at=happened)
        return Outcome(
            new_state,
            case.state,
            event,
            new_data,
            False,
            deadlines,
            suspended,
            False,
            suspended_since=case.suspended_since,
            money=MappingProxyType(money),
            ledger=ledger,
            occurred_at=happened,
            scope=scope,
        )
