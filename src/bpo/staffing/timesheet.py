"""A person's month of shifts as a payroll timesheet: paid time split into regular, overtime, holiday and
night hours (``timekeeping.split_paid``; overtime beyond 8 h a work day and 40 h an ISO week, the week
that starts in the month before counted from its Monday), breaks deducted, as CSV. Public holidays are
those of the person's country (the ``holidays`` package): a person works across contracts whose
calendars differ, and is paid by one employer's rules. No HTTP here."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core.business_time import japanese_holidays
from bpo.core.errors import Invalid, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.scope import Scope
from bpo.staffing import timekeeping
from bpo.staffing.attendance import shift_attendance, worked_between
from bpo.staffing.attendance_schemas import ShiftAttendance
from bpo.staffing.models import Staff
from bpo.staffing.roster import rule_shift

MONTH = re.compile(r"\d{4}-\d{2}")

TIMESHEET_COLUMNS = (
    "date",
    "contract_code",
    "contract_name",
    "planned_start",
    "planned_end",
    "clock_in",
    "clock_out",
    "status",
    "regular_hours",
    "overtime_hours",
    "holiday_hours",
    "night_hours",
    "total_hours",
    "late_minutes",
    "early_leave_minutes",
    "break_minutes",
)


@dataclass(frozen=True)
class TimesheetRow:
    day: date
    contract_code: str
    contract_name: str
    attendance: ShiftAttendance
    paid: timekeeping.PaidTime


@dataclass(frozen=True)
class Timesheet:
    staff_id: uuid.UUID
    staff_code: str | None
    display_name: str
    time_zone: str
    month: date
    rows: list[TimesheetRow]

    @property
    def total(self) -> timekeeping.PaidTime:
        return sum((row.paid for row in self.rows), timekeeping.PaidTime())


def parse_month(value: str, field: str = "month") -> date:
    try:
        if not MONTH.fullmatch(value):
            raise ValueError(value)
        month = datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise Invalid(
            f"{field}: a month like 2026-11", errors=[field_error(field, "a month like 2026-11")]
        ) from None
    raise_if(date_errors((field, month)))
    return month


def _public_holidays(country: str, years: Iterable[int]) -> frozenset[date]:
    try:
        return japanese_holidays(years, country=country)
    except NotImplementedError:
        return frozenset()


async def timesheet(
    session: AsyncSession, scope: Scope, staff: Staff, month: date, now: datetime | None = None
) -> Timesheet:
    """A person's shifts starting in the month (on their own clock), with their paid time split for payroll;
    public holidays are those of the person's country."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(staff.home_zone)
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    # From the Monday of the first week: its earlier days count towards the week's 40 hours.
    monday = first - timedelta(days=first.weekday())
    lower = datetime.combine(monday, time(), tzinfo=zone).astimezone(UTC)
    upper = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    worked = await worked_between(session, scope, lower, upper, staff_id=staff.id)
    holidays = _public_holidays(staff.country, range(first.year - 1, first.year + 2))
    labels: dict[uuid.UUID, tuple[str, str]] = {}
    rows = []
    day_worked: dict[date, int] = defaultdict(int)
    for item in worked:
        contract_id = item.shift.contract_id
        if contract_id not in labels:
            contract = await contracts.get_contract_row(session, scope, contract_id)
            labels[contract_id] = (contract.code, contract.name)
        view = shift_attendance(item, zone, now)
        day = view.planned_start.date()
        paid = timekeeping.split_paid(
            item.shift.starts_at,
            item.shift.ends_at,
            item.punches,
            now,
            zone,
            holidays.__contains__,
            break_seconds=rule_shift(item.shift).break_seconds,
            worked_before=day_worked[day],
        )
        day_worked[day] += paid.regular + paid.overtime
        rows.append(TimesheetRow(day, *labels[contract_id], view, paid))
    by_week: dict[date, list[int]] = defaultdict(list)
    for position, row in enumerate(rows):
        by_week[row.day - timedelta(days=row.day.weekday())].append(position)
    for positions in by_week.values():
        moved = timekeeping.weekly_overtime(rows[i].paid.regular for i in positions)
        for i, seconds in zip(positions, moved, strict=True):
            if seconds:
                paid = rows[i].paid
                rows[i] = replace(
                    rows[i],
                    paid=replace(paid, regular=paid.regular - seconds, overtime=paid.overtime + seconds),
                )
    shown = [row for row in rows if row.day >= first]
    return Timesheet(staff.id, staff.code, staff.display_name, zone.key, first, shown)


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.2f}"


def _local(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def timesheet_csv(sheet: Timesheet) -> str:
    """One row per shift and a total; times on the person's clock, hours with two decimals. UTF-8 with a
    byte-order mark, which spreadsheet programs need to read Japanese."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TIMESHEET_COLUMNS)
    for row in sheet.rows:
        view = row.attendance
        writer.writerow(
            [
                row.day.isoformat(),
                row.contract_code,
                row.contract_name,
                _local(view.planned_start),
                _local(view.planned_end),
                _local(view.clock_in),
                _local(view.clock_out),
                view.status.value,
                _hours(row.paid.regular),
                _hours(row.paid.overtime),
                _hours(row.paid.holiday),
                _hours(row.paid.night),
                _hours(row.paid.total),
                "" if view.late_minutes is None else view.late_minutes,
                view.early_leave_minutes,
                row.paid.unpaid_break // 60,
            ]
        )
    total = sheet.total
    writer.writerow(
        [
            "total", "", "", "", "", "", "", "",
            _hours(total.regular), _hours(total.overtime), _hours(total.holiday), _hours(total.night),
            _hours(total.total),
            sum(row.attendance.late_minutes or 0 for row in sheet.rows),
            sum(row.attendance.early_leave_minutes for row in sheet.rows),
            total.unpaid_break // 60,
        ]
    )  # fmt: skip
    return buffer.getvalue()


def timesheet_filename(sheet: Timesheet) -> str:
    who = sheet.staff_code or str(sheet.staff_id)
    return f"timesheet-{who}-{sheet.month:%Y-%m}.csv"
