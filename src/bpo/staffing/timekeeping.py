"""Attendance arithmetic: what a person's clock-in and clock-out on a shift say against its plan, and how
their paid time splits for payroll. Pure: no I/O; instants are aware datetimes.

Per shift (planned ``start`` to ``end``):
- late: minutes from the planned start to the clock-in (none when on time or early);
- early leave: minutes from the clock-out to the planned end; overtime: from the planned end to the
  clock-out. Arriving early is not overtime: paid time starts at the later of the clock-in and the start;
- absent: the shift ended without a clock-in; a clock-in without a clock-out counts as worked to the
  planned end once the shift is over (and says so: ``missing_clock_out`` once the clock-out window shut);
- adherence: the share of the scheduled time the person was there, over the shifts that have ended.

Minutes are whole minutes, rounded down from the seconds (a clock-in 59 s after the start is on time).
Payroll splits paid time the way Japanese payroll reads it: the shift's break (taken in the middle of
the planned shift, as the staffing rules place it) is unpaid; hours on a public holiday (休日) are
holiday hours; of the rest, a work day's first 8 hours are regular and the time beyond them overtime
(時間外, 労働基準法第32条): staying after the planned end is overtime only past those 8 hours. A shift
belongs to the work day it starts on. The timesheet then moves a week's regular time beyond 40 hours to
overtime. Night hours (深夜, 22:00-05:00 on the person's own clock) are counted among all of them, as the
late-night premium comes on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from bpo.staffing.labour import DAILY_LIMIT, WEEKLY_LIMIT

# A person may clock in from this long before their shift starts until it ends…
CLOCK_IN_OPENS = timedelta(minutes=60)
# …and clock out until this long after it was planned to end (later, a supervisor corrects it).
CLOCK_OUT_CLOSES = timedelta(hours=8)
NIGHT_STARTS = time(22)
NIGHT_ENDS = time(5)


class AttendanceStatus(StrEnum):
    UPCOMING = "upcoming"
    NOT_CLOCKED_IN = "not_clocked_in"
    WORKING = "working"
    MISSING_CLOCK_OUT = "missing_clock_out"
    ABSENT = "absent"
    DONE = "done"


@dataclass(frozen=True)
class Punches:
    clock_in: datetime | None = None
    clock_out: datetime | None = None


@dataclass(frozen=True)
class ShiftFigures:
    status: AttendanceStatus
    # None while there is no clock-in.
    late_minutes: int | None
    early_leave_minutes: int
    overtime_minutes: int
    # Paid: from the later of clock-in and start to the clock-out (or the planned end, when it is missing).
    worked_minutes: int
    # Counted towards adherence once the shift has ended.
    ended: bool
    scheduled_seconds: int
    adhered_seconds: int


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _utc(moment: datetime) -> datetime:
    # Arithmetic between two times of one zone reads their wall clocks; in UTC it is elapsed time.
    return moment.astimezone(UTC)


def _utc_punches(punches: Punches) -> Punches:
    return Punches(
        None if punches.clock_in is None else _utc(punches.clock_in),
        None if punches.clock_out is None else _utc(punches.clock_out),
    )


def _minutes(delta: timedelta) -> int:
    return max(0, _seconds(delta)) // 60


def status_of(start: datetime, end: datetime, punches: Punches, now: datetime) -> AttendanceStatus:
    if punches.clock_in is None:
        if now < start:
            return AttendanceStatus.UPCOMING
        return AttendanceStatus.NOT_CLOCKED_IN if now < end else AttendanceStatus.ABSENT
    if punches.clock_out is not None:
        return AttendanceStatus.DONE
    return AttendanceStatus.WORKING if now < end + CLOCK_OUT_CLOSES else AttendanceStatus.MISSING_CLOCK_OUT


def effective_out(end: datetime, punches: Punches, now: datetime) -> datetime | None:
    """When the person stopped: the clock-out, or the planned end of a shift that is over without one;
    None while they may still be working."""
    if punches.clock_in is None:
        return None
    if punches.clock_out is not None:
        return punches.clock_out
    return end if now >= end else None


def paid_interval(
    start: datetime, end: datetime, punches: Punches, now: datetime
) -> tuple[datetime, datetime] | None:
    out = effective_out(end, punches, now)
    if punches.clock_in is None or out is None:
        return None
    begin = max(punches.clock_in, start)
    return (begin, out) if begin < out else None


def figures(start: datetime, end: datetime, punches: Punches, now: datetime) -> ShiftFigures:
    start, end, punches = _utc(start), _utc(end), _utc_punches(punches)
    status = status_of(start, end, punches, now)
    out = effective_out(end, punches, now)
    paid = paid_interval(start, end, punches, now)
    adhered = 0
    if punches.clock_in is not None and out is not None:
        adhered = max(0, _seconds(min(out, end) - max(punches.clock_in, start)))
    clock_out = punches.clock_out
    return ShiftFigures(
        status=status,
        late_minutes=None if punches.clock_in is None else _minutes(punches.clock_in - start),
        early_leave_minutes=0 if clock_out is None else _minutes(end - clock_out),
        overtime_minutes=0 if clock_out is None else _minutes(clock_out - end),
        worked_minutes=0 if paid is None else _minutes(paid[1] - paid[0]),
        ended=now >= end,
        scheduled_seconds=_seconds(end - start),
        adhered_seconds=adhered,
    )


@dataclass(frozen=True)
class Adherence:
    shifts: int
    scheduled_seconds: int
    adhered_seconds: int
    late: int
    late_minutes: int
    early_leave_minutes: int
    overtime_minutes: int
    absences: int

    @property
    def percent(self) -> float | None:
        """None while no shift has ended."""
        if not self.scheduled_seconds:
            return None
        return round(100 * self.adhered_seconds / self.scheduled_seconds, 2)


def adherence(shifts: Iterable[ShiftFigures]) -> Adherence:
    """Over the shifts that have ended: scheduled time, the part of it the person was there, and what
    went otherwise."""
    ended = [f for f in shifts if f.ended]
    return Adherence(
        shifts=len(ended),
        scheduled_seconds=sum(f.scheduled_seconds for f in ended),
        adhered_seconds=sum(f.adhered_seconds for f in ended),
        late=sum(1 for f in ended if f.late_minutes),
        late_minutes=sum(f.late_minutes or 0 for f in ended),
        early_leave_minutes=sum(f.early_leave_minutes for f in ended),
        overtime_minutes=sum(f.overtime_minutes for f in ended),
        absences=sum(1 for f in ended if f.status is AttendanceStatus.ABSENT),
    )


def presence(
    start: datetime, end: datetime, punches: Punches, now: datetime
) -> tuple[datetime, datetime] | None:
    """The stretch a person actually staffs a shift, for coverage measured on attendance: from clock-in
    (not before the start) to clock-out (or the planned end while there is none); without a clock-in,
    the part of the shift still to come (a shift that has started without one is unstaffed so far)."""
    start, end, punches = _utc(start), _utc(end), _utc_punches(punches)
    if punches.clock_in is None:
        begin = max(start, now)
        return (begin, end) if begin < end else None
    begin = max(punches.clock_in, start)
    out = punches.clock_out or end
    return (begin, out) if begin < out else None


# --- payroll -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaidTime:
    """Seconds of paid time: regular, overtime and holiday add up to the total; night is counted among
    them."""

    regular: int = 0
    overtime: int = 0
    holiday: int = 0
    night: int = 0
    # The unpaid break deducted, not part of the total.
    unpaid_break: int = 0

    @property
    def total(self) -> int:
        return self.regular + self.overtime + self.holiday

    def __add__(self, other: PaidTime) -> PaidTime:
        return PaidTime(
            self.regular + other.regular,
            self.overtime + other.overtime,
            self.holiday + other.holiday,
            self.night + other.night,
            self.unpaid_break + other.unpaid_break,
        )


def _local_cuts(lower: datetime, upper: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local midnights, 05:00 and 22:00 of the zone strictly between ``lower`` and ``upper``."""
    cuts = []
    day = lower.astimezone(zone).date() - timedelta(days=1)
    last = upper.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for clock in (time(0), NIGHT_ENDS, NIGHT_STARTS):
            instant = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
            if lower < instant < upper:
                cuts.append(instant)
        day += timedelta(days=1)
    return cuts


def _is_night(moment: time) -> bool:
    return moment >= NIGHT_STARTS or moment < NIGHT_ENDS


def split_paid(
    start: datetime,
    end: datetime,
    punches: Punches,
    now: datetime,
    zone: ZoneInfo,
    holiday: Callable[[date], bool],
    *,
    break_seconds: int = 0,
    worked_before: int = 0,
) -> PaidTime:
    """The paid time of one shift by kind, on the wall clock of ``zone`` (the person's), ``holiday``
    saying which local dates are public holidays. ``break_seconds`` of the planned shift's middle are
    unpaid; ``worked_before`` is the time already worked (not on a holiday) that work day, which counts
    towards its 8 hours."""
    start, end, punches = _utc(start), _utc(end), _utc_punches(punches)
    paid = paid_interval(start, end, punches, now)
    if paid is None:
        return PaidTime()
    lower, upper = paid
    pause = start + (end - start) / 2 - timedelta(seconds=break_seconds // 2)
    resume = pause + timedelta(seconds=break_seconds)
    inner = {*_local_cuts(lower, upper, zone), *(cut for cut in (pause, resume) if lower < cut < upper)}
    cuts = [lower, *sorted(inner), upper]
    total = PaidTime()
    day_worked = worked_before
    for begin, finish in pairwise(cuts):
        seconds = _seconds(finish - begin)
        if seconds <= 0:
            continue
        if pause <= begin and finish <= resume:
            total += PaidTime(unpaid_break=seconds)
            continue
        middle = (begin + (finish - begin) / 2).astimezone(zone)
        night = seconds if _is_night(middle.time()) else 0
        if holiday(middle.date()):
            total += PaidTime(holiday=seconds, night=night)
            continue
        regular = min(seconds, max(0, DAILY_LIMIT - day_worked))
        day_worked += seconds
        total += PaidTime(regular=regular, overtime=seconds - regular, night=night)
    return total


def weekly_overtime(regular_by_week: Iterable[int]) -> list[int]:
    """For a week's shifts in order, given each one's regular seconds: how many of them become overtime
    because the week's regular time passes 40 hours there."""
    moved = []
    so_far = 0
    for regular in regular_by_week:
        beyond = max(0, so_far + regular - WEEKLY_LIMIT) - max(0, so_far - WEEKLY_LIMIT)
        moved.append(beyond)
        so_far += regular
    return moved
