from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    func,
    text,
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
    # The exact sum of those seconds (their count is the sketch's total): averages come from it, never
    # from the sketch. NULL on rows written before it was kept, until they are rebuilt.
    elapsed_sum: Mapped[Decimal | None] = mapped_column(Numeric)
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
    # CSAT ratings of the hour's items, counted per score: {"1": n, …, "5": n}.
    csat: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'"))


class RollupBatch(Base):
    """An ingest batch's changes to one hour of a contract that its hourly rows do not hold yet: written
    with the items, in the same transaction, and taken (deleted) by the statement that reads those items
    into the rows. A batch of new items only is added to the hour's rows; one that changed items already
    there has the hour measured again from all its items."""

    __tablename__ = "rollup_batches"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    # The batch's id: the items it created have ids from it (their last 16 bits are their position).
    batch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Whether it changed items that were already stored (their old numbers are in the hour's rows).
    changed: Mapped[bool]


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
    elapsed_sum: Mapped[Decimal | None] = mapped_column(Numeric)
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
    csat: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'"))


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
        ForeignKeyConstraint(["tenant_id", "assignee_id"], ["users.tenant_id", "users.id"]),
        CheckConstraint("state IN ('open', 'acknowledged', 'assigned', 'resolved')", name="state"),
        Index(None, "tenant_id", "contract_id", "id"),
        Index(None, "tenant_id", "client_id", "id"),
        Index("ix_alerts_unresolved", "tenant_id", "id", postgresql_where=text("state <> 'resolved'")),
        Index(
            "ix_alerts_assignee",
            "tenant_id",
            "assignee_id",
            "id",
            postgresql_where=text("assignee_id IS NOT NULL"),
        ),
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
    # open → acknowledged → assigned → resolved (alert_handling); the supervisor it is assigned to.
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    assignee_id: Mapped[uuid.UUID | None]
    state_changed_at: Mapped[datetime | None]


class AlertEvent(Base, TenantMixin):
    """One step of an alert's handling: who acknowledged, assigned (to whom) or resolved it (with a note),
    and when. Raising is the alert's own ``created_at``."""

    __tablename__ = "alert_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "alert_id"], ["alerts.tenant_id", "alerts.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "actor_id"], ["users.tenant_id", "users.id"]),
        ForeignKeyConstraint(["tenant_id", "assignee_id"], ["users.tenant_id", "users.id"]),
        Index(None, "tenant_id", "alert_id", "id"),
        CheckConstraint("action IN ('acknowledged', 'assigned', 'resolved')", name="action"),
    )

    alert_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    assignee_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class NpsResponse(Base, TenantMixin):
    """One answer to a contract's NPS survey ("how likely are you to recommend…", 0-10), keyed by the
    client system's id so a resend changes nothing."""

    __tablename__ = "nps_responses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "external_id"),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        Index(None, "tenant_id", "contract_id", "responded_at"),
        CheckConstraint("score BETWEEN 0 AND 10", name="score"),
    )

    contract_id: Mapped[uuid.UUID]
    external_id: Mapped[str] = mapped_column(String(200))
    score: Mapped[int]
    responded_at: Mapped[datetime]
    comment: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AlertSweep(Base):
    """How far the tenant's periodic alert detection has looked: the next sweep starts there."""

    __tablename__ = "alert_sweeps"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    swept_until: Mapped[datetime]
