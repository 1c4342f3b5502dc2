"""work-item search: trigram and filter indexes

Revision ID: 0019
Revises: 0018

``GET /v1/work-items`` searches an item's summary and voice text (``attributes.summary``,
``attributes.voice``) with pg_trgm, which needs no word boundaries and so serves Japanese as well as
English; tags (``attributes.tags``) are matched by containment. Both are expression indexes on
``work_items``: under Citus each shard of the table gets its own, like every other index here.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same expression as bpo.work.search.SEARCH_TEXT: PostgreSQL uses an expression index only for a query
# that repeats the expression exactly.
SEARCH_TEXT = "(coalesce(attributes ->> 'summary', '') || ' ' || coalesce(attributes ->> 'voice', ''))"


def upgrade(app_role: str) -> None:
    available = (
        op.get_bind()
        .execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"))
        .scalar_one()
    )
    if not available:
        raise RuntimeError(
            "PostgreSQL lacks the pg_trgm extension, which work-item search needs: install the server's "
            "contrib package (Debian: postgresql-contrib; RDS and the embedded server include it)"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX ix_work_items_search ON work_items USING gin ({SEARCH_TEXT} gin_trgm_ops)")
    op.execute(
        "CREATE INDEX ix_work_items_tags ON work_items USING gin ((attributes -> 'tags') jsonb_path_ops)"
    )


def downgrade(app_role: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_work_items_tags")
    op.execute("DROP INDEX IF EXISTS ix_work_items_search")
