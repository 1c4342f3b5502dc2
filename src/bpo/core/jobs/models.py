"""The job tables: the outbox (jobs written with the change that needs them) and the runs whose effect
has been committed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin


class OutboxMessage(Base, TenantMixin):
    """A job written in the transaction of the change that needs it, relayed to the broker after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "tenant_id", "created_at", postgresql_where=text("sent_at IS NULL")),
        Index(
            "ix_outbox_in_flight",
            "tenant_id",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL AND completed_at IS NULL"),
        ),
    )

    actor: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default="0")
    # Set by the job's own transaction (with its job_runs row): a relayed job not completed and no
    # longer held by the broker was lost there, and is sent again.
    completed_at: Mapped[datetime | None]


class JobRun(Base):
    """A job whose effect has been committed; its row is written in the same transaction as the effect."""

    __tablename__ = "job_runs"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[datetime] = mapped_column(server_default=func.now())
