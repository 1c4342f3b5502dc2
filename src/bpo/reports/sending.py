"""A made report to its recipients: one mail each, the PDF attached, at most once per report and address."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import mail
from bpo.core.pdf import PdfUnavailable
from bpo.core.scope import Scope
from bpo.delivery.messages import queue_message
from bpo.reports import document, service
from bpo.settings import Settings
from bpo.tenancy import users

log = structlog.get_logger("bpo.reports")

MAIL_KIND = "report"


async def recipients(session: AsyncSession, scope: Scope, client_id: uuid.UUID, cadence: str) -> list[str]:
    """The subscription's addresses: the client's viewers (unless turned off) and its extra addresses; the
    viewers alone for a report made with no subscription."""
    subscription = await service.subscription_for(session, scope, client_id, cadence)
    found: list[str] = []
    if subscription is None or subscription.include_viewers:
        found += await users.client_viewer_emails(session, scope, client_id)
    if subscription is not None:
        found += subscription.extra_recipients
    return service.unique_addresses(found)


async def deliver(session: AsyncSession, scope: Scope, report_id: uuid.UUID, settings: Settings) -> int:
    """Queue the report's mail to each recipient; the number of addresses. A PDF that cannot be made here
    (no PDF library on this machine) leaves the mail with its link alone, and says so."""
    row = await service.get_report_row(session, scope, report_id)
    report = service.report_view(row)
    addresses = await recipients(session, scope, row.client_id, row.cadence)
    if not addresses:
        log.info("report_without_recipients", report_id=str(report_id), client_id=str(row.client_id))
        return 0
    attachments: list[mail.Attachment] = []
    try:
        pdf = await document.render_pdf(report)
        attachments.append(mail.Attachment(document.filename(report, "pdf"), pdf, "application/pdf"))
    except PdfUnavailable as error:
        log.warning("report_pdf_unavailable", report_id=str(report_id), reason=str(error))
    text = document.render_mail(
        report,
        report_url=mail.absolute_url(settings.public_base_url, f"/dashboard/reports/{report_id}"),
        public_url=settings.public_base_url,
        attached=bool(attachments),
    )
    for address in addresses:
        await queue_message(
            session,
            scope.tenant_id,
            MAIL_KIND,
            service.REPORT,
            report_id,
            row.period,
            address,
            text.subject,
            text.text,
            text.html,
            attachments,
        )
    return len(addresses)
