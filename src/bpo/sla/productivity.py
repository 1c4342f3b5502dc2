"""Per-person productivity on a contract, for the operator's own people (never shown to clients): the items
each person handled (``handled_by``) per period, and the median handle time of those that say when
handling started and finished (the ``started_at`` and ``handled_at`` columns a work item may carry).

An item counts in the period it was received (local days of the client's zone), as every figure of the
dashboards does. Medians are exact (``percentile_cont`` over the raw items), so a request spans at most
MAX_DAYS days.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core.errors import FieldErrors, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.scope import Scope
from bpo.sla import schemas
from bpo.sla.rollups import day_bounds

MAX_DAYS = 92
DEFAULT_DAYS = 30
TRUNCATE = {"day": "day", "week": "week", "month": "month"}

# One row per person and period, and one per person over the range (GROUPING SETS), each with the median
# of the handle times known. A handle time counts when both instants are there and in order.
_BY_PERSON = text(
    """
    SELECT handled_by, grouping(period) = 1 AS whole_range, period, count(*) AS handled,
           count(seconds) AS timed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_seconds
    FROM (
        SELECT handled_by,
               date_trunc(:unit, received_at AT TIME ZONE :zone)::date AS period,
               CASE WHEN handled_at >= started_at THEN extract(epoch FROM handled_at - started_at) END
                   AS seconds
        FROM work_items
        WHERE tenant_id = :tenant_id AND contract_id = :contract_id
          AND received_at >= :lower AND received_at < :upper
    ) AS handled
    GROUP BY GROUPING SETS ((handled_by, period), (handled_by))
    """
)


def resolve_days(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    raise_if(date_errors(("from", start), ("to", end)))
    last = end or today
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    errors: FieldErrors = []
    if first > last:
        errors.append(field_error("to", "must not be before from"))
    elif (last - first).days + 1 > MAX_DAYS:
        errors.append(field_error("to", f"at most {MAX_DAYS} days from 'from' (inclusive)"))
    raise_if(errors)
    return first, last


def _milliseconds(seconds: Any) -> int | None:
    return None if seconds is None else round(float(seconds) * 1000)


async def productivity(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    start: date | None,
    end: date | None,
    granularity: schemas.Granularity,
) -> schemas.Productivity:
    contract, time_zone = await contracts.get_contract_row_and_zone(session, scope, contract_id)
    zone = ZoneInfo(time_zone)
    first, last = resolve_days(start, end, datetime.now(zone).date())
    lower, upper = day_bounds(first, last, zone)
    rows = await session.execute(
        _BY_PERSON,
        {
            "unit": TRUNCATE[granularity],
            "zone": zone.key,
            "tenant_id": scope.tenant_id,
            "contract_id": contract.id,
            "lower": lower,
            "upper": upper,
        },
    )
    totals: dict[str, schemas.PersonProductivity] = {}
    series: dict[str, list[schemas.ProductivityPoint]] = {}
    unattributed = 0
    for handled_by, whole_range, period, handled, timed, median in rows:
        if handled_by is None:
            unattributed += handled if whole_range else 0
            continue
        if whole_range:
            totals[handled_by] = schemas.PersonProductivity(
                handled_by=handled_by,
                handled=handled,
                timed=timed,
                median_handle_ms=_milliseconds(median),
                series=[],
            )
        else:
            series.setdefault(handled_by, []).append(
                schemas.ProductivityPoint(
                    period=period, handled=handled, median_handle_ms=_milliseconds(median)
                )
            )
    people = sorted(totals.values(), key=lambda person: (-person.handled, person.handled_by))
    for person in people:
        person.series = sorted(series.get(person.handled_by, []), key=lambda point: point.period)
    return schemas.Productivity(
        contract_id=contract.id,
        contract_code=contract.code,
        time_zone=time_zone,
        start=first,
        end=last,
        granularity=granularity,
        unattributed=unattributed,
        people=people,
    )
