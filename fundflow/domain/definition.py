"""A procedure definition as frozen data.

A :class:`Definition` is what ``loader.load_definition`` makes of one YAML file. It is
immutable: cases refer to it by ``(id, version)`` and never change it. The engine compiles
one ``transitions`` machine per definition and caches it (see ``engine.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from fundflow.domain.figures import Figures

__all__ = [
    "Definition",
    "DeadlineRule",
    "DeadlineKind",
    "Anchor",
    "Escalation",
    "Effect",
    "FieldSpec",
    "FieldType",
    "GuardCall",
    "Role",
    "OpenForm",
    "ORG_LEVELS",
    "ORGANISATION",
    "OrganisationKind",
    "Subject",
    "SUBJECT_KINDS",
    "SEES",
    "State",
    "Suspension",
    "Transition",
    "SUSPEND",
    "RESUME",
    "MONEY_KINDS",
    "COMPLETED",
    "OUTCOMES",
    "Handoffs",
    "Transfer",
    "Extension",
    "Withdrawal",
    "Objections",
    "RETURN",
]

#: The figures a case keeps of its money, set by amount fields marked ``money: <kind>``.
#: ``advanced`` and ``paid`` both count as paid out.
MONEY_KINDS = ("approved", "advanced", "settled", "paid")

#: How a terminal state ends a case. ``completed`` is what the city's figures call finished.
COMPLETED = "completed"
OUTCOMES = (COMPLETED, "withdrawn", "rejected", "diverted")

#: Built-in triggers, available in every non-terminal state when the definition declares
#: ``suspension``. They never change the state; they stop and restart the deadline clock.
SUSPEND = "suspend"
RESUME = "resume"

#: The trigger of the returns declared in ``handoffs.returns`` (退回): the loader makes one
#: transition of each declared pair, fired by the state's responsible role with a reason.
RETURN = "return_to_previous"


class FieldType(str, enum.Enum):
    """The types a transition's required fields may have."""

    AMOUNT = "amount"  # CNY to the fen, Decimal, >= 0
    DATE = "date"  # ISO calendar date
    TEXT = "text"  # free text, non-empty
    REASON = "reason"  # free text, non-empty, at least a few characters
    CHOICE = "choice"  # one of ``choices``
    INTEGER = "integer"
    ORGANISATION = "organisation"  # an organisation of a declared kind (its id): the case is assigned to it
    SCOPE = "scope"  # who pays: {"whole_estate": true} or {"buildings": [names]}; sets the case's paying scope


class Anchor(str, enum.Enum):
    """Where a deadline counts from (``from:`` in the YAML)."""

    STAGE_ENTERED = "stage_entered"  # the act that entered the stage (the default)
    CASE_OPENED = "case_opened"  # the report that opened the case (Dongguan: the site survey)
    ACT = "act"  # the latest act (trigger) of the case, e.g. the posting of a notice
    FIELD = "field"  # a date in the case data


class DeadlineKind(str, enum.Enum):
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    DATE_FIELD = "date_field"


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    label: str
    #: The organisation level a user of this role belongs to (one of ``ORG_LEVELS``): what a
    #: user's ``org`` names and so what the user may see. None: not declared (no user may hold
    #: the role).
    level: str | None = None
    #: The organisation kind its users belong to (``organisations:``), e.g. a city department or a
    #: hotline center; None: a territorial organisation of ``level``. A role with a kind has the
    #: level its kind's ``sees`` gives (``all``: city; ``handled``: ORGANISATION).
    kind: str | None = None


#: Organisation levels, widest first: a city-level user sees the city, a district-level one its
#: district, a street office its street, a community-level party its community.
ORG_LEVELS = ("city", "district", "street_office", "community")

#: The level of a user who belongs to an organisation of a declared kind that sees only the cases
#: it handles (``sees: handled``): the cases it is or was responsible for.
ORGANISATION = "organisation"

#: What an organisation kind sees: ``handled`` the cases it is or was responsible for (assigned or
#: transferred to it), ``all`` every case (a city-wide hotline center).
SEES = ("handled", "all")


@dataclass(frozen=True, slots=True)
class OrganisationKind:
    """A kind of organisation that is not a place (``organisations: {id: {label, sees}}``): a city
    department, a bureau, a hotline center. Its organisations are rows of one table."""

    id: str
    label: str
    sees: str = "handled"

    @property
    def level(self) -> str:
        return "city" if self.sees == "all" else ORGANISATION


#: What a case is about (``subject: {kind, label}``): a residential community with buildings (the
#: default, the fund's procedures), an organisation, a place, a person with contact details, none.
SUBJECT_KINDS = ("community", "organisation", "place", "person", "none")


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str = "community"
    label: str = "小区"

    @property
    def is_community(self) -> bool:
        return self.kind == "community"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    label: str
    required: bool = True
    choices: tuple[str, ...] = ()
    choice_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    money: str | None = None  # amount fields: which of the case's figures it sets (MONEY_KINDS)
    #: organisation fields: the kind of organisation named; the case is assigned (派单) to it
    org_kind: str | None = None


@dataclass(frozen=True, slots=True)
class OpenForm:
    """The report that opens a case (``open_form:`` in the YAML): the label of the opening event,
    the categories the reporter picks from (none: free text), and the form's own words: its
    heading, the line under it, and the labels of the category and description fields."""

    label: str = "立案"
    categories: tuple[str, ...] = ()
    title: str = "发起案件"
    intro: str = ""
    category_label: str = "类别"
    description_label: str = "情况描述"
    #: the report's own fields (``fields:``, as a transition's), validated when the case opens
    fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class GuardCall:
    """A guard named in a transition, with its parameters as written in the YAML."""

    name: str
    params: Mapping[str, Any]
    path: str  # YAML path, for messages


@dataclass(frozen=True, slots=True)
class Escalation:
    """After ``after_working_days`` overdue, tell ``to``; again every ``repeat_every`` working days."""

    after_working_days: int
    to: tuple[str, ...]
    repeat_every_working_days: int | None = None


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    kind: DeadlineKind
    amount: int = 0  # N working or calendar days; unused for DATE_FIELD
    date_field: str | None = None  # the case-data field that holds the due date
    warn_before_working_days: int | None = None
    escalations: tuple[Escalation, ...] = ()
    anchor: Anchor = Anchor.STAGE_ENTERED
    anchor_ref: str | None = None  # the trigger (ACT) or the date field (FIELD) it counts from

    def describe(self) -> str:
        """A short Chinese description, e.g. ``5个工作日``."""
        if self.kind is DeadlineKind.WORKING_DAYS:
            return f"{self.amount}个工作日"
        if self.kind is DeadlineKind.CALENDAR_DAYS:
            return f"{self.amount}日（自然日）"
        return f"按案件字段 {self.date_field} 所定日期"


@dataclass(frozen=True, slots=True)
class State:
    id: str
    label: str
    responsible: str | None  # role id; None for terminal states
    terminal: bool = False
    documents: tuple[str, ...] = ()  # document types required before the state can be left
    deadline: DeadlineRule | None = None
    outcome: str | None = None  # terminal states: "completed", "withdrawn", "rejected", "diverted"


@dataclass(frozen=True, slots=True)
class Effect:
    """What a transition records in the case data or moves in the household ledgers.

    ``sign``: the actor's role signs the named record (e.g. ``acceptance``).
    ``count``: add ``delta`` to the named counter (e.g. open objections).
    The money effects (the service writes their journal entries, ``fundflow.domain.ledger``):
    ``reserve``: hold the case's freeze at the floor-area shares of the amount in this field,
    less what is paid (an approval freezes; a settlement unfreezes the excess, a supplementary
    approval freezes the difference).
    ``pay``: debit the amount in this field out of the case's freeze; with ``retain``, it is
    the final payment and that share of the settlement stays frozen as the retention.
    ``release_retention``: pay out the retention held (the warranty is over).
    ``use_retention``: pay the amount in this field out of the retention (a warranty repair).
    """

    sign: str | None = None
    counter: str | None = None
    delta: int = 0
    reserve: str | None = None
    pay: str | None = None
    retain: Fraction | None = None
    release_retention: bool = False
    use_retention: str | None = None

    @property
    def moves_money(self) -> bool:
        return bool(self.reserve or self.pay or self.release_retention or self.use_retention)

    @property
    def amount_field(self) -> str | None:
        return self.reserve or self.pay or self.use_retention


@dataclass(frozen=True, slots=True)
class Transition:
    trigger: str
    sources: tuple[str, ...]
    dest: str | None  # None: an in-place action (the state does not change)
    label: str
    roles: frozenset[str]
    guards: tuple[GuardCall, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    documents_exempt: bool = False  # leaving without the state's documents (withdraw, reject...)
    effect: Effect | None = None
    path: str = ""  # YAML path, for messages
    new_round: tuple[str, ...] = ()  # document types that must be supplied afresh after this move


@dataclass(frozen=True, slots=True)
class Suspension:
    roles: frozenset[str]
    resume_roles: frozenset[str]


# -- hand-offs (issue 11b): declared in ``handoffs:`` ----------------------------------------


@dataclass(frozen=True, slots=True)
class Transfer:
    """转办: a case held by an organisation of one of ``roles`` may be handed, with a reason,
    to another organisation of the same role (and level: a street office or a district)."""

    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class Extension:
    """延期申请: the responsible party asks for at most ``max_working_days`` more working days;
    ``approver`` decides (``by_state`` overrides it per state). Only states with a deadline."""

    approver: str
    max_working_days: int
    by_state: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    states: frozenset[str] = frozenset()  # where an extension may be asked for

    def approver_of(self, state_id: str) -> str:
        return self.by_state.get(state_id, self.approver)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """撤回: ``trigger`` withdraws a case (its roles may fire it as declared); the party that
    opened the case may fire it too until the act ``opener_until`` (e.g. the approval) happened."""

    trigger: str
    opener_until: str | None = None


@dataclass(frozen=True, slots=True)
class Objections:
    """``records.objections``: owners' objections kept as records in ``states`` (the public
    notice); ``raise_roles`` record them, ``answer_roles`` answer them. The guard
    ``objections_answered`` holds a transition back while one is open."""

    states: frozenset[str]
    raise_roles: frozenset[str]
    answer_roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class Handoffs:
    transfer: Transfer | None = None
    extension: Extension | None = None
    withdrawal: Withdrawal | None = None
    returns: tuple[tuple[str, str], ...] = ()  # (from state, to state): the declared 退回


@dataclass(frozen=True, slots=True)
class Definition:
    id: str
    version: int
    title: str
    roles: Mapping[str, Role]
    documents: Mapping[str, str]  # document type -> Chinese label
    states: Mapping[str, State]  # in declaration order
    initial: str
    transitions: tuple[Transition, ...]
    suspension: Suspension | None = None
    source: str = "<memory>"  # the file it came from
    open_roles: frozenset[str] = frozenset()  # who may open (report) a case; none = nobody
    # document type -> the roles that may upload it; a type not listed: any party of the case
    document_roles: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    open_form: OpenForm = OpenForm()
    #: False (``current: false`` in the file): a version shipped but not yet offered to new
    #: cases; running cases reach it only by migration (see fundflow/domain/migration.py)
    current: bool = True
    handoffs: Handoffs = Handoffs()
    objections: Objections | None = None  # records.objections
    figures: Figures | None = None  # the rates it reports (fundflow/domain/figures.py)
    #: the organisation kinds its roles belong to (``organisations:``)
    organisation_kinds: Mapping[str, OrganisationKind] = field(default_factory=lambda: MappingProxyType({}))
    subject: Subject = Subject()

    # -- the public notice: how long it runs and from which act, read from its guard ----------

    def notice_period(self) -> tuple[int | None, str | None]:
        """The public notice's period in calendar days and the act it runs from: the
        ``period_elapsed`` guard with ``from_act`` on a transition out of a state where owners'
        objections are taken (``records.objections``; any state when none is declared).
        ``(None, None)`` for a procedure without one."""
        states = self.objections.states if self.objections is not None else frozenset(self.states)
        for t in self.transitions:
            if not set(t.sources) & states:
                continue
            for g in t.guards:
                if g.name == "period_elapsed" and g.params.get("from_act"):
                    return g.params.get("calendar_days"), g.params["from_act"]
        return None, None

    # -- the joint meeting: where it sits and who votes, read from the guards ----------------

    MEETING_GUARD = "meeting_quorum"

    def meeting_parties(self, state_id: str) -> tuple[str, ...]:
        """The parties of the joint meeting held in ``state_id``: those the ``meeting_quorum``
        guards of its transitions name (every role of the procedure when they name none); empty
        where no meeting is held. THE rule the votes and the case page read."""
        guards = [g for t in self.transitions_from(state_id) for g in t.guards if g.name == self.MEETING_GUARD]
        if not guards:
            return ()
        parties: list[str] = []
        for g in guards:
            for p in g.params.get("parties", ()):
                if p not in parties:
                    parties.append(p)
        return tuple(parties) or tuple(self.roles)

    def may_record_vote(self, state_id: str, role: str, party: str) -> bool:
        """A party records its own vote; the convener (the state's responsible role) may record
        any party's, from the sign-in sheet."""
        return party in self.meeting_parties(state_id) and role in (party, self.states[state_id].responsible)

    def vote_parties(self, state_id: str, role: str) -> tuple[str, ...]:
        """The parties whose vote ``role`` may record in ``state_id``."""
        return tuple(p for p in self.meeting_parties(state_id) if self.may_record_vote(state_id, role, p))

    def may_upload(self, doc_type: str, role: str) -> bool:
        roles = self.document_roles.get(doc_type)
        return not roles or role in roles

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.version)

    def state(self, state_id: str) -> State:
        return self.states[state_id]

    def transitions_from(self, state_id: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state_id in t.sources)

    def transition(self, trigger: str, state_id: str) -> Transition | None:
        for t in self.transitions:
            if t.trigger == trigger and state_id in t.sources:
                return t
        return None

    @property
    def terminal_states(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.states.values() if s.terminal)
