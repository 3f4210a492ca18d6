"""version migration: batches of running cases moved from one procedure version to the next

Revision ID: 0011
Revises: 0007 (re-chained at merge)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import fundflow.service.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "migration_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reverted_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_migration_batches_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_batches")),
    )
    with op.batch_alter_table("migration_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_batches_status"), ["status"], unique=False)
    op.create_table(
        "migration_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("planned_version", sa.Integer(), nullable=False),
        sa.Column("from_state", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("to_state", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("case_version", sa.Integer(), nullable=True),
        sa.Column("before", _JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["migration_batches.id"], name=op.f("fk_migration_items_batch_id_migration_batches")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_migration_items_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_items")),
        sa.UniqueConstraint("batch_id", "case_id", name=op.f("uq_migration_items_batch_id")),
    )
    with op.batch_alter_table("migration_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_items_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_migration_items_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("migration_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_items_case_id"))
        batch_op.drop_index(batch_op.f("ix_migration_items_batch_id"))
    op.drop_table("migration_items")
    with op.batch_alter_table("migration_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_batches_status"))
    op.drop_table("migration_batches")
