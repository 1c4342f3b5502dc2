from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
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

from bpo.core.orm import Base, TenantMixin


class Invoice(Base, TenantMixin):
    """A client's invoice for one billing period, or a credit note correcting a finalized one.

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
    # The month the billing period is named after (its first day); the period itself runs from
    # ``period_start`` to ``period_end``, cut by the client's closing day.
    period: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
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
    # The tenant's address and bank account (``schemas.BillingIssuer``) as of finalization; None on drafts.
    issuer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Consumption tax per rate (``schemas.InvoiceTaxSubtotal``): the lines' total at each rate and its tax,
    # rounded once per rate; ``tax`` is their sum.
    taxes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
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
        CheckConstraint("tax_class IN ('standard', 'reduced', 'exempt')", name="tax_class"),
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
    # Its consumption tax class (``clients.schemas.TaxClass``); the rate is the invoice's for that class.
    tax_class: Mapped[str] = mapped_column(String(16), server_default="standard")


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
    # A scheduled run bills the clients whose period closed on this day; None: every client.
    closed_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]


class BillingSettings(Base):
    """A tenant's tax terms. No row: the defaults (10%, rounded down once per invoice)."""

    __tablename__ = "billing_settings"
    __table_args__ = (
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 1", name="tax_rate"),
        CheckConstraint("tax_rounding IN ('floor', 'half_up')", name="tax_rounding"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), server_default="0.10")
    tax_rounding: Mapped[str] = mapped_column(String(16), server_default="floor")
    # Address and bank account printed on invoices (``schemas.BillingIssuer``); {} when not given.
    issuer: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class StripeAccount(Base):
    """Connected account -> tenant: a platform table (see migration 0008 for its row-level policies), so
    a webhook can find its tenant before any tenant is set. ``tenant`` is deliberately not ``tenant_id``:
    the table is replicated, not sharded by tenant."""

    __tablename__ = "stripe_accounts"

    account_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StripeCustomer(Base):
    __tablename__ = "stripe_customers"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StripeInvoice(Base):
    """Our invoice as pushed to Stripe, and the Stripe state last applied from a webhook."""

    __tablename__ = "stripe_invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "stripe_account_id", "stripe_invoice_id"),
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"]),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255))
    stripe_invoice_id: Mapped[str] = mapped_column(String(255))
    stripe_status: Mapped[str] = mapped_column(String(32))
    amount_due: Mapped[int] = mapped_column(BigInteger)
    # Stripe's page where the client pays the invoice.
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(2000))
    # ``created`` of the last event applied: an older one arriving later changes nothing.
    last_event_created: Mapped[datetime | None]
    pushed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StripeEvent(Base):
    """Every Stripe event received for the tenant, once: its id is the key a redelivery collides with."""

    __tablename__ = "stripe_events"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime]
    invoice_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Payment(Base, TenantMixin):
    """A payment (or failed attempt) on an invoice, as Stripe reported it."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "stripe_event_id"),
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"]),
        Index(None, "tenant_id", "invoice_id"),
        Index(
            "uq_payments_one_success",
            "tenant_id",
            "invoice_id",
            unique=True,
            postgresql_where=text("status = 'succeeded'"),
        ),
    )

    invoice_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stripe_event_id: Mapped[str] = mapped_column(String(255))
    stripe_invoice_id: Mapped[str] = mapped_column(String(255))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StripeReconciliation(Base, TenantMixin):
    """One comparison of our issued invoices with the connected account's, and what did not match."""

    __tablename__ = "stripe_reconciliations"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    stripe_account_id: Mapped[str] = mapped_column(String(255))
    checked: Mapped[int]
    mismatches: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
