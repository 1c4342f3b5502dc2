"""An issued invoice or credit note, mailed to the client's billing contact with its PDF attached.

``billing.mail_invoice`` runs after the change that issued the document has committed (queued with it,
or by the Stripe push once Stripe's payment link is known). It renders the PDF — never in a request —
and queues one message per kind, document, period and recipient (``delivery.messages``), so running it
again sends nothing twice. The mail is in the client's language (the tenant's default when the client
names none). Where this server cannot render PDFs the mail goes without the
attachment and links to the document instead; a client without a billing address gets no mail, and the
log says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import document, schemas
from bpo.billing.models import Invoice
from bpo.clients import service as clients
from bpo.core import i18n, mail
from bpo.core.i18n import Language
from bpo.core.pdf import PdfUnavailable
from bpo.core.scope import Scope
from bpo.delivery import messages
from bpo.delivery.models import Message
from bpo.tenancy import service as tenancy

log = structlog.get_logger("bpo.billing.mail")

SUBJECT_TYPE = "invoice"
KINDS = {
    schemas.InvoiceKind.INVOICE: "invoice.issued",
    schemas.InvoiceKind.CREDIT_NOTE: "credit_note.issued",
}
# A voided or draft document is not sent: the client files what it owes.
MAILED = frozenset(
    {schemas.InvoiceStatus.FINALIZED, schemas.InvoiceStatus.PAID, schemas.InvoiceStatus.UNCOLLECTIBLE}
)
PDF_MIME = "application/pdf"


@dataclass(frozen=True, slots=True)
class Outcome:
    message_id: uuid.UUID | None
    # Why nothing was queued, for the log and the caller.
    skipped: str | None = None
    attached: bool = False


async def _existing(
    session: AsyncSession, scope: Scope, kind: str, invoice_id: uuid.UUID, period: str, recipient: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(Message.id).where(
            Message.tenant_id == scope.tenant_id,
            Message.kind == kind,
            Message.subject_type == SUBJECT_TYPE,
            Message.subject_id == invoice_id,
            Message.period == period,
            Message.recipient == recipient,
        )
    )


async def mail_invoice(
    session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, *, public_url: str
) -> Outcome:
    """Queue the document's mail to its client's billing contact (see the module's notes)."""
    # The client's language, or else the operator's default.
    client_id = await session.scalar(
        select(Invoice.client_id).where(Invoice.tenant_id == scope.tenant_id, Invoice.id == invoice_id)
    )
    chosen = (await clients.get_client_row(session, scope, client_id)).language if client_id else None
    language: Language = (
        chosen
        if i18n.is_language(chosen)
        else (await tenancy.tenant_settings(session, scope)).default_language
    )
    view = await document.load_document(session, scope, invoice_id, language)
    invoice = view.invoice
    bound = log.bind(invoice_id=str(invoice.id), number=invoice.number)
    if invoice.status not in MAILED:
        bound.info("invoice_mail_skipped", reason=f"the {invoice.kind} is {invoice.status}")
        return Outcome(None, skipped=f"status {invoice.status}")
    client = await clients.get_client_row(session, scope, invoice.client_id)
    recipient = client.billing_email.strip()
    if not recipient:
        bound.warning(
            "invoice_mail_skipped",
            reason="the client has no billing email address (clients.billing_email)",
            client_id=str(client.id),
            client_code=client.code,
        )
        return Outcome(None, skipped="no billing email")
    kind = KINDS[invoice.kind]
    period = f"{invoice.period:%Y-%m}"
    existing = await _existing(session, scope, kind, invoice.id, period, recipient)
    if existing is not None:
        bound.info("invoice_mail_already_queued", message_id=str(existing))
        return Outcome(existing, skipped="already queued")

    attachments: list[mail.Attachment] = []
    try:
        pdf = await document.render_pdf(view, language)
    except PdfUnavailable as unavailable:
        bound.warning("invoice_mail_without_pdf", reason=unavailable.detail)
    else:
        attachments.append(mail.Attachment(document.filename(invoice, ".pdf"), pdf, PDF_MIME))
    page = mail.absolute_url(public_url, f"/dashboard/invoices/{invoice.id}")
    lang = i18n.lang(language)
    title = (
        lang.gettext("Credit note")
        if invoice.kind is schemas.InvoiceKind.CREDIT_NOTE
        else lang.gettext("Invoice")
    )
    subject = lang.gettext(
        "%(title)s %(number)s from %(operator)s: %(total)s",
        title=title,
        number=invoice.number or "",
        operator=view.operator,
        total=view.total,
    )
    context = {
        "subject": subject,
        "view": view,
        "title": title,
        "contact": client.billing_contact_name,
        "page_url": page,
        "attached": bool(attachments),
        "public_url": public_url,
    }
    templates = mail.mail_templates("bpo.billing")
    message_id = await messages.queue_message(
        session,
        scope.tenant_id,
        kind,
        SUBJECT_TYPE,
        invoice.id,
        period,
        recipient,
        subject,
        i18n.render(templates, "mail/invoice.txt", language, **context),
        i18n.render(templates, "mail/invoice.html", language, **context),
        attachments,
    )
    bound.info("invoice_mail_queued", message_id=str(message_id), to=recipient, attached=bool(attachments))
    return Outcome(message_id, attached=bool(attachments))
