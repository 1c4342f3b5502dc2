"""Month-end runs: rate every contract of a client for a billing period and write the client's draft
invoice.

Periods. A run is named by a month ("2026-11"); each client is billed for its own period of that name,
cut by its closing day (``clients.periods``): 21 October - 20 November for a client closing on the 20th,
the calendar month for one closing at the month end. Usage, proration, SLA attainment (for service
credits) and the due date all follow the client's period; the invoice keeps the period's dates.

A run is idempotent: a client's live invoice for the period (one at most, by a unique index) is rewritten
in place while it is a draft, removed when nothing is billable any more, and left alone once finalized.
Killing a run and starting it again converges on the same drafts. A run goes client by client: a client
whose invoice cannot be computed is named in the run's errors (the run ends ``failed``) and the others'
drafts are written all the same.

Rate plan versions: a version taking effect inside the period splits it; each version rates its own days
(``rating.rate_split``). Days before the contract's first version are not billed.

Meters and surcharges: each version's meters are counted per day, with the units of the items received
inside each of its surcharges' windows, read on the contract calendar's clock (``usage``).

Inputs first: a run reads what it rates for all its clients at once (``run_inputs.gather``: one aggregate
per billable event and one statement of SLA attainment for the whole run, not a few per contract), then
rates and writes client by client, each client in a savepoint of its own.

Tax: each line's class is its charge's or the client's (an exempt client's lines are all exempt); the
invoice keeps its taxes per rate, each rounded once (``rating.taxes_by_rate``).

The estimate (見込み) of a client's open period is the same computation, run now and never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import msgspec
import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import rating, run_inputs, schemas
from bpo.billing.models import Invoice, InvoiceLine, InvoiceRun
from bpo.billing.run_inputs import RunInputs, contracts_in
from bpo.clients import periods, rules
from bpo.clients import service as clients
from bpo.clients.models import Client, Contract
from bpo.clients.schemas import TaxClass
from bpo.core import audit
from bpo.core.errors import Conflict, Invalid, NotFound, field_error, raise_if
from bpo.core.jobs import outbox
from bpo.core.jobs.failures import Failures, ItemFailure, describe, is_transient
from bpo.core.jobs.registry import RUN_PERIOD_JOB
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy

# The scheduled run of a client starts at this local hour on the day after its closing day: items of the
# period's last minutes are in by then.
MONTH_END_HOUR = 3
# Names the scheduled run of a tenant and closing date, so however often it is triggered there is one.
MONTH_END_NAMESPACE = uuid.UUID("5b0c6f1e-8f4e-4a51-9d0e-2f7c3a9b6d21")
# What a run's job records its failures against: the run, and each client it could not bill.
INVOICE_RUN = "invoice_run"
CLIENT = "client"
log = structlog.get_logger("bpo.billing")


class Outcome(StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    REMOVED = "removed"
    SKIPPED_FINALIZED = "skipped_finalized"
    NOTHING = "nothing"


def parse_period(text: str) -> rating.BillingPeriod:
    """The month a period is named after ("YYYY-MM"); each client's period of that name follows its
    closing day (``client_period``)."""
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


def client_period(client: Client, label: date) -> rating.BillingPeriod:
    """The client's billing period named after the month of ``label``."""
    period = clients.closing_days(client).period(label)
    return rating.BillingPeriod(period.first_day, period.last_day, period.regular_days)


def due_date(period: rating.BillingPeriod, client: Client) -> date:
    """Payment due ``payment_month_offset`` months after the month of the closing date, on
    ``payment_day`` (31: the month end)."""
    return periods.due_date(period.last_day, client.payment_month_offset, client.payment_day)


def _runs_in(start_date: date, end_date: date | None, period: rating.BillingPeriod) -> bool:
    return start_date <= period.last_day and (end_date is None or end_date >= period.first_day)


async def billable_client_ids(
    session: AsyncSession, scope: Scope, month: rating.BillingPeriod, closed_on: date | None = None
) -> list[uuid.UUID]:
    """Clients with a contract running in their period named after ``month``, and clients holding a draft
    for it (which a re-run must remove if nothing is billable any more); with ``closed_on``, only the
    clients whose period closed that day."""
    # Every client's period of the month lies within these days (a period is at most two months long).
    window = contracts_in(scope, periods.add_months(month.first_day, -1), month.last_day)
    running: dict[uuid.UUID, list[tuple[date, date | None]]] = {}
    for client_id, start_date, end_date in await session.execute(
        window.with_only_columns(Contract.client_id, Contract.start_date, Contract.end_date)
    ):
        running.setdefault(client_id, []).append((start_date, end_date))
    drafts = (
        await session.scalars(
            select(Invoice.client_id).where(
                Invoice.tenant_id == scope.tenant_id,
                Invoice.period == month.first_day,
                Invoice.kind == schemas.InvoiceKind.INVOICE.value,
                Invoice.status == schemas.InvoiceStatus.DRAFT.value,
            )
        )
    ).all()
    candidates = set(running) | set(drafts)
    rows = (
        await session.scalars(
            select(Client).where(Client.tenant_id == scope.tenant_id, Client.id.in_(candidates))
        )
    ).all()
    billable: list[uuid.UUID] = []
    for client in rows:
        period = client_period(client, month.first_day)
        if closed_on is not None and period.last_day != closed_on:
            continue
        if client.id in drafts or any(_runs_in(*days, period) for days in running.get(client.id, ())):
            billable.append(client.id)
    return sorted(billable)


class _Rated:
    def __init__(self, contract: Contract, units: int, result: rating.Rating) -> None:
        self.contract = contract
        self.units = units
        self.result = result

    @property
    def billable(self) -> bool:
        return self.units > 0 or any(line.amount != 0 for line in self.result.lines)


def _rate_contract(
    contract: run_inputs.ContractInputs, inputs: RunInputs, period: rating.BillingPeriod
) -> _Rated:
    segments = [inputs.usage.segment(demand) for demand in contract.demands]
    attainment = inputs.attainment.get(contract.contract.id, {})
    result = rating.rate_split(period, segments, attainment=dict(attainment))
    return _Rated(contract.contract, sum(segment.units for segment in segments), result)


async def _live_invoices(
    session: AsyncSession, scope: Scope, client_ids: Sequence[uuid.UUID], month: date
) -> dict[uuid.UUID, Invoice]:
    """The clients' invoices for the period named after ``month`` that are not void, locked: at most one
    per client."""
    rows = await session.scalars(
        select(Invoice)
        .where(
            Invoice.tenant_id == scope.tenant_id,
            Invoice.client_id.in_(client_ids),
            Invoice.period == month,
            Invoice.kind == schemas.InvoiceKind.INVOICE.value,
            Invoice.status != schemas.InvoiceStatus.VOID.value,
        )
        .with_for_update()
    )
    return {row.client_id: row for row in rows}


# Every line in one INSERT (COPY cannot write under row-level security), its rows sent as one JSON document:
# encoding it costs a fraction of encoding a binary array per column, element by element.
INSERT_LINES = """
    INSERT INTO invoice_lines (tenant_id, id, invoice_id, position, contract_id, contract_code, kind, code,
                               description, quantity, unit_price, amount, period_start, period_end, tier,
                               tax_class)
    SELECT $1::uuid, l.* FROM json_to_recordset($2::json) AS l(
        id uuid, invoice_id uuid, position int, contract_id uuid, contract_code text, kind text, code text,
        description text, quantity numeric, unit_price numeric, amount bigint, period_start date,
        period_end date, tier int, tax_class text)
"""


class _LineRow(msgspec.Struct, gc=False):
    """A row of INSERT_LINES, encoded by name (``json_to_recordset`` reads the fields by name)."""

    id: uuid.UUID
    invoice_id: uuid.UUID
    position: int
    contract_id: uuid.UUID
    contract_code: str
    kind: str
    code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: int
    period_start: date
    period_end: date
    tier: int | None
    tax_class: str


async def _add_lines(
    session: AsyncSession,
    scope: Scope,
    invoices: Sequence[tuple[Invoice, Sequence[_Rated], rating.BillingPeriod, TaxClass]],
) -> None:
    """Every line of the invoices written together, in one statement of the session's transaction: a
    month-end run writes thousands of lines."""
    rows = []
    for invoice, rated, period, client_class in invoices:
        position, invoice_id = 0, invoice.id
        for r in rated:
            contract_id, contract_code = r.contract.id, r.contract.code
            for line in r.result.lines:
                position += 1
                rows.append(
                    _LineRow(
                        new_id(),
                        invoice_id,
                        position,
                        contract_id,
                        contract_code,
                        line.kind,
                        line.code,
                        line.description,
                        line.quantity,
                        line.unit_price,
                        line.amount,
                        line.first_day or period.first_day,
                        line.last_day or period.last_day,
                        line.tier,
                        rating.line_tax_class(line.tax_class, client_class),
                    )
                )
    if not rows:
        return
    connection = (await (await session.connection()).get_raw_connection()).driver_connection
    assert connection is not None
    await connection.execute(INSERT_LINES, scope.tenant_id, msgspec.json.encode(rows).decode())


class Computed:
    """A client's invoice for a period as computed now: its contracts rated, and its taxes per rate."""

    def __init__(
        self,
        client: Client,
        period: rating.BillingPeriod,
        rated: list[_Rated],
        taxes: tuple[rating.TaxSubtotal, ...],
        standard_rate: Decimal,
    ) -> None:
        self.client = client
        self.period = period
        self.rated = rated
        self.taxes = taxes
        self.standard_rate = standard_rate

    @property
    def billable(self) -> bool:
        return any(r.billable for r in self.rated)

    @property
    def client_class(self) -> TaxClass:
        return TaxClass(self.client.tax_class)


async def compute_client(
    session: AsyncSession,
    scope: Scope,
    client: Client,
    period: rating.BillingPeriod,
    inputs: RunInputs | None = None,
) -> Computed:
    """Rate every contract of the client running in ``period`` and tax the lines per rate (nothing is
    written), from a run's ``inputs`` or, without them, from the client's own read now."""
    if inputs is None:
        inputs = await run_inputs.gather(session, scope, [(client, period)])
    rated = [_rate_contract(contract, inputs, period) for contract in inputs.of(client, period).contracts]
    tax = inputs.tax
    currencies = sorted({r.result.currency for r in rated})
    if rated and currencies != [client.currency]:
        raise Conflict(
            f"Client {client.code} is billed in {client.currency} but its contracts are rated in "
            f"{', '.join(currencies)}; one invoice holds one currency.",
            slug="mixed-currencies",
        )
    client_class = TaxClass(client.tax_class)
    taxes = rating.taxes_by_rate(
        (
            (rating.line_tax_class(line.tax_class, client_class), line.amount)
            for r in rated
            for line in r.result.lines
        ),
        rating.tax_rates(tax.rate),
        tax.rounding,
    )
    return Computed(client, period, rated, taxes, tax.rate)


class _Draft:
    """What a client's draft becomes: computed, and not yet written."""

    def __init__(self, computed: Computed, existing: Invoice | None) -> None:
        self.computed = computed
        self.existing = existing


def _write_draft(
    session: AsyncSession,
    scope: Scope,
    draft: _Draft,
    label: date,
    run_id: uuid.UUID | None,
    registration_number: str | None,
) -> tuple[Outcome, Invoice | None]:
    """Stage the draft in the session (flushed by the caller): its invoice, filled in, or its removal; the
    lines of an existing draft are deleted by the caller, the new ones added with ``_add_lines``."""
    computed, existing = draft.computed, draft.existing
    client, period = computed.client, computed.period
    if not computed.billable:
        if existing is None:
            return Outcome.NOTHING, None
        audit.record(session, scope, "invoice.draft_removed", "invoice", existing.id, period=str(label))
        return Outcome.REMOVED, None
    if existing is None:
        invoice = Invoice(
            tenant_id=scope.tenant_id,
            id=new_id(),
            client_id=client.id,
            kind=schemas.InvoiceKind.INVOICE.value,
            status=schemas.InvoiceStatus.DRAFT.value,
            period=label,
        )
        session.add(invoice)
        outcome = Outcome.CREATED
    else:
        invoice, outcome = existing, Outcome.REPLACED
    invoice.period_start, invoice.period_end = period.first_day, period.last_day
    invoice.currency = client.currency
    invoice.subtotal, invoice.tax, invoice.total = rating.totals_of(computed.taxes)
    invoice.taxes = [t.to_stored() for t in computed.taxes]
    invoice.tax_rate = computed.standard_rate
    invoice.issued_on = period.last_day
    invoice.due_on = due_date(period, client)
    invoice.registration_number = registration_number
    invoice.client_name = client.name
    invoice.client_legal_name = client.legal_name
    invoice.payment_terms = clients.payment_terms(client)
    invoice.run_id = run_id
    audit.record(session, scope, f"invoice.draft_{outcome.value}", "invoice", invoice.id, period=str(label))
    return outcome, invoice


async def _write_drafts(
    session: AsyncSession,
    scope: Scope,
    drafts: Sequence[_Draft],
    label: date,
    run_id: uuid.UUID | None,
    registration_number: str | None,
) -> list[Outcome]:
    """Every draft written together: old lines deleted in one statement, the invoices in one flush, the
    new lines in one insert."""
    replaced = [d.existing.id for d in drafts if d.existing is not None]
    if replaced:
        await session.execute(
            delete(InvoiceLine).where(
                InvoiceLine.tenant_id == scope.tenant_id, InvoiceLine.invoice_id.in_(replaced)
            )
        )
    written = [_write_draft(session, scope, d, label, run_id, registration_number) for d in drafts]
    for draft, (outcome, _) in zip(drafts, written, strict=True):
        if outcome is Outcome.REMOVED and draft.existing is not None:
            await session.delete(draft.existing)
    await session.flush()
    await _add_lines(
        session,
        scope,
        [
            (invoice, d.computed.rated, d.computed.period, d.computed.client_class)
            for d, (_, invoice) in zip(drafts, written, strict=True)
            if invoice is not None
        ],
    )
    return [outcome for outcome, _ in written]


async def bill_client(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    month: rating.BillingPeriod,
    run_id: uuid.UUID | None = None,
    inputs: RunInputs | None = None,
) -> Outcome:
    """Write (or rewrite, or remove) the client's draft invoice for its period named after ``month``
    (from the run's ``inputs`` when it read them)."""
    client = await clients.get_client_row(session, scope, client_id)
    label = month.first_day
    existing = (await _live_invoices(session, scope, [client.id], label)).get(client.id)
    if existing is not None and existing.status != schemas.InvoiceStatus.DRAFT.value:
        return Outcome.SKIPPED_FINALIZED
    period = client_period(client, label)
    settings = await tenancy.tenant_settings(session, scope)
    computed = await compute_client(session, scope, client, period, inputs)
    [outcome] = await _write_drafts(
        session, scope, [_Draft(computed, existing)], label, run_id, settings.invoice_registration_number
    )
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


async def _clients_of(
    session: AsyncSession, scope: Scope, client_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Client]:
    rows = await session.scalars(
        select(Client).where(Client.tenant_id == scope.tenant_id, Client.id.in_(client_ids))
    )
    return {client.id: client for client in rows}


async def _gather_run(
    session: AsyncSession, scope: Scope, billed: Sequence[Client], month: rating.BillingPeriod
) -> RunInputs:
    """The inputs of every client of the run; a client whose period cannot be cut is left out (billing it
    fails on that, alone)."""
    wanted = []
    for client in billed:
        try:
            wanted.append((client, client_period(client, month.first_day)))
        except (ValueError, OverflowError):
            continue
    return await run_inputs.gather(session, scope, wanted)


async def _bill_together(
    session: AsyncSession,
    scope: Scope,
    billed: Sequence[Client],
    month: rating.BillingPeriod,
    run_id: uuid.UUID,
    inputs: RunInputs,
    failures: Failures,
) -> dict[uuid.UUID, Outcome] | None:
    """Every client of the run at once: each client's invoice computed (one that cannot be is left out
    with its error, as it would fail alone), then all the drafts written together in one savepoint. None
    when that writing failed (it wrote nothing): the caller then bills client by client, each in its own
    savepoint, so the one client whose draft cannot be written fails alone."""
    label = month.first_day
    existing = await _live_invoices(session, scope, [client.id for client in billed], label)
    settings = await tenancy.tenant_settings(session, scope)
    outcomes: dict[uuid.UUID, Outcome] = {}
    drafts: list[tuple[uuid.UUID, _Draft]] = []
    failed: list[ItemFailure] = []
    for client in billed:
        current = existing.get(client.id)
        if current is not None and current.status != schemas.InvoiceStatus.DRAFT.value:
            outcomes[client.id] = Outcome.SKIPPED_FINALIZED
            continue
        try:
            period = client_period(client, label)
            drafts.append(
                (client.id, _Draft(await compute_client(session, scope, client, period, inputs), current))
            )
        except Exception as error:
            if is_transient(error):
                raise
            failed.append(ItemFailure(CLIENT, client.id, describe(error)))
    try:
        async with session.begin_nested():
            written = await _write_drafts(
                session,
                scope,
                [draft for _, draft in drafts],
                label,
                run_id,
                settings.invoice_registration_number,
            )
    except Exception as error:
        if is_transient(error):
            raise
        log.warning("invoice_drafts_one_by_one", error=describe(error))
        return None
    outcomes.update(zip((client_id for client_id, _ in drafts), written, strict=True))
    failures.failed.extend(failed)
    failures.done.update((CLIENT, client_id) for client_id in outcomes)
    return outcomes


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
    client_ids = await billable_client_ids(session, scope, period, run.closed_on)
    billed = await _clients_of(session, scope, client_ids)
    inputs = await _gather_run(session, scope, list(billed.values()), period)
    failed_before = len(failures.failed)
    together = await _bill_together(
        session, scope, [billed[c] for c in client_ids], period, run_id, inputs, failures
    )
    for client_id in client_ids:
        if together is None:
            async with failures.isolated(session, CLIENT, client_id):
                tally(result, await bill_client(session, scope, client_id, period, run_id, inputs))
        elif client_id in together:
            tally(result, together[client_id])
    errors = [_client_error(billed[f.object_id].code, f.error) for f in failures.failed[failed_before:]]
    await finish_run(session, scope, run_id, result, errors)
    return result


# --- the scheduled month-end run ---------------------------------------------------------------------


def closing_due(local_now: datetime) -> date | None:
    """The closing date whose clients are billed now: yesterday, from MONTH_END_HOUR on (tenant's zone)."""
    if local_now.hour < MONTH_END_HOUR:
        return None
    return local_now.date() - timedelta(days=1)


def month_end_run_id(tenant_id: uuid.UUID, closed_on: date) -> uuid.UUID:
    return uuid.uuid5(MONTH_END_NAMESPACE, f"{tenant_id}:{closed_on.isoformat()}")


async def run_month_end(
    session: AsyncSession, scope: Scope, now: datetime, failures: Failures | None = None
) -> schemas.RunResult | None:
    """The run of the clients whose period closed yesterday in the tenant's zone, when it is due and has
    not been done yet; None when nothing is due. The scheduler triggers it every hour; the run's id is
    derived from the tenant and closing date and inserted first, so every trigger after the first finds
    it and does nothing."""
    closed_on = closing_due(now.astimezone(ZoneInfo(await tenancy.tenant_time_zone(session, scope))))
    if closed_on is None:
        return None
    month = rating.BillingPeriod.month(closed_on.year, closed_on.month)
    if not await billable_client_ids(session, scope, month, closed_on):
        return None
    run_id = await session.scalar(
        insert(InvoiceRun)
        .values(
            tenant_id=scope.tenant_id,
            id=month_end_run_id(scope.tenant_id, closed_on),
            period=month.first_day,
            closed_on=closed_on,
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
        period=str(month.first_day),
        closed_on=str(closed_on),
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
    does. Its inputs are read once, in the first transaction."""
    async with runtime.db.tenant(scope.tenant_id) as session:
        period = runnable_period(period_text, await tenancy.tenant_today(session, scope))
        run_id = (await start_run(session, scope, period, enqueue=False)).id
        client_ids = await billable_client_ids(session, scope, period)
        billed = await _clients_of(session, scope, client_ids)
        codes = {client_id: client.code for client_id, client in billed.items()}
        inputs = await _gather_run(session, scope, list(billed.values()), period)
    on_total(len(client_ids))
    result = schemas.RunResult()
    errors: list[str] = []
    for client_id in client_ids:
        try:
            async with runtime.db.tenant(scope.tenant_id) as session:
                tally(result, await bill_client(session, scope, client_id, period, run_id, inputs))
        except Exception as error:
            if is_transient(error):
                raise
            errors.append(_client_error(codes[client_id], describe(error)))
        on_client()
    async with runtime.db.tenant(scope.tenant_id) as session:
        await finish_run(session, scope, run_id, result, errors)
    return result
