"""Attainment per metric for billing's service credits: each contract's met and breached items over its
own bounds or local days, in one statement for a whole run, with coverage measured from Staffing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.schemas import Metric
from bpo.core.scope import Scope
from bpo.sla import coverage_objective as coverage
from bpo.sla import engine
from bpo.sla.rollups import (
    DAY,
    MONTH,
    cut_cleanly,
    day_bounds,
    next_month,
)

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
