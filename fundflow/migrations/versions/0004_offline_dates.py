"""offline dates of acts, document rounds

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fundflow.service.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("act_times", fundflow.service.types.JSONData, nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("doc_round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("renewed_documents", fundflow.service.types.JSONData, nullable=False, server_default="{}")
        )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("round")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("renewed_documents")
        batch_op.drop_column("doc_round")
        batch_op.drop_column("act_times")
