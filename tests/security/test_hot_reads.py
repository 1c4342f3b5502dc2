"""The reads served without a session (``TenantReads``: GET /v1/clients/{id}, /v1/contracts/{id}, /v1/me,
/v1/me/shifts) stay inside the caller's tenant and client, in the code and, below it, by row-level
security: another tenant's or client's object reads as missing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.core.db import TenantReads
from bpo.core.errors import NotFound
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.staffing import models, selfservice
from tests.support.factories import (
    create_api_key,
    create_client,
    create_tenant,
    create_user,
    get_ok,
    headers_for,
    onboard,
)
from tests.support.staffing import add_assignment, add_shift, staff_login


def _admin_scope(tenant_id: uuid.UUID) -> Scope:
    return Scope(tenant_id=tenant_id, principal_id=uuid.uuid4(), role=Role.ADMIN)


class TestContracts:
    async def test_another_tenants_or_clients_contract_is_a_404(self, client: httpx.AsyncClient) -> None:
        mine, theirs = await create_tenant(client), await create_tenant(client)
        setup = await onboard(client, theirs)
        path = f"/v1/contracts/{setup['contract']['id']}"
        body = await get_ok(client, path, theirs.admin)
        assert body["id"] == setup["contract"]["id"]
        assert (await client.get(path, headers=mine.admin)).status_code == 404

        other = await create_client(client, theirs)
        _, other_viewer = await create_user(client, theirs, role="client_viewer", client_id=other["id"])
        _, own_viewer = await create_user(
            client, theirs, role="client_viewer", client_id=setup["client"]["id"]
        )
        other_key = await create_api_key(client, theirs, client_id=uuid.UUID(other["id"]))
        assert (await client.get(path, headers=other_viewer)).status_code == 404
        assert (await client.get(path, headers=headers_for(other_key["key"]))).status_code == 404
        assert (await get_ok(client, path, own_viewer)) == body
        missing = await client.get(f"/v1/contracts/{uuid.uuid4()}", headers=theirs.admin)
        assert missing.status_code == 404

    async def test_row_level_security_stops_a_read_that_names_the_wrong_tenant(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        """Even with the other tenant's id in the query itself, the transaction's tenant decides."""
        mine, theirs = await create_tenant(client), await create_tenant(client)
        setup = await onboard(client, theirs)
        contract_id = uuid.UUID(setup["contract"]["id"])
        as_theirs = _admin_scope(theirs.id)
        reads = TenantReads(runtime.db, mine.id)
        with pytest.raises(NotFound):
            await contracts.get_contract(reads, as_theirs, contract_id)
        async with reads.transaction() as read:
            with pytest.raises(NotFound):
                await contracts.contract_labels(read, as_theirs, [contract_id])
        async with reads.transaction() as read:
            with pytest.raises(NotFound):
                await clients.site_names(read, as_theirs, [uuid.UUID(setup["site"]["id"])])
        with pytest.raises(NotFound):
            await clients.get_client(reads, as_theirs, uuid.UUID(setup["client"]["id"]))
        own = await contracts.get_contract(TenantReads(runtime.db, theirs.id), as_theirs, contract_id)
        assert str(own.id) == setup["contract"]["id"]


class TestMe:
    async def test_each_caller_reads_their_own_user_and_tenant(self, client: httpx.AsyncClient) -> None:
        first, second = await create_tenant(client), await create_tenant(client)
        for tenant in (first, second):
            body = await get_ok(client, "/v1/me", tenant.admin)
            assert body["tenant"] == tenant.slug
            assert body["user"]["email"] == tenant.admin_email
            assert body["language"] == "ja"


class TestMyShifts:
    async def test_shifts_labels_and_coworkers_come_from_the_callers_tenant_only(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        mine, theirs = await create_tenant(client), await create_tenant(client)
        own_setup, their_setup = await onboard(client, mine), await onboard(client, theirs)
        me, my_headers = await staff_login(client, runtime, mine, "Aiko Sato")
        colleague, _ = await staff_login(client, runtime, mine, "Ben Ito")
        stranger, stranger_headers = await staff_login(client, runtime, theirs, "Chie Mori")
        start, end = datetime(2026, 3, 2, 0, tzinfo=UTC), datetime(2026, 3, 2, 8, tzinfo=UTC)
        shift = await add_shift(
            runtime,
            mine,
            own_setup["contract"]["id"],
            start,
            end,
            headcount=2,
            site_id=own_setup["site"]["id"],
        )
        await add_assignment(runtime, mine, shift, me)
        await add_assignment(runtime, mine, shift, colleague)
        their_shift = await add_shift(runtime, theirs, their_setup["contract"]["id"], start, end)
        await add_assignment(runtime, theirs, their_shift, stranger)

        window = {"from": "2026-03-01", "to": "2026-03-03", "tz": "UTC"}
        [item] = (await get_ok(client, "/v1/me/shifts", my_headers, **window))["items"]
        assert item["shift_id"] == str(shift)
        assert item["contract_name"] == own_setup["contract"]["name"]
        assert item["client_name"] == own_setup["client"]["name"]
        assert item["site"] == {"id": own_setup["site"]["id"], "name": own_setup["site"]["name"]}
        assert item["coworkers"] == ["Ben"]
        [their_item] = (await get_ok(client, "/v1/me/shifts", stranger_headers, **window))["items"]
        assert their_item["shift_id"] == str(their_shift)
        assert their_item["coworkers"] == []

    async def test_the_hot_listing_equals_the_session_listing(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        me, _ = await staff_login(client, runtime, tenant, "Aiko Sato", zone="Europe/London")
        colleague, _ = await staff_login(client, runtime, tenant, "Ben Ito")
        for day in (2, 3):
            shift = await add_shift(
                runtime,
                tenant,
                setup["contract"]["id"],
                datetime(2026, 3, day, 0, tzinfo=UTC),
                datetime(2026, 3, day, 8, tzinfo=UTC),
                headcount=2,
                site_id=setup["site"]["id"] if day == 2 else None,
            )
            await add_assignment(runtime, tenant, shift, me)
            await add_assignment(runtime, tenant, shift, colleague)
        async with runtime.db.tenant(tenant.id) as session:
            user_id = await session.scalar(select(models.Staff.user_id).where(models.Staff.id == me))
        scope = Scope(tenant_id=tenant.id, principal_id=user_id, role=Role.STAFF, staff_id=me)
        async with runtime.db.tenant(tenant.id) as session:
            expected = await selfservice.my_shifts(
                session, scope, start=datetime(2026, 3, 1).date(), end=None, tz=None
            )
        hot = await selfservice.read_my_shifts(
            TenantReads(runtime.db, tenant.id), scope, start=datetime(2026, 3, 1).date(), end=None, tz=None
        )
        assert hot == expected
        assert len(hot.items) == 2


class TestRowById:
    """One row by id in one statement (``bpo_row_by_id``): the tenant is set inside the statement, and
    nothing of it stays behind on the connection or in a transaction that calls it."""

    async def test_row_level_security_alone_hides_another_tenants_row(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        mine, theirs = await create_tenant(client), await create_tenant(client)
        setup = await onboard(client, theirs)
        client_id = uuid.UUID(setup["client"]["id"])
        # The statement names no tenant in its WHERE clause: only the tenant it sets decides.
        assert await runtime.db.row_by_id(mine.id, clients._CLIENT_BY_ID, client_id) is None
        row = await runtime.db.row_by_id(theirs.id, clients._CLIENT_BY_ID, client_id)
        assert row is not None
        assert row["id"] == client_id
        assert row["tenant_id"] == theirs.id

    async def test_no_tenant_setting_is_left_on_the_connection(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        pool = await runtime.db._hot_connections()
        async with pool.acquire() as driver:
            row = await driver.fetchrow(
                clients._CLIENT_BY_ID.sql, tenant.id, uuid.UUID(setup["client"]["id"])
            )
            assert row is not None
            assert await driver.fetchval("SELECT current_setting('bpo.tenant_id', true)") in (None, "")
            # With no tenant set, the same table reads as empty.
            assert await driver.fetchval("SELECT count(*) FROM clients") == 0

    async def test_a_transaction_keeps_its_own_tenant_after_a_call_for_another(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        mine, theirs = await create_tenant(client), await create_tenant(client)
        setup = await onboard(client, theirs)
        pool = await runtime.db._hot_connections()
        async with pool.acquire() as driver, driver.transaction(readonly=True):
            await driver.execute(f"SELECT set_config('bpo.tenant_id', '{mine.id}', true)")
            row = await driver.fetchrow(
                clients._CLIENT_BY_ID.sql, theirs.id, uuid.UUID(setup["client"]["id"])
            )
            assert row is not None
            assert await driver.fetchval("SELECT current_setting('bpo.tenant_id', true)") == str(mine.id)

    async def test_a_call_without_a_tenant_is_refused(self, runtime: Runtime) -> None:
        pool = await runtime.db._hot_connections()
        async with pool.acquire() as driver:
            with pytest.raises(asyncpg.RaiseError, match="no tenant"):
                await driver.fetchrow(clients._CLIENT_BY_ID.sql, None, uuid.uuid4())
