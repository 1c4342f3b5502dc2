from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.db.base import Base


class SlaHourly(Base):
    """Per contract x objective x hour of receipt (UTC): what dashboards read instead of raw items."""

    __tablename__ = "sla_hourly"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        Index(
            "ix_sla_hourly_due", "tenant_id", "next_change_at", postgresql_where="next_change_at IS NOT NULL"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    objective: Mapped[str] = mapped_column(String(300), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    met: Mapped[int]
    breached: Mapped[int]
    pending: Mapped[int]
    # LatencySketch.to_json() of answered items' elapsed seconds (mergeable by adding counts).
    sketch: Mapped[dict[str, int]] = mapped_column(JSONB)
    # {"<checkpoint seconds>": [within, eligible]}, additive across hours.
    checkpoints: Mapped[dict[str, list[int]]] = mapped_column(JSONB)
    # When time alone next changes these numbers (a pending item breaching, passing a checkpoint).
    next_change_at: Mapped[datetime | None]
    refreshed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WorkHourly(Base):
    """Volumes per contract x hour of receipt (UTC) x channel."""

    __tablename__ = "work_hourly"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    received: Mapped[int]
    responded: Mapped[int]
    resolved: Mapped[int]
    units: Mapped[int]
    outcomes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sentiments: Mapped[dict[str, Any]] = mapped_column(JSONB)
