from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin


class WorkItem(Base, TenantMixin):
    """One unit of work from a client's system (an email, a chat, a post to patrol, an ad order)."""

    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "external_id"),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        Index(None, "tenant_id", "contract_id", "received_at"),
        CheckConstraint("csat BETWEEN 1 AND 5", name="csat"),
    )

    contract_id: Mapped[uuid.UUID]
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(32))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    units: Mapped[int] = mapped_column(server_default="1")
    # The requester's satisfaction rating (1-5), and when handling it started and finished (handle time).
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    started_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
