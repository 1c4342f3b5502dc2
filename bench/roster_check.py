"""An independent checker of a roster against the hard staffing rules, written from the rules as the
README states them rather than from `bpo.staffing.rules`: it reads the rules' data types (shifts, staff,
sites, settings) but none of their checks, helpers or caches, so a mistake in the solver's rule code
does not hide itself here.

The rules, as checked:
- pair rules: the contract is neither excluded nor untrained, the skills and languages are there, an
  onsite shift is at one of the person's sites, no approved time off overlaps, and the shift lies
  wholly inside the person's weekly availability (wall-clock windows of the home zone, "25:30" being
  01:30 the next day);
- a stored break is legal: working time (span minus break) over 6 h needs 45 minutes, over 8 h 60;
  without one the break is 0 up to 6 h, 45 minutes up to 8 h 45 min, else 60;
- one person: no two shifts overlap or leave less than the minimum rest between them; worked time (the
  break in the middle of the shift) per ISO week of the home zone stays within the weekly cap; no more
  than the maximum of consecutive home-zone dates touched by work; overtime (per work day, the date a
  shift starts on, the time beyond 8 h; per ISO week, the time within the daily limit beyond 40 h,
  dated on the Sunday) within the monthly and the yearly cap (years from the settings' start month);
- a shift has no more people than its headcount; an onsite site never holds more people than seats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bpo.core.business_time import Window
from bpo.staffing.rules import Assignment, Mode, RuleSettings, Shift, Site, StaffMember

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Finding:
    rule: str
    staff_id: object
    shift_id: object
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.staff_id} on {self.shift_id}: {self.detail}"


def span_seconds(shift: Shift) -> int:
    return int((shift.end - shift.start).total_seconds())


def break_minutes(shift: Shift) -> int:
    if shift.break_minutes is not None:
        return shift.break_minutes
    span = span_seconds(shift)
    if span <= 6 * 3600:
        return 0
    return 45 if span <= 8 * 3600 + 45 * 60 else 60


def worked_spans(shift: Shift) -> list[Span]:
    """The shift without its break, the break centred in it."""
    pause_seconds = break_minutes(shift) * 60
    if not pause_seconds:
        return [(shift.start, shift.end)]
    middle = shift.start + timedelta(seconds=span_seconds(shift) // 2)
    pause = middle - timedelta(seconds=pause_seconds // 2)
    return [(shift.start, pause), (pause + timedelta(seconds=pause_seconds), shift.end)]


def wall(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def occurrences(windows: Iterable[Window], zone: ZoneInfo, start: datetime, end: datetime) -> list[Span]:
    """Every occurrence of weekly windows (weekday, start and end minute) near [start, end), in UTC."""
    first = start.astimezone(zone).date() - timedelta(days=2)
    last = end.astimezone(zone).date() + timedelta(days=1)
    found = []
    day = first
    while day <= last:
        for window in windows:
            if window.weekday == day.weekday():
                found.append((wall(day, window.start, zone), wall(day, window.end, zone)))
        day += timedelta(days=1)
    return sorted(found)


def covered_seconds(spans: Sequence[Span], start: datetime, end: datetime) -> int:
    """Seconds of [start, end) inside the union of the spans."""
    total = 0
    cursor = start
    for lower, upper in sorted(spans):
        lower, upper = max(lower, cursor), min(upper, end)
        if lower < upper:
            total += int((upper - lower).total_seconds())
            cursor = upper
    return total


def _pair_findings(shift: Shift, person: StaffMember) -> Iterable[str]:
    if shift.contract_id in person.excluded_contracts:
        yield "excluded_contract"
    if person.trained_contracts is not None and shift.contract_id not in person.trained_contracts:
        yield "not_trained"
    if not shift.skills <= person.skills:
        yield "skills"
    if not shift.languages <= person.languages:
        yield "languages"
    if shift.mode is Mode.ONSITE and shift.site_id not in person.sites:
        yield "site_not_allowed"
    if any(shift.start < off_end and off_start < shift.end for off_start, off_end in person.time_off):
        yield "time_off"
    windows = occurrences(person.availability, ZoneInfo(person.home_zone), shift.start, shift.end)
    if covered_seconds(windows, shift.start, shift.end) < span_seconds(shift):
        yield "availability"


def _break_legal(shift: Shift) -> bool:
    pause = break_minutes(shift)
    worked = span_seconds(shift) - pause * 60
    if worked > 8 * 3600:
        return pause >= 60
    if worked > 6 * 3600:
        return pause >= 45
    return True


def _week_key(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def _weekly_worked(shifts: Iterable[Shift], zone: ZoneInfo) -> dict[tuple[int, int], int]:
    weeks: dict[tuple[int, int], int] = defaultdict(int)
    for shift in shifts:
        for lower, upper in worked_spans(shift):
            cursor = lower
            while cursor < upper:
                local = cursor.astimezone(zone).date()
                next_monday = local + timedelta(days=7 - local.weekday())
                boundary = min(upper, datetime.combine(next_monday, time(), tzinfo=zone).astimezone(UTC))
                weeks[_week_key(local)] += int((boundary - cursor).total_seconds())
                cursor = boundary
    return weeks


def _overtime_dated(shifts: Iterable[Shift], zone: ZoneInfo) -> dict[date, int]:
    per_day: dict[date, int] = defaultdict(int)
    for shift in shifts:
        per_day[shift.start.astimezone(zone).date()] += span_seconds(shift) - break_minutes(shift) * 60
    dated: dict[date, int] = defaultdict(int)
    within: dict[date, int] = defaultdict(int)
    for day, seconds in per_day.items():
        dated[day] += max(0, seconds - 8 * 3600)
        within[day - timedelta(days=day.weekday())] += min(seconds, 8 * 3600)
    for monday, seconds in within.items():
        dated[monday + timedelta(days=6)] += max(0, seconds - 40 * 3600)
    return dated


def _longest_run(days: set[date]) -> tuple[int, date | None]:
    best, best_start = 0, None
    for day in days:
        if day - timedelta(days=1) in days:
            continue
        length = 1
        while day + timedelta(days=length) in days:
            length += 1
        if length > best:
            best, best_start = length, day
    return best, best_start


def _person_findings(person: StaffMember, shifts: list[Shift], settings: RuleSettings) -> Iterable[Finding]:
    zone = ZoneInfo(person.home_zone)
    ordered = sorted(shifts, key=lambda shift: shift.start)
    rest = timedelta(hours=settings.min_rest_hours)
    for i, shift in enumerate(ordered):
        for later in ordered[i + 1 :]:
            if later.start >= shift.end + rest:
                break
            rule = "overlap" if later.start < shift.end else "min_rest"
            yield Finding(rule, person.id, later.id, f"after {shift.id}")
    for (year, week), seconds in _weekly_worked(ordered, zone).items():
        if seconds > round(person.weekly_hour_cap * 3600):
            yield Finding("weekly_hours", person.id, None, f"{seconds / 3600:g} h in {year}-W{week:02d}")
    limit = person.max_consecutive_days or settings.max_consecutive_days
    days = set()
    for shift in ordered:
        day = shift.start.astimezone(zone).date()
        last = (shift.end - timedelta(microseconds=1)).astimezone(zone).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    run, first = _longest_run(days)
    if run > limit:
        yield Finding("consecutive_days", person.id, None, f"{run} days from {first}")
    dated = _overtime_dated(ordered, zone)
    monthly: dict[tuple[int, int], int] = defaultdict(int)
    yearly: dict[int, int] = defaultdict(int)
    for day, seconds in dated.items():
        monthly[(day.year, day.month)] += seconds
        yearly[day.year if day.month >= settings.overtime_year_start_month else day.year - 1] += seconds
    month_cap = person.monthly_overtime_hours
    year_cap = person.yearly_overtime_hours
    month_cap = settings.monthly_overtime_hours if month_cap is None else month_cap
    year_cap = settings.yearly_overtime_hours if year_cap is None else year_cap
    for (year, month), seconds in monthly.items():
        if seconds > round(month_cap * 3600):
            yield Finding("monthly_overtime", person.id, None, f"{seconds / 3600:g} h in {year}-{month:02d}")
    for year, seconds in yearly.items():
        if seconds > round(year_cap * 3600):
            yield Finding("yearly_overtime", person.id, None, f"{seconds / 3600:g} h in the year from {year}")


def _seat_findings(site: Site, onsite: list[tuple[object, Shift]]) -> Iterable[Finding]:
    if site.seat_capacity is None:
        return
    for person, shift in onsite:
        present = {other for other, seat in onsite if seat.start <= shift.start < seat.end}
        if len(present) > site.seat_capacity:
            yield Finding(
                "seat_capacity", person, shift.id, f"{len(present)} at {shift.start:%Y-%m-%d %H:%M}"
            )


def check(
    shifts: Iterable[Shift],
    staff: Iterable[StaffMember],
    sites: Iterable[Site],
    assignments: Sequence[Assignment],
    settings: RuleSettings,
) -> list[Finding]:
    """Every hard rule the roster breaks; empty when it keeps them all."""
    shift_by_id = {shift.id: shift for shift in shifts}
    person_by_id = {person.id: person for person in staff}
    findings: list[Finding] = []
    by_person: dict[object, list[Shift]] = defaultdict(list)
    on_shift: dict[object, int] = defaultdict(int)
    by_site: dict[object, list[tuple[object, Shift]]] = defaultdict(list)
    for assignment in assignments:
        shift = shift_by_id[assignment.shift_id]
        person = person_by_id[assignment.staff_id]
        for rule in _pair_findings(shift, person):
            findings.append(Finding(rule, person.id, shift.id, "pair rule"))
        if not _break_legal(shift):
            findings.append(Finding("break_too_short", person.id, shift.id, f"{break_minutes(shift)} min"))
        by_person[person.id].append(shift)
        on_shift[shift.id] += 1
        if shift.mode is Mode.ONSITE:
            by_site[shift.site_id].append((person.id, shift))
    for shift_id, people in on_shift.items():
        if people > shift_by_id[shift_id].headcount:
            findings.append(Finding("headcount", None, shift_id, f"{people} people"))
    for person_id, own in by_person.items():
        findings += _person_findings(person_by_id[person_id], own, settings)
    for site in sites:
        findings += _seat_findings(site, by_site.get(site.id, []))
    return findings


def preference_satisfaction(
    shifts: Iterable[Shift], staff: Iterable[StaffMember], assignments: Sequence[Assignment]
) -> float:
    """The share of assigned hours, of people with preferred times, that fall inside them (percent)."""
    shift_by_id = {shift.id: shift for shift in shifts}
    person_by_id = {person.id: person for person in staff}
    inside = total = 0
    for assignment in assignments:
        person = person_by_id[assignment.staff_id]
        if not person.preferred:
            continue
        shift = shift_by_id[assignment.shift_id]
        windows = occurrences(person.preferred, ZoneInfo(person.home_zone), shift.start, shift.end)
        inside += covered_seconds(windows, shift.start, shift.end)
        total += span_seconds(shift)
    return 100.0 * inside / total if total else 100.0
