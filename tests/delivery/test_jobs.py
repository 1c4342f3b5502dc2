"""Jobs end to end: written to the outbox in a tenant transaction, relayed after commit, and run by a
real worker process (`bpo worker tests.support.actors --queue test`) against the test database and
Redis, including workers killed with SIGKILL mid-job and after commit but before the ack.

Requeue of a dead worker's messages: the Redis broker's dispatch script records a heartbeat for the
calling worker on every command and, when the command is picked for maintenance (here every command:
maintenance chance 1,000,000 per million), moves the unacked messages of workers whose heartbeat is
older than the heartbeat timeout (2 s in tests) back onto the queue the command is for. A new worker
polling the `test` queue therefore recovers a killed worker's messages within ~2 s; nothing else
needs to trigger it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bpo.core.jobs.broker import NAMESPACE, make_broker
from bpo.core.jobs.models import JobRun, OutboxMessage
from bpo.core.jobs.outbox import Relay, enqueue, relay_on_commit
from bpo.core.models import AuditEvent
from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.support.factories import create_tenant
from tests.support.jobs import broker_messages
from tests.support.processes import Worker

# Declared in tests/support/actors.py, which only the worker imports (importing it here would
# register the actor on a default broker in the test process).
ACTOR = "test.record"
QUEUE = "test"
DEADLINE_S = 60.0

# The test actors only, on their own queue.
TEST_WORKER = ("tests.support.actors", "--queue", QUEUE)

MessageState = Literal["absent", "queued", "held", "stranded"]


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(worker_env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()
            # Shown by pytest only when the test failed.
            print(f"--- {worker.log_path.name}\n{worker.log()[-4000:]}")


async def eventually(
    what: str, expected: object, probe: Callable[..., Awaitable[object]], *args: Any
) -> None:
    """Poll ``probe(*args)`` until it returns ``expected``, for at most DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while (last := await probe(*args)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE_S:.0f} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(0.1)


async def effects(runtime: Runtime, tenant_id: uuid.UUID, label: str) -> int:
    """The worker's effect (audit events labelled ``label``) as ``tenant_id`` sees it."""
    async with runtime.db.tenant(tenant_id) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == ACTOR, AuditEvent.detail["label"].astext == label)
        )
    return count or 0


async def job_runs(runtime: Runtime, tenant_id: uuid.UUID, job_id: uuid.UUID) -> int:
    async with runtime.db.tenant(tenant_id) as session:
        count = await session.scalar(select(func.count()).select_from(JobRun).where(JobRun.job_id == job_id))
    return count or 0


async def outbox_row(runtime: Runtime, tenant_id: uuid.UUID, job_id: uuid.UUID) -> tuple[bool, int] | None:
    """(sent, attempts) of the job's outbox row as ``tenant_id`` sees it; None when there is none."""
    async with runtime.db.tenant(tenant_id) as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == job_id))
    return None if row is None else (row.sent_at is not None, row.attempts)


async def message_state(runtime: Runtime, job_id: uuid.UUID) -> MessageState:
    """Where the job's message is in the broker: on the queue, held by a worker (fetched, not acked),
    or absent (acked, or never sent)."""
    redis = runtime.redis
    for redis_id, message in (await broker_messages(runtime, f"{NAMESPACE}:{QUEUE}.msgs")).items():
        if message.message_id != str(job_id):
            continue
        if await redis.lpos(f"{NAMESPACE}:{QUEUE}", redis_id) is not None:
            return "queued"
        async for key in redis.scan_iter(match=f"{NAMESPACE}:__acks__.*.{QUEUE}"):
            if await redis.sismember(key, redis_id):
                return "held"
        return "stranded"
    return "absent"


async def tenant_messages(runtime: Runtime, tenant_id: uuid.UUID) -> int:
    """Messages of ``tenant_id`` still in the broker (queued, delayed for a retry, or unacked)."""
    count = 0
    for stored_under in (f"{NAMESPACE}:{QUEUE}.msgs", f"{NAMESPACE}:{QUEUE}.DQ.msgs"):
        messages = await broker_messages(runtime, stored_under)
        count += sum(m.kwargs.get("tenant_id") == str(tenant_id) for m in messages.values())
    return count


class Abort(Exception):
    pass


async def test_committed_job_runs_in_the_worker_and_rolled_back_jobs_never_do(
    client: httpx.AsyncClient, runtime: Runtime, start_worker: Callable[[], Worker]
) -> None:
    tenant = await create_tenant(client)
    start_worker()
    suffix = uuid.uuid4().hex

    with contextlib.suppress(Abort):
        async with runtime.db.tenant(tenant.id) as session:
            relay_on_commit(session, runtime.relay)
            raised = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=f"raised-{suffix}")
            raise Abort
    async with runtime.db.tenant(tenant.id) as session:
        relay_on_commit(session, runtime.relay)
        discarded = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=f"discarded-{suffix}")
        await session.flush()
        await session.rollback()
    async with runtime.db.tenant(tenant.id) as session:
        relay_on_commit(session, runtime.relay)
        kept_before = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=f"kept-a-{suffix}")
        with contextlib.suppress(Abort):
            async with session.begin_nested():
                savepoint = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=f"savepoint-{suffix}")
                await session.flush()
                raise Abort
        kept_after = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=f"kept-b-{suffix}")
        await session.flush()
        # Nothing reaches the broker before the commit.
        assert await message_state(runtime, kept_before) == "absent"

    # Relayed by the commit itself, without waiting for the scheduler's sweep.
    for job in (kept_before, kept_after):
        assert await outbox_row(runtime, tenant.id, job) == (True, 1)

    for job, label in ((kept_before, f"kept-a-{suffix}"), (kept_after, f"kept-b-{suffix}")):
        await eventually(f"the worker to record {label}", 1, effects, runtime, tenant.id, label)
        await eventually("the worker to ack the job", "absent", message_state, runtime, job)
        assert await job_runs(runtime, tenant.id, job) == 1
    # Once the tenant has nothing left in the broker, anything that was ever sent for it has run.
    await eventually("the tenant's messages to drain", 0, tenant_messages, runtime, tenant.id)

    for job, label in ((raised, "raised"), (discarded, "discarded"), (savepoint, "savepoint")):
        assert await outbox_row(runtime, tenant.id, job) is None, label
        assert await job_runs(runtime, tenant.id, job) == 0, label
        assert await effects(runtime, tenant.id, f"{label}-{suffix}") == 0, label


async def test_tenant_context_reaches_the_worker(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, start_worker: Callable[[], Worker]
) -> None:
    tenant = await create_tenant(client)
    other = await create_tenant(client)
    start_worker()
    label = f"tenant-{uuid.uuid4().hex}"

    async with runtime.db.tenant(tenant.id) as session:
        relay_on_commit(session, runtime.relay)
        job = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=label)
    await eventually(f"the worker to record {label}", 1, effects, runtime, tenant.id, label)

    # Seen by the owner, across every tenant: one row, and it belongs to the tenant that enqueued it.
    assert settings.database_url
    owner = await asyncpg.connect(
        make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        rows = await owner.fetch("SELECT tenant_id FROM audit_events WHERE detail->>'label' = $1", label)
        runs = await owner.fetch("SELECT tenant_id FROM job_runs WHERE job_id = $1", job)
    finally:
        await owner.close()
    assert [r["tenant_id"] for r in rows] == [tenant.id]
    assert [r["tenant_id"] for r in runs] == [tenant.id]

    assert await effects(runtime, other.id, label) == 0
    assert await job_runs(runtime, other.id, job) == 0
    assert await outbox_row(runtime, other.id, job) is None


async def test_job_killed_mid_transaction_runs_again_on_a_new_worker(
    client: httpx.AsyncClient, runtime: Runtime, start_worker: Callable[[], Worker]
) -> None:
    tenant = await create_tenant(client)
    first = start_worker()
    label = f"killed-mid-job-{uuid.uuid4().hex}"

    async with runtime.db.tenant(tenant.id) as session:
        relay_on_commit(session, runtime.relay)
        job = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=label, sleep_before_commit=4.0)
    await eventually("the first worker to fetch the job", "held", message_state, runtime, job)
    await asyncio.sleep(1.0)  # inside the job's 4 s before its commit
    first.kill()

    # The killed worker's transaction died with its connection; its message was never acked.
    assert await effects(runtime, tenant.id, label) == 0
    assert await job_runs(runtime, tenant.id, job) == 0
    assert await message_state(runtime, job) == "held"

    start_worker()
    await eventually(f"a new worker to record {label}", 1, effects, runtime, tenant.id, label)
    await eventually("the new worker to ack the job", "absent", message_state, runtime, job)
    assert await effects(runtime, tenant.id, label) == 1
    assert await job_runs(runtime, tenant.id, job) == 1


async def test_job_killed_after_commit_before_ack_is_a_no_op_when_delivered_again(
    client: httpx.AsyncClient, runtime: Runtime, start_worker: Callable[[], Worker]
) -> None:
    tenant = await create_tenant(client)
    first = start_worker()
    label = f"killed-before-ack-{uuid.uuid4().hex}"

    async with runtime.db.tenant(tenant.id) as session:
        relay_on_commit(session, runtime.relay)
        job = enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=label, sleep_after_commit=10.0)
    # The effect is committed; the job lingers after its commit, before returning and being acked.
    await eventually(f"the first worker to commit {label}", 1, effects, runtime, tenant.id, label)
    first.kill()
    assert await message_state(runtime, job) == "held"

    second = start_worker()
    await eventually("the new worker to ack the redelivered job", "absent", message_state, runtime, job)
    assert await effects(runtime, tenant.id, label) == 1
    assert await job_runs(runtime, tenant.id, job) == 1
    assert second.logged("job_already_done", job), "the redelivered job did not stop at its job_runs claim"


async def test_jobs_deferred_while_redis_is_down_are_sent_by_the_sweep(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, start_worker: Callable[[], Worker]
) -> None:
    tenant = await create_tenant(client)
    start_worker()
    labels = [f"deferred-{n}-{uuid.uuid4().hex}" for n in range(2)]
    unreachable = make_broker(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    relay = Relay(runtime.db, unreachable)
    try:
        async with runtime.db.tenant(tenant.id) as session:
            relay_on_commit(session, relay)
            jobs = [enqueue(session, tenant.id, ACTOR, queue=QUEUE, label=label) for label in labels]
    finally:
        unreachable.close()

    # The commit stood; the relay failed and left the rows pending, and nothing reached the broker.
    for job in jobs:
        assert await outbox_row(runtime, tenant.id, job) == (False, 0)
        assert await message_state(runtime, job) == "absent"

    assert await runtime.relay.sweep_tenant(tenant.id, older_than=datetime.now(UTC)) == 2
    for job, label in zip(jobs, labels, strict=True):
        assert await outbox_row(runtime, tenant.id, job) == (True, 1)
        await eventually(f"the worker to record {label}", 1, effects, runtime, tenant.id, label)
    assert await runtime.relay.sweep_tenant(tenant.id, older_than=datetime.now(UTC)) == 0
    await eventually("the tenant's messages to drain", 0, tenant_messages, runtime, tenant.id)
    for job, label in zip(jobs, labels, strict=True):
        assert await effects(runtime, tenant.id, label) == 1
        assert await job_runs(runtime, tenant.id, job) == 1
