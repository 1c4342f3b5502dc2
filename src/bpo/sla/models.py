from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin


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


class SlaPeriod(Base):
    """SlaHourly summed over a span of local days of the client's zone: a day, a month, or a month to date
    (from the first of the month through ``starts_on``). A year is a few hundred rows."""

    __tablename__ = "sla_periods"
    __table_args__ = (
        # Ranges of one span are index scans; a series reads the counts from the index alone.
        PrimaryKeyConstraint(
            "tenant_id",
            "contract_id",
            "span",
            "starts_on",
            "objective",
            postgresql_include=["met", "breached", "pending"],
        ),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
    )

    tenant_id: Mapped[uuid.UUID]
    contract_id: Mapped[uuid.UUID]
    span: Mapped[str] = mapped_column(String(8))
    starts_on: Mapped[date]
    objective: Mapped[str] = mapped_column(String(300))
    met: Mapped[int] = mapped_column(BigInteger)
    breached: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[int] = mapped_column(BigInteger)
    sketch: Mapped[dict[str, int]] = mapped_column(JSONB)
    checkpoints: Mapped[dict[str, list[int]]] = mapped_column(JSONB)


class WorkPeriod(Base):
    """WorkHourly summed over a span of local days of the client's zone, as SlaPeriod."""

    __tablename__ = "work_periods"
    __table_args__ = (
        PrimaryKeyConstraint(
            "tenant_id",
            "contract_id",
            "span",
            "starts_on",
            "channel",
            postgresql_include=["received", "responded", "resolved", "units"],
        ),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
    )

    tenant_id: Mapped[uuid.UUID]
    contract_id: Mapped[uuid.UUID]
    span: Mapped[str] = mapped_column(String(8))
    starts_on: Mapped[date]
    channel: Mapped[str] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger)
    responded: Mapped[int] = mapped_column(BigInteger)
    resolved: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    outcomes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sentiments: Mapped[dict[str, Any]] = mapped_column(JSONB)


class PeriodRollupZone(Base):
    """The zone a contract's SlaPeriod and WorkPeriod rows are cut in (none: they are not built), and
    their version, raised by every refresh that rewrites any of them."""

    __tablename__ = "period_rollup_zones"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")


class Alert(Base, TenantMixin):
    """An SLA alert: an item at risk or breached, or a day below target. The unique key is what makes
    each alert, and so each webhook event, happen once however often detection runs."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "contract_id", "objective", "subject"),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
        Index(None, "tenant_id", "contract_id", "id"),
        Index(None, "tenant_id", "client_id", "id"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    contract_id: Mapped[uuid.UUID]
    client_id: Mapped[uuid.UUID]
    objective: Mapped[str] = mapped_column(String(300))
    # The work item's id, or the local day (ISO date) of a daily alert.
    subject: Mapped[str] = mapped_column(String(64))
    work_item_id: Mapped[uuid.UUID | None]
    day: Mapped[date | None]
    occurred_at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AlertSweep(Base):
    """How far the tenant's periodic alert detection has looked: the next sweep starts there."""

    __tablename__ = "alert_sweeps"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    swept_until: Mapped[datetime]
