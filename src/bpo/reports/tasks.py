from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import item_failures, tenant_actor
from bpo.core.jobs.registry import DELIVER_REPORT_JOB, MAIL_QUEUE, RUN_DUE_REPORTS_JOB
from bpo.core.scope import system_scope
from bpo.reports import sending, service
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
