from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler

from bpo.billing import account, estimates, schemas, service, stripe_sync, stripe_webhooks, usage
from bpo.billing import invoice_runs as runs
from bpo.core.errors import NotFound, Unavailable
from bpo.core.guards import ADMINS, OPERATORS, READERS, WRITERS
from bpo.core.http import Caller, Cursor, Filter, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.tenancy import service as tenancy

CSV_SUFFIX = ".csv"


class UsageController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/usage"
    tags = ["billing"]
    guards = [READERS]

    @get(
        "",
        summary="Billable units of a contract per day and per meter (tenant's zone; start and end inclusive)",
        description=(
            "`days`: units of the contract's billable event per local day. `meters`: what each meter the "
            "usage charges of the rate plan versions in force rate (the billable event first, `meter: null`) "
            "counted over those versions' days in the range, and of it what was received inside each night "
            "or holiday surcharge's window, as the month-end run rates them."
        ),
    )
    async def contract_usage(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        start: FromQuery[date],
        end: FromQuery[date],
    ) -> schemas.Usage:
        return await usage.contract_usage(session, caller, contract_id, start, end)


class InvoiceController(Controller):
    path = "/v1/invoices"
    tags = ["billing"]

    @get("", guards=[READERS], summary="Invoices and credit notes")
    async def list_invoices(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        period: Filter = None,
        client_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[schemas.InvoiceStatus | None] = None,
    ) -> schemas.InvoicePage:
        return await service.list_invoices(
            session, caller, limit=limit, cursor=cursor, period=period, client_id=client_id, status=status
        )

    @get(
        "/{invoice_ref:str}",
        guards=[READERS],
        summary="An invoice with its lines; `{id}.csv` gives the lines as CSV",
        description="Client viewers see their own client's issued invoices only, never drafts.",
    )
    async def get_invoice(
        self, session: Session, caller: Caller, invoice_ref: FromPath[str]
    ) -> Response[Any]:
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
        "/{invoice_id:uuid}/finalize",
        guards=[WRITERS],
        status_code=HTTP_200_OK,
        summary="Finalize a draft: numbered (gap-free per tenant) and immutable from now on",
    )
    async def finalize_invoice(
        self, session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]
    ) -> schemas.Invoice:
        return await service.finalize(session, caller, invoice_id)

    @post(
        "/{invoice_id:uuid}/void",
        guards=[WRITERS],
        status_code=HTTP_200_OK,
        summary="Void a finalized, unpaid invoice (its number stays used; a re-run may draft a new one)",
    )
    async def void_invoice(
        self, session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]
    ) -> schemas.Invoice:
        return await service.void(session, caller, invoice_id)

    @post(
        "/{invoice_id:uuid}/mark-uncollectible",
        guards=[WRITERS],
        status_code=HTTP_200_OK,
        summary="Mark a finalized invoice uncollectible",
    )
    async def mark_uncollectible(
        self, session: Session, caller: Caller, invoice_id: FromPath[uuid.UUID]
    ) -> schemas.Invoice:
        return await service.mark_uncollectible(session, caller, invoice_id)

    @post(
        "/{invoice_id:uuid}/credit-notes",
        guards=[WRITERS],
        status_code=HTTP_201_CREATED,
        summary="Credit a finalized invoice (given lines, or a full reversal): a numbered CN- document",
    )
    async def create_credit_note(
        self,
        session: Session,
        caller: Caller,
        invoice_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.CreditNoteCreate],
    ) -> schemas.Invoice:
        today = await tenancy.tenant_today(session, caller)
        return await service.create_credit_note(session, caller, invoice_id, data, today)


class EstimateController(Controller):
    path = "/v1/clients/{client_id:uuid}/estimate"
    tags = ["billing"]
    guards = [READERS]

    @get(
        "",
        summary="見込み: the client's open billing period rated so far (an estimate, not an invoice)",
        description=(
            "What the client's invoice for the period open today would be if the period closed now: usage "
            "and surcharges through today, monthly fees, minimum and SLA credits as the period bills them, "
            "consumption tax per rate. Computed on every request, never stored nor numbered "
            "(`estimate: true`). Client viewers see their own client's; any other client is a 404."
        ),
    )
    async def client_estimate(
        self, session: Session, caller: Caller, client_id: FromPath[uuid.UUID]
    ) -> schemas.InvoiceEstimate:
        return await estimates.estimate(session, caller, client_id, datetime.now(UTC))


class InvoiceRunController(Controller):
    path = "/v1/invoice-runs"
    tags = ["billing"]

    @post(
        "",
        guards=[WRITERS],
        status_code=HTTP_202_ACCEPTED,
        summary="Compute the drafts of a month for every billable client, in the background",
        description=(
            "Re-running a month replaces its drafts and never duplicates; finalized invoices are untouched."
        ),
    )
    async def create_invoice_run(
        self, session: Session, caller: Caller, data: JSONBody[schemas.InvoiceRunCreate]
    ) -> schemas.InvoiceRun:
        return await runs.create_run(session, caller, data)

    @get("/{run_id:uuid}", guards=[OPERATORS], summary="A month-end run's status")
    async def get_invoice_run(
        self, session: Session, caller: Caller, run_id: FromPath[uuid.UUID]
    ) -> schemas.InvoiceRun:
        return await runs.get_run(session, caller, run_id)


class BillingSettingsController(Controller):
    path = "/v1/billing/settings"
    tags = ["billing"]
    guards = [ADMINS]

    @get(
        "",
        summary="The tenant's billing settings: connected Stripe account, consumption tax rate and rounding",
    )
    async def get_billing_settings(self, session: Session, caller: Caller) -> schemas.BillingSettings:
        return await account.get_settings(session, caller)

    @put(
        "",
        summary="Replace the billing settings",
        description=(
            "Tax is computed once per invoice on its subtotal; `tax_rounding` is `floor` (default, 切り捨て) "
            "or `half_up` (四捨五入). A new rate applies to drafts computed from now on, never to issued "
            "invoices. `stripe_account_id` is the connected account (`acct_…`) finalized invoices are "
            "pushed to; null stops pushing. The registration number is the tenant's own setting "
            "(PATCH /v1/tenant)."
        ),
    )
    async def put_billing_settings(
        self, session: Session, caller: Caller, data: JSONBody[schemas.BillingSettingsUpdate]
    ) -> schemas.BillingSettings:
        return await account.update_settings(session, caller, data)


class BillingIssuerController(Controller):
    path = "/v1/billing/issuer"
    tags = ["billing"]
    guards = [ADMINS]

    @get("", summary="The address and bank account (振込先) printed on the tenant's invoices")
    async def get_billing_issuer(self, session: Session, caller: Caller) -> schemas.BillingIssuerSettings:
        return await account.get_issuer(session, caller)

    @put(
        "",
        summary="Replace the address and bank account printed on invoices",
        description=(
            "Both parts, as PUT replaces them: `address` (postal code, one to four lines, optional phone) "
            "and `bank_account` (bank and branch names, `ordinary` 普通 or `checking` 当座, the 7-digit "
            "account number, the holder's name in katakana); null leaves one off. Invoices keep the "
            "details they were issued with; drafts and invoices issued from now on show the new ones."
        ),
    )
    async def put_billing_issuer(
        self, session: Session, caller: Caller, data: JSONBody[schemas.BillingIssuerUpdate]
    ) -> schemas.BillingIssuerSettings:
        return await account.update_issuer(session, caller, data)


class ReconciliationController(Controller):
    path = "/v1/billing/reconciliation"
    tags = ["billing"]
    guards = [WRITERS]

    @get("", summary="The last comparison of our issued invoices with the connected Stripe account's")
    async def get_reconciliation(self, session: Session, caller: Caller) -> schemas.Reconciliation:
        return await stripe_sync.last_reconciliation(session, caller)

    @post(
        "",
        status_code=HTTP_202_ACCEPTED,
        summary="Compare with Stripe now, in the background (it also runs daily)",
    )
    async def start_reconciliation(self, session: Session, caller: Caller) -> schemas.ReconciliationQueued:
        return schemas.ReconciliationQueued(job_id=await stripe_sync.schedule_reconcile(session, caller))


class StripeWebhookController(Controller):
    path = "/v1/stripe/webhooks"
    tags = ["billing"]

    @post(
        "",
        exclude_from_auth=True,
        status_code=HTTP_200_OK,
        summary="Stripe events of the connected accounts (signed with the endpoint secret)",
        description=(
            "No bearer token: the Stripe-Signature header is the credential. A bad or stale (over 5 min) "
            "signature is a 400 and changes nothing; an event delivered twice is applied once."
        ),
    )
    async def stripe_webhook(self, request: Request[Any, Any, Any]) -> schemas.WebhookReceipt:
        runtime: Runtime = request.app.state.runtime
        secret = runtime.settings.stripe_webhook_secret
        if secret is None:
            raise Unavailable("Stripe webhooks are not configured (BPO_STRIPE_WEBHOOK_SECRET).")
        event = stripe_webhooks.verify(
            await request.body(), request.headers.get("stripe-signature"), secret.get_secret_value()
        )
        outcome = await stripe_webhooks.receive(runtime.db, event)
        return schemas.WebhookReceipt(received=True, outcome=outcome.value)


ROUTES: list[ControllerRouterHandler] = [
    UsageController,
    InvoiceController,
    EstimateController,
    InvoiceRunController,
    BillingSettingsController,
    BillingIssuerController,
    ReconciliationController,
    StripeWebhookController,
]
