from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs import outbox
from bpo.core.jobs.actors import item_failures, take_over_waiting, tenant_actor
from bpo.core.jobs.registry import DETECT_JOB, REFRESH_DUE_JOB, REFRESH_HOURS_JOB, REMEASURE_JOB, SLA_QUEUE
from bpo.core.scope import system_scope
from bpo.sla import alerts, rollups


# Serial on the contract, under the same lock as the rollups' refresh takes: the contract's waiting
# refreshes are done with this one, so rollups keep up with ingest however fast batches come.
@tenant_actor(
    REFRESH_HOURS_JOB, queue=SLA_QUEUE, subject=(rollups.CONTRACT, "contract_id"), serial="contract_id"
)
async def refresh_hours(
    session: AsyncSession, tenant_id: uuid.UUID, *, contract_id: str, hours: list[str], batches: bool = False
) -> None:
    """The hours an ingest batch touched: brought up to the batches recorded for them (``batches``), or
    measured again whole (jobs from before batches were recorded)."""
    scope = system_scope(tenant_id)
    jobs = [{"hours": hours, "batches": batches}, *await take_over_waiting(session)]
    whole = {datetime.fromisoformat(h) for job in jobs if not job.get("batches") for h in job["hours"]}
    recorded = {datetime.fromisoformat(h) for job in jobs if job.get("batches") for h in job["hours"]}
    now = datetime.now(UTC)
    contract = uuid.UUID(contract_id)
    followed = await rollups.add_batches(session, scope, contract, recorded, now, whole=whole)
    await alerts.detect_in_hours(session, scope, contract, followed.whole, now, followed.added)


@tenant_actor(REFRESH_DUE_JOB, queue=SLA_QUEUE)
async def refresh_due(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Hours whose pending items time has moved on (breached, past a checkpoint) are recomputed."""
    await rollups.refresh_due(session, system_scope(tenant_id), datetime.now(UTC), item_failures())


@tenant_actor(DETECT_JOB, queue=SLA_QUEUE)
async def detect_alerts(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await alerts.sweep(session, system_scope(tenant_id), datetime.now(UTC), failures=item_failures())


@tenant_actor(REMEASURE_JOB, queue=SLA_QUEUE, subject=(rollups.CONTRACT, "contract_id"))
async def remeasure(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    contract_id: str,
    received_from: str,
    received_to: str | None = None,
) -> None:
    """The hours holding items received in a range (to now when open) measured again, a week of them per
    job: a contract's SLA policy version was corrected or deleted."""
    now = datetime.now(UTC)
    end = datetime.fromisoformat(received_to) if received_to else now
    start = datetime.fromisoformat(received_from)
    following = await rollups.remeasure(
        session, system_scope(tenant_id), uuid.UUID(contract_id), start, end, now
    )
    if following is not None:
        outbox.enqueue(
            session,
            tenant_id,
            REMEASURE_JOB,
            queue=SLA_QUEUE,
            contract_id=contract_id,
            received_from=following.isoformat(),
            received_to=end.isoformat(),
        )
