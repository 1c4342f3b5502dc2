"""Billable units per contract and day, in the tenant's time zone, from the work items; and what a rate plan
version's meters count over some days, with the units received inside each of its surcharges' windows (on
the clock and public holidays of the contract's calendar)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
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


async def contract_units(
    session: AsyncSession, scope: Scope, contract: Contract, start: date, end: date, time_zone: str
) -> dict[date, int]:
    lower, upper = day_bounds(start, end, time_zone)
    return await work.units_by_day(
        session, scope, contract.id, BillableEvent(contract.billable_event), lower, upper, time_zone
    )


async def segment(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    plan: RatePlan,
    first: date,
    last: date,
    time_zone: str,
) -> rating.Segment:
    """The days ``first`` to ``last`` (the tenant's) under ``plan``: the units of the contract's billable
    event and of the version's meters its charges use, each with the units received in the windows of the
    surcharges on those charges."""
    calendar = clients.calendar_view(await clients.get_calendar_row(session, scope, contract.calendar_id))
    lower, upper = day_bounds(first, last, time_zone)
    # Items are billed when their event happens; a surcharge looks at when they were received, up to a year
    # or so before.
    years = range(first.year - 1, last.year + 1)
    meters = {meter.code: meter for meter in plan.meters}
    used = {rating.DEFAULT_METER} | {
        c.meter for c in plan.charges if isinstance(c, USAGE_CHARGES) and c.meter
    }
    counted: dict[str, rating.Metered] = {}
    for code in sorted(used):
        charges = {
            c.code
            for c in plan.charges
            if isinstance(c, USAGE_CHARGES) and (c.meter or rating.DEFAULT_METER) == code
        }
        windows = {
            s.code: _window(s, calendar, years) for s in plan.surcharges if charges.intersection(s.charges)
        }
        meter = meters.get(code)
        per_day = await work.metered_by_day(
            session,
            scope,
            contract.id,
            BillableEvent((meter.event if meter else None) or contract.billable_event),
            lower,
            upper,
            time_zone,
            kinds=meter.kinds if meter else (),
            channels=meter.channels if meter else (),
            outcomes=meter.outcomes if meter else (),
            count_items=meter is not None and meter.measure is MeterMeasure.ITEMS,
            window_zone=calendar.time_zone,
            windows=windows,
        )
        counted[code] = rating.Metered(
            sum(units for units, _ in per_day.values()),
            {name: sum(inside[name] for _, inside in per_day.values()) for name in windows},
        )
    return rating.Segment(plan, first, last, counted[rating.DEFAULT_METER].units, counted)


def _window(surcharge: Surcharge, calendar: Calendar, years: range) -> work.ReceivedWindow:
    if surcharge.window is SurchargeWindow.NIGHT:
        return rules.night_window(surcharge)
    country = surcharge.holiday_country or calendar.holiday_country
    if country is None:
        return frozenset()
    subdivision = calendar.holiday_subdivision if country == calendar.holiday_country else None
    return business_time.japanese_holidays(years, country, subdivision)


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
    per_day = await contract_units(session, scope, contract, start, end, time_zone)
    return schemas.Usage(
        contract_id=contract.id,
        contract_code=contract.code,
        billable_event=contract.billable_event,
        time_zone=time_zone,
        start=start,
        end=end,
        units=sum(per_day.values()),
        days=[schemas.DailyUsage(date=day, units=units) for day, units in sorted(per_day.items())],
    )
