"""Attendance as recorded: each person's punches on their shifts set against the plan (lateness, early
leave, absence, overtime, adherence; the arithmetic is in ``timekeeping``), for a contract's report, a
person's own view and the coverage objective's ``actual`` basis. Punches are written by ``punches``
(clocking, imports, corrections); the payroll timesheet is ``timesheet``. No HTTP here.

A punch is one row per person, shift and kind (``clock_in``/``clock_out``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.core.errors import Invalid, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.scope import Scope
from bpo.staffing import coverage, timekeeping
from bpo.staffing.attendance_schemas import (
    AttendanceEventKind,
    AttendanceReport,
    AttendanceSource,
    MyAttendance,
    PersonAdherence,
    ShiftAttendance,
)
from bpo.staffing.models import Assignment, AttendanceEvent, Shift, Staff
from bpo.staffing.selfservice import staff_of
from bpo.staffing.timekeeping import Punches

MAX_PERIOD_DAYS = 93
DEFAULT_LISTING_DAYS = 28
CLOCK_IN = AttendanceEventKind.CLOCK_IN.value
CLOCK_OUT = AttendanceEventKind.CLOCK_OUT.value


@dataclass(frozen=True)
class Worked:
    """A person's assignment on a shift with their punches."""

    shift: Shift
    staff_id: uuid.UUID
    staff_name: str
    clock_in: AttendanceEvent | None
    clock_out: AttendanceEvent | None

    @property
    def punches(self) -> Punches:
        return Punches(
            self.clock_in.at if self.clock_in is not None else None,
            self.clock_out.at if self.clock_out is not None else None,
        )


async def punches_of(
    session: AsyncSession, scope: Scope, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], dict[str, AttendanceEvent]]:
    """The punches of each (shift, person), by kind."""
    wanted = list(set(pairs))
    found: dict[tuple[uuid.UUID, uuid.UUID], dict[str, AttendanceEvent]] = defaultdict(dict)
    for chunk in range(0, len(wanted), 1000):
        rows = await session.scalars(
            select(AttendanceEvent)
            .where(
                AttendanceEvent.tenant_id == scope.tenant_id,
                tuple_(AttendanceEvent.shift_id, AttendanceEvent.staff_id).in_(wanted[chunk : chunk + 1000]),
            )
            # Punches written by statements in this transaction replace what the session read before.
            .execution_options(populate_existing=True)
        )
        for event in rows:
            found[(event.shift_id, event.staff_id)][event.kind] = event
    return found


async def worked_between(
    session: AsyncSession,
    scope: Scope,
    lower: datetime,
    upper: datetime,
    *,
    staff_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
) -> list[Worked]:
    """Assignments on shifts starting in [lower, upper), of a person or a contract, earliest first."""
    statement = (
        select(Shift, Assignment.staff_id, Staff.display_name)
        .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
        .join(Staff, and_(Staff.tenant_id == Assignment.tenant_id, Staff.id == Assignment.staff_id))
        .where(Shift.tenant_id == scope.tenant_id, Shift.starts_at >= lower, Shift.starts_at < upper)
        .order_by(Shift.starts_at, Shift.id, Staff.display_name, Staff.id)
    )
    if staff_id is not None:
        statement = statement.where(Assignment.staff_id == staff_id)
    if contract_id is not None:
        statement = statement.where(Shift.contract_id == contract_id)
    rows = (await session.execute(statement)).all()
    punches = await punches_of(session, scope, [(shift.id, person) for shift, person, _ in rows])
    return [
        Worked(
            shift,
            person,
            name,
            punches.get((shift.id, person), {}).get(CLOCK_IN),
            punches.get((shift.id, person), {}).get(CLOCK_OUT),
        )
        for shift, person, name in rows
    ]


def _source(event: AttendanceEvent | None) -> AttendanceSource | None:
    return None if event is None else AttendanceSource(event.source)


def shift_attendance(worked: Worked, zone: ZoneInfo, now: datetime) -> ShiftAttendance:
    shift = worked.shift
    punches = worked.punches
    found = timekeeping.figures(shift.starts_at, shift.ends_at, punches, now)
    return ShiftAttendance(
        shift_id=shift.id,
        staff_id=worked.staff_id,
        staff_name=worked.staff_name,
        contract_id=shift.contract_id,
        planned_start=shift.starts_at.astimezone(zone),
        planned_end=shift.ends_at.astimezone(zone),
        clock_in=None if punches.clock_in is None else punches.clock_in.astimezone(zone),
        clock_out=None if punches.clock_out is None else punches.clock_out.astimezone(zone),
        clock_in_source=_source(worked.clock_in),
        clock_out_source=_source(worked.clock_out),
        status=found.status,
        late_minutes=found.late_minutes,
        early_leave_minutes=found.early_leave_minutes,
        overtime_minutes=found.overtime_minutes,
        worked_minutes=found.worked_minutes,
        corrected=any(
            e is not None and e.source == AttendanceSource.CORRECTION.value
            for e in (worked.clock_in, worked.clock_out)
        ),
    )


def _adherence(
    staff_id: uuid.UUID, name: str, figures: Sequence[timekeeping.ShiftFigures]
) -> PersonAdherence:
    summed = timekeeping.adherence(figures)
    return PersonAdherence(
        staff_id=staff_id,
        staff_name=name,
        shifts=summed.shifts,
        scheduled_minutes=round(summed.scheduled_seconds / 60, 2),
        adhered_minutes=round(summed.adhered_seconds / 60, 2),
        adherence_percent=summed.percent,
        late=summed.late,
        late_minutes=summed.late_minutes,
        early_leave_minutes=summed.early_leave_minutes,
        overtime_minutes=summed.overtime_minutes,
        absences=summed.absences,
    )


def _figures(worked: Worked, now: datetime) -> timekeeping.ShiftFigures:
    return timekeeping.figures(worked.shift.starts_at, worked.shift.ends_at, worked.punches, now)


def _period(
    zone: ZoneInfo, first: date | None, last: date | None, default_last: date
) -> tuple[date, date, datetime, datetime]:
    """Local days [first, last] of ``zone`` (default: the four weeks up to ``default_last``) and the
    instants bounding them."""
    raise_if(date_errors(("from", first), ("to", last)))
    last = last or (default_last if first is None else first + timedelta(days=DEFAULT_LISTING_DAYS - 1))
    first = first or last - timedelta(days=DEFAULT_LISTING_DAYS - 1)
    if last < first:
        raise Invalid("to: must not be before from", errors=[field_error("to", "must not be before from")])
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise Invalid(
            f"to: the period spans at most {MAX_PERIOD_DAYS} days",
            errors=[field_error("to", f"the period spans at most {MAX_PERIOD_DAYS} days")],
        )
    lower, upper = coverage.local_days(zone.key, first, last)
    return first, last, lower, upper


# --- reading -----------------------------------------------------------------------------------------


async def contract_attendance(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    *,
    staff_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> AttendanceReport:
    """Everyone's attendance on the contract's shifts starting on the local days ``first`` to ``last`` of
    its calendar's zone, with adherence per person and for the contract."""
    now = now or datetime.now(UTC)
    contract = await contracts.get_contract_row(session, scope, contract_id)
    calendar = await clients.get_calendar_row(session, scope, contract.calendar_id)
    zone = ZoneInfo(calendar.time_zone)
    first, last, lower, upper = _period(zone, first, last, first)
    worked = await worked_between(session, scope, lower, upper, contract_id=contract.id, staff_id=staff_id)
    by_person: dict[uuid.UUID, list[Worked]] = defaultdict(list)
    for item in worked:
        by_person[item.staff_id].append(item)
    people = sorted(
        (
            _adherence(person, items[0].staff_name, [_figures(item, now) for item in items])
            for person, items in by_person.items()
        ),
        key=lambda p: (p.staff_name, str(p.staff_id)),
    )
    total = _adherence(contract.id, contract.code, [_figures(item, now) for item in worked])
    return AttendanceReport(
        contract_id=contract.id,
        contract_code=contract.code,
        time_zone=zone.key,
        from_=first,
        to=last,
        scheduled_minutes=total.scheduled_minutes,
        adhered_minutes=total.adhered_minutes,
        adherence_percent=total.adherence_percent,
        people=people,
        shifts=[shift_attendance(item, zone, now) for item in worked],
    )


async def roster_attendance(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    lower: datetime,
    upper: datetime,
    zone: ZoneInfo,
    now: datetime,
) -> dict[tuple[uuid.UUID, uuid.UUID], ShiftAttendance]:
    """Everyone's attendance on the contract's shifts starting in [lower, upper), by (shift, person), on
    ``zone``'s clock: what a supervisor's roster shows beside each name."""
    worked = await worked_between(session, scope, lower, upper, contract_id=contract_id)
    return {(item.shift.id, item.staff_id): shift_attendance(item, zone, now) for item in worked}


async def my_attendance(
    session: AsyncSession,
    scope: Scope,
    first: date | None,
    last: date | None,
    *,
    zone_name: str | None = None,
    now: datetime | None = None,
) -> MyAttendance:
    """The caller's own shifts starting on the local days (of their home zone unless ``zone_name``; the
    four weeks up to today by default), with their punches and adherence."""
    now = now or datetime.now(UTC)
    me = await staff_of(session, scope)
    zone = ZoneInfo(zone_name or me.home_zone)
    first, last, lower, upper = _period(zone, first, last, now.astimezone(zone).date())
    worked = await worked_between(session, scope, lower, upper, staff_id=me.id)
    return MyAttendance(
        staff_id=me.id,
        time_zone=zone.key,
        from_=first,
        to=last,
        adherence=_adherence(me.id, me.display_name, [_figures(item, now) for item in worked]),
        items=[shift_attendance(item, zone, now) for item in worked],
    )


async def my_punches(
    session: AsyncSession, scope: Scope, me: Staff, shift_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, ShiftAttendance]:
    """The caller's attendance on these shifts of theirs (for their pages), on their own clock."""
    if not shift_ids:
        return {}
    rows = (
        await session.execute(
            select(Shift)
            .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
            .where(
                Shift.tenant_id == scope.tenant_id,
                Shift.id.in_(list(shift_ids)),
                Assignment.staff_id == me.id,
            )
        )
    ).scalars()
    shifts = list(rows)
    punches = await punches_of(session, scope, [(shift.id, me.id) for shift in shifts])
    zone = ZoneInfo(me.home_zone)
    return {
        shift.id: shift_attendance(
            Worked(
                shift,
                me.id,
                me.display_name,
                punches.get((shift.id, me.id), {}).get(CLOCK_IN),
                punches.get((shift.id, me.id), {}).get(CLOCK_OUT),
            ),
            zone,
            now,
        )
        for shift in shifts
    }


# --- what coverage reads -----------------------------------------------------------------------------


async def recorded_between(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, start: datetime, end: datetime
) -> bool:
    """Whether anyone's attendance was recorded on the contract's shifts meeting [start, end)."""
    found = await session.scalar(
        select(
            exists().where(
                AttendanceEvent.tenant_id == scope.tenant_id,
                Shift.tenant_id == AttendanceEvent.tenant_id,
                Shift.id == AttendanceEvent.shift_id,
                Shift.contract_id == contract_id,
                Shift.starts_at < end,
                Shift.ends_at > start,
            )
        )
    )
    return bool(found)


async def presence_between(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> list[tuple[datetime, datetime]]:
    """Who actually staffed the contract's shifts meeting [start, end), one stretch per person and shift
    (``timekeeping.presence``): what the coverage objective measures on its ``actual`` basis."""
    now = now or datetime.now(UTC)
    rows = (
        await session.execute(
            select(Shift.id, Shift.starts_at, Shift.ends_at, Assignment.staff_id)
            .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
            .where(
                Shift.tenant_id == scope.tenant_id,
                Shift.contract_id == contract_id,
                Shift.starts_at < end,
                Shift.ends_at > start,
            )
        )
    ).all()
    punches = await punches_of(session, scope, [(shift_id, person) for shift_id, _, _, person in rows])
    stretches = []
    for shift_id, starts_at, ends_at, person in rows:
        events = punches.get((shift_id, person), {})
        found = timekeeping.presence(
            starts_at,
            ends_at,
            Punches(
                events[CLOCK_IN].at if CLOCK_IN in events else None,
                events[CLOCK_OUT].at if CLOCK_OUT in events else None,
            ),
            now,
        )
        if found is not None:
            stretches.append(found)
    return stretches


@dataclass(frozen=True)
class Unpunched:
    shift_id: uuid.UUID
    staff_id: uuid.UUID
    start: datetime
    end: datetime


async def last_punched_end(session: AsyncSession, scope: Scope) -> datetime | None:
    """When the latest shift with any punch on it ended."""
    latest: datetime | None = await session.scalar(
        select(func.max(Shift.ends_at))
        .join(
            AttendanceEvent,
            and_(AttendanceEvent.tenant_id == Shift.tenant_id, AttendanceEvent.shift_id == Shift.id),
        )
        .where(Shift.tenant_id == scope.tenant_id)
    )
    return latest


async def unpunched(session: AsyncSession, scope: Scope, lower: datetime, upper: datetime) -> list[Unpunched]:
    """Assignments on shifts that ended in (lower, upper] with no punch at all, earliest first."""
    punched = (
        select(AttendanceEvent.id)
        .where(
            AttendanceEvent.tenant_id == Assignment.tenant_id,
            AttendanceEvent.shift_id == Assignment.shift_id,
            AttendanceEvent.staff_id == Assignment.staff_id,
        )
        .exists()
    )
    rows = await session.execute(
        select(Shift.id, Assignment.staff_id, Shift.starts_at, Shift.ends_at)
        .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
        .where(Shift.tenant_id == scope.tenant_id, Shift.ends_at > lower, Shift.ends_at <= upper, ~punched)
        .order_by(Shift.ends_at, Shift.id, Assignment.staff_id)
    )
    return [Unpunched(*row) for row in rows.all()]
