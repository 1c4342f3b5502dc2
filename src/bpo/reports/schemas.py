"""What the report API takes and returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from bpo.core.i18n import Language
from bpo.core.types import Strict, TimeZone
from bpo.tenancy.schemas import Email

Cadence = Literal["weekly", "monthly"]
MAX_RECIPIENTS = 50
MAX_CONTRACTS = 200
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7, description="ISO weekday: 1 = Monday to 7 = Sunday")]
DayOfMonth = Annotated[int, msgspec.Meta(ge=1, le=28, description="Day of the month, 1 to 28")]
Recipients = Annotated[
    list[Email], msgspec.Meta(max_length=MAX_RECIPIENTS, description="Addresses beyond the client's viewers")
]
ContractIds = Annotated[
    list[uuid.UUID],
    msgspec.Meta(
        max_length=MAX_CONTRACTS, description="The contracts reported on; empty: all of the client's"
    ),
]
LocalTime = Annotated[
    str,
    msgspec.Meta(
        min_length=5,
        max_length=5,
        pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d(?!\n)$",
        examples=["09:00"],
        description="Local time of day the report goes, HH:MM",
    ),
]
PeriodText = Annotated[
    str,
    msgspec.Meta(
        min_length=7,
        max_length=8,
        examples=["2026-W48", "2026-11"],
        pattern=r"^\d{4}-(?:W\d{2}|\d{2})(?!\n)$",
    ),
]


class SubscriptionCreate(Strict):
    cadence: Cadence
    send_at: LocalTime
    weekday: Weekday | None = None
    day_of_month: DayOfMonth | None = None
    time_zone: Annotated[TimeZone, msgspec.Meta(description="IANA zone; the client's if left out")] | None = (
        None
    )
    language: (
        Annotated[Language, msgspec.Meta(description="ja or en; the tenant's default if left out")] | None
    ) = None
    include_viewers: bool = True
    extra_recipients: Recipients = []
    contract_ids: ContractIds = []
    active: bool = True


class SubscriptionUpdate(Strict):
    weekday: Weekday | msgspec.UnsetType | None = msgspec.UNSET
    day_of_month: DayOfMonth | msgspec.UnsetType | None = msgspec.UNSET
    send_at: LocalTime | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    include_viewers: bool | msgspec.UnsetType = msgspec.UNSET
    extra_recipients: Recipients | msgspec.UnsetType = msgspec.UNSET
    contract_ids: ContractIds | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class Subscription(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    cadence: Cadence
    weekday: int | None
    day_of_month: int | None
    send_at: str
    time_zone: str
    language: Language
    include_viewers: bool
    extra_recipients: list[str]
    contract_ids: list[uuid.UUID]
    active: bool
    # When the next report goes, in the subscription's zone (null while paused).
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReportRun(Strict):
    """Make (or make again) one client's report for a period now: a back-fill or a correction."""

    client_id: uuid.UUID
    period: PeriodText
    send: Annotated[bool, msgspec.Meta(description="Mail it to the recipients (each at most once)")] = True


class ObjectiveLine(msgspec.Struct, kw_only=True):
    key: str
    metric: str
    threshold: str | None
    clock: str
    target_percent: float
    attainment: float | None
    previous_attainment: float | None
    met: int
    breached: int
    pending: int
    status: Literal["green", "amber", "red"] | None
    # The exact mean time to the answer in the objective's clock (null without answered items).
    mean_ms: int | None = None


class CsatLine(msgspec.Struct, kw_only=True):
    """CSAT ratings (1-5) of the period's items: ``score`` is the percentage of 4 and 5."""

    responses: int
    satisfied: int
    score: float | None
    mean: float | None
    previous_score: float | None = None


class NpsLine(msgspec.Struct, kw_only=True):
    """The period's NPS survey answers: ``score`` is % promoters (9-10) - % detractors (0-6)."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    score: float | None
    previous_score: float | None = None


class DayLine(msgspec.Struct, kw_only=True):
    day: date
    received: int
    resolved: int


class VoiceCategoryLine(msgspec.Struct, kw_only=True):
    """How many users' voices of one category the period gathered, against the period before."""

    # None: voices not yet given a category.
    key: str | None
    label_ja: str
    label_en: str
    total: int
    previous_total: int
    positive: int
    neutral: int
    negative: int
    trend: Literal["up", "down", "flat"]


class VoiceQuote(msgspec.Struct, kw_only=True):
    """A highlighted voice, quoted."""

    text: str
    observed_at: datetime
    category_ja: str | None
    category_en: str | None
    sentiment: Literal["positive", "neutral", "negative"] | None
    channel: str | None
    source_url: str | None


class VoiceDigest(msgspec.Struct, kw_only=True):
    """The users' voices of a contract's period: counts by category and sentiment, the highlighted ones."""

    total: int
    previous_total: int
    positive: int
    neutral: int
    negative: int
    unrated: int
    categories: list[VoiceCategoryLine]
    # Labels (ja, en) of the categories that rose clearly against the period before.
    rising_ja: list[str]
    rising_en: list[str]
    highlighted: list[VoiceQuote]


class ContractSection(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    name: str
    work_type: str
    received: int
    responded: int
    resolved: int
    previous_received: int
    objectives: list[ObjectiveLine]
    coverage_attainment: float | None
    coverage_target_percent: float | None
    days: list[DayLine]
    # Only when the period has any (reports made before these were kept have neither).
    csat: CsatLine | None = None
    nps: NpsLine | None = None
    # Only for a contract with users' voices in the period or the one before (reports made earlier: none).
    voices: VoiceDigest | None = None


class EscalationLine(msgspec.Struct, kw_only=True):
    """The period's escalations of one severity: how many were raised and acknowledged, and how fast."""

    severity: Literal["critical", "high", "normal"]
    raised: int
    acknowledged: int
    median_minutes_to_acknowledge: float | None
    mean_minutes_to_acknowledge: float | None


class ReportContent(msgspec.Struct, kw_only=True):
    client_code: str
    client_name: str
    contracts: list[ContractSection]
    # Only severities that had escalations in the period; none at all: no section.
    escalations: list[EscalationLine] = []


class Report(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    client_code: str
    client_name: str
    cadence: Cadence
    period: str
    start: date
    end: date
    time_zone: str
    language: Language
    generated_at: datetime
    # How many times it was made: 1, or more after a re-run corrected it.
    generations: int
    contracts: list[ContractSection]
    escalations: list[EscalationLine]
    html_url: str
    pdf_url: str
    csv_url: str


class ReportSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    client_id: uuid.UUID
    client_code: str
    client_name: str
    cadence: Cadence
    period: str
    start: date
    end: date
    language: Language
    generated_at: datetime


class ReportPage(msgspec.Struct, kw_only=True):
    items: list[ReportSummary]
    next_cursor: str | None
