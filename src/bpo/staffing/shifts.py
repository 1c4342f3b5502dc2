"""Shifts: generated from a contract's coverage lines or created by hand, edited, published, and the
coverage they achieve (no HTTP here; the caller owns the transaction).

Coverage lines are wall-clock windows in the zone of the contract's calendar. Generation makes one shift
per line and local date, skips the calendar's holidays and closed dates and the days outside the
contract, and stores instants in UTC. A generated shift is keyed by its contract, line and times, so
generating a period again creates nothing new (a line's index is its identity: reordering a contract's
coverage lines makes new shifts).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from msgspec import UNSET
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import rules as clients_rules
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.clients.schemas import CoverageBasis, CoverageLine, StaffingMode
from bpo.core import business_time as cal
from bpo.core.audit import record
from bpo.core.errors import Conflict, FieldErrors, Invalid, NotFound, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.staffing import attendance, coverage, labour, rules, schemas
from bpo.staffing.models import Assignment, AttendanceEvent, Shift, Staff
from bpo.staffing.roster import (
    HEADCOUNT_FULL,
    Broken,
    broken_rules,
    lock_shift,
    lock_site_seats,
    rule_shift,
    violations_for,
)
from bpo.staffing.service import require_aware, rule_settings

MAX_PERIOD_DAYS = 93
MAX_SHIFT = timedelta(hours=24)
DEFAULT_SHIFT = timedelta(hours=9)
INTERVALS = (15, 30, 60)


def check_period(first: date | None, last: date | None, max_days: int = MAX_PERIOD_DAYS) -> FieldErrors:
    """The local dates ``from`` and ``to`` (either may be open where a listing allows it)."""
    errors = date_errors(("from", first), ("to", last))
    if errors or first is None or last is None:
        return errors
    if last < first:
        return [field_error("to", "must not be before from")]
    if (last - first).days + 1 > max_days:
        return [field_error("to", f"the period spans at most {max_days} days")]
    return []


def check_time_zone(name: str, field: str = "tz") -> str:
    raise_if(clients_rules.check_time_zone(name, field))
    return name


def shift_view(row: Shift, staff_ids: Sequence[uuid.UUID], zone: str = "UTC") -> schemas.Shift:
    tz = ZoneInfo(zone)
    rule = rule_shift(row)
    return schemas.Shift(
        id=row.id,
        contract_id=row.contract_id,
        start=row.starts_at,
        end=row.ends_at,
        time_zone=zone,
        local_start=row.starts_at.astimezone(tz),
        local_end=row.ends_at.astimezone(tz),
        mode=schemas.ShiftMode(row.mode),
        site_id=row.site_id,
        headcount=row.headcount,
        assigned=len(staff_ids),
        staff_ids=list(staff_ids),
        skills=list(row.skills),
        languages=list(row.languages),
        status=schemas.ShiftStatus(row.status),
        coverage_line=row.coverage_line,
        published_at=row.published_at,
        created_at=row.created_at,
        break_minutes=rule.break_seconds // 60,
        break_default=row.break_minutes is None,
        worked_hours=round(rule.worked_seconds / 3600, 2),
    )


async def staff_on(
    session: AsyncSession, scope: Scope, shift_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Who is assigned to each of the shifts."""
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if shift_ids:
        rows = await session.execute(
            select(Assignment.shift_id, Assignment.staff_id)
            .where(Assignment.tenant_id == scope.tenant_id, Assignment.shift_id.in_(list(shift_ids)))
            .order_by(Assignment.id)
        )
        for shift_id, staff_id in rows:
            found[shift_id].append(staff_id)
    return found


async def get_shift_row(session: AsyncSession, scope: Scope, shift_id: uuid.UUID) -> Shift:
    row = await session.scalar(select(Shift).where(Shift.tenant_id == scope.tenant_id, Shift.id == shift_id))
    if row is None:
        raise NotFound(f"Shift {shift_id} not found.")
    return row


async def get_shift(
    session: AsyncSession, scope: Scope, shift_id: uuid.UUID, zone: str = "UTC"
) -> schemas.Shift:
    row = await get_shift_row(session, scope, shift_id)
    return shift_view(row, (await staff_on(session, scope, [row.id]))[row.id], zone)


async def list_shifts(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    contract_id: uuid.UUID | None = None,
    status: schemas.ShiftStatus | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    zone: str = "UTC",
) -> schemas.ShiftPage:
    """Shifts starting in [start, end), in creation order (which is time order for generated ones)."""
    statement = select(Shift).where(Shift.tenant_id == scope.tenant_id)
    if contract_id is not None:
        await contracts.get_contract_row(session, scope, contract_id)
        statement = statement.where(Shift.contract_id == contract_id)
    if status is not None:
        statement = statement.where(Shift.status == status.value)
    if start is not None:
        statement = statement.where(Shift.starts_at >= start)
    if end is not None:
        statement = statement.where(Shift.starts_at < end)
    rows, next_cursor = await paginate(session, statement, Shift.id, limit=limit, cursor=cursor)
    assigned = await staff_on(session, scope, [row.id for row in rows])
    return schemas.ShiftPage(
        items=[shift_view(row, assigned[row.id], zone) for row in rows], next_cursor=next_cursor
    )


def contract_mode(contract: Contract) -> tuple[schemas.ShiftMode, uuid.UUID | None]:
    """Onsite contracts are worked at their site; hybrid ones remotely, with the site for reference."""
    if contract.staffing_mode == StaffingMode.ONSITE.value:
        return schemas.ShiftMode.ONSITE, contract.site_id
    if contract.staffing_mode == StaffingMode.HYBRID.value:
        return schemas.ShiftMode.REMOTE, contract.site_id
    return schemas.ShiftMode.REMOTE, None


async def _contract_for_body(session: AsyncSession, scope: Scope, contract_id: uuid.UUID) -> Contract:
    try:
        return await contracts.get_contract_row(session, scope, contract_id)
    except NotFound:
        raise Invalid(
            f"contract_id: contract {contract_id} not found",
            errors=[field_error("contract_id", "no such contract")],
        ) from None


def _check_times(start: datetime, end: datetime, break_minutes: int | None = None) -> FieldErrors:
    errors = require_aware(start, "start") + require_aware(end, "end")
    if not errors and not start < end <= start + MAX_SHIFT:
        errors.append(field_error("end", "after start, at most 24 hours later"))
    if errors or break_minutes is None:
        return errors
    span = int((end - start).total_seconds())
    if break_minutes * 60 >= span:
        errors.append(field_error("break_minutes", "shorter than the shift"))
    elif not labour.break_is_legal(span, break_minutes):
        errors.append(
            field_error(
                "break_minutes",
                f"{rules.RuleCode.BREAK_TOO_SHORT}: at least {labour.minimum_break_minutes(span)} minutes "
                f"for a shift of {span / 3600:g} h (45 once the working time exceeds 6 h, 60 once over 8 h)",
            )
        )
    return errors


async def _check_placement(
    session: AsyncSession, scope: Scope, mode: schemas.ShiftMode, site_id: uuid.UUID | None
) -> None:
    if mode is schemas.ShiftMode.ONSITE and site_id is None:
        raise Invalid(
            "site_id: an onsite shift names its site", errors=[field_error("site_id", "required onsite")]
        )
    if site_id is not None:
        await clients.get_site_row(session, scope, site_id, field="site_id")


async def create_shift(session: AsyncSession, scope: Scope, data: schemas.ShiftCreate) -> schemas.Shift:
    raise_if(_check_times(data.start, data.end, data.break_minutes))
    contract = await _contract_for_body(session, scope, data.contract_id)
    default_mode, default_site = contract_mode(contract)
    mode = data.mode or default_mode
    site_id = data.site_id if data.site_id is not None else default_site
    await _check_placement(session, scope, mode, site_id)
    row = Shift(
        tenant_id=scope.tenant_id,
        id=new_id(),
        contract_id=contract.id,
        starts_at=data.start.astimezone(UTC),
        ends_at=data.end.astimezone(UTC),
        mode=mode.value,
        site_id=site_id,
        headcount=data.headcount,
        skills=list(data.skills),
        languages=list(data.languages),
        status=schemas.ShiftStatus.DRAFT.value,
        break_minutes=data.break_minutes,
    )
    session.add(row)
    record(session, scope, "shift.created", "shift", row.id, contract_id=str(contract.id))
    await session.flush()
    await session.refresh(row)
    return shift_view(row, [])


# What a shift's assigned people must be re-checked for when it changes.
_RULE_FIELDS = frozenset({"start", "end", "skills", "languages", "mode", "site_id", "break_minutes"})


async def update_shift(
    session: AsyncSession, scope: Scope, shift_id: uuid.UUID, data: schemas.ShiftUpdate
) -> schemas.Shift:
    """Change a shift; the people on it are re-checked against every hard rule for the new shift, and
    nothing changes if one breaks."""
    row = await lock_shift(session, scope, shift_id)
    start = row.starts_at if data.start is UNSET else data.start
    end = row.ends_at if data.end is UNSET else data.end
    break_minutes = row.break_minutes if data.break_minutes is UNSET else data.break_minutes
    raise_if(_check_times(start, end, break_minutes))
    mode = schemas.ShiftMode(row.mode) if data.mode is UNSET else data.mode
    site_id = row.site_id if data.site_id is UNSET else data.site_id
    await _check_placement(session, scope, mode, site_id)
    headcount = row.headcount if data.headcount is UNSET else data.headcount
    new = {
        "starts_at": start.astimezone(UTC),
        "ends_at": end.astimezone(UTC),
        "mode": mode.value,
        "site_id": site_id,
        "headcount": headcount,
        "skills": list(row.skills if data.skills is UNSET else data.skills),
        "languages": list(row.languages if data.languages is UNSET else data.languages),
        "break_minutes": break_minutes,
    }
    changed = [name for name, value in new.items() if getattr(row, name) != value]
    status = schemas.ShiftStatus(row.status) if data.status is UNSET else data.status
    assigned = (await staff_on(session, scope, [row.id]))[row.id]
    if headcount < len(assigned):
        raise broken_rules(
            f"The shift has {len(assigned)} people assigned; remove some before lowering its headcount.",
            [Broken(HEADCOUNT_FULL, f"{len(assigned)} assigned, headcount {headcount}", row.id)],
            "headcount",
        )
    for name, value in new.items():
        setattr(row, name, value)
    if assigned and _RULE_FIELDS & {
        name for name in data.__struct_fields__ if getattr(data, name) is not UNSET
    }:
        await lock_site_seats(session, scope, row)
        settings, _ = await rule_settings(session, scope)
        people = await session.scalars(
            select(Staff).where(Staff.tenant_id == scope.tenant_id, Staff.id.in_(assigned)).order_by(Staff.id)
        )
        found: list[Broken] = []
        for person in people:
            found += [
                Broken(v.code, f"{person.display_name}: {v.message}", v.conflicting_shift_id)
                for v in await violations_for(
                    session, scope, row, person, settings=settings, check_headcount=False
                )
            ]
        if found:
            raise broken_rules("The people on this shift could not work it as changed.", found, "shift")
    if status.value != row.status:
        row.status = status.value
        row.published_at = datetime.now(UTC) if status is schemas.ShiftStatus.PUBLISHED else None
        changed.append("status")
    if changed:
        record(session, scope, "shift.updated", "shift", row.id, fields=changed)
        await session.flush()
        await session.refresh(row)
    return shift_view(row, assigned)


async def delete_shift(session: AsyncSession, scope: Scope, shift_id: uuid.UUID) -> None:
    row = await lock_shift(session, scope, shift_id)
    if (await staff_on(session, scope, [row.id]))[row.id]:
        raise Conflict(
            "The shift has people assigned; remove their assignments first.", slug="shift-has-assignments"
        )
    punched = await session.scalar(
        select(AttendanceEvent.id)
        .where(AttendanceEvent.tenant_id == scope.tenant_id, AttendanceEvent.shift_id == row.id)
        .limit(1)
    )
    if punched is not None:
        # Attendance is payroll's record: it outlives the roster, so the shift stays.
        raise Conflict(
            "Attendance was recorded on the shift; it cannot be deleted.", slug="shift-has-attendance"
        )
    await session.delete(row)
    record(session, scope, "shift.deleted", "shift", row.id, contract_id=str(row.contract_id))
    await session.flush()


# --- generation and publishing -----------------------------------------------------------------


def coverage_lines(contract: Contract) -> list[coverage.Line]:
    return [
        coverage.Line(
            weekdays=frozenset(clients.weekdays(line.days)),
            start=cal.parse_clock(line.start),
            end=cal.parse_clock(line.end),
            headcount=line.headcount,
            skills=tuple(line.skills),
            languages=tuple(line.languages),
        )
        for line in msgspec.convert(contract.coverage, list[CoverageLine])
    ]


def closed_on(calendar: cal.Calendar, day: date) -> bool:
    """Closed all day for a holiday or a dated exception, not merely outside its weekly windows."""
    if day in calendar.exceptions:
        return not calendar.exceptions[day]
    return day in calendar.holidays


async def _contract_calendar(
    session: AsyncSession, scope: Scope, contract: Contract, first: date, last: date
) -> cal.Calendar:
    row = await clients.get_calendar_row(session, scope, contract.calendar_id)
    return clients.business_calendar(row, list(range(first.year - 1, last.year + 2)))


def _required(
    contract: Contract, calendar: cal.Calendar, first: date, last: date
) -> list[coverage.Occurrence]:
    """What the contract's coverage lines require on the local dates, within the contract's term."""
    first = max(first, contract.start_date)
    if contract.end_date is not None:
        last = min(last, contract.end_date)
    return coverage.occurrences(
        calendar.zone, coverage_lines(contract), first, last, lambda day: closed_on(calendar, day)
    )


async def generate_shifts(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    longest: timedelta = DEFAULT_SHIFT,
) -> schemas.GenerateResult:
    """Draft shifts for the contract's coverage on the local dates ``first`` to ``last``, none longer
    than ``longest``; those already generated are left as they are."""
    raise_if(check_period(first, last))
    contract = await contracts.get_contract_row(session, scope, contract_id)
    calendar = await _contract_calendar(session, scope, contract, first, last)
    lines = coverage_lines(contract)
    wanted = [
        piece
        for stretch in _required(contract, calendar, first, last)
        for piece in coverage.split(stretch, lines[stretch.line], longest)
    ]
    mode, site_id = contract_mode(contract)
    created: list[uuid.UUID] = []
    if wanted:
        statement = (
            insert(Shift)
            .values(
                [
                    {
                        "tenant_id": scope.tenant_id,
                        "id": new_id(),
                        "contract_id": contract.id,
                        "starts_at": slot.start,
                        "ends_at": slot.end,
                        "mode": mode.value,
                        "site_id": site_id,
                        "headcount": slot.headcount,
                        "skills": list(slot.skills),
                        "languages": list(slot.languages),
                        "status": schemas.ShiftStatus.DRAFT.value,
                        "coverage_line": slot.line,
                    }
                    for slot in wanted
                ]
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "contract_id", "coverage_line", "starts_at", "ends_at"]
            )
            .returning(Shift.id)
        )
        created = list(await session.scalars(statement))
    if created:
        record(
            session, scope, "shifts.generated", "contract", contract.id,
            start=first.isoformat(), end=last.isoformat(), created=len(created),
        )  # fmt: skip
        await session.flush()
    return schemas.GenerateResult(
        contract_id=contract.id,
        from_=first,
        to=last,
        time_zone=calendar.zone,
        created=len(created),
        existing=len(wanted) - len(created),
    )


async def publish_shifts(
    session: AsyncSession, scope: Scope, data: schemas.PublishRequest
) -> schemas.PublishResult:
    """Publish the contract's draft shifts starting on the local dates of the period (its calendar's zone)."""
    raise_if(check_period(data.from_, data.to))
    contract = await _contract_for_body(session, scope, data.contract_id)
    calendar = await _contract_calendar(session, scope, contract, data.from_, data.to)
    start, end = coverage.local_days(calendar.zone, data.from_, data.to)
    published = list(
        await session.scalars(
            update(Shift)
            .where(
                Shift.tenant_id == scope.tenant_id,
                Shift.contract_id == contract.id,
                Shift.status == schemas.ShiftStatus.DRAFT.value,
                Shift.starts_at >= start,
                Shift.starts_at < end,
            )
            .values(status=schemas.ShiftStatus.PUBLISHED.value, published_at=func.now())
            .returning(Shift.id)
        )
    )
    if published:
        record(session, scope, "shifts.published", "contract", contract.id, count=len(published))
        await session.flush()
    return schemas.PublishResult(published=len(published))


# --- coverage ----------------------------------------------------------------------------------


async def _measure(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    calendar: cal.Calendar,
    bounds: Sequence[datetime],
    basis: CoverageBasis = CoverageBasis.PLANNED,
    now: datetime | None = None,
) -> coverage.Coverage:
    start, end = bounds[0], bounds[-1]
    zone = ZoneInfo(calendar.zone)
    # Lines starting the day before can run past midnight into the period.
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    required = [(o.start, o.end, o.headcount) for o in _required(contract, calendar, first, last)]
    if basis is CoverageBasis.ACTUAL:
        staffed = await attendance.presence_between(session, scope, contract.id, start, end, now)
        return coverage.measure_between(required, staffed, bounds)
    rows = await session.execute(
        select(Shift.starts_at, Shift.ends_at)
        .join(Assignment, (Assignment.tenant_id == Shift.tenant_id) & (Assignment.shift_id == Shift.id))
        .where(
            Shift.tenant_id == scope.tenant_id,
            Shift.contract_id == contract.id,
            Shift.starts_at < end,
            Shift.ends_at > start,
        )
    )
    return coverage.measure_between(required, [(a, b) for a, b in rows], bounds)


async def coverage_between(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    bounds: Sequence[datetime],
    basis: CoverageBasis = CoverageBasis.PLANNED,
    now: datetime | None = None,
) -> coverage.Coverage:
    """How much of the contract's required coverage is staffed, in each interval between ``bounds``
    (ascending instants) and in total: by assignments (``planned``), or by the attendance recorded on them
    (``actual``: clock-in to clock-out, see ``attendance.presence_between``). ``fully_staffed_share`` is
    what the SLA ``coverage`` objective measures. For a contract row the caller was allowed to read."""
    calendar = await _contract_calendar(session, scope, contract, bounds[0].date(), bounds[-1].date())
    return await _measure(session, scope, contract, calendar, bounds, basis, now)


async def attendance_recorded(
    session: AsyncSession, scope: Scope, contract: Contract, start: datetime, end: datetime
) -> bool:
    """Whether attendance was recorded on the contract's shifts meeting [start, end): the coverage
    objective's default basis is then ``actual``."""
    return await attendance.recorded_between(session, scope, contract.id, start, end)


def _minutes(seconds: int) -> float:
    return round(seconds / 60, 4)


async def coverage_report(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    interval_minutes: int,
) -> schemas.CoverageReport:
    """Required vs scheduled headcount per interval over the local dates ``first`` to ``last`` (the
    contract calendar's zone), with totals."""
    errors = check_period(first, last)
    if interval_minutes not in INTERVALS:
        errors.append(field_error("interval", f"one of {', '.join(map(str, INTERVALS))} minutes"))
    raise_if(errors)
    contract = await contracts.get_contract_row(session, scope, contract_id)
    calendar = await _contract_calendar(session, scope, contract, first, last)
    start, end = coverage.local_days(calendar.zone, first, last)
    measured = await _measure(
        session, scope, contract, calendar, coverage.steps(start, end, timedelta(minutes=interval_minutes))
    )
    totals = measured.totals
    return schemas.CoverageReport(
        contract_id=contract.id,
        from_=first,
        to=last,
        time_zone=calendar.zone,
        interval_minutes=interval_minutes,
        intervals=[
            schemas.CoverageInterval(
                start=i.start,
                end=i.end,
                required=i.required,
                scheduled=i.scheduled,
                gap=i.gap,
                required_staff_minutes=_minutes(i.required_staff_seconds),
                staffed_staff_minutes=_minutes(i.staffed_staff_seconds),
            )
            for i in measured.intervals
        ],
        totals=schemas.CoverageTotals(
            required_staff_minutes=_minutes(totals.required_staff_seconds),
            staffed_staff_minutes=_minutes(totals.staffed_staff_seconds),
            coverage_minutes=_minutes(totals.coverage_seconds),
            fully_staffed_minutes=_minutes(totals.fully_staffed_seconds),
            fully_staffed_share=totals.fully_staffed_share,
        ),
    )
