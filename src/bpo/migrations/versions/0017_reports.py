"""scheduled client reports: subscriptions per client and the reports made

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.create_table(
        "report_subscriptions",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=True),
        sa.Column("day_of_month", sa.SmallInteger(), nullable=True),
        sa.Column("send_at", sa.Time(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("include_viewers", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "extra_recipients", postgresql.ARRAY(sa.String(length=254)), server_default="{}", nullable=False
        ),
        sa.Column("contract_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("cadence IN ('weekly', 'monthly')", name=op.f("ck_report_subscriptions_cadence")),
        sa.CheckConstraint(
            "(cadence = 'weekly' AND weekday BETWEEN 1 AND 7 AND day_of_month IS NULL)"
            " OR (cadence = 'monthly' AND day_of_month BETWEEN 1 AND 28 AND weekday IS NULL)",
            name=op.f("ck_report_subscriptions_when"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_report_subscriptions_tenant_id_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_subscriptions")),
        sa.UniqueConstraint(
            "tenant_id",
            "client_id",
            "cadence",
            name=op.f("uq_report_subscriptions_tenant_id_client_id_cadence"),
        ),
    )
    op.create_table(
        "reports",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=True),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("generations", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "generated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("cadence IN ('weekly', 'monthly')", name=op.f("ck_reports_cadence")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_reports_tenant_id_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "tenant_id", "client_id", "period", name=op.f("uq_reports_tenant_id_client_id_period")
        ),
    )
    op.create_index(
        "ix_reports_tenant_id_client_id_period_start", "reports", ["tenant_id", "client_id", "period_start"]
    )
    op.create_index("ix_reports_tenant_id_period_start_id", "reports", ["tenant_id", "period_start", "id"])
    rls.tenant_table("report_subscriptions", app_role, "SELECT, INSERT, UPDATE, DELETE")
    rls.tenant_table("reports", app_role, "SELECT, INSERT, UPDATE")


def downgrade(app_role: str) -> None:
    op.drop_table("reports")
    op.drop_table("report_subscriptions")
