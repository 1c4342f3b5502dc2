"""Coverage arithmetic: coverage lines on local dates (DST-correct) and required vs scheduled headcount."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.staffing.coverage import Line, local_days, measure, occurrences, split

DAILY = frozenset(range(7))
T0 = datetime(2026, 11, 2, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


class TestOccurrences:
    def test_a_night_line_in_tokyo_runs_into_the_next_day(self) -> None:
        (night,) = occurrences(
            "Asia/Tokyo", [Line(DAILY, 22 * 60, 31 * 60, 2)], date(2026, 1, 5), date(2026, 1, 5)
        )

        assert (night.start, night.end) == (utc(2026, 1, 5, 13), utc(2026, 1, 5, 22))
        assert night.day == date(2026, 1, 5)
        assert night.headcount == 2

    def test_london_nights_over_both_dst_weekends_keep_their_wall_clock(self) -> None:
        line = [Line(DAILY, 22 * 60, 31 * 60, 1)]
        autumn = occurrences("Europe/London", line, date(2026, 10, 24), date(2026, 10, 25))
        spring = occurrences("Europe/London", line, date(2026, 3, 28), date(2026, 3, 29))

        # 22:00 BST to 07:00 GMT is ten hours; the next night is GMT throughout.
        assert [(o.start, o.end) for o in autumn] == [
            (utc(2026, 10, 24, 21), utc(2026, 10, 25, 7)),
            (utc(2026, 10, 25, 22), utc(2026, 10, 26, 7)),
        ]
        # 22:00 GMT to 07:00 BST is eight hours.
        assert [(o.start, o.end) for o in spring] == [
            (utc(2026, 3, 28, 22), utc(2026, 3, 29, 6)),
            (utc(2026, 3, 29, 21), utc(2026, 3, 30, 6)),
        ]

    def test_a_window_the_clocks_skip_starts_at_the_jump(self) -> None:
        (early,) = occurrences(
            "Europe/London", [Line(DAILY, 60, 150, 1)], date(2026, 3, 29), date(2026, 3, 29)
        )

        assert (early.start, early.end) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30))

    def test_weekdays_closed_days_and_empty_lines_are_skipped(self) -> None:
        lines = [Line(frozenset({0, 1, 2, 3, 4}), 9 * 60, 18 * 60, 1), Line(DAILY, 0, 60, 0)]
        holiday = date(2026, 11, 3)

        found = occurrences("Asia/Tokyo", lines, date(2026, 11, 2), date(2026, 11, 8), lambda d: d == holiday)

        assert [o.day for o in found] == [
            date(2026, 11, 2),
            date(2026, 11, 4),
            date(2026, 11, 5),
            date(2026, 11, 6),
        ]
        assert {o.line for o in found} == {0}

    @settings(max_examples=60, deadline=None)
    @given(
        zone=st.sampled_from(
            ["Asia/Tokyo", "Europe/London", "America/Argentina/Buenos_Aires", "America/New_York"]
        ),
        day=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
        start=st.integers(0, 24 * 60 - 1),
        length=st.integers(1, 24 * 60),
    )
    def test_an_occurrence_starts_on_the_lines_wall_clock_and_lasts_its_length_up_to_dst(
        self, zone: str, day: date, start: int, length: int
    ) -> None:
        found = occurrences(zone, [Line(DAILY, start, start + length, 1)], day, day)
        tz = ZoneInfo(zone)

        for slot in found:
            wall = slot.start.astimezone(tz)
            expected = datetime.combine(day, datetime.min.time()) + timedelta(minutes=start)
            skipped = wall.replace(tzinfo=None) != expected
            # A clock change moves the real length by at most the shift of the clocks (one hour here).
            assert abs((slot.end - slot.start) - timedelta(minutes=length)) <= hours(1)
            if not skipped:
                assert wall.date() == day


class TestMeasure:
    def test_a_small_day_computed_by_hand(self) -> None:
        # Two people required 09:00-13:00; Ann works 09:00-13:00, Ben 11:00-15:00.
        required = [(T0 + hours(9), T0 + hours(13), 2)]
        scheduled = [(T0 + hours(9), T0 + hours(13)), (T0 + hours(11), T0 + hours(15))]

        result = measure(required, scheduled, T0 + hours(8), T0 + hours(16), hours(1))

        rows = [(i.start.hour, i.required, i.scheduled, i.gap) for i in result.intervals]
        assert rows == [
            (8, 0, 0, False),
            (9, 2, 1, True),
            (10, 2, 1, True),
            (11, 2, 2, False),
            (12, 2, 2, False),
            (13, 0, 1, False),
            (14, 0, 1, False),
            (15, 0, 0, False),
        ]
        # A longer interval shows its peak requirement and its fewest people.
        coarse = measure(required, scheduled, T0 + hours(8), T0 + hours(16), hours(2))
        assert [(i.required, i.scheduled) for i in coarse.intervals] == [(2, 0), (2, 1), (2, 1), (0, 0)]
        assert coarse.totals == result.totals
        # Required 2 x 4 h = 480 staff-minutes; staffed 120 (09-11: Ann) + 240 (11-13: both) = 360.
        assert result.totals.required_staff_seconds == 480 * 60
        assert result.totals.staffed_staff_seconds == 360 * 60
        # Four hours needed staff, two of them at the full headcount.
        assert result.totals.coverage_seconds == 4 * 3600
        assert result.totals.fully_staffed_seconds == 2 * 3600
        assert result.totals.fully_staffed_share == 0.5

    def test_nothing_required_has_no_share(self) -> None:
        result = measure([], [(T0, T0 + hours(1))], T0, T0 + hours(2), hours(1))

        assert result.totals.fully_staffed_share is None
        assert [i.scheduled for i in result.intervals] == [1, 0]

    def test_the_last_interval_may_be_shorter(self) -> None:
        result = measure([(T0, T0 + hours(3), 1)], [], T0, T0 + hours(2.5), hours(1))

        assert [(i.end - i.start) for i in result.intervals] == [hours(1), hours(1), hours(0.5)]

    def test_bad_periods_are_refused(self) -> None:
        with pytest.raises(ValueError, match="end after"):
            measure([], [], T0, T0, hours(1))
        with pytest.raises(ValueError, match="positive"):
            measure([], [], T0, T0 + hours(1), timedelta())

    @settings(max_examples=80, deadline=None)
    @given(
        needs=st.lists(st.tuples(st.integers(0, 48), st.integers(1, 16), st.integers(1, 3)), max_size=6),
        people=st.lists(st.tuples(st.integers(0, 48), st.integers(1, 16)), max_size=8),
        step=st.sampled_from([15, 30, 60]),
        extra=st.tuples(st.integers(0, 48), st.integers(1, 16)),
    )
    def test_staffed_never_exceeds_required_and_one_more_person_never_lowers_it(
        self,
        needs: list[tuple[int, int, int]],
        people: list[tuple[int, int]],
        step: int,
        extra: tuple[int, int],
    ) -> None:
        quarter = timedelta(minutes=15)
        required = [(T0 + a * quarter, T0 + (a + n) * quarter, h) for a, n, h in needs]
        scheduled = [(T0 + a * quarter, T0 + (a + n) * quarter) for a, n in people]
        end = T0 + 64 * quarter

        before = measure(required, scheduled, T0, end, timedelta(minutes=step))
        more = [*scheduled, (T0 + extra[0] * quarter, T0 + (extra[0] + extra[1]) * quarter)]
        after = measure(required, more, T0, end, timedelta(minutes=step))

        totals = before.totals
        assert totals.staffed_staff_seconds <= totals.required_staff_seconds
        assert totals.fully_staffed_seconds <= totals.coverage_seconds
        assert sum(i.required_staff_seconds for i in before.intervals) == totals.required_staff_seconds
        assert sum((i.end - i.start for i in before.intervals), timedelta()) == end - T0
        assert after.totals.staffed_staff_seconds >= totals.staffed_staff_seconds
        assert after.totals.fully_staffed_seconds >= totals.fully_staffed_seconds
        # Independent of the interval: staffed time is the integral of min(required, scheduled).
        minute = measure(required, scheduled, T0, end, quarter)
        assert minute.totals == totals
        for interval in before.intervals:
            assert interval.gap == (interval.staffed_staff_seconds < interval.required_staff_seconds)


def test_local_days_follow_the_clock_change() -> None:
    start, end = local_days("Europe/London", date(2026, 10, 25), date(2026, 10, 25))

    assert (start, end) == (utc(2026, 10, 24, 23), utc(2026, 10, 26, 0))
    assert end - start == hours(25)


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 24 * 4 - 1).map(lambda q: q * 15),
    quarters=st.integers(1, 24 * 4),
    longest_quarters=st.integers(4, 24 * 4),
)
def test_split_cuts_a_stretch_into_the_fewest_equal_shifts_that_fit(
    start: int, quarters: int, longest_quarters: int
) -> None:
    line = Line(frozenset(range(7)), start, start + quarters * 15, headcount=2)
    (stretch,) = occurrences("UTC", [line], date(2026, 11, 2), date(2026, 11, 2))
    longest = timedelta(minutes=15 * longest_quarters)

    pieces = split(stretch, line, longest)

    assert pieces[0].start == stretch.start
    assert pieces[-1].end == stretch.end
    assert all(a.end == b.start for a, b in pairwise(pieces))
    assert all(p.end - p.start <= longest for p in pieces)
    assert len(pieces) == -(-quarters // longest_quarters)
    lengths = [p.end - p.start for p in pieces]
    assert max(lengths) - min(lengths) <= timedelta(minutes=15)
    assert {(p.headcount, p.line, p.day) for p in pieces} == {(2, 0, date(2026, 11, 2))}


def test_a_24_hour_line_is_three_8_hour_shifts_and_a_dst_night_stays_whole() -> None:
    always = Line(frozenset(range(7)), 0, 24 * 60, headcount=3)
    (day,) = occurrences("Asia/Tokyo", [always], date(2026, 11, 2), date(2026, 11, 2))
    assert [(p.start, p.end) for p in split(day, always, hours(9))] == [
        (utc(2026, 11, 1, 15), utc(2026, 11, 1, 23)),
        (utc(2026, 11, 1, 23), utc(2026, 11, 2, 7)),
        (utc(2026, 11, 2, 7), utc(2026, 11, 2, 15)),
    ]
    night = Line(frozenset(range(7)), 22 * 60, 31 * 60, headcount=1)
    (longer,) = occurrences("Europe/London", [night], date(2026, 10, 24), date(2026, 10, 24))
    assert longer.end - longer.start == hours(10)
    assert split(longer, night, hours(9)) == [longer]
