from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bpo.settings import Settings
from tests.e2e.stack import Stack
from tests.support.factories import PLATFORM_TOKEN


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    """One fresh database and one set of `bpo` processes for every journey."""
    workdir = Path(tempfile.mkdtemp(prefix="bpo-e2e-"))
    running = Stack(settings, workdir, PLATFORM_TOKEN.get_secret_value()).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        yield client
