from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import asyncpg
import msgspec
import structlog
from sqlalchemy import ARRAY, Select, Table, TextClause, Uuid, event, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from bpo.core.errors import DATABASE_UNAVAILABLE, RETRY_LATER, Unavailable
from bpo.settings import Settings

AfterCommit = Callable[[], Awaitable[None]]

# What the driver raises when the connection itself is gone (closed, reset, server shutting down).
_CONNECTION_LOST = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    # The driver lost track of the connection's protocol state (seen when the server went away mid-read).
    asyncpg.exceptions.InternalClientError,
    OSError,
)


class StaleConnection(Unavailable):
    """The pooled connection was found closed before the transaction began: nothing ran."""


log = structlog.get_logger("bpo.db")

SET_TENANT = text("SELECT set_config('bpo.tenant_id', :tenant_id, true)")
# What asyncpg sends to open a transaction with the default isolation (asyncpg.transaction.Transaction).
_BEGIN = "BEGIN;"


@functools.lru_cache(maxsize=4096)
def _begin_with_tenant(tenant_id: uuid.UUID, *, read_only: bool = False) -> str:
    """One simple-query message that opens a transaction and sets its tenant (transaction-local)."""
    # A UUID renders as hex digits and dashes only, so it can stand as a literal in the message.
    tenant = uuid.UUID(str(tenant_id))
    begin = "BEGIN READ ONLY" if read_only else "BEGIN"
    return f"{begin}; SELECT set_config('bpo.tenant_id', '{tenant}', true);"


class TenantConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that can open its next transaction with the tenant already set.

    ``Database.tenant`` names the tenant before the session's first statement; the ``BEGIN`` that the
    driver then sends goes out as one simple-query message together with the transaction-local
    ``set_config``, so a tenant's transaction costs one round trip to open instead of two. The setting
    stays local to that transaction, as before: nothing of it outlives the transaction or reaches the
    next user of the connection (a pooler in transaction mode included).
    """

    _begin_tenant: uuid.UUID | None = None

    def begin_with_tenant(self, tenant_id: uuid.UUID | None) -> None:
        """Set (or, with None, forget) the tenant the next ``BEGIN`` on this connection carries."""
        self._begin_tenant = tenant_id

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        tenant = self._begin_tenant
        if tenant is not None and query == _BEGIN and not args:
            self._begin_tenant = None
            query = _begin_with_tenant(tenant)
        result: str = await super().execute(query, *args, timeout=timeout)
        return result


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
        params["connection_class"] = TenantConnection
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
        return create_async_engine(
            asyncpg_url(url), connect_args=owner_args, json_deserializer=decode_json, **pool
        )
    engine = create_async_engine(
        asyncpg_url(url), creator=creator, pool_recycle=1800, json_deserializer=decode_json, **pool
    )

    def forget_tenant(dbapi_connection: Any, record: Any, *_: Any) -> None:
        # A tenant named for a transaction that never began must not open the next user's.
        driver = record.driver_connection
        if isinstance(driver, TenantConnection):
            driver.begin_with_tenant(None)

    event.listen(engine.sync_engine.pool, "checkout", forget_tenant)
    event.listen(engine.sync_engine.pool, "checkin", forget_tenant)
    return engine


_decode = msgspec.json.Decoder().decode


def decode_json(text: str | bytes) -> Any:
    """A JSON column's value: msgspec's decoder (several times as fast as the standard library's on the
    rollups' sketches), or the standard library's for what msgspec refuses that PostgreSQL may store (a
    number beyond a float's range)."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _terminate(driver: asyncpg.Connection) -> None:
    """Close a connection whose state is unknown. One the server closed may already be back in the pool
    (asyncpg takes a lost connection back at once): then there is nothing left to close."""
    with contextlib.suppress(asyncpg.InterfaceError):
        driver.terminate()


async def _discard(pool: asyncpg.Pool, driver: asyncpg.Connection) -> None:
    """A connection that must not be used again: closed, and given back so the pool opens a new one."""
    _terminate(driver)
    with contextlib.suppress(asyncpg.InterfaceError):
        await pool.release(driver)


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
        self._hot_pool: asyncpg.Pool | None = None
        self._hot_pool_lock = asyncio.Lock()

    @asynccontextmanager
    async def tenant(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """One transaction with the tenant set for row-level security; commits on success."""
        async with self.sessionmaker() as session:
            async with session.begin():
                driver = (await (await session.connection()).get_raw_connection()).driver_connection
                if isinstance(driver, TenantConnection) and not driver.is_in_transaction():
                    # Sent with the BEGIN of the session's first statement; forgotten when the connection
                    # goes back to the pool unused (see create_engine).
                    driver.begin_with_tenant(tenant_id)
                else:
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

    async def _hot_connections(self) -> asyncpg.Pool:
        """The pool behind hot reads: plain asyncpg connections as the application role, opened on demand
        (at most ``database_pool_size``), so a hot read pays for neither the engine's pool nor its greenlet
        hops. JSON columns decode as they do through the engine."""
        pool = self._hot_pool
        if pool is not None:
            return pool
        async with self._hot_pool_lock:
            if self._hot_pool is None:
                sync_engine = self.engine.sync_engine
                _, params = sync_engine.dialect.create_connect_args(sync_engine.url)
                connector = _AppRoleConnector(
                    self.settings.database_app_role, self.settings.database_statement_cache
                )

                async def connect(*_: Any, **pool_params: Any) -> asyncpg.Connection:
                    pool_params.pop("loop", None)
                    return await connector(**{**params, **pool_params})

                self._hot_pool = await asyncpg.create_pool(
                    min_size=0,
                    max_size=self.settings.database_pool_size,
                    connect=connect,
                    init=_json_codecs,
                    # What a transaction left open is rolled back on release (asyncpg does that before
                    # ``reset``); the tenant setting is transaction-local, so nothing else needs resetting.
                    reset=_nothing_to_reset,
                    connection_class=TenantConnection,
                )
            return self._hot_pool

    @asynccontextmanager
    async def read_only(self, tenant_id: uuid.UUID) -> AsyncIterator[asyncpg.Connection]:
        """A read-only transaction with the tenant set, on a driver connection of its own: for hot reads
        that need neither the ORM nor a session. Opens with one message (``BEGIN READ ONLY`` and the
        tenant) and commits at the end; row-level security applies as in ``tenant``. After a server
        restart every pooled connection is closed: each is found so as it opens, dropped, and the next
        is tried, so the first read after a restart succeeds. A connection that breaks later is dropped
        too (``Unavailable``)."""
        pool = await self._hot_connections()
        begin = _begin_with_tenant(tenant_id, read_only=True)
        driver, _ = await self._first_statement(pool, lambda driver: driver.execute(begin))
        try:
            try:
                yield driver
            except BaseException as exc:
                try:
                    await driver.execute("ROLLBACK;")
                except BaseException:
                    # Whatever state the connection is in, it must not go back to the pool.
                    _terminate(driver)
                if isinstance(exc, _CONNECTION_LOST):
                    raise Unavailable(DATABASE_UNAVAILABLE, headers=RETRY_LATER) from exc
                raise
            try:
                await driver.execute("COMMIT;")
            except _CONNECTION_LOST as exc:
                _terminate(driver)
                raise Unavailable(DATABASE_UNAVAILABLE, headers=RETRY_LATER) from exc
        finally:
            with contextlib.suppress(asyncpg.InterfaceError):
                await pool.release(driver)

    async def row_by_id(
        self, tenant_id: uuid.UUID, query: RowById, row_id: uuid.UUID
    ) -> asyncpg.Record | None:
        """One row of a tenant's table by id, in one statement and one round trip: the tenant is set inside
        the statement (``bpo_row_by_id``, migration 0027) and row-level security decides what it sees, as
        in ``read_only``. A connection found closed (after a server restart) is dropped and the read, which
        changes nothing, is tried on the next."""
        pool = await self._hot_connections()
        driver, row = await self._first_statement(
            pool, lambda driver: driver.fetchrow(query.sql, tenant_id, row_id)
        )
        with contextlib.suppress(asyncpg.InterfaceError):
            await pool.release(driver)
        return cast("asyncpg.Record | None", row)

    async def _first_statement(
        self, pool: asyncpg.Pool, statement: Callable[[asyncpg.Connection], Awaitable[Any]]
    ) -> tuple[asyncpg.Connection, Any]:
        """A pooled connection and what ``statement``, its first, returned. After a server restart every
        pooled connection is closed: each is found so by that statement, dropped, and the next is tried
        (nothing ran on it), up to the pool's size; then ``StaleConnection``."""
        retries = self.settings.database_pool_size
        for attempt in range(retries + 1):
            try:
                driver = await pool.acquire()
            except _CONNECTION_LOST as exc:
                raise Unavailable(DATABASE_UNAVAILABLE, headers=RETRY_LATER) from exc
            try:
                return driver, await statement(driver)
            except _CONNECTION_LOST as exc:
                await _discard(pool, driver)
                if attempt == retries:
                    raise StaleConnection(DATABASE_UNAVAILABLE, headers=RETRY_LATER) from exc
            except BaseException:
                # Cancelled or refused mid-way: the connection's state is unknown, so it is not reused.
                await _discard(pool, driver)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def dispose(self) -> None:
        pool, self._hot_pool = self._hot_pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()
        await self.engine.dispose()


async def _json_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=json.dumps, decoder=decode_json, schema="pg_catalog")


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    return None


class Compiled:
    """A statement compiled once for the driver (``$1``-style SQL and the order of its parameters), so a
    hot read spends nothing per request on building, caching or compiling it."""

    def __init__(self, statement: Select[*tuple[Any, ...]] | TextClause) -> None:
        # Kept for ``SessionReads``, which runs it through the session's connection.
        self.statement = statement
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        # Values the statement itself carries (a LIMIT, a literal compared with): the caller names the rest.
        binds = compiled.binds
        self.fixed = {name: bind.value for name, bind in binds.items() if not bind.required}

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        # A parameter the caller must name and did not is a KeyError, never a silent NULL.
        return [fixed[name] if name in fixed and name not in values else values[name] for name in self.names]


class RowById:
    """A hot read of one whole row of a tenant's table by its id, in a single statement
    (``Database.row_by_id``): the row has every column of the table, by name."""

    __slots__ = ("sql", "table")

    def __init__(self, model: type[Any]) -> None:
        table: Table = model.__table__
        self.table = table
        name = _DIALECT.identifier_preparer.format_table(table)
        # A table of our own schema, quoted by the dialect: no input reaches this text.
        self.sql = f"SELECT * FROM bpo_row_by_id($1, NULL::{name}, $2)"  # noqa: S608


_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
# The type of a parameter holding several ids (``column == any_(bindparam("ids", type_=UUID_LIST))``): a
# compiled statement cannot expand ``IN`` lists, an array parameter needs no expanding.
UUID_LIST = ARRAY(Uuid())


class ReadTransaction:
    """Several hot reads in one read-only transaction of the tenant (one snapshot, one connection)."""

    __slots__ = ("driver",)

    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver = driver

    async def one(self, query: Compiled, **values: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.driver.fetchrow(query.sql, *query.arguments(values))
        return row

    async def all(self, query: Compiled, **values: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.driver.fetch(query.sql, *query.arguments(values))
        return rows


class Reader(Protocol):
    """Reads inside a transaction with the tenant set, however it was opened: a hot read's
    (``ReadTransaction``) or a request's or job's session (``SessionReads``). Rows are read by position
    only: asyncpg's records and SQLAlchemy's rows agree on nothing else."""

    async def one(self, query: Compiled, **values: Any) -> Any: ...

    async def all(self, query: Compiled, **values: Any) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class SessionReads:
    """``Compiled`` reads run in a session's transaction (through its connection, not the ORM)."""

    session: AsyncSession

    async def one(self, query: Compiled, **values: Any) -> Any:
        connection = await self.session.connection()
        return (await connection.execute(query.statement, values)).first()

    async def all(self, query: Compiled, **values: Any) -> Sequence[Any]:
        connection = await self.session.connection()
        rows: Sequence[Any] = (await connection.execute(query.statement, values)).all()
        return rows


@dataclass(frozen=True, slots=True)
class TenantReads:
    """Hot reads for one tenant, each call its own read-only transaction (``Database.read_only``)."""

    db: Database
    tenant_id: uuid.UUID

    async def row(self, query: RowById, row_id: uuid.UUID) -> asyncpg.Record | None:
        row = await self.db.row_by_id(self.tenant_id, query, row_id)
        # Row-level security already keeps other tenants' rows out; the row says whose it is too.
        return row if row is not None and row["tenant_id"] == self.tenant_id else None

    async def one(self, query: Compiled, **values: Any) -> asyncpg.Record | None:
        arguments = query.arguments(values)
        async with self.db.read_only(self.tenant_id) as driver:
            row: asyncpg.Record | None = await driver.fetchrow(query.sql, *arguments)
        return row

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ReadTransaction]:
        async with self.db.read_only(self.tenant_id) as driver:
            yield ReadTransaction(driver)


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
