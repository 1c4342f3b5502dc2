"""Attendance arithmetic, hand-checked: lateness, early leave, overtime, absence and adherence from a plan
and its punches, the stretch a person staffs a shift, and paid time split for payroll across midnight,
a public holiday and a clock change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import given
from hypothesis import strategies as st

from bpo.staffing.timekeeping import (
    AttendanceStatus,
    PaidTime,
    Punches,
    adherence,
    figures,
    presence,
    split_paid,
    weekly_overtime,
)

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")
JP_HOLIDAYS = holidays.country_holidays("JP", years=[2026])


def jst(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TOKYO)


START, END = jst(3, 2, 9), jst(3, 2, 18)
LATER = jst(3, 3, 12)
DECEMBER = jst(12, 1, 0)


def hours(value: float) -> int:
    return round(value * 3600)


class TestOneShift:
    def test_late_and_early_leave(self) -> None:
        found = figures(START, END, Punches(jst(3, 2, 9, 7, 30), jst(3, 2, 17, 50)), LATER)
        assert found.status is AttendanceStatus.DONE
        assert (found.late_minutes, found.early_leave_minutes, found.overtime_minutes) == (7, 10, 0)
        # 09:07:30 to 17:50 is 8 h 42 min 30 s.
        assert found.worked_minutes == 522
        assert (found.scheduled_seconds, found.adhered_seconds) == (32400, 31350)

    def test_early_arrival_is_not_overtime_and_a_late_leave_is(self) -> None:
        found = figures(START, END, Punches(jst(3, 2, 8, 55), jst(3, 2, 18, 40)), LATER)
        assert (found.late_minutes, found.early_leave_minutes, found.overtime_minutes) == (0, 0, 40)
        assert found.worked_minutes == 9 * 60 + 40
        assert found.adhered_seconds == 32400

    def test_seconds_under_a_minute_are_not_late(self) -> None:
        assert figures(START, END, Punches(jst(3, 2, 9, 0, 59)), LATER).late_minutes == 0

    def test_absent_when_it_ended_without_a_clock_in(self) -> None:
        found = figures(START, END, Punches(), LATER)
        assert found.status is AttendanceStatus.ABSENT
        assert (found.late_minutes, found.worked_minutes, found.adhered_seconds) == (None, 0, 0)
        assert found.ended

    def test_before_during_and_after(self) -> None:
        assert figures(START, END, Punches(), jst(3, 2, 8)).status is AttendanceStatus.UPCOMING
        assert figures(START, END, Punches(), jst(3, 2, 10)).status is AttendanceStatus.NOT_CLOCKED_IN
        working = figures(START, END, Punches(jst(3, 2, 9, 1)), jst(3, 2, 12))
        assert (working.status, working.late_minutes, working.ended, working.worked_minutes) == (
            AttendanceStatus.WORKING,
            1,
            False,
            0,
        )
        # Overtime still possible for eight hours after the end; then the clock-out is missing.
        assert figures(START, END, Punches(START), jst(3, 2, 23)).status is AttendanceStatus.WORKING
        missing = figures(START, END, Punches(START), jst(3, 3, 2, 1))
        assert missing.status is AttendanceStatus.MISSING_CLOCK_OUT
        # Counted as worked to the planned end.
        assert (missing.worked_minutes, missing.adhered_seconds) == (540, 32400)


class TestAdherence:
    def test_over_the_shifts_that_ended(self) -> None:
        day = timedelta(days=1)
        shifts = [
            figures(START, END, Punches(jst(3, 2, 9, 7), jst(3, 2, 18)), LATER),  # 533 of 540 min
            figures(START + day, END + day, Punches(), LATER + day),  # absent: 0 of 540
            figures(START + 2 * day, END + 2 * day, Punches(), LATER),  # not yet: left out
        ]
        found = adherence(shifts)
        assert (found.shifts, found.scheduled_seconds, found.adhered_seconds) == (2, 64800, 31980)
        assert found.percent == 49.35  # 533 / 1080
        assert (found.late, found.late_minutes, found.absences) == (1, 7, 1)

    def test_nothing_ended_has_no_percent(self) -> None:
        assert adherence([figures(START, END, Punches(), jst(3, 1, 0))]).percent is None


class TestPresence:
    def test_from_clock_in_not_before_the_start_to_clock_out(self) -> None:
        assert presence(START, END, Punches(jst(3, 2, 8, 50), jst(3, 2, 19)), LATER) == (START, jst(3, 2, 19))
        assert presence(START, END, Punches(jst(3, 2, 9, 30)), LATER) == (jst(3, 2, 9, 30), END)

    def test_without_a_clock_in_only_what_is_still_to_come(self) -> None:
        assert presence(START, END, Punches(), LATER) is None
        assert presence(START, END, Punches(), jst(3, 2, 12)) == (jst(3, 2, 12), END)
        assert presence(START, END, Punches(), jst(3, 1, 12)) == (START, END)


class TestPaidTime:
    def test_a_night_shift_into_a_public_holiday(self) -> None:
        # 2 Nov 2026 is a Monday; 3 Nov is Culture Day. In at 21:55 (paid from 22:00), out at 07:30.
        punches = Punches(jst(11, 2, 21, 55), jst(11, 3, 7, 30))
        paid = split_paid(jst(11, 2, 22), jst(11, 3, 7), punches, DECEMBER, TOKYO, JP_HOLIDAYS.__contains__)
        # 22:00-24:00 regular and night; 00:00-07:30 on the holiday, 00:00-05:00 of it at night; the half hour
        # after the planned end is holiday work, not overtime.
        assert paid == PaidTime(regular=hours(2), overtime=0, holiday=hours(7.5), night=hours(7))
        assert paid.total == hours(9.5)

    def test_a_night_shift_on_working_days_with_overtime(self) -> None:
        punches = Punches(jst(11, 4, 22, 10), jst(11, 5, 7, 30))
        paid = split_paid(jst(11, 4, 22), jst(11, 5, 7), punches, DECEMBER, TOKYO, JP_HOLIDAYS.__contains__)
        # 9 h 20 min without a break: 8 h regular, the rest beyond the statutory day overtime.
        assert paid == PaidTime(
            regular=hours(8), overtime=hours(1 + 20 / 60), holiday=0, night=hours(6 + 50 / 60)
        )

    def test_the_break_is_unpaid_and_late_leave_within_eight_hours_is_regular(self) -> None:
        # 09:00-18:00 with a 60-minute break (13:00-14:00), out at 18:30: 8.5 h worked, 0.5 h overtime.
        start, end = jst(11, 4, 9), jst(11, 4, 18)
        punches = Punches(start, jst(11, 4, 18, 30))
        paid = split_paid(start, end, punches, DECEMBER, TOKYO, lambda day: False, break_seconds=3600)
        assert paid == PaidTime(regular=hours(8), overtime=hours(0.5), unpaid_break=hours(1))
        # A short shift run long stays regular up to 8 h: 4 h planned, 6 h worked.
        short = split_paid(
            start, jst(11, 4, 13), Punches(start, jst(11, 4, 15)), DECEMBER, TOKYO, lambda day: False
        )
        assert short == PaidTime(regular=hours(6))
        # Earlier work that day counts towards its 8 h.
        later = split_paid(
            start,
            jst(11, 4, 13),
            Punches(start, jst(11, 4, 13)),
            DECEMBER,
            TOKYO,
            lambda day: False,
            worked_before=hours(6),
        )
        assert later == PaidTime(regular=hours(2), overtime=hours(2))

    def test_a_weeks_regular_time_beyond_forty_hours_becomes_overtime(self) -> None:
        assert weekly_overtime([hours(8)] * 6) == [0, 0, 0, 0, 0, hours(8)]
        assert weekly_overtime([hours(30), hours(5), hours(8)]) == [0, 0, hours(3)]

    def test_night_hours_follow_the_persons_clock_across_a_clock_change(self) -> None:
        # Edinburgh, the night summer time ends (25 Oct 2026, 02:00 BST becomes 01:00 GMT): 22:00 BST to
        # 06:00 GMT is nine hours, of which 22:00-05:00 on the wall clock is eight.
        start = datetime(2026, 10, 24, 22, tzinfo=LONDON)
        end = datetime(2026, 10, 25, 6, tzinfo=LONDON)
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=9)
        paid = split_paid(start, end, Punches(start, end), end + timedelta(days=1), LONDON, lambda day: False)
        # Nine hours on one work day: the ninth is overtime.
        assert paid == PaidTime(regular=hours(8), overtime=hours(1), night=hours(8))

    def test_nothing_paid_without_a_clock_in_or_while_working(self) -> None:
        never = split_paid(START, END, Punches(), LATER, TOKYO, lambda day: False)
        ongoing = split_paid(START, END, Punches(START), jst(3, 2, 12), TOKYO, lambda day: False)
        assert never == ongoing == PaidTime()


@given(
    start_minute=st.integers(0, 7 * 24 * 60),
    length=st.integers(15, 14 * 60),
    arrive=st.integers(-60, 120),
    leave=st.integers(-120, 8 * 60),
    holiday_day=st.integers(0, 8),
)
def test_paid_time_adds_up_to_the_worked_minutes(
    start_minute: int, length: int, arrive: int, leave: int, holiday_day: int
) -> None:
    start = jst(11, 1, 0) + timedelta(minutes=start_minute)
    end = start + timedelta(minutes=length)
    clock_in = start + timedelta(minutes=arrive)
    clock_out = max(clock_in + timedelta(minutes=1), end + timedelta(minutes=leave))
    punches = Punches(clock_in, clock_out)
    now = end + timedelta(days=1)
    holiday = date(2026, 11, 1) + timedelta(days=holiday_day)
    paid = split_paid(start, end, punches, now, TOKYO, lambda day: day == holiday)
    found = figures(start, end, punches, now)
    assert paid.total // 60 == found.worked_minutes or paid.total == 0
    assert 0 <= paid.night <= paid.total
    # Overtime is what passes 8 hours of non-holiday work that day.
    assert paid.overtime == max(0, paid.total - paid.holiday - 8 * 3600)
