"""The `coverage` objective: the share of a contract's required coverage time that shifts and their
assignments staff at the full required headcount, against the objective's target. It is measured from
Staffing (not from work items), for the local days of a range in the client's zone; a contract with
nothing required in the range has no attainment.

Its ``basis`` says what counts as staffed: ``planned``, the assignments; ``actual``, the attendance
recorded on them (clock-in to clock-out; a shift that ended without a clock-in staffs nothing). An
objective without one is measured on ``actual`` when attendance was recorded on the contract's shifts in
the range, else on ``planned``. Both figures are reported whenever attendance exists; the attainment, the
status and service credits follow the basis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.models import Contract
from bpo.clients.schemas import CoverageBasis, Metric, Objective, SlaPolicy
from bpo.core.scope import Scope
from bpo.sla import engine, schemas
from bpo.sla.rollups import day_bounds
from bpo.staffing import shifts
from bpo.staffing.coverage import Coverage, CoverageTotals, IntervalCoverage


def coverage_objective(policies: Sequence[SlaPolicy], first: date, last: date) -> Objective | None:
    """The coverage objective of the latest policy version in force during the local dates."""
    chosen = None
    for policy in policies:
        if policy.effective_from <= last and (policy.effective_to is None or policy.effective_to >= first):
            chosen = next((o for o in policy.objectives if o.metric == Metric.COVERAGE), chosen)
    return chosen


def _percent(fully_staffed: int, required: int) -> float | None:
    return round(100 * fully_staffed / required, 4) if required else None


async def _basis(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    objective: Objective,
    lower: datetime,
    upper: datetime,
) -> tuple[CoverageBasis, bool]:
    """The basis the objective is measured on over [lower, upper), and whether attendance was recorded."""
    recorded = await shifts.attendance_recorded(session, scope, contract, lower, upper)
    if objective.basis is not None:
        return objective.basis, recorded
    return (CoverageBasis.ACTUAL if recorded else CoverageBasis.PLANNED), recorded


async def measure_days(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    days: Sequence[date],
    zone: ZoneInfo,
    basis: CoverageBasis = CoverageBasis.PLANNED,
) -> Coverage:
    """Coverage between the local midnights (in ``zone``) of consecutive ``days``: one interval per pair."""
    bounds = [day_bounds(day, day, zone)[0] for day in days]
    return await shifts.coverage_between(session, scope, contract, bounds, basis, datetime.now(UTC))


async def _both(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    objective: Objective,
    days: Sequence[date],
    zone: ZoneInfo,
) -> tuple[CoverageBasis, Coverage, Coverage | None]:
    """The basis, coverage on the assignments, and on the attendance when there is any (or the basis
    asks for it), between the local midnights of ``days``."""
    lower, upper = (day_bounds(day, day, zone)[0] for day in (days[0], days[-1]))
    basis, recorded = await _basis(session, scope, contract, objective, lower, upper)
    planned = await measure_days(session, scope, contract, days, zone)
    actual = None
    if recorded or basis is CoverageBasis.ACTUAL:
        actual = await measure_days(session, scope, contract, days, zone, CoverageBasis.ACTUAL)
    return basis, planned, actual


def _share(interval: IntervalCoverage | CoverageTotals | None) -> float | None:
    if interval is None:
        return None
    return _percent(interval.fully_staffed_seconds, interval.coverage_seconds)


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
    basis, planned, actual = await _both(session, scope, contract, objective, days, zone)
    measured = actual if basis is CoverageBasis.ACTUAL and actual is not None else planned
    by_period: dict[date, list[list[int]]] = {}
    for n, day in enumerate(days[:-1]):
        sums = by_period.setdefault(period_of(day), [[0, 0], [0, 0], [0, 0]])
        for which, source in enumerate((measured, planned, actual)):
            if source is not None:
                sums[which][0] += source.intervals[n].coverage_seconds
                sums[which][1] += source.intervals[n].fully_staffed_seconds
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
                required_minutes=round(chosen[0] / 60, 2),
                fully_staffed_minutes=round(chosen[1] / 60, 2),
                attainment=_percent(chosen[1], chosen[0]),
                planned_attainment=_percent(on_plan[1], on_plan[0]),
                actual_attainment=None if actual is None else _percent(on_duty[1], on_duty[0]),
            )
            for period, (chosen, on_plan, on_duty) in by_period.items()
            if chosen[0]
        ],
        basis=basis.value,
        planned_attainment=_share(planned.totals),
        actual_attainment=None if actual is None else _share(actual.totals),
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
    summary; None without a coverage objective in the range. The range before is measured on the same
    basis, so the trend compares like with like."""
    objective = coverage_objective(policies, first, last)
    if objective is None:
        return None
    lower, upper = day_bounds(first, last, zone)
    basis, recorded = await _basis(session, scope, contract, objective, lower, upper)
    days = (previous_first, first, last + timedelta(days=1))
    planned = await measure_days(session, scope, contract, days, zone)
    actual = None
    if recorded or basis is CoverageBasis.ACTUAL:
        actual = await measure_days(session, scope, contract, days, zone, CoverageBasis.ACTUAL)
    before, now = (actual if basis is CoverageBasis.ACTUAL and actual is not None else planned).intervals
    attainment = _share(now)
    previous = _share(before)
    target = float(objective.target_percent)
    status = engine.target_status(attainment, target)
    return schemas.CoverageObjectiveSummary(
        target_percent=target,
        attainment=attainment,
        status=None if status is None else status.value,
        previous_attainment=previous,
        trend=engine.trend(attainment, previous),
        basis=basis.value,
        planned_attainment=_share(planned.intervals[1]),
        actual_attainment=None if actual is None else _share(actual.intervals[1]),
    )


async def coverage_attainment(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, lower: datetime, upper: datetime
) -> float | None:
    """Percent of [lower, upper) staffed at full headcount on the objective's basis, for a contract with a
    coverage objective (billing's service credits); None without one or without required coverage."""
    contract = await contracts.get_contract_row(session, scope, contract_id)
    policies = (await contracts.policies_of(session, scope, [contract.id]))[contract.id]
    objective = coverage_objective(policies, lower.date(), upper.date())
    if objective is None:
        return None
    basis, _ = await _basis(session, scope, contract, objective, lower, upper)
    measured = await shifts.coverage_between(
        session, scope, contract, (lower, upper), basis, datetime.now(UTC)
    )
    return _share(measured.totals)
