"""The test database as its owner: the migration role, with no row-level security in the way."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from bpo.settings import Settings


async def owner_connection(settings: Settings) -> asyncpg.Connection:
    assert settings.database_url
    url = make_url(settings.migration_database_url or settings.database_url).set(drivername="postgresql")
    return await asyncpg.connect(url.render_as_string(hide_password=False))
