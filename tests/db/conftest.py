from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from bpo.settings import Settings
from tests.support.database import owner_connection


@pytest.fixture
async def owner(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await owner_connection(settings)
    try:
        yield connection
    finally:
        await connection.close()
