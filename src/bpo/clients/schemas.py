"""Onboarding types: shared by the REST API and the declarative manifests (``tenants/<slug>.yaml``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from bpo.core.i18n import Language
from bpo.core.types import (
    Clock,
    Code,
    Currency,
    Days,
    Label,
    Labels,
    MinorUnits,
    Name,
    Percent,
    Strict,
    Text,
    TimeZone,
)

# --- bounds -------------------------------------------------------------------------------------
# What measurement and billing can take. A value past them is refused with the field's path; one stored
# by an older release is still read (``stored``), fails the jobs of its own contract only, and its
# version can be corrected or deleted (PUT / DELETE of the version).

# The longest SLA duration (thresholds, checkpoints, forecast targets): a year, leap day included.
MAX_DURATION_DAYS = 366
MAX_DURATION_SECONDS = MAX_DURATION_DAYS * 86_400
# Dates of versions and billing periods: from FIRST_DATE to YEARS_AHEAD years after the tenant's today.
FIRST_DATE = date(2000, 1, 1)
YEARS_AHEAD = 5
MAX_OBJECTIVES = 50
MAX_CHECKPOINTS = 24
MAX_FILTER_VALUES = 50
MAX_CHARGES = 50
MAX_TIERS = 50
MAX_SERVICE_CREDITS = 20
# Units in a month, and in a package: far past any contract's volume, and a price times them stays in
# the 64-bit integers invoices are stored in only if the price is sane too (rating checks the result).
MAX_UNITS = 10**12

# Days, hours, minutes and seconds with at most as many digits as 366 days takes in each; the total is
# checked against MAX_DURATION_DAYS by ``rules.check_duration``.
ObjectiveDuration = Annotated[
    str,
    msgspec.Meta(
        max_length=25,
        pattern=r"^(?=\d)(\d{1,3}d)?(\d{1,4}h)?(\d{1,6}m)?(\d{1,8}s)?(?!\n)$",
        description=(
            f"Days, hours, minutes and seconds, largest first; at most {MAX_DURATION_DAYS} days "
            f"({MAX_DURATION_DAYS}d) in all"
        ),
        examples=["45s", "30m", "8h", "1h30m", "2d"],
        extra={"expected": f"a duration like 45s, 30m, 8h, 1h30m or 2d, at most {MAX_DURATION_DAYS}d"},
    ),
]
VersionDate = Annotated[
    date,
    msgspec.Meta(
        description=(
            f"From {FIRST_DATE} to {YEARS_AHEAD} years after today (the tenant's date); once the contract is "
            "live, no earlier than the current month's first day and after the latest version"
        )
    ),
]
FilterValues = Annotated[list[Label], msgspec.Meta(max_length=MAX_FILTER_VALUES)]


class WorkType(StrEnum):
    PATROL = "patrol"
    REVIEW = "review"
    ACTIVE_SUPPORT = "active_support"
    EMAIL_SUPPORT = "email_support"
    CHAT_SUPPORT = "chat_support"
    VIOLATION_REPORTS = "violation_reports"
    AD_TRAFFICKING = "ad_trafficking"
    VOICE_REPORTING = "voice_reporting"


class ContractStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class StaffingMode(StrEnum):
    ONSITE = "onsite"
    REMOTE = "remote"
    HYBRID = "hybrid"


class BillableEvent(StrEnum):
    RECEIVED = "received"
    FIRST_RESPONSE = "first_response"
    RESOLVED = "resolved"


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
    COVERAGE = "coverage"


class SlaClock(StrEnum):
    CALENDAR = "calendar"
    BUSINESS_HOURS = "business_hours"


class TaxClass(StrEnum):
    """How consumption tax applies: to a client's invoice lines, or to one charge's lines."""

    # 標準税率 (10%, the tenant's rate).
    STANDARD = "standard"
    # 軽減税率 (8%).
    REDUCED = "reduced"
    # 不課税: no consumption tax, e.g. services to an overseas client.
    EXEMPT = "exempt"


class MeterMeasure(StrEnum):
    # The sum of the matching items' units.
    UNITS = "units"
    # How many items match.
    ITEMS = "items"


class SurchargeWindow(StrEnum):
    # Items received between ``start`` and ``end`` (22:00-29:00 by default) local time of the contract's
    # calendar.
    NIGHT = "night"
    # Items received on a public holiday (the calendar's, or ``holiday_country``'s).
    HOLIDAY = "holiday"


class CoverageBasis(StrEnum):
    """What the coverage objective measures: assigned shifts (planned) or the attendance recorded on them
    (actual: clock-in to clock-out)."""

    PLANNED = "planned"
    ACTUAL = "actual"


class OpenShiftApproval(StrEnum):
    """Who puts a staff member who claims an open shift on it: a supervisor, or nobody (at once)."""

    SUPERVISOR = "supervisor"
    AUTO = "auto"


# --- value objects --------------------------------------------------------------------------


class TimeRange(Strict):
    start: Clock
    end: Clock


class WindowSpec(Strict):
    days: Days
    start: Clock
    end: Clock


class ExceptionSpec(Strict):
    date: date
    windows: Annotated[list[TimeRange], msgspec.Meta(max_length=MAX_WINDOWS)] = []
    note: Text = ""


class CoverageLine(Strict):
    days: Days
    start: Clock
    end: Clock
    headcount: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    skills: Labels = []
    languages: Labels = []


# Windows of a calendar or an availability, a calendar's exceptions and a contract's coverage lines.
MAX_WINDOWS = 100
MAX_EXCEPTIONS = 1_000
MAX_COVERAGE_LINES = 200
Windows = Annotated[list[WindowSpec], msgspec.Meta(max_length=MAX_WINDOWS)]
Exceptions = Annotated[list[ExceptionSpec], msgspec.Meta(max_length=MAX_EXCEPTIONS)]
CoverageLines = Annotated[list[CoverageLine], msgspec.Meta(max_length=MAX_COVERAGE_LINES)]


class Objective(Strict):
    metric: Metric
    target_percent: Percent
    threshold: ObjectiveDuration | None = None
    clock: SlaClock = SlaClock.BUSINESS_HOURS
    checkpoints: Annotated[list[ObjectiveDuration], msgspec.Meta(max_length=MAX_CHECKPOINTS)] = []
    priorities: FilterValues = []
    channels: FilterValues = []
    at_risk_percent: Annotated[int, msgspec.Meta(ge=1, le=99)] = 80
    # Coverage objectives only; null: actual when attendance was recorded in the period, else planned.
    basis: CoverageBasis | None = None


Units = Annotated[int, msgspec.Meta(ge=1, le=MAX_UNITS)]


class Tier(Strict):
    up_to: Units | None
    unit_price: MinorUnits


# Which meter of the rate plan version a usage charge rates; left out, the contract's billable event.
MeterCode = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(?!\n)$",
        description="The code of one of the version's meters; the contract's billable event if left out",
        examples=["posts", "images"],
        extra={"expected": "the code of a meter of this rate plan version"},
    ),
]
# A charge's own tax class; left out, its client's.
ChargeTaxClass = Annotated[
    TaxClass,
    msgspec.Meta(description="The charge's consumption tax class; the client's if left out"),
]


class PerUnitCharge(Strict, tag="per_unit", tag_field="kind"):
    code: Code
    name: Name
    unit_price: MinorUnits
    unit: Label = "item"
    meter: MeterCode | None = None
    tax_class: ChargeTaxClass | None = None


Tiers = Annotated[list[Tier], msgspec.Meta(max_length=MAX_TIERS)]


class GraduatedCharge(Strict, tag="graduated", tag_field="kind"):
    code: Code
    name: Name
    tiers: Tiers
    unit: Label = "item"
    meter: MeterCode | None = None
    tax_class: ChargeTaxClass | None = None


class VolumeCharge(Strict, tag="volume", tag_field="kind"):
    code: Code
    name: Name
    tiers: Tiers
    unit: Label = "item"
    meter: MeterCode | None = None
    tax_class: ChargeTaxClass | None = None


class PackageCharge(Strict, tag="package", tag_field="kind"):
    code: Code
    name: Name
    package_size: Units
    package_price: MinorUnits
    unit: Label = "item"
    meter: MeterCode | None = None
    tax_class: ChargeTaxClass | None = None


class FixedMonthlyCharge(Strict, tag="fixed_monthly", tag_field="kind"):
    code: Code
    name: Name
    amount: MinorUnits
    tax_class: ChargeTaxClass | None = None


class PersonMonthCharge(Strict, tag="person_month", tag_field="kind"):
    code: Code
    name: Name
    headcount: Annotated[float, msgspec.Meta(gt=0, le=10_000)]
    monthly_fee: MinorUnits
    tax_class: ChargeTaxClass | None = None


Charge = (
    PerUnitCharge | GraduatedCharge | VolumeCharge | PackageCharge | FixedMonthlyCharge | PersonMonthCharge
)
UsageCharge = PerUnitCharge | GraduatedCharge | VolumeCharge | PackageCharge
USAGE_CHARGES = (PerUnitCharge, GraduatedCharge, VolumeCharge, PackageCharge)


class Meter(Strict):
    """What a usage charge counts: the contract's work items whose ``event`` happened in the period,
    those of the listed kinds, channels and outcomes (any of each list; an empty list: all), summing their
    units or counting them."""

    code: Code
    name: Name
    event: (
        Annotated[
            BillableEvent,
            msgspec.Meta(description="When an item counts; the contract's billable event if left out"),
        ]
        | None
    ) = None
    kinds: FilterValues = []
    channels: FilterValues = []
    outcomes: FilterValues = []
    measure: MeterMeasure = MeterMeasure.UNITS


# Whose public holidays a holiday surcharge follows, when not its contract's calendar's.
SurchargeCountry = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=2,
        pattern=r"^[A-Z]{2}(?!\n)$",
        description="Whose public holidays count (ISO 3166-1); the contract calendar's if left out",
        examples=["JP"],
        extra={"expected": "a country code like JP"},
    ),
]


class Surcharge(Strict):
    """More for the items of ``charges`` received at night or on a holiday, shown as lines of their own:
    ``multiplier`` times the charge's unit price (the extra part: 1.25 adds 25%; per-unit and volume
    charges), or ``unit_price`` more per unit. An item both at night and on a holiday pays both."""

    code: Code
    name: Name
    window: SurchargeWindow
    charges: Annotated[
        list[Code],
        msgspec.Meta(
            min_length=1, max_length=MAX_CHARGES, description="Codes of the usage charges it adds to"
        ),
    ]
    start: Annotated[Clock, msgspec.Meta(description="Night only: from (22:00 if left out)")] | None = None
    end: (
        Annotated[Clock, msgspec.Meta(description='Night only: until, "29:00" being 05:00 (the default)')]
        | None
    ) = None
    holiday_country: SurchargeCountry | None = None
    multiplier: Annotated[float, msgspec.Meta(gt=1, le=10, examples=[1.25])] | None = None
    unit_price: MinorUnits | None = None


class ServiceCredit(Strict):
    """When attainment of ``metric`` (any objective when null) falls below ``below_percent``,
    ``credit_percent`` of the contract's charges for the month is credited."""

    below_percent: Percent
    credit_percent: Percent
    metric: Metric | None = None


# --- SLA policies and rate plans (versioned) ------------------------------------------------


Objectives = Annotated[list[Objective], msgspec.Meta(max_length=MAX_OBJECTIVES)]


class SlaPolicyCreate(Strict):
    effective_from: VersionDate
    objectives: Objectives


class SlaPolicyReplace(Strict):
    """A version's objectives, corrected in place (its date stays)."""

    objectives: Objectives


class SlaPolicy(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    effective_from: date
    effective_to: date | None
    objectives: list[Objective]
    created_at: datetime


Charges = Annotated[list[Charge], msgspec.Meta(max_length=MAX_CHARGES)]
ServiceCredits = Annotated[list[ServiceCredit], msgspec.Meta(max_length=MAX_SERVICE_CREDITS)]
MAX_METERS = 20
MAX_SURCHARGES = 20
Meters = Annotated[list[Meter], msgspec.Meta(max_length=MAX_METERS)]
Surcharges = Annotated[list[Surcharge], msgspec.Meta(max_length=MAX_SURCHARGES)]


class RatePlanCreate(Strict):
    effective_from: VersionDate
    currency: Currency
    charges: Charges
    minimum_commitment: MinorUnits | None = None
    service_credits: ServiceCredits = []
    meters: Meters = []
    surcharges: Surcharges = []


class RatePlanReplace(Strict):
    """A version's prices, corrected in place (its date stays)."""

    currency: Currency
    charges: Charges
    minimum_commitment: MinorUnits | None = None
    service_credits: ServiceCredits = []
    meters: Meters = []
    surcharges: Surcharges = []


class RatePlan(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    effective_from: date
    effective_to: date | None
    currency: str
    charges: list[Charge]
    minimum_commitment: int | None
    service_credits: list[ServiceCredit]
    meters: list[Meter]
    surcharges: list[Surcharge]
    created_at: datetime


# --- sites -----------------------------------------------------------------------------------


class SiteCreate(Strict):
    code: Code
    name: Name
    kind: Literal["own", "client"]
    time_zone: TimeZone
    client_id: uuid.UUID | None = None
    address: Text = ""
    seat_capacity: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None


class SiteUpdate(Strict):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    address: Text | msgspec.UnsetType = msgspec.UNSET
    seat_capacity: Annotated[int, msgspec.Meta(ge=0, le=100000)] | msgspec.UnsetType | None = msgspec.UNSET


class Site(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str
    kind: str
    client_id: uuid.UUID | None
    time_zone: str
    address: str
    seat_capacity: int | None
    status: str


# --- calendars -------------------------------------------------------------------------------


# A calendar closed on no public holidays says so: "none" (or null); left out, it follows Japan's.
NO_HOLIDAYS = "none"
HolidayCountry = Annotated[
    str,
    msgspec.Meta(
        max_length=4,
        pattern=r"^(?:[A-Z]{2}|none)(?!\n)$",
        description='Whose public holidays close the calendar (ISO 3166-1 alpha-2; only JP is known); "none" '
        "or null: open on holidays like on any other day",
        examples=["JP", "none"],
        extra={"expected": 'a country code like JP, or "none" for no holidays'},
    ),
]


class CalendarCreate(Strict):
    code: Code
    name: Name
    time_zone: TimeZone
    windows: Windows
    holiday_country: HolidayCountry | None = "JP"
    holiday_subdivision: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    exceptions: Exceptions = []

    def __post_init__(self) -> None:
        if self.holiday_country == NO_HOLIDAYS:
            self.holiday_country = None


class CalendarUpdate(Strict):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    windows: Windows | msgspec.UnsetType = msgspec.UNSET
    holiday_country: HolidayCountry | msgspec.UnsetType | None = msgspec.UNSET
    holiday_subdivision: Annotated[str, msgspec.Meta(max_length=16)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    exceptions: Exceptions | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.holiday_country == NO_HOLIDAYS:
            self.holiday_country = None


class Calendar(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str
    time_zone: str
    windows: list[WindowSpec]
    holiday_country: str | None
    holiday_subdivision: str | None
    exceptions: list[ExceptionSpec]
    status: str


class OpenInterval(msgspec.Struct):
    start: datetime
    end: datetime


# --- clients and services --------------------------------------------------------------------

ClosingDay = (
    Annotated[int, msgspec.Meta(ge=1, le=31, description="1-28, or 31 for the month end")]
    | Literal["end_of_month"]
)


def _month_end_as_31(struct: msgspec.Struct) -> None:
    # "end_of_month" is stored, and returned, as 31: the API's integer stays what clients already read.
    for name in ("closing_day", "payment_day"):
        if getattr(struct, name) == "end_of_month":
            setattr(struct, name, 31)


class ClientCreate(Strict):
    code: Code
    name: Name
    legal_name: Annotated[str, msgspec.Meta(max_length=300)] = ""
    billing_contact_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    billing_email: Annotated[str, msgspec.Meta(max_length=254)] = ""
    currency: Currency = "JPY"
    time_zone: TimeZone | None = None
    # What the client's people read (invoice mail, reports); null: the tenant's default language.
    language: Language | None = None
    closing_day: ClosingDay = 31
    payment_month_offset: Annotated[int, msgspec.Meta(ge=0, le=3)] = 1
    payment_day: ClosingDay = 31
    # exempt: no consumption tax on any line (不課税, e.g. an overseas client).
    tax_class: TaxClass = TaxClass.STANDARD

    def __post_init__(self) -> None:
        super().__post_init__()
        _month_end_as_31(self)


class ClientUpdate(Strict):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    legal_name: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    billing_contact_name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    billing_email: Annotated[str, msgspec.Meta(max_length=254)] | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType | None = msgspec.UNSET
    closing_day: ClosingDay | msgspec.UnsetType = msgspec.UNSET
    payment_month_offset: Annotated[int, msgspec.Meta(ge=0, le=3)] | msgspec.UnsetType = msgspec.UNSET
    payment_day: ClosingDay | msgspec.UnsetType = msgspec.UNSET
    tax_class: TaxClass | msgspec.UnsetType = msgspec.UNSET
    # The first day of the first period cut with the new closing_day (a period start of the old one).
    closing_day_from: date | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        super().__post_init__()
        _month_end_as_31(self)


class Client(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str
    legal_name: str
    billing_contact_name: str
    billing_email: str
    currency: str
    time_zone: str
    language: Language | None
    closing_day: int
    # The first day of the first period cut with ``closing_day``; null when it always applied.
    closing_day_from: date | None
    payment_month_offset: int
    payment_day: int
    payment_terms: str
    tax_class: TaxClass
    status: str
    created_at: datetime


class ServiceCreate(Strict):
    code: Code
    name: Name
    description: Text = ""


class ServiceUpdate(Strict):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET


class Service(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    code: str
    name: str
    description: str
    status: str


# --- contracts -------------------------------------------------------------------------------


class ContractCreate(Strict):
    service_id: uuid.UUID
    code: Code
    name: Name
    work_type: WorkType
    start_date: date
    calendar_id: uuid.UUID
    staffing_mode: StaffingMode = StaffingMode.REMOTE
    end_date: date | None = None
    site_id: uuid.UUID | None = None
    coverage: CoverageLines = []
    expected_monthly_volume: Annotated[int, msgspec.Meta(ge=0, le=MAX_UNITS)] | None = None
    billable_event: BillableEvent | None = None
    currency: Currency | None = None
    open_shift_approval: OpenShiftApproval = OpenShiftApproval.SUPERVISOR


class ContractUpdate(Strict):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    end_date: date | msgspec.UnsetType | None = msgspec.UNSET
    staffing_mode: StaffingMode | msgspec.UnsetType = msgspec.UNSET
    site_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    calendar_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    coverage: CoverageLines | msgspec.UnsetType = msgspec.UNSET
    expected_monthly_volume: Annotated[int, msgspec.Meta(ge=0, le=MAX_UNITS)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    billable_event: BillableEvent | msgspec.UnsetType = msgspec.UNSET
    open_shift_approval: OpenShiftApproval | msgspec.UnsetType = msgspec.UNSET


class ContractTransition(Strict):
    status: ContractStatus


class Contract(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    service_id: uuid.UUID
    code: str
    name: str
    work_type: str
    status: ContractStatus
    start_date: date
    end_date: date | None
    staffing_mode: StaffingMode
    site_id: uuid.UUID | None
    calendar_id: uuid.UUID
    coverage: list[CoverageLine]
    expected_monthly_volume: int | None
    billable_event: BillableEvent
    currency: str
    open_shift_approval: OpenShiftApproval
    created_at: datetime


class ClientPage(msgspec.Struct, kw_only=True):
    items: list[Client]
    next_cursor: str | None


class ServicePage(msgspec.Struct, kw_only=True):
    items: list[Service]
    next_cursor: str | None


class ContractPage(msgspec.Struct, kw_only=True):
    items: list[Contract]
    next_cursor: str | None


class SitePage(msgspec.Struct, kw_only=True):
    items: list[Site]
    next_cursor: str | None


class CalendarPage(msgspec.Struct, kw_only=True):
    items: list[Calendar]
    next_cursor: str | None
