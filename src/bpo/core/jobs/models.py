"""The job tables: the outbox (jobs written with the change that needs them), the runs whose effect
has been committed, and the failures operators look at (the dead-letter view)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, func, text
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
    # Set when the job is over: by its own transaction (with its job_runs row), or when it failed for good
    # (with its job_failures row). A relayed job not completed and no longer held by the broker was lost
    # there, and is sent again.
    completed_at: Mapped[datetime | None]


class JobRun(Base):
    """A job whose effect has been committed; its row is written in the same transaction as the effect."""

    __tablename__ = "job_runs"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    completed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class JobFailure(Base, TenantMixin):
    """A job that failed for good on one object: the object of the job (an invoice run, a contract's
    refresh) or one item of a tenant-wide job (a contract in the minutely SLA sweep). Open until a later
    run of the same job succeeds on the object; a failure that recurs meanwhile (a sweep every minute)
    updates the open row, and ``attempts`` counts every failed attempt."""

    __tablename__ = "job_failures"
    __table_args__ = (
        Index(
            "uq_job_failures_open",
            "tenant_id",
            "job",
            "object_type",
            "object_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    job: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID]
    # The last run (job id) that failed on the object.
    job_id: Mapped[uuid.UUID]
    cause: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int]
    error: Mapped[str] = mapped_column(Text)
    first_failed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_failed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    resolved_at: Mapped[datetime | None]
