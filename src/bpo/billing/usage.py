"""Usage: what the meters of rate plan versions count over their days, read for many contracts at once.

A month-end run (like an estimate and the usage API) needs, for every version in force on a contract's
days, the units of each meter its usage charges rate, with the units received inside each surcharge's
window. ``read`` turns all of it into one aggregate per billable event (received, first response,
resolved) that some meter counts by. Every meter definition (its kinds, channels and outcomes) is a
filtered sum in it, of units or of items as the meter measures, shared by the meters of every contract and
version that count the same items; every surcharge window is a filtered sum too, of the items of the
contracts it applies to received inside it on the contract calendar's clock (a night window, or the public
holidays of the years around the version's days). The groups are only the contract and the span of days:
few groups, which PostgreSQL aggregates in parallel as it would a plain sum per contract.

Spans are cut, in the tenant's zone, where contracts' days begin or end (where a period or a version does;
every day for the usage API). The contracts whose days begin and end alike (those of the commonest closing
day, with no version taking effect inside the period) share an aggregate with a single span; the others,
if any, share a second, grouped by span as well. ``Usage.segment`` then adds up the groups of a version's
days in memory: the numbers are those of counting the items of each version and window one by one.

Items are billed when their event happens; a surcharge window looks at when they were received.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import rating, schemas
from bpo.clients import contracts, rules
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.clients.schemas import (
    USAGE_CHARGES,
    BillableEvent,
    Calendar,
    Meter,
    MeterMeasure,
    RatePlan,
    Surcharge,
    SurchargeWindow,
)
from bpo.core import business_time
from bpo.core.errors import Invalid, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy
from bpo.work import service as work

MAX_SPAN = timedelta(days=400)


def day_bounds(start: date, end: date, time_zone: str) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) local, as UTC instants."""
    zone = ZoneInfo(time_zone)
    return (
        datetime.combine(start, time(), zone).astimezone(UTC),
        datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC),
    )


def versions_in(
    versions: Sequence[RatePlan], first_day: date, last_day: date
) -> list[tuple[RatePlan, date, date]]:
    """The days from ``first_day`` to ``last_day`` under each version in force on some of them."""
    spans = []
    for version in sorted(versions, key=lambda v: v.effective_from):
        first = max(first_day, version.effective_from)
        last = last_day if version.effective_to is None else min(last_day, version.effective_to)
        if first <= last:
            spans.append((version, first, last))
    return spans


def definition(meter: Meter | None, contract: Contract) -> tuple[BillableEvent, work.ItemFilter]:
    """The items a version's meter counts (None: the contract's billable event): by which event, and
    which of them."""
    if meter is None:
        return BillableEvent(contract.billable_event), work.ItemFilter()
    return BillableEvent(meter.event or contract.billable_event), work.ItemFilter(
        tuple(sorted(set(meter.kinds))),
        tuple(sorted(set(meter.channels))),
        tuple(sorted(set(meter.outcomes))),
    )


@dataclass(frozen=True, slots=True)
class Demand:
    """A contract's days ``first`` to ``last`` (the tenant's) under ``plan``, read on its calendar; without
    a plan, only its billable event."""

    contract: Contract
    calendar: Calendar
    plan: RatePlan | None
    first: date
    last: date


def _meter_codes(plan: RatePlan | None) -> list[str]:
    """The version's meters its usage charges rate, and always the billable event."""
    if plan is None:
        return [rating.DEFAULT_METER]
    used = {c.meter for c in plan.charges if isinstance(c, USAGE_CHARGES) and c.meter}
    return sorted({rating.DEFAULT_METER} | used)


def _surcharges_of(plan: RatePlan | None, code: str) -> list[Surcharge]:
    """The version's surcharges on charges that rate meter ``code``."""
    if plan is None:
        return []
    charges = {
        c.code
        for c in plan.charges
        if isinstance(c, USAGE_CHARGES) and (c.meter or rating.DEFAULT_METER) == code
    }
    return [s for s in plan.surcharges if charges.intersection(s.charges)]


def _holiday_country(surcharge: Surcharge, calendar: Calendar) -> tuple[str, str | None] | None:
    country = surcharge.holiday_country or calendar.holiday_country
    if country is None:
        return None
    return country, calendar.holiday_subdivision if country == calendar.holiday_country else None


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str | None, first_year: int, last_year: int) -> frozenset[date]:
    return business_time.japanese_holidays(range(first_year, last_year + 1), country, subdivision)


class _Window(NamedTuple):
    """A window of receipt on the clock of ``zone``: a night window, or else the local dates ``days``."""

    zone: str
    night: work.NightWindow | None
    days: frozenset[date]


# What a measure counts: the items of a filter, inside a window of receipt or anywhere (None), by number
# (True) or by units.
_Measure = tuple[work.ItemFilter, _Window | None, bool]


@dataclass(slots=True)
class _Request:
    """What one contract asks of one aggregate: its days, and what its meters and their surcharges
    count."""

    # The days its demands begin on, and the days after they end.
    cuts: set[date] = field(default_factory=set)
    measures: set[_Measure] = field(default_factory=set)


class _Batch(NamedTuple):
    """Contracts read by one aggregate, what it measures of them, and the days it cuts the time into (each
    span runs from one of them to the day before the next)."""

    contracts: list[uuid.UUID]
    measures: list[_Measure]
    cuts: list[date]
    # Each measure's columns.
    columns: dict[_Measure, int]

    def days_of(self, span: int) -> tuple[date, date]:
        return self.cuts[span], self.cuts[span + 1] - timedelta(days=1)


def _batch(requests: dict[uuid.UUID, _Request], contract_ids: list[uuid.UUID], daily: bool) -> _Batch:
    measures = sorted({m for c in contract_ids for m in requests[c].measures}, key=repr)
    bounds = {day for c in contract_ids for day in requests[c].cuts}
    if daily:
        first, end = min(bounds), max(bounds)
        bounds = {first + timedelta(days=n) for n in range((end - first).days + 1)}
    return _Batch(contract_ids, measures, sorted(bounds), {m: n for n, m in enumerate(measures)})


def _batches(requests: dict[uuid.UUID, _Request], daily: bool) -> list[_Batch]:
    """At most two aggregates: the largest set of contracts whose days begin and end alike (typically
    every contract of a closing day, with no version taking effect inside the period: one span, nothing
    to group by but the contract), and the others together, cut where any of their days begin and end
    (every day, ``daily``)."""
    alike: dict[frozenset[date], list[uuid.UUID]] = {}
    for contract_id, request in requests.items():
        alike.setdefault(frozenset(request.cuts), []).append(contract_id)
    if daily or len(alike) == 1:
        return [_batch(requests, list(requests), daily)]
    largest = max(alike.values(), key=len)
    chosen = set(largest)
    others = [c for c in requests if c not in chosen]
    return [_batch(requests, largest, daily), _batch(requests, others, daily)]


class _Metering(NamedTuple):
    """What a meter of a demand's version counts: which items, by which event, by number or by units, and
    its surcharges' windows by surcharge code (None: no country to take holidays from)."""

    event: BillableEvent
    item_filter: work.ItemFilter
    by_items: bool
    windows: tuple[tuple[str, _Window | None], ...]


def _metering(demand: Demand, meter: Meter | None, code: str) -> _Metering:
    event, item_filter = definition(meter, demand.contract)
    windows = tuple((s.code, _window(s, demand)) for s in _surcharges_of(demand.plan, code))
    return _Metering(event, item_filter, _by_items(meter), windows)


class Usage:
    """The groups of items the aggregates of ``read`` returned, added up per version, meter and window."""

    def __init__(self) -> None:
        self._groups: dict[tuple[BillableEvent, uuid.UUID], list[work.MeteredGroup]] = {}
        self._batches: dict[tuple[BillableEvent, uuid.UUID], _Batch] = {}
        # Each demand's meters, worked out once for the aggregates and again for the sums.
        self._meterings: dict[tuple[uuid.UUID, date, date, uuid.UUID | None], dict[str, _Metering]] = {}

    def meterings(self, demand: Demand) -> dict[str, _Metering]:
        """The meters of the demand's version its usage charges rate (and always the billable event), by
        code."""
        key = (demand.contract.id, demand.first, demand.last, demand.plan.id if demand.plan else None)
        found = self._meterings.get(key)
        if found is None:
            meters = {m.code: m for m in demand.plan.meters} if demand.plan else {}
            found = {code: _metering(demand, meters.get(code), code) for code in _meter_codes(demand.plan)}
            self._meterings[key] = found
        return found

    def add(self, event: BillableEvent, batch: _Batch, rows: Sequence[work.MeteredGroup]) -> None:
        for contract_id in batch.contracts:
            self._groups[(event, contract_id)] = []
            self._batches[(event, contract_id)] = batch
        for row in rows:
            self._groups[(event, row.contract_id)].append(row)

    def _counted(
        self, metering: _Metering, demand: Demand
    ) -> tuple[list[work.MeteredGroup], _Batch, Callable[[work.MeteredGroup, _Window | None], int]]:
        """The groups of the demand's days of the items ``metering`` counts, their aggregate, and what it
        counts of a group inside a window (None: anywhere)."""
        key = (metering.event, demand.contract.id)
        batch = self._batches[key]
        first, last = demand.first, demand.last
        groups = [
            g for g in self._groups[key] if first <= batch.cuts[g.span] and batch.days_of(g.span)[1] <= last
        ]
        item_filter, by_items = metering.item_filter, metering.by_items

        def counted(group: work.MeteredGroup, window: _Window | None) -> int:
            return group.values[batch.columns[(item_filter, window, by_items)]]

        return groups, batch, counted

    def units_by_day(self, demand: Demand) -> dict[date, int]:
        """The units of the contract's billable event per day of the demand's (read ``daily``)."""
        groups, batch, units = self._counted(self.meterings(demand)[rating.DEFAULT_METER], demand)
        per_day: dict[date, int] = {}
        for g in groups:
            day = batch.cuts[g.span]
            per_day[day] = per_day.get(day, 0) + units(g, None)
        return per_day

    def metered(self, demand: Demand, code: str) -> rating.Metered:
        """What meter ``code`` of the demand's version (one of ``meterings``) counts over its days, with the
        units of each of its surcharges' windows."""
        metering = self.meterings(demand)[code]
        groups, _, counted = self._counted(metering, demand)
        surcharged = {
            surcharge: 0 if window is None else sum(counted(g, window) for g in groups)
            for surcharge, window in metering.windows
        }
        return rating.Metered(sum(counted(g, None) for g in groups), surcharged)

    def segment(self, demand: Demand) -> rating.Segment:
        """The demand's days under its version: the units of the billable event and of the version's meters
        its charges use, each with the units received in the windows of the surcharges on those charges."""
        if demand.plan is None:
            raise ValueError("a segment is rated under a rate plan version")
        counted = {code: self.metered(demand, code) for code in self.meterings(demand)}
        return rating.Segment(
            demand.plan, demand.first, demand.last, counted[rating.DEFAULT_METER].units, counted
        )


def _by_items(meter: Meter | None) -> bool:
    return meter is not None and meter.measure is MeterMeasure.ITEMS


def _window(surcharge: Surcharge, demand: Demand) -> _Window | None:
    """The surcharge's window on the contract calendar's clock: its night, or the public holidays of the
    years around the demand's days (None: no country to take holidays from)."""
    zone = demand.calendar.time_zone
    if surcharge.window is SurchargeWindow.NIGHT:
        return _Window(zone, rules.night_window(surcharge), frozenset())
    country = _holiday_country(surcharge, demand.calendar)
    if country is None:
        return None
    return _Window(zone, None, _holidays(*country, demand.first.year - 1, demand.last.year))


# How long before the first day an item billed on it may have been received, for the clock of its receipt
# to be read at a steady offset (those received earlier are read by their zone's rules: slower, as right).
_RECEIVED_BEFORE = timedelta(days=62)
_STEADY_AT_MOST = timedelta(days=120)


def _steady(zone: str, lower: datetime, upper: datetime) -> tuple[datetime, datetime, timedelta]:
    """The stretch before ``upper`` in which the zone keeps the offset it has then."""
    since, offset = business_time.steady_offset(
        zone, max(lower - _RECEIVED_BEFORE, upper - _STEADY_AT_MOST), upper
    )
    return since, upper, offset


async def read(
    session: AsyncSession, scope: Scope, time_zone: str, demands: Iterable[Demand], *, daily: bool = False
) -> Usage:
    """Everything ``demands`` need, in one aggregate per billable event some meter counts by (two where
    contracts' days begin or end differently); ``daily``: split by day (``Usage.units_by_day``)."""
    usage = Usage()
    requests: dict[BillableEvent, dict[uuid.UUID, _Request]] = {}
    for demand in demands:
        for metering in usage.meterings(demand).values():
            request = requests.setdefault(metering.event, {}).setdefault(demand.contract.id, _Request())
            request.cuts.update((demand.first, demand.last + timedelta(days=1)))
            request.measures.add((metering.item_filter, None, metering.by_items))
            request.measures.update(
                (metering.item_filter, window, metering.by_items)
                for _, window in metering.windows
                if window is not None
            )
    zone = ZoneInfo(time_zone)
    if not requests:
        return usage
    async with work.planned_with_values(session):
        for event, asked in requests.items():
            for batch in _batches(asked, daily):
                filters = sorted({f for f, _, _ in batch.measures}, key=repr)
                windows = sorted({w for _, w, _ in batch.measures if w is not None}, key=repr)
                cuts = [datetime.combine(day, time(), zone).astimezone(UTC) for day in batch.cuts]
                steady = {w.zone: _steady(w.zone, cuts[0], cuts[-1]) for w in windows}
                rows = await work.metered_groups(
                    session,
                    scope,
                    event,
                    cuts,
                    batch.contracts,
                    filters=filters,
                    windows=[
                        work.ReceiptWindow(
                            window.zone,
                            tuple(
                                c for c in batch.contracts if any(m[1] == window for m in asked[c].measures)
                            ),
                            window.night,
                            tuple(sorted(window.days)),
                            steady[window.zone],
                        )
                        for window in windows
                    ],
                    measures=[
                        work.Measure(filters.index(f), None if w is None else windows.index(w), items)
                        for f, w, items in batch.measures
                    ],
                )
                usage.add(event, batch, rows)
    return usage


# --- the usage API ---------------------------------------------------------------------------------


def _breakdown(usage: Usage, demands: Sequence[Demand]) -> list[schemas.MeterUsage]:
    """Per meter (the billable event first), what the versions in force counted over their days, and of
    it what each surcharge's window holds."""
    meters: dict[str, schemas.MeterUsage] = {}
    for demand in demands:
        assert demand.plan is not None
        defined = {m.code: m for m in demand.plan.meters}
        for code in _meter_codes(demand.plan):
            metered = usage.metered(demand, code)
            meter = defined.get(code)
            entry = meters.setdefault(
                code,
                schemas.MeterUsage(
                    meter=code or None,
                    name=meter.name if meter else None,
                    event=meter.event.value if meter and meter.event else demand.contract.billable_event,
                    measure=(meter.measure if meter else MeterMeasure.UNITS).value,
                    quantity=0,
                    surcharged=[],
                ),
            )
            entry.quantity += metered.units
            windows = {s.code: s for s in _surcharges_of(demand.plan, code)}
            for surcharge_code, quantity in metered.surcharged.items():
                found = next((s for s in entry.surcharged if s.code == surcharge_code), None)
                if found is None:
                    surcharge = windows[surcharge_code]
                    found = schemas.SurchargedUsage(
                        code=surcharge.code, name=surcharge.name, window=surcharge.window.value, quantity=0
                    )
                    entry.surcharged.append(found)
                found.quantity += quantity
    return [meters[code] for code in sorted(meters)]


async def contract_usage(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, start: date, end: date
) -> schemas.Usage:
    raise_if(date_errors(("start", start), ("end", end)))
    if start > end:
        raise Invalid("start must not be after end", errors=[field_error("start", "after end")])
    if end - start > MAX_SPAN:
        raise Invalid(
            "at most 400 days at a time", errors=[field_error("end", "more than 400 days after start")]
        )
    contract = await contracts.get_contract_row(session, scope, contract_id)
    time_zone = await tenancy.tenant_time_zone(session, scope)
    calendar = clients.calendar_view(await clients.get_calendar_row(session, scope, contract.calendar_id))
    versions = await contracts.list_rate_plans(session, scope, contract.id)
    whole = Demand(contract, calendar, None, start, end)
    demands = [
        Demand(contract, calendar, plan, first, last)
        for plan, first, last in versions_in(versions, start, end)
    ]
    usage = await read(session, scope, time_zone, [whole, *demands], daily=True)
    per_day = usage.units_by_day(whole)
    return schemas.Usage(
        contract_id=contract.id,
        contract_code=contract.code,
        billable_event=contract.billable_event,
        time_zone=time_zone,
        start=start,
        end=end,
        units=sum(per_day.values()),
        days=[schemas.DailyUsage(date=day, units=units) for day, units in sorted(per_day.items())],
        meters=_breakdown(usage, demands),
    )
