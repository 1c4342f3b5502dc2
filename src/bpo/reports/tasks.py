from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import item_failures, tenant_actor
from bpo.core.jobs.registry import (
    DELIVER_REPORT_JOB,
    MAIL_QUEUE,
    NOTIFY_ESCALATION_JOB,
    RUN_DUE_REPORTS_JOB,
    SWEEP_ESCALATIONS_JOB,
)
from bpo.core.scope import system_scope
from bpo.delivery.webhooks import database_now
from bpo.reports import escalation_notices, sending, service
from bpo.settings import get_settings

log = structlog.get_logger("bpo.reports")


@tenant_actor(RUN_DUE_REPORTS_JOB)
async def run_due(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    made = await service.run_due(session, system_scope(tenant_id), datetime.now(UTC), item_failures())
    if made:
        log.info("reports_made", reports=made)


@tenant_actor(DELIVER_REPORT_JOB, queue=MAIL_QUEUE, subject=(service.REPORT, "report_id"))
async def deliver(session: AsyncSession, tenant_id: uuid.UUID, *, report_id: str) -> None:
    await sending.deliver(session, system_scope(tenant_id), uuid.UUID(report_id), get_settings())


@tenant_actor(
    NOTIFY_ESCALATION_JOB, queue=MAIL_QUEUE, subject=(escalation_notices.SUBJECT_TYPE, "escalation_id")
)
async def notify_escalation(
    session: AsyncSession, tenant_id: uuid.UUID, *, escalation_id: str, notice: str
) -> None:
    await escalation_notices.notify(
        session, system_scope(tenant_id), uuid.UUID(escalation_id), notice, get_settings(), item_failures()
    )


@tenant_actor(SWEEP_ESCALATIONS_JOB, queue=MAIL_QUEUE)
async def sweep_escalations(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Escalations past their acknowledgement target: overdue once (the operator alerted), reminders."""
    followed = await escalation_notices.sweep(
        session, system_scope(tenant_id), await database_now(session), item_failures(), get_settings()
    )
    if followed:
        log.info("escalations_followed_up", escalations=followed)
