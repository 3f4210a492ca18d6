"""stages: the open stages by state, in due order (a partial index), for the to-do list

``ix_stages_open_due`` is ``(left_at, due_at)``: PostgreSQL does not take ``left_at IS NULL``
as fixing the first column, so it cannot read that index in due order, and the to-do list
sorted every case it may see (33,000 of them: 80+ ms a page). ``ix_stages_open_by_state_due``
holds only the open stages, by ``(state, due_at, case_id)``: the state names who a case waits
on (the definition's ``responsible``), so a to-do page walks the index in due order and stops.

Revision ID: 0010
Revises: 0007 (re-chained after 0008/0009 at merge)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("left_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_stages_open_by_state_due",
        "stages",
        ["state", "due_at", "case_id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_stages_open_by_state_due", table_name="stages")
