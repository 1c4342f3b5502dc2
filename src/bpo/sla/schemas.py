from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

import msgspec

Granularity = Literal["day", "week", "month"]
AlertKind = Literal["at_risk", "breached", "daily_below_target"]


class PeriodPoint(msgspec.Struct, kw_only=True):
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
    # Why the objective is not measured, when its stored version holds a value measurement cannot take
    # (its numbers stay empty until the version is corrected); null otherwise.
    problem: str | None = None


class VolumePoint(msgspec.Struct, kw_only=True):
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


class CoverageSla(msgspec.Struct, kw_only=True):
    """The coverage objective: share of the required coverage time staffed at full headcount."""

    target_percent: float
    attainment: float | None
    status: Literal["green", "amber", "red"] | None
    required_minutes: float
    fully_staffed_minutes: float
    # By period of the requested granularity, for the periods that required any coverage.
    series: list[CoveragePoint]


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


class AlertPage(msgspec.Struct, kw_only=True):
    items: list[Alert]
    next_cursor: str | None


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
    event: Literal["received", "first_response", "resolved"]
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


class FoundItemPage(msgspec.Struct, kw_only=True):
    items: list[FoundItem]
    next_cursor: str | None


class WorkItemDetail(FoundItem, kw_only=True):
    contract_name: str
    client_id: uuid.UUID
    timeline: list[TimelineEvent]
