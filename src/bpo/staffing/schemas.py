"""Staffing request and response types, shared by the REST API and tenant manifests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from bpo.clients.schemas import Windows, WindowSpec
from bpo.core.types import MAX_IDS, Code, Currency, Label, Labels, MinorUnits, Name, Strict, TimeZone

Country = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=2,
        pattern=r"^[A-Z]{2}(?!\n)$",
        description="ISO 3166-1 alpha-2, e.g. JP, GB, AR",
    ),
]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+(?!\n)$")
]
Hours = Annotated[float, msgspec.Meta(ge=0, le=168)]
BreakMinutes = Annotated[int, msgspec.Meta(ge=0, le=600)]
ConsecutiveDays = Annotated[int, msgspec.Meta(ge=1, le=366)]
OvertimeHours = Annotated[float, msgspec.Meta(ge=0, le=8784)]
Headcount = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    CONTRACTOR = "contractor"


class TimeOffStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ShiftStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class ShiftMode(StrEnum):
    ONSITE = "onsite"
    REMOTE = "remote"


class AssignmentSource(StrEnum):
    MANUAL = "manual"
    SOLVER = "solver"
    SWAP = "swap"
    # A staff member's claim of an open shift, approved.
    CLAIM = "claim"


class Proficiency(Strict):
    """A skill or language with a level from 1 (basic) to 5 (expert or native)."""

    name: Label
    level: Annotated[int, msgspec.Meta(ge=1, le=5)] = 3


class Money(Strict):
    amount: MinorUnits
    currency: Currency


# --- staff -----------------------------------------------------------------------------------


GivenName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


Proficiencies = Annotated[list[Proficiency], msgspec.Meta(max_length=50)]
Ids = Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_IDS)]


class StaffCreate(Strict):
    display_name: Name
    home_zone: TimeZone
    country: Country
    code: Code | None = None
    given_name: GivenName | None = None
    user_id: uuid.UUID | None = None
    email: Email | None = None
    employment_type: EmploymentType = EmploymentType.FULL_TIME
    skills: Proficiencies = []
    languages: Proficiencies = []
    site_ids: Ids = []
    # null: may work on every contract; a list: only on those.
    trained_contract_ids: Ids | None = None
    excluded_contract_ids: Ids = []
    weekly_hour_cap: Hours = 40
    contracted_hours: Hours | None = None
    hourly_cost: Money | None = None
    # Weekly windows in the home zone; null: available at any time.
    availability: Windows | None = None
    active: bool = True
    # Overrides of the tenant's labour limits (staffing settings); null: the tenant's.
    max_consecutive_days: ConsecutiveDays | None = None
    monthly_overtime_hours: OvertimeHours | None = None
    yearly_overtime_hours: OvertimeHours | None = None


class StaffUpdate(Strict):
    display_name: Name | msgspec.UnsetType = msgspec.UNSET
    given_name: GivenName | msgspec.UnsetType | None = msgspec.UNSET
    home_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    country: Country | msgspec.UnsetType = msgspec.UNSET
    code: Code | msgspec.UnsetType | None = msgspec.UNSET
    user_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    employment_type: EmploymentType | msgspec.UnsetType = msgspec.UNSET
    skills: Proficiencies | msgspec.UnsetType = msgspec.UNSET
    languages: Proficiencies | msgspec.UnsetType = msgspec.UNSET
    site_ids: Ids | msgspec.UnsetType = msgspec.UNSET
    trained_contract_ids: Ids | msgspec.UnsetType | None = msgspec.UNSET
    excluded_contract_ids: Ids | msgspec.UnsetType = msgspec.UNSET
    weekly_hour_cap: Hours | msgspec.UnsetType = msgspec.UNSET
    contracted_hours: Hours | msgspec.UnsetType | None = msgspec.UNSET
    hourly_cost: Money | msgspec.UnsetType | None = msgspec.UNSET
    availability: Windows | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    max_consecutive_days: ConsecutiveDays | msgspec.UnsetType | None = msgspec.UNSET
    monthly_overtime_hours: OvertimeHours | msgspec.UnsetType | None = msgspec.UNSET
    yearly_overtime_hours: OvertimeHours | msgspec.UnsetType | None = msgspec.UNSET


class Staff(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str | None
    user_id: uuid.UUID | None
    display_name: str
    given_name: str | None
    email: str | None
    employment_type: EmploymentType
    home_zone: str
    country: str
    skills: list[Proficiency]
    languages: list[Proficiency]
    site_ids: list[uuid.UUID]
    trained_contract_ids: list[uuid.UUID] | None
    excluded_contract_ids: list[uuid.UUID]
    weekly_hour_cap: float
    contracted_hours: float | None
    hourly_cost: Money | None
    availability: list[WindowSpec] | None
    active: bool
    max_consecutive_days: int | None
    monthly_overtime_hours: float | None
    yearly_overtime_hours: float | None
    created_at: datetime
    updated_at: datetime


class StaffPage(msgspec.Struct, kw_only=True):
    items: list[Staff]
    next_cursor: str | None


# --- time off --------------------------------------------------------------------------------


class TimeOffCreate(Strict):
    start: datetime
    end: datetime
    reason: Reason = ""


class TimeOff(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    staff_id: uuid.UUID
    start: datetime
    end: datetime
    reason: str
    status: TimeOffStatus
    requested_by: uuid.UUID | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    created_at: datetime


class TimeOffPage(msgspec.Struct, kw_only=True):
    items: list[TimeOff]
    next_cursor: str | None


# --- shifts ----------------------------------------------------------------------------------


class Period(Strict):
    """Local dates, both inclusive."""

    from_: date = msgspec.field(name="from")
    to: date


class PublishRequest(Strict):
    contract_id: uuid.UUID
    from_: date = msgspec.field(name="from")
    to: date


class GenerateRequest(Period):
    """Coverage lines longer than `max_shift_hours` are cut into the fewest equal shifts that fit."""

    max_shift_hours: Annotated[float, msgspec.Meta(ge=1, le=24)] = 9


class GenerateResult(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    from_: date = msgspec.field(name="from")
    to: date
    time_zone: str
    created: int
    existing: int


class PublishResult(msgspec.Struct, kw_only=True):
    published: int


class ShiftCreate(Strict):
    contract_id: uuid.UUID
    start: datetime
    end: datetime
    headcount: Headcount = 1
    skills: Labels = []
    languages: Labels = []
    # Default: the contract's staffing mode and site.
    mode: ShiftMode | None = None
    site_id: uuid.UUID | None = None
    # Unpaid break within the shift; null: the usual one for its length (none up to 6 h, 45 minutes up
    # to 8 h 45 min, else 60). At least 45 minutes once the working time exceeds 6 h, 60 once over 8 h.
    break_minutes: BreakMinutes | None = None


class ShiftUpdate(Strict):
    start: datetime | msgspec.UnsetType = msgspec.UNSET
    end: datetime | msgspec.UnsetType = msgspec.UNSET
    headcount: Headcount | msgspec.UnsetType = msgspec.UNSET
    skills: Labels | msgspec.UnsetType = msgspec.UNSET
    languages: Labels | msgspec.UnsetType = msgspec.UNSET
    mode: ShiftMode | msgspec.UnsetType = msgspec.UNSET
    site_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    status: ShiftStatus | msgspec.UnsetType = msgspec.UNSET
    break_minutes: BreakMinutes | msgspec.UnsetType | None = msgspec.UNSET


class Shift(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    start: datetime
    end: datetime
    # start and end on the wall clock of ``time_zone`` (the ``tz`` asked for, else UTC).
    time_zone: str
    local_start: datetime
    local_end: datetime
    mode: ShiftMode
    site_id: uuid.UUID | None
    headcount: int
    assigned: int
    staff_ids: list[uuid.UUID]
    skills: list[str]
    languages: list[str]
    status: ShiftStatus
    coverage_line: int | None
    published_at: datetime | None
    created_at: datetime
    # The break in effect (the stored one, else the usual one) and the working time it leaves.
    break_minutes: int
    break_default: bool
    worked_hours: float


class ShiftPage(msgspec.Struct, kw_only=True):
    items: list[Shift]
    next_cursor: str | None


# --- assignments -----------------------------------------------------------------------------


class AssignmentCreate(Strict):
    staff_id: uuid.UUID


class Assignment(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    shift_id: uuid.UUID
    staff_id: uuid.UUID
    contract_id: uuid.UUID
    start: datetime
    end: datetime
    source: AssignmentSource
    created_by: uuid.UUID | None
    created_at: datetime


class AssignmentPage(msgspec.Struct, kw_only=True):
    items: list[Assignment]
    next_cursor: str | None


class RuleViolation(msgspec.Struct, kw_only=True):
    """A broken hard rule: a ``rules.RuleCode`` value or ``headcount_full``."""

    code: str
    message: str
    conflicting_shift_id: uuid.UUID | None


# --- coverage --------------------------------------------------------------------------------


class CoverageInterval(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    required: int
    scheduled: int
    gap: bool
    required_staff_minutes: float
    staffed_staff_minutes: float


class CoverageTotals(msgspec.Struct, kw_only=True):
    required_staff_minutes: float
    staffed_staff_minutes: float
    coverage_minutes: float
    fully_staffed_minutes: float
    # Share of the minutes with a requirement that were staffed at the full required headcount.
    fully_staffed_share: float | None


class CoverageReport(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    from_: date = msgspec.field(name="from")
    to: date
    time_zone: str
    interval_minutes: int
    intervals: list[CoverageInterval]
    totals: CoverageTotals


# --- settings --------------------------------------------------------------------------------


class WeightsSpec(Strict):
    """Solver weights (``solver.Weights``): points per hour for coverage, follow the sun and fairness,
    per person-contract pairing for continuity, per 1,000 minor units for cost; night as clock minutes."""

    coverage: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1000
    follow_the_sun: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 50
    fairness: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 10
    continuity: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 100
    cost: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1
    night_start: Annotated[int, msgspec.Meta(ge=0, le=1439)] = 22 * 60
    night_end: Annotated[int, msgspec.Meta(ge=1, le=2879)] = 30 * 60


class StaffingSettings(Strict):
    """Hard-rule settings (each person may override the labour limits) and solver weights."""

    min_rest_hours: Annotated[float, msgspec.Meta(ge=0, le=48)] = 11
    max_consecutive_days: ConsecutiveDays = 6
    # A 36協定's limits on overtime (time beyond 8 h a day and 40 h a week).
    monthly_overtime_hours: OvertimeHours = 45
    yearly_overtime_hours: OvertimeHours = 360
    overtime_year_start_month: Annotated[int, msgspec.Meta(ge=1, le=12)] = 4
    weights: WeightsSpec = msgspec.field(default_factory=WeightsSpec)
