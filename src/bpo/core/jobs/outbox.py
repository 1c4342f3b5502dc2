"""Transactional outbox: jobs are rows written with the change, sent to the broker only after commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import ColumnElement, Update, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bpo.core.db import Database, after_commit
from bpo.core.jobs.models import OutboxMessage
from bpo.core.jobs.registry import DEFAULT_QUEUE
from bpo.core.orm import new_id

log = structlog.get_logger("bpo.outbox")

# Sends older than this are left alone by resend_lost, and a job's marker outlives the window, so a job
# that failed for good (dead-lettered, never completed) is never mistaken for a lost one.
RESEND_WITHIN = timedelta(hours=24)
MAX_SENDS = 5
MARKER_TTL = RESEND_WITHIN + timedelta(hours=1)


class Relay:
    """Sends committed outbox rows to the broker and marks them sent."""

    def __init__(self, db: Database, broker: RedisBroker) -> None:
        self.db = db
        self.broker = broker

    async def send(self, tenant_id: uuid.UUID, rows: Sequence[OutboxMessage]) -> int:
        if not rows:
            return 0
        try:
            await asyncio.to_thread(self._enqueue_all, tenant_id, rows)
        except Exception as exc:
            # The rows stay pending; the scheduler's sweep sends them when the broker is back.
            log.warning("outbox_relay_deferred", tenant_id=str(tenant_id), count=len(rows), error=str(exc))
            return 0
        async with self.db.tenant(tenant_id) as session:
            await session.execute(_mark_sent(tenant_id, rows))
        return len(rows)

    def _enqueue_all(self, tenant_id: uuid.UUID, rows: Sequence[OutboxMessage]) -> None:
        for row in rows:
            self.broker.enqueue(message_for(tenant_id, row))
        # A marker per job, written after its message: while Redis has the marker it has the message
        # too (or the job ran, or is delayed for a retry, or was dead-lettered); see resend_lost.
        pipeline = self.broker.client.pipeline(transaction=False)
        for row in rows:
            pipeline.set(self._marker(row.id), 1, ex=MARKER_TTL)
        pipeline.execute()

    async def sweep_tenant(self, tenant_id: uuid.UUID, older_than: datetime, limit: int = 500) -> int:
        """Send rows left pending (broker down at commit time, process died before relaying)."""
        async with self.db.tenant(tenant_id) as session:
            rows = await _lock(
                session,
                tenant_id,
                OutboxMessage.created_at,
                limit,
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.created_at < older_than,
            )
            if rows:
                await asyncio.to_thread(self._enqueue_all, tenant_id, rows)
                await session.execute(_mark_sent(tenant_id, rows))
        return len(rows)

    def _held(self, rows: Sequence[OutboxMessage]) -> set[uuid.UUID]:
        """The rows' jobs whose marker Redis still has: it has not lost them since they were sent."""
        pipeline = self.broker.client.pipeline(transaction=False)
        for row in rows:
            pipeline.exists(self._marker(row.id))
        found = pipeline.execute()
        return {row.id for row, exists in zip(rows, found, strict=True) if exists}

    def _marker(self, job_id: uuid.UUID) -> str:
        return f"{self.broker.namespace}:outbox:{job_id}"

    async def resend_lost(self, tenant_id: uuid.UUID, sent_before: datetime, limit: int = 500) -> int:
        """Send again the jobs relayed before ``sent_before`` (and within RESEND_WITHIN of it) that never
        completed and whose marker Redis no longer has: lost with it, as when Redis restarts without
        persistence. (Dramatiq's Redis broker keys messages by an id of its own, new on every retry, so
        the marker is what can be looked up.) Their effect still happens once (``job_runs``); a job is
        sent MAX_SENDS times at most."""
        async with self.db.tenant(tenant_id) as session:
            rows = await _lock(
                session,
                tenant_id,
                OutboxMessage.sent_at,
                limit,
                OutboxMessage.sent_at.is_not(None),
                OutboxMessage.completed_at.is_(None),
                OutboxMessage.sent_at < sent_before,
                OutboxMessage.sent_at >= sent_before - RESEND_WITHIN,
                OutboxMessage.attempts < MAX_SENDS,
            )
            held = await asyncio.to_thread(self._held, rows) if rows else set()
            lost = [row for row in rows if row.id not in held]
            if not lost:
                return 0
            await asyncio.to_thread(self._enqueue_all, tenant_id, lost)
            await session.execute(_mark_sent(tenant_id, lost))
        log.warning("outbox_resent_lost", tenant_id=str(tenant_id), count=len(lost))
        return len(lost)


async def _lock(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    order: InstrumentedAttribute[Any],
    limit: int,
    *conditions: ColumnElement[bool],
) -> Sequence[OutboxMessage]:
    """Up to ``limit`` of the tenant's rows meeting ``conditions``, locked (skipping rows another
    sweep holds)."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.tenant_id == tenant_id, *conditions)
        .order_by(order)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(statement)).all()


def _mark_sent(tenant_id: uuid.UUID, rows: Sequence[OutboxMessage]) -> Update:
    return (
        update(OutboxMessage)
        .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id.in_([r.id for r in rows]))
        .values(sent_at=func.now(), attempts=OutboxMessage.attempts + 1)
    )


def message_for(tenant_id: uuid.UUID, row: OutboxMessage) -> Message[Any]:
    return Message(
        queue_name=row.queue,
        actor_name=row.actor,
        args=(),
        kwargs={**row.kwargs, "tenant_id": str(tenant_id), "job_id": str(row.id)},
        options={},
        message_id=str(row.id),
    )


def relay_on_commit(session: AsyncSession, relay: Relay) -> None:
    """Send the jobs ``session`` enqueues to the broker as soon as its transaction commits (without it,
    they wait for the scheduler's sweep)."""
    session.info["relay"] = relay


def enqueue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: str,
    *,
    queue: str = DEFAULT_QUEUE,
    **kwargs: Any,
) -> uuid.UUID:
    """Write a job to the outbox in ``session``'s transaction; it is relayed once that commits (at once by
    the session's relay, if it has one: ``relay_on_commit``)."""
    relay: Relay | None = session.info.get("relay")
    row = OutboxMessage(tenant_id=tenant_id, id=new_id(), actor=actor, queue=queue, kwargs=kwargs)
    session.add(row)
    if relay is not None:
        pending: list[OutboxMessage] | None = session.info.get("outbox_pending")
        if pending is None:
            pending = session.info["outbox_pending"] = []

            async def relay_pending() -> None:
                # Only rows the commit kept: one added in a savepoint that rolled back, or before an
                # explicit session.rollback(), is no longer persistent and must never be sent.
                await relay.send(tenant_id, [row for row in pending if inspect(row).persistent])

            after_commit(session, relay_pending)
        pending.append(row)
    return row.id
