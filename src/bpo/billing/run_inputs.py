"""What a month-end run rates, read for all its clients before it writes any invoice: each client's
contracts running in its period, their rate plan versions and calendars, the usage of every version's meters
and windows (``usage.read``: one aggregate per billable event for the whole run), the SLA attainment of
the contracts with service credits (one statement over the daily or monthly rollups, each contract over
its client's period) and the tenant's tax terms. A handful of statements, however many contracts; rating is
then done in memory, client by client (``invoice_runs.compute_client``).

Clients of one run have periods of their own (different closing days): every contract carries its client's
period bounds into the statements, so one statement still serves them all.

Bad data of one client (dates rating cannot take, a calendar gone) is kept as that client's problem and
raised when the client is billed, so it fails that client alone, as it would have failed it had its
inputs been read on their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, or_
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account, rating, usage
from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Client, Contract
from bpo.clients.schemas import Calendar, ContractStatus, Metric, RatePlan
from bpo.core.scope import Scope
from bpo.sla import attainment as sla
from bpo.tenancy import service as tenancy


def contracts_in(scope: Scope, first_day: date, last_day: date) -> Select[Contract]:
    """The caller's contracts past draft that run on some day from ``first_day`` to ``last_day``."""
    return contracts.visible_contracts(scope).where(
        Contract.status != ContractStatus.DRAFT.value,
        Contract.start_date <= last_day,
        or_(Contract.end_date.is_(None), Contract.end_date >= first_day),
    )


@dataclass(frozen=True, slots=True)
class ContractInputs:
    """A contract running in its client's period: its active days under each rate plan version."""

    contract: Contract
    demands: tuple[usage.Demand, ...]

    @property
    def credited(self) -> bool:
        """Whether a version in force has service credits, which need the period's attainment."""
        return any(d.plan is not None and d.plan.service_credits for d in self.demands)


@dataclass(slots=True)
class ClientInputs:
    client: Client
    period: rating.BillingPeriod
    # Sorted by code: the order of the invoice's lines.
    contracts: list[ContractInputs] = field(default_factory=list)
    problem: Exception | None = None


@dataclass(slots=True)
class RunInputs:
    time_zone: str
    tax: account.TaxTerms
    clients: dict[uuid.UUID, ClientInputs]
    usage: usage.Usage
    attainment: dict[uuid.UUID, dict[Metric, float | None]]

    def of(self, client: Client, period: rating.BillingPeriod) -> ClientInputs:
        """The client's inputs for ``period``; its problem, if reading them found one."""
        found = self.clients.get(client.id)
        if found is None or found.period != period:
            raise LookupError(f"client {client.code} was not read for {period.first_day}..{period.last_day}")
        if found.problem is not None:
            raise found.problem
        return found


def _inputs_of(
    client: Client,
    period: rating.BillingPeriod,
    rows: Sequence[Contract],
    versions: dict[uuid.UUID, list[RatePlan]],
    calendars: dict[uuid.UUID, Calendar],
) -> ClientInputs:
    found = ClientInputs(client, period)
    for contract in sorted(rows, key=lambda c: c.code):
        if period.active_days(contract.start_date, contract.end_date) == 0:
            continue
        active_first = max(period.first_day, contract.start_date)
        active_last = (
            period.last_day if contract.end_date is None else min(period.last_day, contract.end_date)
        )
        spans = usage.versions_in(versions[contract.id], active_first, active_last)
        if not spans:
            continue
        calendar = calendars.get(contract.calendar_id)
        if calendar is None:
            raise LookupError(f"the calendar of contract {contract.code} is gone")
        demands = tuple(usage.Demand(contract, calendar, plan, first, last) for plan, first, last in spans)
        found.contracts.append(ContractInputs(contract, demands))
    return found


async def gather(
    session: AsyncSession, scope: Scope, wanted: Sequence[tuple[Client, rating.BillingPeriod]]
) -> RunInputs:
    """The inputs of rating each client in ``wanted`` for its period."""
    time_zone = (await tenancy.tenant_settings(session, scope)).time_zone
    tax = await account.tax_terms(session, scope)
    found: dict[uuid.UUID, ClientInputs] = {}
    rows: dict[uuid.UUID, list[Contract]] = {client.id: [] for client, _ in wanted}
    if wanted:
        first = min(period.first_day for _, period in wanted)
        last = max(period.last_day for _, period in wanted)
        statement = contracts_in(scope, first, last).where(Contract.client_id.in_(list(rows)))
        for contract in await session.scalars(statement):
            rows[contract.client_id].append(contract)
    running_contracts = [contract for listed in rows.values() for contract in listed]
    versions = await contracts.rate_plans_of(session, scope, [c.id for c in running_contracts])
    calendars = await clients.calendars_of(session, scope, {c.calendar_id for c in running_contracts})
    days: dict[uuid.UUID, tuple[date, date]] = {}
    for client, period in wanted:
        try:
            inputs = _inputs_of(client, period, rows[client.id], versions, calendars)
            # Attainment is measured over the whole period, on the same local days as the usage. A period
            # whose days the tenant's zone cannot cut fails here, for its client alone, before
            # ``attainment_over_days`` cuts every client's days in one go.
            usage.day_bounds(period.first_day, period.last_day, time_zone)
            for running in inputs.contracts:
                if running.credited:
                    days[running.contract.id] = (period.first_day, period.last_day)
        except Exception as error:
            found[client.id] = ClientInputs(client, period, problem=error)
        else:
            found[client.id] = inputs
    demands = [
        demand for inputs in found.values() for contract in inputs.contracts for demand in contract.demands
    ]
    metered = await usage.read(session, scope, time_zone, demands)
    attainment = await sla.attainment_over_days(session, scope, time_zone, days)
    return RunInputs(time_zone, tax, found, metered, attainment)
