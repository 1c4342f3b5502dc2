"""Billable units per contract and day, in the tenant's time zone, from the work items."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import schemas
from bpo.clients import contracts
from bpo.clients.models import Contract
from bpo.clients.schemas import BillableEvent
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
