"""Shared steps of the Stripe tests: connect a tenant to a fake account, issue an invoice, push it as the
``billing.push_invoice`` job does, deliver events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from bpo.billing import stripe_sync
from bpo.billing.models import Payment, StripeEvent, StripeInvoice
from bpo.core.jobs.models import OutboxMessage
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.settings import Settings
from tests.support.billing import billing_setup, invoices, run_october
from tests.support.factories import TenantHandle, post_ok
from tests.support.fake_stripe import FakeStripe

WEBHOOKS = "/v1/stripe/webhooks"


async def connect_stripe(client: httpx.AsyncClient, tenant: TenantHandle, fake: FakeStripe) -> str:
    account_id = fake.connect_account()
    body = {"stripe_account_id": account_id, "tax_rate": "0.10", "tax_rounding": "floor"}
    response = await client.put("/v1/billing/settings", json=body, headers=tenant.admin)
    assert response.status_code == 200, response.text
    return account_id


async def issued_invoice(client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle) -> dict[str, Any]:
    """October's invoice of a new client (two contracts, an SLA credit), finalized through the API."""
    setup = await billing_setup(client, runtime, tenant)
    await run_october(runtime, tenant)
    [draft] = await invoices(client, tenant.admin, client_id=setup["client"]["id"], status="draft")
    return await post_ok(client, f"/v1/invoices/{draft['id']}/finalize", {}, tenant.admin)


async def push(
    runtime: Runtime,
    settings: Settings,
    tenant: TenantHandle,
    invoice_id: str,
    *,
    request_timeout: float = 10.0,
    network_retries: int = 2,
) -> StripeInvoice | None:
    """What the job does, in a transaction of its own: committed if the push returns, rolled back if not."""
    connection = stripe_sync.connect(
        settings, request_timeout=request_timeout, network_retries=network_retries
    )
    async with connection as stripe_client, runtime.db.tenant(tenant.id) as session:
        return await stripe_sync.push_invoice(
            session, system_scope(tenant.id), uuid.UUID(invoice_id), stripe_client
        )


async def queued(runtime: Runtime, tenant: TenantHandle, actor: str) -> list[dict[str, Any]]:
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.tenant_id == tenant.id, OutboxMessage.actor == actor)
        )
        return [row.kwargs for row in rows.all()]


async def payments(runtime: Runtime, tenant: TenantHandle, invoice_id: str) -> list[Payment]:
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.scalars(
            select(Payment)
            .where(Payment.tenant_id == tenant.id, Payment.invoice_id == uuid.UUID(invoice_id))
            .order_by(Payment.created_at)
        )
        return list(rows.all())


async def events(runtime: Runtime, tenant: TenantHandle) -> list[StripeEvent]:
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.scalars(select(StripeEvent).where(StripeEvent.tenant_id == tenant.id))
        return list(rows.all())


async def status_of(client: httpx.AsyncClient, tenant: TenantHandle, invoice_id: str) -> str:
    response = await client.get(f"/v1/invoices/{invoice_id}", headers=tenant.admin)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status
