from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import tenant_actor, worker_database
from bpo.core.jobs.registry import SOLVE_JOB, STAFFING_QUEUE
from bpo.core.scope import system_scope
from bpo.staffing import schedule_runs as runs


@tenant_actor(
    SOLVE_JOB,
    queue=STAFFING_QUEUE,
    subject=(runs.SCHEDULE_RUN, "run_id"),
    on_failure=runs.fail_run,
    max_retries=3,
)
async def solve_period(session: AsyncSession, tenant_id: uuid.UUID, *, run_id: str) -> None:
    scope = system_scope(tenant_id)
    # Committed at once, apart from the job's own transaction, so the run shows as running meanwhile.
    async with worker_database().tenant(tenant_id) as marking:
        await runs.mark_running(marking, scope, uuid.UUID(run_id))
    await runs.execute_run(session, scope, uuid.UUID(run_id))
