"""A stack of its own for each fault test (tests/faults/stack.py), with a client and the application's
runtime on it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.migrations.runner import upgrade
from bpo.settings import load_settings
from tests.faults.stack import RestartableServices, Stack
from tests.support.factories import PLATFORM_TOKEN
from tests.support.server import ServerThread


@pytest.fixture
def stack() -> Iterator[Stack]:
    # A short directory: the sockets live in it, and a unix socket path must fit in 108 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="bpo-fault-"))
    services = RestartableServices(data_dir, throwaway=True)
    services.start()
    try:
        settings = load_settings().model_copy(
            update={
                "environment": "test",
                "database_url": services.database_url,
                "migration_database_url": None,
                "redis_url": services.redis_url,
                "data_dir": data_dir,
                "platform_token": PLATFORM_TOKEN,
                "login_attempts_per_ip": 100_000,
                "log_level": "WARNING",
            }
        )
        upgrade(settings)
        with ServerThread(settings) as server:
            yield Stack(services=services, settings=settings, server=server)
    finally:
        services.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def stack_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def stack_runtime(stack: Stack) -> AsyncIterator[Runtime]:
    """The application's own view of the stack's database (app role, tenant set per transaction)."""
    runtime = Runtime.create(stack.settings)
    yield runtime
    await runtime.close()
