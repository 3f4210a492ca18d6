"""stages: drop the two indexes no query uses (open stages by warn_at, by escalate_at)

The alert scan finds its stages by ``(left_at, next_alert_at)`` and the overdue filters by
``(left_at, due_at)``; nothing filters or orders on ``warn_at`` or ``escalate_at``.

``stages.escalate_at`` itself stays: the stage rows' digest in every event's facts
(fundflow/service/integrity/facts.py) covers it, so dropping it would make ``fundflow audit
verify`` report every stage row recorded so far as out of step.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.drop_index("ix_stages_open_warn")
        batch_op.drop_index("ix_stages_open_escalate")


def downgrade() -> None:
    with op.batch_alter_table("stages", schema=None) as batch_op:
        batch_op.create_index("ix_stages_open_escalate", ["left_at", "escalate_at"], unique=False)
        batch_op.create_index("ix_stages_open_warn", ["left_at", "warn_at"], unique=False)
