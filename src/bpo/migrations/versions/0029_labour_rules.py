"""labour rules: breaks, consecutive days and overtime caps, with per-person overrides

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    # NULL: the usual break for the shift's span (none up to 6 h, 45 min up to 8 h 45 min, else 60 min).
    op.add_column("shifts", sa.Column("break_minutes", sa.Integer(), nullable=True))
    op.create_check_constraint("break_minutes", "shifts", "break_minutes >= 0")
    # Per-person overrides of the tenant's labour limits; NULL: the tenant's.
    op.add_column("staff", sa.Column("max_consecutive_days", sa.Integer(), nullable=True))
    op.add_column("staff", sa.Column("monthly_overtime_hours", sa.Float(), nullable=True))
    op.add_column("staff", sa.Column("yearly_overtime_hours", sa.Float(), nullable=True))
    op.add_column(
        "staffing_settings",
        sa.Column("max_consecutive_days", sa.Integer(), server_default="6", nullable=False),
    )
    op.add_column(
        "staffing_settings",
        sa.Column("monthly_overtime_hours", sa.Float(), server_default="45", nullable=False),
    )
    op.add_column(
        "staffing_settings",
        sa.Column("yearly_overtime_hours", sa.Float(), server_default="360", nullable=False),
    )
    op.add_column(
        "staffing_settings",
        sa.Column("overtime_year_start_month", sa.Integer(), server_default="4", nullable=False),
    )


def downgrade(app_role: str) -> None:
    for column in (
        "overtime_year_start_month",
        "yearly_overtime_hours",
        "monthly_overtime_hours",
        "max_consecutive_days",
    ):
        op.drop_column("staffing_settings", column)
    for column in ("yearly_overtime_hours", "monthly_overtime_hours", "max_consecutive_days"):
        op.drop_column("staff", column)
    op.drop_constraint("ck_shifts_break_minutes", "shifts", type_="check")
    op.drop_column("shifts", "break_minutes")
