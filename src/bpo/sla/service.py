"""SLA dashboards, read from the hourly rollups (never from raw items), in the client's time zone."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.clients.schemas import Metric, Objective, SlaPolicy
from bpo.core.errors import Invalid, field_error
from bpo.sla import engine, schemas
from bpo.sla.models import SlaHourly, WorkHourly
from bpo.sla.rollups import objective_key
from bpo.sla.sketch import LatencySketch
from bpo.tenancy.scope import Scope

MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = timedelta(days=29)


def period_start(day: date, granularity: schemas.Granularity) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def resolve_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    end = end or today
    start = start or end - DEFAULT_SPAN
    if start > end:
        raise Invalid("start must not be after end", errors=[field_error("start", "after end")])
    if end - start > MAX_SPAN:
        raise Invalid(
            "at most 400 days at a time", errors=[field_error("end", "more than 400 days after start")]
        )
    return start, end


def _bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time(), zone).astimezone(UTC),
        datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC),
    )


def _objectives_in(policies: Sequence[SlaPolicy], start: date, end: date) -> dict[str, Objective]:
    """Each objective shown for the range, as defined by the latest version in force during it."""
    chosen: dict[str, Objective] = {}
    for policy in policies:
        overlaps = policy.effective_from <= end and (
            policy.effective_to is None or policy.effective_to >= start
        )
        if overlaps:
            for objective in policy.objectives:
                if objective.metric != Metric.COVERAGE:
                    chosen[objective_key(objective)] = objective
    return chosen


async def _hourly(
    session: AsyncSession, scope: Scope, contract_ids: Sequence[uuid.UUID], lower: datetime, upper: datetime
) -> Sequence[SlaHourly]:
    return (
        await session.scalars(
            select(SlaHourly).where(
                SlaHourly.tenant_id == scope.tenant_id,
                SlaHourly.contract_id.in_(contract_ids),
                SlaHourly.hour >= lower,
                SlaHourly.hour < upper,
            )
        )
    ).all()


def _objective_sla(
    key: str,
    objective: Objective,
    rows: Sequence[SlaHourly],
    zone: ZoneInfo,
    granularity: schemas.Granularity,
) -> schemas.ObjectiveSla:
    per_period: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    sketch = LatencySketch()
    checkpoints: Counter[str] = Counter()
    eligible: Counter[str] = Counter()
    for row in rows:
        bucket = per_period[period_start(row.hour.astimezone(zone).date(), granularity)]
        bucket[0] += row.met
        bucket[1] += row.breached
        bucket[2] += row.pending
        sketch = sketch + LatencySketch.from_json(row.sketch)
        for seconds, (within, known) in row.checkpoints.items():
            checkpoints[seconds] += within
            eligible[seconds] += known
    met = sum(b[0] for b in per_period.values())
    breached = sum(b[1] for b in per_period.values())
    pending = sum(b[2] for b in per_period.values())
    attained = engine.attainment(met, breached)
    status = engine.target_status(attained, objective.target_percent)
    return schemas.ObjectiveSla(
        key=key,
        metric=objective.metric.value,
        threshold=objective.threshold,
        clock=objective.clock.value,
        target_percent=objective.target_percent,
        met=met,
        breached=breached,
        pending=pending,
        attainment=attained,
        status=status.value if status else None,
        series=[
            schemas.PeriodPoint(period=p, met=m, breached=b, pending=q, attainment=engine.attainment(m, b))
            for p, (m, b, q) in sorted(per_period.items())
        ],
        checkpoints=[_checkpoint(c, checkpoints, eligible) for c in objective.checkpoints],
        percentiles=schemas.Percentiles(
            p50=sketch.quantile(0.5), p90=sketch.quantile(0.9), p95=sketch.quantile(0.95)
        ),
    )


def _checkpoint(name: str, within: Counter[str], eligible: Counter[str]) -> schemas.CheckpointPoint:
    seconds = engine.duration(name)
    key = str(int(seconds.total_seconds()))
    share = engine.CheckpointShare(seconds, within[key], eligible[key])
    return schemas.CheckpointPoint(
        checkpoint=name, within=share.within, eligible=share.eligible, percent=share.percent
    )


async def _volumes(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    lower: datetime,
    upper: datetime,
    zone: ZoneInfo,
    granularity: schemas.Granularity,
) -> schemas.Volumes:
    rows = (
        await session.scalars(
            select(WorkHourly).where(
                WorkHourly.tenant_id == scope.tenant_id,
                WorkHourly.contract_id == contract_id,
                WorkHourly.hour >= lower,
                WorkHourly.hour < upper,
            )
        )
    ).all()
    fields = ("received", "responded", "resolved", "units")
    by_period: dict[date, Counter[str]] = defaultdict(Counter)
    by_channel: dict[str, Counter[str]] = defaultdict(Counter)
    outcomes: Counter[str] = Counter()
    sentiments: Counter[str] = Counter()
    for row in rows:
        numbers = {f: getattr(row, f) for f in fields}
        by_period[period_start(row.hour.astimezone(zone).date(), granularity)].update(numbers)
        by_channel[row.channel].update(numbers)
        outcomes.update(row.outcomes)
        sentiments.update(row.sentiments)
    totals: Counter[str] = Counter()
    for numbers in by_channel.values():
        totals.update(numbers)
    return schemas.Volumes(
        **{f: totals[f] for f in fields},
        series=[
            schemas.VolumePoint(period=p, **{f: c[f] for f in fields}) for p, c in sorted(by_period.items())
        ],
        by_channel=[
            schemas.ChannelVolume(channel=ch, **{f: c[f] for f in fields})
            for ch, c in sorted(by_channel.items())
        ],
        outcomes=dict(outcomes),
        sentiments=dict(sentiments),
    )


async def contract_sla(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    start: date | None,
    end: date | None,
    granularity: schemas.Granularity,
) -> schemas.ContractSla:
    contract = await contracts.get_contract_row(session, scope, contract_id)
    client = await clients.get_client_row(session, scope, contract.client_id)
    zone = ZoneInfo(client.time_zone)
    first, last = resolve_range(start, end, datetime.now(zone).date())
    lower, upper = _bounds(first, last, zone)
    policies = await contracts.list_sla_policies(session, scope, contract.id)
    rows = await _hourly(session, scope, [contract.id], lower, upper)
    by_key: dict[str, list[SlaHourly]] = defaultdict(list)
    for row in rows:
        by_key[row.objective].append(row)
    return schemas.ContractSla(
        contract_id=contract.id,
        contract_code=contract.code,
        name=contract.name,
        time_zone=client.time_zone,
        start=first,
        end=last,
        granularity=granularity,
        objectives=[
            _objective_sla(key, objective, by_key.get(key, []), zone, granularity)
            for key, objective in _objectives_in(policies, first, last).items()
        ],
        volumes=await _volumes(session, scope, contract.id, lower, upper, zone, granularity),
    )


def _trend(now: float | None, before: float | None) -> Literal["up", "down", "flat"] | None:
    if now is None or before is None:
        return None
    if abs(now - before) < 0.05:
        return "flat"
    return "up" if now > before else "down"


async def client_sla(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, start: date | None, end: date | None
) -> schemas.ClientSla:
    client = await clients.get_client_row(session, scope, client_id)
    zone = ZoneInfo(client.time_zone)
    first, last = resolve_range(start, end, datetime.now(zone).date())
    span = last - first + timedelta(days=1)
    lower, upper = _bounds(first, last, zone)
    previous_lower, _ = _bounds(first - span, last - span, zone)
    visible = await session.scalars(
        contracts.visible_contracts(scope).where(Contract.client_id == client.id).order_by(Contract.code)
    )
    contract_rows = visible.all()
    ids = [c.id for c in contract_rows]
    rows = await _hourly(session, scope, ids, previous_lower, upper)
    volume_rows = (
        await session.execute(
            select(WorkHourly.contract_id, WorkHourly.received).where(
                WorkHourly.tenant_id == scope.tenant_id,
                WorkHourly.contract_id.in_(ids),
                WorkHourly.hour >= lower,
                WorkHourly.hour < upper,
            )
        )
    ).all()
    received: Counter[uuid.UUID] = Counter()
    for contract_id, count in volume_rows:
        received[contract_id] += count
    counts: dict[tuple[uuid.UUID, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        current = row.hour >= lower
        tally = counts[(row.contract_id, row.objective, current)]
        tally[0] += row.met
        tally[1] += row.breached
    summaries = []
    for contract in contract_rows:
        policies = await contracts.list_sla_policies(session, scope, contract.id)
        objectives = []
        for key, objective in _objectives_in(policies, first, last).items():
            now_attained = engine.attainment(*counts[(contract.id, key, True)])
            before = engine.attainment(*counts[(contract.id, key, False)])
            status = engine.target_status(now_attained, objective.target_percent)
            objectives.append(
                schemas.ObjectiveSummary(
                    key=key,
                    metric=objective.metric.value,
                    target_percent=objective.target_percent,
                    attainment=now_attained,
                    status=status.value if status else None,
                    previous_attainment=before,
                    trend=_trend(now_attained, before),
                )
            )
        summaries.append(
            schemas.ContractSummary(
                contract_id=contract.id,
                contract_code=contract.code,
                name=contract.name,
                work_type=contract.work_type,
                status=contract.status,
                received=received[contract.id],
                objectives=objectives,
            )
        )
    return schemas.ClientSla(
        client_id=client.id,
        client_code=client.code,
        name=client.name,
        time_zone=client.time_zone,
        start=first,
        end=last,
        contracts=summaries,
    )


CSV_COLUMNS = (
    "contract_code",
    "objective",
    "period",
    "met",
    "breached",
    "pending",
    "attainment_percent",
    "target_percent",
    "received",
    "responded",
    "resolved",
    "units",
)


def contract_sla_csv(report: schemas.ContractSla) -> str:
    """The same numbers as the JSON report, one row per objective and period (volumes repeated per row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    volumes = {point.period: point for point in report.volumes.series}
    for objective in report.objectives:
        for point in objective.series:
            volume = volumes.get(point.period)
            writer.writerow(
                [
                    report.contract_code,
                    objective.key,
                    point.period.isoformat(),
                    point.met,
                    point.breached,
                    point.pending,
                    "" if point.attainment is None else f"{point.attainment:.2f}",
                    f"{objective.target_percent:g}",
                    volume.received if volume else 0,
                    volume.responded if volume else 0,
                    volume.resolved if volume else 0,
                    volume.units if volume else 0,
                ]
            )
    return buffer.getvalue()


async def attainment_by_metric(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, lower: datetime, upper: datetime
) -> dict[Metric, float | None]:
    """Percent met of decided items per metric over [lower, upper) from the hourly rollups; the worst
    objective where several share a metric (filtered by priority or channel); None without data."""
    rows = await _hourly(session, scope, [contract_id], lower, upper)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        tally = counts[row.objective]
        tally[0] += row.met
        tally[1] += row.breached
    worst: dict[Metric, float | None] = {}
    for key, (met, breached) in counts.items():
        metric = Metric(key.split("|", 1)[0])
        attained = engine.attainment(met, breached)
        current = worst.get(metric)
        if attained is not None and (current is None or attained < current):
            worst[metric] = attained
        else:
            worst.setdefault(metric, current)
    return worst
