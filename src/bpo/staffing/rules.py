"""Hard staffing rules: may this person work this shift, given the other shifts they and their site
already have? Pure: no I/O. Manual assignments, swaps and the solver's output all go through
`check_assignment` / `check_roster`, so each rule has one definition and one code everywhere.

Instants are aware datetimes, normalised to UTC. Availability is a set of weekly wall-clock windows in
the person's home zone, encoded like `calendar.Window` ("25:30" is minute 1530), and is evaluated with
the calendar functions, so it is DST-correct. Weekly hours are counted per ISO week of the home zone;
a shift that runs over the Monday midnight counts towards both weeks.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bpo.core.business_time import MINUTES_PER_DAY, Calendar, Interval, Window, business_duration

Id: TypeAlias = uuid.UUID | str
WeekKey: TypeAlias = tuple[int, int]


class Mode(StrEnum):
    ONSITE = "onsite"
    REMOTE = "remote"


class RuleCode(StrEnum):
    OVERLAP = "overlap"
    MIN_REST = "min_rest"
    WEEKLY_HOURS = "weekly_hours"
    SKILLS = "skills"
    LANGUAGES = "languages"
    SITE_NOT_ALLOWED = "site_not_allowed"
    TIME_OFF = "time_off"
    AVAILABILITY = "availability"
    EXCLUDED_CONTRACT = "excluded_contract"
    NOT_TRAINED = "not_trained"
    SEAT_CAPACITY = "seat_capacity"


ALWAYS_AVAILABLE = tuple(Window(weekday, 0, MINUTES_PER_DAY) for weekday in range(7))


def _aware_utc(instant: datetime, name: str) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def _check_zone(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None


@dataclass(frozen=True)
class Shift:
    id: Id
    contract_id: Id
    start: datetime
    end: datetime
    site_id: Id | None = None
    mode: Mode = Mode.REMOTE
    headcount: int = 1
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware_utc(self.start, "start"))
        object.__setattr__(self, "end", _aware_utc(self.end, "end"))
        object.__setattr__(self, "mode", Mode(self.mode))
        if self.end <= self.start:
            raise ValueError(f"shift {self.id} must end after it starts")
        if self.headcount < 0:
            raise ValueError(f"shift {self.id} headcount must not be negative")
        if self.mode is Mode.ONSITE and self.site_id is None:
            raise ValueError(f"onsite shift {self.id} needs a site")

    @property
    def seconds(self) -> int:
        return math.floor(self.end.timestamp()) - math.floor(self.start.timestamp())

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class StaffMember:
    id: Id
    home_zone: str
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    sites: frozenset[Id] = frozenset()
    trained_contracts: frozenset[Id] | None = None
    excluded_contracts: frozenset[Id] = frozenset()
    weekly_hour_cap: float = 40
    availability: tuple[Window, ...] = ALWAYS_AVAILABLE
    # When they would rather work (home zone); a soft rule, unlike availability. Empty: no preference.
    preferred: tuple[Window, ...] = ()
    time_off: tuple[Interval, ...] = ()
    hourly_cost: int = 0

    def __post_init__(self) -> None:
        _check_zone(self.home_zone)
        if self.weekly_hour_cap < 0:
            raise ValueError(f"staff {self.id} weekly hour cap must not be negative")
        time_off = tuple(
            (_aware_utc(start, "time off start"), _aware_utc(end, "time off end"))
            for start, end in self.time_off
        )
        object.__setattr__(self, "time_off", time_off)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.home_zone)

    @cached_property
    def availability_calendar(self) -> Calendar:
        return Calendar(self.home_zone, self.availability)

    @cached_property
    def preferred_calendar(self) -> Calendar | None:
        return Calendar(self.home_zone, self.preferred) if self.preferred else None

    @property
    def weekly_cap_seconds(self) -> int:
        return round(self.weekly_hour_cap * 3600)


@dataclass(frozen=True)
class Assignment:
    shift_id: Id
    staff_id: Id


@dataclass(frozen=True)
class Site:
    id: Id
    seat_capacity: int | None = None


@dataclass(frozen=True)
class RuleSettings:
    min_rest_hours: float = 11

    @property
    def min_rest(self) -> timedelta:
        return timedelta(hours=self.min_rest_hours)


@dataclass(frozen=True)
class Violation:
    code: RuleCode
    message: str
    conflicting_shift_id: Id | None = None


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"


def _when(shift: Shift) -> str:
    return f"{shift.start:%Y-%m-%d %H:%M}-{shift.end:%Y-%m-%d %H:%M} UTC"


def _pair_violations(shift: Shift, staff: StaffMember) -> Iterator[Violation]:
    # Cheapest rules first: the solver only needs the first one to rule a pair out.
    if shift.contract_id in staff.excluded_contracts:
        yield Violation(RuleCode.EXCLUDED_CONTRACT, f"staff is excluded from contract {shift.contract_id}")
    if staff.trained_contracts is not None and shift.contract_id not in staff.trained_contracts:
        yield Violation(RuleCode.NOT_TRAINED, f"staff is not trained for contract {shift.contract_id}")
    if missing := sorted(shift.skills - staff.skills):
        yield Violation(RuleCode.SKILLS, f"missing skill(s): {', '.join(missing)}")
    if missing := sorted(shift.languages - staff.languages):
        yield Violation(RuleCode.LANGUAGES, f"missing language(s): {', '.join(missing)}")
    if shift.mode is Mode.ONSITE and shift.site_id not in staff.sites:
        yield Violation(RuleCode.SITE_NOT_ALLOWED, f"staff may not work onsite at site {shift.site_id}")
    for start, end in staff.time_off:
        if shift.overlaps(start, end):
            yield Violation(
                RuleCode.TIME_OFF, f"staff is on time off {start:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M} UTC"
            )
            break
    if not available_throughout(staff, shift.start, shift.end):
        yield Violation(
            RuleCode.AVAILABILITY, f"{_when(shift)} is outside the staff's availability in {staff.home_zone}"
        )


def check_pair(shift: Shift, staff: StaffMember) -> list[Violation]:
    """The rules that depend only on the shift and the person, not on anything else scheduled."""
    return list(_pair_violations(shift, staff))


def eligible(shift: Shift, staff: StaffMember) -> bool:
    return next(_pair_violations(shift, staff), None) is None


def available_throughout(staff: StaffMember, start: datetime, end: datetime) -> bool:
    return _open_throughout(staff.availability_calendar, start, end)


# Staff share a handful of availability patterns, and a solve asks about every pair.
@lru_cache(maxsize=65536)
def _open_throughout(calendar: Calendar, start: datetime, end: datetime) -> bool:
    return business_duration(calendar, start, end) == end - start


def clash(shift: Shift, other: Shift, settings: RuleSettings) -> RuleCode | None:
    """Whether one person can work both shifts: `overlap`, `min_rest` when the gap between them is
    shorter than the minimum rest, else None. Equivalently, the shifts clash when the intervals
    [start, end + min_rest) meet, which is how the solver groups them."""
    if shift.overlaps(other.start, other.end):
        return RuleCode.OVERLAP
    gap = shift.start - other.end if other.end <= shift.start else other.start - shift.end
    if gap < settings.min_rest:
        return RuleCode.MIN_REST
    return None


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # Zones that skip midnight jump at 00:00; fold=0 then reads it as the jump itself, as calendars do.
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def week_seconds(start: datetime, end: datetime, zone: ZoneInfo) -> dict[WeekKey, int]:
    """Seconds of [start, end) in each ISO week (year, week) of the zone's wall clock."""
    local = start.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())
    seconds: dict[WeekKey, int] = {}
    cursor = start
    while cursor < end:
        monday += timedelta(days=7)
        boundary = min(end, _local_midnight(monday, zone))
        if boundary > cursor:
            iso = (monday - timedelta(days=7)).isocalendar()
            # Whole seconds of the boundaries' timestamps, so the pieces add up to the shift's seconds.
            seconds[(iso.year, iso.week)] = math.floor(boundary.timestamp()) - math.floor(cursor.timestamp())
            cursor = boundary
    return seconds


def _seat_peak(
    shift: Shift, staff_id: Id, site_assignments: Iterable[tuple[Assignment, Shift]]
) -> tuple[int, Id | None]:
    """Most other people onsite at the shift's site at one instant during it, and one shift then."""
    others = [
        (other, assignment.staff_id)
        for assignment, other in site_assignments
        if other.mode is Mode.ONSITE
        and other.site_id == shift.site_id
        and assignment.staff_id != staff_id
        and other.overlaps(shift.start, shift.end)
    ]
    peak, witness = 0, None
    # The count only rises at a shift start, so those instants (and our own start) are enough.
    for instant in sorted({shift.start} | {other.start for other, _ in others if other.start > shift.start}):
        present = sorted(
            (
                (str(other.id), other.id, person)
                for other, person in others
                if other.start <= instant < other.end
            ),
        )
        people = {person for _, _, person in present}
        if len(people) > peak:
            peak, witness = len(people), present[0][1]
    return peak, witness


def check_against_schedule(
    shift: Shift,
    staff: StaffMember,
    staff_shifts: Iterable[Shift] = (),
    site_assignments: Iterable[tuple[Assignment, Shift]] = (),
    settings: RuleSettings = RuleSettings(),
    *,
    site: Site | None = None,
) -> list[Violation]:
    """The rules that depend on what else is scheduled: the person's other shifts (overlap, rest,
    weekly hours) and everyone onsite at the shift's site (seat capacity)."""
    violations = []
    others = sorted(staff_shifts, key=lambda other: (other.start, other.end, str(other.id)))
    for other in others:
        match clash(shift, other, settings):
            case RuleCode.OVERLAP:
                violations.append(
                    Violation(RuleCode.OVERLAP, f"overlaps shift {other.id} ({_when(other)})", other.id)
                )
            case RuleCode.MIN_REST:
                violations.append(
                    Violation(
                        RuleCode.MIN_REST,
                        f"less than {_hours(settings.min_rest.total_seconds())} rest from shift {other.id} "
                        f"({_when(other)})",
                        other.id,
                    )
                )
    weeks = week_seconds(shift.start, shift.end, staff.tz)
    worked = dict.fromkeys(weeks, 0)
    for other in others:
        for key, seconds in week_seconds(other.start, other.end, staff.tz).items():
            if key in worked:
                worked[key] += seconds
    for (year, week), seconds in sorted(weeks.items()):
        total = worked[(year, week)] + seconds
        if total > staff.weekly_cap_seconds:
            violations.append(
                Violation(
                    RuleCode.WEEKLY_HOURS,
                    f"{_hours(total)} in ISO week {year}-W{week:02d} ({staff.home_zone}) exceeds the cap of "
                    f"{_hours(staff.weekly_cap_seconds)}",
                )
            )
    if shift.mode is Mode.ONSITE and site is not None and site.seat_capacity is not None:
        peak, witness = _seat_peak(shift, staff.id, site_assignments)
        if peak + 1 > site.seat_capacity:
            violations.append(
                Violation(
                    RuleCode.SEAT_CAPACITY,
                    f"site {site.id} has {site.seat_capacity} seat(s), {peak} already taken during the shift",
                    witness,
                )
            )
    return violations


def check_assignment(
    shift: Shift,
    staff: StaffMember,
    staff_shifts: Iterable[Shift] = (),
    site_assignments: Iterable[tuple[Assignment, Shift]] = (),
    settings: RuleSettings = RuleSettings(),
    *,
    site: Site | None = None,
) -> list[Violation]:
    """Every hard rule for putting `staff` on `shift`. `staff_shifts` are the shifts the person already
    works; `site_assignments` the assignments (with their shifts) onsite at the shift's site, whose
    seat capacity `site` gives."""
    return check_pair(shift, staff) + check_against_schedule(
        shift, staff, staff_shifts, site_assignments, settings, site=site
    )


def _by_id(items: Iterable[Shift], kind: str) -> dict[Id, Shift]:
    index: dict[Id, Shift] = {}
    for item in items:
        if item.id in index:
            raise ValueError(f"duplicate {kind} id {item.id}")
        index[item.id] = item
    return index


def check_roster(
    shifts: Iterable[Shift],
    staff: Iterable[StaffMember],
    sites: Iterable[Site],
    assignments: Sequence[Assignment],
    settings: RuleSettings = RuleSettings(),
) -> list[tuple[Assignment, Violation]]:
    """Re-check every assignment of a roster against all the others, with the same rule codes as a
    manual write. Assignments must refer to known shifts and staff."""
    shift_by_id = _by_id(shifts, "shift")
    staff_by_id: Mapping[Id, StaffMember] = {member.id: member for member in staff}
    site_by_id: Mapping[Id, Site] = {site.id: site for site in sites}
    by_staff: dict[Id, list[int]] = defaultdict(list)
    by_site: dict[Id, list[int]] = defaultdict(list)
    for position, assignment in enumerate(assignments):
        if assignment.shift_id not in shift_by_id:
            raise ValueError(f"assignment refers to unknown shift {assignment.shift_id}")
        if assignment.staff_id not in staff_by_id:
            raise ValueError(f"assignment refers to unknown staff {assignment.staff_id}")
        by_staff[assignment.staff_id].append(position)
        shift = shift_by_id[assignment.shift_id]
        if shift.mode is Mode.ONSITE and shift.site_id is not None:
            by_site[shift.site_id].append(position)

    found = []
    for position, assignment in enumerate(assignments):
        shift = shift_by_id[assignment.shift_id]
        member = staff_by_id[assignment.staff_id]
        staff_shifts = [
            shift_by_id[assignments[other].shift_id] for other in by_staff[member.id] if other != position
        ]
        site_assignments = []
        if shift.mode is Mode.ONSITE and shift.site_id is not None:
            site_assignments = [
                (assignments[other], shift_by_id[assignments[other].shift_id])
                for other in by_site[shift.site_id]
                if other != position
            ]
        site = site_by_id.get(shift.site_id) if shift.site_id is not None else None
        for violation in check_assignment(shift, member, staff_shifts, site_assignments, settings, site=site):
            found.append((assignment, violation))
    return found
