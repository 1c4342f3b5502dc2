"""The printable invoice page: the same invoice the API returns, laid out as the document a client files.

Operators see every invoice of the tenant, drafts marked as such; a client viewer only its own client's
issued ones (the billing service decides, as for the API). Amounts are formatted here, from the integer
minor units, so the template only places text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import Template

from bpo.billing import schemas
from bpo.billing import service as billing
from bpo.billing.rating import LineKind
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Session
from bpo.core.money import MINOR_UNIT_EXPONENT
from bpo.tenancy import service as tenancy

SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}
KIND_LABELS = {
    LineKind.CHARGE.value: "Charge",
    LineKind.MINIMUM_TOP_UP.value: "Minimum commitment",
    LineKind.SERVICE_CREDIT.value: "SLA service credit",
    billing.CREDIT_LINE_KIND: "Credit",
}
STATUS_LABELS = {
    schemas.InvoiceStatus.DRAFT: "Draft, not issued",
    schemas.InvoiceStatus.FINALIZED: "Issued",
    schemas.InvoiceStatus.PAID: "Paid",
    schemas.InvoiceStatus.VOID: "Void",
    schemas.InvoiceStatus.UNCOLLECTIBLE: "Uncollectible",
}


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def money(amount: Decimal | int, currency: str) -> str:
    """``amount`` minor units as people read it: ¥1,234,567, -¥5,000, $12.50, CHF 7.00; a unit price
    with a fraction of a minor unit keeps it (¥0.5)."""
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    major = Decimal(amount).scaleb(-exponent)
    text = f"{abs(major):,.{max(exponent, _decimals(major))}f}"
    symbol = SYMBOLS.get(currency)
    shown = f"{symbol}{text}" if symbol else f"{currency} {text}"
    return f"-{shown}" if major < 0 else shown


def long_day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True)
class LineView:
    line: schemas.InvoiceLine
    kind: str
    quantity: str
    unit_price: str
    amount: str


@dataclass(frozen=True)
class InvoiceView:
    invoice: schemas.Invoice
    operator: str
    status: str
    period: str
    issued_on: str
    due_on: str
    tax_percent: str
    subtotal: str
    tax: str
    total: str
    lines: list[LineView]
    credits: list[LineView]


def invoice_view(invoice: schemas.Invoice, operator: str) -> InvoiceView:
    currency = invoice.total.currency
    lines = [
        LineView(
            line=line,
            kind=KIND_LABELS.get(line.kind, line.kind.replace("_", " ").capitalize()),
            quantity=f"{line.quantity:,f}",
            unit_price=money(line.unit_price, currency),
            amount=money(line.amount.amount, currency),
        )
        for line in invoice.lines
    ]
    return InvoiceView(
        invoice=invoice,
        operator=operator,
        status=STATUS_LABELS[invoice.status],
        period=f"{invoice.period:%B %Y}",
        issued_on=long_day(invoice.issued_on),
        due_on=long_day(invoice.due_on),
        tax_percent=f"{(invoice.tax_rate * 100).normalize():f}%",
        subtotal=money(invoice.subtotal.amount, currency),
        tax=money(invoice.tax.amount, currency),
        total=money(invoice.total.amount, currency),
        lines=lines,
        credits=[view for view in lines if view.line.kind == LineKind.SERVICE_CREDIT.value],
    )


class InvoicePageController(Controller):
    path = "/invoices"

    @get("/{invoice_id:str}", summary="A printable invoice")
    async def invoice_page(self, session: Session, caller: Caller, invoice_id: FromPath[str]) -> Template:
        invoice = await billing.get_invoice(session, caller, parse_uuid(invoice_id, "Invoice"))
        operator = await tenancy.tenant_settings(session, caller)
        return Template(template_name="invoice.html", context={"view": invoice_view(invoice, operator.name)})
