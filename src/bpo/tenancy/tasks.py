from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.models import IdempotencyRecord
from bpo.delivery.jobs import tenant_actor
from bpo.tenancy.models import RefreshToken


@tenant_actor("tenancy.purge_expired")
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
