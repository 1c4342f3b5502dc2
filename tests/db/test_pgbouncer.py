"""The application behind PgBouncer in transaction pooling mode: many tenants' transactions share a few
server connections, and no tenant context crosses from one transaction to the next.

PgBouncer is started by the test, in front of the test database (over the embedded server's unix
socket). Transaction pooling hands each transaction whichever server connection is free, so:
- the tenant must be set per transaction (``set_config(…, true)``), never per session;
- asyncpg's prepared statements, kept per connection, must be off (``BPO_DATABASE_STATEMENT_CACHE=false``);
- the role cannot come from the start-up parameter ``role``, which PgBouncer refuses (or, when told
  to ignore it, drops): the application has to log in as ``bpo_app`` itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bpo.core.db import AppRoleError, Database, _AppRoleConnector
from bpo.settings import Settings
from tests.support.pgbouncer import BINARY, PgBouncer
from tests.support.requirements import require


@pytest.fixture(scope="module", autouse=True)
def pgbouncer_installed() -> None:
    require("pgbouncer", BINARY, "Debian package pgbouncer; .ci/run installs it")


TENANTS = 20
TASKS_PER_TENANT = 50
SEEDED_PER_TENANT = 3
SERVER_POOL = 4


def owner_user(settings: Settings) -> str:
    assert settings.database_url
    return make_url(settings.database_url).username or "postgres"


@pytest.fixture(scope="module")
async def bouncer(settings: Settings) -> AsyncIterator[PgBouncer]:
    assert settings.database_url
    server = make_url(settings.database_url).set(drivername="postgresql", username=settings.database_app_role)
    try:
        await (await asyncpg.connect(server.render_as_string(hide_password=False))).close()
    except asyncpg.PostgresError as exc:
        pytest.skip(f"the server refuses a password-less login as {settings.database_app_role}: {exc}")
    running = PgBouncer(
        settings.database_url,
        users=[owner_user(settings), settings.database_app_role],
        databases={"bpo": "", "bpo_one": "pool_size=1", "bpo_two": "pool_size=2"},
        pool_size=SERVER_POOL,
    )
    try:
        yield running
    finally:
        running.stop()
        print(f"--- pgbouncer log\n{running.log()[-3000:]}")


def through(bouncer: PgBouncer, settings: Settings, database: str = "bpo", **updates: Any) -> Database:
    """The application's Database, its URL the owner's (as in the embedded default) but via PgBouncer."""
    return Database(
        settings.model_copy(
            update={
                "database_url": bouncer.url(owner_user(settings), database),
                "database_statement_cache": False,
                **updates,
            }
        )
    )


async def test_no_tenant_context_leaks_across_pooled_connections(
    bouncer: PgBouncer, settings: Settings
) -> None:
    db = through(bouncer, settings, database_pool_size=20, database_max_overflow=10)
    tenants = [uuid.uuid4() for _ in range(TENANTS)]
    seen_backends: dict[int, set[uuid.UUID]] = defaultdict(set)
    client_connections: set[int] = set()
    try:
        async with db.platform() as session:
            for tenant in tenants:
                await session.execute(
                    text("INSERT INTO tenants (id, slug, name) VALUES (:id, :slug, 'PgBouncer test')"),
                    {"id": tenant, "slug": f"pgb-{tenant.hex[:12]}"},
                )
        for tenant in tenants:
            async with db.tenant(tenant) as session:
                for _ in range(SEEDED_PER_TENANT):
                    await insert_event(session, tenant, "pgbouncer.seed")

        async def visit(tenant: uuid.UUID) -> None:
            async with db.platform() as session:
                row = (
                    await session.execute(
                        text("SELECT current_setting('bpo.tenant_id', true) AS tenant, current_user AS me")
                    )
                ).one()
                assert row.tenant in (None, ""), f"a new transaction started with tenant {row.tenant}"
                assert row.me == settings.database_app_role
                assert (await session.execute(text("SELECT count(*) FROM audit_events"))).scalar_one() == 0
            async with db.tenant(tenant) as session:
                connection = await session.connection()
                client_connections.add(id((await connection.get_raw_connection()).driver_connection))
                backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                seen_backends[backend].add(tenant)
                await insert_event(session, tenant, "pgbouncer.visit")
                await asyncio.sleep(0)
                visible = (
                    await session.execute(
                        text("SELECT tenant_id, count(*) FROM audit_events GROUP BY tenant_id")
                    )
                ).all()
                assert [t for t, _ in visible] == [tenant], f"tenant {tenant} sees {visible}"
                assert visible[0][1] >= SEEDED_PER_TENANT + 1
                setting = await session.execute(text("SELECT current_setting('bpo.tenant_id', true)"))
                assert setting.scalar_one() == str(tenant)

        await asyncio.gather(*(visit(t) for t in tenants for _ in range(TASKS_PER_TENANT)))

        async with db.platform() as session:
            # Each tenant's rows, counted one tenant per transaction: every visit committed once.
            for tenant in tenants:
                await session.execute(
                    text("SELECT set_config('bpo.tenant_id', :t, true)"), {"t": str(tenant)}
                )
                count = (await session.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
                assert count == SEEDED_PER_TENANT + TASKS_PER_TENANT
    finally:
        await db.dispose()

    # The pooling was real: many client connections took turns on a few server connections, each of
    # which served many tenants one after another.
    assert len(seen_backends) <= SERVER_POOL
    assert len(client_connections) > len(seen_backends)
    assert all(len(served) > 1 for served in seen_backends.values())


async def insert_event(session: Any, tenant: uuid.UUID, action: str) -> None:
    await session.execute(
        text("INSERT INTO audit_events (tenant_id, id, action, object_type) VALUES (:t, :id, :a, 'test')"),
        {"t": tenant, "id": uuid.uuid4(), "a": action},
    )


async def test_a_session_level_setting_would_leak(bouncer: PgBouncer, settings: Settings) -> None:
    """Why the check above means something: on one server connection, a setting made outside a
    transaction-local ``set_config(…, true)`` reaches the next client's transaction."""
    app = settings.database_app_role
    first = await asyncpg.connect(bouncer.dsn(app, "bpo_one"), statement_cache_size=0)
    second = await asyncpg.connect(bouncer.dsn(app, "bpo_one"), statement_cache_size=0)
    leaked = str(uuid.uuid4())
    try:
        await first.execute("SELECT set_config('bpo.tenant_id', $1, false)", leaked)
        assert await second.fetchval("SELECT current_setting('bpo.tenant_id', true)") == leaked
        async with second.transaction():
            await second.execute("SELECT set_config('bpo.tenant_id', $1, true)", str(uuid.uuid4()))
        assert await first.fetchval("SELECT current_setting('bpo.tenant_id', true)") == leaked
    finally:
        await first.execute("RESET bpo.tenant_id")
        await first.close()
        await second.close()


@pytest.mark.parametrize("statement_cache", [True, False])
async def test_statement_cache_must_be_off(
    bouncer: PgBouncer, settings: Settings, statement_cache: bool
) -> None:
    """With asyncpg's statement cache, a statement prepared in one transaction is looked for on
    whichever server connection the next transaction gets."""
    db = through(
        bouncer,
        settings,
        "bpo_two",
        database_statement_cache=statement_cache,
        database_pool_size=1,
        database_max_overflow=0,
    )
    app = settings.database_app_role
    # Holds one of the two server connections, so the second transaction gets the other one.
    holder = await asyncpg.connect(bouncer.dsn(app, "bpo_two"), statement_cache_size=0)
    query = text("SELECT count(*) FROM tenants WHERE slug = :slug")
    try:
        async with db.platform() as session:
            await session.execute(query, {"slug": "x"})
        async with holder.transaction():
            await holder.execute("SELECT 1")
            if statement_cache:
                with pytest.raises(DBAPIError, match=r"prepared statement .* does not exist"):
                    async with db.platform() as session:
                        await session.execute(query, {"slug": "x"})
            else:
                async with db.platform() as session:
                    assert (await session.execute(query, {"slug": "x"})).scalar_one() == 0
    finally:
        await holder.close()
        await db.dispose()


async def test_role_start_up_parameter_is_refused_with_a_clear_error(
    bouncer: PgBouncer, settings: Settings
) -> None:
    connector = _AppRoleConnector(settings.database_app_role, statement_cache=False)
    connector.direct = False  # as when the server refuses the password-less login as bpo_app

    with pytest.raises(AppRoleError, match="refused the start-up parameter role=bpo_app"):
        await connector(host="127.0.0.1", port=bouncer.port, user=owner_user(settings), database="bpo")


async def test_role_start_up_parameter_dropped_by_the_pooler_is_caught(settings: Settings) -> None:
    assert settings.database_url
    lenient = PgBouncer(
        settings.database_url,
        users=[owner_user(settings), settings.database_app_role],
        databases={"bpo": ""},
        ignore_startup_parameters=("extra_float_digits", "role"),
    )
    connector = _AppRoleConnector(settings.database_app_role, statement_cache=False)
    connector.direct = False
    try:
        with pytest.raises(AppRoleError, match=f"connected as '{owner_user(settings)}'"):
            await connector(host="127.0.0.1", port=lenient.port, user=owner_user(settings), database="bpo")
    finally:
        lenient.stop()
