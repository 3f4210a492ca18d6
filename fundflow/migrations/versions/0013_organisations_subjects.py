"""organisation kinds and case subjects: organisations (departments, hotline centers), the
organisations that handle a case, and a case that is about something other than a community
(its community, street office and district become nullable; its subject and organisation)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from contextlib import contextmanager

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import fundflow.service.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


@contextmanager
def _foreign_keys_off():
    """SQLite rebuilds ``cases`` to relax its NOT NULLs; dropping the old table with stages, events
    ... pointing at it fails while foreign keys are enforced, and the pragma cannot change inside a
    transaction: commit, switch it off, rebuild, check, switch it on, begin again (the rows are
    the same rows, so nothing dangles; ``foreign_key_check`` proves it)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    op.execute("COMMIT")
    op.execute("PRAGMA foreign_keys=OFF")
    op.execute("BEGIN IMMEDIATE")
    try:
        yield
        bad = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if bad:
            raise RuntimeError(f"foreign keys broken by the rebuild: {bad[:5]}")
    finally:
        op.execute("COMMIT")
        op.execute("PRAGMA foreign_keys=ON")
        op.execute("BEGIN IMMEDIATE")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("code", name=op.f("uq_organisations_code")),
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisations_kind"), ["kind"], unique=False)
    with _foreign_keys_off(), op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", _JSON, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("handled_by", _JSON, nullable=False, server_default="[]"))
        batch_op.alter_column("community_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("street_office_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("district_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_cases_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_organisation_id_organisations"), "organisations", ["organisation_id"], ["id"]
        )
    with _foreign_keys_off(), op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("subject", server_default=None, existing_type=_JSON, existing_nullable=False)
        batch_op.alter_column("handled_by", server_default=None, existing_type=_JSON, existing_nullable=False)
    op.create_table(
        "case_organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("since", fundflow.service.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_organisations_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_case_organisations_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_organisations")),
        sa.UniqueConstraint("organisation_id", "case_id", name=op.f("uq_case_organisations_organisation_id")),
    )
    with op.batch_alter_table("case_organisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_organisations_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    # cases that are not about a community cannot go back to a schema that requires one
    op.execute("DELETE FROM case_organisations")
    with op.batch_alter_table("case_organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_organisations_case_id"))
    op.drop_table("case_organisations")
    with _foreign_keys_off(), op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cases_organisation_id_organisations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_cases_organisation_id"))
        batch_op.alter_column("district_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("street_office_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("community_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("handled_by")
        batch_op.drop_column("organisation_id")
        batch_op.drop_column("subject")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_kind"))
    op.drop_table("organisations")
