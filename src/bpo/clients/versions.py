"""Correcting a contract's versions (SLA objectives, rate plans) in place, or deleting one: while no
closed month depends on it, and always for a version holding values today's checks refuse (stored by an
older release), so no stored value is past repair through the API. What a corrected or deleted SLA
version measured is measured again in the background (``sla.remeasure``)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import rules, schemas, stored
from bpo.clients.contracts import (
    Status,
    ensure_editable,
    get_contract_row,
    holiday_problems,
    list_rate_plans,
    list_sla_policies,
)
from bpo.clients.models import Contract, RatePlan, SlaPolicy
from bpo.core.audit import record
from bpo.core.errors import Conflict, FieldErrors, NotFound, field_error, raise_if
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import REMEASURE_JOB, SLA_QUEUE
from bpo.core.scope import Scope

Version = SlaPolicy | RatePlan


def _what(model: type[SlaPolicy] | type[RatePlan]) -> str:
    return "SLA policy version" if model is SlaPolicy else "Rate plan version"


def policy_problems(policy: SlaPolicy) -> FieldErrors:
    """What today's checks refuse in a stored SLA policy version (one an older release accepted)."""
    issue = stored.problem(policy.objectives, schemas.Objectives)
    if issue is not None:
        return [field_error("objectives", issue)]
    return rules.check_objectives(msgspec.convert(policy.objectives, schemas.Objectives), "objectives")


def plan_problems(plan: RatePlan, contract_currency: str) -> FieldErrors:
    """What today's checks refuse in a stored rate plan version."""
    raw = {
        "currency": plan.currency,
        "charges": plan.charges,
        "minimum_commitment": plan.minimum_commitment,
        "service_credits": plan.service_credits,
        "meters": plan.meters,
        "surcharges": plan.surcharges,
    }
    issue = stored.problem(raw, schemas.RatePlanReplace)
    if issue is not None:
        return [field_error("rate_plan", issue)]
    return rules.check_rate_plan(msgspec.convert(raw, schemas.RatePlanReplace), contract_currency, "")


async def _version_row(
    session: AsyncSession,
    scope: Scope,
    contract: Contract,
    model: type[SlaPolicy] | type[RatePlan],
    version_id: uuid.UUID,
) -> Version:
    row: Version | None = await session.scalar(
        select(model)
        .where(model.tenant_id == scope.tenant_id, model.contract_id == contract.id, model.id == version_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"{_what(model)} {version_id} not found.")
    return row


def _ensure_correctable(contract: Contract, version: Version, problems: FieldErrors, today: date) -> None:
    """A version changes in place, or goes, only while no closed month depends on it: the contract is a
    draft, or the version starts in the current month or later. A version today's checks refuse (stored
    by an older release) always may, ended contract or not: nothing could be measured or billed by it."""
    if problems:
        return
    ensure_editable(contract)
    month_start = today.replace(day=1)
    if contract.status == Status.DRAFT.value or version.effective_from >= month_start:
        return
    raise Conflict(
        f"The {_what(type(version)).lower()} from {version.effective_from} has measured or billed closed "
        f"months, which stay as they were; add a new version from {month_start} or later instead.",
        slug="version-in-force",
    )


async def _correctable(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    model: type[SlaPolicy] | type[RatePlan],
    version_id: uuid.UUID,
    today: date,
) -> tuple[Contract, Version]:
    contract = await get_contract_row(session, scope, contract_id, for_update=True)
    version = await _version_row(session, scope, contract, model, version_id)
    problems = (
        policy_problems(version)
        if isinstance(version, SlaPolicy)
        else plan_problems(version, contract.currency)
    )
    _ensure_correctable(contract, version, problems, today)
    return contract, version


async def replace_sla_policy(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    version_id: uuid.UUID,
    data: schemas.SlaPolicyReplace,
    today: date,
) -> schemas.SlaPolicy:
    """Correct a version's objectives in place (see ``_ensure_correctable``)."""
    raise_if(rules.check_objectives(data.objectives, "objectives"))
    contract, version = await _correctable(session, scope, contract_id, SlaPolicy, version_id, today)
    assert isinstance(version, SlaPolicy)
    version.objectives = msgspec.to_builtins(data.objectives)
    record(
        session,
        scope,
        "sla_policy.replaced",
        "contract",
        contract.id,
        effective_from=str(version.effective_from),
        version_id=str(version.id),
    )
    await session.flush()
    await _remeasure(session, scope, version, today)
    versions = await list_sla_policies(session, scope, contract.id)
    return next(v for v in versions if v.id == version.id)


async def _remeasure(session: AsyncSession, scope: Scope, version: SlaPolicy, today: date) -> None:
    """Once a version that has taken effect is corrected or deleted, the items it measured are measured
    again (by ``sla.remeasure``, in the background)."""
    if version.effective_from > today:
        return
    following = await session.scalar(
        select(func.min(SlaPolicy.effective_from)).where(
            SlaPolicy.tenant_id == scope.tenant_id,
            SlaPolicy.contract_id == version.contract_id,
            SlaPolicy.effective_from > version.effective_from,
        )
    )
    # A day either side: a local day of the calendar's zone starts up to a day away from UTC's.
    since = datetime.combine(version.effective_from - timedelta(days=1), time(), UTC)
    until = None if following is None else datetime.combine(following + timedelta(days=1), time(), UTC)
    outbox.enqueue(
        session,
        scope.tenant_id,
        REMEASURE_JOB,
        queue=SLA_QUEUE,
        contract_id=str(version.contract_id),
        received_from=since.isoformat(),
        received_to=until and until.isoformat(),
    )


async def replace_rate_plan(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    version_id: uuid.UUID,
    data: schemas.RatePlanReplace,
    today: date,
) -> schemas.RatePlan:
    """Correct a version's prices in place (see ``_ensure_correctable``)."""
    contract = await get_contract_row(session, scope, contract_id)
    raise_if(
        rules.check_rate_plan(data, contract.currency, "")
        + await holiday_problems(session, scope, contract, data.surcharges)
    )
    contract, version = await _correctable(session, scope, contract_id, RatePlan, version_id, today)
    assert isinstance(version, RatePlan)
    version.currency = data.currency
    version.charges = msgspec.to_builtins(data.charges)
    version.minimum_commitment = data.minimum_commitment
    version.service_credits = msgspec.to_builtins(data.service_credits)
    version.meters = msgspec.to_builtins(data.meters)
    version.surcharges = msgspec.to_builtins(data.surcharges)
    record(
        session,
        scope,
        "rate_plan.replaced",
        "contract",
        contract.id,
        effective_from=str(version.effective_from),
        version_id=str(version.id),
    )
    await session.flush()
    versions = await list_rate_plans(session, scope, contract.id)
    return next(v for v in versions if v.id == version.id)


async def delete_sla_policy(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, version_id: uuid.UUID, today: date
) -> None:
    await _delete_version(session, scope, contract_id, SlaPolicy, version_id, today)


async def delete_rate_plan(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, version_id: uuid.UUID, today: date
) -> None:
    await _delete_version(session, scope, contract_id, RatePlan, version_id, today)


async def _delete_version(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    model: type[SlaPolicy] | type[RatePlan],
    version_id: uuid.UUID,
    today: date,
) -> None:
    """Delete a version (see ``_ensure_correctable``); the one before it stays in force in its place. A
    contract keeps at least one."""
    contract, version = await _correctable(session, scope, contract_id, model, version_id, today)
    versions = await session.scalar(
        select(func.count()).where(model.tenant_id == scope.tenant_id, model.contract_id == contract.id)
    )
    if versions == 1:
        raise Conflict(
            f"This is the contract's only {_what(model).lower()}; correct it in place (PUT) instead.",
            slug="last-version",
        )
    if isinstance(version, SlaPolicy):
        await _remeasure(session, scope, version, today)
    await session.delete(version)
    record(
        session,
        scope,
        "sla_policy.deleted" if model is SlaPolicy else "rate_plan.deleted",
        "contract",
        contract.id,
        effective_from=str(version.effective_from),
        version_id=str(version.id),
    )
    await session.flush()
