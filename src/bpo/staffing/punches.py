"""Writing punches: people clock in and out of their own shifts (on their page or through the API), client
and site systems send punches in batches, and supervisors correct them with a reason the audit log keeps.
No HTTP here; the caller owns the transaction.

One punch per person, shift and kind: clocking twice is refused, importing the same punch again changes
nothing, a new time from an import replaces an imported or self-recorded one, and a supervisor's
correction stands until a supervisor changes it again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import and_, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.core.audit import record
from bpo.core.errors import Conflict, FieldErrors, NotFound, field_error, raise_if
from bpo.core.orm import new_id
from bpo.core.scope import Scope
from bpo.staffing.attendance import CLOCK_IN, CLOCK_OUT, Worked, my_punches, punches_of, shift_attendance
from bpo.staffing.attendance_schemas import (
    AttendanceBatchResult,
    AttendanceCorrection,
    AttendanceEventBatch,
    AttendanceEventKind,
    AttendanceSource,
    ShiftAttendance,
)
from bpo.staffing.models import Assignment, AttendanceEvent, Shift, Staff
from bpo.staffing.selfservice import staff_of
from bpo.staffing.timekeeping import CLOCK_IN_OPENS, CLOCK_OUT_CLOSES

# How far from its shift an imported or corrected punch may lie.
PUNCH_REACH = timedelta(hours=12)
ALREADY = {
    AttendanceEventKind.CLOCK_IN: "already-clocked-in",
    AttendanceEventKind.CLOCK_OUT: "already-clocked-out",
}


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


async def clock(
    session: AsyncSession,
    scope: Scope,
    shift_id: uuid.UUID,
    kind: AttendanceEventKind,
    now: datetime | None = None,
) -> ShiftAttendance:
    """The caller clocks in to (from an hour before its start until its end) or out of (after clocking in,
    until eight hours after its planned end) a shift of theirs; a shift that is not theirs is not found."""
    now = now or datetime.now(UTC)
    me = await staff_of(session, scope)
    zone = ZoneInfo(me.home_zone)
    shift = await session.scalar(
        select(Shift)
        .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
        .where(Shift.tenant_id == scope.tenant_id, Shift.id == shift_id, Assignment.staff_id == me.id)
    )
    if shift is None:
        raise NotFound(f"Shift {shift_id} not found.")
    punches = (await punches_of(session, scope, [(shift.id, me.id)])).get((shift.id, me.id), {})
    if kind is AttendanceEventKind.CLOCK_IN:
        if CLOCK_IN in punches:
            raise Conflict(
                f"You clocked in to this shift at {_when(punches[CLOCK_IN].at, zone)} already.",
                slug=ALREADY[kind],
            )
        opens = shift.starts_at - CLOCK_IN_OPENS
        if now < opens:
            raise Conflict(
                f"Too early to clock in: clock-in opens at {_when(opens, zone)}, "
                f"{int(CLOCK_IN_OPENS.total_seconds() // 60)} minutes before the shift starts.",
                slug="outside-clock-window",
            )
        if now >= shift.ends_at:
            raise Conflict(
                f"The shift ended at {_when(shift.ends_at, zone)}; a supervisor records its attendance now.",
                slug="outside-clock-window",
            )
    else:
        if CLOCK_IN not in punches:
            raise Conflict("Clock in to this shift before clocking out.", slug="not-clocked-in")
        if CLOCK_OUT in punches:
            raise Conflict(
                f"You clocked out of this shift at {_when(punches[CLOCK_OUT].at, zone)} already.",
                slug=ALREADY[kind],
            )
        closes = shift.ends_at + CLOCK_OUT_CLOSES
        if now > closes:
            raise Conflict(
                f"Too late to clock out: clock-out closed at {_when(closes, zone)}, "
                f"{int(CLOCK_OUT_CLOSES.total_seconds() // 3600)} hours after the shift's end; "
                "a supervisor records it now.",
                slug="outside-clock-window",
            )
    inserted = await session.scalar(
        insert(AttendanceEvent)
        .values(
            tenant_id=scope.tenant_id,
            id=new_id(),
            shift_id=shift.id,
            staff_id=me.id,
            kind=kind.value,
            at=now,
            source=AttendanceSource.STAFF.value,
            recorded_by=scope.principal_id,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "shift_id", "staff_id", "kind"])
        .returning(AttendanceEvent.id)
    )
    if inserted is None:
        # Recorded a moment ago (another tab, a site's system).
        raise Conflict("This punch was recorded a moment ago already.", slug=ALREADY[kind])
    record(session, scope, f"attendance.{kind.value}", "shift", shift.id, staff_id=str(me.id))
    await session.flush()
    return (await my_punches(session, scope, me, [shift.id], now))[shift.id]


# --- imports --------------------------------------------------------------------------------------------


def _out_of_reach(at: datetime, shift: Shift) -> bool:
    return not shift.starts_at - PUNCH_REACH <= at <= shift.ends_at + PUNCH_REACH


async def import_events(
    session: AsyncSession, scope: Scope, batch: AttendanceEventBatch
) -> AttendanceBatchResult:
    """Punches from a client's or site's system, all or nothing: each names a shift of a contract the
    caller may see and a person assigned to it; an API key sees its own client's (or contract's) shifts."""
    events = batch.events
    errors: FieldErrors = []
    codes = {e.staff_code for e in events if e.staff_code is not None}
    by_code = {}
    if codes:
        by_code = dict(
            (
                await session.execute(
                    select(Staff.code, Staff.id).where(
                        Staff.tenant_id == scope.tenant_id, Staff.code.in_(codes)
                    )
                )
            ).all()
        )
    visible = contracts.visible_contracts(scope).with_only_columns(Contract.id).scalar_subquery()
    shift_rows = await session.scalars(
        select(Shift).where(
            Shift.tenant_id == scope.tenant_id,
            Shift.id.in_({e.shift_id for e in events}),
            Shift.contract_id.in_(visible),
        )
    )
    shifts = {shift.id: shift for shift in shift_rows}
    assigned = set()
    if shifts:
        assigned = {
            (shift_id, staff_id)
            for shift_id, staff_id in (
                await session.execute(
                    select(Assignment.shift_id, Assignment.staff_id).where(
                        Assignment.tenant_id == scope.tenant_id, Assignment.shift_id.in_(list(shifts))
                    )
                )
            ).all()
        }
    wanted: dict[tuple[uuid.UUID, uuid.UUID, str], tuple[int, datetime]] = {}
    for index, event in enumerate(events):
        where = f"events[{index}]"
        if (event.staff_id is None) == (event.staff_code is None):
            errors.append(
                field_error(f"{where}.staff_id", "give staff_id or staff_code (one of them)", index=index)
            )
            continue
        if event.at.utcoffset() is None:
            errors.append(field_error(f"{where}.at", "needs a UTC offset", index=index))
            continue
        shift = shifts.get(event.shift_id)
        if shift is None:
            errors.append(field_error(f"{where}.shift_id", "no such shift", index=index))
            continue
        person = event.staff_id if event.staff_id is not None else by_code.get(event.staff_code or "")
        if person is None or (shift.id, person) not in assigned:
            named = "staff_id" if event.staff_id is not None else "staff_code"
            errors.append(field_error(f"{where}.{named}", "no such person on this shift", index=index))
            continue
        at = event.at.astimezone(UTC)
        if _out_of_reach(at, shift):
            errors.append(
                field_error(f"{where}.at", "more than 12 hours from the shift's planned times", index=index)
            )
            continue
        key = (shift.id, person, event.kind.value)
        if key in wanted and wanted[key][1] != at:
            errors.append(
                field_error(f"{where}.at", f"events[{wanted[key][0]}] gives another time", index=index)
            )
            continue
        wanted[key] = (index, at)
    raise_if(errors)
    stored = await punches_of(session, scope, [(shift_id, person) for shift_id, person, _ in wanted])
    # The punches as they will stand, so that a clock-out never comes before its clock-in.
    standing: dict[tuple[uuid.UUID, uuid.UUID], dict[str, datetime]] = defaultdict(dict)
    for (shift_id, person), kinds in stored.items():
        for kind, punch in kinds.items():
            standing[(shift_id, person)][kind] = punch.at
    result = {"created": 0, "updated": 0, "unchanged": 0, "kept": 0}
    changes = []
    for (shift_id, person, kind), (index, at) in wanted.items():
        current = stored.get((shift_id, person), {}).get(kind)
        if current is None:
            result["created"] += 1
        elif current.source == AttendanceSource.CORRECTION.value:
            result["kept"] += 1
            continue
        elif current.at == at:
            result["unchanged"] += 1
            continue
        else:
            result["updated"] += 1
        standing[(shift_id, person)][kind] = at
        changes.append((shift_id, person, kind, at, index))
    # Named at the clock-out when the batch sends it, else at the clock-in it sends.
    blamed: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for shift_id, person, _, _, index in sorted(changes, key=lambda change: change[2] != CLOCK_OUT):
        times = standing[(shift_id, person)]
        if CLOCK_IN in times and CLOCK_OUT in times and times[CLOCK_OUT] < times[CLOCK_IN]:
            blamed.setdefault((shift_id, person), index)
    for index in sorted(blamed.values()):
        errors.append(
            field_error(f"events[{index}].at", "the clock-out comes before the clock-in", index=index)
        )
    raise_if(errors)
    if changes:
        statement = insert(AttendanceEvent).values(
            [
                {
                    "tenant_id": scope.tenant_id,
                    "id": new_id(),
                    "shift_id": shift_id,
                    "staff_id": person,
                    "kind": kind,
                    "at": at,
                    "source": AttendanceSource.IMPORT.value,
                    "recorded_by": scope.principal_id,
                }
                for shift_id, person, kind, at, _ in changes
            ]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "shift_id", "staff_id", "kind"],
                set_={
                    "at": statement.excluded.at,
                    "source": statement.excluded.source,
                    "recorded_by": statement.excluded.recorded_by,
                    "updated_at": datetime.now(UTC),
                },
                where=AttendanceEvent.source != AttendanceSource.CORRECTION.value,
            )
        )
        record(session, scope, "attendance.imported", "attendance_batch", new_id(), **result)
        await session.flush()
    return AttendanceBatchResult(**result)


# --- corrections ------------------------------------------------------------------------------------------


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


async def correct(
    session: AsyncSession,
    scope: Scope,
    shift_id: uuid.UUID,
    staff_id: uuid.UUID,
    data: AttendanceCorrection,
    now: datetime | None = None,
) -> ShiftAttendance:
    """A supervisor sets or clears a person's punches on a shift they work, with a reason the audit log
    keeps beside what the punches were and became."""
    now = now or datetime.now(UTC)
    found = (
        await session.execute(
            select(Shift, Staff)
            .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
            .join(Staff, and_(Staff.tenant_id == Assignment.tenant_id, Staff.id == Assignment.staff_id))
            .where(Shift.tenant_id == scope.tenant_id, Shift.id == shift_id, Assignment.staff_id == staff_id)
            .with_for_update(of=Shift)
        )
    ).first()
    if found is None:
        raise NotFound(f"Staff {staff_id} does not work shift {shift_id}.")
    shift, person = found
    # The shift must be readable by the caller like any other of its contract's objects.
    await contracts.get_contract_row(session, scope, shift.contract_id)
    errors: FieldErrors = []
    if not data.reason.strip():
        errors.append(field_error("reason", "say why the attendance is corrected"))
    wanted = {CLOCK_IN: data.clock_in, CLOCK_OUT: data.clock_out}
    for kind, value in wanted.items():
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                errors.append(field_error(kind, "needs a UTC offset"))
            elif _out_of_reach(value.astimezone(UTC), shift):
                errors.append(field_error(kind, "more than 12 hours from the shift's planned times"))
    raise_if(errors)
    current = (await punches_of(session, scope, [(shift.id, person.id)])).get((shift.id, person.id), {})
    before = {kind: (current[kind].at if kind in current else None) for kind in (CLOCK_IN, CLOCK_OUT)}
    after = dict(before)
    for kind, value in wanted.items():
        if value is not msgspec.UNSET:
            after[kind] = None if value is None else value.astimezone(UTC)
    clocked_in, clocked_out = after[CLOCK_IN], after[CLOCK_OUT]
    if clocked_out is not None and clocked_in is None:
        raise_if([field_error("clock_out", "a clock-out needs a clock-in")])
    if clocked_in is not None and clocked_out is not None and clocked_out < clocked_in:
        raise_if([field_error("clock_out", "must not come before the clock-in")])
    # A punch given again as it stands still becomes the supervisor's: imports no longer change it.
    changed = [
        kind
        for kind in (CLOCK_IN, CLOCK_OUT)
        if wanted[kind] is not msgspec.UNSET
        and (
            before[kind] != after[kind]
            or (kind in current and current[kind].source != AttendanceSource.CORRECTION.value)
        )
    ]
    for kind in changed:
        value = after[kind]
        if value is None:
            await session.execute(
                delete(AttendanceEvent).where(
                    AttendanceEvent.tenant_id == scope.tenant_id,
                    AttendanceEvent.shift_id == shift.id,
                    AttendanceEvent.staff_id == person.id,
                    AttendanceEvent.kind == kind,
                )
            )
            continue
        statement = insert(AttendanceEvent).values(
            tenant_id=scope.tenant_id,
            id=new_id(),
            shift_id=shift.id,
            staff_id=person.id,
            kind=kind,
            at=value,
            source=AttendanceSource.CORRECTION.value,
            recorded_by=scope.principal_id,
            note=data.reason.strip(),
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "shift_id", "staff_id", "kind"],
                set_={
                    "at": statement.excluded.at,
                    "source": statement.excluded.source,
                    "recorded_by": statement.excluded.recorded_by,
                    "note": statement.excluded.note,
                    "updated_at": now,
                },
            )
        )
    if changed:
        record(
            session, scope, "attendance.corrected", "shift", shift.id,
            staff_id=str(person.id), reason=data.reason.strip(),
            before={kind: _stamp(before[kind]) for kind in changed},
            after={kind: _stamp(after[kind]) for kind in changed},
        )  # fmt: skip
        await session.flush()
    calendar = await clients.get_calendar_row(
        session, scope, (await contracts.get_contract_row(session, scope, shift.contract_id)).calendar_id
    )
    punches = (await punches_of(session, scope, [(shift.id, person.id)])).get((shift.id, person.id), {})
    worked = Worked(shift, person.id, person.display_name, punches.get(CLOCK_IN), punches.get(CLOCK_OUT))
    return shift_attendance(worked, ZoneInfo(calendar.time_zone), now)
