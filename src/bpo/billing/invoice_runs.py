"""Month-end runs: rate every contract of a client for a month and write the client's draft invoice.

A run is idempotent: a client's live invoice for the month (one at most, by a unique index) is rewritten
in place while it is a draft, removed when nothing is billable any more, and left alone once finalized.
Killing a run and starting it again converges on the same drafts. A run goes client by client: a client
whose invoice cannot be computed is named in the run's errors (the run ends ``failed``) and the others'
drafts are written all the same.

Rate plan version: the one in force on the contract's first active day of the month; a version that
takes effect mid-month applies from the next month's invoice (rate plans are added from a month's first
day in practice; splitting a month at version boundaries would be the refinement).
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account, rating, schemas, usage
from bpo.billing.models import Invoice, InvoiceLine, InvoiceRun
from bpo.clients import contracts, rules
from bpo.clients import service as clients
from bpo.clients.models import Client, Contract
from bpo.clients.schemas import ContractStatus
from bpo.core import audit
from bpo.core.errors import Conflict, Invalid, NotFound, field_error, raise_if
from bpo.core.jobs import outbox
from bpo.core.jobs.failures import Failures, describe, is_transient
from bpo.core.jobs.registry import RUN_PERIOD_JOB
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.sla import service as sla
from bpo.tenancy import service as tenancy

# The month-end run starts at this local hour on the 1st: items of the month's last minutes are in by then.
MONTH_END_HOUR = 3
# Names the scheduled run of a tenant and month, so however often it is triggered there is one.
MONTH_END_NAMESPACE = uuid.UUID("5b0c6f1e-8f4e-4a51-9d0e-2f7c3a9b6d21")
# What a run's job records its failures against: the run, and each client it could not bill.
INVOICE_RUN = "invoice_run"
CLIENT = "client"


class Outcome(StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    REMOVED = "removed"
    SKIPPED_FINALIZED = "skipped_finalized"
    NOTHING = "nothing"


def parse_period(text: str) -> rating.BillingPeriod:
    try:
        year, month = (int(part) for part in text.split("-"))
        return rating.BillingPeriod.month(year, month)
    except ValueError:
        raise Invalid("period must be YYYY-MM", errors=[field_error("period", "expected YYYY-MM")]) from None


def runnable_period(text: str, today: date) -> rating.BillingPeriod:
    """A month a run may bill: from FIRST_DATE's to the one YEARS_AHEAD years after ``today``'s."""
    period = parse_period(text)
    raise_if(rules.check_date_window(period.first_day, today, "period"))
    return period


def _day_in_month(year: int, month: int, day: int) -> date:
    # 31 (and any day past the month's last) means the month end.
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def due_date(period: rating.BillingPeriod, client: Client) -> date:
    """Payment due ``payment_month_offset`` months after the closing month, on ``payment_day``."""
    months = period.first_day.year * 12 + period.first_day.month - 1 + client.payment_month_offset
    return _day_in_month(months // 12, months % 12 + 1, client.payment_day)


def _contracts_in(scope: Scope, period: rating.BillingPeriod) -> Select[Contract]:
    return contracts.visible_contracts(scope).where(
        Contract.status != ContractStatus.DRAFT.value,
        Contract.start_date <= period.last_day,
        or_(Contract.end_date.is_(None), Contract.end_date >= period.first_day),
    )


async def billable_client_ids(
    session: AsyncSession, scope: Scope, period: rating.BillingPeriod
) -> list[uuid.UUID]:
    """Clients with a contract running in the month, and clients holding a draft for it (which a re-run
    must remove if nothing is billable any more)."""
    running = {c.client_id for c in (await session.scalars(_contracts_in(scope, period))).all()}
    drafts = (
        await session.scalars(
            select(Invoice.client_id).where(
                Invoice.tenant_id == scope.tenant_id,
                Invoice.period == period.first_day,
                Invoice.kind == schemas.InvoiceKind.INVOICE.value,
                Invoice.status == schemas.InvoiceStatus.DRAFT.value,
            )
        )
    ).all()
    return sorted(running | set(drafts))


class _Rated:
    def __init__(self, contract: Contract, units: int, result: rating.Rating) -> None:
        self.contract = contract
        self.units = units
        self.result = result

    @property
    def billable(self) -> bool:
        return self.units > 0 or any(line.amount != 0 for line in self.result.lines)


async def _rate_contract(
    session: AsyncSession, scope: Scope, contract: Contract, period: rating.BillingPeriod, time_zone: str
) -> _Rated | None:
    active_days = period.active_days(contract.start_date, contract.end_date)
    if active_days == 0:
        return None
    first_active = max(period.first_day, contract.start_date)
    plan = contracts.in_force(await contracts.list_rate_plans(session, scope, contract.id), first_active)
    if plan is None:
        return None
    per_day = await usage.contract_units(
        session, scope, contract, period.first_day, period.last_day, time_zone
    )
    units = sum(per_day.values())
    lower, upper = usage.day_bounds(period.first_day, period.last_day, time_zone)
    attainment = await sla.attainment_by_metric(session, scope, contract.id, lower, upper)
    result = rating.rate(plan, period, units=units, attainment=dict(attainment), active_days=active_days)
    return _Rated(contract, units, result)


async def _live_invoice(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, period: rating.BillingPeriod
) -> Invoice | None:
    """The client's invoice for ``period`` that is not void, locked: there is at most one."""
    return await session.scalar(
        select(Invoice)
        .where(
            Invoice.tenant_id == scope.tenant_id,
            Invoice.client_id == client_id,
            Invoice.period == period.first_day,
            Invoice.kind == schemas.InvoiceKind.INVOICE.value,
            Invoice.status != schemas.InvoiceStatus.VOID.value,
        )
        .with_for_update()
    )


async def _empty_draft(
    session: AsyncSession,
    scope: Scope,
    existing: Invoice | None,
    client_id: uuid.UUID,
    period: rating.BillingPeriod,
) -> tuple[Invoice, Outcome]:
    """A new draft, or the existing one with its lines removed."""
    if existing is None:
        invoice = Invoice(
            tenant_id=scope.tenant_id,
            id=new_id(),
            client_id=client_id,
            kind=schemas.InvoiceKind.INVOICE.value,
            status=schemas.InvoiceStatus.DRAFT.value,
            period=period.first_day,
        )
        session.add(invoice)
        return invoice, Outcome.CREATED
    await session.execute(
        delete(InvoiceLine).where(
            InvoiceLine.tenant_id == scope.tenant_id, InvoiceLine.invoice_id == existing.id
        )
    )
    return existing, Outcome.REPLACED


def _add_lines(
    session: AsyncSession,
    scope: Scope,
    invoice: Invoice,
    rated: Sequence[_Rated],
    period: rating.BillingPeriod,
) -> None:
    position = 0
    for r in rated:
        for line in r.result.lines:
            position += 1
            session.add(
                InvoiceLine(
                    tenant_id=scope.tenant_id,
                    id=new_id(),
                    invoice_id=invoice.id,
                    position=position,
                    contract_id=r.contract.id,
                    contract_code=r.contract.code,
                    kind=line.kind.value,
                    code=line.code,
                    description=line.description,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=line.amount,
                    period_start=period.first_day,
                    period_end=period.last_day,
                    tier=line.tier,
                )
            )


async def bill_client(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    period: rating.BillingPeriod,
    run_id: uuid.UUID | None = None,
) -> Outcome:
    """Write (or rewrite, or remove) the client's draft invoice for ``period``."""
    client = await clients.get_client_row(session, scope, client_id)
    existing = await _live_invoice(session, scope, client.id, period)
    if existing is not None and existing.status != schemas.InvoiceStatus.DRAFT.value:
        return Outcome.SKIPPED_FINALIZED
    settings = await tenancy.tenant_settings(session, scope)
    rows = (await session.scalars(_contracts_in(scope, period).where(Contract.client_id == client.id))).all()
    rated = [
        r
        for contract in sorted(rows, key=lambda c: c.code)
        if (r := await _rate_contract(session, scope, contract, period, settings.time_zone)) is not None
    ]
    if not any(r.billable for r in rated):
        if existing is not None:
            audit.record(
                session, scope, "invoice.draft_removed", "invoice", existing.id, period=str(period.first_day)
            )
            await session.delete(existing)
            await session.flush()
            return Outcome.REMOVED
        return Outcome.NOTHING
    currencies = sorted({r.result.currency for r in rated})
    if currencies != [client.currency]:
        raise Conflict(
            f"Client {client.code} is billed in {client.currency} but its contracts are rated in "
            f"{', '.join(currencies)}; one invoice holds one currency.",
            slug="mixed-currencies",
        )
    tax = await account.tax_terms(session, scope)
    totals = rating.invoice_totals([line for r in rated for line in r.result.lines], tax.rate, tax.rounding)
    invoice, outcome = await _empty_draft(session, scope, existing, client.id, period)
    invoice.currency = client.currency
    invoice.subtotal, invoice.tax, invoice.total = totals
    invoice.tax_rate = tax.rate
    invoice.issued_on = period.last_day
    invoice.due_on = due_date(period, client)
    invoice.registration_number = settings.invoice_registration_number
    invoice.client_name = client.name
    invoice.client_legal_name = client.legal_name
    invoice.payment_terms = clients.payment_terms(client)
    invoice.run_id = run_id
    await session.flush()
    _add_lines(session, scope, invoice, rated, period)
    audit.record(
        session, scope, f"invoice.draft_{outcome.value}", "invoice", invoice.id, period=str(period.first_day)
    )
    await session.flush()
    return outcome


def tally(result: schemas.RunResult, outcome: Outcome) -> None:
    result.clients += 1
    if outcome is Outcome.CREATED:
        result.drafts_created += 1
    elif outcome is Outcome.REPLACED:
        result.drafts_replaced += 1
    elif outcome is Outcome.REMOVED:
        result.drafts_removed += 1
    elif outcome is Outcome.SKIPPED_FINALIZED:
        result.skipped_finalized += 1


# --- runs --------------------------------------------------------------------------------------------


def run_view(run: InvoiceRun) -> schemas.InvoiceRun:
    return schemas.InvoiceRun(
        id=run.id,
        period=run.period,
        status=schemas.InvoiceRunStatus(run.status),
        result=run.result,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


async def start_run(
    session: AsyncSession, scope: Scope, period: rating.BillingPeriod, *, enqueue: bool = True
) -> InvoiceRun:
    run = InvoiceRun(
        tenant_id=scope.tenant_id,
        id=new_id(),
        period=period.first_day,
        status=schemas.InvoiceRunStatus.QUEUED.value,
        result={},
        created_by=scope.user_id,
    )
    session.add(run)
    audit.record(session, scope, "invoice_run.created", "invoice_run", run.id, period=str(period.first_day))
    if enqueue:
        outbox.enqueue(session, scope.tenant_id, RUN_PERIOD_JOB, run_id=str(run.id))
    await session.flush()
    await session.refresh(run)
    return run


async def create_run(
    session: AsyncSession, scope: Scope, data: schemas.InvoiceRunCreate
) -> schemas.InvoiceRun:
    period = runnable_period(data.period, await tenancy.tenant_today(session, scope))
    return run_view(await start_run(session, scope, period))


async def _run_row(
    session: AsyncSession, scope: Scope, run_id: uuid.UUID, *, for_update: bool = False
) -> InvoiceRun:
    statement = select(InvoiceRun).where(InvoiceRun.tenant_id == scope.tenant_id, InvoiceRun.id == run_id)
    run = await session.scalar(statement.with_for_update() if for_update else statement)
    if run is None:
        raise NotFound(f"Invoice run {run_id} not found.")
    return run


async def get_run(session: AsyncSession, scope: Scope, run_id: uuid.UUID) -> schemas.InvoiceRun:
    return run_view(await _run_row(session, scope, run_id))


async def finish_run(
    session: AsyncSession, scope: Scope, run_id: uuid.UUID, result: schemas.RunResult, errors: Sequence[str]
) -> None:
    run = await _run_row(session, scope, run_id, for_update=True)
    run.status = (schemas.InvoiceRunStatus.FAILED if errors else schemas.InvoiceRunStatus.DONE).value
    run.result = {**{f: getattr(result, f) for f in result.__struct_fields__}, "errors": list(errors)}
    run.finished_at = datetime.now(UTC)
    await session.flush()


async def fail_run(session: AsyncSession, scope: Scope, run_id: uuid.UUID, reason: str) -> None:
    """The run's job failed for good (nothing it drafted was kept): the run ends failed with the reason."""
    run = await _run_row(session, scope, run_id, for_update=True)
    if run.status == schemas.InvoiceRunStatus.QUEUED.value:
        await finish_run(session, scope, run.id, schemas.RunResult(), [reason])


async def _client_codes(
    session: AsyncSession, scope: Scope, client_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Client.id, Client.code).where(Client.tenant_id == scope.tenant_id, Client.id.in_(client_ids))
    )
    return {client_id: code for client_id, code in rows.all()}


def _client_error(code: str, reason: str) -> str:
    return f"Client {code}: {reason}"


async def execute_run(
    session: AsyncSession, scope: Scope, run_id: uuid.UUID, failures: Failures | None = None
) -> schemas.RunResult:
    """The whole run in the caller's transaction (the job's), client by client: a client whose invoice
    cannot be computed (mixed currencies, prices or dates rating cannot take) keeps what it had, is named
    in the run's errors (and kept in ``failures``), and the other clients' drafts are written."""
    failures = failures if failures is not None else Failures()
    run = await _run_row(session, scope, run_id, for_update=True)
    period = rating.BillingPeriod.month(run.period.year, run.period.month)
    result = schemas.RunResult()
    client_ids = await billable_client_ids(session, scope, period)
    codes = await _client_codes(session, scope, client_ids)
    failed_before = len(failures.failed)
    for client_id in client_ids:
        async with failures.isolated(session, CLIENT, client_id):
            tally(result, await bill_client(session, scope, client_id, period, run_id))
    errors = [_client_error(codes[f.object_id], f.error) for f in failures.failed[failed_before:]]
    await finish_run(session, scope, run_id, result, errors)
    return result


# --- the scheduled month-end run ---------------------------------------------------------------------


def month_end_due(local_now: datetime) -> rating.BillingPeriod | None:
    """The month to bill when the tenant's wall clock shows the 1st, from MONTH_END_HOUR on."""
    if local_now.day != 1 or local_now.hour < MONTH_END_HOUR:
        return None
    last_day = local_now.date() - timedelta(days=1)
    return rating.BillingPeriod.month(last_day.year, last_day.month)


def month_end_run_id(tenant_id: uuid.UUID, period: rating.BillingPeriod) -> uuid.UUID:
    return uuid.uuid5(MONTH_END_NAMESPACE, f"{tenant_id}:{period.first_day:%Y-%m}")


async def run_month_end(
    session: AsyncSession, scope: Scope, now: datetime, failures: Failures | None = None
) -> schemas.RunResult | None:
    """The previous month's run, when it is due in the tenant's zone and has not been done yet. The
    scheduler triggers it every hour; the run's id is derived from the tenant and month and inserted
    first, so every trigger after the first finds it and does nothing."""
    period = month_end_due(now.astimezone(ZoneInfo(await tenancy.tenant_time_zone(session, scope))))
    if period is None:
        return None
    run_id = await session.scalar(
        insert(InvoiceRun)
        .values(
            tenant_id=scope.tenant_id,
            id=month_end_run_id(scope.tenant_id, period),
            period=period.first_day,
            status=schemas.InvoiceRunStatus.QUEUED.value,
            result={},
            created_by=None,
        )
        .on_conflict_do_nothing()
        .returning(InvoiceRun.id)
    )
    if run_id is None:
        return None
    audit.record(
        session,
        scope,
        "invoice_run.created",
        "invoice_run",
        run_id,
        period=str(period.first_day),
        trigger="schedule",
    )
    return await execute_run(session, scope, run_id, failures)


async def run_period_now(
    runtime: Runtime,
    scope: Scope,
    period_text: str,
    on_total: Callable[[int], None] = lambda _: None,
    on_client: Callable[[], None] = lambda: None,
) -> schemas.RunResult:
    """A month-end run done here and now, one client per transaction (safe to interrupt and run again),
    recorded as an invoice run like the background one, and going on past a client that fails as it
    does."""
    async with runtime.db.tenant(scope.tenant_id) as session:
        period = runnable_period(period_text, await tenancy.tenant_today(session, scope))
        run_id = (await start_run(session, scope, period, enqueue=False)).id
        client_ids = await billable_client_ids(session, scope, period)
        codes = await _client_codes(session, scope, client_ids)
    on_total(len(client_ids))
    result = schemas.RunResult()
    errors: list[str] = []
    for client_id in client_ids:
        try:
            async with runtime.db.tenant(scope.tenant_id) as session:
                tally(result, await bill_client(session, scope, client_id, period, run_id))
        except Exception as error:
            if is_transient(error):
                raise
            errors.append(_client_error(codes[client_id], describe(error)))
        on_client()
    async with runtime.db.tenant(scope.tenant_id) as session:
        await finish_run(session, scope, run_id, result, errors)
    return result
