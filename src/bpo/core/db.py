from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from bpo.settings import Settings

AfterCommit = Callable[[], Awaitable[None]]

log = structlog.get_logger("bpo.db")

SET_TENANT = text("SELECT set_config('bpo.tenant_id', :tenant_id, true)")


def asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def connect_params(url: str) -> dict[str, Any]:
    """asyncpg.connect() arguments for a URL, read the way the engine reads it (``?host=`` for a socket
    directory, ``?ssl=require``), for the few places that talk to asyncpg directly."""
    _, params = PGDialect_asyncpg().create_connect_args(make_url(asyncpg_url(url)))  # type: ignore[no-untyped-call]
    return dict(params)


class AppRoleError(RuntimeError):
    """The connection would not run as the application role."""


class _AppRoleConnector:
    """Connects as the application role.

    With a URL for another user (a single owner or superuser URL, as in the embedded default or a
    local server), it first logs in as the application role itself with the same host and database
    (works wherever the server trusts local connections), so the session cannot switch back to the
    owner. Where that login is refused (password authentication), it logs in with the URL's
    credentials and fixes the role in the connection's start-up parameters instead.
    """

    def __init__(self, app_role: str, statement_cache: bool) -> None:
        self.app_role = app_role
        self.statement_cache = statement_cache
        self.direct: bool | None = None

    async def __call__(self, **params: Any) -> asyncpg.Connection:
        if not self.statement_cache:
            params["statement_cache_size"] = 0
        if params.get("user") == self.app_role:
            return await asyncpg.connect(**params)
        if self.direct is not False:
            try:
                connection = await asyncpg.connect(**{**params, "user": self.app_role, "password": None})
            except asyncpg.PostgresError as exc:
                # Class 28: invalid authorization (no such login, password required, not permitted).
                if self.direct or not exc.sqlstate.startswith("28"):
                    raise
                self.direct = False
                log.warning("app_role_login_refused", role=self.app_role, fallback="role start-up parameter")
            else:
                self.direct = True
                return connection
        settings = {**params.pop("server_settings", {}), "role": self.app_role}
        try:
            connection = await asyncpg.connect(**params, server_settings=settings)
        except asyncpg.ProtocolViolationError as exc:
            if "role" not in str(exc):
                raise
            # PgBouncer refuses start-up parameters it does not track, `role` among them.
            raise AppRoleError(
                f"the server refused the start-up parameter role={self.app_role} ({exc}); behind a "
                f"connection pooler, connect as {self.app_role} itself (see README, PgBouncer)"
            ) from exc
        # A pooler told to ignore the parameter (PgBouncer's ignore_startup_parameters) drops it
        # silently, and the session would run as the URL's user, possibly the owner or a superuser.
        user = await connection.fetchval("SELECT current_user")
        if user != self.app_role:
            await connection.close()
            raise AppRoleError(
                f"connected as {user!r} although the start-up parameter role={self.app_role} was sent "
                f"(dropped by a connection pooler?); connect as {self.app_role} itself"
            )
        return connection


def create_engine(settings: Settings, *, as_app: bool = True, url: str | None = None) -> AsyncEngine:
    if url is None:
        url = settings.database_url if as_app else settings.migration_database_url or settings.database_url
    if url is None:
        raise RuntimeError("no database URL: start the embedded services or set BPO_DATABASE_URL")
    adapter: dict[str, Any] = {}
    if not settings.database_statement_cache:
        # PgBouncer in transaction mode cannot keep prepared statements per connection.
        adapter = {
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__bpo_{uuid.uuid4().hex}__",
        }
    connector = _AppRoleConnector(settings.database_app_role, settings.database_statement_cache)

    def creator() -> Any:
        dialect = engine.sync_engine.dialect
        _, params = dialect.create_connect_args(engine.sync_engine.url)
        assert dialect.loaded_dbapi is not None
        return dialect.loaded_dbapi.connect(async_creator_fn=connector, **adapter, **params)

    pool = {"pool_size": settings.database_pool_size, "max_overflow": settings.database_max_overflow}
    if not as_app:
        owner_args = adapter if settings.database_statement_cache else {**adapter, "statement_cache_size": 0}
        return create_async_engine(asyncpg_url(url), connect_args=owner_args, **pool)
    engine = create_async_engine(asyncpg_url(url), creator=creator, pool_recycle=1800, **pool)
    return engine


class Database:
    """The application's connection to PostgreSQL, always as the application role."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine | None = None,
        *,
        session_info: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings)
        # Each session starts with its own copy of ``session_info`` (what after-commit work needs).
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, info=dict(session_info or {})
        )

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


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_commit(session: Session, previous_transaction: SessionTransaction) -> None:
    # Work registered before the whole transaction rolled back must never run; a savepoint rolling
    # back leaves the outer transaction, and what it registered before the savepoint, alone.
    if previous_transaction.parent is None:
        session.info.pop("after_commit", None)


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        await callback()
