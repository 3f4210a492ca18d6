"""转办 accepted by the receiving organisation; documents attached to a 督办 reply

Revision ID: 0012
Revises: 0011 (re-chained at merge)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import fundflow.service.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        # the transfers made before took effect at once: accepted
        batch_op.add_column(
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="accepted")
        )
        batch_op.add_column(sa.Column("decided_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_case_transfers_status"), ["status"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_case_transfers_decided_by_users"), "users", ["decided_by"], ["id"])
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_documents", fundflow.service.types.JSONData, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.drop_column("reply_documents")
    with op.batch_alter_table("case_transfers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_case_transfers_decided_by_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_case_transfers_status"))
        batch_op.drop_column("decision_note")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("status")
