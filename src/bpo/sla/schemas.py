from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from bpo.core.types import Strict

Granularity = Literal["day", "week", "month"]
AlertKind = Literal["at_risk", "breached", "daily_below_target"]
AlertState = Literal["open", "acknowledged", "assigned", "resolved"]
AlertAction = Literal["raised", "acknowledged", "assigned", "resolved"]


# Points of a series hold only dates and numbers, so they can never be part of a reference cycle: the
# garbage collector need not track the thousands a year's dashboard builds (gc=False).
class PeriodPoint(msgspec.Struct, kw_only=True, gc=False):
    period: date
    met: int
    breached: int
    pending: int
    attainment: float | None


class CheckpointPoint(msgspec.Struct, kw_only=True):
    checkpoint: str
    within: int
    eligible: int
    percent: float | None


class Percentiles(msgspec.Struct, kw_only=True):
    p50_ms: int | None
    p90_ms: int | None
    p95_ms: int | None


class ObjectiveSla(msgspec.Struct, kw_only=True):
    key: str
    metric: str
    threshold: str | None
    clock: str
    target_percent: float
    met: int
    breached: int
    pending: int
    attainment: float | None
    status: Literal["green", "amber", "red"] | None
    series: list[PeriodPoint]
    checkpoints: list[CheckpointPoint]
    # Whole milliseconds in the objective's clock, from a sketch with at most 4.4% relative error.
    percentiles: Percentiles
    # The mean time to the answer (first response or resolution) in the objective's clock, in whole
    # milliseconds, computed exactly from the rollups' sums over ``answered`` items; null without answered
    # items, or while some of the range was rolled up before sums were kept (``bpo sla rebuild``).
    mean_ms: int | None = None
    answered: int = 0
    # Why the objective is not measured, when its stored version holds a value measurement cannot take
    # (its numbers stay empty until the version is corrected); null otherwise.
    problem: str | None = None


class VolumePoint(msgspec.Struct, kw_only=True, gc=False):
    period: date
    received: int
    responded: int
    resolved: int
    units: int


class ChannelVolume(msgspec.Struct, kw_only=True):
    channel: str
    received: int
    responded: int
    resolved: int
    units: int


class Volumes(msgspec.Struct, kw_only=True):
    received: int
    responded: int
    resolved: int
    units: int
    series: list[VolumePoint]
    by_channel: list[ChannelVolume]
    outcomes: dict[str, int]
    sentiments: dict[str, int]


class CoveragePoint(msgspec.Struct, kw_only=True):
    period: date
    required_minutes: float
    fully_staffed_minutes: float
    attainment: float | None
    # Measured on the shifts' assignments and on the attendance recorded (null without any).
    planned_attainment: float | None = None
    actual_attainment: float | None = None


class CoverageSla(msgspec.Struct, kw_only=True):
    """The coverage objective: share of the required coverage time staffed at full headcount, measured on
    ``basis``: the shifts' assignments (planned) or the attendance recorded on them (actual)."""

    target_percent: float
    attainment: float | None
    status: Literal["green", "amber", "red"] | None
    required_minutes: float
    fully_staffed_minutes: float
    # By period of the requested granularity, for the periods that required any coverage.
    series: list[CoveragePoint]
    basis: Literal["planned", "actual"] = "planned"
    planned_attainment: float | None = None
    # Null when no attendance was recorded in the range (and the basis is planned).
    actual_attainment: float | None = None


class CsatPoint(msgspec.Struct, kw_only=True):
    period: date
    responses: int
    satisfied: int
    score: float | None
    mean: float | None


class CsatSla(msgspec.Struct, kw_only=True):
    """CSAT ratings (1-5) of the items received in the range: ``score`` is the percentage of 4 and 5
    ratings among ``responses``, ``mean`` the average rating."""

    responses: int
    satisfied: int
    score: float | None
    mean: float | None
    # Ratings counted per score, "1" to "5".
    distribution: dict[str, int]
    series: list[CsatPoint]


class NpsPoint(msgspec.Struct, kw_only=True):
    period: date
    responses: int
    promoters: int
    passives: int
    detractors: int
    score: float | None


class NpsSla(msgspec.Struct, kw_only=True):
    """The contract's NPS survey answered in the range: ``score`` is the percentage of promoters (9-10)
    minus the percentage of detractors (0-6), from -100 to 100."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    score: float | None
    series: list[NpsPoint]


class ContractSla(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    name: str
    time_zone: str
    start: date
    end: date
    granularity: Granularity
    objectives: list[ObjectiveSla]
    volumes: Volumes
    # From Staffing's shifts and assignments; null when the contract has no coverage objective.
    coverage: CoverageSla | None = None
    # Null when no item of the range was rated / no survey answer came in the range.
    csat: CsatSla | None = None
    nps: NpsSla | None = None


class ObjectiveSummary(msgspec.Struct, kw_only=True):
    key: str
    metric: str
    target_percent: float
    attainment: float | None
    status: Literal["green", "amber", "red"] | None
    previous_attainment: float | None
    trend: Literal["up", "down", "flat"] | None


class CoverageObjectiveSummary(msgspec.Struct, kw_only=True):
    """The coverage objective over the range and the one before it (share of the required coverage time
    staffed at full headcount)."""

    target_percent: float
    attainment: float | None
    status: Literal["green", "amber", "red"] | None
    previous_attainment: float | None
    trend: Literal["up", "down", "flat"] | None
    basis: Literal["planned", "actual"] = "planned"
    planned_attainment: float | None = None
    actual_attainment: float | None = None


class ContractSummary(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    name: str
    work_type: str
    status: str
    received: int
    objectives: list[ObjectiveSummary]
    # From Staffing's shifts and assignments; null when the contract has no coverage objective.
    coverage: CoverageObjectiveSummary | None = None


class ClientSla(msgspec.Struct, kw_only=True):
    client_id: uuid.UUID
    client_code: str
    name: str
    time_zone: str
    start: date
    end: date
    contracts: list[ContractSummary]


class Alert(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: AlertKind
    contract_id: uuid.UUID
    client_id: uuid.UUID
    objective: str
    work_item_id: uuid.UUID | None
    day: date | None
    occurred_at: datetime
    created_at: datetime
    detail: dict[str, Any]
    # How the operator's people handle it; null for a client viewer.
    handling: AlertHandling | None = None


class AlertPage(msgspec.Struct, kw_only=True):
    items: list[Alert]
    next_cursor: str | None


class AlertStep(msgspec.Struct, kw_only=True):
    """One step of an alert's handling. ``raised`` is the alert itself (no person); the others name who
    acted (``actor_id``, ``actor_name``), ``assigned`` whom to, ``resolved`` with the note."""

    action: AlertAction
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    assignee_id: uuid.UUID | None = None
    assignee_name: str | None = None
    note: str | None = None


class AlertHandling(msgspec.Struct, kw_only=True):
    """How the operator is handling an alert: shown to the operator's own people, never to clients."""

    state: AlertState
    assignee_id: uuid.UUID | None
    assignee_name: str | None
    state_changed_at: datetime | None
    timeline: list[AlertStep]


AlertNote = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]


class AlertAssign(Strict):
    assignee_id: Annotated[
        uuid.UUID, msgspec.Meta(description="A user of the tenant with the supervisor role, active")
    ]
    note: Annotated[AlertNote, msgspec.Meta(description="Why, or what to look at (optional)")] | None = None


class AlertResolve(Strict):
    note: Annotated[AlertNote, msgspec.Meta(description="What was found and done (required)")]


# --- NPS survey answers -------------------------------------------------------------------------

MAX_NPS_BATCH = 1_000
NpsScore = Annotated[
    int,
    msgspec.Meta(ge=0, le=10, description="How likely to recommend, 0 (not at all) to 10 (extremely)"),
]


class NpsResponseIn(Strict):
    external_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=200, description="Your id of the answer; a resend is matched by it"
        ),
    ]
    score: NpsScore
    responded_at: Annotated[datetime, msgspec.Meta(description="When it was answered, with a UTC offset")]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class NpsResponseBatch(Strict):
    items: Annotated[list[NpsResponseIn], msgspec.Meta(min_length=1, max_length=MAX_NPS_BATCH)]


class NpsBatchResult(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    received: int
    created: int
    updated: int
    unchanged: int


class NpsResponse(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    external_id: str
    score: int
    # promoter (9-10), passive (7-8) or detractor (0-6).
    category: Literal["promoter", "passive", "detractor"]
    responded_at: datetime
    comment: str | None
    created_at: datetime
    updated_at: datetime


class NpsResponsePage(msgspec.Struct, kw_only=True):
    items: list[NpsResponse]
    next_cursor: str | None


# --- productivity (operators only) --------------------------------------------------------------


class ProductivityPoint(msgspec.Struct, kw_only=True):
    period: date
    handled: int
    median_handle_ms: int | None


class PersonProductivity(msgspec.Struct, kw_only=True):
    handled_by: str
    # Items of the range this person handled, and those of them with both started_at and handled_at.
    handled: int
    timed: int
    median_handle_ms: int | None
    series: list[ProductivityPoint]


class Productivity(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    time_zone: str
    start: date
    end: date
    granularity: Granularity
    # Items received in the range with no handled_by.
    unattributed: int
    people: list[PersonProductivity]


# --- work items with their SLA results (search and drill-down) ----------------------------------

ItemStatus = Literal["met", "breached", "pending", "at_risk"]


class ObjectiveResult(msgspec.Struct, kw_only=True):
    """One objective measured on one item, now: at_risk is pending with the at-risk share of its threshold
    elapsed (the dashboards count it as pending)."""

    objective: str
    metric: str
    clock: str
    threshold: str
    status: ItemStatus
    due_at: datetime
    at_risk_at: datetime
    breached_at: datetime | None
    answered_at: datetime | None
    # Time counted so far in the objective's clock (business time for business_hours), to the answer or now.
    elapsed_seconds: int


class TimelineEvent(msgspec.Struct, kw_only=True):
    event: Literal["received", "started", "first_response", "handled", "resolved"]
    at: datetime


class FoundItem(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    contract_code: str
    external_id: str
    kind: str | None
    channel: str | None
    priority: str | None
    received_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    handled_by: str | None
    outcome: str | None
    sentiment: str | None
    units: int
    summary: str | None
    tags: list[str]
    attributes: dict[str, Any]
    updated_at: datetime
    sla: list[ObjectiveResult]
    # The requester's rating (1-5), and when handling started and finished, when the client system sent them.
    csat: int | None = None
    started_at: datetime | None = None
    handled_at: datetime | None = None


class FoundItemPage(msgspec.Struct, kw_only=True):
    items: list[FoundItem]
    next_cursor: str | None


class WorkItemDetail(FoundItem, kw_only=True):
    contract_name: str
    client_id: uuid.UUID
    timeline: list[TimelineEvent]
