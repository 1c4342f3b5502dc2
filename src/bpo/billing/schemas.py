from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class RunStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class Money(msgspec.Struct, kw_only=True):
    amount: int
    currency: str


class DailyUsage(msgspec.Struct, kw_only=True):
    date: date
    units: int


class Usage(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    billable_event: str
    time_zone: str
    start: date
    end: date
    units: int
    days: list[DailyUsage]


class InvoiceLine(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    position: int
    contract_id: uuid.UUID | None
    contract_code: str
    kind: str
    code: str
    description: str
    # Exact decimals, as strings: unit prices are minor units per unit and may carry fractions.
    quantity: Decimal
    unit_price: Decimal
    amount: Money
    period_start: date
    period_end: date
    tier: int | None


class InvoiceSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    kind: InvoiceKind
    status: InvoiceStatus
    number: str | None
    period: date
    subtotal: Money
    tax: Money
    total: Money
    tax_rate: Decimal
    issued_on: date
    due_on: date
    corrects_invoice_id: uuid.UUID | None
    created_at: datetime
    finalized_at: datetime | None


class Invoice(InvoiceSummary, kw_only=True):
    registration_number: str | None
    client_name: str
    client_legal_name: str
    payment_terms: str
    lines: list[InvoiceLine]


class InvoicePage(msgspec.Struct, kw_only=True):
    items: list[InvoiceSummary]
    next_cursor: str | None


class CreditLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    # Positive minor units to credit (before tax).
    amount: Annotated[int, msgspec.Meta(gt=0)]
    contract_id: uuid.UUID | None = None
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "credit"


class CreditNoteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Either ``lines`` to credit, or ``full_reversal``: every line of the invoice negated."""

    lines: list[CreditLine] = []
    full_reversal: bool = False


class InvoiceRunCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    period: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]


class InvoiceRun(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    period: date
    status: RunStatus
    result: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


class RunResult(msgspec.Struct, kw_only=True):
    clients: int = 0
    drafts_created: int = 0
    drafts_replaced: int = 0
    drafts_removed: int = 0
    skipped_finalized: int = 0
