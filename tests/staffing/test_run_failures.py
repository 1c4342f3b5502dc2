"""A schedule run that can never be solved (planted straight in the database, as an older release could
have accepted it): its job fails once, at once, the run ends failed with the reason instead of staying
queued, and the failure is in the dead-letter view."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bpo.core.jobs.registry import SOLVE_JOB, STAFFING_QUEUE
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.staffing import models
from tests.support.factories import create_tenant, get_ok, onboard
from tests.support.jobs import eventually, job_failures, send_job
from tests.support.processes import Worker


async def test_a_run_past_the_last_date_ends_failed_at_once(
    client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = await create_tenant(client)
    contract_id = (await onboard(client, tenant))["contract"]["id"]
    run_id = new_id()
    async with runtime.db.tenant(tenant.id) as session:
        # The last week a date can hold: the day after it is past what the calendar arithmetic can reach.
        session.add(
            models.ScheduleRun(
                tenant_id=tenant.id,
                id=run_id,
                period_from=date(9999, 12, 25),
                period_to=date(9999, 12, 31),
                contract_ids=[uuid.UUID(contract_id)],
            )
        )
    path = f"/v1/schedule-runs/{run_id}"
    # Only its own queue: jobs other tests left in the shared Redis do not queue ahead of it.
    worker = Worker(worker_env, tmp_path / "worker.log", args=("--queue", STAFFING_QUEUE))
    try:
        job_id = await send_job(runtime, SOLVE_JOB, STAFFING_QUEUE, tenant.id, run_id=str(run_id))

        async def finished() -> bool:
            run = await get_ok(client, path, tenant.admin)
            return bool(run["status"] not in ("queued", "running"))

        await eventually("the run finished", finished, within=60)
    finally:
        worker.kill()

    run: dict[str, Any] = await get_ok(client, path, tenant.admin)
    assert run["status"] == "failed", run
    assert run["error"] == "The run failed: OverflowError: date value out of range"
    assert run["finished_at"] is not None
    (failure,) = await job_failures(client, tenant.admin, object_id=str(run_id))
    assert failure["job"] == "staffing.solve_period"
    assert failure["object_type"] == "schedule_run"
    assert failure["job_id"] == str(job_id)
    assert failure["attempts"] == 1
    assert failure["cause"] == "deterministic"
    assert "job_retrying" not in worker.log()
