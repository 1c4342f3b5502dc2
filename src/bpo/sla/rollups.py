"""SLA and volume rollups: hourly rows that always equal an exact recomputation from the items of their
hour, and recomputed again when time alone changes them (a pending item breaching); above them, the same
numbers per local day, month and month to date of the client's zone, summed from the hourly rows.

Each ingest batch records the hours it touched in ``rollup_batches``, with its items. The refresh after it
(``add_batches``) takes those records in the same statement as it reads the batches' new items, and adds
their numbers to the hours' rows: the cost follows the batch, not the hour it lands in. An hour where a
batch changed items already counted, whose rows time has moved on, that has no rows yet, or whose
contract or calendar changed since its rows were written, is measured again whole (``refresh_hours``),
which takes that hour's records too: a batch is never counted twice nor missed.

Ingest enqueues ``sla.refresh_hours`` through the outbox for the hours it changed; ``sla.refresh_due``
runs every minute for hours whose ``next_change_at`` has passed, contract by contract (one that fails
stops none of the others); ``sla.remeasure`` follows a corrected SLA policy version; ``bpo sla rebuild``
recomputes a range from scratch. A refresh rewrites the hours it was given and then the days and months
they fall in, in the same transaction, so the rollup lag is the outbox relay plus one job (a few seconds;
``bench/ingest.py`` prints the rate below which it stays bounded) and the layers never disagree.

Days and months are cut in the zone recorded in ``period_rollup_zones``. A contract without that row, or
whose client has moved to another zone since, has its periods rebuilt from all its hourly rows at its
next refresh; until then dashboards read the hourly rows, which give the same numbers.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, and_, delete, false, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.schemas import Metric, Objective, SlaClock
from bpo.core.business_time import Calendar, add_business, business_duration, open_intervals
from bpo.core.jobs.failures import Failures
from bpo.core.scope import Scope
from bpo.sla import engine
from bpo.sla.models import PeriodRollupZone, SlaHourly, SlaPeriod, WorkHourly, WorkPeriod
from bpo.sla.sketch import bucket_of
from bpo.work.models import WorkItem

HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)
DAY = "day"
MONTH = "month"
# From the first of the month through the row's day: any range of days is then whole months plus or minus
# at most two rows, so a year merges a dozen sketches per objective instead of a few dozen.
MONTH_TO_DATE = "mtd"
# Hourly rows read around a local day's bounds: wider than any zone's jump, so every hour whose local date
# is that day is among them.
_DAY_MARGIN = timedelta(days=2)
VOLUME_FIELDS = ("received", "responded", "resolved", "units")
# What a tenant-wide SLA job records a failure against.
CONTRACT = "contract"
# Hours one sla.remeasure job recomputes (a week of them); the next job goes on from there.
REMEASURE_HOURS = 168

# The items received in some ranges of time, each range its own index scan: first the columns measure_hour
# reads (in this order), then those volumes and alert detection read. The ingest batches recorded
# for those hours are taken in the same statement, so in the same snapshot as the items: the rows written
# from these items hold every batch taken, and no batch is added to them twice.
_ITEMS_IN = text(
    """
    WITH taken AS (
        DELETE FROM rollup_batches AS b
        USING unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) AS r(start, stop)
        WHERE b.tenant_id = :tenant_id AND b.contract_id = :contract_id
          AND b.hour >= r.start AND b.hour < r.stop
    )
    SELECT w.received_at, w.first_response_at, w.resolved_at, w.priority, w.channel, w.units, w.outcome,
           w.sentiment, w.csat, w.id, w.external_id
    FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) AS r(start, stop)
    JOIN work_items AS w ON w.received_at >= r.start AND w.received_at < r.stop
    WHERE w.tenant_id = :tenant_id AND w.contract_id = :contract_id
    """
)
# The batches recorded for some hours, taken (rows with a batch hour), then the items those that only
# created items created (rows without): a batch's new items have ids from its own (the same first 112
# bits), so each batch is one range of the primary key, whatever hours it spans.
_BATCHES_IN = text(
    """
    WITH taken AS (
        DELETE FROM rollup_batches AS b
        WHERE b.tenant_id = :tenant_id AND b.contract_id = :contract_id
          AND b.hour = ANY(CAST(:hours AS timestamptz[]))
        RETURNING b.hour, b.batch_id, b.changed
    ),
    creating AS (SELECT DISTINCT batch_id FROM taken WHERE NOT changed)
    SELECT NULL AS received_at, NULL AS first_response_at, NULL AS resolved_at, NULL AS priority,
           NULL AS channel, NULL AS units, NULL AS outcome, NULL AS sentiment, NULL AS csat, NULL AS id,
           NULL AS external_id, t.hour AS batch_hour, t.changed AS batch_changed
    FROM taken AS t
    UNION ALL
    SELECT w.received_at, w.first_response_at, w.resolved_at, w.priority, w.channel, w.units, w.outcome,
           w.sentiment, w.csat, w.id, w.external_id, NULL, NULL
    FROM creating AS c
    JOIN work_items AS w
      ON w.tenant_id = :tenant_id
     AND w.id BETWEEN CAST(left(CAST(c.batch_id AS text), 32) || '0000' AS uuid)
                  AND CAST(left(CAST(c.batch_id AS text), 32) || 'ffff' AS uuid)
    WHERE w.contract_id = :contract_id
    """
)


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


def month_of(day: date) -> date:
    return day.replace(day=1)


def local_day(hour: datetime, zone: ZoneInfo) -> date:
    """The day an hourly row counts in: the local date of its start, as dashboards group it."""
    return hour.astimezone(zone).date()


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of ``first``, end of ``last``) in UTC, local days of ``zone``."""
    return (
        datetime.combine(first, time(), zone).astimezone(UTC),
        datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC),
    )


@lru_cache(maxsize=4096)
def _cut_cleanly_at(day: date, zone: ZoneInfo) -> bool:
    bound = datetime.combine(day, time(), zone).astimezone(UTC)
    hour = hour_of(bound - _DAY_MARGIN)
    while hour < bound + _DAY_MARGIN:
        if (hour >= bound) != (local_day(hour, zone) >= day):
            return False
        hour += HOUR
    return True


def cut_cleanly(first: date, last: date, zone: ZoneInfo) -> bool:
    """Whether the hours whose local day is within [first, last] are exactly the hours within
    ``day_bounds(first, last, zone)``, so day rows add up to what a range of hourly rows gives: always,
    except next to a clock change that takes the local date back across midnight (Newfoundland until
    2011)."""
    return _cut_cleanly_at(first, zone) and _cut_cleanly_at(last + timedelta(days=1), zone)


# --- measuring items ------------------------------------------------------------------------


class OpenTime:
    """A calendar's open time over [start, end) as prefix sums: the business time between two instants
    inside the span is two bisections, where ``business_duration`` walks the calendar day by day for
    every item. Outside the span it defers to ``business_duration``."""

    def __init__(self, calendar: Calendar, start: datetime, end: datetime) -> None:
        self.calendar = calendar
        self.start, self.end = start, end
        intervals = open_intervals(calendar, start, end)
        self._opens = [opens for opens, _ in intervals]
        self._closes = [closes for _, closes in intervals]
        self._before: list[timedelta] = []
        total = timedelta()
        for opens, closes in intervals:
            self._before.append(total)
            total += closes - opens

    def _since_start(self, instant: datetime) -> timedelta:
        i = bisect_right(self._opens, instant) - 1
        if i < 0:
            return timedelta()
        return self._before[i] + min(instant, self._closes[i]) - self._opens[i]

    def between(self, start: datetime, end: datetime) -> timedelta:
        """``business_duration(calendar, start, end)``."""
        if start < self.start or end > self.end or end < start:
            return business_duration(self.calendar, start, end)
        return self._since_start(end) - self._since_start(start)


def stop_of(
    metric: Metric, first_response_at: datetime | None, resolved_at: datetime | None
) -> datetime | None:
    """``engine.stopped_at`` on raw columns (building an ``ItemTimes`` per item costs more than the rest)."""
    if metric == Metric.RESOLUTION:
        return resolved_at
    if first_response_at is None:
        return resolved_at
    if resolved_at is None:
        return first_response_at
    return min(first_response_at, resolved_at)


@dataclass
class ObjectiveClock:
    """One objective as the refresh applies it to many items."""

    objective: Objective
    key: str
    threshold: timedelta | None
    business: bool
    checkpoints: list[tuple[str, timedelta]]

    @classmethod
    def of(cls, objective: Objective) -> ObjectiveClock:
        return cls(
            objective=objective,
            key=objective_key(objective),
            threshold=engine.duration(objective.threshold) if objective.threshold else None,
            business=objective.clock == SlaClock.BUSINESS_HOURS,
            checkpoints=[
                (str(int(engine.duration(c).total_seconds())), engine.duration(c))
                for c in objective.checkpoints
            ],
        )


@dataclass
class HourTally:
    """One objective's numbers over one hour's items, as ``engine`` defines them item by item."""

    met: int = 0
    breached: int = 0
    pending: int = 0
    sketch: Counter[int] = field(default_factory=Counter)
    # Answered items' elapsed time, exactly, in microseconds (their count is the sketch's total).
    elapsed_us: int = 0
    within: list[int] = field(default_factory=list)
    eligible: list[int] = field(default_factory=list)
    next_change: datetime | None = None

    def answered(self, clock: ObjectiveClock, threshold: timedelta, elapsed: timedelta) -> None:
        # engine.measure: an item whose clock stopped is met when elapsed <= threshold, else breached.
        if elapsed <= threshold:
            self.met += 1
        else:
            self.breached += 1
        self.sketch[bucket_of(elapsed.total_seconds())] += 1
        self.elapsed_us += elapsed // MICROSECOND
        for i, (_, checkpoint) in enumerate(clock.checkpoints):
            self.within[i] += elapsed <= checkpoint
            self.eligible[i] += 1

    def open(self, clock: ObjectiveClock, measurement: engine.Measurement, change: datetime | None) -> None:
        if measurement.status is engine.Status.BREACHED:
            self.breached += 1
        else:
            self.pending += 1
        for i, (_, checkpoint) in enumerate(clock.checkpoints):
            self.eligible[i] += measurement.elapsed > checkpoint
        if change is not None and (self.next_change is None or change < self.next_change):
            self.next_change = change

    def checkpoint_json(self, clock: ObjectiveClock) -> dict[str, list[int]]:
        return {name: [self.within[i], self.eligible[i]] for i, (name, _) in enumerate(clock.checkpoints)}

    @property
    def elapsed_sum(self) -> Decimal:
        """Seconds, exact to the microsecond."""
        return Decimal(self.elapsed_us).scaleb(-6)


def next_change_at(
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


def measure_hour(
    clocks: Sequence[ObjectiveClock],
    rows: Sequence[Any],
    calendar: Calendar,
    open_time: OpenTime,
    now: datetime,
) -> list[tuple[ObjectiveClock, HourTally]]:
    """Each objective's tally over one hour's items (rows starting with received_at, first_response_at,
    resolved_at, priority, channel), in objective order; objectives no item falls under are left out.
    Answered items take the fast path (elapsed time only); open ones are measured by ``engine.measure``."""
    tallies: dict[int, HourTally] = {}
    applicable: dict[tuple[str | None, str | None], list[int]] = {}
    for row in rows:
        received, first_response, resolved, priority, channel = row[:5]
        filters = (priority, channel)
        if filters not in applicable:
            probe = engine.ItemTimes(received, priority=priority, channel=channel)
            applicable[filters] = [i for i, c in enumerate(clocks) if engine.applies(c.objective, probe)]
        for index in applicable[filters]:
            clock = clocks[index]
            tally = tallies.get(index)
            if tally is None:
                size = len(clock.checkpoints)
                tally = tallies[index] = HourTally(within=[0] * size, eligible=[0] * size)
            stop = stop_of(clock.objective.metric, first_response, resolved)
            if stop is not None and stop >= received and clock.threshold is not None:
                elapsed = open_time.between(received, stop) if clock.business else stop - received
                tally.answered(clock, clock.threshold, elapsed)
                continue
            item = engine.ItemTimes(received, first_response, resolved, priority, channel)
            measurement = engine.measure(clock.objective, item, calendar, now)
            tally.open(clock, measurement, next_change_at(clock.objective, item, measurement, calendar))
    return [(clocks[index], tallies[index]) for index in sorted(tallies)]


def volumes(rows: Sequence[Any]) -> dict[str, _Volumes]:
    """Per channel ('' for none): received, responded, resolved, units, outcome and sentiment counts, and
    CSAT ratings counted per score."""
    # [received, responded, resolved, units], outcomes, sentiments, csat: plain ints and dicts, per row.
    by_channel: dict[str, tuple[list[int], dict[str, int], dict[str, int], dict[str, int]]] = {}
    for row in rows:
        channel = row.channel or ""
        tally = by_channel.get(channel)
        if tally is None:
            tally = by_channel[channel] = ([0, 0, 0, 0], {}, {}, {})
        numbers, outcomes, sentiments, csat = tally
        numbers[0] += 1
        if row.first_response_at is not None:
            numbers[1] += 1
        if row.resolved_at is not None:
            numbers[2] += 1
        numbers[3] += row.units
        if row.outcome:
            outcomes[row.outcome] = outcomes.get(row.outcome, 0) + 1
        if row.sentiment:
            sentiments[row.sentiment] = sentiments.get(row.sentiment, 0) + 1
        if row.csat is not None:
            score = str(row.csat)
            csat[score] = csat.get(score, 0) + 1
    return {
        channel: _Volumes(numbers[0], numbers[1], numbers[2], numbers[3], outcomes, sentiments, csat)
        for channel, (numbers, outcomes, sentiments, csat) in by_channel.items()
    }


_SLA_HOURLY = cast("Table", SlaHourly.__table__)
_WORK_HOURLY = cast("Table", WorkHourly.__table__)


# --- hourly rows ----------------------------------------------------------------------------


def hour_ranges(hours: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hour starts as [start, end) ranges of consecutive hours."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


async def _lock_contract(session: AsyncSession, contract_id: uuid.UUID) -> None:
    # One refresh per contract at a time: concurrent recomputations of an hour would race on its rows.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": str(contract_id)}
    )


class _Measured(NamedTuple):
    """One objective's numbers over an hour's items, as its SlaHourly row holds them."""

    met: int
    breached: int
    pending: int
    sketch: dict[str, int]
    elapsed_sum: Decimal | None
    checkpoints: dict[str, list[int]]
    next_change_at: datetime | None


class _Volumes(NamedTuple):
    """One channel's numbers over an hour's items, as its WorkHourly row holds them."""

    received: int
    responded: int
    resolved: int
    units: int
    outcomes: dict[str, int]
    sentiments: dict[str, int]
    csat: dict[str, int]


@dataclass
class _Hour:
    """An hour's rows: by objective key, and by channel ('' for none)."""

    sla: dict[str, _Measured] = field(default_factory=dict)
    work: dict[str, _Volumes] = field(default_factory=dict)
    # When its earliest SLA row was written (stored rows only).
    measured_at: datetime | None = None

    def plus(self, added: _Hour) -> _Hour:
        """These numbers with another set of items' added (the items of both, measured at once)."""
        sla = dict(self.sla)
        for key, numbers in added.sla.items():
            known = sla.get(key)
            if known is None:
                sla[key] = numbers
                continue
            total = _SlaSum()
            total.add(known)
            total.add(numbers)
            changes = [c for c in (known.next_change_at, numbers.next_change_at) if c is not None]
            sla[key] = _Measured(**total.values(), next_change_at=min(changes, default=None))
        work = dict(self.work)
        for channel, volumes_added in added.work.items():
            if channel in work:
                summed = _WorkSum()
                summed.add(work[channel])
                summed.add(volumes_added)
                work[channel] = _Volumes(**summed.values())
            else:
                work[channel] = volumes_added
        return _Hour(sla, work)


@dataclass
class _Measuring:
    """A contract as its hours are measured: read once per refresh, under the contract's lock."""

    scope: Scope
    contract: Any
    calendar: Calendar
    calendar_zone: ZoneInfo
    policies: list[Any]
    changed_at: datetime
    # Each policy version's objectives as clocks, by the version's id() (the versions outlive the refresh).
    _clocks: dict[int, list[ObjectiveClock]] = field(default_factory=dict)

    @classmethod
    async def read(
        cls, session: AsyncSession, scope: Scope, contract_id: uuid.UUID, hours: Sequence[datetime]
    ) -> _Measuring:
        contract = await contracts.get_contract_row(session, scope, contract_id)
        await _lock_contract(session, contract.id)
        calendar_row = await clients.get_calendar_row(session, scope, contract.calendar_id)
        calendar = clients.business_calendar(calendar_row, range(hours[0].year - 1, hours[-1].year + 2))
        policies = await contracts.list_sla_policies(session, scope, contract.id)
        # Stored rows measured before the contract or its calendar last changed (business hours, holidays,
        # another calendar) are measured again whole rather than added to.
        changed_at = max(contract.updated_at, calendar_row.updated_at)
        return cls(scope, contract, calendar, ZoneInfo(calendar_row.time_zone), policies, changed_at)

    @property
    def keys(self) -> dict[str, Any]:
        return {"tenant_id": self.scope.tenant_id, "contract_id": self.contract.id}

    def clocks(self, hour: datetime) -> list[ObjectiveClock]:
        policy = contracts.in_force(self.policies, hour.astimezone(self.calendar_zone).date())
        if policy is None:
            return []
        clocks = self._clocks.get(id(policy))
        if clocks is None:
            clocks = [ObjectiveClock.of(o) for o in policy.objectives if o.metric != Metric.COVERAGE]
            self._clocks[id(policy)] = clocks
        return clocks

    def open_time(self, hours: Sequence[datetime], rows: Iterable[Any]) -> OpenTime:
        stops = [
            stop for row in rows for stop in (row.first_response_at, row.resolved_at) if stop is not None
        ]
        return OpenTime(self.calendar, hours[0], max([hours[-1] + HOUR, *stops]))

    def measure(self, hour: datetime, rows: Sequence[Any], open_time: OpenTime, now: datetime) -> _Hour:
        sla = {
            clock.key: _Measured(
                met=tally.met,
                breached=tally.breached,
                pending=tally.pending,
                sketch={str(b): n for b, n in sorted(tally.sketch.items())},
                elapsed_sum=tally.elapsed_sum,
                checkpoints=tally.checkpoint_json(clock),
                next_change_at=tally.next_change,
            )
            for clock, tally in measure_hour(self.clocks(hour), rows, self.calendar, open_time, now)
        }
        return _Hour(sla, volumes(rows))

    def addable(self, hour: datetime, stored: _Hour, now: datetime) -> bool:
        """Whether items can be added to an hour's stored rows: each is still what measuring its items now
        gives (time has not changed it, its objective and calendar are measured the same way)."""
        if stored.measured_at is not None and stored.measured_at < self.changed_at:
            return False
        clocks = {clock.key: clock for clock in self.clocks(hour)}
        for key, numbers in stored.sla.items():
            clock = clocks.get(key)
            if (
                clock is None
                or numbers.elapsed_sum is None
                or (numbers.next_change_at is not None and numbers.next_change_at <= now)
                or set(numbers.checkpoints) != {name for name, _ in clock.checkpoints}
            ):
                return False
        return True

    async def whole(
        self, session: AsyncSession, hours: Sequence[datetime], now: datetime
    ) -> dict[datetime, _Hour]:
        """Every item of ``hours`` measured (the batches recorded for them are taken)."""
        ranges = hour_ranges(hours)
        items = (
            await session.execute(
                _ITEMS_IN,
                {"starts": [start for start, _ in ranges], "ends": [end for _, end in ranges], **self.keys},
            )
        ).all()
        by_hour: dict[datetime, list[Any]] = {hour: [] for hour in hours}
        for row in items:
            by_hour[hour_of(row.received_at)].append(row)
        open_time = self.open_time(hours, items)
        return {hour: self.measure(hour, rows, open_time, now) for hour, rows in by_hour.items()}

    async def stored(self, session: AsyncSession, hours: Sequence[datetime]) -> dict[datetime, _Hour]:
        """The hours' rows as they are (hours with none are left out)."""
        stored: dict[datetime, _Hour] = {}
        sla = await session.execute(
            select(
                SlaHourly.hour,
                SlaHourly.objective,
                SlaHourly.refreshed_at,
                *_sla_summed(SlaHourly),
                SlaHourly.next_change_at,
            ).where(
                SlaHourly.tenant_id == self.scope.tenant_id,
                SlaHourly.contract_id == self.contract.id,
                SlaHourly.hour.in_(hours),
            )
        )
        for hour, objective, refreshed_at, *numbers in sla:
            rows = stored.setdefault(hour_of(hour), _Hour())
            rows.sla[objective] = _Measured(*numbers)
            rows.measured_at = min(refreshed_at, rows.measured_at or refreshed_at)
        work = await session.execute(
            select(WorkHourly.hour, WorkHourly.channel, *_work_summed(WorkHourly)).where(
                WorkHourly.tenant_id == self.scope.tenant_id,
                WorkHourly.contract_id == self.contract.id,
                WorkHourly.hour.in_(hours),
            )
        )
        for hour, channel, *numbers in work:
            stored.setdefault(hour_of(hour), _Hour()).work[channel] = _Volumes(*numbers)
        return stored

    async def write(self, session: AsyncSession, hours: Mapping[datetime, _Hour]) -> int:
        """Replace the hours' rows, then the days and months they fall in; the number of SLA rows written."""
        wanted = sorted(hours)
        sla_rows = [
            {**self.keys, "objective": key, "hour": hour, **numbers._asdict()}
            for hour in wanted
            for key, numbers in hours[hour].sla.items()
        ]
        work_rows = [
            {**self.keys, "hour": hour, "channel": channel, **numbers._asdict()}
            for hour in wanted
            for channel, numbers in hours[hour].work.items()
        ]
        for model in (SlaHourly, WorkHourly):
            await session.execute(
                delete(model).where(
                    model.tenant_id == self.scope.tenant_id,
                    model.contract_id == self.contract.id,
                    model.hour.in_(wanted),
                )
            )
        # Core inserts of the tables: one compiled statement, without the ORM's per-row conversion.
        if sla_rows:
            await session.execute(insert(_SLA_HOURLY), sla_rows)
        if work_rows:
            await session.execute(insert(_WORK_HOURLY), work_rows)
        client = await clients.get_client_row(session, self.scope, self.contract.client_id)
        await refresh_periods(session, self.scope, self.contract.id, ZoneInfo(client.time_zone), wanted)
        return len(sla_rows)


async def refresh_hours(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, hours: Iterable[datetime], now: datetime
) -> int:
    """Recompute the rollups of ``hours`` (UTC hour starts) from the contract's items, then the local
    days and months they fall in; the number of hourly SLA rows written."""
    wanted = sorted({hour_of(h) for h in hours})
    if not wanted:
        return 0
    measuring = await _Measuring.read(session, scope, contract_id, wanted)
    return await measuring.write(session, await measuring.whole(session, wanted, now))


@dataclass
class Followed:
    """What a refresh after ingest did: the hours it measured whole, and the items it added to the rows
    of the others."""

    whole: list[datetime] = field(default_factory=list)
    added: list[Any] = field(default_factory=list)


async def add_batches(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    hours: Iterable[datetime],
    now: datetime,
    *,
    whole: Iterable[datetime] = (),
) -> Followed:
    """Bring the rollups of ``hours`` up to the ingest batches recorded for them. An hour whose batches
    only created items has those items' numbers added to its rows; one where a batch changed stored items,
    or whose rows time has moved on (or that has none yet), is measured again whole, as ``whole`` hours
    always are (asked for by jobs from before batches were recorded). An hour with no batch left was
    brought up to date by an earlier refresh."""
    measured_whole = {hour_of(h) for h in whole}
    recorded = sorted({hour_of(h) for h in hours} - measured_whole)
    if not recorded and not measured_whole:
        return Followed()
    measuring = await _Measuring.read(session, scope, contract_id, sorted({*recorded, *measured_whole}))
    taken = (
        (await session.execute(_BATCHES_IN, {"hours": recorded, **measuring.keys})).all() if recorded else []
    )
    changed: set[datetime] = set()
    created: dict[datetime, list[Any]] = {}
    for row in taken:
        if row.batch_hour is not None:
            hour = hour_of(row.batch_hour)
            created.setdefault(hour, [])
            if row.batch_changed:
                changed.add(hour)
    if not created and not measured_whole:
        return Followed()
    for row in taken:
        # A batch's items in hours not asked for now are added when theirs are.
        if row.batch_hour is None and (hour := hour_of(row.received_at)) in created:
            created[hour].append(row)
    addable = sorted(created.keys() - changed)
    stored = await measuring.stored(session, addable) if addable else {}
    measured_whole |= {
        hour
        for hour in created
        if hour in changed or hour not in stored or not measuring.addable(hour, stored[hour], now)
    }
    whole_hours = sorted(measured_whole)
    measured = await measuring.whole(session, whole_hours, now) if whole_hours else {}
    adding = sorted(created.keys() - measured_whole)
    added = [row for hour in adding for row in created[hour]]
    if adding:
        open_time = measuring.open_time(adding, added)
        for hour in adding:
            measured[hour] = stored[hour].plus(measuring.measure(hour, created[hour], open_time, now))
    await measuring.write(session, measured)
    return Followed(whole_hours, added)


# --- days and months ------------------------------------------------------------------------


def _add_sketch(total: dict[str, int], sketch: Mapping[str, int]) -> None:
    for bucket, count in sketch.items():
        total[bucket] = total.get(bucket, 0) + count


def _add_checkpoints(total: dict[str, list[int]], checkpoints: Mapping[str, Sequence[int]]) -> None:
    for seconds, (within, eligible) in checkpoints.items():
        known = total.setdefault(seconds, [0, 0])
        known[0] += within
        known[1] += eligible


def _sla_summed(model: type[SlaHourly] | type[SlaPeriod]) -> tuple[Any, ...]:
    return (model.met, model.breached, model.pending, model.sketch, model.elapsed_sum, model.checkpoints)


def _work_summed(model: type[WorkHourly] | type[WorkPeriod]) -> tuple[Any, ...]:
    return (
        model.received,
        model.responded,
        model.resolved,
        model.units,
        model.outcomes,
        model.sentiments,
        model.csat,
    )


@dataclass
class _SlaSum:
    met: int = 0
    breached: int = 0
    pending: int = 0
    sketch: dict[str, int] = field(default_factory=dict)
    checkpoints: dict[str, list[int]] = field(default_factory=dict)
    # Unknown (None) as soon as one row summed lacks it (written before sums were kept).
    elapsed_sum: Decimal | None = Decimal(0)

    def add(self, row: Any) -> None:
        self.met += row.met
        self.breached += row.breached
        self.pending += row.pending
        _add_sketch(self.sketch, row.sketch)
        _add_checkpoints(self.checkpoints, row.checkpoints)
        if self.elapsed_sum is not None:
            self.elapsed_sum = None if row.elapsed_sum is None else self.elapsed_sum + row.elapsed_sum

    def values(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "breached": self.breached,
            "pending": self.pending,
            "sketch": self.sketch,
            "elapsed_sum": self.elapsed_sum,
            "checkpoints": self.checkpoints,
        }

    def copy(self) -> _SlaSum:
        checkpoints = {seconds: list(known) for seconds, known in self.checkpoints.items()}
        return _SlaSum(
            self.met, self.breached, self.pending, dict(self.sketch), checkpoints, self.elapsed_sum
        )


@dataclass
class _WorkSum:
    numbers: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    sentiments: Counter[str] = field(default_factory=Counter)
    csat: Counter[str] = field(default_factory=Counter)

    def add(self, row: Any) -> None:
        for name in VOLUME_FIELDS:
            self.numbers[name] += getattr(row, name)
        self.outcomes.update(row.outcomes)
        self.sentiments.update(row.sentiments)
        self.csat.update(row.csat)

    def values(self) -> dict[str, Any]:
        return {
            **{name: self.numbers[name] for name in VOLUME_FIELDS},
            "outcomes": dict(self.outcomes),
            "sentiments": dict(self.sentiments),
            "csat": dict(self.csat),
        }

    def copy(self) -> _WorkSum:
        return _WorkSum(
            Counter(self.numbers), Counter(self.outcomes), Counter(self.sentiments), Counter(self.csat)
        )


Sum = TypeVar("Sum", _SlaSum, _WorkSum)


def _to_date(days: Iterable[Any], key: str, new: type[Sum]) -> dict[tuple[str, date], Sum]:
    """Running sums of day rows (with ``key`` and ``starts_on``) from the first of each month: the
    month-to-date sums for each day that has a row."""
    running: dict[tuple[str, date], Sum] = {}
    to_date: dict[tuple[str, date], Sum] = {}
    for row in sorted(days, key=lambda row: row.starts_on):
        total = running.setdefault((getattr(row, key), month_of(row.starts_on)), new())
        total.add(row)
        to_date[(getattr(row, key), row.starts_on)] = total.copy()
    return to_date


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days, (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day - runs[-1][1] <= timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _within(column: Any, spans: Iterable[tuple[Any, Any]]) -> ColumnElement[bool]:
    return or_(false(), *(and_(column >= lower, column < upper) for lower, upper in spans))


async def refresh_periods(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, zone: ZoneInfo, hours: Sequence[datetime]
) -> None:
    """Re-sum the days (of ``zone``) holding ``hours`` from the hourly rows, then their months and months
    to date from the days; or every period when the contract's are missing or were cut in another
    zone."""
    tenant_id = scope.tenant_id
    marker = await session.get(PeriodRollupZone, (tenant_id, contract_id))
    rebuild = marker is None or marker.time_zone != zone.key
    days = await _refresh_days(session, tenant_id, contract_id, zone, hours, rebuild)
    await _refresh_months(session, tenant_id, contract_id, days, rebuild)
    if marker is None:
        session.add(
            PeriodRollupZone(tenant_id=tenant_id, contract_id=contract_id, time_zone=zone.key, version=1)
        )
    else:
        marker.time_zone = zone.key
        marker.version += 1
    await session.flush()


async def _refresh_days(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    contract_id: uuid.UUID,
    zone: ZoneInfo,
    hours: Sequence[datetime],
    rebuild: bool,
) -> list[date]:
    """Re-sum the local days holding ``hours`` (every day when rebuilding) from the hourly rows; the
    days re-summed."""
    days = sorted({local_day(hour, zone) for hour in hours})
    spans = [
        (lo - _DAY_MARGIN, hi + _DAY_MARGIN) for lo, hi in (day_bounds(*run, zone) for run in _runs(days))
    ]
    sla_hours = (
        await session.execute(
            select(*_sla_summed(SlaHourly), SlaHourly.objective, SlaHourly.hour).where(
                SlaHourly.tenant_id == tenant_id,
                SlaHourly.contract_id == contract_id,
                *([] if rebuild else [_within(SlaHourly.hour, spans)]),
            )
        )
    ).all()
    work_hours = (
        await session.execute(
            select(*_work_summed(WorkHourly), WorkHourly.channel, WorkHourly.hour).where(
                WorkHourly.tenant_id == tenant_id,
                WorkHourly.contract_id == contract_id,
                *([] if rebuild else [_within(WorkHourly.hour, spans)]),
            )
        )
    ).all()
    if rebuild:
        days = sorted({local_day(row.hour, zone) for row in (*sla_hours, *work_hours)})
    wanted = set(days)
    sla_days: dict[tuple[str, date], _SlaSum] = {}
    for row in sla_hours:
        if (day := local_day(row.hour, zone)) in wanted:
            sla_days.setdefault((row.objective, day), _SlaSum()).add(row)
    work_days: dict[tuple[str, date], _WorkSum] = {}
    for row in work_hours:
        if (day := local_day(row.hour, zone)) in wanted:
            work_days.setdefault((row.channel, day), _WorkSum()).add(row)
    await _replace_periods(
        session,
        tenant_id,
        contract_id,
        DAY,
        None if rebuild else [(first, last + timedelta(days=1)) for first, last in _runs(days)],
        sla_days,
        work_days,
    )
    return days


async def _refresh_months(
    session: AsyncSession, tenant_id: uuid.UUID, contract_id: uuid.UUID, days: Sequence[date], rebuild: bool
) -> None:
    """Re-sum the months, and months to date, holding ``days`` from the day rows."""
    months = sorted({month_of(day) for day in days})
    in_months = [(month, next_month(month)) for month in months]
    sla_of_days = (
        await session.execute(
            select(*_sla_summed(SlaPeriod), SlaPeriod.objective, SlaPeriod.starts_on).where(
                SlaPeriod.tenant_id == tenant_id,
                SlaPeriod.contract_id == contract_id,
                SlaPeriod.span == DAY,
                _within(SlaPeriod.starts_on, in_months),
            )
        )
    ).all()
    work_of_days = (
        await session.execute(
            select(*_work_summed(WorkPeriod), WorkPeriod.channel, WorkPeriod.starts_on).where(
                WorkPeriod.tenant_id == tenant_id,
                WorkPeriod.contract_id == contract_id,
                WorkPeriod.span == DAY,
                _within(WorkPeriod.starts_on, in_months),
            )
        )
    ).all()
    sla_months: dict[tuple[str, date], _SlaSum] = {}
    for row in sla_of_days:
        sla_months.setdefault((row.objective, month_of(row.starts_on)), _SlaSum()).add(row)
    work_months: dict[tuple[str, date], _WorkSum] = {}
    for row in work_of_days:
        work_months.setdefault((row.channel, month_of(row.starts_on)), _WorkSum()).add(row)
    for span, sla, work in (
        (MONTH, sla_months, work_months),
        (
            MONTH_TO_DATE,
            _to_date(sla_of_days, "objective", _SlaSum),
            _to_date(work_of_days, "channel", _WorkSum),
        ),
    ):
        await _replace_periods(
            session, tenant_id, contract_id, span, None if rebuild else in_months, sla, work
        )


async def _replace_periods(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    contract_id: uuid.UUID,
    span: str,
    starts: Sequence[tuple[date, date]] | None,
    sla: Mapping[tuple[str, date], _SlaSum],
    work: Mapping[tuple[str, date], _WorkSum],
) -> None:
    """Replace the ``span`` rows starting within the [lower, upper) ranges ``starts`` (all of them for
    None) with ``sla`` and ``work``."""
    for model in (SlaPeriod, WorkPeriod):
        await session.execute(
            delete(model).where(
                model.tenant_id == tenant_id,
                model.contract_id == contract_id,
                model.span == span,
                *([] if starts is None else [_within(model.starts_on, starts)]),
            )
        )
    key = {"tenant_id": tenant_id, "contract_id": contract_id, "span": span}
    if sla:
        await session.execute(
            insert(SlaPeriod),
            [
                {**key, "objective": objective, "starts_on": starts_on, **total.values()}
                for (objective, starts_on), total in sla.items()
            ],
        )
    if work:
        await session.execute(
            insert(WorkPeriod),
            [
                {**key, "channel": channel, "starts_on": starts_on, **total.values()}
                for (channel, starts_on), total in work.items()
            ],
        )


# --- what to refresh ------------------------------------------------------------------------


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


async def remeasure(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> datetime | None:
    """Recompute the first REMEASURE_HOURS hours holding items received in [start, end); the hour the rest
    start from, if any remain (a contract's objectives were corrected: its measurements follow)."""
    hours = sorted(await hours_of_items(session, scope, contract_id, start, end))
    await refresh_hours(session, scope, contract_id, hours[:REMEASURE_HOURS], now)
    return hours[REMEASURE_HOURS] if len(hours) > REMEASURE_HOURS else None


async def refresh_due(
    session: AsyncSession, scope: Scope, now: datetime, failures: Failures | None = None
) -> int:
    """Recompute the hours time has changed (``due_hours``), contract by contract: one whose refresh fails
    (objectives its stored policy cannot be measured by) is left out and kept in ``failures``, and the
    others go on. The number of contracts refreshed."""
    failures = failures if failures is not None else Failures()
    refreshed = 0
    for contract_id, hours in (await due_hours(session, scope, now)).items():
        async with failures.isolated(session, CONTRACT, contract_id):
            await refresh_hours(session, scope, contract_id, hours, now)
            refreshed += 1
    return refreshed


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
