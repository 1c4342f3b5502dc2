"""SLA dashboards, read from the rollups (never from raw items), in the client's time zone: from the day and
month rows when the contract's are cut in that zone, else from the hourly rows (the same numbers)."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import EllipsisType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Client, Contract
from bpo.clients.schemas import Metric, Objective, SlaPolicy
from bpo.core.db import Compiled, Reader, SessionReads, TenantReads
from bpo.core.errors import Invalid, NotFound, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.scope import Scope
from bpo.sla import coverage_objective as coverage
from bpo.sla import engine, satisfaction, schemas
from bpo.sla.models import PeriodRollupZone
from bpo.sla.ranges import ObjectiveTally, VolumeTally, from_hours, from_periods, period_start
from bpo.sla.rollups import (
    DAY,
    VOLUME_FIELDS,
    cut_cleanly,
    day_bounds,
    objective_key,
)
from bpo.sla.sketch import LatencySketch

MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = timedelta(days=29)


def resolve_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    raise_if(date_errors(("start", start), ("end", end)))
    end = end or today
    start = start or end - DEFAULT_SPAN
    if start > end:
        raise Invalid("start must not be after end", errors=[field_error("start", "after end")])
    if end - start > MAX_SPAN:
        raise Invalid(
            "at most 400 days at a time", errors=[field_error("end", "more than 400 days after start")]
        )
    return start, end


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


def _objective_sla(key: str, objective: Objective, tally: ObjectiveTally) -> schemas.ObjectiveSla:
    series = [
        schemas.PeriodPoint(period=p, met=m, breached=b, pending=q, attainment=engine.attainment(m, b))
        for p, m, b, q in tally.series
    ]
    met = sum(point.met for point in series)
    breached = sum(point.breached for point in series)
    pending = sum(point.pending for point in series)
    sketch = LatencySketch({bucket: count for bucket, count in tally.sketch.items() if count})
    answered = sketch.total
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
        series=series,
        checkpoints=[_checkpoint(c, tally.within, tally.eligible) for c in objective.checkpoints],
        percentiles=schemas.Percentiles(
            p50_ms=milliseconds(sketch.quantile(0.5)),
            p90_ms=milliseconds(sketch.quantile(0.9)),
            p95_ms=milliseconds(sketch.quantile(0.95)),
        ),
        mean_ms=mean_milliseconds(tally.elapsed_sum, answered),
        answered=answered,
        problem=_unmeasurable(objective),
    )


def _unmeasurable(objective: Objective) -> str | None:
    """Why the refresh jobs cannot measure ``objective``, if they cannot."""
    for written in [objective.threshold or "0s", *objective.checkpoints]:
        try:
            engine.duration(written)
        except engine.UnmeasurableObjective as error:
            return str(error)
    return None


def milliseconds(seconds: float | None) -> int | None:
    """Whole milliseconds: the sketch is within 4.4% anyway, so finer digits would only be noise."""
    return None if seconds is None else round(seconds * 1000)


def mean_milliseconds(total_seconds: Decimal | None, count: int) -> int | None:
    """The exact mean of ``count`` durations summing to ``total_seconds``, in whole milliseconds (half up)."""
    if total_seconds is None or count <= 0:
        return None
    return int((total_seconds * 1000 / count).quantize(Decimal(1), ROUND_HALF_UP))


def _checkpoint(name: str, within: Counter[str], eligible: Counter[str]) -> schemas.CheckpointPoint:
    try:
        seconds = engine.duration(name)
    except engine.UnmeasurableObjective:
        # Never measured (``ObjectiveSla.problem`` says why): shown, with nothing counted.
        return schemas.CheckpointPoint(checkpoint=name, within=0, eligible=0, percent=None)
    key = str(int(seconds.total_seconds()))
    share = engine.CheckpointShare(seconds, within[key], eligible[key])
    return schemas.CheckpointPoint(
        checkpoint=name, within=share.within, eligible=share.eligible, percent=share.percent
    )


def _volumes(tally: VolumeTally) -> schemas.Volumes:
    totals = [sum(column) for column in zip(*tally.channels.values(), strict=True)] or [0] * len(
        VOLUME_FIELDS
    )
    return schemas.Volumes(
        **dict(zip(VOLUME_FIELDS, totals, strict=True)),
        series=[
            schemas.VolumePoint(period=p, received=a, responded=b, resolved=c, units=d)
            for p, a, b, c, d in tally.series
        ],
        by_channel=[
            schemas.ChannelVolume(channel=ch, **dict(zip(VOLUME_FIELDS, numbers, strict=True)))
            for ch, numbers in sorted(tally.channels.items())
        ],
        outcomes=dict(tally.outcomes),
        sentiments=dict(tally.sentiments),
    )


class ContractHead(NamedTuple):
    """What a contract's SLA shows of the contract, its client's zone, and the version of its day and month
    rollups cut in that zone (None: they are not; Ellipsis: not read yet)."""

    id: uuid.UUID
    code: str
    name: str
    time_zone: str
    version: int | EllipsisType | None = ...


# The contract, its client's zone and its rollups' version in that zone, in one statement.
_CONTRACT_HEAD = Compiled(
    select(
        Contract.id,
        Contract.code,
        Contract.name,
        Client.time_zone,
        PeriodRollupZone.version,
        Contract.client_id,
    )
    .join(Client, (Client.tenant_id == Contract.tenant_id) & (Client.id == Contract.client_id))
    .outerjoin(
        PeriodRollupZone,
        (PeriodRollupZone.tenant_id == Contract.tenant_id)
        & (PeriodRollupZone.contract_id == Contract.id)
        & (PeriodRollupZone.time_zone == Client.time_zone),
    )
    .where(Contract.tenant_id == bindparam("tenant_id"), Contract.id == bindparam("contract_id"))
)

# The coverage objective over a range (``coverage_objective.coverage_sla`` of one contract), called only
# when the contract has one: its policy versions, the local days first..last in its client's zone, and
# the period each day falls in.
CoverageOf = Callable[
    [Sequence[SlaPolicy], date, date, ZoneInfo, Callable[[date], date]],
    Awaitable[schemas.CoverageSla | None],
]


async def contract_sla(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    start: date | None,
    end: date | None,
    granularity: schemas.Granularity,
) -> schemas.ContractSla:
    """A contract's SLA, read in the session's transaction."""
    read = SessionReads(session)
    head, policies = await _contract_and_policies(read, scope, contract_id)
    coverage_of = functools.partial(_measure_coverage, session, scope, head.id)
    return await _contract_sla(read, scope, head, policies, start, end, granularity, coverage_of)


async def read_contract_sla(
    reads: TenantReads,
    scope: Scope,
    contract_id: uuid.UUID,
    start: date | None,
    end: date | None,
    granularity: schemas.Granularity,
) -> schemas.ContractSla:
    """``contract_sla`` in one read-only transaction of hot reads (no session, no ORM). A contract with a
    coverage objective has it measured from Staffing in a session of its own."""
    async with reads.transaction() as read, _staffing(reads, scope) as staffing:
        head, policies = await _contract_and_policies(read, scope, contract_id)

        async def coverage_of(*measured: Any) -> schemas.CoverageSla | None:
            return await _measure_coverage(await staffing(), scope, head.id, *measured)

        return await _contract_sla(read, scope, head, policies, start, end, granularity, coverage_of)


@asynccontextmanager
async def _staffing(reads: TenantReads, scope: Scope) -> AsyncIterator[Callable[[], Awaitable[AsyncSession]]]:
    """For a hot read that may measure coverage objectives from Staffing: a session of the tenant, opened
    on first use only (most contracts have none) and closed with the read."""
    async with contextlib.AsyncExitStack() as stack:
        opened: list[AsyncSession] = []

        async def session() -> AsyncSession:
            if not opened:
                opened.append(await stack.enter_async_context(reads.db.tenant(scope.tenant_id)))
            return opened[0]

        yield session


async def _measure_coverage(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, *measured: Any
) -> schemas.CoverageSla | None:
    """A ``CoverageOf`` of a contract by its id, in ``session``."""
    contract = await contracts.get_contract_row(session, scope, contract_id)
    return await coverage.coverage_sla(session, scope, contract, *measured)


async def _contract_and_policies(
    read: Reader, scope: Scope, contract_id: uuid.UUID
) -> tuple[ContractHead, list[SlaPolicy]]:
    """The contract's head and its policy versions if the caller may see it; a 404 otherwise."""
    found = None
    if scope.contract_id is None or scope.contract_id == contract_id:
        found = await read.one(_CONTRACT_HEAD, tenant_id=scope.tenant_id, contract_id=contract_id)
    if found is None or not contracts.visible(scope, found[5], contract_id):
        raise NotFound(f"Contract {contract_id} not found.")
    head = ContractHead(*found[:5])
    return head, (await contracts.read_policies(read, scope, [head.id]))[head.id]


async def _contract_sla(
    read: Reader,
    scope: Scope,
    contract: ContractHead,
    policies: Sequence[SlaPolicy],
    start: date | None,
    end: date | None,
    granularity: schemas.Granularity,
    coverage_of: CoverageOf,
) -> schemas.ContractSla:
    """``contract_sla`` of a contract already read, with its policy versions."""
    zone = ZoneInfo(contract.time_zone)
    first, last = resolve_range(start, end, datetime.now(zone).date())
    tallies = None
    if cut_cleanly(first, last, zone):
        tallies = await from_periods(
            read, scope, contract.id, first, last, granularity, zone, contract.version
        )
    objectives, volumes = tallies or await from_hours(
        read, scope, contract.id, first, last, granularity, zone
    )

    def period_of(day: date) -> date:
        return period_start(day, granularity)

    return schemas.ContractSla(
        contract_id=contract.id,
        contract_code=contract.code,
        name=contract.name,
        time_zone=contract.time_zone,
        start=first,
        end=last,
        granularity=granularity,
        objectives=[
            _objective_sla(key, objective, objectives.get(key) or ObjectiveTally())
            for key, objective in _objectives_in(policies, first, last).items()
        ],
        volumes=_volumes(volumes),
        coverage=(
            await coverage_of(policies, first, last, zone, period_of)
            if coverage.coverage_objective(policies, first, last)
            else None
        ),
        csat=satisfaction.csat_sla(volumes.csat),
        nps=await satisfaction.nps_sla(read, scope, contract.id, first, last, zone, period_of),
    )


def _previous_first(first: date, last: date) -> date:
    """The first day of the range as long as ``first``..``last`` that ends the day before it."""
    return first - (last - first + timedelta(days=1))


# What a client's summary counts, in one statement: per contract and objective, met and breached in the
# range and in the one before it (``current``), and per contract the items received in the range. Each
# contract is read from its day rows when they are cut in the client's zone (and the zone's clocks cut the
# days evenly: ``clean``), from its hourly rows otherwise.
_CLIENT_COUNTS = Compiled(
    text(
        """
        WITH d AS (
            SELECT i.contract_id, (:clean AND z.contract_id IS NOT NULL) AS by_day
            FROM unnest(CAST(:contract_ids AS uuid[])) AS i(contract_id)
            LEFT JOIN period_rollup_zones AS z
              ON z.tenant_id = :tenant_id AND z.contract_id = i.contract_id AND z.time_zone = :zone
        )
        SELECT p.contract_id, p.objective, p.starts_on >= :first AS current,
               CAST(sum(p.met) AS bigint), CAST(sum(p.breached) AS bigint)
        FROM d JOIN sla_periods AS p
          ON p.tenant_id = :tenant_id AND p.contract_id = d.contract_id AND p.span = :day
         AND p.starts_on >= :previous_first AND p.starts_on <= :last
        WHERE d.by_day
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT h.contract_id, h.objective, h.hour >= :lower,
               CAST(sum(h.met) AS bigint), CAST(sum(h.breached) AS bigint)
        FROM d JOIN sla_hourly AS h
          ON h.tenant_id = :tenant_id AND h.contract_id = d.contract_id AND h.hour >= :previous_lower
         AND h.hour < :upper
        WHERE NOT d.by_day
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT w.contract_id, NULL, true, CAST(sum(w.received) AS bigint), 0
        FROM d JOIN work_periods AS w
          ON w.tenant_id = :tenant_id AND w.contract_id = d.contract_id AND w.span = :day
         AND w.starts_on >= :first AND w.starts_on <= :last
        WHERE d.by_day
        GROUP BY 1
        UNION ALL
        SELECT w.contract_id, NULL, true, CAST(sum(w.received) AS bigint), 0
        FROM d JOIN work_hourly AS w
          ON w.tenant_id = :tenant_id AND w.contract_id = d.contract_id AND w.hour >= :lower
         AND w.hour < :upper
        WHERE NOT d.by_day
        GROUP BY 1
        """
    )
)


async def _client_counts(
    read: Reader, scope: Scope, ids: list[uuid.UUID], zone: ZoneInfo, first: date, last: date
) -> tuple[dict[tuple[uuid.UUID, str, bool], list[int]], Counter[uuid.UUID]]:
    """(contract, objective, in the range rather than the one before) -> [met, breached], and the items
    each contract received in the range."""
    counts: dict[tuple[uuid.UUID, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    received: Counter[uuid.UUID] = Counter()
    if not ids:
        return counts, received
    previous_first = _previous_first(first, last)
    lower, upper = day_bounds(first, last, zone)
    previous_lower, _ = day_bounds(previous_first, first - timedelta(days=1), zone)
    clean = cut_cleanly(previous_first, first - timedelta(days=1), zone) and cut_cleanly(first, last, zone)
    rows = await read.all(
        _CLIENT_COUNTS,
        tenant_id=scope.tenant_id,
        contract_ids=ids,
        zone=zone.key,
        clean=clean,
        day=DAY,
        first=first,
        last=last,
        previous_first=previous_first,
        lower=lower,
        upper=upper,
        previous_lower=previous_lower,
    )
    for contract_id, key, current, met, breached in rows:
        if key is None:
            received[contract_id] = int(met)
        else:
            counts[(contract_id, key, current)] = [int(met), int(breached)]
    return counts, received


def _objective_summaries(
    contract_id: uuid.UUID,
    policies: Sequence[SlaPolicy],
    counts: dict[tuple[uuid.UUID, str, bool], list[int]],
    first: date,
    last: date,
) -> list[schemas.ObjectiveSummary]:
    summaries = []
    for key, objective in _objectives_in(policies, first, last).items():
        now_attained = engine.attainment(*counts[(contract_id, key, True)])
        before = engine.attainment(*counts[(contract_id, key, False)])
        status = engine.target_status(now_attained, objective.target_percent)
        summaries.append(
            schemas.ObjectiveSummary(
                key=key,
                metric=objective.metric.value,
                target_percent=objective.target_percent,
                attainment=now_attained,
                status=status.value if status else None,
                previous_attainment=before,
                trend=engine.trend(now_attained, before),
            )
        )
    return summaries


# The coverage objective of one of a client's contracts for its summary (``coverage_summary``), called
# only when the contract has one: the contract's id, its policy versions, the first day of the range
# before, the range's first and last days, the client's zone.
CoverageSummaryOf = Callable[
    [uuid.UUID, Sequence[SlaPolicy], date, date, date, ZoneInfo],
    Awaitable[schemas.CoverageObjectiveSummary | None],
]


async def client_sla(
    reads: TenantReads, scope: Scope, client_id: uuid.UUID, start: date | None, end: date | None
) -> schemas.ClientSla:
    """All of a client's contracts against their objectives, in one read-only transaction of hot reads
    (no session, no ORM). Coverage objectives are measured from Staffing in a session of their own,
    opened only for a client with one."""
    async with reads.transaction() as read, _staffing(reads, scope) as staffing:
        client, lines = await clients.read_client_with_contracts(read, scope, client_id)
        policies_by_contract = await contracts.read_policies(read, scope, [line.id for line in lines])

        async def coverage_of(
            contract_id: uuid.UUID, *measured: Any
        ) -> schemas.CoverageObjectiveSummary | None:
            session = await staffing()
            contract = await contracts.get_contract_row(session, scope, contract_id)
            return await coverage.coverage_summary(session, scope, contract, *measured)

        return await _client_sla(read, scope, client, lines, policies_by_contract, start, end, coverage_of)


async def client_dashboard(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, days: int
) -> tuple[schemas.ClientSla, dict[uuid.UUID, schemas.ContractSla]]:
    """The client's SLA over the last ``days`` days up to today in its zone, and each contract's by day:
    what ``client_sla`` and ``contract_sla`` answer, with the client, its contracts and their policy
    versions read once for all of them."""
    client, contract_rows = await clients.get_client_with_contracts(session, scope, client_id)
    end = datetime.now(ZoneInfo(client.time_zone)).date()
    start = end - timedelta(days=days - 1)
    read = SessionReads(session)
    policies_by_contract = await contracts.read_policies(read, scope, [c.id for c in contract_rows])
    by_id = {contract.id: contract for contract in contract_rows}

    async def coverage_of(contract_id: uuid.UUID, *measured: Any) -> schemas.CoverageObjectiveSummary | None:
        return await coverage.coverage_summary(session, scope, by_id[contract_id], *measured)

    summary = await _client_sla(
        read,
        scope,
        clients.ClientHead(client.id, client.code, client.name, client.time_zone),
        [clients.ContractLine(c.id, c.code, c.name, c.work_type, c.status) for c in contract_rows],
        policies_by_contract,
        start,
        end,
        coverage_of,
    )
    details = {}
    for contract in contract_rows:
        head = ContractHead(contract.id, contract.code, contract.name, client.time_zone)
        details[contract.id] = await _contract_sla(
            read,
            scope,
            head,
            policies_by_contract[contract.id],
            start,
            end,
            "day",
            functools.partial(coverage.coverage_sla, session, scope, contract),
        )
    return summary, details


async def _client_sla(
    read: Reader,
    scope: Scope,
    client: clients.ClientHead,
    lines: Sequence[clients.ContractLine],
    policies_by_contract: Mapping[uuid.UUID, Sequence[SlaPolicy]],
    start: date | None,
    end: date | None,
    coverage_of: CoverageSummaryOf,
) -> schemas.ClientSla:
    """``client_sla`` of a client already read, with its visible contracts and their policy versions."""
    zone = ZoneInfo(client.time_zone)
    first, last = resolve_range(start, end, datetime.now(zone).date())
    previous_first = _previous_first(first, last)
    counts, received = await _client_counts(read, scope, [c.id for c in lines], zone, first, last)
    summaries = []
    for contract in lines:
        policies = policies_by_contract[contract.id]
        summaries.append(
            schemas.ContractSummary(
                contract_id=contract.id,
                contract_code=contract.code,
                name=contract.name,
                work_type=contract.work_type,
                status=contract.status,
                received=received[contract.id],
                objectives=_objective_summaries(contract.id, policies, counts, first, last),
                coverage=(
                    await coverage_of(contract.id, policies, previous_first, first, last, zone)
                    if coverage.coverage_objective(policies, first, last)
                    else None
                ),
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
