"""Invoices in the browser: the list, the printable page, its PDF and its lines as CSV; and the API's PDF.

The document itself (its template, stylesheet and what it shows) is billing's (``bpo.billing.document``),
the same one mails attach; these are only its routes. Operators see every invoice of the tenant, drafts
marked as such; a client viewer only its own client's issued ones (the billing service decides, as for
the API), and any other is a 404.

``/dashboard/invoices/{id}.pdf`` and ``.csv`` are the browser's downloads; API callers use
``/v1/invoices/{id}/pdf`` and ``/v1/invoices/{id}.csv``. The API's PDF route lives here, next to the
dashboard's, because both answer a person's download with the rendered document.

Above the list, a client viewer (and an operator who picks a client) sees the estimate (見込み) of the
client's open period so far (``GET /v1/clients/{id}/estimate``): marked as such, never numbered,
recomputed on each visit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import document, estimates, schemas
from bpo.billing import service as billing
from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.core import i18n
from bpo.core.errors import NotFound
from bpo.core.guards import READERS, parse_uuid
from bpo.core.http import Caller, Cursor, Session
from bpo.core.i18n import Language
from bpo.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from bpo.core.pdf import pdf_status_async
from bpo.core.scope import Scope
from bpo.tenancy import users as tenancy_users
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import PREFIX

PDF_SUFFIX = ".pdf"
CSV_SUFFIX = ".csv"
LIST_TEMPLATE = "invoices.html"
STYLESHEET = f"{PREFIX}/static/{document.STYLESHEET}"
ICON = f"{PREFIX}/static/favicon.svg"


def _page_links(invoice_id: uuid.UUID, pdf_available: bool, pdf_missing: str) -> document.PageLinks:
    base = f"{PREFIX}/invoices/{invoice_id}"
    return document.PageLinks(
        back=PREFIX,
        listing=f"{PREFIX}/invoices",
        csv=base + CSV_SUFFIX,
        icon=ICON,
        pdf=base + PDF_SUFFIX if pdf_available else None,
        pdf_missing=None if pdf_available else pdf_missing,
    )


async def _document(
    session: AsyncSession, caller: Scope, invoice_id: uuid.UUID
) -> tuple[document.InvoiceDocument, Language]:
    # In the reader's language: the page's and the PDF's alike.
    language = await tenancy_users.reading_language(session, caller)
    return await document.load_document(session, caller, invoice_id, language), language


async def _pdf_response(view: document.InvoiceDocument, language: Language) -> Response[bytes]:
    # Without Pango this raises PdfUnavailable: a 503 problem for the API, an error page in the browser.
    pdf = await document.render_pdf(view, language)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{document.filename(view.invoice, ".pdf")}"'},
    )


def _csv_response(invoice: schemas.Invoice) -> Response[str]:
    return Response(
        billing.invoice_csv(invoice),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{document.filename(invoice, ".csv")}"'},
    )


@dataclass(frozen=True)
class InvoiceRow:
    invoice: schemas.InvoiceSummary
    status: str
    period: str
    # The period's days (a client closing on the 20th is billed from the 21st of the month before).
    days: str
    total: str
    due_on: str
    href: str


@dataclass(frozen=True)
class EstimateView:
    """The estimate as the list page shows it: its figures in the reader's language."""

    estimate: schemas.InvoiceEstimate
    period: str
    period_start: str
    period_end: str
    through: str
    subtotal: str
    tax: str
    total: str
    taxes: list[document.TaxView]
    lines: list[document.LineView]


async def _estimate(
    session: AsyncSession, caller: Scope, client_id: uuid.UUID, lang: i18n.Lang
) -> EstimateView:
    found = await estimates.estimate(session, caller, client_id, datetime.now(UTC))
    currency = found.currency
    ids = {line.contract_id for line in found.lines if line.contract_id is not None}
    names = await contracts.contract_names(session, caller, ids)
    return EstimateView(
        estimate=found,
        period=lang.day(found.period, "month"),
        period_start=lang.day(found.period_start),
        period_end=lang.day(found.period_end),
        through=lang.day(found.through),
        subtotal=lang.money(found.subtotal.amount, currency),
        tax=lang.money(found.tax.amount, currency),
        total=lang.money(found.total.amount, currency),
        taxes=document.tax_views(found.taxes, lang),
        lines=document.line_views(found.lines, names, lang),
    )


@dataclass(frozen=True)
class ClientOption:
    id: uuid.UUID
    name: str
    selected: bool


class InvoicePageController(Controller):
    path = "/invoices"

    @get("/", summary="Invoices: filtered by period, client and status")
    async def invoice_list(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        period: FromQuery[str | None] = None,
        client: FromQuery[str | None] = None,
        status: FromQuery[schemas.InvoiceStatus | None] = None,
        cursor: Cursor = None,
    ) -> Response[Any]:
        language = await reader_language(request, session, caller)
        lang = i18n.lang(language)
        period = (period or "").strip() or None
        client_id = parse_uuid(client, "Client") if client else None
        listing = await billing.list_invoices(
            session,
            caller,
            limit=DEFAULT_PAGE_SIZE,
            cursor=cursor,
            period=period,
            client_id=client_id,
            status=status,
        )
        rows = [
            InvoiceRow(
                invoice=item,
                status=lang.gettext(document.STATUS_LABELS[item.status]),
                period=lang.day(item.period, "month"),
                days=lang.days(item.period_start, item.period_end),
                total=lang.money(item.total.amount, item.total.currency),
                due_on=lang.day(item.due_on),
                href=f"{PREFIX}/invoices/{item.id}",
            )
            for item in listing.items
        ]
        # A viewer's own client, or the client an operator picked: its open period so far.
        estimate = None
        if (estimate_of := caller.client_id or client_id) is not None:
            try:
                estimate = await _estimate(session, caller, estimate_of, lang)
            except NotFound:
                # An operator's filter naming no client of the tenant: the list says nothing matches.
                estimate = None
        options: list[ClientOption] = []
        if caller.client_id is None:
            known = await clients.list_clients(session, caller, limit=MAX_PAGE_SIZE, cursor=None)
            options = [ClientOption(c.id, c.name, c.id == client_id) for c in known.items]
        filters = {
            "period": period or "",
            "client": str(client_id or ""),
            "status": status.value if status else "",
        }
        more = {key: value for key, value in filters.items() if value}
        context = {
            "estimate": estimate,
            "rows": rows,
            "filters": filters,
            "more": more,
            "clients": options,
            "statuses": [
                (s.value, lang.gettext(document.STATUS_LABELS[s]))
                for s in schemas.InvoiceStatus
                if caller.client_id is None or s is not schemas.InvoiceStatus.DRAFT
            ],
            "next_cursor": listing.next_cursor,
        }
        return page(request, LIST_TEMPLATE, context, caller=caller)

    @get(
        "/{invoice_id:str}",
        summary="A printable invoice; `{id}.pdf` gives it as a PDF, `{id}.csv` its lines as CSV",
    )
    async def invoice_page(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller, invoice_id: FromPath[str]
    ) -> Response[Any]:
        await reader_language(request, session, caller)
        if invoice_id.endswith(CSV_SUFFIX):
            invoice = await billing.get_invoice(
                session, caller, parse_uuid(invoice_id.removesuffix(CSV_SUFFIX), "Invoice")
            )
            return _csv_response(invoice)
        as_pdf = invoice_id.endswith(PDF_SUFFIX)
        view, language = await _document(
            session, caller, parse_uuid(invoice_id.removesuffix(PDF_SUFFIX), "Invoice")
        )
        if as_pdf:
            return await _pdf_response(view, language)
        status = await pdf_status_async()
        links = _page_links(view.invoice.id, status.available, status.message)
        html = document.render_html(view, language, page=links, stylesheet=STYLESHEET)
        return Response(html, media_type="text/html; charset=utf-8")


class InvoicePdfController(Controller):
    path = "/v1/invoices/{invoice_id:uuid}/pdf"
    tags = ["billing"]

    @get(
        "",
        guards=[READERS],
        media_type="application/pdf",
        summary="An invoice or credit note as a PDF (A4, fonts embedded), the document the client files",
        description=(
            "The same document as the invoice page and the mail's attachment, named after the invoice "
            "number. Client viewers get their own client's issued invoices only. 503 (`pdf-unavailable`) "
            "when this server cannot render PDFs (the system library Pango is missing)."
        ),
        response_description="The PDF",
        # One caller's document: never kept by shared caches (the dashboard's middleware does the same).
        cache_control=CacheControlHeader(no_store=True),
        responses={503: ResponseSpec(data_container=None, description="PDF rendering is not available")},
    )
    async def invoice_pdf(
        self, session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        return await _pdf_response(*await _document(session, caller, invoice_id))


API_ROUTES = [InvoicePdfController]
# Under /dashboard, beside the other pages.
INVOICE_PAGES = page_router([InvoicePageController])
