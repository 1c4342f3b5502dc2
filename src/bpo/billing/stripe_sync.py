"""Finalized invoices to the tenant's connected Stripe account, and a reconciliation of the two.

Idempotency. Every call that creates something carries a key made of our ids: ``bpo-customer-<client
id>``, ``bpo-invoice-<invoice id>``, ``…-line-<n>``, ``…-tax`` (``…-tax-reduced``) and ``…-finalize``. A
retry, whether the SDK's own after a timeout or a 5xx (``NETWORK_RETRIES``) or the job's after it failed,
therefore replays Stripe's first answer instead of creating a second customer, item or invoice. Stripe
keeps keys for 24 h; the job's retries (``PUSH_MAX_RETRIES``) end long before that. A push runs in the
job's transaction with the invoice row locked, so two pushes of one invoice are serialised and the second
finds the first's ids.

Money. One invoice item per line, in the line's currency, plus one per tax rate for the consumption tax as
we computed it (rounded once per rate and invoice): Stripe's total is our total to the yen, and no Stripe
tax rate re-rounds it.
Amounts are integers in the currency's minor unit on both sides; ``stripe_amount`` checks rather than
assumes that (JPY, KRW and VND are zero-decimal in ISO 4217 and at Stripe alike).

Client. ``stripe.StripeClient`` over httpx (async) with ``TIMEOUT_SECONDS`` per request and
``NETWORK_RETRIES`` automatic retries (Stripe's SDK retries timeouts, connection errors, 409 and 5xx,
with backoff, reusing the request's idempotency key); ``stripe_api_base`` points it elsewhere (tests).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import stripe
import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account, schemas, service
from bpo.billing.models import Invoice, InvoiceLine, StripeCustomer, StripeInvoice, StripeReconciliation
from bpo.clients import service as clients
from bpo.clients.schemas import TaxClass
from bpo.core import audit
from bpo.core.errors import Conflict, NotFound
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import RECONCILE_JOB
from bpo.core.money import MINOR_UNIT_EXPONENT
from bpo.core.orm import new_id
from bpo.core.scope import Scope
from bpo.settings import Settings
from bpo.tenancy import service as tenancy

log = structlog.get_logger("bpo.stripe")

TIMEOUT_SECONDS = 20.0
NETWORK_RETRIES = 2
# Retries of billing.push_invoice: about 1.5 h of them at most, well inside Stripe's 24 h keys. Only
# Stripe's own trouble (and the network's) is retried; a request Stripe refuses fails the push at once.
PUSH_MAX_RETRIES = 20
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
)
PUSH_MIN_BACKOFF_MS = 5_000
PUSH_MAX_BACKOFF_MS = 300_000
# How far back a reconciliation looks, on both sides.
RECONCILE_WINDOW = timedelta(days=400)
# A finalized invoice younger than this may still be on its way to Stripe.
PUSH_GRACE = timedelta(hours=1)
LIST_PAGE = 100
# Stripe's zero-decimal currencies (amounts in the main unit); every other one it takes in hundredths.
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# Our status of an issued invoice, as Stripe names the same state.
STRIPE_STATUS = {
    schemas.InvoiceStatus.FINALIZED: "open",
    schemas.InvoiceStatus.PAID: "paid",
    schemas.InvoiceStatus.VOID: "void",
    schemas.InvoiceStatus.UNCOLLECTIBLE: "uncollectible",
}


class StripeNotConfigured(RuntimeError):
    pass


def _scale(currency: str) -> int:
    """How many of Stripe's units make one of our minor units of ``currency``."""
    ours = MINOR_UNIT_EXPONENT[currency]
    theirs = 0 if currency in STRIPE_ZERO_DECIMAL else 2
    if ours > theirs:
        raise ValueError(f"{currency}: Stripe's unit is coarser than ours")
    return int(10 ** (theirs - ours))


def stripe_amount(amount: int, currency: str) -> int:
    """Stripe's integer amount for ``amount`` minor units of ``currency`` (yen as yen, cents as cents)."""
    return amount * _scale(currency)


def our_amount(amount: int, currency: str) -> int:
    whole, rest = divmod(amount, _scale(currency))
    if rest:
        raise ValueError(f"{amount} is not a whole number of {currency} minor units")
    return whole


@asynccontextmanager
async def connect(
    settings: Settings, *, request_timeout: float = TIMEOUT_SECONDS, network_retries: int = NETWORK_RETRIES
) -> AsyncIterator[stripe.StripeClient]:
    if settings.stripe_api_key is None:
        raise StripeNotConfigured("BPO_STRIPE_API_KEY is not set: invoices cannot be pushed to Stripe")
    http = stripe.HTTPXClient(timeout=request_timeout)
    client = stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=network_retries,
        http_client=http,
    )
    try:
        yield client
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def _options(account_id: str, key: str | None = None) -> stripe.RequestOptions:
    options: stripe.RequestOptions = {"stripe_account": account_id}
    if key is not None:
        options["idempotency_key"] = key
    return options


# --- push --------------------------------------------------------------------------------------------


async def _link(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> StripeInvoice | None:
    return await session.scalar(
        select(StripeInvoice).where(
            StripeInvoice.tenant_id == scope.tenant_id, StripeInvoice.invoice_id == invoice_id
        )
    )


async def ensure_customer(
    session: AsyncSession,
    scope: Scope,
    stripe_client: stripe.StripeClient,
    account_id: str,
    client_id: uuid.UUID,
) -> str:
    """The client's customer on the connected account, created once."""
    known = await session.scalar(
        select(StripeCustomer.stripe_customer_id).where(
            StripeCustomer.tenant_id == scope.tenant_id,
            StripeCustomer.client_id == client_id,
            StripeCustomer.stripe_account_id == account_id,
        )
    )
    if known is not None:
        return known
    client = await clients.get_client_row(session, scope, client_id)
    params: stripe.params.CustomerCreateParams = {
        "name": client.legal_name or client.name,
        "metadata": {"bpo_client_id": str(client.id), "bpo_client_code": client.code},
    }
    if client.billing_email:
        params["email"] = client.billing_email
    customer = await stripe_client.v1.customers.create_async(
        params, _options(account_id, f"bpo-customer-{client.id}")
    )
    await session.execute(
        insert(StripeCustomer)
        .values(
            tenant_id=scope.tenant_id,
            client_id=client.id,
            stripe_account_id=account_id,
            stripe_customer_id=customer.id,
        )
        .on_conflict_do_nothing()
    )
    return customer.id


def _line_description(line: InvoiceLine) -> str:
    text = f"{line.contract_code}: {line.description}" if line.contract_code else line.description
    return text[:500]


async def push_invoice(
    session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, stripe_client: stripe.StripeClient
) -> StripeInvoice | None:
    """Push a finalized invoice: customer, draft invoice, one item per line and the tax, finalize. None
    when there is nothing to push (voided or settled before it went out, or no connected account)."""
    invoice = await service.get_invoice_row(session, scope, invoice_id, for_update=True)
    pushed = await _link(session, scope, invoice.id)
    if pushed is not None:
        return pushed
    if (
        invoice.kind != schemas.InvoiceKind.INVOICE.value
        or invoice.status != schemas.InvoiceStatus.FINALIZED.value
    ):
        account.schedule_mail(session, scope, invoice.id)
        return None
    account_id = await account.connected_account(session, scope)
    if account_id is None:
        # Disconnected since the invoice was issued: it goes out by mail without Stripe's link.
        account.schedule_mail(session, scope, invoice.id)
        return None
    assert invoice.number is not None
    customer_id = await ensure_customer(session, scope, stripe_client, account_id, invoice.client_id)
    currency = invoice.currency
    zone = ZoneInfo(await tenancy.tenant_time_zone(session, scope))
    due = datetime.combine(invoice.due_on, time(23, 59, 59), zone)
    params: stripe.params.InvoiceCreateParams = {
        "customer": customer_id,
        "currency": currency.lower(),
        "collection_method": "send_invoice",
        "due_date": int(due.timestamp()),
        # The qualified invoice is ours (numbered, with the registration number); Stripe collects, but
        # neither emails nor charges anything on its own.
        "auto_advance": False,
        "pending_invoice_items_behavior": "exclude",
        "number": invoice.number,
        "description": f"{invoice.client_name}, {invoice.period:%Y-%m}",
        "metadata": {"bpo_invoice_id": str(invoice.id), "bpo_number": invoice.number},
    }
    if invoice.registration_number:
        params["footer"] = f"Qualified invoice issuer registration number: {invoice.registration_number}"
    key = f"bpo-invoice-{invoice.id}"
    draft = await stripe_client.v1.invoices.create_async(params, _options(account_id, key))
    assert draft.id is not None
    items: list[tuple[str, int, str]] = [
        (f"{key}-line-{line.position}", line.amount, _line_description(line))
        for line in await service.invoice_lines(session, scope, invoice.id)
    ]
    # One item per rate's tax, as the invoice rounded it: the items add up to our total exactly.
    for tax in service.stored_taxes(invoice.taxes):
        if tax.tax:
            suffix = "" if tax.tax_class is TaxClass.STANDARD else f"-{tax.tax_class.value}"
            label = f"Consumption tax {(100 * tax.rate).normalize():f}%"
            if tax.tax_class is TaxClass.REDUCED:
                label += " (reduced rate)"
            items.append((f"{key}-tax{suffix}", tax.tax, f"{label} on {tax.taxable}"))
    for item_key, amount, description in items:
        await stripe_client.v1.invoice_items.create_async(
            {
                "customer": customer_id,
                "invoice": draft.id,
                "currency": currency.lower(),
                "amount": stripe_amount(amount, currency),
                "description": description,
                "metadata": {"bpo_invoice_id": str(invoice.id)},
            },
            _options(account_id, item_key),
        )
    final = await stripe_client.v1.invoices.finalize_invoice_async(
        draft.id, {"auto_advance": False}, _options(account_id, f"{key}-finalize")
    )
    if final.total != stripe_amount(invoice.total, currency):
        # Left for the reconciliation to report; the invoice exists at Stripe either way.
        log.warning(
            "stripe_total_differs", invoice_id=str(invoice.id), ours=invoice.total, stripe=final.total
        )
    link = StripeInvoice(
        tenant_id=scope.tenant_id,
        invoice_id=invoice.id,
        stripe_account_id=account_id,
        stripe_invoice_id=draft.id,
        stripe_status=final.status or "open",
        amount_due=final.amount_due,
        hosted_invoice_url=final.hosted_invoice_url,
    )
    session.add(link)
    audit.record(session, scope, "invoice.pushed", "invoice", invoice.id, stripe_invoice_id=draft.id)
    # The mail waited for the push: it carries Stripe's payment link.
    account.schedule_mail(session, scope, invoice.id)
    await session.flush()
    return link


async def mail_without_push(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, reason: str) -> None:
    """The push failed for good: the invoice still goes to its client, without Stripe's link."""
    log.warning("invoice_mailed_without_stripe", invoice_id=str(invoice_id), reason=reason)
    account.schedule_mail(session, scope, invoice_id)


# --- reconciliation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ours:
    invoice_id: uuid.UUID
    number: str | None
    status: schemas.InvoiceStatus
    total: int
    currency: str
    finalized_at: datetime | None
    stripe_invoice_id: str | None


@dataclass(frozen=True, slots=True)
class Theirs:
    id: str
    status: str | None
    total: int
    bpo_invoice_id: str | None


def _mismatch(
    kind: schemas.ReconciliationKind,
    invoice: Ours,
    ours: str | int | None = None,
    stripe: str | int | None = None,
) -> schemas.Mismatch:
    return schemas.Mismatch(
        kind=kind,
        invoice_id=invoice.invoice_id,
        number=invoice.number,
        stripe_invoice_id=invoice.stripe_invoice_id,
        ours=ours,
        stripe=stripe,
    )


def compare(
    ours: Iterable[Ours], theirs: Iterable[Theirs], now: datetime, known: Iterable[str] = ()
) -> list[schemas.Mismatch]:
    """What differs between our issued invoices and the account's invoices. ``known`` are ids of ours
    outside the window whose Stripe invoices may still be listed."""
    by_id = {invoice.id: invoice for invoice in theirs}
    claimed: set[str] = set(known)
    mismatches: list[schemas.Mismatch] = []
    Kind = schemas.ReconciliationKind
    for invoice in sorted(ours, key=lambda o: (o.number or "", o.invoice_id)):
        claimed.add(str(invoice.invoice_id))
        if invoice.stripe_invoice_id is None:
            settled_locally = invoice.status is not schemas.InvoiceStatus.FINALIZED
            young = invoice.finalized_at is not None and now - invoice.finalized_at < PUSH_GRACE
            if not (settled_locally or young):
                mismatches.append(_mismatch(Kind.NOT_PUSHED, invoice))
            continue
        found = by_id.get(invoice.stripe_invoice_id)
        if found is None:
            mismatches.append(_mismatch(Kind.MISSING_IN_STRIPE, invoice))
            continue
        expected_total = stripe_amount(invoice.total, invoice.currency)
        if found.total != expected_total:
            mismatches.append(_mismatch(Kind.AMOUNT, invoice, expected_total, found.total))
        if found.status != STRIPE_STATUS[invoice.status]:
            mismatches.append(_mismatch(Kind.STATUS, invoice, STRIPE_STATUS[invoice.status], found.status))
    for other in sorted(by_id.values(), key=lambda t: t.id):
        if other.bpo_invoice_id is not None and other.bpo_invoice_id not in claimed:
            mismatches.append(
                schemas.Mismatch(kind=Kind.UNKNOWN_IN_STRIPE, stripe_invoice_id=other.id, stripe=other.status)
            )
    return mismatches


async def _stripe_invoices(
    stripe_client: stripe.StripeClient, account_id: str, since: datetime
) -> list[Theirs]:
    found: list[Theirs] = []
    params: stripe.params.InvoiceListParams = {"limit": LIST_PAGE, "created": {"gte": int(since.timestamp())}}
    while True:
        page = await stripe_client.v1.invoices.list_async(params, _options(account_id))
        for invoice in page.data:
            assert invoice.id is not None
            metadata: dict[str, str] = invoice.metadata.to_dict() if invoice.metadata else {}
            reference = metadata.get("bpo_invoice_id")
            found.append(Theirs(invoice.id, invoice.status, invoice.total, reference))
        if not page.has_more or not page.data:
            return found
        last = page.data[-1].id
        assert last is not None
        params["starting_after"] = last


def reconciliation_view(row: StripeReconciliation) -> schemas.Reconciliation:
    return schemas.Reconciliation(
        id=row.id,
        stripe_account_id=row.stripe_account_id,
        created_at=row.created_at,
        checked=row.checked,
        mismatches=msgspec.convert(row.mismatches, list[schemas.Mismatch]),
    )


async def reconcile(
    session: AsyncSession, scope: Scope, stripe_client: stripe.StripeClient, now: datetime | None = None
) -> schemas.Reconciliation | None:
    """Compare the tenant's issued invoices of the last RECONCILE_WINDOW with the connected account's
    (amount, status), store the report and return it; None without a connected account."""
    account_id = await account.connected_account(session, scope)
    if account_id is None:
        return None
    now = now or datetime.now(UTC)
    since = now - RECONCILE_WINDOW
    rows = await session.execute(
        select(Invoice, StripeInvoice.stripe_invoice_id)
        .outerjoin(
            StripeInvoice,
            (StripeInvoice.tenant_id == Invoice.tenant_id) & (StripeInvoice.invoice_id == Invoice.id),
        )
        .where(
            Invoice.tenant_id == scope.tenant_id,
            Invoice.kind == schemas.InvoiceKind.INVOICE.value,
            Invoice.status != schemas.InvoiceStatus.DRAFT.value,
            Invoice.finalized_at >= since,
        )
    )
    ours = [
        Ours(
            invoice.id,
            invoice.number,
            schemas.InvoiceStatus(invoice.status),
            invoice.total,
            invoice.currency,
            invoice.finalized_at,
            stripe_invoice_id,
        )
        for invoice, stripe_invoice_id in rows.all()
    ]
    theirs = await _stripe_invoices(stripe_client, account_id, since)
    referenced = {t.bpo_invoice_id for t in theirs if t.bpo_invoice_id} - {str(o.invoice_id) for o in ours}
    known = await _our_invoice_ids(session, scope, referenced)
    mismatches = compare(ours, theirs, now, known)
    row = StripeReconciliation(
        tenant_id=scope.tenant_id,
        id=new_id(),
        stripe_account_id=account_id,
        checked=len(ours),
        mismatches=msgspec.to_builtins(mismatches),
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    log.info("stripe_reconciled", checked=len(ours), mismatches=len(mismatches))
    return reconciliation_view(row)


async def _our_invoice_ids(session: AsyncSession, scope: Scope, candidates: set[str]) -> set[str]:
    ids = []
    for candidate in candidates:
        try:
            ids.append(uuid.UUID(candidate))
        except ValueError:
            continue
    if not ids:
        return set()
    found = await session.scalars(
        select(Invoice.id).where(Invoice.tenant_id == scope.tenant_id, Invoice.id.in_(ids))
    )
    return {str(i) for i in found.all()}


async def last_reconciliation(session: AsyncSession, scope: Scope) -> schemas.Reconciliation:
    row = await session.scalar(
        select(StripeReconciliation)
        .where(StripeReconciliation.tenant_id == scope.tenant_id)
        .order_by(StripeReconciliation.created_at.desc(), StripeReconciliation.id.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound("No reconciliation with Stripe has run yet.")
    return reconciliation_view(row)


async def schedule_reconcile(session: AsyncSession, scope: Scope) -> uuid.UUID:
    """Queue a reconciliation now (besides the daily one)."""
    if await account.connected_account(session, scope) is None:
        raise Conflict(
            "No Stripe account is connected: set one in the billing settings.", slug="stripe-not-connected"
        )
    return outbox.enqueue(session, scope.tenant_id, RECONCILE_JOB)
