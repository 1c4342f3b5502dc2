"""Rollups keep up with ingest: a contract's refresh job does the contract's waiting refreshes with its
own, once, and their messages then find nothing left to do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bpo.core.jobs.models import JobRun, OutboxMessage
from bpo.core.jobs.registry import REFRESH_HOURS_JOB, SLA_QUEUE
from bpo.core.runtime import Runtime
from tests.support.factories import create_tenant, get_ok
from tests.support.jobs import eventually
from tests.support.processes import Worker
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, sla_contract


def at(instant: datetime) -> str:
    return instant.isoformat()


async def refresh_jobs(runtime: Runtime, tenant_id: uuid.UUID) -> list[OutboxMessage]:
    async with runtime.db.tenant(tenant_id) as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.actor == REFRESH_HOURS_JOB)
            .order_by(OutboxMessage.created_at)
        )
        return list(rows)


async def runs_of(runtime: Runtime, tenant_id: uuid.UUID, jobs: list[uuid.UUID]) -> list[JobRun]:
    async with runtime.db.tenant(tenant_id) as session:
        rows = await session.scalars(
            select(JobRun).where(JobRun.tenant_id == tenant_id, JobRun.job_id.in_(jobs))
        )
        return list(rows)


async def test_waiting_refreshes_of_a_contract_are_done_together_and_exactly(
    client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = await create_tenant(client)
    h = tenant.admin
    contract = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    # Three batches while no worker runs: three refresh jobs wait, over overlapping hours.
    batches: list[list[dict[str, Any]]] = [
        [
            {"external_id": f"b{b}-{n}", "received_at": at(start + timedelta(hours=b * 3 + n, minutes=5))}
            | ({"first_response_at": at(start + timedelta(hours=b * 3 + n, minutes=20))} if n % 2 else {})
            for n in range(6)
        ]
        for b in range(3)
    ]
    for batch in batches:
        await ingest(client, h, contract, batch)
    jobs = await refresh_jobs(runtime, tenant.id)
    assert len(jobs) == 3
    assert all(job.completed_at is None for job in jobs)

    # One worker thread: without taking over, the jobs would run one after another.
    args = ("--queue", SLA_QUEUE, "--processes", "1", "--threads", "1")
    worker = Worker(worker_env, tmp_path / "worker.log", args=args)
    try:
        ids = [job.id for job in jobs]

        async def all_over() -> bool:
            return all(job.completed_at is not None for job in await refresh_jobs(runtime, tenant.id))

        await eventually("the three refresh jobs over", all_over, within=60)
    finally:
        worker.kill()

    runs = await runs_of(runtime, tenant.id, ids)
    assert {run.job_id for run in runs} == set(ids)
    # The first job's transaction recorded the two others: one run, one commit time.
    assert len({run.completed_at for run in runs}) == 1

    # And the rollups hold every item of the three batches, measured as the items say.
    (objective,) = (await get_ok(client, f"/v1/contracts/{contract}/sla", h))["objectives"]
    answered = sum(1 for batch in batches for item in batch if "first_response_at" in item)
    assert objective["met"] == answered
    assert objective["met"] + objective["breached"] + objective["pending"] == 18
