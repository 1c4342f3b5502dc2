from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.delivery.jobs import tenant_actor, worker_database
from bpo.delivery.queues import STAFFING_QUEUE
from bpo.staffing import runs
from bpo.tenancy.auth import system_scope


@tenant_actor(runs.SOLVE_JOB, queue=STAFFING_QUEUE, max_retries=3)
async def solve_period(session: AsyncSession, tenant_id: uuid.UUID, *, run_id: str) -> None:
    scope = system_scope(tenant_id)
    # Committed at once, apart from the job's own transaction, so the run shows as running meanwhile.
    async with worker_database().tenant(tenant_id) as marking:
        await runs.mark_running(marking, scope, uuid.UUID(run_id))
    await runs.execute_run(session, scope, uuid.UUID(run_id))
