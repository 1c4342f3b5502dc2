from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import tenant_actor
from bpo.core.jobs.registry import (
    DELIVER_JOB,
    MAIL_QUEUE,
    SEND_MAIL_JOB,
    SWEEP_JOB,
    SWEEP_MAIL_JOB,
    WEBHOOK_QUEUE,
)
from bpo.core.scope import system_scope
from bpo.delivery import messages, webhooks
from bpo.settings import get_settings


@tenant_actor(DELIVER_JOB, queue=WEBHOOK_QUEUE)
async def deliver(session: AsyncSession, tenant_id: uuid.UUID, *, delivery_id: str) -> None:
    policy = webhooks.DeliveryPolicy(allow_local=webhooks.local_receivers(get_settings()))
    await webhooks.deliver(
        session,
        system_scope(tenant_id),
        uuid.UUID(delivery_id),
        now=await webhooks.database_now(session),
        policy=policy,
    )


@tenant_actor(SWEEP_JOB, queue=WEBHOOK_QUEUE)
async def sweep_due(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await webhooks.sweep_due(session, system_scope(tenant_id), now=await webhooks.database_now(session))


@tenant_actor(SEND_MAIL_JOB, queue=MAIL_QUEUE)
async def send_message(session: AsyncSession, tenant_id: uuid.UUID, *, message_id: str) -> None:
    await messages.send_message(
        session,
        system_scope(tenant_id),
        uuid.UUID(message_id),
        now=await webhooks.database_now(session),
        policy=messages.SendPolicy.from_settings(get_settings()),
    )


@tenant_actor(SWEEP_MAIL_JOB, queue=MAIL_QUEUE)
async def sweep_due_messages(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await messages.sweep_due(session, system_scope(tenant_id), now=await webhooks.database_now(session))
