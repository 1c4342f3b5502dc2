"""POST /v1/stripe/webhooks: signed by the endpoint secret, applied once, in order, to the tenant the
connected account belongs to and to nobody else."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.support.factories import TenantHandle, create_tenant
from tests.support.fake_stripe import FakeStripe
from tests.support.problems import assert_problem
from tests.support.stripe import (
    WEBHOOKS,
    connect_stripe,
    events,
    issued_invoice,
    payments,
    push,
    status_of,
)


class Pushed:
    def __init__(self, tenant: TenantHandle, account: str, invoice: dict[str, Any], stripe_id: str) -> None:
        self.tenant = tenant
        self.account = account
        self.invoice = invoice
        self.stripe_id = stripe_id

    @property
    def id(self) -> str:
        invoice_id: str = self.invoice["id"]
        return invoice_id


async def pushed_invoice(
    client: httpx.AsyncClient, runtime: Runtime, fake: FakeStripe, settings: Settings
) -> Pushed:
    tenant = await create_tenant(client)
    account = await connect_stripe(client, tenant, fake)
    invoice = await issued_invoice(client, runtime, tenant)
    link = await push(runtime, settings, tenant, invoice["id"])
    assert link is not None
    return Pushed(tenant, account, invoice, link.stripe_invoice_id)


async def deliver(
    api: httpx.AsyncClient, fake: FakeStripe, event: dict[str, Any], **signing: Any
) -> httpx.Response:
    return await fake.send(api, WEBHOOKS, event, **signing)


async def received(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    outcome: str = response.json()["outcome"]
    return outcome


class TestSignature:
    async def test_bad_missing_or_stale_signatures_are_refused_and_change_nothing(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        invoice = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        paid = fake_stripe.event(
            "invoice.paid", fake_stripe.pay(invoice.account, invoice.stripe_id), invoice.account
        )

        wrong_secret = await deliver(stripe_api, fake_stripe, paid, secret="whsec_someone_else")
        assert_problem(wrong_secret, 400, "invalid-stripe-signature")
        stale = await deliver(stripe_api, fake_stripe, paid, timestamp=int(time.time()) - 301)
        assert "tolerance" in assert_problem(stale, 400, "invalid-stripe-signature")["detail"]
        payload = json.dumps(paid).encode()
        unsigned = await stripe_api.post(
            WEBHOOKS, content=payload, headers={"Content-Type": "application/json"}
        )
        assert_problem(unsigned, 400, "invalid-stripe-signature")
        # A valid signature over another body: the body was changed on the way.
        tampered = await stripe_api.post(
            WEBHOOKS,
            content=payload.replace(b'"invoice.paid"', b'"invoice.voided"'),
            headers={"Stripe-Signature": fake_stripe.sign(payload)},
        )
        assert_problem(tampered, 400, "invalid-stripe-signature")
        not_json = b"not an event"
        garbage = await stripe_api.post(
            WEBHOOKS, content=not_json, headers={"Stripe-Signature": fake_stripe.sign(not_json)}
        )
        assert_problem(garbage, 400, "invalid-stripe-event")

        assert await status_of(client, invoice.tenant, invoice.id) == "finalized"
        assert await events(runtime, invoice.tenant) == []
        assert await payments(runtime, invoice.tenant, invoice.id) == []
        # Just under five minutes old is still fine.
        fresh = await deliver(stripe_api, fake_stripe, paid, timestamp=int(time.time()) - 290)
        assert await received(fresh) == "applied"

    async def test_unconfigured_endpoint_is_unavailable(
        self, client: httpx.AsyncClient, fake_stripe: FakeStripe
    ) -> None:
        event = fake_stripe.event("invoice.paid", {"object": "invoice", "id": "in_x"}, "acct_x")
        assert_problem(await fake_stripe.send(client, WEBHOOKS, event), 503)


class TestEvents:
    async def test_paid_delivered_twice_is_paid_once(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        invoice = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        paid = fake_stripe.event(
            "invoice.paid", fake_stripe.pay(invoice.account, invoice.stripe_id), invoice.account
        )
        assert await received(await deliver(stripe_api, fake_stripe, paid)) == "applied"
        assert await received(await deliver(stripe_api, fake_stripe, paid)) == "duplicate"

        assert await status_of(client, invoice.tenant, invoice.id) == "paid"
        [payment] = await payments(runtime, invoice.tenant, invoice.id)
        assert (payment.status, payment.amount, payment.currency) == (
            "succeeded",
            invoice.invoice["total"]["amount"],
            "JPY",
        )
        assert payment.stripe_event_id == paid["id"]
        assert [(e.event_id, e.outcome) for e in await events(runtime, invoice.tenant)] == [
            (paid["id"], "applied")
        ]

    async def test_an_older_failure_after_payment_leaves_it_paid(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        invoice = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        now = int(time.time())
        failed_snapshot = fake_stripe.fail_payment(invoice.account, invoice.stripe_id)
        failed = fake_stripe.event(
            "invoice.payment_failed", failed_snapshot, invoice.account, created=now - 60
        )
        paid = fake_stripe.event(
            "invoice.paid", fake_stripe.pay(invoice.account, invoice.stripe_id), invoice.account, created=now
        )
        # Stripe delivers the payment first, the earlier failure after it.
        assert await received(await deliver(stripe_api, fake_stripe, paid)) == "applied"
        assert await received(await deliver(stripe_api, fake_stripe, failed)) == "stale"
        # A failure reported later than the payment (same second or after) cannot undo it either.
        late = fake_stripe.event("invoice.payment_failed", failed_snapshot, invoice.account, created=now)
        assert await received(await deliver(stripe_api, fake_stripe, late)) == "superseded"

        assert await status_of(client, invoice.tenant, invoice.id) == "paid"
        assert [p.status for p in await payments(runtime, invoice.tenant, invoice.id)] == ["succeeded"]

    async def test_failure_is_recorded_and_the_invoice_stays_open(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        invoice = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        failed = fake_stripe.event(
            "invoice.payment_failed",
            fake_stripe.fail_payment(invoice.account, invoice.stripe_id),
            invoice.account,
        )
        assert await received(await deliver(stripe_api, fake_stripe, failed)) == "applied"
        assert await status_of(client, invoice.tenant, invoice.id) == "finalized"
        [attempt] = await payments(runtime, invoice.tenant, invoice.id)
        assert (attempt.status, attempt.amount) == ("failed", 0)
        assert attempt.failure_message == "payment attempt 1 failed"

    async def test_uncollectible_then_paid_and_voided(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        first = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        now = int(time.time())
        gave_up = {**fake_stripe.get(first.account, first.stripe_id), "status": "uncollectible"}
        event = fake_stripe.event("invoice.marked_uncollectible", gave_up, first.account, created=now - 5)
        assert await received(await deliver(stripe_api, fake_stripe, event)) == "applied"
        assert await status_of(client, first.tenant, first.id) == "uncollectible"
        paid = fake_stripe.event(
            "invoice.paid", fake_stripe.pay(first.account, first.stripe_id), first.account
        )
        assert await received(await deliver(stripe_api, fake_stripe, paid)) == "applied"
        assert await status_of(client, first.tenant, first.id) == "paid"

        second = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        voided = fake_stripe.event(
            "invoice.voided", fake_stripe.void(second.account, second.stripe_id), second.account
        )
        assert await received(await deliver(stripe_api, fake_stripe, voided)) == "applied"
        assert await status_of(client, second.tenant, second.id) == "void"
        # Paid cannot follow void in our books: recorded, refused, left for the reconciliation to show.
        late_payment = fake_stripe.event(
            "invoice.paid",
            {**fake_stripe.get(second.account, second.stripe_id), "status": "paid"},
            second.account,
        )
        assert await received(await deliver(stripe_api, fake_stripe, late_payment)) == "refused"
        assert await status_of(client, second.tenant, second.id) == "void"
        assert await payments(runtime, second.tenant, second.id) == []

    async def test_unknown_types_accounts_and_invoices_are_acknowledged_and_ignored(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        invoice = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        snapshot = fake_stripe.get(invoice.account, invoice.stripe_id)
        customer = fake_stripe.event(
            "customer.updated", {"object": "customer", "id": "cus_1"}, invoice.account
        )
        assert await received(await deliver(stripe_api, fake_stripe, customer)) == "ignored"
        stranger = fake_stripe.event("invoice.paid", snapshot, fake_stripe.connect_account())
        assert await received(await deliver(stripe_api, fake_stripe, stranger)) == "unknown_account"
        platform = fake_stripe.event("invoice.paid", snapshot, None)
        assert await received(await deliver(stripe_api, fake_stripe, platform)) == "ignored"
        foreign = {**snapshot, "metadata": {"bpo_invoice_id": "not-ours"}}
        unrelated = fake_stripe.event("invoice.paid", foreign, invoice.account)
        assert await received(await deliver(stripe_api, fake_stripe, unrelated)) == "ignored"
        assert await status_of(client, invoice.tenant, invoice.id) == "finalized"

    async def test_an_event_before_the_push_committed_is_retried_later(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        invoice = await issued_invoice(client, runtime, tenant)
        early = {
            "object": "invoice",
            "id": "in_early",
            "status": "paid",
            "metadata": {"bpo_invoice_id": invoice["id"]},
        }
        event = fake_stripe.event("invoice.paid", early, account)
        assert_problem(await deliver(stripe_api, fake_stripe, event), 503, "stripe-not-linked")
        assert await events(runtime, tenant) == []
        assert await status_of(client, tenant, invoice["id"]) == "finalized"


class TestIsolation:
    async def test_tenant_as_account_cannot_touch_tenant_bs_invoice(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        a = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        b = await pushed_invoice(client, runtime, fake_stripe, stripe_settings)
        # Signed by Stripe, from A's account, naming B's invoice (ids and metadata).
        forged = {**fake_stripe.pay(b.account, b.stripe_id), "metadata": {"bpo_invoice_id": b.id}}
        for type_ in ("invoice.paid", "invoice.voided", "invoice.marked_uncollectible"):
            event = fake_stripe.event(type_, forged, a.account)
            assert await received(await deliver(stripe_api, fake_stripe, event)) == "ignored"
        assert await status_of(client, b.tenant, b.id) == "finalized"
        assert await payments(runtime, b.tenant, b.id) == []
        assert await events(runtime, b.tenant) == []
        assert await status_of(client, a.tenant, a.id) == "finalized"
        # B's own account, B's invoice: applied.
        event = fake_stripe.event("invoice.paid", fake_stripe.get(b.account, b.stripe_id), b.account)
        assert await received(await deliver(stripe_api, fake_stripe, event)) == "applied"
        assert await status_of(client, b.tenant, b.id) == "paid"
