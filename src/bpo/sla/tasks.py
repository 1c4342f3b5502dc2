from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs import outbox
from bpo.core.jobs.actors import item_failures, take_over_waiting, tenant_actor
from bpo.core.jobs.registry import DETECT_JOB, REFRESH_DUE_JOB, REFRESH_HOURS_JOB, REMEASURE_JOB, SLA_QUEUE
from bpo.core.scope import system_scope
from bpo.sla import alerts, rollups


# Serial on the contract, under the same lock as rollups.refresh_hours takes: the contract's waiting
# refreshes are done with this one, so rollups keep up with ingest however fast batches come.
@tenant_actor(
    REFRESH_HOURS_JOB, queue=SLA_QUEUE, subject=(rollups.CONTRACT, "contract_id"), serial="contract_id"
)
async def refresh_hours(
    session: AsyncSession, tenant_id: uuid.UUID, *, contract_id: str, hours: list[str]
) -> None:
    scope = system_scope(tenant_id)
    waiting = await take_over_waiting(session)
    asked = [*hours, *(hour for job in waiting for hour in job["hours"])]
    touched = sorted({datetime.fromisoformat(h) for h in asked})
    now = datetime.now(UTC)
    await rollups.refresh_hours(session, scope, uuid.UUID(contract_id), touched, now)
    await alerts.detect_in_hours(session, scope, uuid.UUID(contract_id), touched, now)


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
