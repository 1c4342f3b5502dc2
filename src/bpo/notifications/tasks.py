from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import item_failures, tenant_actor
from bpo.core.jobs.registry import DELIVER_NOTICE_WEBHOOK_JOB, MAIL_QUEUE, SWEEP_NOTICES_JOB, WEBHOOK_QUEUE
from bpo.core.scope import system_scope
from bpo.delivery import webhooks
from bpo.notifications import sending
from bpo.settings import get_settings

log = structlog.get_logger("bpo.notifications")


@tenant_actor(SWEEP_NOTICES_JOB, queue=MAIL_QUEUE)
async def sweep(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Lateness come due, then each person's notices that are ready, one mail (and webhook) per person."""
    told = await sending.sweep(
        session,
        system_scope(tenant_id),
        await webhooks.database_now(session),
        get_settings(),
        item_failures(),
    )
    if told:
        log.info("people_told", people=told)


@tenant_actor(DELIVER_NOTICE_WEBHOOK_JOB, queue=WEBHOOK_QUEUE)
async def deliver_webhook(session: AsyncSession, tenant_id: uuid.UUID, *, batch_id: str) -> None:
    policy = webhooks.DeliveryPolicy(allow_local=webhooks.local_receivers(get_settings()))
    await sending.deliver_webhook(
        session,
        system_scope(tenant_id),
        uuid.UUID(batch_id),
        now=await webhooks.database_now(session),
        policy=policy,
    )
