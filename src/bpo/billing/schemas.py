from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from bpo.clients.schemas import FIRST_DATE, YEARS_AHEAD, TaxClass


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceRunStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class InvoiceAmount(msgspec.Struct, kw_only=True):
    amount: int
    currency: str


class DailyUsage(msgspec.Struct, kw_only=True):
    date: date
    units: int


class SurchargedUsage(msgspec.Struct, kw_only=True):
    """Of a meter's quantity, what was received inside a surcharge's window."""

    code: str
    name: str
    # night or holiday.
    window: str
    quantity: int


class MeterUsage(msgspec.Struct, kw_only=True):
    """What a meter of the rate plan versions in force counted over their days in the range: units summed
    or items counted (``measure``), as the invoice rates them."""

    # None: the contract's billable event.
    meter: str | None
    name: str | None
    event: str
    # units or items.
    measure: str
    quantity: int
    surcharged: list[SurchargedUsage]


class Usage(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    billable_event: str
    time_zone: str
    start: date
    end: date
    units: int
    days: list[DailyUsage]
    # Per meter its charges rate, on the days a rate plan version is in force (none without one).
    meters: list[MeterUsage]


class EstimateLine(msgspec.Struct, kw_only=True):
    position: int
    contract_id: uuid.UUID | None
    contract_code: str
    # charge, surcharge, minimum_top_up, service_credit (credit on a credit note).
    kind: str
    code: str
    description: str
    # Exact decimals, as strings: unit prices are minor units per unit and may carry fractions.
    quantity: Decimal
    unit_price: Decimal
    amount: InvoiceAmount
    period_start: date
    period_end: date
    tier: int | None
    # The line's consumption tax: its class and that class's rate on this invoice.
    tax_class: TaxClass
    tax_rate: Decimal


class InvoiceLine(EstimateLine, kw_only=True):
    id: uuid.UUID


class InvoiceTaxSubtotal(msgspec.Struct, kw_only=True):
    """税率ごとの合計と消費税額: the lines of one tax class, their total and its tax (rounded once)."""

    tax_class: TaxClass
    rate: Decimal
    taxable: InvoiceAmount
    tax: InvoiceAmount


class InvoiceSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    # The client's name as the invoice carries it (a snapshot taken when it was computed).
    client_name: str
    kind: InvoiceKind
    status: InvoiceStatus
    number: str | None
    # The month the billing period is named after ("2026-11-01" for 21 Oct - 20 Nov closing on the 20th).
    period: date
    period_start: date
    period_end: date
    subtotal: InvoiceAmount
    tax: InvoiceAmount
    total: InvoiceAmount
    tax_rate: Decimal
    issued_on: date
    due_on: date
    corrects_invoice_id: uuid.UUID | None
    created_at: datetime
    finalized_at: datetime | None


class Invoice(InvoiceSummary, kw_only=True):
    registration_number: str | None
    client_legal_name: str
    payment_terms: str
    # The operator's address and bank account on the document: as issued, or the current ones on a draft.
    issuer: BillingIssuer
    # Stripe's page where the client pays, once the invoice has been pushed there.
    hosted_invoice_url: str | None
    # Per tax class: the lines' total and its consumption tax; ``tax`` is their sum.
    taxes: list[InvoiceTaxSubtotal]
    lines: list[InvoiceLine]


class InvoiceEstimate(msgspec.Struct, kw_only=True):
    """見込み: the client's open period rated so far, as its invoice would be if the period closed now.
    Never stored, never numbered; recomputed on every request."""

    estimate: bool = True
    client_id: uuid.UUID
    client_name: str
    # The month the open period is named after, and its days (cut by the client's closing day).
    period: date
    period_start: date
    period_end: date
    # Usage counted through this day (the tenant's today), at this instant.
    through: date
    as_of: datetime
    currency: str
    subtotal: InvoiceAmount
    tax: InvoiceAmount
    total: InvoiceAmount
    taxes: list[InvoiceTaxSubtotal]
    lines: list[EstimateLine]


# --- the issuer: address and bank account printed on invoices ------------------------------------------

# One line of text a person reads: no control characters, no blank at either end.
_LINE = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?(?!\n)$"
# 振込先の口座名義: katakana (full- or half-width), Latin capitals, digits, spaces and ( ) . , - /.
_KANA = (
    r"^[\u30a0-\u30ff\uff65-\uff9f\u3000 A-Z0-9\uff21-\uff3a\uff10-\uff19"
    r"()\uff08\uff09.,\uff0e\uff0c\-\uff0d/\uff0f]+(?!\n)$"
)


def _line(max_length: int, description: str, example: str) -> msgspec.Meta:
    return msgspec.Meta(
        min_length=1,
        max_length=max_length,
        pattern=_LINE,
        description=description,
        examples=[example],
        extra={"expected": f"one line of 1 to {max_length} characters, without blanks at either end"},
    )


class BankAccountType(StrEnum):
    # 普通預金
    ORDINARY = "ordinary"
    # 当座預金
    CHECKING = "checking"


class IssuerAddress(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    postal_code: Annotated[
        str,
        msgspec.Meta(
            min_length=8,
            max_length=8,
            pattern=r"^\d{3}-\d{4}(?!\n)$",
            description="Japanese postal code, 〒 NNN-NNNN",
            examples=["100-0005"],
            extra={"expected": "a postal code like 100-0005"},
        ),
    ]
    lines: Annotated[
        list[Annotated[str, _line(100, "One line of the address", "東京都千代田区丸の内1-1-1")]],
        msgspec.Meta(min_length=1, max_length=4, description="The address, one to four lines"),
    ]
    phone: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=6,
                max_length=21,
                pattern=r"^\+?[0-9][0-9 -]{4,18}[0-9](?!\n)$",
                description="Phone number printed on invoices",
                examples=["03-1234-5678"],
                extra={"expected": "a phone number like 03-1234-5678"},
            ),
        ]
        | None
    ) = None


class BankAccount(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where clients pay by bank transfer (振込先)."""

    bank_name: Annotated[str, _line(60, "金融機関名", "みずほ銀行")]
    branch_name: Annotated[str, _line(60, "支店名", "丸の内支店")]
    account_type: BankAccountType
    account_number: Annotated[
        str,
        msgspec.Meta(
            min_length=7,
            max_length=7,
            pattern=r"^\d{7}(?!\n)$",
            description="口座番号, 7 digits",
            examples=["1234567"],
            extra={"expected": "7 digits, like 1234567"},
        ),
    ]
    account_holder: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=100,
            pattern=_KANA,
            description="口座名義 in katakana, as the bank holds it",
            examples=["デモビーピーオーオペレーションズ(カ"],
            extra={"expected": "the account holder's name in katakana"},
        ),
    ]


class BillingIssuer(msgspec.Struct, kw_only=True):
    address: IssuerAddress | None = None
    bank_account: BankAccount | None = None


class BillingIssuerSettings(BillingIssuer, kw_only=True):
    updated_at: datetime | None = None


class BillingIssuerUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Both parts, as PUT replaces them: null removes one from invoices issued from now on."""

    address: IssuerAddress | None
    bank_account: BankAccount | None


class InvoicePage(msgspec.Struct, kw_only=True):
    items: list[InvoiceSummary]
    next_cursor: str | None


class CreditLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    # Positive minor units to credit (before tax).
    amount: Annotated[int, msgspec.Meta(gt=0, le=10**15)]
    contract_id: uuid.UUID | None = None
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "credit"
    # The tax class credited; needed only when the invoice has lines of several.
    tax_class: TaxClass | None = None


MAX_CREDIT_LINES = 200


class CreditNoteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Either ``lines`` to credit, or ``full_reversal``: every line of the invoice negated."""

    lines: Annotated[list[CreditLine], msgspec.Meta(max_length=MAX_CREDIT_LINES)] = []
    full_reversal: bool = False


class InvoiceRunCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    period: Annotated[
        str,
        msgspec.Meta(
            min_length=7,
            max_length=7,
            pattern=r"^\d{4}-(0[1-9]|1[0-2])(?!\n)$",
            examples=["2026-10"],
            description=(
                f"The month to bill, YYYY-MM: from {FIRST_DATE:%Y-%m} to the month {YEARS_AHEAD} years after "
                "today's (the tenant's date)"
            ),
        ),
    ]


class InvoiceRun(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    period: date
    status: InvoiceRunStatus
    result: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


class RunResult(msgspec.Struct, kw_only=True):
    clients: int = 0
    drafts_created: int = 0
    drafts_replaced: int = 0
    drafts_removed: int = 0
    skipped_finalized: int = 0


# --- billing settings, Stripe -------------------------------------------------------------------------

StripeAccountId = Annotated[
    str, msgspec.Meta(max_length=255, pattern=r"^acct_[A-Za-z0-9]{1,250}(?!\n)$", examples=["acct_1Nv0FGQ9"])
]


class TaxRoundingMode(StrEnum):
    # 切り捨て: rounded down. A credit note's tax is rounded toward zero, the exact negative of the tax it
    # reverses (``rating.TaxRounding.TRUNCATE``, which is floor for every non-negative subtotal).
    FLOOR = "floor"
    # 四捨五入.
    HALF_UP = "half_up"


class BillingSettings(msgspec.Struct, kw_only=True):
    stripe_account_id: str | None
    # Consumption tax: rate and rounding, applied once per invoice to its subtotal.
    tax_rate: Decimal
    tax_rounding: TaxRoundingMode
    # Read only here: the tenant's own setting (PATCH /v1/tenant), printed on every invoice.
    invoice_registration_number: str | None
    updated_at: datetime | None


class BillingSettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field, as PUT replaces them all: null disconnects the Stripe account."""

    stripe_account_id: StripeAccountId | None
    # Text with a decimal's pattern, not a Decimal: msgspec decodes a Decimal from a JSON number too, a
    # binary float the schema does not allow.
    tax_rate: Annotated[
        str,
        msgspec.Meta(
            max_length=32,
            pattern=r"^\d+(?:\.\d+)?(?!\n)$",
            description="A fraction from 0 to 1 (0.10 is 10%), at most 4 decimal places.",
            examples=["0.10"],
        ),
    ]
    tax_rounding: TaxRoundingMode


class ReconciliationKind(StrEnum):
    NOT_PUSHED = "not_pushed"
    MISSING_IN_STRIPE = "missing_in_stripe"
    UNKNOWN_IN_STRIPE = "unknown_in_stripe"
    AMOUNT = "amount"
    STATUS = "status"


class Mismatch(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: ReconciliationKind
    invoice_id: uuid.UUID | None = None
    number: str | None = None
    stripe_invoice_id: str | None = None
    ours: str | int | None = None
    stripe: str | int | None = None


class Reconciliation(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    stripe_account_id: str
    created_at: datetime
    # Our issued invoices compared.
    checked: int
    mismatches: list[Mismatch]


class ReconciliationQueued(msgspec.Struct, kw_only=True):
    job_id: uuid.UUID


class WebhookReceipt(msgspec.Struct, kw_only=True):
    received: bool
    outcome: str
