"""staffing

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "staffing_settings",
    "staff",
    "time_off",
    "shifts",
    "assignments",
    "schedule_runs",
    "swap_requests",
    "calendar_feeds",
)


def upgrade(app_role: str) -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("contract_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("replan", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("time_limit_s", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_schedule_runs")),
    )
    op.create_index(
        op.f("ix_schedule_runs_tenant_id_created_at"),
        "schedule_runs",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "staffing_settings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("min_rest_hours", sa.Float(), server_default="11", nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_staffing_settings")),
    )
    op.create_table(
        "staff",
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("employment_type", sa.String(length=16), nullable=False),
        sa.Column("home_zone", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("skills", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("languages", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("site_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("trained_contract_ids", postgresql.ARRAY(sa.UUID()), nullable=True),
        sa.Column("excluded_contract_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("weekly_hour_cap", sa.Float(), server_default="40", nullable=False),
        sa.Column("contracted_hours", sa.Float(), nullable=True),
        sa.Column("hourly_cost", sa.BigInteger(), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=True),
        sa.Column("availability", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_staff_tenant_id_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_staff")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_staff_tenant_id_code")),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f("uq_staff_tenant_id_user_id")),
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_calendar_feeds_tenant_id_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_calendar_feeds_tenant_id_token_hash")),
    )
    op.create_index(
        op.f("ix_calendar_feeds_tenant_id_staff_id"),
        "calendar_feeds",
        ["tenant_id", "staff_id"],
        unique=False,
    )
    op.create_table(
        "shifts",
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.UUID(), nullable=True),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("skills", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("languages", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("coverage_line", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_shifts_tenant_id_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "site_id"],
            ["sites.tenant_id", "sites.id"],
            name=op.f("fk_shifts_tenant_id_site_id_sites"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_shifts")),
        sa.UniqueConstraint(
            "tenant_id",
            "contract_id",
            "coverage_line",
            "starts_at",
            "ends_at",
            name=op.f("uq_shifts_tenant_id_contract_id_coverage_line_starts_at_ends_at"),
        ),
    )
    op.create_index(
        op.f("ix_shifts_tenant_id_contract_id_starts_at"),
        "shifts",
        ["tenant_id", "contract_id", "starts_at"],
        unique=False,
    )
    op.create_index(op.f("ix_shifts_tenant_id_starts_at"), "shifts", ["tenant_id", "starts_at"], unique=False)
    op.create_table(
        "swap_requests",
        sa.Column("assignment_id", sa.UUID(), nullable=False),
        sa.Column("requester_staff_id", sa.UUID(), nullable=False),
        sa.Column("counterpart_staff_id", sa.UUID(), nullable=False),
        sa.Column("counterpart_assignment_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="requested", nullable=False),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "counterpart_staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_swap_requests_tenant_id_counterpart_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "requester_staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_swap_requests_tenant_id_requester_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_swap_requests")),
    )
    op.create_index(
        op.f("ix_swap_requests_tenant_id_counterpart_staff_id"),
        "swap_requests",
        ["tenant_id", "counterpart_staff_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_swap_requests_tenant_id_requester_staff_id"),
        "swap_requests",
        ["tenant_id", "requester_staff_id"],
        unique=False,
    )
    op.create_table(
        "time_off",
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_time_off_tenant_id_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_time_off")),
    )
    op.create_index(
        op.f("ix_time_off_tenant_id_staff_id_starts_at"),
        "time_off",
        ["tenant_id", "staff_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "assignments",
        sa.Column("shift_id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "shift_id"],
            ["shifts.tenant_id", "shifts.id"],
            name=op.f("fk_assignments_tenant_id_shift_id_shifts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_assignments_tenant_id_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_assignments")),
        sa.UniqueConstraint(
            "tenant_id", "shift_id", "staff_id", name=op.f("uq_assignments_tenant_id_shift_id_staff_id")
        ),
    )
    op.create_index(
        op.f("ix_assignments_tenant_id_staff_id"), "assignments", ["tenant_id", "staff_id"], unique=False
    )
    for table in TABLES:
        rls.tenant_table(table, app_role)


def downgrade(app_role: str) -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
