"""Billing against a fake Stripe: the fake itself, an API server configured for it (webhook secret, API
base), and a client for that server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from bpo.settings import Settings
from tests.support.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.support.server import ServerThread


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def stripe_settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "stripe_api_key": SecretStr(API_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake_stripe.url,
        }
    )


@pytest.fixture(scope="session")
def stripe_server(stripe_settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(stripe_settings) as running:
        yield running


@pytest.fixture(scope="session")
async def stripe_api(stripe_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed with Stripe configured (the webhook endpoint verifies signatures)."""
    async with httpx.AsyncClient(base_url=stripe_server.url, timeout=30) as http:
        yield http
