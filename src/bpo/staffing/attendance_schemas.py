"""Request and response types of attendance: clocking in and out, imported punches, supervisors'
corrections, the attendance report and adherence."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from bpo.core.types import Code, Strict
from bpo.staffing.timekeeping import AttendanceStatus

MAX_EVENTS = 1_000
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class AttendanceEventKind(StrEnum):
    CLOCK_IN = "clock_in"
    CLOCK_OUT = "clock_out"


class AttendanceSource(StrEnum):
    # The person, on their page or through the API.
    STAFF = "staff"
    # A client's or site's system (badge readers, time clocks), through an API key.
    IMPORT = "import"
    # A supervisor, with a reason.
    CORRECTION = "correction"


class ShiftAttendance(msgspec.Struct, kw_only=True):
    """One person on one shift: the plan, their punches and what they say."""

    shift_id: uuid.UUID
    staff_id: uuid.UUID
    staff_name: str
    contract_id: uuid.UUID
    # On the wall clock of the listing's time zone.
    planned_start: datetime
    planned_end: datetime
    clock_in: datetime | None
    clock_out: datetime | None
    clock_in_source: AttendanceSource | None
    clock_out_source: AttendanceSource | None
    status: AttendanceStatus
    # Null while there is no clock-in.
    late_minutes: int | None
    early_leave_minutes: int
    overtime_minutes: int
    # Paid time: from the clock-in (not before the start) to the clock-out (the planned end when missing).
    worked_minutes: int
    # A supervisor changed a punch.
    corrected: bool


class PersonAdherence(msgspec.Struct, kw_only=True):
    """A person's attendance over the shifts of the period that have ended."""

    staff_id: uuid.UUID
    staff_name: str
    shifts: int
    scheduled_minutes: float
    # Scheduled time the person was there (clocked in).
    adhered_minutes: float
    # Null while none of the period's shifts has ended.
    adherence_percent: float | None
    late: int
    late_minutes: int
    early_leave_minutes: int
    overtime_minutes: int
    absences: int


class AttendanceReport(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    # The contract calendar's zone: the period's local days and every time shown.
    time_zone: str
    from_: date = msgspec.field(name="from")
    to: date
    scheduled_minutes: float
    adhered_minutes: float
    adherence_percent: float | None
    people: list[PersonAdherence]
    shifts: list[ShiftAttendance]


class MyAttendance(msgspec.Struct, kw_only=True):
    staff_id: uuid.UUID
    time_zone: str
    from_: date = msgspec.field(name="from")
    to: date
    adherence: PersonAdherence
    items: list[ShiftAttendance]


class AttendanceEventIn(Strict):
    """A punch from a client's or site's system: the person by id or employee code, one per person,
    shift and kind (sending it again changes nothing; a new time replaces the one recorded)."""

    shift_id: uuid.UUID
    kind: AttendanceEventKind
    at: datetime
    staff_id: uuid.UUID | None = None
    staff_code: Code | None = None


class AttendanceEventBatch(Strict):
    events: Annotated[list[AttendanceEventIn], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class AttendanceBatchResult(msgspec.Struct, kw_only=True):
    created: int
    updated: int
    unchanged: int
    # Punches a supervisor corrected: an import no longer changes them.
    kept: int


class AttendanceCorrection(Strict):
    """Set (a time), clear (null) or leave (absent) each punch; the reason is kept in the audit log."""

    reason: Reason
    clock_in: datetime | msgspec.UnsetType | None = msgspec.UNSET
    clock_out: datetime | msgspec.UnsetType | None = msgspec.UNSET
