"""hourly rollups follow ingest by adding a batch's new items

An ingest batch records, in the same transaction as its items, each hour of a contract it changed and
whether it only added items there. The refresh after it adds the new items' numbers to the hour's rows
instead of measuring all the hour's items again; an hour where items changed is measured again whole.

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bpo.migrations import rls

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.create_table(
        "rollup_batches",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.UUID(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_rollup_batches_tenant_id_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "contract_id", "hour", "batch_id", name=op.f("pk_rollup_batches")
        ),
    )
    rls.tenant_table("rollup_batches", app_role)


def downgrade(app_role: str) -> None:
    op.drop_table("rollup_batches")
