from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account, invoice_mail, stripe_sync
from bpo.billing import invoice_runs as runs
from bpo.core.jobs.actors import item_failures, tenant_actor
from bpo.core.jobs.registry import (
    MAIL_INVOICE_JOB,
    MONTH_END_JOB,
    PUSH_INVOICE_JOB,
    RECONCILE_JOB,
    RUN_PERIOD_JOB,
)
from bpo.core.scope import system_scope
from bpo.settings import get_settings

log = structlog.get_logger("bpo.billing")


@tenant_actor(RUN_PERIOD_JOB, subject=(runs.INVOICE_RUN, "run_id"), on_failure=runs.fail_run)
async def run_period(session: AsyncSession, tenant_id: uuid.UUID, *, run_id: str) -> None:
    await runs.execute_run(session, system_scope(tenant_id), uuid.UUID(run_id), item_failures())


@tenant_actor(MONTH_END_JOB)
async def month_end(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    result = await runs.run_month_end(session, system_scope(tenant_id), now, item_failures())
    if result is not None:
        log.info("month_end_run", clients=result.clients, drafts_created=result.drafts_created)


@tenant_actor(
    PUSH_INVOICE_JOB,
    subject=("invoice", "invoice_id"),
    on_failure=stripe_sync.mail_without_push,
    retry_on=stripe_sync.TRANSIENT_ERRORS,
    max_retries=stripe_sync.PUSH_MAX_RETRIES,
    min_backoff=stripe_sync.PUSH_MIN_BACKOFF_MS,
    max_backoff=stripe_sync.PUSH_MAX_BACKOFF_MS,
)
async def push_invoice(session: AsyncSession, tenant_id: uuid.UUID, *, invoice_id: str) -> None:
    async with stripe_sync.connect(get_settings()) as stripe_client:
        await stripe_sync.push_invoice(session, system_scope(tenant_id), uuid.UUID(invoice_id), stripe_client)


@tenant_actor(MAIL_INVOICE_JOB, subject=("invoice", "invoice_id"))
async def mail_invoice(session: AsyncSession, tenant_id: uuid.UUID, *, invoice_id: str) -> None:
    await invoice_mail.mail_invoice(
        session, system_scope(tenant_id), uuid.UUID(invoice_id), public_url=get_settings().public_base_url
    )


@tenant_actor(RECONCILE_JOB)
async def reconcile_stripe(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    scope = system_scope(tenant_id)
    # Daily for every tenant: one that does not bill through Stripe has nothing to compare.
    if await account.connected_account(session, scope) is None:
        return
    async with stripe_sync.connect(get_settings()) as stripe_client:
        await stripe_sync.reconcile(session, scope, stripe_client)
