"""SLA dashboards, read from the rollups (never from raw items), in the client's time zone: from the day and
month rows when the contract's are cut in that zone, else from the hourly rows (the same numbers)."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import EllipsisType
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import msgspec
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
from bpo.sla.rollups import (
    DAY,
    MONTH,
    VOLUME_FIELDS,
    cut_cleanly,
    day_bounds,
    local_day,
    next_month,
    objective_key,
)
from bpo.sla.sketch import LatencySketch

MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = timedelta(days=29)


def period_start(day: date, granularity: schemas.Granularity) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


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


# --- the numbers of a range, from day and month rows or from hourly rows -------------------------


Key = TypeVar("Key")


def _accumulate(totals: dict[Key, list[int]], key: Key, numbers: Sequence[int]) -> None:
    """Add ``numbers`` position by position to ``totals[key]``."""
    current = totals.get(key)
    if current is None:
        totals[key] = list(numbers)
    else:
        for i, number in enumerate(numbers):
            current[i] += number


@dataclass
class _ObjectiveTally:
    """An objective over a range: (period, met, breached, pending) in period order; sketch; checkpoints."""

    series: list[tuple[date, int, int, int]] = field(default_factory=list)
    sketch: dict[int, int] = field(default_factory=dict)
    within: Counter[str] = field(default_factory=Counter)
    eligible: Counter[str] = field(default_factory=Counter)
    # Answered items' elapsed seconds, exactly; None once a row without the sum is merged.
    elapsed_sum: Decimal | None = Decimal(0)

    def merge(
        self,
        sketch: Mapping[int, int],
        checkpoints: Mapping[str, Sequence[int]],
        elapsed_sum: Decimal | None,
        sign: int = 1,
    ) -> None:
        """Add (or, with sign -1, take away) one row's sketch, elapsed time and checkpoint counts."""
        counts = self.sketch
        if not counts and sign == 1:
            counts.update(sketch)
        else:
            known = counts.get
            for bucket, count in sketch.items():
                counts[bucket] = known(bucket, 0) + sign * count
        for seconds, (within, eligible) in checkpoints.items():
            self.within[seconds] += sign * within
            self.eligible[seconds] += sign * eligible
        if self.elapsed_sum is not None:
            self.elapsed_sum = None if elapsed_sum is None else self.elapsed_sum + sign * elapsed_sum


@dataclass
class _VolumeTally:
    """Volumes over a range: (period, *VOLUME_FIELDS) in period order, VOLUME_FIELDS per channel, outcome
    and sentiment counts."""

    series: list[tuple[date, int, int, int, int]] = field(default_factory=list)
    channels: dict[str, list[int]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    sentiments: Counter[str] = field(default_factory=Counter)
    # CSAT ratings per period (of the requested granularity) and score.
    csat: dict[date, Counter[str]] = field(default_factory=dict)


_decode_sketch = msgspec.json.Decoder(dict[int, int]).decode
_decode_checkpoints = msgspec.json.Decoder(dict[str, tuple[int, int]]).decode
_decode_counts = msgspec.json.Decoder(dict[str, int]).decode


# A range from day, month and month-to-date rows, in one statement per table. The days come as one array
# per column (per objective), which costs far less to read than a row per day. Sketches and other counts
# come from the rows merge_plan names, each with the sign it is added with: about a dozen rows per
# objective for a year (the month-to-date rows picked with DISTINCT ON: a join against the contract's
# month-to-date rows, one per day, cost most of the statement). Sketches are merged in Python, as
# expanding JSON in SQL costs several times more.
_SLA_RANGE = Compiled(
    text(
        """
        SELECT objective, array_agg(starts_on ORDER BY starts_on) AS days, array_agg(met ORDER BY starts_on),
               array_agg(breached ORDER BY starts_on), array_agg(pending ORDER BY starts_on),
               NULL::int AS sign, NULL AS sketch, NULL AS checkpoints, NULL::numeric AS elapsed_sum
        FROM sla_periods
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id AND span = 'day'
          AND starts_on BETWEEN :first AND :last
        GROUP BY objective
        UNION ALL
        SELECT objective, NULL, NULL, NULL, NULL, 1, sketch::text, checkpoints::text, elapsed_sum
        FROM sla_periods
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id
          AND span = 'month' AND starts_on BETWEEN :months_from AND :months_to
        UNION ALL
        (SELECT DISTINCT ON (objective) objective, NULL, NULL, NULL, NULL, 1, sketch::text, checkpoints::text,
                elapsed_sum
         FROM sla_periods
         WHERE tenant_id = :tenant_id AND contract_id = :contract_id
           AND span = 'mtd' AND starts_on BETWEEN :tail_from AND :last
         ORDER BY objective, starts_on DESC)
        UNION ALL
        (SELECT DISTINCT ON (objective) objective, NULL, NULL, NULL, NULL, -1, sketch::text,
                checkpoints::text, elapsed_sum
         FROM sla_periods
         WHERE tenant_id = :tenant_id AND contract_id = :contract_id
           AND span = 'mtd' AND starts_on BETWEEN :head_from AND :head_to
         ORDER BY objective, starts_on DESC)
        """
    )
)
_WORK_RANGE = Compiled(
    text(
        """
        WITH days AS (
            SELECT starts_on, sum(received)::bigint AS received, sum(responded)::bigint AS responded,
                   sum(resolved)::bigint AS resolved, sum(units)::bigint AS units
            FROM work_periods
            WHERE tenant_id = :tenant_id AND contract_id = :contract_id AND span = 'day'
              AND starts_on BETWEEN :first AND :last
            GROUP BY starts_on
        ), picked AS (
            SELECT 1 AS sign, channel, received, responded, resolved, units, outcomes, sentiments
            FROM work_periods
            WHERE tenant_id = :tenant_id AND contract_id = :contract_id
              AND span = 'month' AND starts_on BETWEEN :months_from AND :months_to
            UNION ALL
            (SELECT DISTINCT ON (channel) 1, channel, received, responded, resolved, units, outcomes,
                    sentiments
             FROM work_periods
             WHERE tenant_id = :tenant_id AND contract_id = :contract_id
               AND span = 'mtd' AND starts_on BETWEEN :tail_from AND :last
             ORDER BY channel, starts_on DESC)
            UNION ALL
            (SELECT DISTINCT ON (channel) -1, channel, received, responded, resolved, units, outcomes,
                    sentiments
             FROM work_periods
             WHERE tenant_id = :tenant_id AND contract_id = :contract_id
               AND span = 'mtd' AND starts_on BETWEEN :head_from AND :head_to
             ORDER BY channel, starts_on DESC)
        )
        SELECT 'day' AS part, NULL AS key, array_agg(starts_on ORDER BY starts_on) AS days,
               array_agg(received ORDER BY starts_on), array_agg(responded ORDER BY starts_on),
               array_agg(resolved ORDER BY starts_on), array_agg(units ORDER BY starts_on),
               NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
        FROM days HAVING count(*) > 0
        UNION ALL
        SELECT 'channel', channel, NULL, NULL, NULL, NULL, NULL, sum(sign * received)::bigint,
               sum(sign * responded)::bigint, sum(sign * resolved)::bigint, sum(sign * units)::bigint
        FROM picked GROUP BY channel HAVING sum(sign * received) > 0
        UNION ALL
        SELECT 'outcome', key, NULL, NULL, NULL, NULL, NULL, sum(sign * value::bigint)::bigint, NULL, NULL,
               NULL
        FROM picked, jsonb_each_text(outcomes) GROUP BY key HAVING sum(sign * value::bigint) <> 0
        UNION ALL
        SELECT 'sentiment', key, NULL, NULL, NULL, NULL, NULL, sum(sign * value::bigint)::bigint, NULL, NULL,
               NULL
        FROM picked, jsonb_each_text(sentiments) GROUP BY key HAVING sum(sign * value::bigint) <> 0
        UNION ALL
        SELECT 'csat', rating, array_agg(starts_on ORDER BY starts_on), array_agg(rated ORDER BY starts_on),
               NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM (
            SELECT starts_on, key AS rating, sum(value::bigint)::bigint AS rated
            FROM work_periods, jsonb_each_text(csat)
            WHERE tenant_id = :tenant_id AND contract_id = :contract_id AND span = 'day'
              AND starts_on BETWEEN :first AND :last AND csat <> '{}'::jsonb
            GROUP BY starts_on, key
        ) AS ratings
        GROUP BY rating
        """
    )
)
_VERSION = Compiled(
    text(
        """
        SELECT version FROM period_rollup_zones
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id AND time_zone = :zone
        """
    )
)
_SLA_HOURS = Compiled(
    text(
        """
        SELECT objective, hour, met, breached, pending, sketch::text, checkpoints::text, elapsed_sum
        FROM sla_hourly
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id AND hour >= :lower AND hour < :upper
        """
    )
)
_WORK_HOURS = Compiled(
    text(
        """
        SELECT hour, channel, received, responded, resolved, units, outcomes::text, sentiments::text,
               csat::text
        FROM work_hourly
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id AND hour >= :lower AND hour < :upper
        """
    )
)


def merge_plan(first: date, last: date) -> dict[str, date]:
    """Which rows add up to [first, last]: the month rows starting months_from..months_to (the first
    day's month to the one before the last day's, or to the last day's when the range ends with its
    month), plus the latest month-to-date row within tail_from..last, minus the latest within
    head_from..head_to (the days of the first day's month before it). A part whose start is after its
    end is empty."""
    first_month, after = first.replace(day=1), last + timedelta(days=1)
    last_month = after.replace(day=1) if after.day == 1 else last.replace(day=1)
    return {
        "months_from": first_month,
        "months_to": (last_month - timedelta(days=1)).replace(day=1),
        "tail_from": last_month,
        "head_from": first_month,
        "head_to": first - timedelta(days=1),
    }


def _by_period(
    days: Sequence[date], columns: Sequence[Sequence[int]], granularity: schemas.Granularity
) -> list[tuple[Any, ...]]:
    """(period, *sums) in period order, from day-ordered columns."""
    if granularity == "day":
        return list(zip(days, *columns, strict=True))
    periods: dict[date, list[int]] = {}
    for day, *numbers in zip(days, *columns, strict=True):
        _accumulate(periods, period_start(day, granularity), numbers)
    return [(period, *numbers) for period, numbers in periods.items()]


Tallies = tuple[dict[str, _ObjectiveTally], _VolumeTally]
# Tallies of recent ranges by contract, rollup version, zone, range and granularity: a dashboard viewed
# again before its contract's rollups change (a refresh raises the version) skips the rollup queries.
_recent: OrderedDict[tuple[Any, ...], Tallies] = OrderedDict()
RECENT_RANGES = 64


async def _from_periods(
    read: Reader,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    granularity: schemas.Granularity,
    zone: ZoneInfo,
    version: int | EllipsisType | None = ...,
) -> Tallies | None:
    """Day rows for the series; sketches, checkpoints, outcomes and sentiments merged from month and
    month-to-date rows (merge_plan). None when the contract's periods are not cut in ``zone``. Their
    ``version`` in ``zone`` is read here unless given."""
    days = {"tenant_id": scope.tenant_id, "contract_id": contract_id, "first": first, "last": last}
    if isinstance(version, EllipsisType):
        found = await read.one(_VERSION, **days, zone=zone.key)
        version = None if found is None else found[0]
    if version is None:
        return None
    key = (scope.tenant_id, contract_id, version, zone.key, first, last, granularity)
    if (tallies := _recent.get(key)) is not None:
        _recent.move_to_end(key)
        return tallies
    spans = {**days, **merge_plan(first, last)}
    objectives: defaultdict[str, _ObjectiveTally] = defaultdict(_ObjectiveTally)
    for objective, starts, *columns, sign, sketch, checkpoints, elapsed_sum in await read.all(
        _SLA_RANGE, **spans
    ):
        if starts is not None:
            objectives[objective].series = _by_period(starts, columns, granularity)
        else:
            objectives[objective].merge(
                _decode_sketch(sketch), _decode_checkpoints(checkpoints), elapsed_sum, sign
            )
    volumes = _VolumeTally()
    parts = {"outcome": volumes.outcomes, "sentiment": volumes.sentiments}
    for part, name, starts, *columns in await read.all(_WORK_RANGE, **spans):
        if part == "day":
            volumes.series = _by_period(starts, columns[:4], granularity)
        elif part == "channel":
            volumes.channels[name] = columns[4:]
        elif part == "csat":
            for day, rated in zip(starts, columns[0], strict=True):
                volumes.csat.setdefault(period_start(day, granularity), Counter())[name] += rated
        else:
            parts[part][name] = columns[4]
    _recent[key] = (objectives, volumes)
    if len(_recent) > RECENT_RANGES:
        _recent.popitem(last=False)
    return objectives, volumes


async def _from_hours(
    read: Reader,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    granularity: schemas.Granularity,
    zone: ZoneInfo,
) -> tuple[dict[str, _ObjectiveTally], _VolumeTally]:
    lower, upper = day_bounds(first, last, zone)
    hours = {"tenant_id": scope.tenant_id, "contract_id": contract_id, "lower": lower, "upper": upper}
    objectives: defaultdict[str, _ObjectiveTally] = defaultdict(_ObjectiveTally)
    periods: defaultdict[str, dict[date, list[int]]] = defaultdict(dict)
    for objective, hour, met, breached, pending, sketch, checkpoints, elapsed_sum in await read.all(
        _SLA_HOURS, **hours
    ):
        period = period_start(local_day(hour, zone), granularity)
        _accumulate(periods[objective], period, (met, breached, pending))
        objectives[objective].merge(_decode_sketch(sketch), _decode_checkpoints(checkpoints), elapsed_sum)
    for objective, by_period in periods.items():
        objectives[objective].series = sorted((period, m, b, q) for period, (m, b, q) in by_period.items())
    volumes = _VolumeTally()
    volume_periods: dict[date, list[int]] = {}
    for hour, channel, *numbers, outcomes, sentiments, csat in await read.all(_WORK_HOURS, **hours):
        period = period_start(local_day(hour, zone), granularity)
        _accumulate(volume_periods, period, numbers)
        _accumulate(volumes.channels, channel, numbers)
        volumes.outcomes.update(_decode_counts(outcomes))
        volumes.sentiments.update(_decode_counts(sentiments))
        if ratings := _decode_counts(csat):
            volumes.csat.setdefault(period, Counter()).update(ratings)
    volumes.series = sorted((period, a, b, c, d) for period, (a, b, c, d) in volume_periods.items())
    return objectives, volumes


def _objective_sla(key: str, objective: Objective, tally: _ObjectiveTally) -> schemas.ObjectiveSla:
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


def _volumes(tally: _VolumeTally) -> schemas.Volumes:
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
    head = await _contract_head(read, scope, contract_id)
    policies = (await contracts.read_policies(read, scope, [head.id]))[head.id]
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
    async with reads.transaction() as read:
        head = await _contract_head(read, scope, contract_id)
        policies = (await contracts.read_policies(read, scope, [head.id]))[head.id]

        async def coverage_of(*measured: Any) -> schemas.CoverageSla | None:
            async with reads.db.tenant(scope.tenant_id) as session:
                return await _measure_coverage(session, scope, head.id, *measured)

        return await _contract_sla(read, scope, head, policies, start, end, granularity, coverage_of)


async def _measure_coverage(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, *measured: Any
) -> schemas.CoverageSla | None:
    """A ``CoverageOf`` of a contract by its id, in ``session``."""
    contract = await contracts.get_contract_row(session, scope, contract_id)
    return await coverage.coverage_sla(session, scope, contract, *measured)


async def _contract_head(read: Reader, scope: Scope, contract_id: uuid.UUID) -> ContractHead:
    """The contract's head if the caller may see it; a 404 otherwise."""
    found = None
    if scope.contract_id is None or scope.contract_id == contract_id:
        found = await read.one(_CONTRACT_HEAD, tenant_id=scope.tenant_id, contract_id=contract_id)
    if found is None or not contracts.visible(scope, found[5], contract_id):
        raise NotFound(f"Contract {contract_id} not found.")
    return ContractHead(*found[:5])


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
        tallies = await _from_periods(
            read, scope, contract.id, first, last, granularity, zone, contract.version
        )
    objectives, volumes = tallies or await _from_hours(
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
            _objective_sla(key, objective, objectives.get(key) or _ObjectiveTally())
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
    async with reads.transaction() as read, contextlib.AsyncExitStack() as later:
        client, lines = await clients.read_client_with_contracts(read, scope, client_id)
        policies_by_contract = await contracts.read_policies(read, scope, [line.id for line in lines])
        session: AsyncSession | None = None

        async def coverage_of(
            contract_id: uuid.UUID, *measured: Any
        ) -> schemas.CoverageObjectiveSummary | None:
            nonlocal session
            if session is None:
                session = await later.enter_async_context(reads.db.tenant(scope.tenant_id))
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
    "required_minutes",
    "fully_staffed_minutes",
)


def csv_percent(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def contract_sla_csv(report: schemas.ContractSla) -> str:
    """The same numbers as the JSON report, one row per objective and period (volumes repeated per row).
    The coverage objective's rows leave the item counts empty and give required and fully staffed minutes;
    item objectives' rows leave those empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    volumes = {point.period: point for point in report.volumes.series}

    def write(key: str, period: date, attained: float | None, target: float, *counts: object) -> None:
        volume = volumes.get(period)
        writer.writerow(
            [
                report.contract_code,
                key,
                period.isoformat(),
                *counts[:3],
                csv_percent(attained),
                f"{target:g}",
                *((volume.received, volume.responded, volume.resolved, volume.units) if volume else (0,) * 4),
                *counts[3:],
            ]
        )

    for objective in report.objectives:
        for point in objective.series:
            write(
                objective.key,
                point.period,
                point.attainment,
                objective.target_percent,
                *(point.met, point.breached, point.pending, "", ""),
            )
    if report.coverage is not None:
        for staffed in report.coverage.series:
            write(
                "coverage",
                staffed.period,
                staffed.attainment,
                report.coverage.target_percent,
                *("", "", "", f"{staffed.required_minutes:g}", f"{staffed.fully_staffed_minutes:g}"),
            )
    return buffer.getvalue()


CLIENT_CSV_COLUMNS = (
    "contract_code",
    "contract_name",
    "objective",
    "metric",
    "target_percent",
    "attainment_percent",
    "status",
    "previous_attainment_percent",
    "trend",
    "received",
)


def client_sla_csv(report: schemas.ClientSla) -> str:
    """The client summary, one row per contract and objective (the coverage objective as "coverage")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLIENT_CSV_COLUMNS)

    for contract in report.contracts:
        rows: list[tuple[str, str, schemas.ObjectiveSummary | schemas.CoverageObjectiveSummary]] = [
            (o.key, o.metric, o) for o in contract.objectives
        ]
        if contract.coverage is not None:
            rows.append(("coverage", "coverage", contract.coverage))
        for key, metric, summary in rows:
            writer.writerow(
                [
                    contract.contract_code,
                    contract.name,
                    key,
                    metric,
                    f"{summary.target_percent:g}",
                    csv_percent(summary.attainment),
                    summary.status or "",
                    csv_percent(summary.previous_attainment),
                    summary.trend or "",
                    contract.received,
                ]
            )
    return buffer.getvalue()


# Each contract's hourly SLA rows within its own bounds, summed per objective: one statement for a run.
_MET_AND_BREACHED = text(
    """
    SELECT h.contract_id, h.objective, sum(h.met) AS met, sum(h.breached) AS breached
    FROM unnest(CAST(:contract_ids AS uuid[]), CAST(:lowers AS timestamptz[]), CAST(:uppers AS timestamptz[]))
         AS s(contract_id, lower, upper)
    JOIN sla_hourly AS h ON h.contract_id = s.contract_id AND h.hour >= s.lower AND h.hour < s.upper
    WHERE h.tenant_id = :tenant_id
    GROUP BY h.contract_id, h.objective
    """
)


def _worst_of(
    contract_ids: Sequence[uuid.UUID], rows: Sequence[Any]
) -> dict[uuid.UUID, dict[Metric, float | None]]:
    """Per contract, the attainment of each metric from (contract, objective, met, breached) rows: the worst
    objective where several share a metric; None without decided items."""
    worst: dict[uuid.UUID, dict[Metric, float | None]] = {contract_id: {} for contract_id in contract_ids}
    for contract_id, key, met, breached in rows:
        metrics = worst[contract_id]
        metric = Metric(key.split("|", 1)[0])
        attained = engine.attainment(int(met), int(breached))
        current = metrics.get(metric)
        if attained is not None and (current is None or attained < current):
            metrics[metric] = attained
        else:
            metrics.setdefault(metric, current)
    return worst


async def _add_coverage(
    session: AsyncSession,
    scope: Scope,
    worst: dict[uuid.UUID, dict[Metric, float | None]],
    bounds: Mapping[uuid.UUID, tuple[datetime, datetime]],
) -> None:
    """The share of required coverage time staffed at full headcount, for the contracts with a coverage
    objective (measured contract by contract)."""
    for contract_id, policies in (await contracts.policies_of(session, scope, list(bounds))).items():
        lower, upper = bounds[contract_id]
        if coverage.coverage_objective(policies, lower.date(), upper.date()) is None:
            continue
        staffed = await coverage.coverage_attainment(session, scope, contract_id, lower, upper)
        if staffed is not None:
            worst[contract_id][Metric.COVERAGE] = staffed


async def attainment_of_contracts(
    session: AsyncSession, scope: Scope, bounds: Mapping[uuid.UUID, tuple[datetime, datetime]]
) -> dict[uuid.UUID, dict[Metric, float | None]]:
    """Percent met of decided items per metric, for each contract over its own [lower, upper), from the
    hourly rollups in one statement; the worst objective where several share a metric (filtered by priority
    or channel); None without data. For `coverage`, the share of required coverage time staffed at full
    headcount (measured contract by contract, for the contracts with a coverage objective). Contracts the
    caller was already shown: their visibility is not checked again here."""
    if not bounds:
        return {}
    rows = await session.execute(
        _MET_AND_BREACHED,
        {
            "tenant_id": scope.tenant_id,
            "contract_ids": list(bounds),
            "lowers": [lower for lower, _ in bounds.values()],
            "uppers": [upper for _, upper in bounds.values()],
        },
    )
    worst = _worst_of(list(bounds), rows.all())
    await _add_coverage(session, scope, worst, bounds)
    return worst


# Met and breached per contract and objective over each contract's local days: from the month's row where
# the days are a whole month of the zone the contract's days are rolled up in, from the day rows where they
# are another run of its days, and from the hourly rows where the contract's days are not rolled up in
# this zone (or its clocks cut the days unevenly).
_MET_AND_BREACHED_OVER_DAYS = text(
    """
    WITH s AS (
        SELECT s.*, (s.clean AND z.contract_id IS NOT NULL) AS by_day
        FROM unnest(CAST(:contract_ids AS uuid[]), CAST(:firsts AS date[]), CAST(:lasts AS date[]),
                    CAST(:lowers AS timestamptz[]), CAST(:uppers AS timestamptz[]),
                    CAST(:months AS boolean[]), CAST(:clean AS boolean[]))
             AS s(contract_id, first, last, lower, upper, whole_month, clean)
        LEFT JOIN period_rollup_zones AS z
          ON z.tenant_id = :tenant_id AND z.contract_id = s.contract_id AND z.time_zone = :zone
    )
    SELECT contract_id, objective, sum(met) AS met, sum(breached) AS breached
    FROM (
        SELECT p.contract_id, p.objective, p.met, p.breached
        FROM s JOIN sla_periods AS p
          ON p.tenant_id = :tenant_id AND p.contract_id = s.contract_id AND p.span = :month
         AND p.starts_on = s.first
        WHERE s.by_day AND s.whole_month
        UNION ALL
        SELECT p.contract_id, p.objective, p.met, p.breached
        FROM s JOIN sla_periods AS p
          ON p.tenant_id = :tenant_id AND p.contract_id = s.contract_id AND p.span = :day
         AND p.starts_on >= s.first AND p.starts_on <= s.last
        WHERE s.by_day AND NOT s.whole_month
        UNION ALL
        SELECT h.contract_id, h.objective, h.met, h.breached
        FROM s JOIN sla_hourly AS h
          ON h.tenant_id = :tenant_id AND h.contract_id = s.contract_id AND h.hour >= s.lower
         AND h.hour < s.upper
        WHERE NOT s.by_day
    ) AS counted
    GROUP BY contract_id, objective
    """
)


def _whole_month(first: date, last: date) -> bool:
    return first.day == 1 and last + timedelta(days=1) == next_month(first)


async def attainment_over_days(
    session: AsyncSession, scope: Scope, time_zone: str, days: Mapping[uuid.UUID, tuple[date, date]]
) -> dict[uuid.UUID, dict[Metric, float | None]]:
    """``attainment_of_contracts`` over each contract's local days ``first`` to ``last`` of ``time_zone``
    (a billing period), read in one statement from the per-month or per-day rollups where the contract's
    are cut in that zone (a few rows per contract instead of one per hour), from the hourly ones
    otherwise: the same numbers either way."""
    if not days:
        return {}
    zone = ZoneInfo(time_zone)
    ids = list(days)
    bounds = {contract_id: day_bounds(first, last, zone) for contract_id, (first, last) in days.items()}
    rows = await session.execute(
        _MET_AND_BREACHED_OVER_DAYS,
        {
            "tenant_id": scope.tenant_id,
            "zone": zone.key,
            "month": MONTH,
            "day": DAY,
            "contract_ids": ids,
            "firsts": [days[c][0] for c in ids],
            "lasts": [days[c][1] for c in ids],
            "lowers": [bounds[c][0] for c in ids],
            "uppers": [bounds[c][1] for c in ids],
            "months": [_whole_month(*days[c]) for c in ids],
            "clean": [cut_cleanly(*days[c], zone) for c in ids],
        },
    )
    worst = _worst_of(ids, rows.all())
    await _add_coverage(session, scope, worst, bounds)
    return worst


async def attainment_by_metric(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, lower: datetime, upper: datetime
) -> dict[Metric, float | None]:
    """``attainment_of_contracts`` of one contract the caller can see."""
    contract = await contracts.get_contract_row(session, scope, contract_id)
    return (await attainment_of_contracts(session, scope, {contract.id: (lower, upper)}))[contract.id]
