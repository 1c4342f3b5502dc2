"""voices: quoted user posts and messages, per-contract categories

Revision ID: 0022
Revises: 0021

A voice quotes what a user of a client's service said (a post, a review, a message), on one of the
client's contracts, alone or attached to the work item it came with (at most one per item, so a
re-ingested item upserts its voice). Its text is searched with pg_trgm, as work items are (0019), which
serves Japanese without word boundaries; its tags by containment. A contract's categories are rows of
their own; a contract with none uses the default list.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.create_table(
        "voice_categories",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label_ja", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_voice_categories_tenant_id_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_voice_categories")),
        sa.UniqueConstraint(
            "tenant_id", "contract_id", "key", name=op.f("uq_voice_categories_tenant_id_contract_id_key")
        ),
    )
    op.create_table(
        "voices",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=False),
        sa.Column("work_item_id", sa.UUID(), nullable=True),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("source_url", sa.String(length=2048), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("sentiment", sa.String(length=16), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("highlighted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("curated_by", sa.UUID(), nullable=True),
        sa.Column("curated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "sentiment IN ('positive', 'neutral', 'negative')", name=op.f("ck_voices_sentiment")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_voices_tenant_id_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "work_item_id"],
            ["work_items.tenant_id", "work_items.id"],
            name=op.f("fk_voices_tenant_id_work_item_id_work_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_voices")),
        sa.UniqueConstraint("tenant_id", "work_item_id", name=op.f("uq_voices_tenant_id_work_item_id")),
    )
    op.create_index(
        op.f("ix_voices_tenant_id_contract_id_observed_at_id"),
        "voices",
        ["tenant_id", "contract_id", "observed_at", "id"],
    )
    # pg_trgm is created by 0019.
    op.execute("CREATE INDEX ix_voices_search ON voices USING gin (text gin_trgm_ops)")
    op.execute("CREATE INDEX ix_voices_tags ON voices USING gin (tags)")
    rls.tenant_table("voice_categories", app_role)
    rls.tenant_table("voices", app_role)


def downgrade(app_role: str) -> None:
    op.drop_table("voices")
    op.drop_table("voice_categories")
