"""clients: the language their people read (mail, reports); null follows the tenant's default

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.add_column("clients", sa.Column("language", sa.String(length=2), nullable=True))
    op.create_check_constraint("language", "clients", "language IN ('ja', 'en')")


def downgrade(app_role: str) -> None:
    op.drop_constraint("ck_clients_language", "clients", type_="check")
    op.drop_column("clients", "language")
