"""The tenant's transaction opens in one round trip (BEGIN and the transaction-local tenant setting in one
message), and a tenant named for a transaction that never began reaches nobody else."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import bindparam, select, text

from bpo.clients.models import Client
from bpo.core.db import Compiled, Database, TenantConnection, TenantReads
from bpo.settings import Settings
from tests.support.database import owner_connection
from tests.support.factories import create_tenant, post_ok

CURRENT = text("SELECT current_setting('bpo.tenant_id', true)")


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[Database]:
    """A database whose pool holds a single connection, so consecutive sessions share it."""
    database = Database(settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0}))
    try:
        yield database
    finally:
        await database.dispose()


async def test_the_tenant_travels_with_begin(one_connection: Database) -> None:
    tenant = uuid.uuid4()
    sent: list[str] = []
    async with one_connection.tenant(tenant) as session:
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        assert isinstance(driver, TenantConnection)

        def log(record: Any) -> None:
            sent.append(record.query)

        driver.add_query_logger(log)
        seen = await session.scalar(CURRENT)
        assert seen == str(tenant)
    driver.remove_query_logger(log)
    # The query logger sees the simple-protocol messages (the read itself goes as a prepared statement):
    # the tenant travels with BEGIN, not as a statement of its own.
    assert sent == [f"BEGIN; SELECT set_config('bpo.tenant_id', '{tenant}', true);", "COMMIT;"]


async def test_the_setting_ends_with_the_transaction(one_connection: Database) -> None:
    tenant = uuid.uuid4()
    async with one_connection.tenant(tenant) as session:
        assert await session.scalar(CURRENT) == str(tenant)
    async with one_connection.platform() as session:
        assert await session.scalar(CURRENT) in (None, "")


async def test_an_unused_tenant_session_leaves_nothing_behind(one_connection: Database) -> None:
    async with one_connection.tenant(uuid.uuid4()):
        pass  # no statement: no transaction was begun, the tenant was never sent
    with pytest.raises(RuntimeError):
        async with one_connection.tenant(uuid.uuid4()):
            raise RuntimeError("failed before its first statement")
    async with one_connection.platform() as session:
        assert await session.scalar(CURRENT) in (None, "")
    other = uuid.uuid4()
    async with one_connection.tenant(other) as session:
        assert await session.scalar(CURRENT) == str(other)


async def test_a_savepoint_first_still_opens_the_tenants_transaction(one_connection: Database) -> None:
    tenant = uuid.uuid4()
    async with one_connection.tenant(tenant) as session:
        async with session.begin_nested():
            assert await session.scalar(CURRENT) == str(tenant)
        assert await session.scalar(CURRENT) == str(tenant)


async def test_hot_reads_see_the_tenant_and_write_nothing(one_connection: Database) -> None:
    tenant = uuid.uuid4()
    async with one_connection.read_only(tenant) as driver:
        assert await driver.fetchval("SELECT current_setting('bpo.tenant_id', true)") == str(tenant)
        assert await driver.fetchval("SHOW transaction_read_only") == "on"
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with one_connection.read_only(tenant) as driver:
            await driver.execute("CREATE TEMPORARY TABLE scratch (x int)")
    # The failed transaction was rolled back; the same (only) connection serves the next one cleanly.
    async with one_connection.platform() as session:
        assert await session.scalar(CURRENT) in (None, "")


async def test_hot_reads_stay_inside_the_tenant(settings: Settings, client: httpx.AsyncClient) -> None:
    """A compiled read of another tenant's client by its id finds nothing: row-level security applies."""
    mine, theirs = await create_tenant(client), await create_tenant(client)
    created = await post_ok(client, "/v1/clients", {"code": "HOT1", "name": "Hot"}, theirs.admin)
    by_id = Compiled(select(Client.id, Client.name).where(Client.id == bindparam("client_id")))
    database = Database(settings)
    try:
        row = await TenantReads(database, theirs.id).one(by_id, client_id=uuid.UUID(created["id"]))
        assert row is not None
        assert row["name"] == "Hot"
        assert await TenantReads(database, mine.id).one(by_id, client_id=uuid.UUID(created["id"])) is None
    finally:
        await database.dispose()


async def test_a_hot_read_on_a_connection_the_server_closed_is_read_again(
    one_connection: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    """After a server restart the pool holds closed connections: the read is retried once on a fresh one,
    and the closed one never comes back."""
    tenant = await create_tenant(client)
    created = await post_ok(client, "/v1/clients", {"code": "HOT2", "name": "Again"}, tenant.admin)
    by_id = Compiled(select(Client.name).where(Client.id == bindparam("client_id")))
    reads = TenantReads(one_connection, tenant.id)
    async with one_connection.read_only(tenant.id) as driver:
        closed_pid = driver.get_server_pid()
    owner = await owner_connection(settings)
    try:
        assert await owner.fetchval("SELECT pg_terminate_backend($1)", closed_pid)
    finally:
        await owner.close()
    row = await reads.one(by_id, client_id=uuid.UUID(created["id"]))
    assert row is not None
    assert row["name"] == "Again"
    async with one_connection.read_only(tenant.id) as driver:
        assert driver.get_server_pid() != closed_pid


# A number beyond a float's range (a json column keeps it as written; jsonb prints it out in full), a big
# exact integer, a float, text beyond ASCII.
STORED_JSON = (
    '{"over": 1e400, "big": 123456789012345678901234567890, "ratio": 2.5, "name": "\\u00e9t\\u00e9"}'
)
READ_BACK = "SELECT CAST(CAST({p} AS text) AS {t}), CAST(CAST({p} AS text) AS {t})::text"


async def test_json_columns_read_as_the_standard_library_reads_them(one_connection: Database) -> None:
    """JSON and JSONB values read through sessions and hot reads equal ``json.loads`` of the text
    PostgreSQL gives for them, what the faster decoder refuses included."""
    async with one_connection.platform() as session:
        for kind in ("json", "jsonb"):
            statement = text(READ_BACK.format(p=":value", t=kind))
            value, shown = (await session.execute(statement, {"value": STORED_JSON})).one()
            assert value == json.loads(shown)
            assert value["big"] == 123456789012345678901234567890
    assert json.loads(STORED_JSON)["over"] == float("inf")
    async with one_connection.read_only(uuid.uuid4()) as driver:
        for kind in ("json", "jsonb"):
            value, shown = await driver.fetchrow(READ_BACK.format(p="$1", t=kind), STORED_JSON)
            assert value == json.loads(shown)
