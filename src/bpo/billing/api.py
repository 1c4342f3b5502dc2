from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler

from bpo.billing import runs, schemas, service, usage
from bpo.core.errors import NotFound
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.tenancy import service as tenancy
from bpo.tenancy.auth import requires
from bpo.tenancy.scope import Role

WRITERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER)
OPERATORS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR)
READERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.CLIENT_VIEWER)
CSV_SUFFIX = ".csv"


@get(
    "/v1/contracts/{contract_id:uuid}/usage",
    guards=[READERS],
    tags=["billing"],
    summary="Billable units of a contract per day (tenant's time zone; start and end inclusive)",
)
async def contract_usage(
    session: Session,
    caller: Caller,
    contract_id: FromPath[uuid.UUID],
    start: FromQuery[date],
    end: FromQuery[date],
) -> schemas.Usage:
    return await usage.contract_usage(session, caller, contract_id, start, end)


@get("/v1/invoices", guards=[READERS], tags=["billing"], summary="Invoices and credit notes")
async def list_invoices(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    period: FromQuery[str | None] = None,
    client_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[schemas.InvoiceStatus | None] = None,
) -> schemas.InvoicePage:
    return await service.list_invoices(
        session, caller, limit=limit, cursor=cursor, period=period, client_id=client_id, status=status
    )


@get(
    "/v1/invoices/{invoice_ref:str}",
    guards=[READERS],
    tags=["billing"],
    summary="An invoice with its lines; `{id}.csv` gives the lines as CSV",
    description="Client viewers see their own client's issued invoices only, never drafts.",
)
async def get_invoice(session: Session, caller: Caller, invoice_ref: FromPath[str]) -> Response[Any]:
    as_csv = invoice_ref.endswith(CSV_SUFFIX)
    try:
        invoice_id = uuid.UUID(invoice_ref.removesuffix(CSV_SUFFIX))
    except ValueError:
        raise NotFound(f"Invoice {invoice_ref} not found.") from None
    invoice = await service.get_invoice(session, caller, invoice_id)
    if not as_csv:
        return Response(invoice)
    filename = f"{invoice.number or f'draft-{invoice.id}'}.csv"
    return Response(
        service.invoice_csv(invoice),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@post(
    "/v1/invoices/{invoice_id:uuid}/finalize",
    guards=[WRITERS],
    status_code=HTTP_200_OK,
    tags=["billing"],
    summary="Finalize a draft: numbered (gap-free per tenant) and immutable from now on",
)
async def finalize_invoice(
    session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]
) -> schemas.Invoice:
    return await service.finalize(session, caller, invoice_id)


@post(
    "/v1/invoices/{invoice_id:uuid}/void",
    guards=[WRITERS],
    status_code=HTTP_200_OK,
    tags=["billing"],
    summary="Void a finalized, unpaid invoice (its number stays used; a re-run may draft a new one)",
)
async def void_invoice(session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]) -> schemas.Invoice:
    return await service.void(session, caller, invoice_id)


@post(
    "/v1/invoices/{invoice_id:uuid}/mark-uncollectible",
    guards=[WRITERS],
    status_code=HTTP_200_OK,
    tags=["billing"],
    summary="Mark a finalized invoice uncollectible",
)
async def mark_uncollectible(
    session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]
) -> schemas.Invoice:
    return await service.mark_uncollectible(session, caller, invoice_id)


@post(
    "/v1/invoices/{invoice_id:uuid}/credit-notes",
    guards=[WRITERS],
    status_code=HTTP_201_CREATED,
    tags=["billing"],
    summary="Credit a finalized invoice (given lines, or a full reversal): a numbered CN- document",
)
async def create_credit_note(
    session: Session,
    caller: Caller,
    invoice_id: FromPath[uuid.UUID],
    data: JSONBody[schemas.CreditNoteCreate],
) -> schemas.Invoice:
    today = await tenancy.tenant_today(session, caller)
    return await service.create_credit_note(session, caller, invoice_id, data, today)


@post(
    "/v1/invoice-runs",
    guards=[WRITERS],
    status_code=HTTP_202_ACCEPTED,
    tags=["billing"],
    summary="Compute the drafts of a month for every billable client, in the background",
    description=(
        "Re-running a month replaces its drafts and never duplicates; finalized invoices are untouched."
    ),
)
async def create_invoice_run(
    session: Session, caller: Caller, data: JSONBody[schemas.InvoiceRunCreate]
) -> schemas.InvoiceRun:
    return await runs.create_run(session, caller, data)


@get(
    "/v1/invoice-runs/{run_id:uuid}", guards=[OPERATORS], tags=["billing"], summary="A month-end run's status"
)
async def get_invoice_run(
    session: Session, caller: Caller, run_id: FromPath[uuid.UUID]
) -> schemas.InvoiceRun:
    return await runs.get_run(session, caller, run_id)


ROUTES: list[ControllerRouterHandler] = [
    contract_usage,
    list_invoices,
    get_invoice,
    finalize_invoice,
    void_invoice,
    mark_uncollectible,
    create_credit_note,
    create_invoice_run,
    get_invoice_run,
]
