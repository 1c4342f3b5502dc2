from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import tenant_actor
from bpo.core.jobs.registry import DETECT_JOB, REFRESH_DUE_JOB, REFRESH_HOURS_JOB, SLA_QUEUE
from bpo.core.scope import system_scope
from bpo.sla import alerts, rollups


@tenant_actor(REFRESH_HOURS_JOB, queue=SLA_QUEUE)
async def refresh_hours(
    session: AsyncSession, tenant_id: uuid.UUID, *, contract_id: str, hours: list[str]
) -> None:
    scope = system_scope(tenant_id)
    touched = [datetime.fromisoformat(h) for h in hours]
    now = datetime.now(UTC)
    await rollups.refresh_hours(session, scope, uuid.UUID(contract_id), touched, now)
    await alerts.detect_in_hours(session, scope, uuid.UUID(contract_id), touched, now)


@tenant_actor(REFRESH_DUE_JOB, queue=SLA_QUEUE)
async def refresh_due(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Hours whose pending items time has moved on (breached, past a checkpoint) are recomputed."""
    scope = system_scope(tenant_id)
    now = datetime.now(UTC)
    for contract_id, hours in (await rollups.due_hours(session, scope, now)).items():
        await rollups.refresh_hours(session, scope, contract_id, hours, now)


@tenant_actor(DETECT_JOB, queue=SLA_QUEUE)
async def detect_alerts(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await alerts.sweep(session, system_scope(tenant_id), datetime.now(UTC))
