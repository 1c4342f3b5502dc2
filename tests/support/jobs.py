"""Waiting on jobs run elsewhere (a worker, the scheduler), reading what the broker holds, sending one
tenant's job, and what the dead-letter view and /metrics say of failed jobs."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import pytest
from dramatiq import Message

from bpo.core.jobs.models import JobRun
from bpo.core.runtime import Runtime


async def eventually(
    what: str, probe: Callable[[], Awaitable[bool]], *, within: float, every: float = 0.1
) -> None:
    """Poll ``probe`` until it holds, failing the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(every)


async def broker_messages(runtime: Runtime, stored_under: str) -> dict[str, Message[Any]]:
    """The messages the broker keeps in the hash ``stored_under``, by their Redis message id."""
    # The client does not decode responses: keys and values are bytes.
    stored = cast("dict[bytes, bytes]", await runtime.redis.hgetall(stored_under))
    return {redis_id.decode(): Message.decode(data) for redis_id, data in stored.items()}


async def send_job(
    runtime: Runtime, actor: str, queue: str, tenant_id: uuid.UUID, **kwargs: Any
) -> uuid.UUID:
    """Put one job for one tenant on the broker, as the scheduler does for every tenant; its job id."""
    job_id = uuid.uuid4()
    message: Message[Any] = Message(
        queue_name=queue,
        actor_name=actor,
        args=(),
        kwargs={**kwargs, "tenant_id": str(tenant_id), "job_id": str(job_id)},
        options={},
        message_id=str(job_id),
    )
    await asyncio.to_thread(runtime.broker.enqueue, message)
    return job_id


async def job_done(runtime: Runtime, tenant_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    """Whether the job's effect is committed (its job_runs row)."""
    async with runtime.db.tenant(tenant_id) as session:
        return await session.get(JobRun, (tenant_id, job_id)) is not None


async def job_failures(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    """The dead-letter view: the tenant's job failures (open ones unless ``status`` says otherwise)."""
    response = await client.get("/v1/job-failures", params={"limit": "200", **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def failure_count(client: httpx.AsyncClient, job: str) -> float:
    """``bpo_job_failures_total`` of ``job`` in /metrics (0 before its first failure)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    line = re.compile(rf'^bpo_job_failures_total\{{job="{re.escape(job)}"\}} (\S+)$', re.MULTILINE)
    found = line.search(response.text)
    return float(found[1]) if found else 0.0
