"""Invoices: reading them, their life cycle (draft → finalized → paid | void | uncollectible) and
credit notes.

Numbering. A per-tenant, per-series, per-year counter row (``invoice_counters``) is incremented by an
upsert inside the finalizing transaction: the row stays locked until that transaction ends, so
finalizations of one tenant are serialised, and a rolled-back finalization gives its number back, so the
sequence has no gaps (a database sequence would keep them). Invoices are ``INV-2026-000123``, credit notes
their own series ``CN-2026-000001``: each series is gap-free on its own, as auditors read them. The year
is that of the document's issue date (an invoice's closing date, a credit note's creation date).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import account, events, rating, schemas
from bpo.billing import invoice_runs as runs
from bpo.billing.models import Invoice, InvoiceCounter, InvoiceLine, StripeInvoice
from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.schemas import TaxClass
from bpo.core import audit
from bpo.core.errors import Conflict, Invalid, NotFound, field_error
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy

Status = schemas.InvoiceStatus

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.FINALIZED}),
    Status.FINALIZED: frozenset({Status.PAID, Status.VOID, Status.UNCOLLECTIBLE}),
    Status.UNCOLLECTIBLE: frozenset({Status.PAID}),
    Status.PAID: frozenset(),
    Status.VOID: frozenset(),
}
SERIES = {schemas.InvoiceKind.INVOICE: "INV", schemas.InvoiceKind.CREDIT_NOTE: "CN"}
CREDIT_LINE_KIND = "credit"
# Credit notes can be raised against these; a draft is edited by re-running, a void one is gone.
CREDITABLE = frozenset({Status.FINALIZED, Status.PAID, Status.UNCOLLECTIBLE})


def _plain(value: Decimal) -> Decimal:
    # Without trailing zeros and never in exponent form: 100.000000 → "100", not "1E+2".
    return Decimal(f"{value.normalize():f}")


def _money(amount: int, currency: str) -> schemas.InvoiceAmount:
    return schemas.InvoiceAmount(amount=amount, currency=currency)


def stored_taxes(rows: list[dict[str, Any]]) -> list[rating.TaxSubtotal]:
    return [rating.TaxSubtotal.from_stored(row) for row in rows]


def taxes_view(taxes: Sequence[rating.TaxSubtotal], currency: str) -> list[schemas.InvoiceTaxSubtotal]:
    return [
        schemas.InvoiceTaxSubtotal(
            tax_class=t.tax_class,
            rate=_plain(t.rate),
            taxable=_money(t.taxable, currency),
            tax=_money(t.tax, currency),
        )
        for t in taxes
    ]


def class_rates(invoice: Invoice) -> dict[TaxClass, Decimal]:
    """The rate of each tax class on the invoice: as issued, the standard one besides."""
    rates = rating.tax_rates(invoice.tax_rate)
    rates.update({t.tax_class: t.rate for t in stored_taxes(invoice.taxes)})
    return rates


def line_view(line: InvoiceLine, currency: str, rates: dict[TaxClass, Decimal]) -> schemas.InvoiceLine:
    tax_class = TaxClass(line.tax_class)
    return schemas.InvoiceLine(
        id=line.id,
        tax_class=tax_class,
        tax_rate=_plain(rates[tax_class]),
        position=line.position,
        contract_id=line.contract_id,
        contract_code=line.contract_code,
        kind=line.kind,
        code=line.code,
        description=line.description,
        quantity=_plain(line.quantity),
        unit_price=_plain(line.unit_price),
        amount=_money(line.amount, currency),
        period_start=line.period_start,
        period_end=line.period_end,
        tier=line.tier,
    )


def summary_view(invoice: Invoice) -> schemas.InvoiceSummary:
    return schemas.InvoiceSummary(
        id=invoice.id,
        client_id=invoice.client_id,
        client_name=invoice.client_name,
        kind=schemas.InvoiceKind(invoice.kind),
        status=Status(invoice.status),
        number=invoice.number,
        period=invoice.period,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        subtotal=_money(invoice.subtotal, invoice.currency),
        tax=_money(invoice.tax, invoice.currency),
        total=_money(invoice.total, invoice.currency),
        tax_rate=_plain(invoice.tax_rate),
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        corrects_invoice_id=invoice.corrects_invoice_id,
        created_at=invoice.created_at,
        finalized_at=invoice.finalized_at,
    )


async def invoice_lines(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    rows = await session.scalars(
        select(InvoiceLine)
        .where(InvoiceLine.tenant_id == scope.tenant_id, InvoiceLine.invoice_id == invoice_id)
        .order_by(InvoiceLine.position)
    )
    return list(rows.all())


async def hosted_invoice_url(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> str | None:
    """Stripe's page where the client pays the invoice, once it has been pushed there."""
    return await session.scalar(
        select(StripeInvoice.hosted_invoice_url).where(
            StripeInvoice.tenant_id == scope.tenant_id, StripeInvoice.invoice_id == invoice_id
        )
    )


async def invoice_view(session: AsyncSession, scope: Scope, invoice: Invoice) -> schemas.Invoice:
    lines = await invoice_lines(session, scope, invoice.id)
    # An issued document keeps the issuer it was issued with; a draft shows the current one.
    issuer = (
        account.issuer_from(invoice.issuer)
        if invoice.issuer is not None
        else await account.current_issuer(session, scope)
    )
    return schemas.Invoice(
        **msgspec.structs.asdict(summary_view(invoice)),
        registration_number=invoice.registration_number,
        client_legal_name=invoice.client_legal_name,
        payment_terms=invoice.payment_terms,
        issuer=issuer,
        hosted_invoice_url=await hosted_invoice_url(session, scope, invoice.id),
        taxes=taxes_view(stored_taxes(invoice.taxes), invoice.currency),
        lines=[line_view(line, invoice.currency, class_rates(invoice)) for line in lines],
    )


def visible_invoices(scope: Scope) -> Select[Invoice]:
    """Operators see every invoice of the tenant; a client viewer only its client's issued ones."""
    statement = select(Invoice).where(Invoice.tenant_id == scope.tenant_id)
    restriction = clients.client_restriction(scope)
    if restriction is not None:
        statement = statement.where(Invoice.client_id == restriction, Invoice.status != Status.DRAFT.value)
    return statement


async def get_invoice_row(
    session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, *, for_update: bool = False
) -> Invoice:
    statement = visible_invoices(scope).where(Invoice.id == invoice_id)
    invoice = await session.scalar(statement.with_for_update() if for_update else statement)
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found.")
    return invoice


async def get_invoice(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> schemas.Invoice:
    return await invoice_view(session, scope, await get_invoice_row(session, scope, invoice_id))


async def list_invoices(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    period: str | None = None,
    client_id: uuid.UUID | None = None,
    status: Status | None = None,
) -> schemas.InvoicePage:
    statement = visible_invoices(scope)
    if period is not None:
        statement = statement.where(Invoice.period == runs.parse_period(period).first_day)
    if client_id is not None:
        statement = statement.where(Invoice.client_id == client_id)
    if status is not None:
        statement = statement.where(Invoice.status == status.value)
    rows, next_cursor = await paginate(session, statement, Invoice.id, limit=limit, cursor=cursor)
    return schemas.InvoicePage(items=[summary_view(i) for i in rows], next_cursor=next_cursor)


# --- life cycle --------------------------------------------------------------------------------------


async def next_number(session: AsyncSession, scope: Scope, kind: schemas.InvoiceKind, year: int) -> str:
    series = SERIES[kind]
    number = await session.scalar(
        insert(InvoiceCounter)
        .values(tenant_id=scope.tenant_id, series=series, year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=[InvoiceCounter.tenant_id, InvoiceCounter.series, InvoiceCounter.year],
            set_={"last_number": InvoiceCounter.last_number + 1},
        )
        .returning(InvoiceCounter.last_number)
    )
    assert number is not None
    return f"{series}-{year}-{number:06d}"


def _check_transition(invoice: Invoice, target: Status) -> None:
    current = Status(invoice.status)
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"Invoice {invoice.number or invoice.id} is {current.value} and cannot become {target.value}.",
            slug="invalid-invoice-transition",
        )


def _set_status(session: AsyncSession, scope: Scope, invoice: Invoice, target: Status, now: datetime) -> None:
    invoice.status = target.value
    invoice.status_changed_at = now
    audit.record(session, scope, f"invoice.{target.value}", "invoice", invoice.id, number=invoice.number)


async def _transition(
    session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, target: Status
) -> schemas.Invoice:
    invoice = await get_invoice_row(session, scope, invoice_id, for_update=True)
    _check_transition(invoice, target)
    now = datetime.now(UTC)
    if target is Status.FINALIZED:
        settings = await tenancy.tenant_settings(session, scope)
        invoice.registration_number = settings.invoice_registration_number
        invoice.issuer = await account.issuer_snapshot(session, scope)
        invoice.number = await next_number(
            session, scope, schemas.InvoiceKind(invoice.kind), invoice.issued_on.year
        )
        invoice.finalized_at = now
        # Written in this transaction: the invoice reaches Stripe, and its client's mailbox, if and only
        # if it is issued. A pushed invoice is mailed once the push is done, with Stripe's payment link.
        pushed = invoice.kind == schemas.InvoiceKind.INVOICE.value and await account.schedule_push(
            session, scope, invoice.id
        )
        if not pushed:
            account.schedule_mail(session, scope, invoice.id)
    _set_status(session, scope, invoice, target, now)
    await session.flush()
    await events.announce(session, scope, invoice)
    return await invoice_view(session, scope, invoice)


async def transition_row(session: AsyncSession, scope: Scope, invoice: Invoice, target: Status) -> bool:
    """Move a locked invoice row to ``target`` if its life cycle allows it (a Stripe event reporting what
    already happened there); False, changing nothing, when it does not."""
    if target not in TRANSITIONS[Status(invoice.status)]:
        return False
    _set_status(session, scope, invoice, target, datetime.now(UTC))
    await session.flush()
    await events.announce(session, scope, invoice)
    return True


async def finalize(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> schemas.Invoice:
    return await _transition(session, scope, invoice_id, Status.FINALIZED)


async def void(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> schemas.Invoice:
    return await _transition(session, scope, invoice_id, Status.VOID)


async def mark_uncollectible(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> schemas.Invoice:
    return await _transition(session, scope, invoice_id, Status.UNCOLLECTIBLE)


# --- credit notes ------------------------------------------------------------------------------------


async def _credited_so_far(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Invoice.total), 0)).where(
            Invoice.tenant_id == scope.tenant_id,
            Invoice.corrects_invoice_id == invoice_id,
            Invoice.kind == schemas.InvoiceKind.CREDIT_NOTE.value,
            Invoice.status != Status.VOID.value,
        )
    )
    return -int(total or 0)


class _CreditLine(NamedTuple):
    contract_id: uuid.UUID | None
    contract_code: str
    kind: str
    code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: int
    tier: int | None
    tax_class: TaxClass


async def _reversal_lines(session: AsyncSession, scope: Scope, original: Invoice) -> list[_CreditLine]:
    return [
        _CreditLine(
            line.contract_id,
            line.contract_code,
            line.kind,
            line.code,
            f"Reversal: {line.description}",
            -line.quantity,
            line.unit_price,
            -line.amount,
            line.tier,
            TaxClass(line.tax_class),
        )
        for line in await invoice_lines(session, scope, original.id)
    ]


async def _credited_lines(
    session: AsyncSession, scope: Scope, original: Invoice, credits: Sequence[schemas.CreditLine]
) -> list[_CreditLine]:
    classes = [t.tax_class for t in stored_taxes(original.taxes)]
    lines = []
    for index, credit in enumerate(credits):
        tax_class = credit.tax_class
        if tax_class is None and len(classes) == 1:
            tax_class = classes[0]
        if tax_class is None or tax_class not in classes:
            listed = ", ".join(c.value for c in classes)
            raise Invalid(
                f"Say which of the invoice's tax classes ({listed}) the credit is for.",
                errors=[
                    field_error(f"lines[{index}].tax_class", f"one of the invoice's tax classes: {listed}")
                ],
            )
        code = ""
        if credit.contract_id is not None:
            contract = await contracts.get_contract_row(session, scope, credit.contract_id)
            if contract.client_id != original.client_id:
                raise Invalid(
                    "The contract is not one of the invoice's client.",
                    errors=[field_error(f"lines[{index}].contract_id", "not this client's contract")],
                )
            code = contract.code
        lines.append(
            _CreditLine(
                credit.contract_id,
                code,
                CREDIT_LINE_KIND,
                credit.code,
                credit.description,
                Decimal(1),
                Decimal(-credit.amount),
                -credit.amount,
                None,
                tax_class,
            )
        )
    return lines


async def _add_credit_note(
    session: AsyncSession,
    scope: Scope,
    original: Invoice,
    lines: Sequence[_CreditLine],
    taxes: Sequence[rating.TaxSubtotal],
    today: date,
) -> Invoice:
    subtotal, tax, _ = rating.totals_of(taxes)
    note = Invoice(
        tenant_id=scope.tenant_id,
        id=new_id(),
        client_id=original.client_id,
        kind=schemas.InvoiceKind.CREDIT_NOTE.value,
        status=Status.DRAFT.value,
        period=original.period,
        period_start=original.period_start,
        period_end=original.period_end,
        currency=original.currency,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        tax_rate=original.tax_rate,
        taxes=[t.to_stored() for t in taxes],
        issued_on=today,
        due_on=today,
        registration_number=original.registration_number,
        client_name=original.client_name,
        client_legal_name=original.client_legal_name,
        payment_terms=original.payment_terms,
        corrects_invoice_id=original.id,
    )
    session.add(note)
    await session.flush()
    for position, line in enumerate(lines, start=1):
        session.add(
            InvoiceLine(
                tenant_id=scope.tenant_id,
                id=new_id(),
                invoice_id=note.id,
                position=position,
                contract_id=line.contract_id,
                contract_code=line.contract_code,
                kind=line.kind,
                code=line.code,
                description=line.description[:500],
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                period_start=original.period_start,
                period_end=original.period_end,
                tier=line.tier,
                tax_class=line.tax_class.value,
            )
        )
    await session.flush()
    return note


async def create_credit_note(
    session: AsyncSession, scope: Scope, invoice_id: uuid.UUID, data: schemas.CreditNoteCreate, today: date
) -> schemas.Invoice:
    """A numbered, immediately finalized document crediting ``invoice_id`` (negative amounts)."""
    if data.full_reversal == bool(data.lines):
        raise Invalid(
            "Give either lines to credit or full_reversal: true.",
            errors=[field_error("lines", "give lines or full_reversal, not both or neither")],
        )
    original = await get_invoice_row(session, scope, invoice_id, for_update=True)
    if original.kind != schemas.InvoiceKind.INVOICE.value or Status(original.status) not in CREDITABLE:
        raise Conflict(
            f"Only a finalized invoice can be credited; this one is a {original.status} {original.kind}.",
            slug="invalid-invoice-transition",
        )
    if data.full_reversal:
        lines = await _reversal_lines(session, scope, original)
        taxes = [
            rating.TaxSubtotal(t.tax_class, t.rate, -t.taxable, -t.tax) for t in stored_taxes(original.taxes)
        ]
    else:
        lines = await _credited_lines(session, scope, original, data.lines)
        terms = await account.tax_terms(session, scope)
        taxes = list(
            rating.taxes_by_rate(
                ((line.tax_class, line.amount) for line in lines), class_rates(original), terms.rounding
            )
        )
    if await _credited_so_far(session, scope, original.id) - rating.totals_of(taxes).total > original.total:
        raise Conflict(
            "Credit notes may not credit more than the invoice's total.", slug="credit-exceeds-invoice"
        )
    note = await _add_credit_note(session, scope, original, lines, taxes, today)
    audit.record(session, scope, "credit_note.created", "invoice", note.id, corrects=str(original.id))
    return await _transition(session, scope, note.id, Status.FINALIZED)


# --- CSV ---------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "invoice_number",
    "position",
    "contract_code",
    "kind",
    "code",
    "description",
    "quantity",
    "unit_price",
    "amount",
    "currency",
    "period_start",
    "period_end",
    "tax_class",
    "tax_rate",
)
# After the lines, one row per tax class: the lines' total at that rate (quantity) and its tax (amount).
TAX_ROW_KIND = "consumption_tax"


def invoice_csv(invoice: schemas.Invoice | schemas.InvoiceEstimate) -> str:
    """The lines, then a row per tax class (適格請求書: 税率ごとの対価の額と消費税額)."""
    number = (invoice.number or "") if isinstance(invoice, schemas.Invoice) else ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in invoice.lines:
        writer.writerow(
            [
                number,
                line.position,
                line.contract_code,
                line.kind,
                line.code,
                line.description,
                f"{line.quantity:f}",
                f"{line.unit_price:f}",
                line.amount.amount,
                line.amount.currency,
                line.period_start.isoformat(),
                line.period_end.isoformat(),
                line.tax_class.value,
                f"{line.tax_rate:f}",
            ]
        )
    for tax in invoice.taxes:
        percent = f"{(tax.rate * 100).normalize():f}%"
        writer.writerow(
            [
                number,
                "",
                "",
                TAX_ROW_KIND,
                f"tax-{tax.tax_class.value}",
                f"Consumption tax {percent} on {tax.taxable.amount} ({tax.tax_class.value})",
                tax.taxable.amount,
                f"{tax.rate:f}",
                tax.tax.amount,
                tax.tax.currency,
                invoice.period_start.isoformat(),
                invoice.period_end.isoformat(),
                tax.tax_class.value,
                f"{tax.rate:f}",
            ]
        )
    return buffer.getvalue()
