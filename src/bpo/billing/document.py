"""The invoice as the document a client files: one template (``templates/invoice/document.html``) for the
dashboard's page, the PDF the API and the dashboard download, and the PDF a mail attaches.

What the template shows is built here from the invoice the API returns (``InvoiceDocument``), with the
amounts formatted from their integer minor units in the reader's language, so the template only places
text. The PDF is the same HTML rendered by WeasyPrint (print media: ``static/invoice.css`` lays out the A4
sheet); a page passes ``PageLinks`` for its toolbar, which a PDF has none of.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import rating, schemas, service
from bpo.clients import contracts
from bpo.clients.schemas import TaxClass
from bpo.core import i18n
from bpo.core.i18n import N_, Lang, Language
from bpo.core.pdf import render_pdf_async
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy

TEMPLATE = "invoice/document.html"
STATIC_DIR = Path(__file__).parent / "static"
STYLESHEET = "invoice.css"
# Where a PDF's stylesheet is read from: this package's static files, and nothing else.
DOCUMENT_STATIC = "/document/static/"
ASSETS = {DOCUMENT_STATIC: STATIC_DIR}

KIND_LABELS = {
    rating.LineKind.CHARGE.value: N_("Charge"),
    rating.LineKind.SURCHARGE.value: N_("Surcharge"),
    rating.LineKind.MINIMUM_TOP_UP.value: N_("Minimum commitment"),
    rating.LineKind.SERVICE_CREDIT.value: N_("SLA service credit"),
    service.CREDIT_LINE_KIND: N_("Credit"),
}
STATUS_LABELS = {
    schemas.InvoiceStatus.DRAFT: N_("Draft, not issued"),
    schemas.InvoiceStatus.FINALIZED: N_("Issued"),
    schemas.InvoiceStatus.PAID: N_("Paid"),
    schemas.InvoiceStatus.VOID: N_("Void"),
    schemas.InvoiceStatus.UNCOLLECTIBLE: N_("Uncollectible"),
}
# Marks a line taxed at the reduced rate, explained under the lines (適格請求書: 軽減税率の対象である旨).
REDUCED_MARK = "※"
ACCOUNT_TYPES = {
    schemas.BankAccountType.ORDINARY: N_("Ordinary (普通)"),
    schemas.BankAccountType.CHECKING: N_("Checking (当座)"),
}


def money(amount: Decimal | int, currency: str, language: Language = "en") -> str:
    """``amount`` minor units as people read it: ¥1,234,567 (￥1,234,567 in Japanese), -¥5,000, $12.50;
    a unit price with a fraction of a minor unit keeps it (¥0.5)."""
    return i18n.format_money(amount, currency, language)


@dataclass(frozen=True)
class LineView:
    line: schemas.InvoiceLine | schemas.EstimateLine
    # The contract's name when it is known to the reader; the code is always shown beside it.
    contract_name: str | None
    kind: str
    quantity: str
    unit_price: str
    amount: str
    # ※ for the reduced rate; the class's name when the document mixes classes; else nothing.
    tax_tag: str = ""

    @property
    def contract_label(self) -> str:
        code = self.line.contract_code
        return f"{self.contract_name} ({code})" if self.contract_name and code else self.contract_name or code


@dataclass(frozen=True)
class TaxView:
    """One rate's row pair under the lines: the total of its lines, and its consumption tax."""

    tax: schemas.InvoiceTaxSubtotal
    # "Subject to 10%", "Subject to 8%, reduced rate ※", "Not subject to consumption tax".
    label: str
    percent: str
    taxable: str
    amount: str

    @property
    def taxed(self) -> bool:
        return self.tax.tax_class is not TaxClass.EXEMPT


@dataclass(frozen=True)
class InvoiceDocument:
    invoice: schemas.Invoice
    operator: str
    status: str
    period: str
    # The period's days, for a client closing on another day than the month end above all.
    period_days: str
    issued_on: str
    due_on: str
    subtotal: str
    tax: str
    total: str
    lines: list[LineView]
    credits: list[LineView]
    taxes: list[TaxView]
    issuer: schemas.BillingIssuer
    account_type: str | None
    hosted_invoice_url: str | None

    @property
    def tax_total_row(self) -> bool:
        """Whether the taxes get a total of their own: several rates, or none taxed."""
        return len(self.taxes) != 1 or not self.taxes[0].taxed

    @property
    def reduced(self) -> bool:
        return any(t.tax.tax_class is TaxClass.REDUCED for t in self.taxes)


@dataclass(frozen=True)
class PageLinks:
    """The page's toolbar: where it leads (a PDF has no toolbar)."""

    back: str
    listing: str
    csv: str
    icon: str
    # None when this server cannot render PDFs; ``pdf_missing`` then says why.
    pdf: str | None
    pdf_missing: str | None = None


def tax_views(taxes: list[schemas.InvoiceTaxSubtotal], lang: Lang) -> list[TaxView]:
    views = []
    for tax in taxes:
        percent = lang.percent(tax.rate * 100, 2, trim=True)
        if tax.tax_class is TaxClass.EXEMPT:
            label = lang.gettext("Not subject to consumption tax")
        elif tax.tax_class is TaxClass.REDUCED:
            label = lang.gettext("Subject to %(rate)s, reduced rate", rate=percent) + f" {REDUCED_MARK}"
        else:
            label = lang.gettext("Subject to %(rate)s", rate=percent)
        currency = tax.tax.currency
        views.append(
            TaxView(
                tax,
                label,
                percent,
                lang.money(tax.taxable.amount, currency),
                lang.money(tax.tax.amount, currency),
            )
        )
    return views


def line_views(
    lines: list[schemas.InvoiceLine] | list[schemas.EstimateLine],
    contract_names: dict[uuid.UUID, str],
    lang: Lang,
) -> list[LineView]:
    kinds = {kind: lang.gettext(label) for kind, label in KIND_LABELS.items()}
    mixed = len({line.tax_class for line in lines}) > 1
    views = []
    for line in lines:
        currency = line.amount.currency
        tag = ""
        if line.tax_class is TaxClass.REDUCED:
            tag = REDUCED_MARK
        elif line.tax_class is TaxClass.EXEMPT and mixed:
            tag = lang.gettext("Not subject to consumption tax")
        views.append(
            LineView(
                line=line,
                contract_name=contract_names.get(line.contract_id) if line.contract_id else None,
                kind=kinds.get(line.kind, line.kind.replace("_", " ").capitalize()),
                quantity=lang.number(line.quantity),
                unit_price=lang.money(line.unit_price, currency),
                amount=lang.money(line.amount.amount, currency),
                tax_tag=tag,
            )
        )
    return views


def invoice_document(
    invoice: schemas.Invoice, operator: str, contract_names: dict[uuid.UUID, str], lang: Lang
) -> InvoiceDocument:
    currency = invoice.total.currency
    lines = line_views(invoice.lines, contract_names, lang)
    bank = invoice.issuer.bank_account
    return InvoiceDocument(
        invoice=invoice,
        operator=operator,
        status=lang.gettext(STATUS_LABELS[invoice.status]),
        period=lang.day(invoice.period, "month"),
        period_days=lang.days(invoice.period_start, invoice.period_end),
        issued_on=lang.day(invoice.issued_on),
        due_on=lang.day(invoice.due_on),
        subtotal=lang.money(invoice.subtotal.amount, currency),
        tax=lang.money(invoice.tax.amount, currency),
        total=lang.money(invoice.total.amount, currency),
        lines=lines,
        credits=[view for view in lines if view.line.kind == rating.LineKind.SERVICE_CREDIT.value],
        taxes=tax_views(invoice.taxes, lang),
        issuer=invoice.issuer,
        account_type=lang.gettext(ACCOUNT_TYPES[bank.account_type]) if bank is not None else None,
        hosted_invoice_url=invoice.hosted_invoice_url,
    )


async def load_document(
    session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, language: Language
) -> InvoiceDocument:
    """The invoice ``scope`` may see, as its document in ``language`` (not found: ``NotFound``)."""
    invoice = await service.get_invoice(session, scope, invoice_id)
    operator = await tenancy.tenant_settings(session, scope)
    ids = {line.contract_id for line in invoice.lines if line.contract_id is not None}
    names = await contracts.contract_names(session, scope, ids)
    return invoice_document(invoice, operator.name, names, i18n.lang(language))


def _environment() -> Environment:
    return i18n.environment(
        PackageLoader("bpo.billing", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


TEMPLATES = _environment()


def render_html(
    document: InvoiceDocument, language: Language, *, page: PageLinks | None = None, stylesheet: str
) -> str:
    """The document as HTML: a page with its toolbar when ``page`` is given, else the printable sheet."""
    return i18n.render(TEMPLATES, TEMPLATE, language, view=document, page=page, stylesheet=stylesheet)


def filename(invoice: schemas.Invoice, suffix: str) -> str:
    return f"{invoice.number or f'draft-{invoice.id}'}{suffix}"


async def render_pdf(document: InvoiceDocument, language: Language) -> bytes:
    """The document as an A4 PDF, its fonts embedded. Without Pango: ``PdfUnavailable``."""
    html = render_html(document, language, stylesheet=DOCUMENT_STATIC + STYLESHEET)
    return await render_pdf_async(html, assets=ASSETS)
