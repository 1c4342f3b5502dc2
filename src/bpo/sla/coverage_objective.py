"""The `coverage` objective: the share of a contract's required coverage time that shifts and their
assignments staff at the full required headcount, against the objective's target. It is measured from
Staffing (not from work items), for the local days of a range in the client's zone; a contract with
nothing required in the range has no attainment."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.models import Contract
from bpo.clients.schemas import Metric, Objective, SlaPolicy
from bpo.core.scope import Scope
from bpo.sla import engine, schemas
from bpo.sla.rollups import day_bounds
from bpo.staffing import shifts
from bpo.staffing.coverage import Coverage


def coverage_objective(policies: Sequence[SlaPolicy], first: date, last: date) -> Objective | None:
    """The coverage objective of the latest policy version in force during the local dates."""
    chosen = None
    for policy in policies:
        if policy.effective_from <= last and (policy.effective_to is None or policy.effective_to >= first):
            chosen = next((o for o in policy.objectives if o.metric == Metric.COVERAGE), chosen)
    return chosen


def _percent(fully_staffed: int, required: int) -> float | None:
    return round(100 * fully_staffed / required, 4) if required else None


async def measure_days(
    session: AsyncSession, scope: Scope, contract: Contract, days: Sequence[date], zone: ZoneInfo
) -> Coverage:
    """Coverage between the local midnights (in ``zone``) of consecutive ``days``: one interval per pair."""
    bounds = [day_bounds(day, day, zone)[0] for day in days]
    return await shifts.coverage_between(session, scope, contract, bounds)


async def coverage_sla(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    policies: Sequence[SlaPolicy],
    first: date,
    last: date,
    zone: ZoneInfo,
    period_of: Callable[[date], date],
) -> schemas.CoverageSla | None:
    """The objective over the local days ``first`` to ``last``, and by period (``period_of`` a day)
    for the periods that required any coverage."""
    objective = coverage_objective(policies, first, last)
    if objective is None:
        return None
    days = [first + timedelta(days=n) for n in range((last - first).days + 2)]
    measured = await measure_days(session, scope, contract, days, zone)
    by_period: dict[date, list[int]] = {}
    for day, interval in zip(days[:-1], measured.intervals, strict=True):
        seconds = by_period.setdefault(period_of(day), [0, 0])
        seconds[0] += interval.coverage_seconds
        seconds[1] += interval.fully_staffed_seconds
    totals = measured.totals
    attainment = _percent(totals.fully_staffed_seconds, totals.coverage_seconds)
    target = float(objective.target_percent)
    status = engine.target_status(attainment, target)
    return schemas.CoverageSla(
        target_percent=target,
        attainment=attainment,
        status=None if status is None else status.value,
        required_minutes=round(totals.coverage_seconds / 60, 2),
        fully_staffed_minutes=round(totals.fully_staffed_seconds / 60, 2),
        series=[
            schemas.CoveragePoint(
                period=period,
                required_minutes=round(required / 60, 2),
                fully_staffed_minutes=round(staffed / 60, 2),
                attainment=_percent(staffed, required),
            )
            for period, (required, staffed) in by_period.items()
            if required
        ],
    )


async def coverage_summary(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    policies: Sequence[SlaPolicy],
    previous_first: date,
    first: date,
    last: date,
    zone: ZoneInfo,
) -> schemas.CoverageObjectiveSummary | None:
    """The objective over first..last against previous_first..the day before first, for a client's
    summary; None without a coverage objective in the range."""
    objective = coverage_objective(policies, first, last)
    if objective is None:
        return None
    days = (previous_first, first, last + timedelta(days=1))
    before, now = (await measure_days(session, scope, contract, days, zone)).intervals
    attainment = _percent(now.fully_staffed_seconds, now.coverage_seconds)
    previous = _percent(before.fully_staffed_seconds, before.coverage_seconds)
    target = float(objective.target_percent)
    status = engine.target_status(attainment, target)
    return schemas.CoverageObjectiveSummary(
        target_percent=target,
        attainment=attainment,
        status=None if status is None else status.value,
        previous_attainment=previous,
        trend=engine.trend(attainment, previous),
    )


async def coverage_attainment(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, lower: datetime, upper: datetime
) -> float | None:
    """Percent of [lower, upper) staffed at full headcount, for a contract with a coverage objective
    (billing's service credits); None without one or without required coverage."""
    contract = await contracts.get_contract_row(session, scope, contract_id)
    policies = (await contracts.policies_of(session, scope, [contract.id]))[contract.id]
    if not any(o.metric == Metric.COVERAGE for policy in policies for o in policy.objectives):
        return None
    totals = (await shifts.coverage_between(session, scope, contract, (lower, upper))).totals
    return _percent(totals.fully_staffed_seconds, totals.coverage_seconds)
