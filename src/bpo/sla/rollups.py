"""Hourly SLA and volume rollups: recomputed from the items of each touched hour, so they always equal
an exact recomputation, and recomputed again when time alone changes them (a pending item breaching).

Ingest enqueues ``sla.refresh_hours`` through the outbox for the hours it changed (lag: one worker job);
``sla.refresh_due`` runs every minute for hours whose ``next_change_at`` has passed; ``bpo sla rebuild``
recomputes a range from scratch.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.calendar import Calendar, add_business
from bpo.clients.schemas import Metric, Objective, SlaClock
from bpo.sla import engine
from bpo.sla.models import SlaHourly, WorkHourly
from bpo.tenancy.scope import Scope
from bpo.work.models import WorkItem

HOUR = timedelta(hours=1)
# Job names (the actors live in bpo.sla.tasks, loaded only by workers).
REFRESH_HOURS_JOB = "sla.refresh_hours"
REFRESH_DUE_JOB = "sla.refresh_due"
# Their own queue, so SLA lag is visible (and scalable) apart from other jobs.
SLA_QUEUE = "sla"


def objective_key(objective: Objective) -> str:
    """Stable name of an objective across versions: its metric and filter (targets may change)."""
    key = objective.metric.value
    if objective.priorities:
        key += "|priority=" + ",".join(sorted(objective.priorities))
    if objective.channels:
        key += "|channel=" + ",".join(sorted(objective.channels))
    return key


def hour_of(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _next_change(
    objective: Objective, item: engine.ItemTimes, measurement: engine.Measurement, calendar: Calendar
) -> datetime | None:
    """When an open item's numbers next move by time alone: its due instant or its next checkpoint."""
    if measurement.stopped_at is not None or measurement.status is engine.Status.BREACHED:
        return None
    moments = [measurement.due_at]
    later = [engine.duration(c) for c in objective.checkpoints if engine.duration(c) > measurement.elapsed]
    if later:
        step = min(later)
        business = objective.clock == SlaClock.BUSINESS_HOURS
        moments.append(
            add_business(calendar, item.received_at, step) if business else item.received_at + step
        )
    return min(moments)


def summarize(
    objective: Objective, items: Iterable[engine.ItemTimes], calendar: Calendar, now: datetime
) -> tuple[engine.StatusCounts, dict[str, int], dict[str, list[int]], datetime | None] | None:
    pairs = [
        (item, engine.measure(objective, item, calendar, now))
        for item in items
        if engine.applies(objective, item)
    ]
    if not pairs:
        return None
    measurements = [m for _, m in pairs]
    checkpoints = [engine.duration(c) for c in objective.checkpoints]
    curve = engine.checkpoint_curve(measurements, checkpoints)
    changes = [c for c in (_next_change(objective, i, m, calendar) for i, m in pairs) if c is not None]
    return (
        engine.count_statuses(measurements),
        engine.latency_sketch(measurements).to_json(),
        {str(int(share.checkpoint.total_seconds())): [share.within, share.eligible] for share in curve},
        min(changes, default=None),
    )


async def _lock_contract(session: AsyncSession, contract_id: uuid.UUID) -> None:
    # One refresh per contract at a time: concurrent recomputations of an hour would race on its rows.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": str(contract_id)}
    )


async def refresh_hours(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, hours: Iterable[datetime], now: datetime
) -> int:
    """Recompute the rollups of ``hours`` (UTC hour starts) from the contract's items; rows written."""
    wanted = sorted({hour_of(h) for h in hours})
    if not wanted:
        return 0
    contract = await contracts.get_contract_row(session, scope, contract_id)
    await _lock_contract(session, contract.id)
    calendar_row = await clients.get_calendar_row(session, scope, contract.calendar_id)
    zone = ZoneInfo(calendar_row.time_zone)
    calendar = clients.business_calendar(calendar_row, range(wanted[0].year - 1, wanted[-1].year + 2))
    policies = await contracts.list_sla_policies(session, scope, contract.id)
    written = 0
    for hour in wanted:
        rows = (
            await session.execute(
                select(
                    WorkItem.received_at,
                    WorkItem.first_response_at,
                    WorkItem.resolved_at,
                    WorkItem.priority,
                    WorkItem.channel,
                    WorkItem.units,
                    WorkItem.outcome,
                    WorkItem.sentiment,
                ).where(
                    WorkItem.tenant_id == scope.tenant_id,
                    WorkItem.contract_id == contract.id,
                    WorkItem.received_at >= hour,
                    WorkItem.received_at < hour + HOUR,
                )
            )
        ).all()
        items = [engine.ItemTimes(*row[:5]) for row in rows]
        for model in (SlaHourly, WorkHourly):
            await session.execute(
                delete(model).where(
                    model.tenant_id == scope.tenant_id, model.contract_id == contract.id, model.hour == hour
                )
            )
        policy = contracts.in_force(policies, hour.astimezone(zone).date())
        values = []
        for objective in policy.objectives if policy else []:
            if objective.metric == Metric.COVERAGE:
                continue
            summary = summarize(objective, items, calendar, now)
            if summary is None:
                continue
            counts, sketch, checkpoints, next_change = summary
            values.append(
                {
                    "tenant_id": scope.tenant_id,
                    "contract_id": contract.id,
                    "objective": objective_key(objective),
                    "hour": hour,
                    "met": counts.met,
                    "breached": counts.breached,
                    "pending": counts.pending,
                    "sketch": sketch,
                    "checkpoints": checkpoints,
                    "next_change_at": next_change,
                }
            )
        if values:
            await session.execute(insert(SlaHourly), values)
        written += len(values)
        counted = volumes(rows)
        if counted:
            await session.execute(
                insert(WorkHourly),
                [
                    {
                        "tenant_id": scope.tenant_id,
                        "contract_id": contract.id,
                        "hour": hour,
                        "channel": channel,
                        **{k: dict(v) if isinstance(v, Counter) else v for k, v in numbers.items()},
                    }
                    for channel, numbers in counted.items()
                ],
            )
    return written


def volumes(rows: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Per channel ('' for none): received, responded, resolved, units, outcome and sentiment counts."""
    by_channel: dict[str, dict[str, Any]] = {}
    for row in rows:
        v = by_channel.setdefault(
            row.channel or "",
            {
                "received": 0,
                "responded": 0,
                "resolved": 0,
                "units": 0,
                "outcomes": Counter(),
                "sentiments": Counter(),
            },
        )
        v["received"] += 1
        v["responded"] += row.first_response_at is not None
        v["resolved"] += row.resolved_at is not None
        v["units"] += row.units
        if row.outcome:
            v["outcomes"][row.outcome] += 1
        if row.sentiment:
            v["sentiments"][row.sentiment] += 1
    return by_channel


async def hours_of_items(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, start: datetime, end: datetime
) -> list[datetime]:
    rows = await session.scalars(
        select(func.date_trunc("hour", WorkItem.received_at).label("hour"))
        .where(
            WorkItem.tenant_id == scope.tenant_id,
            WorkItem.contract_id == contract_id,
            WorkItem.received_at >= start,
            WorkItem.received_at < end,
        )
        .distinct()
    )
    return [hour_of(h) for h in rows]


async def due_hours(
    session: AsyncSession, scope: Scope, now: datetime, limit: int = 2_000
) -> dict[uuid.UUID, list[datetime]]:
    """Hours whose numbers time has changed since they were computed, by contract."""
    rows = (
        await session.execute(
            select(SlaHourly.contract_id, SlaHourly.hour)
            .where(SlaHourly.tenant_id == scope.tenant_id, SlaHourly.next_change_at <= now)
            .distinct()
            .limit(limit)
        )
    ).all()
    due: dict[uuid.UUID, list[datetime]] = {}
    for contract_id, hour in rows:
        due.setdefault(contract_id, []).append(hour)
    return due
