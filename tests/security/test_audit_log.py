"""The audit log: what changes to contracts, rate plans and invoices record, reading it as an admin, and
the database refusing to rewrite it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from bpo.billing.invoice_runs import run_period_now
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.settings import Settings
from tests.security.world import ITEMS
from tests.support.database import owner_connection
from tests.support.factories import TenantHandle, create_tenant, create_user, onboard, post_ok
from tests.support.problems import assert_problem, error_fields


async def audit(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get("/v1/audit-events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def actions(client: httpx.AsyncClient, tenant: TenantHandle, **params: str) -> list[str]:
    return [event["action"] for event in (await audit(client, tenant.admin, **params))["items"]]


async def admin_id(client: httpx.AsyncClient, tenant: TenantHandle) -> str:
    me = await client.get("/v1/me", headers=tenant.admin)
    user_id: str = me.json()["user"]["id"]
    return user_id


class TestWhatIsRecorded:
    async def test_contract_and_rate_plan_changes(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract = setup["contract"]["id"]
        h = tenant.admin
        response = await client.patch(f"/v1/contracts/{contract}", json={"name": "Renamed"}, headers=h)
        assert response.status_code == 200, response.text
        await post_ok(client, f"/v1/contracts/{contract}/transitions", {"status": "active"}, h)

        trail = (await audit(client, h, object_type="contract", object_id=contract))["items"]

        assert [e["action"] for e in trail] == [
            "contract.created",
            "rate_plan.created",
            "contract.updated",
            "contract.status_changed",
        ]
        assert trail[1]["detail"]["version_id"] == setup["rate_plan"]["id"]
        assert trail[2]["detail"]["fields"] == ["name"]
        assert trail[3]["detail"] == {"status_from": "draft", "status_to": "active"}
        assert {e["actor_id"] for e in trail} == {await admin_id(client, tenant)}

    async def test_invoice_drafts_and_transitions(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract, h = setup["contract"]["id"], tenant.admin
        await post_ok(client, f"/v1/contracts/{contract}/transitions", {"status": "active"}, h)
        await post_ok(client, "/v1/work-items:batch", {"contract_id": contract, "items": ITEMS}, h)
        await run_period_now(runtime, system_scope(tenant.id), "2026-10")
        await run_period_now(runtime, system_scope(tenant.id), "2026-10")
        invoice = (await client.get("/v1/invoices", headers=h)).json()["items"][0]["id"]
        await post_ok(client, f"/v1/invoices/{invoice}/finalize", {}, h)

        trail = (await audit(client, h, object_type="invoice", object_id=invoice))["items"]

        assert [e["action"] for e in trail] == [
            "invoice.draft_created",
            "invoice.draft_replaced",
            "invoice.finalized",
        ]
        assert trail[0]["detail"] == {"period": "2026-10-01"}
        assert trail[0]["actor_id"] == str(uuid.UUID(int=0))
        assert trail[2]["actor_id"] == await admin_id(client, tenant)


class TestReading:
    async def test_filters_and_keyset_pages(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        manager, manager_headers = await create_user(client, tenant, role="account_manager")
        before = datetime.now(UTC)
        setup = await onboard(client, tenant)
        customer = setup["client"]["id"]
        response = await client.patch(
            f"/v1/clients/{customer}", json={"name": "By manager"}, headers=manager_headers
        )
        assert response.status_code == 200, response.text
        h = tenant.admin

        everything = await actions(client, tenant)
        assert everything[:2] == ["user.created", "user.created"]
        assert everything.count("client.updated") == 1
        by_manager = (await audit(client, h, actor_id=manager["id"]))["items"]
        assert [(e["action"], e["object_id"]) for e in by_manager] == [("client.updated", customer)]
        assert await actions(client, tenant, object_type="client", object_id=customer) == [
            "client.created",
            "client.updated",
        ]
        since = await actions(client, tenant, **{"from": before.isoformat()})
        assert "user.created" not in since
        assert since == everything[2:]
        assert await actions(client, tenant, to=before.isoformat()) == everything[:2]

        pages, cursor = [], None
        while True:
            page = await audit(client, h, limit="3", **({"cursor": cursor} if cursor else {}))
            pages.append([e["action"] for e in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [a for p in pages for a in p] == everything
        assert all(len(p) == 3 for p in pages[:-1])

    async def test_admins_only_and_never_another_tenants(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        other = await create_tenant(client)
        contract = setup["contract"]["id"]
        for role in ("account_manager", "supervisor", "staff"):
            _, headers = await create_user(client, tenant, role=role)
            assert_problem(await client.get("/v1/audit-events", headers=headers), 403, "forbidden")
        _, viewer = await create_user(client, tenant, role="client_viewer", client_id=setup["client"]["id"])
        assert_problem(await client.get("/v1/audit-events", headers=viewer), 403, "forbidden")
        assert_problem(await client.get("/v1/audit-events"), 401)

        theirs = await audit(client, other.admin, object_id=contract)
        assert theirs["items"] == []
        assert all(e["object_id"] != contract for e in (await audit(client, other.admin))["items"])

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "2026-10-01T00:00:00"}, "from"),
            ({"to": "2026-10-01T00:00:00"}, "to"),
            ({"from": "2026-10-02T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "to"),
            ({"from": "yesterday"}, "from"),
            ({"to": "0.5"}, "to"),
            ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
            ({"to": "9999-12-31T23:59:59-14:00"}, "to"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ],
    )
    async def test_bad_queries_name_the_field(
        self, client: httpx.AsyncClient, params: dict[str, str], field: str
    ) -> None:
        tenant = await create_tenant(client)
        response = await client.get("/v1/audit-events", params=params, headers=tenant.admin)
        assert field in error_fields(assert_problem(response, 422, "validation-error"))

    @pytest.mark.parametrize("params", [{"object_id": "nope"}, {"limit": "0"}, {"object_type": "x" * 65}])
    async def test_malformed_parameters(self, client: httpx.AsyncClient, params: dict[str, str]) -> None:
        tenant = await create_tenant(client)
        response = await client.get("/v1/audit-events", params=params, headers=tenant.admin)
        assert_problem(response, 422, "validation-error")


class TestAppendOnly:
    async def test_the_application_role_cannot_change_or_delete(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        for statement in (
            "UPDATE audit_events SET action = 'rewritten' WHERE tenant_id = :t",
            "DELETE FROM audit_events WHERE tenant_id = :t",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(Exception, match=r"permission denied|append-only"):
                async with runtime.db.tenant(tenant.id) as session:
                    await session.execute(text(statement), {"t": tenant.id})
        assert (await actions(client, tenant)) == ["user.created"]

    async def test_not_even_the_schema_owner(self, client: httpx.AsyncClient, settings: Settings) -> None:
        tenant = await create_tenant(client)
        owner = await owner_connection(settings)
        try:
            for statement in (
                "UPDATE audit_events SET action = 'rewritten' WHERE tenant_id = $1",
                "DELETE FROM audit_events WHERE tenant_id = $1",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                    await owner.execute(statement, tenant.id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await owner.execute("TRUNCATE audit_events")
            rows = await owner.fetch("SELECT action FROM audit_events WHERE tenant_id = $1", tenant.id)
        finally:
            await owner.close()
        assert [r["action"] for r in rows] == ["user.created"]
        # Inserting stays possible: the log grows.
        assert (await actions(client, tenant)) == ["user.created"]
