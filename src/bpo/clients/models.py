from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKeyConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin, Timestamps


class Site(Base, TenantMixin, Timestamps):
    """An office: the operator's own, or a client's where staff are stationed."""

    __tablename__ = "sites"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[uuid.UUID | None]
    time_zone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(500), server_default="")
    seat_capacity: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), server_default="active")


class BusinessCalendar(Base, TenantMixin, Timestamps):
    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    # Weekly windows [{"days": [...], "start": "08:00", "end": "25:30"}], validated by the schema.
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))
    # [{"date": "2026-12-31", "windows": [{"start": "10:00", "end": "15:00"}]}], [] windows = closed.
    exceptions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(16), server_default="active")


class Client(Base, TenantMixin, Timestamps):
    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("language IN ('ja', 'en')", name="language"),
        CheckConstraint("tax_class IN ('standard', 'reduced', 'exempt')", name="tax_class"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str] = mapped_column(String(300), server_default="")
    billing_contact_name: Mapped[str] = mapped_column(String(200), server_default="")
    billing_email: Mapped[str] = mapped_column(String(254), server_default="")
    currency: Mapped[str] = mapped_column(String(3))
    time_zone: Mapped[str] = mapped_column(String(64))
    # What the client's people read (invoice mail, reports); null follows the tenant's default language.
    language: Mapped[str | None] = mapped_column(String(2))
    # Invoice settings: closing day (31 = month end) and when payment is due after closing.
    closing_day: Mapped[int] = mapped_column(server_default="31")
    payment_month_offset: Mapped[int] = mapped_column(server_default="1")
    payment_day: Mapped[int] = mapped_column(server_default="31")
    # Closing days of earlier periods, [{"through": "2026-11-01", "closing_day": 20}] (``clients.periods``):
    # ``closing_day`` cuts the periods after the last one named here.
    closing_day_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    # Consumption tax of its invoice lines (``schemas.TaxClass``): exempt for an overseas client.
    tax_class: Mapped[str] = mapped_column(String(16), server_default="standard")
    status: Mapped[str] = mapped_column(String(16), server_default="active")


class Service(Base, TenantMixin, Timestamps):
    """A client's consumer service the operator works on (Rakuten Recipe, Pairs, …)."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_id", "code"),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
    )

    client_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), server_default="")
    status: Mapped[str] = mapped_column(String(16), server_default="active")


class Contract(Base, TenantMixin, Timestamps):
    """One service x one work type: what is done, when it must be staffed, how it is measured."""

    __tablename__ = "contracts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
        ForeignKeyConstraint(["tenant_id", "service_id"], ["services.tenant_id", "services.id"]),
        ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"]),
        ForeignKeyConstraint(["tenant_id", "calendar_id"], ["calendars.tenant_id", "calendars.id"]),
        Index(None, "tenant_id", "client_id"),
    )

    client_id: Mapped[uuid.UUID]
    service_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    work_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    staffing_mode: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[uuid.UUID | None]
    calendar_id: Mapped[uuid.UUID]
    # [{"days": [...], "start": "08:00", "end": "25:30", "headcount": 10, "skills": [], "languages": []}]
    coverage: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    expected_monthly_volume: Mapped[int | None]
    billable_event: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    # Who approves a staff member's claim of an open shift: supervisor | auto.
    open_shift_approval: Mapped[str] = mapped_column(String(16), server_default="supervisor")


class SlaPolicy(Base, TenantMixin):
    """A version of a contract's SLA objectives, in force from ``effective_from`` until the next one."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "effective_from"),
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"], ondelete="CASCADE"
        ),
    )

    contract_id: Mapped[uuid.UUID]
    effective_from: Mapped[date] = mapped_column(Date)
    objectives: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[uuid.UUID | None]


class RatePlan(Base, TenantMixin):
    """A version of a contract's prices, in force from ``effective_from`` until the next version."""

    __tablename__ = "rate_plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "effective_from"),
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"], ondelete="CASCADE"
        ),
    )

    contract_id: Mapped[uuid.UUID]
    effective_from: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    charges: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    minimum_commitment: Mapped[int | None]
    service_credits: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    # What the usage charges count besides the contract's billable event, and night and holiday surcharges.
    meters: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    surcharges: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[uuid.UUID | None]
