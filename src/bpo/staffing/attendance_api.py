"""Attendance routes: clocking in and out of one's own shifts, one's attendance and timesheet; punches
from client and site systems; supervisors' attendance report, corrections and timesheets."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from bpo.core.guards import INGESTERS, OPERATORS, WORKFORCE
from bpo.core.http import Caller, Session
from bpo.staffing import attendance, punches, selfservice, timesheet
from bpo.staffing import service as staffing
from bpo.staffing.attendance_schemas import (
    AttendanceBatchResult,
    AttendanceCorrection,
    AttendanceEventBatch,
    AttendanceEventKind,
    AttendanceReport,
    MyAttendance,
    ShiftAttendance,
)

FromDay = Annotated[date | None, QueryParameter(name="from", description="First local day (inclusive).")]
ToDay = Annotated[date | None, QueryParameter(description="Last local day (inclusive).")]
Month = Annotated[str, QueryParameter(max_length=16, description="The month, e.g. 2026-11.")]
CLOCK_409 = (
    "409 when it is not the time: clock-in opens 60 minutes before the shift starts and closes when it "
    "ends, clock-out closes 8 hours after its planned end (`outside-clock-window`, the detail saying "
    "when); when already done (`already-clocked-in`, `already-clocked-out`); or before clocking in "
    "(`not-clocked-in`). A shift you do not work is a 404."
)
CSV_HEADERS = "text/csv; charset=utf-8"


def _csv(sheet: timesheet.Timesheet) -> Response[str]:
    return Response(
        timesheet.timesheet_csv(sheet),
        media_type=CSV_HEADERS,
        headers={"Content-Disposition": f'attachment; filename="{timesheet.timesheet_filename(sheet)}"'},
    )


class MyAttendanceController(Controller):
    path = "/v1/me"
    tags = ["attendance"]
    guards = [WORKFORCE]

    @post(
        "/shifts/{shift_id:uuid}/clock-in",
        status_code=HTTP_201_CREATED,
        summary="Clock in to one of your shifts, now",
        description=CLOCK_409,
    )
    async def clock_in(
        self, session: Session, caller: Caller, shift_id: FromPath[uuid.UUID]
    ) -> ShiftAttendance:
        return await punches.clock(session, caller, shift_id, AttendanceEventKind.CLOCK_IN)

    @post(
        "/shifts/{shift_id:uuid}/clock-out",
        status_code=HTTP_201_CREATED,
        summary="Clock out of one of your shifts, now",
        description=CLOCK_409,
    )
    async def clock_out(
        self, session: Session, caller: Caller, shift_id: FromPath[uuid.UUID]
    ) -> ShiftAttendance:
        return await punches.clock(session, caller, shift_id, AttendanceEventKind.CLOCK_OUT)

    @get(
        "/attendance",
        summary="Your attendance: your shifts with their punches, lateness, overtime and adherence",
        description="Local days of your home zone; the four weeks up to today by default, at most 93 days.",
    )
    async def my_attendance(
        self, session: Session, caller: Caller, from_: FromDay = None, to: ToDay = None
    ) -> MyAttendance:
        return await attendance.my_attendance(session, caller, from_, to)

    @get(
        "/timesheet.csv",
        summary="Your timesheet for a month as CSV: regular, overtime, holiday and night hours per shift",
        media_type="text/csv",
    )
    async def my_timesheet(self, session: Session, caller: Caller, month: Month) -> Response[str]:
        me = await selfservice.staff_of(session, caller)
        return _csv(await timesheet.timesheet(session, caller, me, timesheet.parse_month(month)))


class AttendanceController(Controller):
    path = "/v1/attendance"
    tags = ["attendance"]

    @get(
        "",
        guards=[OPERATORS],
        summary="A contract's attendance over local days: every person on every shift, and adherence",
        description=(
            "Shifts starting on the local days `from` to `to` (the contract calendar's zone, at most 93 "
            "days): late, early leave, absent and overtime per shift, adherence per person and for the "
            "contract (scheduled time the people were clocked in, over the shifts that have ended)."
        ),
    )
    async def contract_attendance(
        self,
        session: Session,
        caller: Caller,
        contract: Annotated[uuid.UUID, QueryParameter(description="The contract.")],
        first: Annotated[date, QueryParameter(name="from", description="First local day (inclusive).")],
        last: Annotated[date, QueryParameter(name="to", description="Last local day (inclusive).")],
        staff_id: Annotated[uuid.UUID | None, QueryParameter(description="One person only.")] = None,
    ) -> AttendanceReport:
        return await attendance.contract_attendance(session, caller, contract, first, last, staff_id=staff_id)

    @post(
        "/events",
        guards=[INGESTERS],
        status_code=HTTP_200_OK,
        summary="Punches from a client's or site's system (up to 1,000; idempotent per person, shift, kind)",
        description=(
            "Each event names a shift, the person (`staff_id` or `staff_code`) assigned to it, `clock_in` or "
            "`clock_out`, and when. Any invalid event rejects the batch, naming each one, and nothing is "
            "written. Sending an event again changes nothing; a new time replaces one recorded by the "
            "person or an earlier import, never a supervisor's correction (counted as `kept`). An API key "
            "sends punches for its own client's (or contract's) shifts only."
        ),
    )
    async def import_events(
        self, session: Session, caller: Caller, data: JSONBody[AttendanceEventBatch]
    ) -> AttendanceBatchResult:
        return await punches.import_events(session, caller, data)


class AttendanceCorrectionController(Controller):
    path = "/v1/shifts/{shift_id:uuid}/attendance/{staff_id:uuid}"
    tags = ["attendance"]
    guards = [OPERATORS]

    @put(
        "",
        summary="Correct a person's punches on a shift, with a reason (audited)",
        description=(
            "`clock_in` / `clock_out`: a time sets it, null clears it, leaving it out keeps it. The audit "
            "log keeps the reason and what the punches were and became; imports no longer change a "
            "corrected punch."
        ),
    )
    async def correct(
        self,
        session: Session,
        caller: Caller,
        shift_id: FromPath[uuid.UUID],
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[AttendanceCorrection],
    ) -> ShiftAttendance:
        return await punches.correct(session, caller, shift_id, staff_id, data)


class StaffTimesheetController(Controller):
    path = "/v1/staff/{staff_id:uuid}/timesheet.csv"
    tags = ["attendance"]
    guards = [OPERATORS]

    @get(
        "",
        summary="A person's timesheet for a month as CSV, for payroll",
        description=(
            "One row per shift starting in the month (the person's own clock) and a total: regular, overtime "
            "(after the planned end), holiday (public holidays of the person's country) and night hours "
            "(22:00-05:00, counted among the others), with lateness and early leaves."
        ),
        media_type="text/csv",
    )
    async def staff_timesheet(
        self, session: Session, caller: Caller, staff_id: FromPath[uuid.UUID], month: Month
    ) -> Response[str]:
        staff = await staffing.get_staff_row(session, caller, staff_id)
        return _csv(await timesheet.timesheet(session, caller, staff, timesheet.parse_month(month)))


ROUTES: list[ControllerRouterHandler] = [
    MyAttendanceController,
    AttendanceController,
    AttendanceCorrectionController,
    StaffTimesheetController,
]
