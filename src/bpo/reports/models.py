"""Scheduled client reports: what each client receives and when, and every report made."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PGUUID
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin, Timestamps


class ReportSubscription(Base, TenantMixin, Timestamps):
    """A client's weekly or monthly report: when it goes (local day and time in a zone), in which language,
    to whom (the client's viewers and extra addresses) and about which contracts (all when empty)."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_id", "cadence"),
        ForeignKeyConstraint(
            ["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"
        ),
        CheckConstraint("cadence IN ('weekly', 'monthly')", name="cadence"),
        CheckConstraint(
            "(cadence = 'weekly' AND weekday BETWEEN 1 AND 7 AND day_of_month IS NULL)"
            " OR (cadence = 'monthly' AND day_of_month BETWEEN 1 AND 28 AND weekday IS NULL)",
            name="when",
        ),
    )

    client_id: Mapped[uuid.UUID]
    cadence: Mapped[str] = mapped_column(String(16))
    # ISO weekday (1 = Monday) of a weekly report; day of the month (1 to 28) of a monthly one.
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    day_of_month: Mapped[int | None] = mapped_column(SmallInteger)
    send_at: Mapped[time]
    time_zone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    include_viewers: Mapped[bool] = mapped_column(server_default="true")
    extra_recipients: Mapped[list[str]] = mapped_column(ARRAY(String(254)), server_default="{}")
    contract_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(PGUUID(as_uuid=True)), server_default="{}")
    active: Mapped[bool] = mapped_column(server_default="true")


class Report(Base, TenantMixin):
    """One client's report for one period (``2026-W48`` or ``2026-11``): made once, made again in place by a
    back-fill or a re-run (never a second mail), its numbers kept as they were measured."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_id", "period"),
        ForeignKeyConstraint(
            ["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"
        ),
        CheckConstraint("cadence IN ('weekly', 'monthly')", name="cadence"),
        Index(None, "tenant_id", "client_id", "period_start"),
        Index(None, "tenant_id", "period_start", "id"),
    )

    client_id: Mapped[uuid.UUID]
    subscription_id: Mapped[uuid.UUID | None]
    cadence: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date]
    period_end: Mapped[date]
    time_zone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    generations: Mapped[int] = mapped_column(server_default="1")
    generated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
