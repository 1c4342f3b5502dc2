"""The `coverage` objective: the share of a contract's required coverage time that shifts and their
assignments staff at the full required headcount, against the objective's target. It is measured from
Staffing (not from work items), for the local days of a range in the client's zone; a contract with
nothing required in the range has no attainment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.schemas import Metric, Objective, SlaPolicy
from bpo.sla import engine, schemas
from bpo.sla.rollups import day_bounds
from bpo.staffing import shifts
from bpo.tenancy.scope import Scope


def coverage_objective(policies: Sequence[SlaPolicy], first: date, last: date) -> Objective | None:
    """The coverage objective of the latest policy version in force during the local dates."""
    chosen = None
    for policy in policies:
        if policy.effective_from <= last and (policy.effective_to is None or policy.effective_to >= first):
            chosen = next((o for o in policy.objectives if o.metric == Metric.COVERAGE), chosen)
    return chosen


async def staffed_percent(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, first: date, last: date, zone: ZoneInfo
) -> tuple[float | None, int, int]:
    """(percent of required time staffed at full headcount, required seconds, fully staffed seconds)."""
    lower, upper = day_bounds(first, last, zone)
    totals = await shifts.coverage_share(session, scope, contract_id, lower, upper)
    share = totals.fully_staffed_share
    return (
        (None if share is None else round(100 * share, 4)),
        totals.coverage_seconds,
        totals.fully_staffed_seconds,
    )


async def coverage_sla(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    policies: Sequence[SlaPolicy],
    first: date,
    last: date,
    zone: ZoneInfo,
) -> schemas.CoverageSla | None:
    objective = coverage_objective(policies, first, last)
    if objective is None:
        return None
    attainment, required, staffed = await staffed_percent(session, scope, contract_id, first, last, zone)
    status = engine.target_status(attainment, float(objective.target_percent))
    return schemas.CoverageSla(
        target_percent=float(objective.target_percent),
        attainment=attainment,
        status=None if status is None else status.value,
        required_minutes=round(required / 60, 2),
        fully_staffed_minutes=round(staffed / 60, 2),
    )


async def coverage_attainment(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, lower: datetime, upper: datetime
) -> float | None:
    """Percent of [lower, upper) staffed at full headcount, for a contract with a coverage objective
    (billing's service credits); None without one or without required coverage."""
    policies = await contracts.list_sla_policies(session, scope, contract_id)
    if not any(o.metric == Metric.COVERAGE for policy in policies for o in policy.objectives):
        return None
    share = (await shifts.coverage_share(session, scope, contract_id, lower, upper)).fully_staffed_share
    return None if share is None else round(100 * share, 4)
