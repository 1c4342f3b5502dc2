"""Business-time arithmetic over a calendar: weekly wall-clock windows in an IANA zone, holidays and
dated exceptions. Pure: no I/O. Instants in are aware datetimes in any zone; instants out are UTC.

Clock times are minutes after local midnight of the window's day, up to 47:59, so "25:30" is 01:30 on
the next day. A window on date D from a to b is open from the first instant at which the zone's clocks
show D 00:00 + a until the first instant at which they show D 00:00 + b. For ordinary wall times and
for wall times repeated when clocks fall back this is fold=0 (the earlier occurrence). A wall time the
clocks skip when they spring forward maps to the jump itself, so a window never ends before it starts
and keeps the part of it that exists that day. In Europe/London a 00:00-03:00 window therefore lasts
2 h of real time on the spring-forward Sunday and 4 h on the fall-back Sunday, and 01:30-02:45 on the
spring-forward Sunday is open 02:00-02:45 BST.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_tables

MINUTES_PER_DAY = 24 * 60
LATEST_CLOCK = 2 * MINUTES_PER_DAY - 1
SEARCH_DAYS = 400

Span = tuple[int, int]
Interval = tuple[datetime, datetime]

# One-digit hours too ("9:00"), as the request types and the manifest schema allow.
_CLOCK = re.compile(r"([0-3]?[0-9]|4[0-7]):([0-5][0-9])")
_DAY = timedelta(days=1)


def parse_clock(text: str) -> int:
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid clock time {text!r}: expected H:MM or HH:MM from 00:00 to 47:59")
    return int(match[1]) * 60 + int(match[2])


def format_clock(minutes: int) -> str:
    if not 0 <= minutes <= LATEST_CLOCK:
        raise ValueError(f"clock minutes {minutes} outside 0..{LATEST_CLOCK} (00:00 to 47:59)")
    hours, rest = divmod(minutes, 60)
    return f"{hours:02d}:{rest:02d}"


def _check_span(start: int, end: int) -> None:
    if not 0 <= start < MINUTES_PER_DAY:
        raise ValueError(f"a window starts on its own day (00:00 to 23:59), got start minute {start}")
    if not start < end <= start + MINUTES_PER_DAY:
        raise ValueError(
            f"window from minute {start} to {end} must end after it starts and last at most 24 h"
        )


@dataclass(frozen=True)
class Window:
    weekday: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        _check_span(self.start, self.end)


@dataclass(frozen=True)
class Calendar:
    zone: str
    windows: tuple[Window, ...]
    holidays: frozenset[date] = frozenset()
    exceptions: Mapping[date, tuple[Span, ...]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.zone!r}") from None
        exceptions = {
            day: tuple((start, end) for start, end in spans) for day, spans in self.exceptions.items()
        }
        for spans in exceptions.values():
            for start, end in spans:
                _check_span(start, end)
        # A private copy, so a caller mutating its dict cannot change a frozen calendar.
        object.__setattr__(self, "exceptions", MappingProxyType(exceptions))

    @classmethod
    def always_open(cls, zone: str) -> Calendar:
        return cls(zone, tuple(Window(weekday, 0, MINUTES_PER_DAY) for weekday in range(7)))

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @cached_property
    def _weekly_spans(self) -> tuple[tuple[Span, ...], ...]:
        return tuple(
            tuple((window.start, window.end) for window in self.windows if window.weekday == weekday)
            for weekday in range(7)
        )

    @cached_property
    def openings(self) -> dict[date, tuple[Interval, ...]]:
        """The open intervals of each local day asked about so far (``_day_openings``): SLA math asks
        about the same few days for every work item of a contract."""
        return {}

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self._weekly_spans[day.weekday()]


def japanese_holidays(
    years: Iterable[int], country: str = "JP", subdivision: str | None = None
) -> frozenset[date]:
    return frozenset(holiday_tables.country_holidays(country, subdiv=subdivision, years=list(years)))


def _utc(instant: datetime, name: str) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


# SLA math asks about the same few days for every work item of a contract.
@lru_cache(maxsize=16384)
def _first_instant_showing(zone: ZoneInfo, wall: datetime) -> datetime:
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # The clocks skip this wall time. fold=1 reads it with the offset after the jump, which lands
    # before the jump; zone transitions fall on whole seconds, so bisect seconds to find the jump.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(instant.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _day_openings(calendar: Calendar, day: date) -> tuple[Interval, ...]:
    known = calendar.openings.get(day)
    if known is not None:
        return known
    midnight = datetime.combine(day, time())
    openings = []
    for start, end in calendar.spans_on(day):
        opens = _first_instant_showing(calendar.tz, midnight + timedelta(minutes=start))
        closes = _first_instant_showing(calendar.tz, midnight + timedelta(minutes=end))
        if closes > opens:
            openings.append((opens, closes))
    calendar.openings[day] = found = tuple(openings)
    return found


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for opens, closes in sorted(intervals):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return merged


def _openings_from(calendar: Calendar, instant: datetime, last_day: date) -> Iterator[Interval]:
    """Open time after `instant`, ascending and disjoint, from windows starting on local dates up to
    `last_day`. Pieces are cut at local midnights, so they may touch without being merged."""
    # A window ends before 48:00, so windows starting two days before the instant's date are over.
    day = instant.astimezone(calendar.tz).date() - _DAY
    pending: list[Interval] = []
    while day <= last_day:
        pending = _merge([*pending, *_day_openings(calendar, day)])
        day += _DAY
        # Later days' windows open at or after this, so open time before it is final.
        settled = _first_instant_showing(calendar.tz, datetime.combine(day, time()))
        while pending and pending[0][0] < settled:
            opens, closes = pending.pop(0)
            if closes > settled:
                pending.insert(0, (settled, closes))
                closes = settled
            if closes > instant:
                yield max(opens, instant), closes
    for opens, closes in pending:
        if closes > instant:
            yield max(opens, instant), closes


def open_intervals(calendar: Calendar, start: datetime, end: datetime) -> list[Interval]:
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return []
    last_day = end.astimezone(calendar.tz).date() + _DAY
    pieces = []
    for opens, closes in _openings_from(calendar, start, last_day):
        if opens >= end:
            break
        pieces.append((opens, min(closes, end)))
    return _merge(pieces)


def is_open(calendar: Calendar, instant: datetime) -> bool:
    instant = _utc(instant, "instant")
    return bool(open_intervals(calendar, instant, instant + timedelta(microseconds=1)))


def next_open(calendar: Calendar, instant: datetime) -> datetime:
    instant = _utc(instant, "instant")
    last_day = instant.astimezone(calendar.tz).date() + timedelta(days=SEARCH_DAYS)
    first = next(_openings_from(calendar, instant, last_day), None)
    if first is None:
        raise ValueError(f"the calendar does not open within {SEARCH_DAYS} days after {instant.isoformat()}")
    return first[0]


def business_duration(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    return sum((closes - opens for opens, closes in open_intervals(calendar, start, end)), timedelta())


def add_business(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant by which `duration` of open time has passed since `start`. A zero
    duration gives `start` itself, open or not."""
    start = _utc(start, "start")
    if duration < timedelta():
        raise ValueError(f"business duration must not be negative, got {duration}")
    if not duration:
        return start
    remaining, cursor = duration, start
    while True:
        last_day = cursor.astimezone(calendar.tz).date() + timedelta(days=SEARCH_DAYS)
        reached = cursor
        for opens, closes in _openings_from(calendar, cursor, last_day):
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
            reached = closes
        if reached == cursor:
            raise ValueError(
                f"the calendar does not open within {SEARCH_DAYS} days after {cursor.isoformat()}"
            )
        cursor = reached


def steady_offset(zone_name: str, start: datetime, end: datetime) -> tuple[datetime, timedelta]:
    """The UTC offset the zone keeps up to ``end``, and from when it keeps it (``start`` at the earliest):
    a clock read in that stretch is the instant plus the offset. Read hour by hour backwards from ``end``,
    so the stretch starts at most an hour after the change of offset before it, never before."""
    zone = ZoneInfo(zone_name)
    hour = timedelta(hours=1)
    offset = end.astimezone(zone).utcoffset()
    assert offset is not None
    since = end
    while since - hour >= start and (since - hour).astimezone(zone).utcoffset() == offset:
        since -= hour
    return since, offset
