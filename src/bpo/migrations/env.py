from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bpo.core.db import create_engine
from bpo.models import metadata
from bpo.settings import Settings

config = context.config
settings: Settings = config.attributes["settings"]


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations(app_role=settings.database_app_role)


async def main() -> None:
    engine = create_engine(settings, as_app=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(main())
