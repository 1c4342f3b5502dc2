from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.db.base import Base, TenantMixin


class Invoice(Base, TenantMixin):
    """A client's invoice for one month, or a credit note correcting a finalized one.

    Client, operator and payment-term fields are snapshots taken when the draft is computed, so a
    finalized invoice reads the same after the client is renamed."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
        ForeignKeyConstraint(["tenant_id", "corrects_invoice_id"], ["invoices.tenant_id", "invoices.id"]),
        # One live invoice per client and month: re-running a period rewrites the draft, never adds one.
        Index(
            "uq_invoices_live_per_period",
            "tenant_id",
            "client_id",
            "period",
            unique=True,
            postgresql_where=text("kind = 'invoice' AND status <> 'void'"),
        ),
        Index(None, "tenant_id", "period", "status"),
    )

    client_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(32))
    period: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    registration_number: Mapped[str | None] = mapped_column(String(32))
    client_name: Mapped[str] = mapped_column(String(200))
    client_legal_name: Mapped[str] = mapped_column(String(300))
    payment_terms: Mapped[str] = mapped_column(String(200))
    corrects_invoice_id: Mapped[uuid.UUID | None]
    run_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    finalized_at: Mapped[datetime | None]
    status_changed_at: Mapped[datetime | None]


class InvoiceLine(Base, TenantMixin):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "invoice_id", "position"),
        ForeignKeyConstraint(
            ["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
    )

    invoice_id: Mapped[uuid.UUID]
    position: Mapped[int]
    contract_id: Mapped[uuid.UUID | None]
    contract_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    amount: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    tier: Mapped[int | None]


class InvoiceCounter(Base):
    """The last number issued per tenant, series (INV, CN) and year. Incremented by an upsert inside the
    finalizing transaction, whose row lock serialises finalizations; a rollback returns the number."""

    __tablename__ = "invoice_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last_number: Mapped[int]


class InvoiceRun(Base, TenantMixin):
    """A month-end run: queued by the API, done by the ``billing.run_period`` job."""

    __tablename__ = "invoice_runs"
    __table_args__ = (Index(None, "tenant_id", "period"),)

    period: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
