from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.models import AuditEvent
from bpo.core.orm import new_id
from bpo.core.scope import Scope


def append(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    **detail: Any,
) -> None:
    """Append an audit event in the caller's transaction (it commits or rolls back with the change)."""
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            id=new_id(),
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )
    )


def record(
    session: AsyncSession, scope: Scope, action: str, kind: str, object_id: uuid.UUID, **detail: Any
) -> None:
    """Append an audit event done by ``scope``'s caller (no user for machine callers and jobs)."""
    append(
        session,
        tenant_id=scope.tenant_id,
        actor_id=scope.user_id,
        action=action,
        object_type=kind,
        object_id=object_id,
        **detail,
    )
