"""languages: each user's language, each tenant's default

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.add_column(
        "tenants", sa.Column("default_language", sa.String(length=2), server_default="ja", nullable=False)
    )
    # Operators outside Japan read English unless they say otherwise.
    op.execute("UPDATE tenants SET default_language = 'en' WHERE time_zone NOT IN ('Asia/Tokyo', 'Japan')")
    op.create_check_constraint("default_language", "tenants", "default_language IN ('ja', 'en')")
    # Null: the user reads the tenant's default language.
    op.add_column("users", sa.Column("language", sa.String(length=2), nullable=True))
    op.create_check_constraint("language", "users", "language IN ('ja', 'en')")


def downgrade(app_role: str) -> None:
    op.drop_constraint("ck_users_language", "users", type_="check")
    op.drop_column("users", "language")
    op.drop_constraint("ck_tenants_default_language", "tenants", type_="check")
    op.drop_column("tenants", "default_language")
