"""Coverage arithmetic. Pure: no I/O.

`occurrences` turns a contract's coverage lines (weekly wall-clock windows with a headcount, in the
zone of the contract's calendar) into the instants they cover on each local date, with the calendars'
DST rules: a line from 22:00 to 31:00 ("07:00" the next day) is one stretch starting on its own date, a
wall time the clocks skip maps to the jump itself, a repeated one to its first occurrence.

`split` cuts a stretch longer than a shift may be (a 24-hour line, an 08:00-25:30 one) into the fewest
equal shifts no longer than that, on quarter-hour steps of elapsed time: 24 h at 9 h is three 8-hour
shifts, 17.5 h is two of 8 h 45.

`measure` compares what is required (stretches with a headcount) with who is scheduled (one stretch
per assigned person) over a period, cut into equal intervals (or, `measure_between`, at given bounds
such as local midnights). Staffed time counts at most the required headcount at each instant: a surplus
on one shift does not make up for a gap on another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from bpo.core.business_time import MINUTES_PER_DAY, Calendar, Interval, open_intervals


@dataclass(frozen=True)
class Line:
    """A coverage line: on these weekdays (0 = Monday), from `start` to `end` minutes after local
    midnight of the day (up to 47:59), `headcount` people with the skills and languages."""

    weekdays: frozenset[int]
    start: int
    end: int
    headcount: int
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Occurrence:
    line: int
    day: date
    start: datetime
    end: datetime
    headcount: int
    skills: tuple[str, ...]
    languages: tuple[str, ...]


def local_span(zone: str, day: date, start: int, end: int) -> Interval | None:
    """The UTC instants of the wall-clock window [start, end) minutes on local `day`, as calendars read
    it; None when the clocks skip all of it."""
    calendar = Calendar(zone, (), exceptions={day: ((start, end),)})
    around = datetime.combine(day, time(), tzinfo=UTC)
    pieces = open_intervals(calendar, around - timedelta(days=2), around + timedelta(days=3))
    if not pieces:
        return None
    return pieces[0][0], pieces[-1][1]


def occurrences(
    zone: str,
    lines: Sequence[Line],
    first: date,
    last: date,
    closed: Callable[[date], bool] = lambda day: False,
) -> list[Occurrence]:
    """Every stretch the lines require on the local dates `first` to `last` (inclusive), skipping lines
    without headcount and the dates `closed` names (holidays of the contract's calendar)."""
    found = []
    day = first
    while day <= last:
        if not closed(day):
            for index, line in enumerate(lines):
                if line.headcount <= 0 or day.weekday() not in line.weekdays:
                    continue
                span = local_span(zone, day, line.start, line.end)
                if span is not None:
                    found.append(
                        Occurrence(index, day, span[0], span[1], line.headcount, line.skills, line.languages)
                    )
        day += timedelta(days=1)
    return found


QUARTER_HOUR = timedelta(minutes=15)


def split(occurrence: Occurrence, line: Line, longest: timedelta) -> list[Occurrence]:
    """The occurrence as consecutive shifts, as many as the line's wall-clock length needs for none to
    pass `longest` (at least a quarter of an hour), so a night that the clock change makes an hour
    longer stays one shift like every other night."""
    if longest < QUARTER_HOUR:
        raise ValueError("a shift lasts at least 15 minutes")
    pieces = -(-timedelta(minutes=line.end - line.start) // longest)
    if pieces <= 1:
        return [occurrence]
    quarters = (occurrence.end - occurrence.start) / QUARTER_HOUR
    bounds = [occurrence.start + QUARTER_HOUR * round(quarters * n / pieces) for n in range(pieces)]
    bounds.append(occurrence.end)
    return [
        Occurrence(
            occurrence.line,
            occurrence.day,
            start,
            end,
            occurrence.headcount,
            occurrence.skills,
            occurrence.languages,
        )
        for start, end in pairwise(bounds)
        if end > start
    ]


@dataclass(frozen=True)
class IntervalCoverage:
    start: datetime
    end: datetime
    # The most people required, and the fewest scheduled, at any instant of the interval.
    required: int
    scheduled: int
    gap: bool
    required_staff_seconds: int
    staffed_staff_seconds: int
    # Time in the interval with any requirement, and the part of it staffed at the full headcount.
    coverage_seconds: int
    fully_staffed_seconds: int


@dataclass(frozen=True)
class CoverageTotals:
    required_staff_seconds: int
    staffed_staff_seconds: int
    # Time with any requirement, and the part of it staffed at the full required headcount.
    coverage_seconds: int
    fully_staffed_seconds: int

    @property
    def fully_staffed_share(self) -> float | None:
        """None when nothing was required."""
        return self.fully_staffed_seconds / self.coverage_seconds if self.coverage_seconds else None


@dataclass(frozen=True)
class Coverage:
    intervals: tuple[IntervalCoverage, ...]
    totals: CoverageTotals


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def steps(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """[start, start + interval, …, end]: equal intervals, the last possibly shorter."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    if interval <= timedelta():
        raise ValueError("the interval must be positive")
    bounds = []
    cursor = start
    while cursor < end:
        bounds.append(cursor)
        cursor = min(cursor + interval, end)
    bounds.append(end)
    return bounds


def measure(
    required: Iterable[tuple[datetime, datetime, int]],
    scheduled: Iterable[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
    interval: timedelta,
) -> Coverage:
    """Required vs scheduled headcount over [start, end) in steps of `interval` (the last may be
    shorter), and in total."""
    return measure_between(required, scheduled, steps(start, end, interval))


def measure_between(
    required: Iterable[tuple[datetime, datetime, int]],
    scheduled: Iterable[tuple[datetime, datetime]],
    bounds: Sequence[datetime],
) -> Coverage:
    """Required vs scheduled headcount over the consecutive intervals between ``bounds`` (ascending:
    equal `steps`, or local days of a zone), and in total."""
    if len(bounds) < 2 or any(b <= a for a, b in pairwise(bounds)):
        raise ValueError("the bounds must ascend, at least two of them")
    start, end = bounds[0], bounds[-1]
    changes: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for a, b, headcount in required:
        a, b = max(a, start), min(b, end)
        if a < b and headcount:
            changes[a][0] += headcount
            changes[b][0] -= headcount
    for a, b in scheduled:
        a, b = max(a, start), min(b, end)
        if a < b:
            changes[a][1] += 1
            changes[b][1] -= 1
    points = sorted(set(changes) | set(bounds))
    intervals = []
    segments: list[tuple[int, int, int]] = []
    need = have = slot = 0
    for here, after in pairwise(points):
        if here in changes:
            need += changes[here][0]
            have += changes[here][1]
        seconds = _seconds(here, after)
        segments.append((need, have, seconds))
        if after == bounds[slot + 1]:
            intervals.append(_interval(bounds[slot], after, segments))
            segments = []
            slot += 1
    totals = CoverageTotals(
        sum(i.required_staff_seconds for i in intervals),
        sum(i.staffed_staff_seconds for i in intervals),
        sum(i.coverage_seconds for i in intervals),
        sum(i.fully_staffed_seconds for i in intervals),
    )
    return Coverage(tuple(intervals), totals)


def _interval(start: datetime, end: datetime, segments: Sequence[tuple[int, int, int]]) -> IntervalCoverage:
    return IntervalCoverage(
        start=start,
        end=end,
        required=max(need for need, _, _ in segments),
        scheduled=min(have for _, have, _ in segments),
        gap=any(have < need for need, have, _ in segments),
        required_staff_seconds=sum(need * seconds for need, _, seconds in segments),
        staffed_staff_seconds=sum(min(need, have) * seconds for need, have, seconds in segments),
        coverage_seconds=sum(seconds for need, _, seconds in segments if need),
        fully_staffed_seconds=sum(seconds for need, have, seconds in segments if need and have >= need),
    )


def local_days(zone: str, first: date, last: date) -> Interval:
    """The instants from local midnight of `first` to local midnight after `last`."""
    opening = local_span(zone, first, 0, MINUTES_PER_DAY)
    closing = local_span(zone, last, 0, MINUTES_PER_DAY)
    # A whole day is never skipped by a clock change.
    assert opening is not None
    assert closing is not None
    return opening[0], closing[1]
