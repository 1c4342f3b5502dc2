"""Tenant-aware Dramatiq actors: each run opens its own transaction with the tenant set (RLS) and
records its job id in that same transaction, so a job delivered twice has its effect once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
import structlog
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.db import Database
from bpo.core.jobs.models import JobRun, OutboxMessage
from bpo.core.jobs.registry import DEFAULT_QUEUE
from bpo.settings import get_settings

log = structlog.get_logger("bpo.jobs")

JobFunction = Callable[..., Awaitable[None]]

_database: Database | None = None


def worker_database() -> Database:
    """The worker process's database, created on first use inside the worker's event loop."""
    global _database
    if _database is None:
        _database = Database(get_settings())
    return _database


async def claim(session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID, actor: str) -> bool:
    """Record the job as run in ``session``'s transaction; False when it already was."""
    inserted = await session.scalar(
        insert(JobRun)
        .values(tenant_id=tenant_id, job_id=job_id, actor=actor)
        .on_conflict_do_nothing()
        .returning(JobRun.job_id)
    )
    return inserted is not None


async def mark_completed(session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """The job's outbox row, if it has one, as completed: last in the job's transaction, so the row is
    locked only while that commits (the relay marks the same row sent)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == job_id)
        .values(completed_at=func.now())
    )


def tenant_actor(
    name: str, *, queue: str = DEFAULT_QUEUE, **options: Any
) -> Callable[[JobFunction], JobFunction]:
    """Declare ``fn(session, tenant_id, **kwargs)`` as actor ``name``; messages carry tenant_id and job_id."""

    def decorate(fn: JobFunction) -> JobFunction:
        async def run(*, tenant_id: str, job_id: str, **kwargs: Any) -> None:
            tenant = uuid.UUID(tenant_id)
            job = uuid.UUID(job_id)
            with structlog.contextvars.bound_contextvars(tenant_id=tenant_id, job_id=job_id, actor=name):
                async with worker_database().tenant(tenant) as session:
                    if not await claim(session, tenant, job, name):
                        log.info("job_already_done")
                        return
                    await fn(session, tenant, **kwargs)
                    await mark_completed(session, tenant, job)
                log.debug("job_done")

        dramatiq.actor(actor_name=name, queue_name=queue, **options)(run)
        return fn

    return decorate
