"""Tenant-aware Dramatiq actors: each run opens its own transaction with the tenant set (RLS) and
records its job id in that same transaction, so a job delivered twice has its effect once.

A run fails small (``failures``). Only a transient error is retried, with backoff, up to the actor's
``max_retries``; any other error fails the run at once. A run that fails for good is recorded in
``job_failures`` with its reason, against the object its message names (``subject``), and the actor's
``on_failure`` marks that object failed (an invoice run, a schedule run) in the same transaction; its
outbox row is finished and the message goes to the broker's dead-letter queue. A tenant-wide job goes
through its contracts one by one (``item_failures().isolated``): the ones that fail are recorded with the
run, the others done."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage
from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.db import Database
from bpo.core.jobs import failures, outbox
from bpo.core.jobs.broker import MAX_RETRIES
from bpo.core.jobs.models import JobRun, OutboxMessage
from bpo.core.jobs.registry import DEFAULT_QUEUE
from bpo.core.jobs.schemas import JobFailureCause
from bpo.core.scope import Scope, system_scope
from bpo.settings import get_settings

log = structlog.get_logger("bpo.jobs")

JobFunction = Callable[..., Awaitable[None]]
# Marks the subject of a failed run failed: (session, scope, subject id, reason).
FailureHook = Callable[[AsyncSession, Scope, uuid.UUID, str], Awaitable[None]]

_database: Database | None = None
_relay: outbox.Relay | None = None


class JobFailed(Exception):
    """A run that failed for good and was recorded: the broker dead-letters it without a retry."""


@dataclass
class RunningJob:
    name: str
    tenant_id: uuid.UUID
    job_id: uuid.UUID
    # (object type, id) the message names; None for a tenant-wide job.
    subject: tuple[str, uuid.UUID] | None
    items: failures.Failures = field(default_factory=failures.Failures)
    # (argument, value) whose runs go one at a time, for an actor declared ``serial``.
    serial: tuple[str, str] | None = None

    @property
    def failed_on(self) -> tuple[str, uuid.UUID]:
        return self.subject or (failures.TENANT, self.tenant_id)


_running: ContextVar[RunningJob | None] = ContextVar("bpo_running_job", default=None)


def item_failures() -> failures.Failures:
    """The running job's record of its items (a fresh one outside a job, whose failures are only logged)."""
    running = _running.get()
    return running.items if running is not None else failures.Failures()


def worker_database() -> Database:
    """The worker process's database, created on first use inside the worker's event loop."""
    global _database
    if _database is None:
        _database = Database(get_settings())
    return _database


def worker_relay() -> outbox.Relay | None:
    """What sends the jobs a job enqueues as soon as its transaction commits (a report's mail, an invoice's
    push), rather than at the scheduler's next sweep; None where the broker is not Redis's."""
    global _relay
    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):
        return None
    if _relay is None or _relay.broker is not broker:
        _relay = outbox.Relay(worker_database(), broker)
    return _relay


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
        .values(completed_at=func.coalesce(OutboxMessage.completed_at, func.now()))
    )


SERIAL_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")

# The running job's actor's jobs for the same object that are still waiting (pending or relayed, not
# over, not run), oldest first: recorded as run in this transaction, their arguments returned. Each branch
# reads one of the outbox's partial indexes.
_TAKE_OVER = text(
    """
    WITH waiting AS (
        (SELECT o.id, o.created_at FROM outbox o
         WHERE o.tenant_id = :tenant_id AND o.sent_at IS NULL AND o.completed_at IS NULL
           AND o.actor = :actor AND o.id <> :job_id AND o.kwargs ->> :argument = :value)
        UNION ALL
        (SELECT o.id, o.created_at FROM outbox o
         WHERE o.tenant_id = :tenant_id AND o.sent_at IS NOT NULL AND o.completed_at IS NULL
           AND o.actor = :actor AND o.id <> :job_id AND o.kwargs ->> :argument = :value)
        ORDER BY created_at LIMIT :limit
    ), taken AS (
        INSERT INTO job_runs (tenant_id, job_id, actor)
        SELECT :tenant_id, w.id, :actor FROM waiting w
        ON CONFLICT DO NOTHING
        RETURNING job_id
    )
    SELECT o.kwargs FROM outbox o JOIN taken t ON o.tenant_id = :tenant_id AND o.id = t.job_id
    """
)


async def take_over_waiting(session: AsyncSession, limit: int = 500) -> list[dict[str, Any]]:
    """For a run of a ``serial`` actor: the same actor's jobs for the same object that are still waiting,
    recorded as run in this run's transaction; their arguments, whose work the run does with its own.

    When work arrives faster than it is done, the waiting jobs of one object are done together, once,
    instead of one after the other. A taken job's message finds its run recorded when it arrives, does
    nothing, and finishes its outbox row. Taking needs no lock beyond the run's own: every run of the
    actor for the object records itself only while holding the object's lock (``serial``), which this run
    holds, so no other run can be recording one of these jobs at the same time. If this run fails, its
    transaction takes the records back and each job runs itself."""
    running = _running.get()
    if running is None or running.serial is None:
        raise RuntimeError("take_over_waiting runs inside a job of a serial actor")
    argument, value = running.serial
    rows = await session.execute(
        _TAKE_OVER,
        {
            "tenant_id": running.tenant_id,
            "actor": running.name,
            "job_id": running.job_id,
            "argument": argument,
            "value": value,
            "limit": limit,
        },
    )
    taken: list[dict[str, Any]] = [row.kwargs for row in rows]
    if taken:
        log.info("jobs_taken_over", count=len(taken))
    return taken


async def _settle(session: AsyncSession, running: RunningJob) -> None:
    """In the run's transaction: its items' failures opened, and the ones it has now got past resolved
    (the run's object, and the items it did)."""
    for item in running.items.failed:
        await failures.record(
            session,
            running.tenant_id,
            job=running.name,
            job_id=running.job_id,
            object_type=item.object_type,
            object_id=item.object_id,
            error=item.error,
        )
    failing = {(item.object_type, item.object_id) for item in running.items.failed}
    passed = (running.items.done | {running.failed_on}) - failing
    await failures.resolve(session, running.tenant_id, running.name, passed)


async def _count(job: str, failed: int) -> None:
    broker = dramatiq.get_broker()
    if failed and isinstance(broker, RedisBroker):
        await asyncio.to_thread(failures.count, broker.client, job, failed)


async def _record_failure(
    running: RunningJob,
    error: Exception,
    cause: JobFailureCause,
    attempts: int,
    on_failure: FailureHook | None,
) -> None:
    """In a transaction of its own (the run's rolled back): the failure, the subject marked failed, the
    outbox row finished."""
    reason = failures.describe(error)
    object_type, object_id = running.failed_on
    try:
        async with worker_database().tenant(running.tenant_id) as session:
            await failures.record(
                session,
                running.tenant_id,
                job=running.name,
                job_id=running.job_id,
                object_type=object_type,
                object_id=object_id,
                error=reason,
                cause=cause,
                attempts=attempts,
            )
            if on_failure is not None and running.subject is not None:
                try:
                    async with session.begin_nested():
                        await on_failure(session, system_scope(running.tenant_id), object_id, reason)
                except Exception as hook_error:
                    log.error("job_failure_not_marked", error=failures.describe(hook_error))
            await mark_completed(session, running.tenant_id, running.job_id)
    except Exception as record_error:
        log.error("job_failure_not_recorded", reason=reason, error=failures.describe(record_error))
    await _count(running.name, 1)


def _subject(subject: tuple[str, str] | None, kwargs: dict[str, Any]) -> tuple[str, uuid.UUID] | None:
    if subject is None:
        return None
    object_type, argument = subject
    return object_type, uuid.UUID(str(kwargs[argument]))


def tenant_actor(
    name: str,
    *,
    queue: str = DEFAULT_QUEUE,
    subject: tuple[str, str] | None = None,
    on_failure: FailureHook | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    serial: str | None = None,
    **options: Any,
) -> Callable[[JobFunction], JobFunction]:
    """Declare ``fn(session, tenant_id, **kwargs)`` as actor ``name``; messages carry tenant_id and job_id.

    ``subject`` is (object type, keyword argument holding its id): what a failed run is recorded against
    and what ``on_failure`` marks failed. ``retry_on`` adds error types worth a retry (an upstream's).
    ``serial`` names the keyword argument whose runs go one at a time: a run takes a transaction lock on
    its value (``pg_advisory_xact_lock(hashtextextended(value, 0))``) before it records itself, and may
    then take over the waiting jobs for the same value (``take_over_waiting``)."""
    max_retries: int = options.get("max_retries", MAX_RETRIES)

    def decorate(fn: JobFunction) -> JobFunction:
        async def run(*, tenant_id: str, job_id: str, **kwargs: Any) -> None:
            running = RunningJob(name, uuid.UUID(tenant_id), uuid.UUID(job_id), _subject(subject, kwargs))
            if serial is not None:
                running.serial = (serial, str(kwargs[serial]))
            token = _running.set(running)
            try:
                with structlog.contextvars.bound_contextvars(tenant_id=tenant_id, job_id=job_id, actor=name):
                    try:
                        await _run(fn, running, kwargs)
                    except Exception as error:
                        await _fail(running, error, retry_on, max_retries, on_failure)
            finally:
                _running.reset(token)

        dramatiq.actor(actor_name=name, queue_name=queue, throws=(JobFailed,), **options)(run)
        return fn

    return decorate


async def _run(fn: JobFunction, running: RunningJob, kwargs: dict[str, Any]) -> None:
    async with worker_database().tenant(running.tenant_id) as session:
        relay = worker_relay()
        if relay is not None:
            outbox.relay_on_commit(session, relay)
        if running.serial is not None:
            await session.execute(SERIAL_LOCK, {"key": running.serial[1]})
        if not await claim(session, running.tenant_id, running.job_id, running.name):
            # Run before, or taken over by another run of its actor: its outbox row is over. Routine (every
            # burst of ingest has refreshes taken over), so at debug, like job_done.
            await mark_completed(session, running.tenant_id, running.job_id)
            log.debug("job_already_done")
            return
        await fn(session, running.tenant_id, **kwargs)
        await _settle(session, running)
        await mark_completed(session, running.tenant_id, running.job_id)
    await _count(running.name, len(running.items.failed))
    log.debug("job_done", items_failed=len(running.items.failed))


async def _fail(
    running: RunningJob,
    error: Exception,
    retry_on: tuple[type[BaseException], ...],
    max_retries: int,
    on_failure: FailureHook | None,
) -> None:
    """Let the broker retry a transient error while retries remain; record any other failure and end the
    run for good."""
    message = CurrentMessage.get_current_message()
    retries = int(message.options.get("retries", 0)) if message is not None else 0
    transient = failures.is_transient(error, retry_on)
    if transient and retries < max_retries:
        log.warning("job_retrying", error=failures.describe(error), attempt=retries + 1)
        raise error
    cause = JobFailureCause.RETRIES_EXHAUSTED if transient else JobFailureCause.DETERMINISTIC
    await _record_failure(running, error, cause, retries + 1, on_failure)
    log.error(
        "job_failed",
        cause=cause.value,
        attempts=retries + 1,
        error=failures.describe(error),
        object_type=running.failed_on[0],
        object_id=str(running.failed_on[1]),
    )
    raise JobFailed(failures.describe(error)) from error
