"""Test fixtures: one real PostgreSQL and Redis per run (embedded in a temporary directory unless
BPO_DATABASE_URL / BPO_REDIS_URL point at servers), migrated once with Alembic, and the real app
served over HTTP by uvicorn on 127.0.0.1. Every test works on tenants of its own."""

from __future__ import annotations

import asyncio
import fcntl
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

# Litestar imports advanced-alchemy lazily, which warns about a SQLAlchemy 2.1 deprecation of its own.
warnings.filterwarnings("ignore", message="The declarative_mixin decorator")

from bpo.core.runtime import Runtime  # noqa: E402
from bpo.embedded import EmbeddedServices  # noqa: E402
from bpo.migrations.runner import upgrade  # noqa: E402
from bpo.settings import Settings, load_settings  # noqa: E402
from tests.support.factories import PLATFORM_TOKEN  # noqa: E402
from tests.support.processes import process_env  # noqa: E402
from tests.support.redis_databases import session_database  # noqa: E402
from tests.support.server import ServerThread  # noqa: E402


def _create_database(server_url: str) -> str:
    """A fresh database on the configured server, so tests never touch existing data."""
    url = make_url(server_url)
    name = f"bpo_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(database_url: str) -> None:
    url = make_url(database_url)

    async def drop() -> None:
        conn = await asyncpg.connect(
            url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    base = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="bpo-test-"))
    services = EmbeddedServices(tmp, throwaway=True).start(
        postgres=base.embedded_database, redis=base.embedded_redis
    )
    database_url = base.database_url and _create_database(base.database_url)
    resolved = base.model_copy(
        update={
            "environment": "test",
            "database_url": database_url or services.database_url,
            "migration_database_url": None,
            "redis_url": (base.redis_url and session_database(base.redis_url)) or services.redis_url,
            "data_dir": tmp,
            "platform_token": PLATFORM_TOKEN,
            "login_attempts_per_ip": 100_000,
            "broker_heartbeat_timeout_ms": 2_000,
            "broker_maintenance_chance": 1_000_000,
            "log_level": "WARNING",
        }
    )
    if database_url:
        # Parallel processes migrate databases of their own on one server; the roles they create and
        # grant are the server's, so one process at a time.
        with open(Path(tempfile.gettempdir()) / "bpo-test-migrations.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            upgrade(resolved)
    else:
        upgrade(resolved)
    try:
        yield resolved
    finally:
        if database_url:
            _drop_database(database_url)
        services.stop()


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.create(settings)
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(settings) as running:
        yield running


@pytest.fixture(scope="session")
async def client(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def browser(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie jar of its own per test, against the same server as ``client``."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def worker_env(settings: Settings) -> dict[str, str]:
    return process_env(settings)
