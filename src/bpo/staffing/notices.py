"""What people are to be told about their shifts and requests: the notices waiting for each person, and
lateness found from plan and punches.

Most notices are written by database triggers in the transaction of the change itself (migration 0030:
a shift published, changed or cancelled, a person put on or taken off a published shift, a swap, time
off or open-shift claim decided, a claim waiting for a supervisor), so no path that changes a roster can
forget them. Sending them is not this context's business: the sweep above it (``notifications``) takes a
person's pending notices, mails them as one, and marks them with the batch they went out in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.scope import Scope
from bpo.staffing.models import OpenShiftClaim, Staff
from bpo.staffing.notice_models import StaffNotice

SHIFT_PUBLISHED = "shift.published"
SHIFT_ADDED = "shift.added"
SHIFT_CHANGED = "shift.changed"
SHIFT_CANCELLED = "shift.cancelled"
SWAP_DECIDED = "swap.decided"
TIME_OFF_DECIDED = "time_off.decided"
CLAIM_DECIDED = "claim.decided"
CLAIM_WAITING = "claim.waiting"
LATE = "attendance.late"
KINDS = (
    SHIFT_PUBLISHED,
    SHIFT_ADDED,
    SHIFT_CHANGED,
    SHIFT_CANCELLED,
    SWAP_DECIDED,
    TIME_OFF_DECIDED,
    CLAIM_DECIDED,
    CLAIM_WAITING,
    LATE,
)
# A shift that started longer ago than this is no longer looked at for lateness: the sweep runs every
# minute, so only a sweep after an outage (or the first after an upgrade) meets older ones, and by then
# the news is stale.
LATE_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Notice:
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    staff_id: uuid.UUID | None
    shift_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    starts_at: datetime | None
    ends_at: datetime | None
    previous_starts_at: datetime | None
    previous_ends_at: datetime | None
    subject_id: uuid.UUID | None
    outcome: str | None
    note: str
    created_at: datetime


def _notice(row: StaffNotice) -> Notice:
    return Notice(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        staff_id=row.staff_id,
        shift_id=row.shift_id,
        contract_id=row.contract_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        previous_starts_at=row.previous_starts_at,
        previous_ends_at=row.previous_ends_at,
        subject_id=row.subject_id,
        outcome=row.outcome,
        note=row.note,
        created_at=row.created_at,
    )


async def due_recipients(
    session: AsyncSession, scope: Scope, now: datetime, *, quiet: timedelta, longest: timedelta
) -> list[uuid.UUID]:
    """The people whose pending notices are ready to go: nothing new for ``quiet`` (a publish or a run of
    edits is over), or the oldest waiting ``longest``."""
    newest, oldest = func.max(StaffNotice.created_at), func.min(StaffNotice.created_at)
    rows = await session.scalars(
        select(StaffNotice.user_id)
        .where(StaffNotice.tenant_id == scope.tenant_id, StaffNotice.batch_id.is_(None))
        .group_by(StaffNotice.user_id)
        .having(or_(newest <= now - quiet, oldest <= now - longest))
        .order_by(oldest)
    )
    return list(rows)


async def take_pending(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> list[Notice]:
    """The person's pending notices, locked (a second sweep skips them), oldest first."""
    rows = await session.scalars(
        select(StaffNotice)
        .where(
            StaffNotice.tenant_id == scope.tenant_id,
            StaffNotice.user_id == user_id,
            StaffNotice.batch_id.is_(None),
        )
        .order_by(StaffNotice.created_at, StaffNotice.id)
        .with_for_update(skip_locked=True)
    )
    return [_notice(row) for row in rows]


async def mark_batched(
    session: AsyncSession, scope: Scope, notice_ids: Sequence[uuid.UUID], batch_id: uuid.UUID
) -> None:
    await session.execute(
        update(StaffNotice)
        .where(StaffNotice.tenant_id == scope.tenant_id, StaffNotice.id.in_(notice_ids))
        .values(batch_id=batch_id)
    )


async def record_late(
    session: AsyncSession,
    scope: Scope,
    now: datetime,
    late_after: timedelta,
    supervisor_ids: Sequence[uuid.UUID],
) -> int:
    """A notice to each supervisor for every person on a published shift that started ``late_after`` ago
    (and has not ended) with no clock-in: once per shift, person and supervisor. The number written."""
    if not supervisor_ids:
        return 0
    result = await session.execute(
        text(
            """
            INSERT INTO staff_notices
                (tenant_id, id, user_id, kind, staff_id, shift_id, contract_id, starts_at, ends_at, once_key)
            SELECT a.tenant_id, gen_random_uuid(), u.id, :kind, a.staff_id, s.id, s.contract_id,
                   s.starts_at, s.ends_at, 'late:' || s.id || ':' || a.staff_id || ':' || u.id
            FROM assignments a
            JOIN shifts s ON s.tenant_id = a.tenant_id AND s.id = a.shift_id
            CROSS JOIN unnest(CAST(:supervisors AS uuid[])) AS u(id)
            WHERE a.tenant_id = :tenant AND s.status = 'published'
              AND s.starts_at <= :due AND s.starts_at > :since AND s.ends_at > :now
              AND NOT EXISTS (
                  SELECT 1 FROM attendance_events e
                  WHERE e.tenant_id = a.tenant_id AND e.shift_id = s.id AND e.staff_id = a.staff_id
                    AND e.kind = 'clock_in'
              )
            ON CONFLICT (tenant_id, once_key) WHERE once_key IS NOT NULL DO NOTHING
            """
        ),
        {
            "kind": LATE,
            "supervisors": list(supervisor_ids),
            "tenant": scope.tenant_id,
            "due": now - late_after,
            "since": now - LATE_LOOKBACK,
            "now": now,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_claims(
    session: AsyncSession, scope: Scope, claim_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of the claims still waiting for a supervisor."""
    ids = set(claim_ids)
    if not ids:
        return set()
    rows = await session.scalars(
        select(OpenShiftClaim.id).where(
            OpenShiftClaim.tenant_id == scope.tenant_id,
            OpenShiftClaim.id.in_(ids),
            OpenShiftClaim.status == "pending",
        )
    )
    return set(rows)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    home_zone: str


async def people(
    session: AsyncSession, scope: Scope, staff_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Person]:
    ids = set(staff_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Staff.id, Staff.display_name, Staff.home_zone).where(
            Staff.tenant_id == scope.tenant_id, Staff.id.in_(ids)
        )
    )
    return {staff_id: Person(name, zone) for staff_id, name, zone in rows.all()}


async def home_zone_of_user(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> str | None:
    """The home zone of the staff profile behind a login, if it has one."""
    zone: str | None = await session.scalar(
        select(Staff.home_zone).where(Staff.tenant_id == scope.tenant_id, Staff.user_id == user_id)
    )
    return zone
