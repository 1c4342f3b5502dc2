"""The numbers of a contract's SLA over a range of local days, by period: from its day and month rows
when they are cut in the client's zone, else from its hourly rows (the same numbers). Tallies of recent
ranges are kept per rollup version, so a dashboard viewed again before a refresh reads nothing."""

from __future__ import annotations

import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from types import EllipsisType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import text

from bpo.core.db import Compiled, Reader
from bpo.core.scope import Scope
from bpo.sla import schemas
from bpo.sla.rollups import day_bounds, local_day


def period_start(day: date, granularity: schemas.Granularity) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


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
class ObjectiveTally:
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
class VolumeTally:
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


Tallies = tuple[dict[str, ObjectiveTally], VolumeTally]
# Tallies of recent ranges by contract, rollup version, zone, range and granularity: a dashboard viewed
# again before its contract's rollups change (a refresh raises the version) skips the rollup queries.
_recent: OrderedDict[tuple[Any, ...], Tallies] = OrderedDict()
RECENT_RANGES = 64


async def from_periods(
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
    objectives: defaultdict[str, ObjectiveTally] = defaultdict(ObjectiveTally)
    for objective, starts, *columns, sign, sketch, checkpoints, elapsed_sum in await read.all(
        _SLA_RANGE, **spans
    ):
        if starts is not None:
            objectives[objective].series = _by_period(starts, columns, granularity)
        else:
            objectives[objective].merge(
                _decode_sketch(sketch), _decode_checkpoints(checkpoints), elapsed_sum, sign
            )
    volumes = VolumeTally()
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


async def from_hours(
    read: Reader,
    scope: Scope,
    contract_id: uuid.UUID,
    first: date,
    last: date,
    granularity: schemas.Granularity,
    zone: ZoneInfo,
) -> tuple[dict[str, ObjectiveTally], VolumeTally]:
    lower, upper = day_bounds(first, last, zone)
    hours = {"tenant_id": scope.tenant_id, "contract_id": contract_id, "lower": lower, "upper": upper}
    objectives: defaultdict[str, ObjectiveTally] = defaultdict(ObjectiveTally)
    periods: defaultdict[str, dict[date, list[int]]] = defaultdict(dict)
    for objective, hour, met, breached, pending, sketch, checkpoints, elapsed_sum in await read.all(
        _SLA_HOURS, **hours
    ):
        period = period_start(local_day(hour, zone), granularity)
        _accumulate(periods[objective], period, (met, breached, pending))
        objectives[objective].merge(_decode_sketch(sketch), _decode_checkpoints(checkpoints), elapsed_sum)
    for objective, by_period in periods.items():
        objectives[objective].series = sorted((period, m, b, q) for period, (m, b, q) in by_period.items())
    volumes = VolumeTally()
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
