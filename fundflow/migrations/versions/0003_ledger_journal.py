"""ledger journal: append-only entries, frozen amounts, top-up notices

Moves what an existing database holds into the journal, so that every balance is the sum of
its entries afterwards:
* each household gets an opening deposit: its balance now plus what earlier disbursements
  debited (so the balance is unchanged), then those debits, in time order;
* each approved case that is still open and was never debited gets its freeze (the floor-area
  shares of its settled, else approved amount), and what it has already paid out (advances,
  which were never debited before) is debited from that freeze.
Entries carried over name their case but no event (``event_seq`` null) and say so in ``reason``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text

import fundflow.service.types
from fundflow.domain.apportionment import allocate

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARRIED = "0003 迁移"


def _fen(value) -> int:
    return int(Decimal(value).scaleb(2))


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _create_journal() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("event_seq", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("amount", fundflow.service.types.Money(), nullable=False),
        sa.Column("balance_after", fundflow.service.types.Money(), nullable=False),
        sa.Column("frozen_after", fundflow.service.types.Money(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", fundflow.service.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_ledger_entries_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_ledger_entries_household_id_households")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_case_event", ["case_id", "event_seq"], unique=False)
        batch_op.create_index("ix_ledger_entries_household_seq", ["household_id", "id"], unique=False)


def upgrade() -> None:
    conn = op.get_bind()
    old = sa.table(
        "ledger_entries",
        sa.column("household_id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("amount", fundflow.service.types.Money()),
        sa.column("at", fundflow.service.types.UTCDateTime()),
    )
    debits = conn.execute(
        sa.select(old.c.household_id, old.c.case_id, old.c.amount, old.c.at).order_by(
            old.c.at, old.c.case_id, old.c.household_id
        )
    ).all()
    households = sa.table(
        "households",
        sa.column("id", sa.Integer),
        sa.column("community_id", sa.Integer),
        sa.column("building_id", sa.Integer),
        sa.column("area", fundflow.service.types.Area()),
        sa.column("balance", fundflow.service.types.Money()),
    )
    homes = conn.execute(
        sa.select(
            households.c.id,
            households.c.community_id,
            households.c.building_id,
            households.c.area,
            households.c.balance,
        ).order_by(households.c.id)
    ).all()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("community_id", sa.Integer),
        sa.column("scope_building_ids", sa.JSON),
        sa.column("closed", sa.Boolean),
        sa.column("approved_amount", fundflow.service.types.Money()),
        sa.column("settled_amount", fundflow.service.types.Money()),
        sa.column("paid_amount", fundflow.service.types.Money()),
        sa.column("updated_at", fundflow.service.types.UTCDateTime()),
    )
    open_cases = conn.execute(
        sa.select(cases).where(cases.c.closed.is_(False), cases.c.approved_amount.is_not(None)).order_by(cases.c.id)
    ).all()
    communities = sa.table(
        "communities", sa.column("id", sa.Integer), sa.column("created_at", fundflow.service.types.UTCDateTime())
    )
    founded = dict(conn.execute(sa.select(communities.c.id, communities.c.created_at)).all())

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_household_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_case_id"))
    op.drop_table("ledger_entries")
    _create_journal()
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frozen", fundflow.service.types.Money(), nullable=False, server_default="0"))
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.alter_column("frozen", server_default=None)
    op.create_table(
        "top_up_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("street_office_id", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("total", fundflow.service.types.Money(), nullable=False),
        sa.Column(
            "rows",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_top_up_notices_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["street_office_id"], ["street_offices.id"], name=op.f("fk_top_up_notices_street_office_id_street_offices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_top_up_notices")),
    )
    with op.batch_alter_table("top_up_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_top_up_notices_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_top_up_notices_street_office_id"), ["street_office_id"], unique=False)

    # -- the data ------------------------------------------------------------------------
    journal = sa.table(
        "ledger_entries",
        sa.column("household_id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("amount", fundflow.service.types.Money()),
        sa.column("balance_after", fundflow.service.types.Money()),
        sa.column("frozen_after", fundflow.service.types.Money()),
        sa.column("reason", sa.Text),
        sa.column("at", fundflow.service.types.UTCDateTime()),
    )
    debited: dict[int, int] = defaultdict(int)
    first_at: dict[int, datetime] = {}
    for hid, _, amount, at in debits:
        debited[hid] += _fen(amount)
        first_at.setdefault(hid, at)
    run: dict[int, list[int]] = {}
    rows = []

    def entry(hid, case_id, kind, fen, at, reason):
        b, f = run[hid]
        b += {"deposit": fen, "debit": -fen}.get(kind, 0)
        f += {"freeze": fen, "debit": -fen}.get(kind, 0)
        run[hid] = [b, f]
        rows.append(
            {
                "household_id": hid,
                "case_id": case_id,
                "kind": kind,
                "amount": _yuan(fen),
                "balance_after": _yuan(b),
                "frozen_after": _yuan(f),
                "reason": reason,
                "at": at,
            }
        )

    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    for h in homes:
        run[h.id] = [0, 0]
        opening = _fen(h.balance) + debited[h.id]
        if opening > 0:
            at = (
                min(x for x in (first_at.get(h.id), founded.get(h.community_id)) if x is not None)
                if (first_at.get(h.id) or founded.get(h.community_id))
                else epoch
            )
            entry(h.id, None, "deposit", opening, at, f"{CARRIED}：期初余额（含此前已支取部分）")
    for hid, case_id, amount, at in debits:  # a debit converts a freeze: the old ones had none
        entry(hid, case_id, "freeze", _fen(amount), at, f"{CARRIED}：此前拨付时的支取（补记冻结）")
        entry(hid, case_id, "debit", _fen(amount), at, f"{CARRIED}：此前拨付时的支取")
    debited_cases = {case_id for _, case_id, _, _ in debits}
    for c in open_cases:
        if c.id in debited_cases:
            continue
        scope = set(c.scope_building_ids or [])
        members = [h for h in homes if h.community_id == c.community_id and (not scope or h.building_id in scope)]
        if not members:
            continue
        paid = _fen(c.paid_amount or 0)
        total = max(_fen(c.settled_amount if c.settled_amount is not None else c.approved_amount), paid)
        shares = allocate(total, [Fraction(h.area) for h in members])
        for h, share in zip(members, shares):
            if share:
                entry(h.id, c.id, "freeze", share, c.updated_at, f"{CARRIED}：已核准未拨付的冻结")
        if paid:
            for h, part in zip(members, allocate(paid, shares)):
                if part:
                    entry(h.id, c.id, "debit", part, c.updated_at, f"{CARRIED}：此前已拨付（预拨）未支取的部分")
    if rows:
        op.bulk_insert(journal, rows)
    hh = sa.table(
        "households",
        sa.column("id", sa.Integer),
        sa.column("balance", fundflow.service.types.Money()),
        sa.column("frozen", fundflow.service.types.Money()),
    )
    before = {h.id: _fen(h.balance) for h in homes}
    for hid, (b, f) in run.items():
        if f or b != before[hid]:
            conn.execute(hh.update().where(hh.c.id == hid).values(balance=_yuan(b), frozen=_yuan(f)))


def downgrade() -> None:
    conn = op.get_bind()
    journal = sa.table(
        "ledger_entries",
        sa.column("household_id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("amount", fundflow.service.types.Money()),
        sa.column("balance_after", fundflow.service.types.Money()),
        sa.column("at", fundflow.service.types.UTCDateTime()),
    )
    debits = conn.execute(
        sa.select(
            journal.c.household_id,
            journal.c.case_id,
            sa.func.sum(journal.c.amount),
            sa.func.min(journal.c.balance_after),
            sa.func.max(journal.c.at),
        )
        .where(journal.c.case_id.is_not(None), journal.c.kind.in_(["debit", "retention_release"]))
        .group_by(journal.c.household_id, journal.c.case_id)
    ).all()
    with op.batch_alter_table("top_up_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_top_up_notices_street_office_id"))
        batch_op.drop_index(batch_op.f("ix_top_up_notices_case_id"))
    op.drop_table("top_up_notices")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("frozen")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_household_seq")
        batch_op.drop_index("ix_ledger_entries_case_event")
    op.drop_table("ledger_entries")
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("amount", fundflow.service.types.Money(), nullable=False),
        sa.Column("balance_after", fundflow.service.types.Money(), nullable=False),
        sa.Column("at", fundflow.service.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_ledger_entries_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_ledger_entries_household_id_households")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("case_id", "household_id", name=op.f("uq_ledger_entries_case_id")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_household_id"), ["household_id"], unique=False)
    old = sa.table(
        "ledger_entries",
        sa.column("household_id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("amount", fundflow.service.types.Money()),
        sa.column("balance_after", fundflow.service.types.Money()),
        sa.column("at", fundflow.service.types.UTCDateTime()),
    )
    if debits:
        op.bulk_insert(
            old,
            [{"household_id": h, "case_id": c, "amount": a, "balance_after": b, "at": at} for h, c, a, b, at in debits],
        )
