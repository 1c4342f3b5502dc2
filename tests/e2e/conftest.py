from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bpo.settings import Settings
from tests.e2e.stack import Stack
from tests.support.factories import PLATFORM_TOKEN
from tests.support.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe


@pytest.fixture(scope="session")
def e2e_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def stack(settings: Settings, e2e_stripe: FakeStripe) -> Iterator[Stack]:
    """One fresh database and one set of `bpo` processes for every journey, billing through a fake
    Stripe on 127.0.0.1."""
    workdir = Path(tempfile.mkdtemp(prefix="bpo-e2e-"))
    stripe = {
        "BPO_STRIPE_API_KEY": API_KEY,
        "BPO_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BPO_STRIPE_API_BASE": e2e_stripe.url,
    }
    running = Stack(settings, workdir, PLATFORM_TOKEN.get_secret_value(), extra_env=stripe).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        yield client
