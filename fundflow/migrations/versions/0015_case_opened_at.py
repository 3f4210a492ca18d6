"""cases.opened_at: when a case was opened (an offline report's own moment), indexed with the
procedure for the rates of a period, and the stages left after their due moment (the
on-time rate's lookup); filled for the cases already stored from their first
stage's entry (which is that moment)

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fundflow.service.types

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("opened_at", fundflow.service.types.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE cases SET opened_at = (SELECT min(stages.entered_at) FROM stages WHERE stages.case_id = cases.id)"
    )
    op.execute("UPDATE cases SET opened_at = created_at WHERE opened_at IS NULL")
    op.create_index("ix_cases_definition_opened", "cases", ["definition_id", "opened_at"])
    late = sa.text("left_at > due_at")
    op.create_index("ix_stages_late", "stages", ["case_id", "state"], postgresql_where=late, sqlite_where=late)


def downgrade() -> None:
    op.drop_index("ix_stages_late", table_name="stages")
    op.drop_index("ix_cases_definition_opened", table_name="cases")
    # not batch mode: on SQLite it would copy and drop the cases table, which the rows that
    # refer to cases forbid; SQLite (3.35+) and PostgreSQL both drop an unindexed column in place
    op.execute("ALTER TABLE cases DROP COLUMN opened_at")
