"""A contract's workforce forecast: required headcount per interval, optionally as coverage lines.
Reads the contract (for its calendar's zone) and writes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.rules import check_duration, duration_seconds
from bpo.clients.schemas import CoverageLine
from bpo.core.business_time import format_clock
from bpo.core.errors import FieldErrors, field_error, raise_if
from bpo.core.scope import Scope
from bpo.core.types import Day
from bpo.staffing import queueing
from bpo.staffing.planning_schemas import Forecast, ForecastModel, ForecastRequest, IntervalForecast


def _check(data: ForecastRequest) -> FieldErrors:
    errors = []
    if data.start.utcoffset() is None:
        errors.append(field_error("start", "needs a UTC offset, like 2026-03-02T09:00:00+09:00"))
    if queueing.MINUTES_PER_DAY % data.interval_minutes:
        errors.append(field_error("interval_minutes", "must divide a day (5, 10, 15, 20, 30, 60, ...)"))
    errors += check_duration(data.objective.threshold, "objective.threshold")
    threshold = duration_seconds(data.objective.threshold)
    if data.model is ForecastModel.ERLANG_C:
        if data.objective.target_percent is None:
            errors.append(field_error("objective.target_percent", "required by the erlang_c model"))
        work = queueing.erlang_work(data.arrivals, data.interval_minutes * 60, data.aht_seconds)
        if work > queueing.MAX_ERLANG_WORK:
            errors.append(
                field_error(
                    "arrivals",
                    f"{work:.0f} Erlangs over the distinct volumes; at most {queueing.MAX_ERLANG_WORK} "
                    "in one request (split the period, or use the backlog model)",
                )
            )
    if data.model is ForecastModel.BACKLOG:
        if data.objective.target_percent is not None:
            errors.append(
                field_error("objective.target_percent", "the backlog model clears all work in the threshold")
            )
        if threshold == 0:
            errors.append(field_error("objective.threshold", "must be positive for the backlog model"))
    return errors


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def contract_forecast(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, data: ForecastRequest
) -> Forecast:
    contract = await contracts.get_contract_row(session, scope, contract_id)
    raise_if(_check(data))
    zone = (await clients.get_calendar_row(session, scope, contract.calendar_id)).time_zone
    interval_seconds = data.interval_minutes * 60
    threshold = duration_seconds(data.objective.threshold)
    occupancy = None if data.max_occupancy_percent is None else data.max_occupancy_percent / 100
    shrinkage = data.shrinkage_percent / 100
    if data.model is ForecastModel.ERLANG_C:
        assert data.objective.target_percent is not None
        needs = queueing.erlang_forecast(
            data.arrivals,
            interval_seconds,
            data.aht_seconds,
            threshold,
            data.objective.target_percent / 100,
            max_occupancy=occupancy,
            shrinkage=shrinkage,
        )
    else:
        needs = queueing.backlog_forecast(
            data.arrivals,
            interval_seconds,
            data.aht_seconds,
            threshold,
            max_occupancy=occupancy,
            shrinkage=shrinkage,
        )
    starts = queueing.interval_starts(data.start, data.interval_minutes, len(needs))
    tz, step = ZoneInfo(zone), timedelta(minutes=data.interval_minutes)
    intervals = [
        IntervalForecast(
            start=start.astimezone(tz),
            end=(start + step).astimezone(tz),
            arrivals=need.arrivals,
            workload_erlangs=round(need.traffic, 4),
            agents=need.agents,
            headcount=need.headcount,
            service_level_percent=_round(None if need.service_level is None else 100 * need.service_level),
            asa_seconds=_round(need.asa_seconds),
            occupancy_percent=_round(None if need.occupancy is None else 100 * need.occupancy),
        )
        for start, need in zip(starts, needs, strict=True)
    ]
    coverage = None
    if data.coverage is not None:
        windows = queueing.coverage_windows(
            starts, [need.headcount for need in needs], data.interval_minutes, zone
        )
        coverage = [
            CoverageLine(
                days=cast("list[Day]", window.days),
                start=format_clock(window.start_minute),
                end=format_clock(window.end_minute),
                headcount=window.headcount,
                skills=list(data.coverage.skills),
                languages=list(data.coverage.languages),
            )
            for window in windows
        ]
    return Forecast(
        contract_id=contract.id,
        model=data.model,
        time_zone=zone,
        interval_minutes=data.interval_minutes,
        peak_headcount=max(need.headcount for need in needs),
        scheduled_hours=round(sum(need.headcount for need in needs) * data.interval_minutes / 60, 2),
        intervals=intervals,
        coverage=coverage,
    )
