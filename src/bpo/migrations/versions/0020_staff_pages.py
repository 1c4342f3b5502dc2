"""staff pages: password changes and resets, availability and preferences

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    # A one-time password (printed by `bpo tenants apply`) must be replaced at the first sign-in.
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # When a person would rather work: weekly windows in their home zone, read by the solver's soft rule.
    op.add_column("staff", sa.Column("preferred_times", postgresql.JSONB(), nullable=True))
    op.create_table(
        "password_resets",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        # Only the hash of the token the mail carries.
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_password_resets_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_password_resets_tenant_id_token_hash")),
    )
    op.create_index(op.f("ix_password_resets_tenant_id_user_id"), "password_resets", ["tenant_id", "user_id"])
    rls.tenant_table("password_resets", app_role, "SELECT, INSERT, UPDATE")


def downgrade(app_role: str) -> None:
    op.drop_index(op.f("ix_password_resets_tenant_id_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_column("staff", "preferred_times")
    op.drop_column("users", "must_change_password")
