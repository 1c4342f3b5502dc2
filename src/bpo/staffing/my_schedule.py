"""What a person's own pages show beyond the self-service API: which of their shifts changed after they
were published, where each shift's client is, their colleagues to offer a shift to, their time off and
whether their calendar link is live. Everything is the caller's own: other people appear by name only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.core.errors import Conflict, NotFound
from bpo.core.scope import Scope
from bpo.staffing import models, schemas, service
from bpo.staffing.selfservice import first_name

# Publishing stamps the shift itself: a later write to the shift is a change people should notice.
PUBLISH_SLACK = timedelta(seconds=5)
MAX_LISTED = 100


async def changed_since_published(
    session: AsyncSession, scope: Scope, assignment_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """The assignments whose shift changed, or which were made, after the shift was published."""
    if not assignment_ids:
        return set()
    rows = await session.execute(
        select(
            models.Assignment.id,
            models.Assignment.created_at,
            models.Shift.published_at,
            models.Shift.updated_at,
        )
        .join(
            models.Shift,
            and_(
                models.Shift.tenant_id == models.Assignment.tenant_id,
                models.Shift.id == models.Assignment.shift_id,
            ),
        )
        .where(
            models.Assignment.tenant_id == scope.tenant_id,
            models.Assignment.id.in_(list(assignment_ids)),
            models.Shift.published_at.is_not(None),
        )
    )
    changed = set()
    for assignment_id, assigned_at, published_at, updated_at in rows:
        if published_at is not None and max(assigned_at, updated_at) > published_at + PUBLISH_SLACK:
            changed.add(assignment_id)
    return changed


async def client_zones(
    session: AsyncSession, scope: Scope, contract_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The time zone of each contract's client, where the shift's local time is read."""
    zones: dict[uuid.UUID, str] = {}
    for contract_id in dict.fromkeys(contract_ids):
        contract = await contracts.get_contract_row(session, scope, contract_id)
        zones[contract_id] = (await clients.get_client_row(session, scope, contract.client_id)).time_zone
    return zones


async def colleagues(session: AsyncSession, scope: Scope, me: models.Staff) -> list[tuple[uuid.UUID, str]]:
    """The tenant's other active people, by name, to offer a shift to."""
    rows = await session.execute(
        select(models.Staff.id, models.Staff.display_name)
        .where(
            models.Staff.tenant_id == scope.tenant_id, models.Staff.active.is_(True), models.Staff.id != me.id
        )
        .order_by(models.Staff.display_name, models.Staff.id)
    )
    return [(staff_id, name) for staff_id, name in rows]


async def first_names(session: AsyncSession, scope: Scope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(models.Staff.id, models.Staff.display_name).where(
            models.Staff.tenant_id == scope.tenant_id, models.Staff.id.in_(list(set(ids)))
        )
    )
    return {staff_id: first_name(name) for staff_id, name in rows}


async def has_feed(session: AsyncSession, scope: Scope, staff_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(models.CalendarFeed.id).where(
            models.CalendarFeed.tenant_id == scope.tenant_id,
            models.CalendarFeed.staff_id == staff_id,
            models.CalendarFeed.revoked_at.is_(None),
        )
    )
    return found is not None


async def my_time_off(session: AsyncSession, scope: Scope, me: models.Staff) -> list[schemas.TimeOff]:
    """The person's own time off, latest first."""
    rows = await session.scalars(
        select(models.TimeOff)
        .where(models.TimeOff.tenant_id == scope.tenant_id, models.TimeOff.staff_id == me.id)
        .order_by(models.TimeOff.starts_at.desc(), models.TimeOff.id)
        .limit(MAX_LISTED)
    )
    return [service.time_off_view(row) for row in rows]


async def cancel_my_time_off(
    session: AsyncSession, scope: Scope, me: models.Staff, time_off_id: uuid.UUID
) -> schemas.TimeOff:
    """Withdraw one's own request while it waits for a decision (approved time off is the supervisor's to
    cancel); anyone else's is not found."""
    row = await session.scalar(
        select(models.TimeOff)
        .where(
            models.TimeOff.tenant_id == scope.tenant_id,
            models.TimeOff.staff_id == me.id,
            models.TimeOff.id == time_off_id,
        )
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"Time off {time_off_id} not found.")
    if row.status != schemas.TimeOffStatus.REQUESTED.value:
        raise Conflict(
            f"Time off that is {row.status} is cancelled by a supervisor.", slug="invalid-transition"
        )
    return await service.transition_time_off(session, scope, row, schemas.TimeOffStatus.CANCELLED)
