"""Webhook events of the invoice life cycle, written in the transaction that makes the change.

``invoice.finalized`` when an invoice is issued and ``credit_note.issued`` when a credit note is;
``invoice.paid`` and ``invoice.voided`` for either kind (``kind`` says which). An endpoint bound to a
client gets only its client's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import schemas
from bpo.billing.models import Invoice, StripeInvoice
from bpo.clients import service as clients
from bpo.core.scope import Scope
from bpo.delivery import webhooks

Status = schemas.InvoiceStatus
Kind = schemas.InvoiceKind

EVENT_TYPES: dict[tuple[Kind, Status], str] = {
    (Kind.INVOICE, Status.FINALIZED): "invoice.finalized",
    (Kind.CREDIT_NOTE, Status.FINALIZED): "credit_note.issued",
    (Kind.INVOICE, Status.PAID): "invoice.paid",
    (Kind.CREDIT_NOTE, Status.PAID): "invoice.paid",
    (Kind.INVOICE, Status.VOID): "invoice.voided",
    (Kind.CREDIT_NOTE, Status.VOID): "invoice.voided",
}


def event_data(invoice: Invoice, client_code: str, hosted_invoice_url: str | None) -> dict[str, Any]:
    return {
        "invoice_id": str(invoice.id),
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status,
        "client_id": str(invoice.client_id),
        "client_code": client_code,
        "period": f"{invoice.period:%Y-%m}",
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "subtotal": {"amount": invoice.subtotal, "currency": invoice.currency},
        "tax": {"amount": invoice.tax, "currency": invoice.currency},
        "total": {"amount": invoice.total, "currency": invoice.currency},
        "currency": invoice.currency,
        "corrects_invoice_id": str(invoice.corrects_invoice_id) if invoice.corrects_invoice_id else None,
        "hosted_invoice_url": hosted_invoice_url,
    }


async def announce(session: AsyncSession, scope: Scope, invoice: Invoice) -> int:
    """The event of the invoice's new status, to the endpoints subscribed to it; the deliveries made."""
    event_type = EVENT_TYPES.get((Kind(invoice.kind), Status(invoice.status)))
    if event_type is None:
        return 0
    client = await clients.get_client_row(session, scope, invoice.client_id)
    link = await session.get(StripeInvoice, (scope.tenant_id, invoice.id))
    data = event_data(invoice, client.code, link.hosted_invoice_url if link is not None else None)
    return await webhooks.emit(
        session, scope.tenant_id, [webhooks.NewEvent(event_type, data, client_id=invoice.client_id)]
    )
