from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.jobs.actors import tenant_actor
from bpo.core.jobs.registry import PURGE_EXPIRED_JOB
from bpo.core.models import IdempotencyRecord
from bpo.tenancy.models import RefreshToken


@tenant_actor(PURGE_EXPIRED_JOB)
async def purge_expired(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Drop idempotency records and refresh tokens past their expiry."""
    now = datetime.now(UTC)
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.expires_at < now
        )
    )
    await session.execute(
        delete(RefreshToken).where(RefreshToken.tenant_id == tenant_id, RefreshToken.expires_at < now)
    )
