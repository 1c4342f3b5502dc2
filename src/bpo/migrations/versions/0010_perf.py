"""sla rollups per local day and month

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sla_periods", "work_periods", "period_rollup_zones")


def _contract_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "contract_id"],
        ["contracts.tenant_id", "contracts.id"],
        name=op.f(f"fk_{table}_tenant_id_contract_id_contracts"),
    )


def upgrade(app_role: str) -> None:
    # Left empty: a contract without a period_rollup_zones row is read from the hourly rollups, and its
    # next refresh (`bpo sla rebuild` for an idle one) builds its periods.
    op.create_table(
        "sla_periods",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("objective", sa.String(length=300), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("met", sa.BigInteger(), nullable=False),
        sa.Column("breached", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=False),
        sa.Column("sketch", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("checkpoints", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _contract_key("sla_periods"),
        # Ranges of one span are index scans; a series reads the counts from the index alone.
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "contract_id",
            "span",
            "starts_on",
            "objective",
            name=op.f("pk_sla_periods"),
            postgresql_include=["met", "breached", "pending"],
        ),
    )
    op.create_table(
        "work_periods",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("span", sa.String(length=8), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("responded", sa.BigInteger(), nullable=False),
        sa.Column("resolved", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sentiments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _contract_key("work_periods"),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "contract_id",
            "span",
            "starts_on",
            "channel",
            name=op.f("pk_work_periods"),
            postgresql_include=["received", "responded", "resolved", "units"],
        ),
    )
    op.create_table(
        "period_rollup_zones",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="1", nullable=False),
        _contract_key("period_rollup_zones"),
        sa.PrimaryKeyConstraint("tenant_id", "contract_id", name=op.f("pk_period_rollup_zones")),
    )
    for table in TABLES:
        rls.tenant_table(table, app_role)


def downgrade(app_role: str) -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
