"""The fake Stripe behaves like Stripe where the billing code relies on it, as the real client sees it."""

from __future__ import annotations

import json

import pytest
import stripe

from bpo.billing.stripe_sync import connect
from bpo.settings import Settings
from tests.support.fake_stripe import WEBHOOK_SECRET, FakeStripe


async def test_idempotency_keys_replay_or_refuse(fake_stripe: FakeStripe, stripe_settings: Settings) -> None:
    account = fake_stripe.connect_account()
    async with connect(stripe_settings, network_retries=0) as client:
        options: stripe.RequestOptions = {"stripe_account": account, "idempotency_key": "k-1"}
        first = await client.v1.customers.create_async({"name": "Lancers"}, options)
        again = await client.v1.customers.create_async({"name": "Lancers"}, options)
        assert again.id == first.id
        assert fake_stripe.count("customer", account) == 1
        assert [entry.replayed for entry in fake_stripe.log if entry.idempotency_key == "k-1"] == [
            False,
            True,
        ]
        with pytest.raises(stripe.IdempotencyError):
            await client.v1.customers.create_async({"name": "Pairs"}, options)
        # Keys are per account: the same key on another account is a new request.
        elsewhere = fake_stripe.connect_account()
        other = await client.v1.customers.create_async(
            {"name": "Pairs"}, {"stripe_account": elsewhere, "idempotency_key": "k-1"}
        )
        assert other.id != first.id


async def test_objects_belong_to_their_account(fake_stripe: FakeStripe, stripe_settings: Settings) -> None:
    mine, theirs = fake_stripe.connect_account(), fake_stripe.connect_account()
    async with connect(stripe_settings, network_retries=0) as client:
        customer = await client.v1.customers.create_async({"name": "Lancers"}, {"stripe_account": mine})
        assert customer.object == "customer"
        assert customer.id.startswith("cus_")
        assert customer.livemode is False
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.customers.retrieve_async(customer.id, options={"stripe_account": theirs})
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await client.v1.invoices.create_async(
                {"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 30},
                {"stripe_account": theirs},
            )
        assert (refused.value.http_status, refused.value.code, refused.value.param) == (
            400,
            "resource_missing",
            "customer",
        )
        with pytest.raises(stripe.PermissionError):
            await client.v1.customers.create_async({"name": "x"}, {"stripe_account": "acct_nobody"})


async def test_injected_failures_and_client_retries(
    fake_stripe: FakeStripe, stripe_settings: Settings
) -> None:
    account = fake_stripe.connect_account()
    options: stripe.RequestOptions = {"stripe_account": account, "idempotency_key": "k-retry"}
    fake_stripe.fail_next(1, path="/v1/customers")
    async with connect(stripe_settings, network_retries=0) as client:
        with pytest.raises(stripe.APIError):
            await client.v1.customers.create_async({"name": "Lancers"}, options)
    assert fake_stripe.count("customer", account) == 0
    fake_stripe.fail_next(1, path="/v1/customers")
    async with connect(stripe_settings, network_retries=1) as client:
        created = await client.v1.customers.create_async({"name": "Lancers"}, options)
    assert created.name == "Lancers"
    assert fake_stripe.count("customer", account) == 1


def test_webhooks_are_signed_as_stripe_signs_them(fake_stripe: FakeStripe) -> None:
    event = fake_stripe.event("invoice.paid", {"object": "invoice", "id": "in_1"}, "acct_1")
    payload = json.dumps(event).encode()
    header = fake_stripe.sign(payload)
    assert header.startswith("t=")
    assert ",v1=" in header
    assert stripe.WebhookSignature.verify_header(payload, header, WEBHOOK_SECRET, 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload + b" ", header, WEBHOOK_SECRET, 300)
