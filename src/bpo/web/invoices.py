"""The printable invoice page: the same invoice the API returns, laid out as the document a client files.

Operators see every invoice of the tenant, drafts marked as such; a client viewer only its own client's
issued ones (the billing service decides, as for the API). Amounts are formatted here, from the integer
minor units, so the template only places text.

The PDF is the same template rendered by WeasyPrint (print media: invoice.css lays out the A4 sheet), at
``/dashboard/invoices/{id}.pdf`` for the browser and ``/v1/invoices/{id}/pdf`` for API callers. The API
route lives here, not in billing, because the template is this floor's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import schemas
from bpo.billing import service as billing
from bpo.billing.rating import LineKind
from bpo.core import i18n
from bpo.core.guards import READERS, parse_uuid
from bpo.core.http import Caller, Session
from bpo.core.i18n import N_, Lang, Language
from bpo.core.pdf import pdf_status_async, render_pdf_async
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users
from bpo.web.session import PREFIX

PDF_SUFFIX = ".pdf"
TEMPLATE = "invoice.html"
# What the PDF may load: the dashboard's static files (invoice.css), read from the package.
ASSETS = {f"{PREFIX}/static/": Path(__file__).parent / "static"}

KIND_LABELS = {
    LineKind.CHARGE.value: N_("Charge"),
    LineKind.MINIMUM_TOP_UP.value: N_("Minimum commitment"),
    LineKind.SERVICE_CREDIT.value: N_("SLA service credit"),
    billing.CREDIT_LINE_KIND: N_("Credit"),
}
STATUS_LABELS = {
    schemas.InvoiceStatus.DRAFT: N_("Draft, not issued"),
    schemas.InvoiceStatus.FINALIZED: N_("Issued"),
    schemas.InvoiceStatus.PAID: N_("Paid"),
    schemas.InvoiceStatus.VOID: N_("Void"),
    schemas.InvoiceStatus.UNCOLLECTIBLE: N_("Uncollectible"),
}


def money(amount: Decimal | int, currency: str, language: Language = "en") -> str:
    """``amount`` minor units as people read it: ¥1,234,567 (￥1,234,567 in Japanese), -¥5,000, $12.50;
    a unit price with a fraction of a minor unit keeps it (¥0.5)."""
    return i18n.format_money(amount, currency, language)


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


def invoice_view(invoice: schemas.Invoice, operator: str, lang: Lang) -> InvoiceView:
    currency = invoice.total.currency
    kinds = {kind: lang.gettext(label) for kind, label in KIND_LABELS.items()}
    lines = [
        LineView(
            line=line,
            kind=kinds.get(line.kind, line.kind.replace("_", " ").capitalize()),
            quantity=lang.number(line.quantity),
            unit_price=lang.money(line.unit_price, currency),
            amount=lang.money(line.amount.amount, currency),
        )
        for line in invoice.lines
    ]
    return InvoiceView(
        invoice=invoice,
        operator=operator,
        status=lang.gettext(STATUS_LABELS[invoice.status]),
        period=lang.day(invoice.period, "month"),
        issued_on=lang.day(invoice.issued_on),
        due_on=lang.day(invoice.due_on),
        tax_percent=lang.percent(invoice.tax_rate * 100, 2, trim=True),
        subtotal=lang.money(invoice.subtotal.amount, currency),
        tax=lang.money(invoice.tax.amount, currency),
        total=lang.money(invoice.total.amount, currency),
        lines=lines,
        credits=[view for view in lines if view.line.kind == LineKind.SERVICE_CREDIT.value],
    )


async def _invoice_context(session: AsyncSession, caller: Scope, invoice_id: uuid.UUID) -> dict[str, Any]:
    invoice = await billing.get_invoice(session, caller, invoice_id)
    operator = await tenancy.tenant_settings(session, caller)
    # In the reader's language: the page's and the PDF's alike.
    language = await tenancy_users.reading_language(session, caller)
    return {
        "view": invoice_view(invoice, operator.name, i18n.lang(language)),
        "pdf": await pdf_status_async(),
        **i18n.template_context(language),
    }


async def _pdf_response(request: Request[Any, Any, Any], context: dict[str, Any]) -> Response[bytes]:
    # The page's own rendering (Litestar's template context included), so page and PDF cannot differ.
    engine = request.app.template_engine
    if engine is None:
        raise RuntimeError("the app has no template engine (bpo.web.TEMPLATES)")
    template = engine.get_template(TEMPLATE)
    html = template.render(
        **Template(template_name=TEMPLATE, context=context).create_template_context(request)
    )
    invoice: schemas.Invoice = context["view"].invoice
    # Without Pango this raises PdfUnavailable: a 503 problem for the API, an error page in the browser.
    document = await render_pdf_async(html, assets=ASSETS)
    filename = f"{invoice.number or f'draft-{invoice.id}'}.pdf"
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class InvoicePageController(Controller):
    path = "/invoices"

    @get("/{invoice_id:str}", summary="A printable invoice; `{id}.pdf` gives it as a PDF")
    async def invoice_page(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller, invoice_id: FromPath[str]
    ) -> Response[Any]:
        as_pdf = invoice_id.endswith(PDF_SUFFIX)
        context = await _invoice_context(
            session, caller, parse_uuid(invoice_id.removesuffix(PDF_SUFFIX), "Invoice")
        )
        if as_pdf:
            return await _pdf_response(request, context)
        return Template(template_name=TEMPLATE, context=context)


class InvoicePdfController(Controller):
    path = "/v1/invoices/{invoice_id:uuid}/pdf"
    tags = ["billing"]

    @get(
        "",
        guards=[READERS],
        media_type="application/pdf",
        summary="An invoice or credit note as a PDF (A4, fonts embedded), the document the client files",
        description=(
            "The same document as the invoice page, as an attachment named after the invoice number. "
            "Client viewers get their own client's issued invoices only. 503 (`pdf-unavailable`) when this "
            "server cannot render PDFs (the system library Pango is missing)."
        ),
        response_description="The PDF",
        # One caller's document: never kept by shared caches (the dashboard's middleware does the same).
        cache_control=CacheControlHeader(no_store=True),
        responses={503: ResponseSpec(data_container=None, description="PDF rendering is not available")},
    )
    async def invoice_pdf(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        invoice_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        return await _pdf_response(request, await _invoice_context(session, caller, invoice_id))


API_ROUTES = [InvoicePdfController]
