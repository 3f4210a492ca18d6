"""SQLModel tables. Migrations in ``fundflow/migrations/`` create exactly these (a test checks)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from fundflow.service.types import Area, JSONData, Money, UTCDateTime

__all__ = [
    "District",
    "StreetOffice",
    "Community",
    "Building",
    "Household",
    "LedgerEntry",
    "TopUpNotice",
    "Case",
    "Stage",
    "Event",
    "MeetingVote",
    "Document",
    "User",
    "ApiToken",
    "IdempotencyRecord",
    "Alert",
    "AlertAck",
    "Channel",
    "Delivery",
    "SchedulerLease",
    "Checkpoint",
    "MigrationBatch",
    "MigrationItem",
    "CaseTransfer",
    "StageExtension",
    "Objection",
    "MeetingSession",
    "MeetingBallot",
    "StageAssignment",
    "Supervision",
    "TopUpSend",
    "metadata",
]

# Stable constraint names, so that migrations can name what they alter.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def _utc(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime(), nullable=nullable, index=index)


def _money(nullable: bool = True) -> Any:
    return Field(default=None if nullable else Decimal("0.00"), sa_type=Money(), nullable=nullable)


# -- places ------------------------------------------------------------------------------


class District(SQLModel, table=True):
    __tablename__ = "districts"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=64)


class StreetOffice(SQLModel, table=True):
    __tablename__ = "street_offices"
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="districts.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=64)


class Community(SQLModel, table=True):
    __tablename__ = "communities"
    id: int | None = Field(default=None, primary_key=True)
    street_office_id: int = Field(foreign_key="street_offices.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=128)
    address: str = Field(default="", max_length=256)
    created_at: datetime = _utc(nullable=False)


class Organisation(SQLModel, table=True):
    """An organisation that is not a place, of a kind a definition declares (``organisations:``):
    a city department or bureau, a hotline center. Its users (``org_level`` organisation, or
    city for a kind that sees all) name it by ``org_id``."""

    __tablename__ = "organisations"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64, index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=128)
    created_at: datetime = _utc(nullable=False)


class CaseOrganisation(SQLModel, table=True):
    """An organisation that is or was responsible for a case (assigned by an organisation field,
    or transferred to it): what a ``sees: handled`` organisation sees. One row per pair."""

    __tablename__ = "case_organisations"
    __table_args__ = (UniqueConstraint("organisation_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id")
    since: datetime = _utc(nullable=False)


class Building(SQLModel, table=True):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    name: str = Field(max_length=64)


class Household(SQLModel, table=True):
    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    building_id: int = Field(foreign_key="buildings.id", index=True)
    unit: str = Field(default="", max_length=32)
    room: str = Field(max_length=32)
    floor: int | None = None
    area: Decimal = Field(sa_type=Area(), nullable=False)  # building floor area, m²
    owner: str | None = Field(default=None, max_length=128)
    # projections of the ledger journal (LedgerEntry); ``fundflow ledger verify`` recomputes them
    balance: Decimal = _money(nullable=False)  # ledger balance (分户账余额)
    frozen: Decimal = _money(nullable=False)  # frozen for approved, unpaid uses (冻结); available = balance - frozen
    first_deposit: Decimal = _money(nullable=False)  # 首次交存额


class LedgerEntry(SQLModel, table=True):
    """The household ledger journal: append-only, one movement of one household's money.

    ``kind`` is one of ``fundflow.domain.ledger.KINDS``; ``amount`` > 0 (an adjustment may be
    negative); ``balance_after`` and ``frozen_after`` are the household's figures after it;
    ``case_id`` and ``event_seq`` name the event that caused it (null for deposits and
    adjustments made outside a case, and for entries carried over by migration 0003).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_household_seq", "household_id", "id"),
        Index("ix_ledger_entries_case_event", "case_id", "event_seq"),
    )
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="households.id")
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    event_seq: int | None = None
    kind: str = Field(max_length=24)
    amount: Decimal = _money(nullable=False)
    balance_after: Decimal = _money(nullable=False)
    frozen_after: Decimal = _money(nullable=False)
    reason: str | None = Field(default=None, sa_type=Text)
    at: datetime = _utc(nullable=False)


class TopUpNotice(SQLModel, table=True):
    """A top-up notice (续交通知) for the street office: households of a case's scope that an
    event took below 30% of their first deposit, and what each must pay in."""

    __tablename__ = "top_up_notices"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    event_seq: int
    street_office_id: int = Field(foreign_key="street_offices.id", index=True)
    households: int
    total: Decimal = _money(nullable=False)
    rows: list = Field(default_factory=list, sa_type=JSONData, nullable=False)
    created_at: datetime = _utc(nullable=False)


# -- cases -------------------------------------------------------------------------------

_case_version = Column("version", Integer, nullable=False, default=1)


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __mapper_args__ = {"version_id_col": _case_version}
    # a procedure's cases by when they were opened: the rates of a period (reads/rates.py)
    __table_args__ = (Index("ix_cases_definition_opened", "definition_id", "opened_at"),)
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    title: str = Field(max_length=200)
    definition_id: str = Field(max_length=64)
    definition_version: int
    state: str = Field(max_length=64, index=True)
    # the places of a community subject (``subject: community``); null for other subjects
    community_id: int | None = Field(default=None, foreign_key="communities.id", index=True)
    street_office_id: int | None = Field(default=None, foreign_key="street_offices.id", index=True)
    district_id: int | None = Field(default=None, foreign_key="districts.id", index=True)
    # what a non-community case is about: {kind, name, address?, phone?} (a person's contact is
    # personal data: shown only to the parties that handle the case)
    subject: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    # the organisation of a declared kind now responsible (assigned or transferred to it)
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    # every organisation that is or was responsible (ids, in order): what can_see_case reads for
    # a ``sees: handled`` user; case_organisations holds the same pairs, indexed, for the lists
    handled_by: list = Field(default_factory=list, sa_type=JSONData, nullable=False)
    data: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    closed: bool = Field(default=False, index=True)
    outcome: str | None = Field(default=None, max_length=32)
    suspended_since: datetime | None = _utc()
    approved_amount: Decimal | None = _money()
    advanced_amount: Decimal | None = _money()
    settled_amount: Decimal | None = _money()
    paid_amount: Decimal | None = _money()
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    closed_at: datetime | None = _utc()
    # when the case was opened: the report's moment (an offline report dates it back), as
    # act_times["open"] holds it; created_at is when it was recorded here
    opened_at: datetime | None = _utc()
    scope_building_ids: list = Field(default_factory=list, sa_type=JSONData, nullable=False)  # [] = whole estate
    # trigger -> when that act last happened (occurred_at, UTC ISO): deadlines and periods count from these
    act_times: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    doc_round: int = 1  # documents are uploaded in rounds; a return for correction starts a new one
    renewed_documents: dict = Field(
        default_factory=dict, sa_type=JSONData, nullable=False
    )  # doc type -> round from which it counts
    event_count: int = 0
    head_hash: str = Field(default="", max_length=64)  # hash of the last event: deleting it shows
    version: int = Field(default=1, sa_column=_case_version)


class Stage(SQLModel, table=True):
    """One row per stage a case enters; ``left_at`` is null while it is the current one."""

    __tablename__ = "stages"
    __table_args__ = (
        Index("ix_stages_open_due", "left_at", "due_at"),
        Index("ix_stages_open_next_alert", "left_at", "next_alert_at"),
        # the few stages left after their due moment: the on-time rate looks them up (migration 0015)
        Index(
            "ix_stages_late",
            "case_id",
            "state",
            postgresql_where=text("left_at > due_at"),
            sqlite_where=text("left_at > due_at"),
        ),
        # the open stages by who they wait on (the state names it) in due order: a to-do
        # page walks it and stops (migration 0010)
        Index(
            "ix_stages_open_by_state_due",
            "state",
            "due_at",
            "case_id",
            postgresql_where=text("left_at IS NULL"),
            sqlite_where=text("left_at IS NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    state: str = Field(max_length=64)
    entered_at: datetime = _utc(nullable=False)
    left_at: datetime | None = _utc()
    due_date: date | None = None
    due_at: datetime | None = _utc()
    warn_at: datetime | None = _utc()
    # the first escalation step still to come: no query reads it (the scan uses next_alert_at),
    # but the events' facts cover it (integrity/facts.py STAGES), so it stays
    escalate_at: datetime | None = _utc()
    next_alert_at: datetime | None = _utc()  # when the scan must look at this stage next; null: never
    provisional: bool = False
    rule: str | None = Field(default=None, max_length=64)
    calendar_source: str | None = Field(default=None, max_length=200)
    suspended_working_days: int = 0
    suspended_days: int = 0


class Event(SQLModel, table=True):
    """Append-only; ``hash`` chains each event to the case's previous one.

    ``facts`` (hashed with the event) holds digests of the rows the event wrote (see
    fundflow/service/integrity/facts.py); ``seal`` is an HMAC of ``hash`` under a key kept outside the
    database; ``gseq`` is the global sequence number a signed checkpoint gave the event (null
    until the next checkpoint)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    seq: int
    trigger: str = Field(max_length=64)
    label: str = Field(max_length=128)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str = Field(max_length=64)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    user_name: str = Field(max_length=64)
    role: str = Field(max_length=64)
    org: str | None = Field(default=None, max_length=128)
    data: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    comment: str | None = Field(default=None, sa_type=Text)
    at: datetime = _utc(nullable=False)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    facts: dict | None = Field(default=None, sa_type=JSONData, nullable=True)
    seal: str | None = Field(default=None, max_length=64)
    gseq: int | None = Field(default=None, unique=True)


class MeetingVote(SQLModel, table=True):
    __tablename__ = "meeting_votes"
    __table_args__ = (UniqueConstraint("case_id", "party"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    party: str = Field(max_length=64)
    attended: bool
    vote: str | None = Field(default=None, max_length=16)
    opinion: str | None = Field(default=None, sa_type=Text)
    recorded_by: int = Field(foreign_key="users.id")
    recorded_at: datetime = _utc(nullable=False)


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    doc_type: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=128)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_by: int = Field(foreign_key="users.id")
    uploaded_at: datetime = _utc(nullable=False)
    round: int = 1  # the case's document round it was uploaded in


# -- people ------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=64)
    role: str = Field(max_length=64)
    org_level: str = Field(max_length=16)  # city | district | street_office | community
    org_id: int | None = None  # the district, street office or community
    org_name: str = Field(max_length=128)
    password_hash: str | None = Field(default=None, sa_type=String(255))
    active: bool = True
    created_at: datetime = _utc(nullable=False)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)  # api | session
    created_at: datetime = _utc(nullable=False)
    expires_at: datetime | None = _utc()
    revoked: bool = False


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    status_code: int
    body: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    created_at: datetime = _utc(nullable=False)


# -- alerts ------------------------------------------------------------------------------


class Alert(SQLModel, table=True):
    """One alert per stage, kind, level and moment (``dedupe_key``), or per calendar notice."""

    __tablename__ = "alerts"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=16)  # warning | overdue | escalation | calendar
    level: int = 0
    repeat: int = 0
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    stage_id: int | None = Field(default=None, foreign_key="stages.id")
    state: str | None = Field(default=None, max_length=64)
    at: datetime = _utc(nullable=False, index=True)  # the moment it is about
    recipients: str = Field(max_length=400)  # ",role,role," (searchable with LIKE on both databases)
    title: str = Field(max_length=200)
    message: str = Field(sa_type=Text)
    provisional: bool = False
    created_at: datetime = _utc(nullable=False)


class AlertAck(SQLModel, table=True):
    __tablename__ = "alert_acks"
    __table_args__ = (UniqueConstraint("alert_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    at: datetime = _utc(nullable=False)


class Channel(SQLModel, table=True):
    """Where alerts go besides the in-app inbox, per role and organisation."""

    __tablename__ = "channels"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # webhook | wecom | dingtalk | email
    target: str = Field(max_length=1000)  # URL, or e-mail addresses separated by commas
    role: str | None = Field(default=None, max_length=64)  # None: alerts to any role
    org_level: str = Field(default="city", max_length=16)  # city | district | street_office | community
    org_id: int | None = None
    active: bool = True
    created_at: datetime = _utc(nullable=False)


class Delivery(SQLModel, table=True):
    """The outbox: one row per alert and channel, written with the alert, sent after commit."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id")
    channel_id: int = Field(foreign_key="channels.id", index=True)
    status: str = Field(default="pending", max_length=16)  # pending | sent
    attempts: int = 0
    next_attempt_at: datetime = _utc(nullable=False)
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = _utc()
    created_at: datetime = _utc(nullable=False)


class SchedulerLease(SQLModel, table=True):
    """Who runs the periodic job now: one row per job; a lease that works on SQLite too."""

    __tablename__ = "scheduler_leases"
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime = _utc(nullable=False)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per user name (``user:NAME``) or per address (``addr:IP``), shared by every
    process: after a few, logins under that key wait (fundflow/service/login_throttle.py)."""

    __tablename__ = "login_throttles"
    key: str = Field(primary_key=True, max_length=128)
    failures: int = 0
    last_failure_at: datetime = _utc(nullable=False)
    locked_until: datetime | None = _utc()


# -- integrity ---------------------------------------------------------------------------


class Checkpoint(SQLModel, table=True):
    """A signed statement: events 1..``upto`` of the global sequence hash to ``head``.

    ``cases`` maps each case touched since the previous checkpoint to its last event then
    ([seq, hash]), so that a deleted case or tail can be named. ``statement`` is the signed
    canonical text (fundflow/service/integrity/checkpoints.py), also appended to a file and sent to the
    witness channel."""

    __tablename__ = "checkpoints"
    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    upto: int
    head: str = Field(max_length=64)
    cases: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    at: datetime = _utc(nullable=False)
    key_id: str = Field(max_length=16)
    statement: str = Field(sa_type=Text)
    signature: str = Field(max_length=128)


# --- version migration (issue 16) ---


class MigrationBatch(SQLModel, table=True):
    """One run of ``fundflow versions apply``: running cases of one procedure moved from one
    version to the next (fundflow/service/usecases/migration.py). ``status``: ``running`` while
    cases are pending (a rerun resumes it), ``done``, ``reverted``. ``spec`` is the migration
    as applied (state mapping, deadline policies, renamed and defaulted fields)."""

    __tablename__ = "migration_batches"
    id: int | None = Field(default=None, primary_key=True)
    definition_id: str = Field(max_length=64)
    from_version: int
    to_version: int
    status: str = Field(default="running", max_length=16, index=True)
    spec: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    created_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = _utc(nullable=False)
    finished_at: datetime | None = _utc()
    reverted_at: datetime | None = _utc()


class MigrationItem(SQLModel, table=True):
    """One case of a batch. ``planned_version``: the case's version the plan saw (a case
    changed since is ``stale``, not moved); ``case_version``: its version once moved (a revert
    moves back only a case still at it); ``before``: what a revert restores (the data, the
    open stage's deadline). ``status``: pending, migrated, stale, reverted."""

    __tablename__ = "migration_items"
    __table_args__ = (UniqueConstraint("batch_id", "case_id"),)
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="migration_batches.id", index=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    status: str = Field(default="pending", max_length=16)
    planned_version: int
    from_state: str = Field(max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    case_version: int | None = None
    before: dict = Field(default_factory=dict, sa_type=JSONData, nullable=False)
    note: str | None = Field(default=None, sa_type=Text)


# --- hand-offs and records (issue 11b) ---


class CaseTransfer(SQLModel, table=True):
    """转办: the case handed from one organisation of a role to another of the same role."""

    __tablename__ = "case_transfers"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    role: str = Field(max_length=64)
    level: str = Field(max_length=16)  # street_office | district
    from_org_id: int
    from_org_name: str = Field(max_length=128)
    to_org_id: int = Field(index=True)
    to_org_name: str = Field(max_length=128)
    reason: str = Field(sa_type=Text)
    transferred_by: int = Field(foreign_key="users.id")
    transferred_at: datetime = _utc(nullable=False)
    event_seq: int
    # 转办 in two steps: requested (the case stays with the sender), then accepted by the
    # receiving organisation (the case's org columns change) or declined with a reason
    status: str = Field(default="accepted", max_length=16, index=True)  # pending | accepted | declined
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = _utc()
    decision_note: str | None = Field(default=None, sa_type=Text)


class StageExtension(SQLModel, table=True):
    """延期申请: more working days asked for a stage; approved, its due date moved."""

    __tablename__ = "stage_extensions"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    stage_id: int = Field(foreign_key="stages.id", index=True)
    state: str = Field(max_length=64)
    working_days: int
    reason: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16, index=True)  # pending | approved | refused | lapsed
    approver_role: str = Field(max_length=64)
    requested_by: int = Field(foreign_key="users.id")
    requested_at: datetime = _utc(nullable=False)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = _utc()
    opinion: str | None = Field(default=None, sa_type=Text)
    due_date_before: date | None = None
    due_date_after: date | None = None


class Objection(SQLModel, table=True):
    """An owner's objection during the public notice, and the answer linked to it."""

    __tablename__ = "objections"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    owner_name: str = Field(max_length=64)
    room: str = Field(max_length=64)
    text: str = Field(sa_type=Text)
    status: str = Field(default="open", max_length=16, index=True)  # open | answered
    raised_by: int = Field(foreign_key="users.id")
    raised_at: datetime = _utc(nullable=False)
    answer: str | None = Field(default=None, sa_type=Text)
    answered_by: int | None = Field(default=None, foreign_key="users.id")
    answered_at: datetime | None = _utc()


class MeetingSession(SQLModel, table=True):
    """A sitting of the joint meeting: when and where it was held, who convened it."""

    __tablename__ = "meeting_sessions"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    state: str = Field(max_length=64)
    held_on: date
    venue: str = Field(max_length=200)
    convened_by: int = Field(foreign_key="users.id")
    recorded_at: datetime = _utc(nullable=False)


class MeetingBallot(SQLModel, table=True):
    """Every vote recorded, in order: a re-vote adds a ballot, the earlier one stays in the
    history (``meeting_votes`` holds each party's current vote, which the quorum guard reads)."""

    __tablename__ = "meeting_ballots"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    session_id: int | None = Field(default=None, foreign_key="meeting_sessions.id")
    party: str = Field(max_length=64)
    attended: bool
    attendees: str | None = Field(default=None, max_length=400)  # who came for the party
    vote: str | None = Field(default=None, max_length=16)
    opinion: str | None = Field(default=None, sa_type=Text)
    recorded_by: int = Field(foreign_key="users.id")
    recorded_at: datetime = _utc(nullable=False)


# --- tasks and supervision (issue 11a) ---


class StageAssignment(SQLModel, table=True):
    """Who of the responsible organisation works on a stage (指派) and whether they took it (签收):
    one row per stage, rewritten by a new assignment; every change is an event of the case."""

    __tablename__ = "stage_assignments"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    stage_id: int = Field(foreign_key="stages.id", unique=True)
    assignee_id: int = Field(foreign_key="users.id", index=True)
    assigned_by: int = Field(foreign_key="users.id")
    assigned_at: datetime = _utc(nullable=False)
    claimed_at: datetime | None = _utc()


class Supervision(SQLModel, table=True):
    """A 督办 as a work item: issued to the party responsible for an escalated stage, replied to
    (反馈) by a deadline in working days, then closed (销号) or renewed (a new round). The row is
    where it stands; its history is the case's events."""

    __tablename__ = "supervisions"
    __table_args__ = (Index("ix_supervisions_status_due", "status", "reply_due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    stage_id: int = Field(foreign_key="stages.id", index=True)
    state: str = Field(max_length=64)  # the stage's state when it was issued
    round: int = 1  # renewed: 2, 3, ...
    status: str = Field(max_length=16)  # issued | replied | closed
    issuer_id: int = Field(foreign_key="users.id")
    issuer_role: str = Field(max_length=64)
    to_role: str = Field(max_length=64)  # the party that must reply: the stage's responsible role
    to_org: str = Field(max_length=128)  # that party's organisation, by name
    content: str = Field(sa_type=Text)
    reply_working_days: int
    reply_due_date: date
    reply_due_at: datetime = _utc(nullable=False)
    issued_at: datetime = _utc(nullable=False)
    reply: str | None = Field(default=None, sa_type=Text)
    replied_by: int | None = Field(default=None, foreign_key="users.id")
    replied_at: datetime | None = _utc()
    overdue_round: int = 0  # the last round whose late reply was escalated
    closed_by: int | None = Field(default=None, foreign_key="users.id")
    closed_at: datetime | None = _utc()
    close_note: str | None = Field(default=None, sa_type=Text)
    # the documents attached to the current round's reply (ids of ``documents`` rows of the case)
    reply_documents: list | None = Field(default=None, sa_type=JSONData, nullable=True)


class TopUpSend(SQLModel, table=True):
    """A top-up notice (续交通知) sent to its households by the street office: one per notice."""

    __tablename__ = "top_up_sends"
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="top_up_notices.id", unique=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    sent_by: int = Field(foreign_key="users.id")
    sent_at: datetime = _utc(nullable=False)
