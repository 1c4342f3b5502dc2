"""Actors used only by the tests that run a real worker (loaded with `bpo worker tests.support.actors`)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import audit
from bpo.core.db import after_commit
from bpo.core.jobs.actors import tenant_actor

QUEUE = "test"


@tenant_actor("test.record", queue=QUEUE, max_retries=5, min_backoff=200, max_backoff=1_000)
async def record(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    label: str,
    sleep_before_commit: float = 0.0,
    sleep_after_commit: float = 0.0,
) -> None:
    """Append one audit event labelled ``label``; optionally linger so a test can kill the worker."""
    audit.append(
        session,
        tenant_id=tenant_id,
        actor_id=None,
        action="test.record",
        object_type="job",
        object_id=None,
        label=label,
    )
    await asyncio.sleep(sleep_before_commit)
    if sleep_after_commit:

        async def linger() -> None:
            await asyncio.sleep(sleep_after_commit)

        after_commit(session, linger)


@tenant_actor("test.unreachable", queue=QUEUE, max_retries=2, min_backoff=100, max_backoff=200)
async def unreachable(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Fails as a connection to a server that is down does, every time."""
    raise ConnectionRefusedError(111, "Connect call failed ('10.255.255.1', 5432)")
