from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.db.base import Base, TenantMixin


class OutboxMessage(Base, TenantMixin):
    """A job written in the transaction of the change that needs it, relayed to the broker after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "tenant_id", "created_at", postgresql_where=text("sent_at IS NULL")),
    )

    actor: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(100))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default="0")


class JobRun(Base):
    """A job whose effect has been committed; its row is written in the same transaction as the effect."""

    __tablename__ = "job_runs"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[datetime] = mapped_column(server_default=func.now())
