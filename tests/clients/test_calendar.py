"""Business-time arithmetic: clock parsing, windows past midnight, holidays and exceptions, DST in the
zones our staff work from, and properties over random calendars checked against a brute-force wall
clock."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from itertools import accumulate, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.core.business_time import (
    Calendar,
    Window,
    add_business,
    business_duration,
    format_clock,
    is_open,
    japanese_holidays,
    next_open,
    open_intervals,
    parse_clock,
    steady_offset,
)

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")
BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = ("Asia/Tokyo", "Europe/London", "America/Argentina/Buenos_Aires", "America/New_York")

LONDON_SPRING_FORWARD = date(2026, 3, 29)
LONDON_FALL_BACK = date(2026, 10, 25)
NEW_YORK_SPRING_FORWARD = date(2026, 3, 8)
NEW_YORK_FALL_BACK = date(2026, 11, 1)

HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)


def clock_window(weekday: int, start: str, end: str) -> Window:
    return Window(weekday, parse_clock(start), parse_clock(end))


def every_day(start: str, end: str) -> tuple[Window, ...]:
    return tuple(clock_window(weekday, start, end) for weekday in range(7))


def elapsed(start: datetime, end: datetime) -> timedelta:
    # Subtracting two datetimes of one ZoneInfo gives the wall-clock difference, not the real one.
    return end.astimezone(UTC) - start.astimezone(UTC)


def same_instant(a: datetime, b: datetime) -> bool:
    # == across zones is always False for a repeated wall time (PEP 495), so compare in UTC.
    return a.astimezone(UTC) == b.astimezone(UTC)


def local(zone: ZoneInfo, day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone)


def lancers(
    holidays: frozenset[date] = frozenset(),
    exceptions: Mapping[date, tuple[tuple[int, int], ...]] | None = None,
) -> Calendar:
    return Calendar("Asia/Tokyo", every_day("08:00", "25:30"), holidays, exceptions or {})


# Clock times


def test_every_valid_clock_round_trips() -> None:
    texts = [f"{hours:02d}:{minutes:02d}" for hours in range(48) for minutes in range(60)]
    assert [parse_clock(text) for text in texts] == list(range(48 * 60))
    assert [format_clock(parse_clock(text)) for text in texts] == texts


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("00:00", 0), ("08:00", 480), ("23:59", 1439), ("24:00", 1440), ("25:30", 1530), ("47:59", 2879),
        # One-digit hours, as the request types and the manifest schema allow.
        ("0:00", 0), ("7:05", 425), ("9:00", 540),
    ],
)  # fmt: skip
def test_parse_clock(text: str, minutes: int) -> None:
    assert parse_clock(text) == minutes


@pytest.mark.parametrize(
    "text",
    [
        "24:61",
        "48:00",
        "7:5",
        "07:5",
        "ab:cd",
        "",
        "0800",
        "08:00 ",
        " 08:00",
        "08:00\n",
        "-1:00",
        "08:60",
        "08.00",
        "08:00:00",
        "\uff10\uff18:\uff10\uff10",
    ],
)
def test_parse_clock_rejects_and_names_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_clock(text)


@given(st.text(alphabet="0123456789:4 x", max_size=7))
def test_parse_clock_accepts_exactly_what_it_can_format(text: str) -> None:
    try:
        minutes = parse_clock(text)
    except ValueError:
        assert not re.fullmatch(r"[0-4]?[0-9]:[0-5][0-9]", text) or text.rjust(5, "0") >= "48:00"
    else:
        # H:MM is read too ("9:00"); the clock is written HH:MM.
        assert format_clock(minutes) == text.rjust(5, "0")


@pytest.mark.parametrize("minutes", [-1, 48 * 60, 10_000])
def test_format_clock_rejects_out_of_range(minutes: int) -> None:
    with pytest.raises(ValueError, match=str(minutes)):
        format_clock(minutes)


# The model


@pytest.mark.parametrize(
    ("weekday", "start", "end"),
    [
        (7, 0, 60),
        (-1, 0, 60),
        (0, -1, 60),
        (0, 1440, 1500),
        (0, 60, 60),
        (0, 60, 30),
        (0, 0, 1441),
        (0, 600, 2041),
    ],
)
def test_window_rejects_bad_spans(weekday: int, start: int, end: int) -> None:
    with pytest.raises(ValueError, match=r"weekday|window"):
        Window(weekday, start, end)


def test_window_accepts_a_full_day_starting_late() -> None:
    assert Window(6, 1439, 2879).end == parse_clock("47:59")
    assert Window(0, 0, 1440).end == parse_clock("24:00")


def test_calendar_rejects_unknown_zone_and_bad_exception_spans() -> None:
    with pytest.raises(ValueError, match="Asia/Osaka"):
        Calendar("Asia/Osaka", ())
    with pytest.raises(ValueError, match="zone"):
        Calendar("../etc/passwd", ())
    with pytest.raises(ValueError, match="minute 600 to 500"):
        Calendar("Asia/Tokyo", (), exceptions={date(2026, 1, 2): ((600, 500),)})


def test_calendar_is_a_value_and_keeps_its_own_exceptions() -> None:
    exceptions: dict[date, tuple[tuple[int, int], ...]] = {date(2026, 1, 2): ((600, 900),)}
    calendar = lancers(exceptions=exceptions)
    exceptions[date(2026, 1, 2)] = ()
    assert calendar.exceptions[date(2026, 1, 2)] == ((600, 900),)
    assert calendar == lancers(exceptions={date(2026, 1, 2): ((600, 900),)})
    assert hash(calendar) == hash(lancers())
    assert calendar != lancers()


@pytest.mark.parametrize(
    "call",
    [
        lambda cal, naive: open_intervals(cal, naive, naive.replace(tzinfo=UTC)),
        lambda cal, naive: open_intervals(cal, naive.replace(tzinfo=UTC), naive),
        lambda cal, naive: is_open(cal, naive),
        lambda cal, naive: next_open(cal, naive),
        lambda cal, naive: business_duration(cal, naive, naive.replace(tzinfo=UTC)),
        lambda cal, naive: add_business(cal, naive, HOUR),
        lambda cal, naive: add_business(cal, naive, timedelta()),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[Calendar, datetime], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(lancers(), datetime(2026, 1, 5, 12))


def test_japanese_holidays_include_substitute_holidays() -> None:
    holidays = japanese_holidays([2025, 2026])
    assert {date(2026, 1, 1), date(2026, 5, 6), date(2025, 11, 24), date(2026, 9, 22)} <= holidays
    assert date(2026, 1, 5) not in holidays
    assert all(day.year in (2025, 2026) for day in holidays)


# Lancers email support: 08:00-25:30 Asia/Tokyo every day


@pytest.mark.parametrize(
    ("day", "hour", "minute", "expected"),
    [
        (date(2026, 1, 6), 0, 59, True),
        (date(2026, 1, 6), 1, 29, True),
        (date(2026, 1, 6), 1, 30, False),
        (date(2026, 1, 6), 1, 31, False),
        (date(2026, 1, 6), 7, 59, False),
        (date(2026, 1, 6), 8, 0, True),
        (date(2026, 1, 6), 23, 59, True),
    ],
)
def test_lancers_window_runs_past_midnight(day: date, hour: int, minute: int, expected: bool) -> None:
    assert is_open(lancers(), local(TOKYO, day, hour, minute)) is expected


def test_lancers_business_duration_across_midnight() -> None:
    received = local(TOKYO, date(2026, 1, 5), 23)
    assert business_duration(lancers(), received, local(TOKYO, date(2026, 1, 6), 9)) == timedelta(hours=3.5)
    assert add_business(lancers(), received, timedelta(hours=3)) == local(TOKYO, date(2026, 1, 6), 8, 30)
    assert add_business(lancers(), received, timedelta(hours=2.5)) == local(TOKYO, date(2026, 1, 6), 1, 30)
    assert next_open(lancers(), local(TOKYO, date(2026, 1, 6), 3)) == local(TOKYO, date(2026, 1, 6), 8)


def test_holiday_closes_its_own_window_but_not_the_night_before() -> None:
    calendar = lancers(holidays=japanese_holidays([2026]))
    new_year = date(2026, 1, 1)
    assert is_open(calendar, local(TOKYO, new_year, 0, 59))
    assert not is_open(calendar, local(TOKYO, new_year, 1, 31))
    assert not is_open(calendar, local(TOKYO, new_year, 12))
    assert not is_open(calendar, local(TOKYO, date(2026, 1, 2), 1))
    assert next_open(calendar, local(TOKYO, new_year, 1, 30)) == local(TOKYO, date(2026, 1, 2), 8)
    assert business_duration(
        calendar, local(TOKYO, new_year), local(TOKYO, date(2026, 1, 2), 8)
    ) == timedelta(hours=1.5)


def test_exceptions_replace_the_days_windows_and_win_over_holidays() -> None:
    year_end = {date(2025, 12, 31): ((600, 1080),), date(2026, 1, 1): ((780, 1020),), date(2026, 1, 2): ()}
    calendar = lancers(holidays=frozenset({date(2026, 1, 1)}), exceptions=year_end)
    assert open_intervals(calendar, local(TOKYO, date(2025, 12, 31)), local(TOKYO, date(2026, 1, 4))) == [
        (local(TOKYO, date(2025, 12, 31), 0), local(TOKYO, date(2025, 12, 31), 1, 30)),
        (local(TOKYO, date(2025, 12, 31), 10), local(TOKYO, date(2025, 12, 31), 18)),
        (local(TOKYO, date(2026, 1, 1), 13), local(TOKYO, date(2026, 1, 1), 17)),
        (local(TOKYO, date(2026, 1, 3), 8), local(TOKYO, date(2026, 1, 4), 0)),
    ]


def test_overlapping_windows_of_neighbouring_days_merge() -> None:
    calendar = Calendar("Asia/Tokyo", (clock_window(0, "08:00", "25:30"), clock_window(1, "00:00", "02:00")))
    monday = date(2026, 1, 5)
    assert open_intervals(calendar, local(TOKYO, monday), local(TOKYO, monday + timedelta(days=7))) == [
        (local(TOKYO, monday, 8), local(TOKYO, monday + timedelta(days=1), 2))
    ]
    adjacent = Calendar("Asia/Tokyo", (clock_window(0, "08:00", "24:00"), clock_window(1, "00:00", "02:00")))
    assert len(open_intervals(adjacent, local(TOKYO, monday), local(TOKYO, monday + timedelta(days=7)))) == 1


def test_results_are_utc_whatever_zone_the_question_uses() -> None:
    opening = next_open(lancers(), datetime(2026, 1, 5, 19, tzinfo=timezone(timedelta(hours=-3))))
    assert opening == datetime(2026, 1, 5, 23, tzinfo=UTC)
    assert opening.tzinfo is UTC
    assert all(
        instant.tzinfo is UTC
        for interval in open_intervals(
            lancers(), local(TOKYO, date(2026, 1, 5)), local(TOKYO, date(2026, 1, 9))
        )
        for instant in interval
    )


def test_zero_duration_is_the_start_itself_even_when_closed() -> None:
    closed = local(TOKYO, date(2026, 1, 6), 3)
    assert add_business(lancers(), closed, timedelta()) == closed


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business(lancers(), local(TOKYO, date(2026, 1, 6)), -MICROSECOND)


def test_a_calendar_that_never_opens_is_an_error_not_a_hang() -> None:
    closed = Calendar("Asia/Tokyo", ())
    start = local(TOKYO, date(2026, 1, 6))
    with pytest.raises(ValueError, match="400 days"):
        next_open(closed, start)
    with pytest.raises(ValueError, match="400 days"):
        add_business(closed, start, HOUR)
    only_once = Calendar("Asia/Tokyo", (), exceptions={date(2026, 1, 7): ((600, 660),)})
    with pytest.raises(ValueError, match="400 days"):
        add_business(only_once, start, 2 * HOUR)
    assert business_duration(closed, start, start + timedelta(days=30)) == timedelta()


def test_a_year_of_business_time_is_walked_by_interval() -> None:
    calendar = lancers(holidays=japanese_holidays([2026, 2027, 2028]))
    start = local(TOKYO, date(2026, 1, 1), 12)
    year_of_work = timedelta(hours=17.5) * 300
    end = add_business(calendar, start, year_of_work)
    assert business_duration(calendar, start, end) == year_of_work
    assert not is_open(calendar, end)  # 300 whole days ends exactly at a 01:30 close
    assert end.astimezone(TOKYO).time() == time(1, 30)


# DST: Scotland and Argentina staff cover the Japanese night


@pytest.mark.parametrize(
    ("zone", "day", "length"),
    [
        (LONDON, LONDON_SPRING_FORWARD, timedelta(hours=23)),
        (LONDON, LONDON_FALL_BACK, timedelta(hours=25)),
        (LONDON, date(2026, 3, 28), timedelta(hours=24)),
        (NEW_YORK, NEW_YORK_SPRING_FORWARD, timedelta(hours=23)),
        (NEW_YORK, NEW_YORK_FALL_BACK, timedelta(hours=25)),
        (BUENOS_AIRES, LONDON_SPRING_FORWARD, timedelta(hours=24)),
        (BUENOS_AIRES, LONDON_FALL_BACK, timedelta(hours=24)),
        (TOKYO, NEW_YORK_SPRING_FORWARD, timedelta(hours=24)),
    ],
)
def test_always_open_day_lasts_the_real_elapsed_time(zone: ZoneInfo, day: date, length: timedelta) -> None:
    calendar = Calendar.always_open(zone.key)
    start, end = local(zone, day), local(zone, day + timedelta(days=1))
    assert business_duration(calendar, start, end) == length == elapsed(start, end)
    assert open_intervals(calendar, start, end) == [(start, end)]


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "length", "opens_utc"),
    [
        # Whole window across the jump: as long as the clocks say, minus the skipped hour.
        (LONDON, LONDON_SPRING_FORWARD, "00:00", "03:00", 2, "2026-03-29T00:00"),
        # fold=0 at both ends: 00:00 BST to 03:00 GMT, the repeated hour counted twice.
        (LONDON, LONDON_FALL_BACK, "00:00", "03:00", 4, "2026-10-24T23:00"),
        (LONDON, date(2026, 3, 22), "00:00", "03:00", 3, "2026-03-22T00:00"),
        # Starting in the skipped hour: opens when the clocks jump to 02:00 BST.
        (LONDON, LONDON_SPRING_FORWARD, "01:30", "02:45", 0.75, "2026-03-29T01:00"),
        (LONDON, LONDON_SPRING_FORWARD, "00:30", "01:30", 0.5, "2026-03-29T00:30"),
        # Wholly inside the skipped hour: closed that day.
        (LONDON, LONDON_SPRING_FORWARD, "01:00", "02:00", 0, None),
        # Repeated wall times are read as their first occurrence.
        (LONDON, LONDON_FALL_BACK, "00:30", "01:30", 1, "2026-10-24T23:30"),
        (LONDON, LONDON_FALL_BACK, "01:30", "02:30", 2, "2026-10-25T00:30"),
        (LONDON, LONDON_FALL_BACK, "01:00", "02:00", 2, "2026-10-25T00:00"),
        # A window of the previous day reaching through the change.
        (LONDON, date(2026, 3, 28), "22:00", "27:00", 4, "2026-03-28T22:00"),
        (LONDON, date(2026, 10, 24), "22:00", "27:00", 6, "2026-10-24T21:00"),
        (NEW_YORK, NEW_YORK_SPRING_FORWARD, "01:30", "03:30", 1, "2026-03-08T06:30"),
        (NEW_YORK, NEW_YORK_FALL_BACK, "00:00", "03:00", 4, "2026-11-01T04:00"),
        (BUENOS_AIRES, LONDON_SPRING_FORWARD, "00:00", "03:00", 3, "2026-03-29T03:00"),
        (BUENOS_AIRES, LONDON_FALL_BACK, "00:00", "03:00", 3, "2026-10-25T03:00"),
    ],
)
def test_window_length_across_dst(
    zone: ZoneInfo, day: date, start: str, end: str, length: float, opens_utc: str | None
) -> None:
    calendar = Calendar(zone.key, (clock_window(day.weekday(), start, end),))
    intervals = open_intervals(calendar, local(zone, day), local(zone, day + timedelta(days=2)))
    assert sum((closes - opens for opens, closes in intervals), timedelta()) == timedelta(hours=length)
    if opens_utc is None:
        assert intervals == []
    else:
        assert intervals[0][0] == datetime.fromisoformat(opens_utc).replace(tzinfo=UTC)


def test_scottish_night_shift_moves_an_hour_on_the_japanese_clock_after_spring_forward() -> None:
    calendar = Calendar(
        "Europe/London", tuple(clock_window(weekday, "16:00", "24:00") for weekday in range(5))
    )
    before, after = date(2026, 3, 27), date(2026, 3, 30)
    (friday,) = open_intervals(calendar, local(LONDON, before), local(LONDON, before + timedelta(days=1)))
    (monday,) = open_intervals(calendar, local(LONDON, after), local(LONDON, after + timedelta(days=1)))
    assert [instant.astimezone(TOKYO).hour for instant in friday] == [1, 9]
    assert [instant.astimezone(TOKYO).hour for instant in monday] == [0, 8]


# Properties over random calendars, instants and durations near the DST changes

ANCHORS = (
    date(2026, 1, 1),
    NEW_YORK_SPRING_FORWARD,
    LONDON_SPRING_FORWARD,
    LONDON_FALL_BACK,
    NEW_YORK_FALL_BACK,
)
INTERESTING_STARTS = (0, 30, 60, 90, 120, 150, 180, 480, 1320, 1380, 1410, 1439)
INTERESTING_LENGTHS = (1, 30, 60, 120, 180, 1050, 1380, 1440)
SPAN_DAYS = 30


@dataclass(frozen=True)
class Scenario:
    calendar: Calendar
    instants: list[datetime]


def spans() -> st.SearchStrategy[tuple[int, int]]:
    starts = st.sampled_from(INTERESTING_STARTS) | st.integers(0, 1439)
    lengths = st.sampled_from(INTERESTING_LENGTHS) | st.integers(1, 1440)
    return st.tuples(starts, lengths).map(lambda span: (span[0], span[0] + span[1]))


@st.composite
def scenarios(draw: st.DrawFn, count: int = 1, min_windows: int = 0) -> Scenario:
    anchor = draw(st.sampled_from(ANCHORS))
    zone = draw(st.sampled_from(ZONES))
    windows = draw(
        st.lists(
            st.builds(lambda weekday, span: Window(weekday, *span), st.integers(0, 6), spans()),
            min_size=min_windows,
            max_size=6,
        )
    )
    near_days = st.integers(-SPAN_DAYS - 3, SPAN_DAYS + 3).map(lambda offset: anchor + timedelta(days=offset))
    holidays = draw(st.frozensets(near_days, max_size=8))
    exceptions = draw(st.dictionaries(near_days, st.lists(spans(), max_size=3).map(tuple), max_size=4))
    calendar = Calendar(zone, tuple(windows), holidays, exceptions)
    origin = datetime.combine(anchor, time(), UTC)
    asked_in = st.sampled_from((UTC, ZoneInfo(zone), timezone(timedelta(hours=-3)), TOKYO))
    instant = st.builds(
        lambda minutes, micros, tz: (origin + timedelta(minutes=minutes, microseconds=micros)).astimezone(tz),
        st.integers(-SPAN_DAYS * 1440, SPAN_DAYS * 1440) | st.integers(-2 * 1440, 2 * 1440),
        st.just(0) | st.integers(0, 59_999_999),
        asked_in,
    )
    return Scenario(calendar, sorted(draw(st.lists(instant, min_size=count, max_size=count))))


def weekly_open_time(calendar: Calendar) -> timedelta:
    return sum((timedelta(minutes=window.end - window.start) for window in calendar.windows), timedelta())


@given(scenarios(count=3))
def test_business_duration_is_additive(scenario: Scenario) -> None:
    a, b, c = scenario.instants
    calendar = scenario.calendar
    assert business_duration(calendar, a, c) == business_duration(calendar, a, b) + business_duration(
        calendar, b, c
    )
    assert timedelta() <= business_duration(calendar, a, c) <= elapsed(a, c)
    assert business_duration(calendar, c, a) == timedelta()


@given(scenarios(min_windows=1), st.data())
@settings(deadline=None)
def test_add_business_is_the_earliest_instant_with_that_much_open_time(
    scenario: Scenario, data: st.DataObject
) -> None:
    calendar, (start,) = scenario.calendar, scenario.instants
    most = min(timedelta(days=30), 10 * weekly_open_time(calendar))
    duration = timedelta(
        microseconds=data.draw(st.integers(0, most // MICROSECOND) | st.sampled_from((0, 1, 60_000_000))),
    )
    end = add_business(calendar, start, duration)
    assert end >= start
    assert business_duration(calendar, start, end) == duration
    if duration:
        assert business_duration(calendar, start, end - MICROSECOND) < duration
        assert is_open(calendar, end - MICROSECOND)
    else:
        assert same_instant(end, start)


@given(scenarios())
def test_is_open_agrees_with_open_intervals(scenario: Scenario) -> None:
    (instant,) = scenario.instants
    around = open_intervals(scenario.calendar, instant - timedelta(days=3), instant + timedelta(days=3))
    assert is_open(scenario.calendar, instant) is any(opens <= instant < closes for opens, closes in around)


@given(scenarios(min_windows=1))
def test_next_open_is_open_and_nothing_opens_before_it(scenario: Scenario) -> None:
    (instant,) = scenario.instants
    opening = next_open(scenario.calendar, instant)
    assert opening >= instant
    assert is_open(scenario.calendar, opening)
    assert business_duration(scenario.calendar, instant, opening) == timedelta()
    assert open_intervals(scenario.calendar, instant, opening) == []
    assert same_instant(opening, instant) is is_open(scenario.calendar, instant)


@given(scenarios(count=2))
def test_open_intervals_are_sorted_merged_utc_and_clipped(scenario: Scenario) -> None:
    start, end = scenario.instants
    intervals = open_intervals(scenario.calendar, start, end)
    for opens, closes in intervals:
        assert opens.tzinfo is UTC
        assert closes.tzinfo is UTC
        assert start <= opens < closes <= end
    for (_, closes), (opens, _) in pairwise(intervals):
        assert closes < opens


@given(scenarios(count=2), st.sampled_from(ZONES))
def test_always_open_counts_elapsed_time(scenario: Scenario, zone: str) -> None:
    start, end = scenario.instants
    calendar = Calendar.always_open(zone)
    assert business_duration(calendar, start, end) == elapsed(start, end)
    assert same_instant(add_business(calendar, start, elapsed(start, end)), end)


@given(scenarios(count=2), st.data())
def test_holidays_only_take_time_away_and_exceptions_win_over_them(
    scenario: Scenario, data: st.DataObject
) -> None:
    calendar, (start, end) = scenario.calendar, scenario.instants
    zone = ZoneInfo(calendar.zone)
    day = data.draw(
        st.integers(-2, max(elapsed(start, end).days + 2, 0)).map(
            lambda n: start.astimezone(zone).date() + timedelta(n)
        )
    )
    closed = Calendar(calendar.zone, calendar.windows, calendar.holidays | {day}, calendar.exceptions)
    assert business_duration(closed, start, end) <= business_duration(calendar, start, end)
    override = data.draw(st.lists(spans(), max_size=2).map(tuple))
    exceptions = {**calendar.exceptions, day: override}
    assert open_intervals(
        Calendar(calendar.zone, calendar.windows, calendar.holidays | {day}, exceptions), start, end
    ) == open_intervals(
        Calendar(calendar.zone, calendar.windows, calendar.holidays - {day}, exceptions), start, end
    )
    usual = {**calendar.exceptions, day: calendar.spans_on(day)}
    same_as_usual = Calendar(calendar.zone, calendar.windows, calendar.holidays, usual)
    assert open_intervals(same_as_usual, start, end) == open_intervals(calendar, start, end)


@cache
def brute_force_clock(zone: str, first_day: date) -> Callable[[datetime], datetime]:
    """Reads the zone's clock at every UTC minute of five local days from `first_day` (these zones
    change offset on whole minutes) and maps a wall time to the first minute showing it or later."""
    tz = ZoneInfo(zone)
    origin = datetime.combine(first_day, time(), UTC) - timedelta(hours=15)
    minutes = [origin + timedelta(minutes=n) for n in range(5 * 1440 + 30 * 60)]
    latest_walls = list(accumulate((minute.astimezone(tz).replace(tzinfo=None) for minute in minutes), max))
    return lambda wall: minutes[bisect_left(latest_walls, wall)]


def brute_force_is_open(calendar: Calendar, instant: datetime) -> bool:
    today = instant.astimezone(ZoneInfo(calendar.zone)).date()
    first_showing = brute_force_clock(calendar.zone, today - timedelta(days=2))
    for day in (today - timedelta(days=n) for n in range(3)):
        if day in calendar.exceptions:
            day_spans = calendar.exceptions[day]
        elif day in calendar.holidays:
            day_spans = ()
        else:
            day_spans = tuple((w.start, w.end) for w in calendar.windows if w.weekday == day.weekday())
        midnight = datetime.combine(day, time())
        for start, end in day_spans:
            opens = first_showing(midnight + timedelta(minutes=start))
            if opens <= instant < first_showing(midnight + timedelta(minutes=end)):
                return True
    return False


@given(scenarios())
@settings(deadline=None, max_examples=60)
def test_is_open_agrees_with_a_brute_force_wall_clock(scenario: Scenario) -> None:
    (instant,) = scenario.instants
    assert is_open(scenario.calendar, instant) is brute_force_is_open(scenario.calendar, instant)


CLOCK_CHANGES = (
    ("Europe/London", LONDON_SPRING_FORWARD),
    ("Europe/London", LONDON_FALL_BACK),
    ("America/New_York", NEW_YORK_SPRING_FORWARD),
    ("America/New_York", NEW_YORK_FALL_BACK),
    ("America/Argentina/Buenos_Aires", LONDON_SPRING_FORWARD),
)


@given(
    st.sampled_from(CLOCK_CHANGES),
    st.sampled_from((0, 1)),
    st.integers(0, 240) | st.integers(0, 1439),
    st.integers(1, 240) | st.integers(1, 1440),
)
@settings(deadline=None)
def test_a_window_near_a_clock_change_runs_between_the_first_instants_showing_its_ends(
    change: tuple[str, date], days_before: int, start: int, length: int
) -> None:
    zone, change_day = change
    day = change_day - timedelta(days=days_before)
    calendar = Calendar(zone, (Window(day.weekday(), start, start + length),))
    first_showing = brute_force_clock(zone, day - timedelta(days=1))
    midnight = datetime.combine(day, time())
    opens = first_showing(midnight + timedelta(minutes=start))
    closes = first_showing(midnight + timedelta(minutes=start + length))
    intervals = open_intervals(
        calendar, local(ZoneInfo(zone), day), local(ZoneInfo(zone), day + timedelta(days=3))
    )
    assert intervals == ([(opens, closes)] if closes > opens else [])


@given(scenarios(count=2))
def test_the_zone_a_question_is_asked_in_does_not_matter(scenario: Scenario) -> None:
    start, end = scenario.instants
    calendar = scenario.calendar
    in_utc = open_intervals(calendar, start.astimezone(UTC), end.astimezone(UTC))
    assert open_intervals(calendar, start.astimezone(TOKYO), end.astimezone(NEW_YORK)) == in_utc


# --- a zone's steady offset ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "since", "offset"),
    [
        # No change for decades: the whole stretch asked about.
        ("Asia/Tokyo", datetime(2026, 9, 1, tzinfo=UTC), timedelta(hours=9)),
        # Summer time ended at 06:00 UTC on 1 November 2026 (02:00 EDT became 01:00 EST).
        ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC), timedelta(hours=-5)),
        # British summer time ended at 01:00 UTC on 25 October 2026.
        ("Europe/London", datetime(2026, 10, 25, 1, tzinfo=UTC), timedelta(0)),
    ],
)
def test_steady_offset_starts_at_the_last_change(zone: str, since: datetime, offset: timedelta) -> None:
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 30, 15, tzinfo=UTC)
    assert steady_offset(zone, start, end) == (since, offset)


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Tokyo"]),
    end=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 1, 1)),
    days=st.integers(min_value=0, max_value=120),
    probe=st.floats(min_value=0, max_value=1),
)
def test_a_clock_read_at_the_steady_offset_is_the_zones(
    zone: str, end: datetime, days: int, probe: float
) -> None:
    """Anywhere in the stretch, the instant plus the offset shows what the zone's clocks show."""
    end = end.replace(tzinfo=UTC)
    since, offset = steady_offset(zone, end - timedelta(days=days), end)
    assert end - timedelta(days=days) <= since <= end
    instant = since + (end - since) * probe
    assert (instant + offset).replace(tzinfo=None) == instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
