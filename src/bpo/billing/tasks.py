from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import runs
from bpo.delivery.jobs import tenant_actor
from bpo.tenancy.auth import system_scope


@tenant_actor(runs.RUN_PERIOD_JOB)
async def run_period(session: AsyncSession, tenant_id: uuid.UUID, *, run_id: str) -> None:
    await runs.execute_run(session, system_scope(tenant_id), uuid.UUID(run_id))
