"""Reading the audit log: the trail of who changed what, for the tenant's admins."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.http import instant_period
from bpo.core.models import AuditEvent
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.tenancy import schemas


def event_view(event: AuditEvent) -> schemas.AuditEvent:
    return schemas.AuditEvent(
        id=event.id,
        at=event.at,
        actor_id=event.actor_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        detail=event.detail,
    )


async def list_events(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    object_type: str | None = None,
    object_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    start: str | None = None,
    end: str | None = None,
) -> schemas.AuditEventPage:
    """Oldest first, in keyset pages; ``start`` inclusive, ``end`` exclusive."""
    first, last = instant_period(start, end)
    statement = select(AuditEvent).where(AuditEvent.tenant_id == scope.tenant_id)
    if object_type is not None:
        statement = statement.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        statement = statement.where(AuditEvent.object_id == object_id)
    if actor_id is not None:
        statement = statement.where(AuditEvent.actor_id == actor_id)
    if first is not None:
        statement = statement.where(AuditEvent.at >= first)
    if last is not None:
        statement = statement.where(AuditEvent.at < last)
    rows, next_cursor = await paginate(session, statement, AuditEvent.id, limit=limit, cursor=cursor)
    return schemas.AuditEventPage(items=[event_view(e) for e in rows], next_cursor=next_cursor)
