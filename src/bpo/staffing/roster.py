"""Who works which shift: the hard rules of ``rules.py`` applied to stored rosters, manual assignments,
and the loader that gives the solver (and swaps) the rules' view of a period.

Every write re-checks every hard rule and writes nothing when one breaks. The status tells the two
kinds of failure apart: 422 when the person may not work the shift whatever else is scheduled (skills,
languages, sites, training, exclusions, time off, availability, a too-short break), 409 when it clashes
with what is already scheduled (overlap, rest, weekly hours, consecutive days, overtime caps, seat
capacity, a full shift). Either way the problem lists every broken rule with its code and the shift it
conflicts with.

Concurrent writes are serialised by row locks taken in one order, shift then person, plus a
transaction-level advisory lock per site for seat capacity, so two requests cannot together break a
rule that each alone would keep.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import ClassVar

import msgspec
from sqlalchemy import ColumnElement, and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bpo.clients import service as clients
from bpo.clients.schemas import WindowSpec
from bpo.core import business_time as cal
from bpo.core.audit import record
from bpo.core.errors import BpoError, Conflict, NotFound, field_error
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.staffing import rules, schemas
from bpo.staffing.models import Assignment, Shift, Staff, TimeOff
from bpo.staffing.service import get_staff_row, get_time_off_row, rule_settings, transition_time_off
from bpo.staffing.solver import Weights

HEADCOUNT_FULL = "headcount_full"
# Rules about what else is scheduled (409); every other code is about the person and the shift (422).
SCHEDULE_CODES = frozenset(
    {
        rules.RuleCode.OVERLAP,
        rules.RuleCode.MIN_REST,
        rules.RuleCode.WEEKLY_HOURS,
        rules.RuleCode.SEAT_CAPACITY,
        rules.RuleCode.CONSECUTIVE_DAYS,
        rules.RuleCode.MONTHLY_OVERTIME,
        rules.RuleCode.YEARLY_OVERTIME,
    }
) | {HEADCOUNT_FULL}
# A person's shifts further apart than this share no ISO week and need no rest between them.
WEEK_REACH = timedelta(days=8)


@dataclass(frozen=True)
class Broken:
    """A broken hard rule: a ``rules.RuleCode`` or ``headcount_full``."""

    code: str
    message: str
    conflicting_shift_id: uuid.UUID | None

    @classmethod
    def of(cls, violation: rules.Violation) -> Broken:
        shift_id = violation.conflicting_shift_id
        return cls(
            violation.code.value,
            violation.message,
            shift_id if isinstance(shift_id, uuid.UUID) or shift_id is None else uuid.UUID(str(shift_id)),
        )


class BrokenRules(BpoError):
    """Hard rules a change would break; ``violations`` lists every one."""

    def __init__(self, detail: str, violations: Sequence[Broken], field: str = "staff_id") -> None:
        super().__init__(
            detail,
            errors=[field_error(field, f"{v.code}: {v.message}") for v in violations],
        )
        self.violations = list(violations)

    def view(self) -> list[schemas.RuleViolation]:
        return [
            schemas.RuleViolation(code=v.code, message=v.message, conflicting_shift_id=v.conflicting_shift_id)
            for v in self.violations
        ]


class Ineligible(BrokenRules):
    status: ClassVar[int] = 422
    slug: ClassVar[str] = "ineligible"
    title: ClassVar[str] = "Not eligible for the shift"


class ScheduleConflict(BrokenRules):
    status: ClassVar[int] = 409
    slug: ClassVar[str] = "schedule-conflict"
    title: ClassVar[str] = "Conflicts with the schedule"


def broken_rules(detail: str, violations: Sequence[Broken], field: str = "staff_id") -> BrokenRules:
    """422 if any rule says the person may not work the shift at all, else 409."""
    if any(v.code not in SCHEDULE_CODES for v in violations):
        return Ineligible(detail, violations, field)
    return ScheduleConflict(detail, violations, field)


# --- the rules' dataclasses from rows ----------------------------------------------------------


def rule_shift(row: Shift) -> rules.Shift:
    return rules.Shift(
        id=row.id,
        contract_id=row.contract_id,
        start=row.starts_at,
        end=row.ends_at,
        site_id=row.site_id,
        mode=rules.Mode(row.mode),
        headcount=row.headcount,
        skills=frozenset(row.skills),
        languages=frozenset(row.languages),
        break_minutes=row.break_minutes,
    )


def availability_windows(spec: Sequence[dict[str, object]] | None) -> tuple[cal.Window, ...]:
    if spec is None:
        return rules.ALWAYS_AVAILABLE
    windows = msgspec.convert(spec, list[WindowSpec])
    return tuple(
        cal.Window(weekday, cal.parse_clock(w.start), cal.parse_clock(w.end))
        for w in windows
        for weekday in clients.weekdays(w.days)
    )


def staff_member(
    row: Staff, time_off: Iterable[cal.Interval] = (), history: rules.WorkHistory | None = None
) -> rules.StaffMember:
    """A profile as the rules see it, with the approved time off and the work elsewhere given."""
    return rules.StaffMember(
        id=row.id,
        home_zone=row.home_zone,
        skills=frozenset(s["name"] for s in row.skills),
        languages=frozenset(s["name"] for s in row.languages),
        sites=frozenset(row.site_ids),
        trained_contracts=frozenset(row.trained_contract_ids)
        if row.trained_contract_ids is not None
        else None,
        excluded_contracts=frozenset(row.excluded_contract_ids),
        weekly_hour_cap=row.weekly_hour_cap,
        availability=availability_windows(row.availability),
        preferred=availability_windows(row.preferred_times) if row.preferred_times else (),
        time_off=tuple(time_off),
        hourly_cost=row.hourly_cost or 0,
        max_consecutive_days=row.max_consecutive_days,
        monthly_overtime_hours=row.monthly_overtime_hours,
        yearly_overtime_hours=row.yearly_overtime_hours,
        history=history or rules.WorkHistory(),
    )


def _overlapping(
    start_column: InstrumentedAttribute[datetime],
    end_column: InstrumentedAttribute[datetime],
    start: datetime,
    end: datetime,
) -> ColumnElement[bool]:
    return and_(start_column < end, end_column > start)


async def approved_time_off(
    session: AsyncSession, scope: Scope, staff_ids: Iterable[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[cal.Interval]]:
    """Approved time off of these people overlapping [start, end), by person."""
    ids = list(staff_ids)
    found: dict[uuid.UUID, list[cal.Interval]] = defaultdict(list)
    if not ids:
        return found
    rows = await session.execute(
        select(TimeOff.staff_id, TimeOff.starts_at, TimeOff.ends_at).where(
            TimeOff.tenant_id == scope.tenant_id,
            TimeOff.staff_id.in_(ids),
            TimeOff.status == schemas.TimeOffStatus.APPROVED.value,
            _overlapping(TimeOff.starts_at, TimeOff.ends_at, start, end),
        )
    )
    for staff_id, starts_at, ends_at in rows:
        found[staff_id].append((starts_at, ends_at))
    return found


async def site_of(session: AsyncSession, scope: Scope, site_id: uuid.UUID) -> rules.Site:
    row = await clients.get_site_row(session, scope, site_id)
    return rules.Site(id=row.id, seat_capacity=row.seat_capacity)


def labour_span(
    settings: rules.RuleSettings, start: datetime, end: datetime, longest_run: int
) -> tuple[datetime, datetime]:
    """Instants that hold, in any zone, the whole overtime years of [start, end) and a run of
    ``longest_run`` consecutive working days reaching into it."""
    first, _ = settings.overtime_year_bounds(settings.overtime_year((start - timedelta(days=1)).date()))
    _, last = settings.overtime_year_bounds(settings.overtime_year((end + timedelta(days=1)).date()))
    lower = datetime.combine(first - timedelta(days=1), time(), tzinfo=UTC)
    upper = datetime.combine(last + timedelta(days=2), time(), tzinfo=UTC)
    run = timedelta(days=longest_run + 2)
    return min(lower, start - run), max(upper, end + run)


def _longest_run(settings: rules.RuleSettings, people: Iterable[Staff]) -> int:
    return max([settings.max_consecutive_days, *(p.max_consecutive_days or 0 for p in people)])


async def work_history(
    session: AsyncSession,
    scope: Scope,
    people: Sequence[Staff],
    lower: datetime,
    upper: datetime,
    known: set[uuid.UUID],
) -> dict[uuid.UUID, rules.WorkHistory]:
    """The people's work on shifts overlapping [lower, upper) other than the ``known`` ones, as the
    rules count it (worked time by work day, days touched in the home zone)."""
    if not people:
        return {}
    rows = await session.execute(
        select(Assignment.staff_id, Shift)
        .join(Shift, and_(Shift.tenant_id == Assignment.tenant_id, Shift.id == Assignment.shift_id))
        .where(
            Assignment.tenant_id == scope.tenant_id,
            Assignment.staff_id.in_([p.id for p in people]),
            _overlapping(Shift.starts_at, Shift.ends_at, lower, upper),
        )
    )
    shifts: dict[uuid.UUID, list[rules.Shift]] = defaultdict(list)
    for staff_id, row in rows:
        if row.id not in known:
            shifts[staff_id].append(rule_shift(row))
    return {p.id: rules.WorkHistory.of(shifts[p.id], p.home_zone) for p in people if p.id in shifts}


# --- checking one person on one shift ----------------------------------------------------------


async def violations_for(
    session: AsyncSession,
    scope: Scope,
    shift: Shift,
    staff: Staff,
    *,
    excluding: Iterable[uuid.UUID] = (),
    settings: rules.RuleSettings | None = None,
    check_headcount: bool = True,
) -> list[Broken]:
    """Every hard rule putting ``staff`` on ``shift`` would break, as the roster stands without the
    assignments ``excluding`` (e.g. the ones a swap gives away) and without the person's own
    assignment to this shift."""
    if settings is None:
        settings, _ = await rule_settings(session, scope)
    excluded = set(excluding)
    target = rule_shift(shift)
    # Every shift of the person in the overtime years concerned: caps count months and years.
    lower, upper = labour_span(settings, target.start, target.end, _longest_run(settings, [staff]))
    time_off = await approved_time_off(session, scope, [staff.id], target.start, target.end)
    member = staff_member(staff, time_off.get(staff.id, ()))
    own = await session.execute(
        select(Assignment.id, Shift)
        .join(Shift, and_(Shift.tenant_id == Assignment.tenant_id, Shift.id == Assignment.shift_id))
        .where(
            Assignment.tenant_id == scope.tenant_id,
            Assignment.staff_id == staff.id,
            Shift.id != shift.id,
            _overlapping(Shift.starts_at, Shift.ends_at, lower, upper),
        )
    )
    staff_shifts = [rule_shift(row) for assignment_id, row in own if assignment_id not in excluded]
    site = None
    site_assignments: list[tuple[rules.Assignment, rules.Shift]] = []
    if target.mode is rules.Mode.ONSITE and shift.site_id is not None:
        site = await site_of(session, scope, shift.site_id)
        onsite = await session.execute(
            select(Assignment.id, Assignment.staff_id, Shift)
            .join(Shift, and_(Shift.tenant_id == Assignment.tenant_id, Shift.id == Assignment.shift_id))
            .where(
                Assignment.tenant_id == scope.tenant_id,
                Shift.site_id == shift.site_id,
                Shift.mode == rules.Mode.ONSITE.value,
                Shift.id != shift.id,
                _overlapping(Shift.starts_at, Shift.ends_at, target.start, target.end),
            )
        )
        site_assignments = [
            (rules.Assignment(row.id, staff_id), rule_shift(row))
            for assignment_id, staff_id, row in onsite
            if assignment_id not in excluded
        ]
        # Others already on this very shift sit at the site too.
        colleagues = await session.scalars(
            select(Assignment.staff_id).where(
                Assignment.tenant_id == scope.tenant_id,
                Assignment.shift_id == shift.id,
                Assignment.id.not_in(excluded or {uuid.UUID(int=0)}),
            )
        )
        site_assignments += [(rules.Assignment(target.id, other), target) for other in colleagues]
    found = [
        Broken.of(v)
        for v in rules.check_assignment(target, member, staff_shifts, site_assignments, settings, site=site)
    ]
    if check_headcount:
        taken = await session.scalar(
            select(func.count()).where(
                Assignment.tenant_id == scope.tenant_id,
                Assignment.shift_id == shift.id,
                Assignment.staff_id != staff.id,
                Assignment.id.not_in(excluded or {uuid.UUID(int=0)}),
            )
        )
        if (taken or 0) >= shift.headcount:
            found.append(
                Broken(HEADCOUNT_FULL, f"the shift needs {shift.headcount} and has {taken} already", shift.id)
            )
    return found


# --- assignments -----------------------------------------------------------------------------


def assignment_view(row: Assignment, shift: Shift) -> schemas.Assignment:
    return schemas.Assignment(
        id=row.id,
        shift_id=row.shift_id,
        staff_id=row.staff_id,
        contract_id=shift.contract_id,
        start=shift.starts_at,
        end=shift.ends_at,
        source=schemas.AssignmentSource(row.source),
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def lock_shift(session: AsyncSession, scope: Scope, shift_id: uuid.UUID) -> Shift:
    row = await session.scalar(
        select(Shift).where(Shift.tenant_id == scope.tenant_id, Shift.id == shift_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"Shift {shift_id} not found.")
    return row


async def lock_site_seats(session: AsyncSession, scope: Scope, shift: Shift) -> None:
    """Serialise onsite assignments per site until the transaction ends (seat capacity spans people)."""
    if shift.mode == rules.Mode.ONSITE.value and shift.site_id is not None:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"bpo:seats:{scope.tenant_id}:{shift.site_id}"},
        )


async def assign(
    session: AsyncSession,
    scope: Scope,
    shift_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    source: schemas.AssignmentSource = schemas.AssignmentSource.MANUAL,
) -> schemas.Assignment:
    """Put a person on a shift after checking every hard rule; raises ``BrokenRules`` and writes
    nothing when one breaks."""
    shift = await lock_shift(session, scope, shift_id)
    staff = await get_staff_row(session, scope, staff_id, for_update=True, field="staff_id")
    if not staff.active:
        raise Conflict(
            f"Staff {staff.display_name} is inactive.",
            slug="staff-inactive",
            errors=[field_error("staff_id", "inactive")],
        )
    already = await session.scalar(
        select(Assignment.id).where(
            Assignment.tenant_id == scope.tenant_id,
            Assignment.shift_id == shift.id,
            Assignment.staff_id == staff.id,
        )
    )
    if already is not None:
        raise Conflict(
            f"{staff.display_name} is already on this shift.",
            slug="already-assigned",
            errors=[field_error("staff_id", f"already assigned ({already})")],
        )
    await lock_site_seats(session, scope, shift)
    found = await violations_for(session, scope, shift, staff)
    if found:
        raise broken_rules(
            f"{staff.display_name} cannot take shift {shift.id}: " + "; ".join(v.code for v in found), found
        )
    row = Assignment(
        tenant_id=scope.tenant_id,
        id=new_id(),
        shift_id=shift.id,
        staff_id=staff.id,
        source=source.value,
        created_by=scope.user_id,
    )
    session.add(row)
    record(
        session, scope, "assignment.created", "assignment", row.id,
        shift_id=str(shift.id), staff_id=str(staff.id), source=source.value,
    )  # fmt: skip
    await session.flush()
    await session.refresh(row)
    return assignment_view(row, shift)


async def get_assignment_row(session: AsyncSession, scope: Scope, assignment_id: uuid.UUID) -> Assignment:
    row = await session.scalar(
        select(Assignment).where(Assignment.tenant_id == scope.tenant_id, Assignment.id == assignment_id)
    )
    if row is None:
        raise NotFound(f"Assignment {assignment_id} not found.")
    return row


async def get_assignment(session: AsyncSession, scope: Scope, assignment_id: uuid.UUID) -> schemas.Assignment:
    row = await get_assignment_row(session, scope, assignment_id)
    shift = await session.get_one(Shift, (scope.tenant_id, row.shift_id))
    return assignment_view(row, shift)


async def unassign(session: AsyncSession, scope: Scope, assignment_id: uuid.UUID) -> None:
    row = await get_assignment_row(session, scope, assignment_id)
    await session.delete(row)
    record(
        session, scope, "assignment.deleted", "assignment", row.id,
        shift_id=str(row.shift_id), staff_id=str(row.staff_id),
    )  # fmt: skip
    await session.flush()


async def list_assignments(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    shift_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> schemas.AssignmentPage:
    """Assignments of a shift, a person or a contract; with a period, those whose shift overlaps it."""
    statement = (
        select(Assignment)
        .join(Shift, and_(Shift.tenant_id == Assignment.tenant_id, Shift.id == Assignment.shift_id))
        .where(Assignment.tenant_id == scope.tenant_id)
    )
    if shift_id is not None:
        statement = statement.where(Assignment.shift_id == shift_id)
    if staff_id is not None:
        statement = statement.where(Assignment.staff_id == staff_id)
    if contract_id is not None:
        statement = statement.where(Shift.contract_id == contract_id)
    if start is not None:
        statement = statement.where(Shift.ends_at > start)
    if end is not None:
        statement = statement.where(Shift.starts_at < end)
    rows, next_cursor = await paginate(session, statement, Assignment.id, limit=limit, cursor=cursor)
    shifts = await _shifts_by_id(session, scope, {row.shift_id for row in rows})
    return schemas.AssignmentPage(
        items=[assignment_view(row, shifts[row.shift_id]) for row in rows], next_cursor=next_cursor
    )


async def _shifts_by_id(session: AsyncSession, scope: Scope, ids: set[uuid.UUID]) -> dict[uuid.UUID, Shift]:
    if not ids:
        return {}
    rows = await session.scalars(select(Shift).where(Shift.tenant_id == scope.tenant_id, Shift.id.in_(ids)))
    return {row.id: row for row in rows}


# --- time off against the roster -----------------------------------------------------------------


async def decide_time_off(
    session: AsyncSession, scope: Scope, time_off_id: uuid.UUID, target: schemas.TimeOffStatus
) -> schemas.TimeOff:
    """Approve, reject or cancel time off. Approval is refused (409) while the person is assigned to
    shifts during it: time off is a hard rule, so the roster must not break it."""
    row = await get_time_off_row(session, scope, time_off_id, for_update=True)
    if target is schemas.TimeOffStatus.APPROVED and row.status == schemas.TimeOffStatus.REQUESTED.value:
        await get_staff_row(session, scope, row.staff_id, for_update=True)
        clashes = await session.scalars(
            select(Shift)
            .join(Assignment, and_(Assignment.tenant_id == Shift.tenant_id, Assignment.shift_id == Shift.id))
            .where(
                Assignment.tenant_id == scope.tenant_id,
                Assignment.staff_id == row.staff_id,
                _overlapping(Shift.starts_at, Shift.ends_at, row.starts_at, row.ends_at),
            )
            .order_by(Shift.starts_at)
        )
        found = [
            Broken(
                rules.RuleCode.TIME_OFF.value,
                "the person is assigned to this shift during the time off",
                s.id,
            )
            for s in clashes
        ]
        if found:
            raise ScheduleConflict(
                "The person works shifts during this time off; reassign them before approving.",
                found,
                "status",
            )
    return await transition_time_off(session, scope, row, target)


# --- the rules' view of a period -----------------------------------------------------------------


@dataclass
class Roster:
    """The rules' view of a period: the shifts to fill, everyone who could work them, what is already
    assigned, and the tenant's settings and weights.

    ``booked`` holds the other shifts those people already work near the period (other contracts, the
    days around it); they count towards overlap, rest and weekly hours but are not to be filled.
    ``assignments`` covers both ``shifts`` and ``booked``. Places held by deactivated people stay
    theirs: a shift's headcount here is what is left for the active ones."""

    shifts: list[rules.Shift]
    booked: list[rules.Shift]
    staff: list[rules.StaffMember]
    sites: list[rules.Site]
    assignments: list[rules.Assignment]
    settings: rules.RuleSettings
    weights: Weights


async def load_roster(
    session: AsyncSession,
    scope: Scope,
    start: datetime,
    end: datetime,
    *,
    contract_ids: Sequence[uuid.UUID] | None = None,
) -> Roster:
    """Shifts starting in [start, end) (of ``contract_ids`` when given), every active staff member with
    the approved time off near the period, and every assignment that matters to the rules."""
    settings, weights = await rule_settings(session, scope)
    reach = WEEK_REACH + settings.min_rest
    statement = select(Shift).where(
        Shift.tenant_id == scope.tenant_id, Shift.starts_at >= start, Shift.starts_at < end
    )
    if contract_ids is not None:
        statement = statement.where(Shift.contract_id.in_(list(contract_ids)))
    shift_rows = list(await session.scalars(statement.order_by(Shift.starts_at, Shift.id)))
    wanted = {row.id for row in shift_rows}
    people = list(
        await session.scalars(
            select(Staff).where(Staff.tenant_id == scope.tenant_id, Staff.active.is_(True)).order_by(Staff.id)
        )
    )
    time_off = await approved_time_off(session, scope, [p.id for p in people], start - reach, end + reach)
    lower, upper = labour_span(settings, start, end, _longest_run(settings, people))
    nearby = await session.execute(
        select(Assignment.staff_id, Shift)
        .join(Shift, and_(Shift.tenant_id == Assignment.tenant_id, Shift.id == Assignment.shift_id))
        .where(
            Assignment.tenant_id == scope.tenant_id,
            or_(
                Shift.id.in_(wanted or {uuid.UUID(int=0)}),
                _overlapping(Shift.starts_at, Shift.ends_at, start - reach, end + reach),
            ),
        )
    )
    active = {p.id for p in people}
    booked: dict[uuid.UUID, rules.Shift] = {}
    assignments = []
    held: dict[uuid.UUID, int] = defaultdict(int)
    site_ids = {row.site_id for row in shift_rows if row.site_id is not None}
    for staff_id, row in nearby:
        if staff_id not in active:
            held[row.id] += 1
            continue
        assignments.append(rules.Assignment(row.id, staff_id))
        if row.id not in wanted:
            booked.setdefault(row.id, rule_shift(row))
            if row.site_id is not None:
                site_ids.add(row.site_id)
    # Work further away counts towards consecutive days and overtime caps only, summed up per person.
    history = await work_history(session, scope, people, lower, upper, wanted | set(booked))
    return Roster(
        shifts=[
            replace(rule_shift(row), headcount=max(0, row.headcount - held[row.id])) for row in shift_rows
        ],
        booked=list(booked.values()),
        staff=[staff_member(p, time_off.get(p.id, ()), history.get(p.id)) for p in people],
        sites=[await site_of(session, scope, site_id) for site_id in sorted(site_ids)],
        assignments=assignments,
        settings=settings,
        weights=weights,
    )
