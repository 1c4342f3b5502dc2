"""Stripe's webhooks for the connected accounts: what happened to an invoice we pushed.

Order of checks. The signature over the raw body first (endpoint secret, ``TOLERANCE_SECONDS``), before
anything is read or written. Then the event's ``account`` names the tenant through the platform table of
connected accounts (``account.tenant_for_account``), and everything after runs in that tenant's transaction
with row-level security set to it: the invoice is looked up by our id from the Stripe invoice's metadata
*within that tenant*, so an event from tenant A's account cannot reach tenant B's invoice even if it names
it. The event id is inserted first (``stripe_events``, unique per tenant; the account fixes the tenant, so
this is the event id's uniqueness): a redelivered event finds its row and changes nothing.

Order of events. Stripe does not deliver in order. The ``created`` time of the last event applied to an
invoice is kept; an older one is recorded and ignored. Paid and void are final: a payment failure
reported after (or with the same second as) them changes nothing. The invoice's own life cycle decides the
rest (``service.transition_row``).

The event is applied in the request's transaction, so Stripe's 2xx means it is committed; a failure
answers 5xx and Stripe delivers it again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
import stripe
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account, schemas, service
from bpo.billing.models import Invoice, Payment, StripeEvent, StripeInvoice
from bpo.billing.stripe_sync import our_amount
from bpo.core.db import Database
from bpo.core.errors import BadRequest, Unavailable
from bpo.core.orm import new_id
from bpo.core.scope import Scope, system_scope

TOLERANCE_SECONDS = 300
Status = schemas.InvoiceStatus
# The invoice events we act on, and the status each one means; None: a failed payment attempt.
INVOICE_EVENTS: dict[str, Status | None] = {
    "invoice.paid": Status.PAID,
    "invoice.voided": Status.VOID,
    "invoice.marked_uncollectible": Status.UNCOLLECTIBLE,
    "invoice.payment_failed": None,
}
FINAL = frozenset({Status.PAID, Status.VOID})


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    # Older than what was already applied to the invoice.
    STALE = "stale"
    # A payment failure after the invoice was paid or voided.
    SUPERSEDED = "superseded"
    # Our invoice's life cycle does not allow the change (reconciliation shows the difference).
    REFUSED = "refused"
    IGNORED = "ignored"
    UNKNOWN_ACCOUNT = "unknown_account"


class EventData(msgspec.Struct):
    object: dict[str, Any]


class Event(msgspec.Struct):
    """The fields we read; Stripe adds fields over time and they are ignored."""

    id: str
    type: str
    created: int
    data: EventData
    account: str | None = None


class Transitions(msgspec.Struct):
    paid_at: int | None = None


class StripeInvoiceSnapshot(msgspec.Struct):
    id: str
    status: str | None = None
    currency: str = ""
    amount_paid: int = 0
    attempt_count: int = 0
    metadata: dict[str, str] = {}
    status_transitions: Transitions | None = None


def verify(payload: bytes, signature: str | None, secret: str) -> Event:
    """The event, if ``signature`` (the Stripe-Signature header) signs ``payload`` with ``secret`` within
    the tolerance; otherwise a 400 that says why."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise BadRequest(
            f"The Stripe-Signature header does not verify: {exc.user_message}",
            slug="invalid-stripe-signature",
        ) from None
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.", slug="invalid-stripe-signature") from None
    try:
        return msgspec.json.decode(payload, type=Event)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Not a Stripe event: {exc}", slug="invalid-stripe-event") from None


async def receive(db: Database, event: Event) -> Outcome:
    if event.account is None:
        return Outcome.IGNORED
    async with db.platform() as session:
        tenant_id = await account.tenant_for_account(session, event.account)
    if tenant_id is None:
        return Outcome.UNKNOWN_ACCOUNT
    async with db.tenant(tenant_id) as session:
        return await record_and_apply(session, system_scope(tenant_id), event)


async def record_and_apply(session: AsyncSession, scope: Scope, event: Event) -> Outcome:
    created = datetime.fromtimestamp(event.created, UTC)
    first = await session.scalar(
        insert(StripeEvent)
        .values(
            tenant_id=scope.tenant_id,
            event_id=event.id,
            type=event.type[:100],
            created=created,
            outcome="received",
        )
        .on_conflict_do_nothing()
        .returning(StripeEvent.event_id)
    )
    if first is None:
        return Outcome.DUPLICATE
    outcome, invoice_id = await _apply(session, scope, event, created)
    await session.execute(
        update(StripeEvent)
        .where(StripeEvent.tenant_id == scope.tenant_id, StripeEvent.event_id == event.id)
        .values(outcome=outcome.value, invoice_id=invoice_id)
    )
    return outcome


def _our_invoice_id(snapshot: StripeInvoiceSnapshot) -> uuid.UUID | None:
    try:
        return uuid.UUID(snapshot.metadata.get("bpo_invoice_id", ""))
    except ValueError:
        return None


async def _apply(
    session: AsyncSession, scope: Scope, event: Event, created: datetime
) -> tuple[Outcome, uuid.UUID | None]:
    if event.type not in INVOICE_EVENTS or event.data.object.get("object") != "invoice":
        return Outcome.IGNORED, None
    try:
        snapshot = msgspec.convert(event.data.object, StripeInvoiceSnapshot)
    except msgspec.ValidationError:
        return Outcome.IGNORED, None
    invoice_id = _our_invoice_id(snapshot)
    if invoice_id is None:
        return Outcome.IGNORED, None
    invoice = await session.scalar(
        select(Invoice)
        .where(Invoice.tenant_id == scope.tenant_id, Invoice.id == invoice_id)
        .with_for_update()
    )
    if invoice is None:
        return Outcome.IGNORED, None
    link = await session.scalar(
        select(StripeInvoice)
        .where(StripeInvoice.tenant_id == scope.tenant_id, StripeInvoice.invoice_id == invoice.id)
        .with_for_update()
    )
    if link is None:
        # Ours, but its push has not committed (it failed after Stripe had the invoice, and will be
        # retried): answer 503 so Stripe delivers the event again once the link exists.
        raise Unavailable(
            f"Invoice {invoice.id} is not linked to Stripe yet; retry later.", slug="stripe-not-linked"
        )
    if link.stripe_invoice_id != snapshot.id:
        return Outcome.IGNORED, invoice.id
    if link.last_event_created is not None and created < link.last_event_created:
        return Outcome.STALE, invoice.id
    target = INVOICE_EVENTS[event.type]
    if target is None:
        if Status(invoice.status) in FINAL:
            return Outcome.SUPERSEDED, invoice.id
        _record_payment(session, scope, invoice, event, snapshot, created, succeeded=False)
        outcome = Outcome.APPLIED
    elif await service.transition_row(session, scope, invoice, target):
        if target is Status.PAID:
            _record_payment(session, scope, invoice, event, snapshot, created, succeeded=True)
        outcome = Outcome.APPLIED
    else:
        outcome = Outcome.REFUSED
    link.stripe_status = snapshot.status or link.stripe_status
    link.last_event_created = created
    await session.flush()
    return outcome, invoice.id


def _record_payment(
    session: AsyncSession,
    scope: Scope,
    invoice: Invoice,
    event: Event,
    snapshot: StripeInvoiceSnapshot,
    created: datetime,
    *,
    succeeded: bool,
) -> None:
    # Stripe's amount in the invoice's currency, the one we pushed it in.
    currency = invoice.currency
    paid_at = snapshot.status_transitions.paid_at if snapshot.status_transitions else None
    session.add(
        Payment(
            tenant_id=scope.tenant_id,
            id=new_id(),
            invoice_id=invoice.id,
            status="succeeded" if succeeded else "failed",
            amount=our_amount(snapshot.amount_paid, currency) if succeeded else 0,
            currency=currency,
            stripe_event_id=event.id,
            stripe_invoice_id=snapshot.id,
            failure_message=None if succeeded else f"payment attempt {snapshot.attempt_count} failed",
            occurred_at=datetime.fromtimestamp(paid_at, UTC) if succeeded and paid_at else created,
        )
    )
