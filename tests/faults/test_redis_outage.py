"""Redis down while work comes in: ingest still commits and answers 200, the rollup jobs wait in the
outbox, and once Redis is back the scheduler's sweep (a real `bpo scheduler`) relays them and a real
`bpo worker` runs each exactly once. Redis back without the jobs it held (no persistence): the
scheduler sends the lost ones again, and each runs once. The effect is checked against an exact
recomputation."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bpo.core.jobs.models import JobRun, OutboxMessage
from bpo.core.jobs.registry import REFRESH_HOURS_JOB, SLA_QUEUE
from bpo.core.runtime import Runtime
from bpo.scheduler import Scheduler
from bpo.sla.models import SlaHourly, WorkHourly
from tests.faults.stack import Stack
from tests.support.factories import (
    PASSWORD,
    TenantHandle,
    create_api_key,
    create_tenant,
    headers_for,
    onboard,
    post_ok,
)
from tests.support.jobs import eventually
from tests.support.problems import assert_problem
from tests.support.processes import BpoProcess, process_env
from tests.support.sla import rebuild

pytestmark = pytest.mark.slow

DEADLINE_S = 45.0
BATCHES = 4
ITEMS = 60
RECEIVED = datetime(2026, 10, 5, tzinfo=UTC)
OBJECTIVES = [
    {"metric": "first_response", "threshold": "1h", "target_percent": 90, "clock": "calendar"},
    {"metric": "resolution", "threshold": "24h", "target_percent": 90, "clock": "calendar"},
]


def batch(contract_id: str, number: int) -> dict[str, Any]:
    """Items over three hours of their own, answered 10-100 min after receipt (first responses on both
    sides of the 1 h threshold) and resolved up to 36 h after that (both sides of 24 h)."""
    items = []
    for n in range(ITEMS):
        received = RECEIVED + timedelta(hours=3 * number, minutes=3 * n)
        answered = received + timedelta(minutes=10 + 3 * (n % 31))
        items.append(
            {
                "external_id": f"b{number}-{n}",
                "received_at": received.isoformat(),
                "first_response_at": answered.isoformat(),
                "resolved_at": (answered + timedelta(hours=n % 37)).isoformat(),
                "channel": "email" if n % 3 else "chat",
            }
        )
    return {"contract_id": contract_id, "items": items}


async def outbox(runtime: Runtime, tenant: TenantHandle) -> dict[uuid.UUID, tuple[bool, int]]:
    """The tenant's rollup jobs: id -> (sent, attempts)."""
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.execute(
            select(OutboxMessage.id, OutboxMessage.sent_at, OutboxMessage.attempts).where(
                OutboxMessage.actor == REFRESH_HOURS_JOB
            )
        )
        return {row.id: (row.sent_at is not None, row.attempts) for row in rows}


async def over(runtime: Runtime, tenant: TenantHandle) -> bool:
    """Whether every rollup job of the tenant is over: run (or taken over) and its message handled."""
    async with runtime.db.tenant(tenant.id) as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.actor == REFRESH_HOURS_JOB, OutboxMessage.completed_at.is_(None))
        )
        return waiting == 0


async def runs(runtime: Runtime, tenant: TenantHandle) -> Counter[uuid.UUID]:
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.scalars(select(JobRun.job_id).where(JobRun.actor == REFRESH_HOURS_JOB))
        return Counter(rows)


async def rollup_rows(runtime: Runtime, tenant: TenantHandle, contract_id: uuid.UUID) -> dict[str, Any]:
    async with runtime.db.tenant(tenant.id) as session:
        sla = await session.execute(
            select(
                SlaHourly.objective,
                SlaHourly.hour,
                SlaHourly.met,
                SlaHourly.breached,
                SlaHourly.pending,
                SlaHourly.sketch,
                SlaHourly.checkpoints,
                SlaHourly.next_change_at,
            )
            .where(SlaHourly.contract_id == contract_id)
            .order_by(SlaHourly.objective, SlaHourly.hour)
        )
        work = await session.execute(
            select(
                WorkHourly.hour,
                WorkHourly.channel,
                WorkHourly.received,
                WorkHourly.responded,
                WorkHourly.resolved,
                WorkHourly.units,
                WorkHourly.outcomes,
                WorkHourly.sentiments,
            )
            .where(WorkHourly.contract_id == contract_id)
            .order_by(WorkHourly.hour, WorkHourly.channel)
        )
        return {"sla": [tuple(r) for r in sla], "work": [tuple(r) for r in work]}


def worker_events(worker: BpoProcess, event: str) -> Counter[str]:
    """Job ids the worker logged ``event`` for, with how often."""
    return Counter(
        entry["job_id"]
        for entry in worker.entries()
        if entry.get("event") == event and entry.get("actor") == REFRESH_HOURS_JOB
    )


def handled(worker: BpoProcess, jobs: set[uuid.UUID]) -> Callable[[], Awaitable[bool]]:
    """Whether the worker has logged how it handled each job's message (a run logs after its commit, so
    the database can show a job over a moment before the worker's log does)."""

    async def probe() -> bool:
        seen = set(worker_events(worker, "job_done")) | set(worker_events(worker, "job_already_done"))
        return seen >= {str(job) for job in jobs}

    return probe


def assert_each_run_once(worker: BpoProcess, jobs: set[uuid.UUID]) -> None:
    """Each job ran to completion once: by its own run, or taken over by a run of an earlier job of the
    contract (its message then found it done)."""
    done = worker_events(worker, "job_done")
    assert set(done.values()) == {1}
    taken = worker_events(worker, "job_already_done")
    assert not set(done) & set(taken)
    assert set(done) | set(taken) == {str(job) for job in jobs}


async def measured_contract(client: httpx.AsyncClient, tenant: TenantHandle) -> tuple[str, dict[str, str]]:
    """An active contract with OBJECTIVES, and an API key of its client."""
    setup = await onboard(client, tenant)
    contract_id = setup["contract"]["id"]
    path = f"/v1/contracts/{contract_id}"
    await post_ok(
        client,
        f"{path}/sla-policies",
        {"effective_from": "2026-01-01", "objectives": OBJECTIVES},
        tenant.admin,
    )
    await post_ok(client, f"{path}/transitions", {"status": "active"}, tenant.admin)
    key = headers_for((await create_api_key(client, tenant, client_id=setup["client"]["id"]))["key"])
    return contract_id, key


async def assert_rollups_exact(runtime: Runtime, tenant: TenantHandle, contract_id: str, items: int) -> None:
    """The rollups count every item, and equal a recomputation from the raw items."""
    contract = uuid.UUID(contract_id)
    rolled_up = await rollup_rows(runtime, tenant, contract)
    assert sum(row[2] for row in rolled_up["work"]) == items
    assert len({row[0] for row in rolled_up["sla"]}) == len(OBJECTIVES)
    assert sum(row[2] for row in rolled_up["sla"]) > 0, "nothing met"
    assert sum(row[3] for row in rolled_up["sla"]) > 0, "nothing breached"
    await rebuild(runtime, tenant, contract_id, datetime.now(UTC))
    assert await rollup_rows(runtime, tenant, contract) == rolled_up


async def test_ingest_commits_while_redis_is_down_and_the_sweep_relays_each_job_once(
    stack: Stack, stack_client: httpx.AsyncClient, stack_runtime: Runtime, tmp_path: Path
) -> None:
    client, runtime = stack_client, stack_runtime
    tenant = await create_tenant(client)
    contract_id, key = await measured_contract(client, tenant)
    env = process_env(stack.settings)
    worker = BpoProcess(["worker", "--queue", SLA_QUEUE, "--threads", "2"], env, tmp_path / "worker.log")
    scheduler = BpoProcess(["scheduler"], env, tmp_path / "scheduler.log")
    try:
        # With Redis up, the commit relays the job and the worker runs it: the pipeline works.
        await post_ok(client, "/v1/work-items:batch", batch(contract_id, 0), key)
        first = set(await outbox(runtime, tenant))
        assert len(first) == 1

        async def first_ran() -> bool:
            return set(await runs(runtime, tenant)) == first

        await eventually("the worker to run the first job", first_ran, within=DEADLINE_S, every=0.2)

        await asyncio.to_thread(stack.services.stop_redis)
        for number in range(1, BATCHES + 1):
            result = await post_ok(client, "/v1/work-items:batch", batch(contract_id, number), key)
            assert result["created"] == ITEMS
        waiting = {job: state for job, state in (await outbox(runtime, tenant)).items() if job not in first}
        assert len(waiting) == BATCHES
        assert set(waiting.values()) == {(False, 0)}, "a job was marked sent while Redis was down"
        # What needs Redis fails cleanly meanwhile: readiness, and logins (their rate limits live there).
        assert_problem(await client.get("/ready"), 503, "not-ready")
        login = await client.post(
            "/v1/auth/token", json={"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
        )
        assert_problem(login, 503, "unavailable")
        assert int(login.headers["retry-after"]) > 0
        await asyncio.sleep(1.0)
        assert set(await runs(runtime, tenant)) == first

        await asyncio.to_thread(stack.services.start_redis)

        async def all_ran() -> bool:
            return set(await runs(runtime, tenant)) == first | set(waiting)

        await eventually(
            "the sweep to relay the waiting jobs and the worker to run them",
            all_ran,
            within=DEADLINE_S,
            every=0.2,
        )
        await eventually("every job's message handled", lambda: over(runtime, tenant), within=DEADLINE_S)
        await eventually("the worker's log of each job", handled(worker, first | set(waiting)), within=30)
        assert (await client.get("/ready")).status_code == 200
    finally:
        scheduler.kill()
        worker.kill()
        # Shown by pytest only when the test failed.
        print(f"--- worker\n{worker.log()[-4000:]}\n--- scheduler\n{scheduler.log()[-4000:]}")

    # Relayed once each (the waiting ones by the sweep), and run to completion once each.
    assert await outbox(runtime, tenant) == {job: (True, 1) for job in first | set(waiting)}
    assert await runs(runtime, tenant) == Counter(first | set(waiting))
    assert_each_run_once(worker, first | set(waiting))

    # Nothing lost.
    await assert_rollups_exact(runtime, tenant, contract_id, (BATCHES + 1) * ITEMS)


async def test_jobs_lost_by_a_redis_restart_without_persistence_are_sent_again_and_run_once(
    stack: Stack, stack_client: httpx.AsyncClient, stack_runtime: Runtime, tmp_path: Path
) -> None:
    client, runtime = stack_client, stack_runtime
    tenant = await create_tenant(client)
    contract_id, key = await measured_contract(client, tenant)
    scheduler = Scheduler(runtime)
    # No worker yet: each commit relays its job to Redis, where it waits.
    for number in range(BATCHES):
        await post_ok(client, "/v1/work-items:batch", batch(contract_id, number), key)
    relayed = await outbox(runtime, tenant)
    assert len(relayed) == BATCHES
    assert set(relayed.values()) == {(True, 1)}
    # Waiting in the broker is not lost: nothing is sent again.
    assert await scheduler.resend_lost(grace=timedelta(0)) == 0

    # Redis comes back empty, as after a restart without persistence: the waiting jobs are gone.
    await runtime.redis.flushdb()
    worker = BpoProcess(
        ["worker", "--queue", SLA_QUEUE, "--threads", "2"],
        process_env(stack.settings),
        tmp_path / "worker.log",
    )
    try:
        await asyncio.sleep(1.0)
        assert await runs(runtime, tenant) == Counter()
        assert await scheduler.resend_lost(grace=timedelta(0)) == BATCHES

        async def all_ran() -> bool:
            return set(await runs(runtime, tenant)) == set(relayed)

        await eventually("the worker to run the jobs sent again", all_ran, within=DEADLINE_S, every=0.2)
        await eventually("every job's message handled", lambda: over(runtime, tenant), within=DEADLINE_S)
        await eventually("the worker's log of each job", handled(worker, set(relayed)), within=30)
        # Completed jobs are never sent again.
        assert await scheduler.resend_lost(grace=timedelta(0)) == 0
    finally:
        worker.kill()
        print(f"--- worker\n{worker.log()[-4000:]}")

    assert await outbox(runtime, tenant) == {job: (True, 2) for job in relayed}
    assert await runs(runtime, tenant) == Counter(list(relayed))
    assert_each_run_once(worker, set(relayed))
    await assert_rollups_exact(runtime, tenant, contract_id, BATCHES * ITEMS)
