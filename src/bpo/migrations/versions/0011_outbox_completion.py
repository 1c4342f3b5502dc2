"""outbox: completion of each relayed job, so jobs the broker lost can be sent again

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.add_column("outbox", sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    # Jobs already run: their job_runs row says when. Every tenant's rows at once, so the owner lifts
    # the forced row security for this statement only (the migration is one transaction).
    op.execute("ALTER TABLE outbox NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        UPDATE outbox SET completed_at = job_runs.completed_at
        FROM job_runs
        WHERE job_runs.tenant_id = outbox.tenant_id AND job_runs.job_id = outbox.id
        """
    )
    op.execute("ALTER TABLE outbox FORCE ROW LEVEL SECURITY")
    op.create_index(
        "ix_outbox_in_flight",
        "outbox",
        ["tenant_id", "sent_at"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NOT NULL AND completed_at IS NULL"),
    )


def downgrade(app_role: str) -> None:
    op.drop_index("ix_outbox_in_flight", table_name="outbox")
    op.drop_column("outbox", "completed_at")
