"""見込み: a client's open billing period rated so far, for its viewers and its account managers.

The estimate is the invoice the month-end run would write if the period closed now (``invoice_runs.
compute_client``): usage, surcharges and SLA credits through today, monthly fees and the minimum as the
period will bill them, taxed per rate. It is computed on every request, never stored, never numbered, and
says so (``estimate: true``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import invoice_runs as runs
from bpo.billing import rating, schemas, service
from bpo.clients import service as clients
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy


def _plain(value: Decimal) -> Decimal:
    return Decimal(f"{value.normalize():f}")


def _lines(computed: runs.Computed) -> list[schemas.EstimateLine]:
    currency = computed.client.currency
    rates = rating.tax_rates(computed.standard_rate)
    lines: list[schemas.EstimateLine] = []
    for r in computed.rated:
        for line in r.result.lines:
            tax_class = rating.line_tax_class(line.tax_class, computed.client_class)
            lines.append(
                schemas.EstimateLine(
                    position=len(lines) + 1,
                    contract_id=r.contract.id,
                    contract_code=r.contract.code,
                    kind=line.kind.value,
                    code=line.code,
                    description=line.description,
                    quantity=_plain(line.quantity),
                    unit_price=_plain(line.unit_price),
                    amount=schemas.InvoiceAmount(amount=line.amount, currency=currency),
                    period_start=line.first_day or computed.period.first_day,
                    period_end=line.last_day or computed.period.last_day,
                    tier=line.tier,
                    tax_class=tax_class,
                    tax_rate=_plain(rates[tax_class]),
                )
            )
    return lines


async def estimate(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, now: datetime
) -> schemas.InvoiceEstimate:
    """The client's period open today (the tenant's), rated so far; another client's is a 404."""
    client = await clients.get_client_row(session, scope, client_id)
    today = await tenancy.tenant_today(session, scope)
    label = clients.closing_days(client).period_containing(today).label
    period = runs.client_period(client, label)
    computed = await runs.compute_client(session, scope, client, period)
    totals = rating.totals_of(computed.taxes)
    currency = client.currency
    return schemas.InvoiceEstimate(
        client_id=client.id,
        client_name=client.name,
        period=label,
        period_start=period.first_day,
        period_end=period.last_day,
        through=min(today, period.last_day),
        as_of=now,
        currency=currency,
        subtotal=schemas.InvoiceAmount(amount=totals.subtotal, currency=currency),
        tax=schemas.InvoiceAmount(amount=totals.tax, currency=currency),
        total=schemas.InvoiceAmount(amount=totals.total, currency=currency),
        taxes=service.taxes_view(computed.taxes, currency),
        lines=_lines(computed),
    )
