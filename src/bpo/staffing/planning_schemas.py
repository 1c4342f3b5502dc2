"""Request and response types of workforce forecasts and schedule runs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from bpo.clients.schemas import CoverageLine, ObjectiveDuration
from bpo.core.types import Labels, Strict

# 31 days of 15-minute intervals.
MAX_INTERVALS = 31 * 96


class ForecastModel(StrEnum):
    ERLANG_C = "erlang_c"
    BACKLOG = "backlog"


class ForecastObjective(Strict):
    threshold: ObjectiveDuration
    # Erlang C only: the share to answer within the threshold. The backlog model clears all work in it.
    target_percent: Annotated[float, msgspec.Meta(ge=0, lt=100)] | None = None


class CoverageOptions(Strict):
    skills: Labels = []
    languages: Labels = []


class ForecastRequest(Strict):
    start: datetime
    arrivals: Annotated[
        list[Annotated[float, msgspec.Meta(ge=0, le=10_000_000)]],
        msgspec.Meta(min_length=1, max_length=MAX_INTERVALS, description="Expected arrivals per interval"),
    ]
    aht_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400, description="Average handling time")]
    objective: ForecastObjective
    interval_minutes: Annotated[int, msgspec.Meta(ge=5, le=1440)] = 30
    model: ForecastModel = ForecastModel.ERLANG_C
    max_occupancy_percent: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    shrinkage_percent: Annotated[float, msgspec.Meta(ge=0, lt=100)] = 0
    # When given, the answer also carries coverage lines for the contract (not written to it).
    coverage: CoverageOptions | None = None


class IntervalForecast(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    arrivals: float
    workload_erlangs: float
    agents: int
    headcount: int
    service_level_percent: float | None
    asa_seconds: float | None
    occupancy_percent: float | None


class Forecast(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    model: ForecastModel
    time_zone: str
    interval_minutes: int
    peak_headcount: int
    scheduled_hours: float
    intervals: list[IntervalForecast]
    coverage: list[CoverageLine] | None


class ScheduleRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ScheduleRunCreate(Strict):
    from_: date = msgspec.field(name="from")
    to: date
    contract_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=200)]
    replan: bool = False
    time_limit_s: Annotated[float, msgspec.Meta(gt=0, le=600)] | None = None


class ScheduleRun(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    from_: date = msgspec.field(name="from")
    to: date
    contract_ids: list[uuid.UUID]
    replan: bool
    time_limit_s: float | None
    status: ScheduleRunStatus
    result: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ScheduleRunPage(msgspec.Struct, kw_only=True):
    items: list[ScheduleRun]
    next_cursor: str | None
