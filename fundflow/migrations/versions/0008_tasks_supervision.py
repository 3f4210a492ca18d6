"""tasks and supervision: stage assignments (指派/签收), 督办 as work items, top-up notices sent

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import fundflow.service.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, fundflow.service.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "stage_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.Integer(), nullable=False),
        _utc("assigned_at", False),
        _utc("claimed_at", True),
        sa.ForeignKeyConstraint(["assigned_by"], ["users.id"], name=op.f("fk_stage_assignments_assigned_by_users")),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_stage_assignments_assignee_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_stage_assignments_case_id_cases")),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_stage_assignments_stage_id_stages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_assignments")),
        sa.UniqueConstraint("stage_id", name=op.f("uq_stage_assignments_stage_id")),
    )
    with op.batch_alter_table("stage_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stage_assignments_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stage_assignments_case_id"), ["case_id"], unique=False)

    op.create_table(
        "supervisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("issuer_role", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("to_role", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("to_org", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("reply_working_days", sa.Integer(), nullable=False),
        sa.Column("reply_due_date", sa.Date(), nullable=False),
        _utc("reply_due_at", False),
        _utc("issued_at", False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_by", sa.Integer(), nullable=True),
        _utc("replied_at", True),
        sa.Column("overdue_round", sa.Integer(), nullable=False),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        _utc("closed_at", True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_supervisions_case_id_cases")),
        sa.ForeignKeyConstraint(["closed_by"], ["users.id"], name=op.f("fk_supervisions_closed_by_users")),
        sa.ForeignKeyConstraint(["issuer_id"], ["users.id"], name=op.f("fk_supervisions_issuer_id_users")),
        sa.ForeignKeyConstraint(["replied_by"], ["users.id"], name=op.f("fk_supervisions_replied_by_users")),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_supervisions_stage_id_stages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervisions")),
    )
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervisions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supervisions_stage_id"), ["stage_id"], unique=False)
        batch_op.create_index("ix_supervisions_status_due", ["status", "reply_due_at"], unique=False)

    op.create_table(
        "top_up_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sent_by", sa.Integer(), nullable=False),
        _utc("sent_at", False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_top_up_sends_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["top_up_notices.id"], name=op.f("fk_top_up_sends_notice_id_top_up_notices")
        ),
        sa.ForeignKeyConstraint(["sent_by"], ["users.id"], name=op.f("fk_top_up_sends_sent_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_top_up_sends")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_top_up_sends_notice_id")),
    )
    with op.batch_alter_table("top_up_sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_top_up_sends_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("top_up_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_top_up_sends_case_id"))
    op.drop_table("top_up_sends")
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.drop_index("ix_supervisions_status_due")
        batch_op.drop_index(batch_op.f("ix_supervisions_stage_id"))
        batch_op.drop_index(batch_op.f("ix_supervisions_case_id"))
    op.drop_table("supervisions")
    with op.batch_alter_table("stage_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_assignments_case_id"))
        batch_op.drop_index(batch_op.f("ix_stage_assignments_assignee_id"))
    op.drop_table("stage_assignments")
