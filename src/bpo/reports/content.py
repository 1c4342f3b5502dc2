"""A client report's numbers for one period, taken from the SLA service itself (so a report says exactly
what ``GET /v1/contracts/{id}/sla`` says for the same days), with the period before for comparison."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.models import Contract
from bpo.core.scope import Scope
from bpo.reports import schemas
from bpo.reports.periods import ReportPeriod
from bpo.sla import schemas as sla_schemas
from bpo.sla import service as sla


async def _contracts_in(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    chosen: Sequence[uuid.UUID],
) -> list[tuple[uuid.UUID, str]]:
    statement = (
        contracts.visible_contracts(scope)
        .with_only_columns(Contract.id, Contract.work_type)
        .where(
            Contract.client_id == client_id,
            Contract.status != "draft",
            Contract.start_date <= period.end,
            (Contract.end_date.is_(None)) | (Contract.end_date >= period.start),
        )
        .order_by(Contract.code)
    )
    if chosen:
        statement = statement.where(Contract.id.in_(list(chosen)))
    return [(contract_id, work_type) for contract_id, work_type in await session.execute(statement)]


async def reported_contracts(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    chosen: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """The client's contracts in force for part of ``period`` (only ``chosen``, if any), by code."""
    return [contract_id for contract_id, _ in await _contracts_in(session, scope, client_id, period, chosen)]


def _line(
    objective: sla_schemas.ObjectiveSla, before: sla_schemas.ObjectiveSla | None
) -> schemas.ObjectiveLine:
    return schemas.ObjectiveLine(
        key=objective.key,
        metric=objective.metric,
        threshold=objective.threshold,
        clock=objective.clock,
        target_percent=objective.target_percent,
        attainment=objective.attainment,
        previous_attainment=before.attainment if before else None,
        met=objective.met,
        breached=objective.breached,
        pending=objective.pending,
        status=objective.status,
    )


async def _section(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, work_type: str, period: ReportPeriod
) -> schemas.ContractSection:
    now = await sla.contract_sla(session, scope, contract_id, period.start, period.end, "day")
    previous = period.previous()
    before = await sla.contract_sla(session, scope, contract_id, previous.start, previous.end, "day")
    earlier = {objective.key: objective for objective in before.objectives}
    by_day = {point.period: point for point in now.volumes.series}
    days = []
    for offset in range((period.end - period.start).days + 1):
        day = period.start + timedelta(days=offset)
        point = by_day.get(day)
        days.append(
            schemas.DayLine(
                day=day, received=point.received if point else 0, resolved=point.resolved if point else 0
            )
        )
    return schemas.ContractSection(
        contract_id=now.contract_id,
        contract_code=now.contract_code,
        name=now.name,
        work_type=work_type,
        received=now.volumes.received,
        responded=now.volumes.responded,
        resolved=now.volumes.resolved,
        previous_received=before.volumes.received,
        objectives=[_line(objective, earlier.get(objective.key)) for objective in now.objectives],
        coverage_attainment=now.coverage.attainment if now.coverage else None,
        coverage_target_percent=now.coverage.target_percent if now.coverage else None,
        days=days,
    )


async def sections(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: ReportPeriod,
    chosen: Sequence[uuid.UUID],
) -> list[schemas.ContractSection]:
    """A section per contract reported on, in the order of their codes."""
    return [
        await _section(session, scope, contract_id, work_type, period)
        for contract_id, work_type in await _contracts_in(session, scope, client_id, period, chosen)
    ]
