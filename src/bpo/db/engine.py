from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bpo.settings import Settings

AfterCommit = Callable[[], Awaitable[None]]

SET_TENANT = text("SELECT set_config('bpo.tenant_id', :tenant_id, true)")


def asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def connect_args(settings: Settings, url: str, *, as_app: bool) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if as_app and make_url(url).username != settings.database_app_role:
        # One superuser/owner URL for everything (embedded, a local server): the app still runs as
        # the application role, fixed at connection start so a RESET ALL cannot undo it.
        args["server_settings"] = {"role": settings.database_app_role}
    if not settings.database_statement_cache:
        args["statement_cache_size"] = 0
        args["prepared_statement_name_func"] = lambda: f"__bpo_{uuid.uuid4().hex}__"
    return args


def create_engine(settings: Settings, *, as_app: bool = True, url: str | None = None) -> AsyncEngine:
    if url is None:
        url = settings.database_url if as_app else settings.migration_database_url or settings.database_url
    if url is None:
        raise RuntimeError("no database URL: start the embedded services or set BPO_DATABASE_URL")
    return create_async_engine(
        asyncpg_url(url),
        connect_args=connect_args(settings, url, as_app=as_app),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_recycle=1800,
    )


class Database:
    """The application's connection to PostgreSQL, always as the application role."""

    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def tenant(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """One transaction with the tenant set for row-level security; commits on success."""
        async with self.sessionmaker() as session:
            async with session.begin():
                await session.execute(SET_TENANT, {"tenant_id": str(tenant_id)})
                yield session
            await _run_after_commit(session)

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[AsyncSession]:
        """One transaction with no tenant set: only platform tables are visible."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
            await _run_after_commit(session)

    async def dispose(self) -> None:
        await self.engine.dispose()


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        await callback()
