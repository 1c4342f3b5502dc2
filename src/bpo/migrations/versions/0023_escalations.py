"""escalations: raised on work items, notification rules per contract, acknowledgement

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITIES = "severity IN ('critical', 'high', 'normal')"


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade(app_role: str) -> None:
    # Who at the client hears of an escalation of each severity, and how soon it must be acknowledged. A
    # contract without a row for a severity follows the defaults (work.escalation_rules.DEFAULT_RULES).
    op.create_table(
        "escalation_rules",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("notify_viewers", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "extra_recipients", postgresql.ARRAY(sa.String(length=254)), server_default="{}", nullable=False
        ),
        sa.Column("acknowledge_within_minutes", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(SEVERITIES, name=op.f("ck_escalation_rules_severity")),
        sa.CheckConstraint("acknowledge_within_minutes > 0", name=op.f("ck_escalation_rules_minutes")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_escalation_rules_tenant_id_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_escalation_rules")),
        sa.UniqueConstraint(
            "tenant_id",
            "contract_id",
            "severity",
            name=op.f("uq_escalation_rules_tenant_id_contract_id_severity"),
        ),
    )
    op.create_table(
        "escalations",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("work_item_id", sa.UUID(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("recommended_action", sa.String(length=2000), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_by", sa.UUID(), nullable=True),
        sa.Column("raised_by_name", sa.String(length=254), server_default="", nullable=False),
        # The rule's target when it was raised: a later change of the rule moves no deadline.
        sa.Column("acknowledge_within_minutes", sa.Integer(), nullable=False),
        sa.Column("acknowledge_due_at", sa.DateTime(timezone=True), nullable=False),
        # Notices sent to the client so far, and when the sweep looks at it next (null once settled).
        sa.Column("notices", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.UUID(), nullable=True),
        sa.Column("acknowledged_by_name", sa.String(length=254), nullable=True),
        sa.Column("acknowledged_via", sa.String(length=16), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.UUID(), nullable=True),
        sa.Column("resolved_by_name", sa.String(length=254), nullable=True),
        sa.Column("resolution_note", sa.String(length=2000), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(SEVERITIES, name=op.f("ck_escalations_severity")),
        sa.CheckConstraint(
            "state IN ('open', 'overdue', 'acknowledged', 'resolved')", name=op.f("ck_escalations_state")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_escalations_tenant_id_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_escalations_tenant_id_client_id_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "work_item_id"],
            ["work_items.tenant_id", "work_items.id"],
            name=op.f("fk_escalations_tenant_id_work_item_id_work_items"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_escalations")),
    )
    # Newest first, for the tenant, a client and a contract; the sweep reads only the unsettled ones.
    op.create_index("ix_escalations_tenant_id_raised_at_id", "escalations", ["tenant_id", "raised_at", "id"])
    op.create_index(
        "ix_escalations_tenant_id_client_id_raised_at", "escalations", ["tenant_id", "client_id", "raised_at"]
    )
    op.create_index(
        "ix_escalations_tenant_id_contract_id_raised_at",
        "escalations",
        ["tenant_id", "contract_id", "raised_at"],
    )
    op.create_index(
        "ix_escalations_tenant_id_next_check_at",
        "escalations",
        ["tenant_id", "next_check_at"],
        postgresql_where=sa.text("next_check_at IS NOT NULL"),
    )
    op.create_table(
        "escalation_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("escalation_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("actor_name", sa.String(length=254), server_default="", nullable=False),
        sa.Column("detail", sa.String(length=2000), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "escalation_id"],
            ["escalations.tenant_id", "escalations.id"],
            name=op.f("fk_escalation_events_tenant_id_escalation_id_escalations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_escalation_events")),
    )
    op.create_index(
        "ix_escalation_events_tenant_id_escalation_id_at",
        "escalation_events",
        ["tenant_id", "escalation_id", "at"],
    )
    # One-click acknowledgement links: only the hash of the token a mail carries.
    op.create_table(
        "escalation_links",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("escalation_id", sa.UUID(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "escalation_id"],
            ["escalations.tenant_id", "escalations.id"],
            name=op.f("fk_escalation_links_tenant_id_escalation_id_escalations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_escalation_links")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_escalation_links_tenant_id_token_hash")),
    )
    op.create_index(
        "ix_escalation_links_tenant_id_escalation_id", "escalation_links", ["tenant_id", "escalation_id"]
    )
    rls.tenant_table("escalation_rules", app_role, "SELECT, INSERT, UPDATE, DELETE")
    rls.tenant_table("escalations", app_role, "SELECT, INSERT, UPDATE")
    rls.tenant_table("escalation_events", app_role, "SELECT, INSERT")
    rls.tenant_table("escalation_links", app_role, "SELECT, INSERT, UPDATE")


def downgrade(app_role: str) -> None:
    op.drop_table("escalation_links")
    op.drop_table("escalation_events")
    op.drop_table("escalations")
    op.drop_table("escalation_rules")
