"""Named, parameterised guards that definitions use.

A guard is a function ``guard(ctx, **params) -> str | None``: ``None`` lets the transition
pass, a string refuses it and is shown to the user (Chinese). Each guard declares its
parameters with a kind, so that the loader can check a definition's use of it
(unknown guard, unknown or missing parameter, unknown role, field or document) before any
case runs.

Registered guards:

``meeting_quorum``        the joint meeting: who must attend, who must agree, the share of
                          present parties that must agree
``amount_within_balance`` an amount field does not exceed the available balance in scope
``amount_at_most``        an amount field does not exceed another (approval <= cost review)
``amount_above``          an amount field exceeds another (a supplementary approval)
``advance_within_share``  an advance does not exceed a share of the approved amount, and only
                          projects above a threshold get an advance at all
``documents_present``     documents attached (optionally only above an amount)
``signed_by``             a record (e.g. the acceptance report) signed by the required parties
``period_elapsed``        at least N calendar days since the stage began, or since an act
                          (the notice's posting), up to the day the act happens
``counter_zero``          a counter in the case data is zero (no open objections)
``date_not_past``         a date field is not before today
``objections_answered``   no objection record of the case is open (records.objections)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from fundflow.domain.ledger import Account, LedgerError, area_shares
from fundflow.domain.money import format_cny, from_fen, parse_amount, to_fen
from fundflow.domain.tz import local_date

__all__ = [
    "ParamKind",
    "ParamSpec",
    "GuardSpec",
    "GuardContext",
    "Vote",
    "VoteChoice",
    "REGISTRY",
    "register",
    "Reason",
]


class Reason(str):
    """A guard's refusal with what it found, for the API's ``detail``."""

    detail: Mapping[str, Any]

    def __new__(cls, text: str, detail: Mapping[str, Any]):
        self = super().__new__(cls, text)
        self.detail = detail
        return self


class ParamKind(str, enum.Enum):
    ROLES = "roles"  # list of role ids of the definition
    FIELD = "field"  # a field declared by some transition
    DOCUMENTS = "documents"  # list of document types of the definition
    SHARE = "share"  # a fraction in (0, 1]: 0.5, "2/3"
    AMOUNT = "amount"  # CNY, to the fen
    COUNT = "count"  # integer >= 0
    RECORD = "record"  # a record signed through an effect ``sign``
    COUNTER = "counter"  # a counter changed through an effect ``count``
    TRIGGER = "trigger"  # an act of the procedure (a transition's trigger)
    FLAG = "flag"  # true or false
    TEXTS = "texts"  # a list of non-empty texts (categories of the open form)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    kind: ParamKind
    required: bool = True


class VoteChoice(str, enum.Enum):
    AGREE = "agree"
    DISAGREE = "disagree"
    ABSTAIN = "abstain"


@dataclass(frozen=True, slots=True)
class Vote:
    """One party's attendance and vote at the joint meeting."""

    attended: bool
    choice: VoteChoice | None = None


@dataclass(frozen=True, slots=True)
class GuardContext:
    """Everything a guard may look at. Built by the engine; nothing here reads a clock."""

    values: Mapping[str, Any]  # this transition's fields, parsed (Decimal, date, str)
    data: Mapping[str, Any]  # the case data before this transition (JSON form)
    documents: frozenset[str]
    votes: Mapping[str, Vote]
    balance: Decimal | None
    now: datetime  # when the act is recorded
    stage_entered_at: datetime | None  # when the act that entered the stage happened
    role_labels: Mapping[str, str] = field(default_factory=dict)
    document_labels: Mapping[str, str] = field(default_factory=dict)
    record_labels: Mapping[str, str] = field(default_factory=dict)  # record -> the action that signs it
    counter_labels: Mapping[str, str] = field(default_factory=dict)  # counter -> the action that raises it
    occurred_at: datetime | None = None  # when the act happened (offline); None: now
    acts: Mapping[str, datetime] = field(default_factory=dict)  # trigger -> when it last happened
    trigger_labels: Mapping[str, str] = field(default_factory=dict)  # trigger -> label
    accounts: tuple[Account, ...] = ()  # the household accounts in scope, as this case sees them
    field_labels: Mapping[str, str] = field(default_factory=dict)  # without the unit, e.g. 核准金额
    #: how many objection records of the case are open (asked only when a guard needs it); None: none kept
    open_objections: Callable[[], int] | None = None

    @property
    def happened(self) -> datetime:
        return self.occurred_at or self.now

    def amount(self, name: str) -> Decimal | None:
        """The amount ``name`` from this transition's fields, else from the case data."""
        if name in self.values and self.values[name] is not None:
            return self.values[name]
        raw = self.data.get(name)
        if raw is None:
            return None
        try:
            return parse_amount(raw)
        except (ValueError, InvalidOperation):
            return None

    def date_value(self, name: str) -> date | None:
        if name in self.values and self.values[name] is not None:
            return self.values[name]
        raw = self.data.get(name)
        return date.fromisoformat(raw) if isinstance(raw, str) else None

    def label(self, role: str) -> str:
        return self.role_labels.get(role, role)

    def field_label(self, name: str) -> str:
        return self.field_labels.get(name, name)


GuardFn = Callable[..., "str | None"]


@dataclass(frozen=True, slots=True)
class GuardSpec:
    name: str
    fn: GuardFn
    params: Mapping[str, ParamSpec]
    label: str  # Chinese, for diagrams and forms


REGISTRY: dict[str, GuardSpec] = {}


def register(name: str, label: str, **params: ParamSpec) -> Callable[[GuardFn], GuardFn]:
    def deco(fn: GuardFn) -> GuardFn:
        REGISTRY[name] = GuardSpec(name=name, fn=fn, params=params, label=label)
        return fn

    return deco


def parse_share(raw: Any) -> Fraction:
    """``0.5``, ``"2/3"``, ``"66.7%"`` -> Fraction in (0, 1]; ValueError otherwise."""
    if isinstance(raw, bool):
        raise ValueError("not a share")
    if isinstance(raw, str) and raw.strip().endswith("%"):
        value = Fraction(Decimal(raw.strip()[:-1])) / 100
    elif isinstance(raw, float):
        value = Fraction(Decimal(repr(raw)))
    elif isinstance(raw, (int, str, Decimal)):
        value = Fraction(raw)
    else:
        raise ValueError("not a share")
    if not 0 < value <= 1:
        raise ValueError("share must be in (0, 1]")
    return value


def _names(ctx: GuardContext, roles: list[str] | tuple[str, ...]) -> str:
    return "、".join(ctx.label(r) for r in roles)


@register(
    "meeting_quorum",
    "联席会议达到法定人数并通过",
    must_attend=ParamSpec(ParamKind.ROLES),
    must_agree=ParamSpec(ParamKind.ROLES, required=False),
    agree_share=ParamSpec(ParamKind.SHARE, required=False),
    min_present=ParamSpec(ParamKind.COUNT, required=False),
    parties=ParamSpec(ParamKind.ROLES, required=False),
)
def meeting_quorum(
    ctx: GuardContext,
    must_attend: tuple[str, ...],
    must_agree: tuple[str, ...] = (),
    agree_share: Fraction | None = None,
    min_present: int = 0,
    parties: tuple[str, ...] = (),
) -> str | None:
    """``parties``: the roles that sit at the meeting (default: any); others do not count."""
    present = [r for r, v in ctx.votes.items() if v.attended and (not parties or r in parties)]
    absent = [r for r in must_attend if r not in present]
    if absent:
        return f"联席会议缺少必须出席的单位：{_names(ctx, absent)}"
    if len(present) < min_present:
        return f"联席会议出席单位 {len(present)} 家，少于规定的 {min_present} 家"
    not_agreed = [r for r in must_agree if r not in ctx.votes or ctx.votes[r].choice is not VoteChoice.AGREE]
    if not_agreed:
        return f"以下单位未表示同意：{_names(ctx, not_agreed)}"
    if agree_share is not None:
        agree = sum(1 for r in present if ctx.votes[r].choice is VoteChoice.AGREE)
        if Fraction(agree, len(present)) < agree_share:
            return (
                f"出席单位 {len(present)} 家，同意 {agree} 家，"
                f"未达到出席单位的 {agree_share.numerator}/{agree_share.denominator}"
            )
    return None


@register(
    "amount_within_balance",
    "金额不超过范围内分户账可用余额",
    field=ParamSpec(ParamKind.FIELD),
    each_household=ParamSpec(ParamKind.FLAG, required=False),
)
def amount_within_balance(ctx: GuardContext, field: str, each_household: bool = False) -> str | None:
    """The available balance (balance less what other open cases froze) of the accounts in
    scope, with what this case holds frozen and has already paid there, covers the amount. ``each_household``: every household must cover its own
    floor-area share; by default (Ganzhou) it is enough that the accounts in scope together
    cover it, and the households short of their share are asked to top up."""
    amount = ctx.amount(field)
    if amount is None:
        return f"缺少金额 {field}"
    if ctx.balance is None:
        return "未能取得分摊范围内分户账余额，不能核对资金是否足额"
    short = []
    if ctx.accounts:
        try:
            shares = area_shares(ctx.accounts, to_fen(amount))
        except LedgerError as exc:
            return str(exc)
        short = [(a, s) for a, s in zip(ctx.accounts, shares) if s > a.covers]
    lacking = [
        {
            "household_id": a.key,
            "household": a.label,
            "share": str(from_fen(s)),
            "available": str(from_fen(a.covers)),
            "shortfall": str(from_fen(s - a.covers)),
        }
        for a, s in short
    ]
    names = "、".join(
        f"{x['household'] or x['household_id']}（差 {format_cny(Decimal(x['shortfall']))}）" for x in lacking[:10]
    ) + ("等" if len(lacking) > 10 else "")
    who = f"；可用余额不足其分摊额的房屋 {len(lacking)} 户：{names}" if lacking else ""
    if amount > ctx.balance:
        gap = amount - ctx.balance
        return Reason(
            f"金额 {format_cny(amount)} 超过分摊范围内维修资金可用余额 {format_cny(ctx.balance)}"
            f"（已扣除其他案件冻结），差额 {format_cny(gap)} 需先行筹集（续交）{who}",
            {"amount": str(amount), "available": str(ctx.balance), "shortfall": str(gap), "households": lacking},
        )
    if each_household and lacking:
        return Reason(
            f"按规定每户须以本户可用余额承担分摊额{who}",
            {"amount": str(amount), "available": str(ctx.balance), "shortfall": "0.00", "households": lacking},
        )
    return None


@register(
    "amount_at_most",
    "金额不超过另一金额",
    field=ParamSpec(ParamKind.FIELD),
    at_most=ParamSpec(ParamKind.FIELD),
    otherwise=ParamSpec(ParamKind.TRIGGER, required=False),
)
def amount_at_most(ctx: GuardContext, field: str, at_most: str, otherwise: str | None = None) -> str | None:
    """E.g. the approval does not exceed the cost-reviewed amount. ``otherwise``: the action
    the definition offers instead (a supplementary approval)."""
    amount, ceiling = ctx.amount(field), ctx.amount(at_most)
    if amount is None or ceiling is None:
        return f"缺少金额（{field}、{at_most}）"
    if amount > ceiling:
        instead = f"，请改为“{ctx.trigger_labels.get(otherwise, otherwise)}”" if otherwise else ""
        return Reason(
            f"{ctx.field_label(field)} {format_cny(amount)} 超过{ctx.field_label(at_most)} "
            f"{format_cny(ceiling)}，差额 {format_cny(amount - ceiling)}{instead}",
            {"amount": str(amount), "limit": str(ceiling), "excess": str(amount - ceiling), "otherwise": otherwise},
        )
    return None


@register(
    "amount_above",
    "金额超过另一金额",
    field=ParamSpec(ParamKind.FIELD),
    than=ParamSpec(ParamKind.FIELD),
)
def amount_above(ctx: GuardContext, field: str, than: str) -> str | None:
    amount, other = ctx.amount(field), ctx.amount(than)
    if amount is None or other is None:
        return f"缺少金额（{field}、{than}）"
    if amount <= other:
        return f"{ctx.field_label(field)} {format_cny(amount)} 未超过{ctx.field_label(than)} {format_cny(other)}，无需此操作"
    return None


@register(
    "advance_within_share",
    "预拨不超过核准金额的规定比例",
    field=ParamSpec(ParamKind.FIELD),
    of=ParamSpec(ParamKind.FIELD),
    share=ParamSpec(ParamKind.SHARE),
    min_project_amount=ParamSpec(ParamKind.AMOUNT, required=False),
)
def advance_within_share(
    ctx: GuardContext,
    field: str,
    of: str,
    share: Fraction,
    min_project_amount: Decimal | None = None,
) -> str | None:
    advance, approved = ctx.amount(field), ctx.amount(of)
    if advance is None or approved is None:
        return f"缺少预拨金额或核准金额（{field}、{of}）"
    if min_project_amount is not None and approved <= min_project_amount:
        return f"核准金额 {format_cny(approved)} 未超过 {format_cny(min_project_amount)}，不预拨，竣工验收后据实拨付"
    limit = (approved * share.numerator / share.denominator).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    if advance > limit:
        return f"预拨金额 {format_cny(advance)} 超过核准金额的 {share.numerator}/{share.denominator}（{format_cny(limit)}）"
    return None


@register(
    "documents_present",
    "所需材料齐全",
    documents=ParamSpec(ParamKind.DOCUMENTS),
    when_field=ParamSpec(ParamKind.FIELD, required=False),
    at_least=ParamSpec(ParamKind.AMOUNT, required=False),
)
def documents_present(
    ctx: GuardContext,
    documents: tuple[str, ...],
    when_field: str | None = None,
    at_least: Decimal | None = None,
) -> str | None:
    if when_field is not None and at_least is not None:
        amount = ctx.amount(when_field)
        if amount is None or amount < at_least:
            return None
    missing = [d for d in documents if d not in ctx.documents]
    if missing:
        cond = f"（金额达到 {format_cny(at_least)}）" if at_least is not None else ""
        return f"缺少材料{cond}：{'、'.join(ctx.document_labels.get(d, d) for d in missing)}"
    return None


@register(
    "signed_by",
    "已由规定各方签署",
    record=ParamSpec(ParamKind.RECORD),
    parties=ParamSpec(ParamKind.ROLES),
)
def signed_by(ctx: GuardContext, record: str, parties: tuple[str, ...]) -> str | None:
    signed = set(ctx.data.get("signatures", {}).get(record, ()))
    missing = [p for p in parties if p not in signed]
    if missing:
        return f"以下单位尚未{ctx.record_labels.get(record, '签署')}：{_names(ctx, missing)}"
    return None


@register(
    "period_elapsed",
    "已满规定期限",
    calendar_days=ParamSpec(ParamKind.COUNT),
    from_act=ParamSpec(ParamKind.TRIGGER, required=False),
)
def period_elapsed(ctx: GuardContext, calendar_days: int, from_act: str | None = None) -> str | None:
    """Counted from the day the act ``from_act`` happened (e.g. the notice was posted), else
    from the day the stage was entered, up to the day this act happens (both offline dates)."""
    if from_act is not None:
        start = ctx.acts.get(from_act)
        if start is None:
            return f"尚未办理“{ctx.trigger_labels.get(from_act, from_act)}”，期限尚未起算"
    else:
        start = ctx.stage_entered_at
        if start is None:
            return "本阶段开始时间未知"
    # "不少于N日": the day it starts does not count (Civil Code Art. 201), so the period
    # runs out at the end of start + N days and the stage may close the day after.
    ends = local_date(start) + timedelta(days=calendar_days)
    if local_date(ctx.happened) <= ends:
        since = f"自 {local_date(start).isoformat()} 起" if from_act is not None else ""
        return f"期限{since}不少于 {calendar_days} 日，至 {ends.isoformat()} 届满，届满次日起方可结束"
    return None


@register(
    "counter_zero",
    "无未办结事项",
    counter=ParamSpec(ParamKind.COUNTER),
)
def counter_zero(ctx: GuardContext, counter: str) -> str | None:
    open_count = int(ctx.data.get("counters", {}).get(counter, 0))
    if open_count > 0:
        return f"尚有 {open_count} 项“{ctx.counter_labels.get(counter, counter)}”未办结"
    return None


@register(
    "counter_below",
    "次数未超过规定",
    counter=ParamSpec(ParamKind.COUNTER),
    below=ParamSpec(ParamKind.COUNT),
)
def counter_below(ctx: GuardContext, counter: str, below: int) -> str | None:
    """The counter is still below ``below`` (an opinion reopens once: ``below: 1``)."""
    done = int(ctx.data.get("counters", {}).get(counter, 0))
    if done >= below:
        return f"“{ctx.counter_labels.get(counter, counter)}”已办理 {done} 次，最多 {below} 次"
    return None


@register(
    "field_in",
    "字段取值符合",
    field=ParamSpec(ParamKind.FIELD),
    values=ParamSpec(ParamKind.TEXTS),
)
def field_in(ctx: GuardContext, field: str, values: tuple[str, ...]) -> str | None:
    """The field (this act's, else the case's) has one of ``values`` (a callback's satisfaction)."""
    value = ctx.values.get(field, ctx.data.get(field))
    if value not in values:
        label = ctx.field_labels.get(field, field)
        return f"“{label}”为“{value if value is not None else '未填写'}”，本操作要求其为：{'、'.join(values)}"
    return None


#: The case data key of the report's category (the open form's category field)
CATEGORY_KEY = "hazard_category"


@register(
    "required_for_categories",
    "规定类别须填写",
    field=ParamSpec(ParamKind.FIELD),
    categories=ParamSpec(ParamKind.TEXTS),
)
def required_for_categories(ctx: GuardContext, field: str, categories: tuple[str, ...]) -> str | None:
    """A field the act may leave empty, except for a case whose category (the report's) is one of
    ``categories`` (an opinion whose category asks for the people affected to be involved)."""
    category = ctx.data.get(CATEGORY_KEY)
    if category not in categories:
        return None
    value = ctx.values.get(field, ctx.data.get(field))
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"“{category}”类事项须填写“{ctx.field_labels.get(field, field)}”"
    return None


@register(
    "date_not_past",
    "日期不早于当天",
    field=ParamSpec(ParamKind.FIELD),
)
def date_not_past(ctx: GuardContext, field: str) -> str | None:
    value = ctx.date_value(field)
    today = local_date(ctx.now)
    if value is None:
        return f"缺少日期 {field}"
    if value < today:
        return f"{field} 为 {value.isoformat()}，早于今天 {today.isoformat()}"
    return None


@register("objections_answered", "业主异议均已答复")
def objections_answered(ctx: GuardContext) -> str | None:
    """Every objection recorded during the notice (``records.objections``) has its answer."""
    n = ctx.open_objections() if ctx.open_objections is not None else 0
    if n:
        return Reason(f"尚有 {n} 条业主异议未答复，请先答复", {"open_objections": n})
    return None
