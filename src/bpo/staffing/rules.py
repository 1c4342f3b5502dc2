"""Hard staffing rules: may this person work this shift, given the other shifts they and their site
already have? Pure: no I/O. Manual assignments, swaps and the solver's output all go through
`check_assignment` / `check_roster`, so each rule has one definition and one code everywhere.

Instants are aware datetimes, normalised to UTC. Availability is a set of weekly wall-clock windows in
the person's home zone, encoded like `calendar.Window` ("25:30" is minute 1530), and is evaluated with
the calendar functions, so it is DST-correct. Weekly hours are counted per ISO week of the home zone;
a shift that runs over the Monday midnight counts towards both weeks.

Labour rules (Japanese practice, 労働基準法 and a 36協定):
- Breaks (第34条): a shift whose working time (span minus break) exceeds 6 h has at least a 45-minute
  break, over 8 h at least 60 minutes. A shift without a stored break gets the usual one for its span:
  none up to 6 h, 45 minutes up to 8 h 45 min, else 60 minutes. Hours are worked time everywhere
  (weekly hours, overtime); to split a shift across weeks its break sits in the middle of it.
- Working days are the home-zone dates a shift touches (a night shift works two); at most
  `max_consecutive_days` of them in a row (tenant default 6, per-person override).
- Overtime (時間外労働) is worked time beyond 8 h a day and 40 h a week, the law's way: a shift belongs
  wholly to the home-zone date it starts on; a day's time beyond 8 h is overtime on that day, and a
  week's (ISO week, Monday to Sunday) time within the daily limit beyond 40 h is overtime on its Sunday.
  Overtime is capped per calendar month (default 45 h) and per year (default 360 h, the year starting
  on the first of `overtime_year_start_month`, April by default), per-person overrides. A shift breaks
  a cap only when it adds overtime to a month or year that then exceeds it.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bpo.core.business_time import MINUTES_PER_DAY, Calendar, Interval, Window, business_duration
from bpo.staffing.labour import (
    LabourFacts,
    break_is_legal,
    default_break_minutes,
    labour_facts_of,
    minimum_break_minutes,
    month_name,
    overtime_by_day,
)

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
    BREAK_TOO_SHORT = "break_too_short"
    CONSECUTIVE_DAYS = "consecutive_days"
    MONTHLY_OVERTIME = "monthly_overtime"
    YEARLY_OVERTIME = "yearly_overtime"


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
    # None: the usual break for the span (`default_break_minutes`).
    break_minutes: int | None = None

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
        if self.break_minutes is not None and not 0 <= self.break_minutes * 60 < self.seconds:
            raise ValueError(f"shift {self.id} break must be shorter than the shift")

    @property
    def seconds(self) -> int:
        return math.floor(self.end.timestamp()) - math.floor(self.start.timestamp())

    @property
    def break_seconds(self) -> int:
        minutes = default_break_minutes(self.seconds) if self.break_minutes is None else self.break_minutes
        return minutes * 60

    @property
    def worked_seconds(self) -> int:
        return self.seconds - self.break_seconds

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
    # Per-person labour limits; None: the tenant's `RuleSettings`.
    max_consecutive_days: int | None = None
    monthly_overtime_hours: float | None = None
    yearly_overtime_hours: float | None = None
    # Work on shifts not given to the rules (earlier in the year, far from the period).
    history: WorkHistory = field(default_factory=lambda: WorkHistory())

    def __post_init__(self) -> None:
        _check_zone(self.home_zone)
        if self.weekly_hour_cap < 0:
            raise ValueError(f"staff {self.id} weekly hour cap must not be negative")
        if self.max_consecutive_days is not None and self.max_consecutive_days < 1:
            raise ValueError(f"staff {self.id} max consecutive days must be at least 1")
        for name in ("monthly_overtime_hours", "yearly_overtime_hours"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"staff {self.id} {name} must not be negative")
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
class WorkHistory:
    """A person's work on shifts the rules are not given: worked seconds by work day (the home-zone date
    a shift starts on) and every home-zone date a shift touches."""

    worked: tuple[tuple[date, int], ...] = ()
    days: frozenset[date] = frozenset()

    @classmethod
    def of(cls, shifts: Iterable[Shift], zone: str) -> WorkHistory:
        tz = ZoneInfo(zone)
        worked: dict[date, int] = defaultdict(int)
        days: set[date] = set()
        for shift in shifts:
            facts = labour_facts(shift, tz)
            worked[facts.day] += facts.worked
            days.update(facts.touched)
        return cls(tuple(sorted(worked.items())), frozenset(days))


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
    max_consecutive_days: int = 6
    monthly_overtime_hours: float = 45
    yearly_overtime_hours: float = 360
    overtime_year_start_month: int = 4

    def __post_init__(self) -> None:
        if self.max_consecutive_days < 1:
            raise ValueError("max_consecutive_days must be at least 1")
        if not 1 <= self.overtime_year_start_month <= 12:
            raise ValueError("overtime_year_start_month must be a month, 1 to 12")

    @property
    def min_rest(self) -> timedelta:
        return timedelta(hours=self.min_rest_hours)

    def limits(self, staff: StaffMember) -> Limits:
        """The person's labour limits: their overrides, else the tenant's."""
        return Limits(
            max_consecutive_days=staff.max_consecutive_days or self.max_consecutive_days,
            monthly_overtime=round(3600 * _either(staff.monthly_overtime_hours, self.monthly_overtime_hours)),
            yearly_overtime=round(3600 * _either(staff.yearly_overtime_hours, self.yearly_overtime_hours)),
        )

    def overtime_year(self, day: date) -> int:
        """The overtime year a date falls in, named by the calendar year it starts in."""
        return day.year if day.month >= self.overtime_year_start_month else day.year - 1

    def overtime_year_name(self, day: date) -> str:
        first, last = self.overtime_year_bounds(self.overtime_year(day))
        return f"the year {first} to {last}"

    def overtime_year_bounds(self, year: int) -> tuple[date, date]:
        """First and last date of an overtime year."""
        first = date(year, self.overtime_year_start_month, 1)
        return first, date(year + 1, self.overtime_year_start_month, 1) - timedelta(days=1)


def _either(value: float | None, default: float) -> float:
    return default if value is None else value


@dataclass(frozen=True)
class Limits:
    max_consecutive_days: int
    # Seconds of overtime.
    monthly_overtime: int
    yearly_overtime: int


def labour_facts(shift: Shift, tz: ZoneInfo) -> LabourFacts:
    return labour_facts_of(shift.start, shift.end, shift.break_seconds, tz)


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
    if shift.break_minutes is not None and not break_is_legal(shift.seconds, shift.break_minutes):
        yield Violation(
            RuleCode.BREAK_TOO_SHORT,
            f"a {shift.break_minutes}-minute break is too short for a shift of {_hours(shift.seconds)}: "
            f"at least {minimum_break_minutes(shift.seconds)} minutes",
        )
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


WEEK_REACH = timedelta(days=8)


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


def shift_week_seconds(shift: Shift, zone: ZoneInfo) -> dict[WeekKey, int]:
    """Worked seconds of a shift in each ISO week of the zone, its break taken in the middle of it."""
    return dict(_worked_week_seconds(shift.start, shift.end, shift.break_seconds, zone))


@lru_cache(maxsize=65536)
def _worked_week_seconds(
    start: datetime, end: datetime, break_seconds: int, zone: ZoneInfo
) -> tuple[tuple[WeekKey, int], ...]:
    seconds = week_seconds(start, end, zone)
    if break_seconds:
        middle = start + timedelta(seconds=(math.floor(end.timestamp()) - math.floor(start.timestamp())) // 2)
        pause = middle - timedelta(seconds=break_seconds // 2)
        for key, taken in week_seconds(pause, pause + timedelta(seconds=break_seconds), zone).items():
            seconds[key] -= taken
    return tuple(seconds.items())


def _run_around(days: Iterable[date], worked: set[date]) -> tuple[date, date]:
    """The longest stretch of consecutive worked dates containing `days` (themselves worked)."""
    ordered = sorted(days)
    first, last = ordered[0], ordered[-1]
    while first - timedelta(days=1) in worked:
        first -= timedelta(days=1)
    while last + timedelta(days=1) in worked:
        last += timedelta(days=1)
    return first, last


def _worked_by_day(staff: StaffMember, shifts: Iterable[Shift]) -> tuple[dict[date, int], set[date]]:
    worked: dict[date, int] = defaultdict(int, staff.history.worked)
    days = set(staff.history.days)
    for other in shifts:
        facts = labour_facts(other, staff.tz)
        worked[facts.day] += facts.worked
        days.update(facts.touched)
    return worked, days


def _labour_violations(
    shift: Shift, staff: StaffMember, others: Sequence[Shift], settings: RuleSettings
) -> Iterator[Violation]:
    limits = settings.limits(staff)
    facts = labour_facts(shift, staff.tz)
    worked, days = _worked_by_day(staff, others)
    days.update(facts.touched)
    first, last = _run_around(facts.touched, days)
    run = (last - first).days + 1
    if run > limits.max_consecutive_days:
        yield Violation(
            RuleCode.CONSECUTIVE_DAYS,
            f"{run} working days in a row from {first} to {last} ({staff.home_zone}) exceed the maximum of "
            f"{limits.max_consecutive_days}",
        )
    before = overtime_by_day(worked)
    worked[facts.day] += facts.worked
    after = overtime_by_day(worked)
    # Only the shift's day and its week's Sunday can change.
    changed = {facts.day, facts.day + timedelta(days=6 - facts.day.weekday())}
    periods: list[tuple[RuleCode, Callable[[date], str], int]] = [
        (RuleCode.MONTHLY_OVERTIME, month_name, limits.monthly_overtime),
        (RuleCode.YEARLY_OVERTIME, settings.overtime_year_name, limits.yearly_overtime),
    ]
    for code, period_of, cap in periods:
        for period in sorted({period_of(day) for day in changed}):
            total = sum(seconds for day, seconds in after.items() if period_of(day) == period)
            previous = sum(seconds for day, seconds in before.items() if period_of(day) == period)
            if total > cap and total > previous:
                yield Violation(
                    code,
                    f"{_hours(total)} of overtime in {period} ({staff.home_zone}) exceeds the cap of "
                    f"{_hours(cap)}",
                )


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
    weekly hours, consecutive days, overtime; all of them in the overtime years concerned, or the rest in
    `staff.history`) and everyone onsite at the shift's site (seat capacity)."""
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
    weeks = shift_week_seconds(shift, staff.tz)
    worked = dict.fromkeys(weeks, 0)
    for other in others:
        if other.end < shift.start - WEEK_REACH or other.start > shift.end + WEEK_REACH:
            continue
        for key, seconds in shift_week_seconds(other, staff.tz).items():
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
    violations += _labour_violations(shift, staff, others, settings)
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
