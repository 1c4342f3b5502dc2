"""The refresh's fast paths give exactly what measuring every item with ``bpo.sla.engine`` gives: business
time from prefix sums, the stop instant from raw columns, an hour's tallies; and the local-day helpers the
day and month rollups rest on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.clients.schemas import Metric, Objective
from bpo.core.business_time import Calendar, Window, business_duration, japanese_holidays, parse_clock
from bpo.sla import engine
from bpo.sla.rollups import (
    HOUR,
    ObjectiveClock,
    OpenTime,
    cut_cleanly,
    day_bounds,
    hour_of,
    local_day,
    measure_hour,
    next_change_at,
    next_month,
    stop_of,
)

CHAT_HOURS = Calendar(
    "Asia/Tokyo",
    tuple(Window(day, parse_clock("10:30"), parse_clock("18:30")) for day in range(5)),
    japanese_holidays([2025, 2026, 2027]),
)
# Open past midnight (to 01:30) every day.
EMAIL_HOURS = Calendar(
    "Asia/Tokyo", tuple(Window(day, parse_clock("08:00"), parse_clock("25:30")) for day in range(7))
)
# 00:00-03:00 London time: the clocks change inside the window on DST Sundays.
LONDON_NIGHTS = Calendar("Europe/London", tuple(Window(day, 0, parse_clock("03:00")) for day in range(7)))
CALENDARS = st.sampled_from([CHAT_HOURS, EMAIL_HOURS, LONDON_NIGHTS])
# Around London's 2026 clock changes (29 March, 25 October) and a Japanese holiday week.
STARTS = st.sampled_from(
    [
        datetime(2026, 3, 27, tzinfo=UTC),
        datetime(2026, 10, 23, tzinfo=UTC),
        datetime(2026, 4, 28, tzinfo=UTC),
        datetime(2026, 12, 30, 15, tzinfo=UTC),
    ]
)


def objective(**fields: Any) -> Objective:
    return msgspec.convert({"metric": "first_response", "target_percent": 90, **fields}, Objective)


OBJECTIVES = [
    objective(threshold="45s", checkpoints=["45s", "1m", "5m"], channels=["chat"]),
    objective(threshold="24h", checkpoints=["1h", "8h", "24h"], channels=["email", "form"]),
    objective(metric="resolution", threshold="72h", clock="calendar", checkpoints=["1d"]),
    objective(threshold="2h", clock="calendar", priorities=["high"]),
]


@given(CALENDARS, STARTS, st.integers(0, 20 * 86400), st.integers(0, 20 * 86400), st.integers(0, 86400))
@settings(deadline=None, max_examples=300)
def test_open_time_between_two_instants_is_the_business_duration(
    calendar: Calendar, start: datetime, a: int, b: int, jitter: int
) -> None:
    first, second = sorted((a, b))
    span = OpenTime(calendar, start, start + timedelta(days=20))
    lower = start + timedelta(seconds=first, microseconds=jitter)
    upper = start + timedelta(seconds=second, microseconds=jitter)
    assert span.between(lower, upper) == business_duration(calendar, lower, upper)


def test_open_time_outside_its_span_is_still_the_business_duration() -> None:
    start = datetime(2026, 10, 23, tzinfo=UTC)
    span = OpenTime(LONDON_NIGHTS, start, start + timedelta(days=2))
    for lower, upper in [(start - timedelta(days=3), start + HOUR), (start, start + timedelta(days=9))]:
        assert span.between(lower, upper) == business_duration(LONDON_NIGHTS, lower, upper)


OPTIONAL_DELAY = st.none() | st.integers(0, 10 * 86400)


@given(st.sampled_from([Metric.FIRST_RESPONSE, Metric.RESOLUTION]), OPTIONAL_DELAY, OPTIONAL_DELAY)
def test_stop_of_raw_columns_is_the_engines_stop(
    metric: Metric, responded: int | None, resolved: int | None
) -> None:
    received = datetime(2026, 5, 1, 3, tzinfo=UTC)
    first_response = None if responded is None else received + timedelta(seconds=responded)
    resolution = None if resolved is None else received + timedelta(seconds=resolved)
    item = engine.ItemTimes(received, first_response, resolution)
    assert stop_of(metric, first_response, resolution) == engine.stopped_at(metric, item)


ITEMS = st.lists(
    st.tuples(
        st.integers(0, 3599),
        OPTIONAL_DELAY,
        OPTIONAL_DELAY,
        st.sampled_from([None, "chat", "email", "form"]),
        st.sampled_from([None, "high", "normal"]),
    ),
    max_size=30,
)


def reference(
    rule: Objective, items: list[engine.ItemTimes], calendar: Calendar, now: datetime
) -> tuple[int, int, int, dict[str, int], dict[str, list[int]], datetime | None] | None:
    """An hour's numbers as the engine defines them, item by item."""
    pairs = [
        (item, engine.measure(rule, item, calendar, now)) for item in items if engine.applies(rule, item)
    ]
    if not pairs:
        return None
    measurements = [m for _, m in pairs]
    counts = engine.count_statuses(measurements)
    curve = engine.checkpoint_curve(measurements, [engine.duration(c) for c in rule.checkpoints])
    changes = [c for c in (next_change_at(rule, i, m, calendar) for i, m in pairs) if c is not None]
    return (
        counts.met,
        counts.breached,
        counts.pending,
        engine.latency_sketch(measurements).to_json(),
        {str(int(s.checkpoint.total_seconds())): [s.within, s.eligible] for s in curve},
        min(changes, default=None),
    )


@given(CALENDARS, STARTS, ITEMS, st.integers(0, 12 * 86400))
@settings(deadline=None, max_examples=150)
def test_an_hours_tallies_are_the_engines_item_by_item(
    calendar: Calendar, start: datetime, raw: list[Any], later: int
) -> None:
    hour = start + timedelta(hours=7)
    rows = []
    for offset, responded, resolved, channel, priority in raw:
        received = hour + timedelta(seconds=offset)
        rows.append(
            (
                received,
                None if responded is None else received + timedelta(seconds=responded),
                None if resolved is None else received + timedelta(seconds=resolved),
                priority,
                channel,
            )
        )
    now = hour + timedelta(seconds=later)
    clocks = [ObjectiveClock.of(o) for o in OBJECTIVES]
    stops = [stop for row in rows for stop in row[1:3] if stop is not None]
    open_time = OpenTime(calendar, hour, max([hour + HOUR, *stops]))
    tallied = {
        clock.key: (
            tally.met,
            tally.breached,
            tally.pending,
            {str(b): n for b, n in sorted(tally.sketch.items())},
            tally.checkpoint_json(clock),
            tally.next_change,
        )
        for clock, tally in measure_hour(clocks, rows, calendar, open_time, now)
    }
    items = [engine.ItemTimes(r, f, s, priority, channel) for r, f, s, priority, channel in rows]
    expected = {c.key: reference(c.objective, items, calendar, now) for c in clocks}
    assert tallied == {key: numbers for key, numbers in expected.items() if numbers is not None}


def test_days_and_months() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert local_day(datetime(2026, 9, 30, 15, tzinfo=UTC), tokyo) == date(2026, 10, 1)
    assert day_bounds(date(2026, 10, 1), date(2026, 10, 31), tokyo) == (
        datetime(2026, 9, 30, 15, tzinfo=UTC),
        datetime(2026, 10, 31, 15, tzinfo=UTC),
    )
    assert [next_month(d) for d in (date(2026, 1, 31), date(2026, 2, 1), date(2026, 12, 15))] == [
        date(2026, 2, 1),
        date(2026, 3, 1),
        date(2027, 1, 1),
    ]
    assert hour_of(datetime(2026, 10, 1, 9, 59, 59, tzinfo=tokyo)) == datetime(2026, 10, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "first", "last", "clean"),
    [
        ("Asia/Tokyo", date(2025, 11, 24), date(2026, 11, 23), True),
        # A half-hour offset: hours start at :30 local, each still on one local day.
        ("Asia/Kolkata", date(2026, 1, 1), date(2026, 12, 31), True),
        ("Europe/London", date(2026, 3, 29), date(2026, 10, 25), True),
        # Newfoundland set its clocks back at 00:01 until 2011: 23:01-23:59 came twice, the second time
        # after the day had started, so the hour of 2005-10-30 03:00 UTC is on the 29th locally.
        ("America/St_Johns", date(2005, 10, 1), date(2005, 10, 30), True),
        ("America/St_Johns", date(2005, 10, 1), date(2005, 10, 29), False),
        ("America/St_Johns", date(2005, 10, 30), date(2005, 11, 29), False),
    ],
)
def test_ranges_cut_cleanly_into_local_days_except_across_a_backwards_midnight(
    zone: str, first: date, last: date, clean: bool
) -> None:
    assert cut_cleanly(first, last, ZoneInfo(zone)) is clean


@given(
    st.sampled_from(["Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/St_Johns", "Pacific/Apia"]),
    st.dates(date(2003, 1, 1), date(2030, 12, 31)),
    st.integers(0, 40),
)
@settings(max_examples=200)
def test_a_clean_range_holds_exactly_the_hours_of_its_local_days(zone: str, first: date, days: int) -> None:
    tz = ZoneInfo(zone)
    last = first + timedelta(days=days)
    if not cut_cleanly(first, last, tz):
        return
    lower, upper = day_bounds(first, last, tz)
    hour = hour_of(lower) - timedelta(days=2)
    while hour < upper + timedelta(days=2):
        assert (lower <= hour < upper) == (first <= local_day(hour, tz) <= last)
        hour += HOUR
