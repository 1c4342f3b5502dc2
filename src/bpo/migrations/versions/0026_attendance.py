"""staffing: open shifts, clock-in/out, attendance

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bpo.migrations import rls

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    # Whether a staff member's claim of an open shift waits for a supervisor or is approved at once.
    op.add_column(
        "contracts",
        sa.Column("open_shift_approval", sa.String(length=16), server_default="supervisor", nullable=False),
    )
    op.create_table(
        "open_shift_claims",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("shift_id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("approval", sa.String(length=16), nullable=False),
        sa.Column("assignment_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "shift_id"],
            ["shifts.tenant_id", "shifts.id"],
            name=op.f("fk_open_shift_claims_tenant_id_shift_id_shifts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_open_shift_claims_tenant_id_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_open_shift_claims")),
    )
    op.create_index(
        op.f("ix_open_shift_claims_tenant_id_shift_id_staff_id"),
        "open_shift_claims",
        ["tenant_id", "shift_id", "staff_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_open_shift_claims_tenant_id_staff_id"), "open_shift_claims", ["tenant_id", "staff_id"]
    )
    op.create_index(
        op.f("ix_open_shift_claims_tenant_id_status"), "open_shift_claims", ["tenant_id", "status"]
    )
    rls.tenant_table("open_shift_claims", app_role, "SELECT, INSERT, UPDATE")

    op.create_table(
        "attendance_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("shift_id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.UUID(), nullable=True),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "shift_id"],
            ["shifts.tenant_id", "shifts.id"],
            name=op.f("fk_attendance_events_tenant_id_shift_id_shifts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_attendance_events_tenant_id_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_attendance_events")),
        # One clock-in and one clock-out per person and shift: imports and clocks are idempotent on it.
        sa.UniqueConstraint(
            "tenant_id",
            "shift_id",
            "staff_id",
            "kind",
            name=op.f("uq_attendance_events_tenant_id_shift_id_staff_id_kind"),
        ),
    )
    op.create_index(
        op.f("ix_attendance_events_tenant_id_staff_id_at"),
        "attendance_events",
        ["tenant_id", "staff_id", "at"],
    )
    # A correction that clears a wrong punch deletes it (the audit log keeps what it was).
    rls.tenant_table("attendance_events", app_role, "SELECT, INSERT, UPDATE, DELETE")


def downgrade(app_role: str) -> None:
    op.drop_index(op.f("ix_attendance_events_tenant_id_staff_id_at"), table_name="attendance_events")
    op.drop_table("attendance_events")
    op.drop_index(op.f("ix_open_shift_claims_tenant_id_status"), table_name="open_shift_claims")
    op.drop_index(op.f("ix_open_shift_claims_tenant_id_staff_id"), table_name="open_shift_claims")
    op.drop_index(op.f("ix_open_shift_claims_tenant_id_shift_id_staff_id"), table_name="open_shift_claims")
    op.drop_table("open_shift_claims")
    op.drop_column("contracts", "open_shift_approval")
