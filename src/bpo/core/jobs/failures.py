"""Jobs fail small: which errors are worth a retry, how a tenant-wide job isolates its items, and the
record of what failed for good (``job_failures``, the operators' dead-letter view, and a counter in
``/metrics``).

Only transient errors are retried: the connection, the network, a lock or a concurrent writer. Anything
else (bad data, an overflow, a missing row, a broken rule) fails the same way every time, so retrying it
only hides it for longer: it fails the run at once, with its reason."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
import structlog
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import any_, bindparam, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PGUUID
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.errors import BpoError
from bpo.core.jobs import schemas
from bpo.core.jobs.models import JobFailure
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope

log = structlog.get_logger("bpo.jobs")

ERROR_LENGTH = 2000
# The count of failures per job, in Redis: every worker adds to it and whichever API process answers
# /metrics reports it.
COUNTS_KEY = "bpo:job_failures"
TENANT = "tenant"

# SQLSTATE classes and codes that name the moment, not the data: connection exceptions, insufficient
# resources, operator intervention (restart, shutdown); a serialization failure, a deadlock, a lock not
# available, and a unique key taken by a concurrent writer (the retry finds its row).
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "23505"})
_LOCAL_FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


class Transient(Exception):
    """Raised by a job that should be tried again later (an upstream outage it recognised)."""


def _causes(error: BaseException) -> Iterable[BaseException]:
    """The error, the driver error it wraps and the errors it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        current = current.__cause__ or (wrapped if isinstance(wrapped, BaseException) else None)


def is_transient(error: BaseException, also: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether trying again later may succeed (``also``: more error types an actor knows to be so)."""
    for cause in _causes(error):
        if isinstance(cause, (Transient, ConnectionError, TimeoutError, *also)):
            return True
        if isinstance(cause, OSError) and not isinstance(cause, _LOCAL_FILE_ERRORS):
            return True
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True
        if isinstance(cause, redis.ConnectionError | redis.TimeoutError):
            return True
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and (state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES):
            return True
    return False


def describe(error: BaseException) -> str:
    """The reason an operator reads: the error's kind and message (a database error's own message,
    without the statement and its parameters)."""
    if isinstance(error, BpoError):
        message = error.detail
    elif isinstance(error, sa_exc.StatementError) and error.orig is not None:
        state = getattr(error.orig, "sqlstate", None)
        message = f"{error.orig} (SQLSTATE {state})" if state else str(error.orig)
    else:
        message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:ERROR_LENGTH]


@dataclass(frozen=True)
class ItemFailure:
    object_type: str
    object_id: uuid.UUID
    error: str


@dataclass
class Failures:
    """The items a tenant-wide job could not do, and the ones it did; the job records both with its run."""

    failed: list[ItemFailure] = field(default_factory=list)
    done: set[tuple[str, uuid.UUID]] = field(default_factory=set)

    @asynccontextmanager
    async def isolated(
        self, session: AsyncSession, object_type: str, object_id: uuid.UUID
    ) -> AsyncIterator[None]:
        """Run the block in a savepoint. A deterministic error rolls back the block alone and is kept for
        the item, and the caller goes on with the next item; a transient one ends the whole job (it is
        retried). Objects the block changed are expired by a failure's rollback; the others stay as
        they were loaded."""
        try:
            async with session.begin_nested():
                yield
        except Exception as error:
            if is_transient(error):
                raise
            failure = ItemFailure(object_type, object_id, describe(error))
            self.failed.append(failure)
            log.warning(
                "job_item_failed", object_type=object_type, object_id=str(object_id), error=failure.error
            )
        else:
            self.done.add((object_type, object_id))


async def record(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    job: str,
    job_id: uuid.UUID,
    object_type: str,
    object_id: uuid.UUID,
    error: str,
    cause: schemas.JobFailureCause = schemas.JobFailureCause.DETERMINISTIC,
    attempts: int = 1,
) -> None:
    """Open a failure of ``job`` on the object, or add to the one already open."""
    now = datetime.now(UTC)
    statement = insert(JobFailure).values(
        tenant_id=tenant_id,
        id=new_id(),
        job=job,
        object_type=object_type,
        object_id=object_id,
        job_id=job_id,
        cause=cause.value,
        attempts=attempts,
        error=error[:ERROR_LENGTH],
        first_failed_at=now,
        last_failed_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[
                JobFailure.tenant_id,
                JobFailure.job,
                JobFailure.object_type,
                JobFailure.object_id,
            ],
            index_where=JobFailure.resolved_at.is_(None),
            set_={
                "job_id": statement.excluded.job_id,
                "cause": statement.excluded.cause,
                "attempts": JobFailure.attempts + statement.excluded.attempts,
                "error": statement.excluded.error,
                "last_failed_at": statement.excluded.last_failed_at,
            },
        )
    )


async def resolve(
    session: AsyncSession, tenant_id: uuid.UUID, job: str, objects: Collection[tuple[str, uuid.UUID]]
) -> None:
    """Close the open failures of ``job`` on ``objects``: a run of the job has just succeeded on them."""
    by_type: dict[str, list[uuid.UUID]] = {}
    for object_type, object_id in objects:
        by_type.setdefault(object_type, []).append(object_id)
    for object_type, ids in sorted(by_type.items()):
        await session.execute(
            update(JobFailure)
            .where(
                JobFailure.tenant_id == tenant_id,
                JobFailure.job == job,
                JobFailure.resolved_at.is_(None),
                JobFailure.object_type == object_type,
                JobFailure.object_id == any_(bindparam("ids", ids, type_=ARRAY(PGUUID(as_uuid=True)))),
            )
            .values(resolved_at=datetime.now(UTC))
        )


def count(client: redis.Redis, job: str, failures: int) -> None:
    """Add to the job's failure count (blocking: call it off the event loop)."""
    try:
        client.hincrby(COUNTS_KEY, job, failures)
    except redis.RedisError as error:
        log.warning("job_failure_not_counted", job=job, error=str(error))


class FailureCounts(Collector):
    """``bpo_job_failures_total{job}`` from the counts every worker adds to in Redis."""

    def __init__(self) -> None:
        self.client: redis.Redis | None = None

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "bpo_job_failures", "Job runs and items of tenant-wide jobs that failed for good", labels=["job"]
        )
        counts: dict[bytes, bytes] = {}
        if self.client is not None:
            try:
                counts = self.client.hgetall(COUNTS_KEY)  # type: ignore[assignment]
            except redis.RedisError as error:
                log.warning("job_failure_counts_unavailable", error=str(error))
        for job, value in sorted(counts.items()):
            family.add_metric([job.decode()], float(value))
        yield family


FAILURE_COUNTS = FailureCounts()
REGISTRY.register(FAILURE_COUNTS)


def view(failure: JobFailure) -> schemas.JobFailure:
    return schemas.JobFailure(
        id=failure.id,
        job=failure.job,
        object_type=failure.object_type,
        object_id=failure.object_id,
        job_id=failure.job_id,
        cause=schemas.JobFailureCause(failure.cause),
        attempts=failure.attempts,
        error=failure.error,
        first_failed_at=failure.first_failed_at,
        last_failed_at=failure.last_failed_at,
        resolved_at=failure.resolved_at,
    )


async def list_failures(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    status: schemas.JobFailureStatus = schemas.JobFailureStatus.OPEN,
    job: str | None = None,
    object_id: uuid.UUID | None = None,
) -> schemas.JobFailurePage:
    statement = select(JobFailure).where(JobFailure.tenant_id == scope.tenant_id)
    if status is schemas.JobFailureStatus.OPEN:
        statement = statement.where(JobFailure.resolved_at.is_(None))
    else:
        statement = statement.where(JobFailure.resolved_at.is_not(None))
    if job is not None:
        statement = statement.where(JobFailure.job == job)
    if object_id is not None:
        statement = statement.where(JobFailure.object_id == object_id)
    rows, next_cursor = await paginate(session, statement, JobFailure.id, limit=limit, cursor=cursor)
    return schemas.JobFailurePage(items=[view(row) for row in rows], next_cursor=next_cursor)
