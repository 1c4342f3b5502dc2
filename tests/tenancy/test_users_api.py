from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.factories import (
    PASSWORD,
    create_api_key,
    create_client,
    create_tenant,
    create_user,
    login,
)
from tests.support.problems import assert_problem


def _comparable(problem: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in problem.items() if k not in {"instance", "request_id", "detail"}}


class TestUsers:
    async def test_create_read_update_deactivate(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        body = {"email": "Hana@Example.com", "role": "staff", "password": PASSWORD, "full_name": "Hana"}
        created = await client.post("/v1/users", json=body, headers=tenant.admin)
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["email"] == "hana@example.com"
        assert user["role"] == "staff"
        assert user["is_active"] is True
        assert "password" not in user
        assert "password_hash" not in user

        got = await client.get(f"/v1/users/{user['id']}", headers=tenant.admin)
        assert got.json() == user

        patched = await client.patch(
            f"/v1/users/{user['id']}",
            json={"full_name": "Hana S.", "role": "supervisor"},
            headers=tenant.admin,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["full_name"] == "Hana S."
        assert patched.json()["role"] == "supervisor"

        assert (await client.delete(f"/v1/users/{user['id']}", headers=tenant.admin)).status_code == 204
        assert (await client.get(f"/v1/users/{user['id']}", headers=tenant.admin)).json()[
            "is_active"
        ] is False

    async def test_duplicate_email_is_409_and_writes_nothing(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        body = {"email": "dup@example.com", "role": "staff", "password": PASSWORD}
        assert (await client.post("/v1/users", json=body, headers=tenant.admin)).status_code == 201
        again = await client.post(
            "/v1/users", json={**body, "email": "DUP@example.com"}, headers=tenant.admin
        )
        assert_problem(again, 409, "duplicate-email")
        users = (await client.get("/v1/users", headers=tenant.admin)).json()["items"]
        assert sorted(u["email"] for u in users) == sorted([tenant.admin_email, "dup@example.com"])

    async def test_same_email_in_two_tenants_is_two_users(self, client: httpx.AsyncClient) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        body = {"email": "shared@example.com", "role": "staff", "password": PASSWORD}
        assert (await client.post("/v1/users", json=body, headers=a.admin)).status_code == 201
        assert (await client.post("/v1/users", json=body, headers=b.admin)).status_code == 201

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"role": "client_viewer"}, "client_id"),
            ({"role": "staff", "client_id": str(uuid.uuid4())}, "client_id"),
            ({"role": "client_viewer", "client_id": str(uuid.uuid4())}, "client_id"),
            ({"role": "api_client"}, "role"),
            ({"role": "owner"}, "role"),
            ({"role": "staff", "password": "short"}, "password"),
            ({"role": "staff", "email": "not-an-email"}, "email"),
        ],
    )
    async def test_invalid_users_are_rejected(
        self, client: httpx.AsyncClient, body: dict[str, str], field: str
    ) -> None:
        tenant = await create_tenant(client)
        full = {"email": "new@example.com", "password": PASSWORD, **body}
        problem = assert_problem(await client.post("/v1/users", json=full, headers=tenant.admin), 422)
        assert field in str(problem["errors"]), problem
        emails = [u["email"] for u in (await client.get("/v1/users", headers=tenant.admin)).json()["items"]]
        assert emails == [tenant.admin_email]

    async def test_client_viewer_is_bound_to_a_client(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        client_id = uuid.UUID((await create_client(client, tenant))["id"])
        viewer, headers = await create_user(client, tenant, role="client_viewer", client_id=client_id)
        assert viewer["client_id"] == str(client_id)
        who = (await client.get("/v1/whoami", headers=headers)).json()
        assert who["client_id"] == str(client_id)
        assert who["role"] == "client_viewer"

    async def test_admin_cannot_deactivate_self(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        me = (await client.get("/v1/me", headers=tenant.admin)).json()["user"]
        assert_problem(
            await client.delete(f"/v1/users/{me['id']}", headers=tenant.admin), 409, "self-deactivation"
        )

    async def test_pagination(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        for _ in range(4):
            await create_user(client, tenant, role="staff")
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/users", params=params, headers=tenant.admin)).json()
            assert len(page["items"]) <= 2
            seen += [u["id"] for u in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert len(seen) == len(set(seen)) == 5
        staff_only = (await client.get("/v1/users", params={"role": "staff"}, headers=tenant.admin)).json()
        assert len(staff_only["items"]) == 4

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 201}, {"limit": "many"}, {"cursor": "!!!"}, {"role": "boss"}]
    )
    async def test_bad_paging_parameters(self, client: httpx.AsyncClient, params: dict[str, object]) -> None:
        tenant = await create_tenant(client)
        assert_problem(await client.get("/v1/users", params=params, headers=tenant.admin), 422)


class TestRoleGuards:
    @pytest.mark.parametrize(
        ("role", "may_read", "may_write"),
        [
            ("admin", True, True),
            ("account_manager", True, False),
            ("supervisor", True, False),
            ("staff", False, False),
            ("client_viewer", False, False),
        ],
    )
    async def test_user_management_by_role(
        self, client: httpx.AsyncClient, role: str, may_read: bool, may_write: bool
    ) -> None:
        tenant = await create_tenant(client)
        viewer_of = (
            uuid.UUID((await create_client(client, tenant))["id"]) if role == "client_viewer" else None
        )
        _, headers = await create_user(client, tenant, role=role, client_id=viewer_of)
        target, _ = await create_user(client, tenant, role="staff")
        reads = [
            await client.get("/v1/users", headers=headers),
            await client.get(f"/v1/users/{target['id']}", headers=headers),
        ]
        writes = [
            await client.post(
                "/v1/users",
                json={"email": "x@example.com", "role": "staff", "password": PASSWORD},
                headers=headers,
            ),
            await client.patch(f"/v1/users/{target['id']}", json={"full_name": "changed"}, headers=headers),
            await client.delete(f"/v1/users/{target['id']}", headers=headers),
        ]
        for response in reads:
            assert (response.status_code == 200) is may_read, response.text
            if not may_read:
                assert_problem(response, 403, "forbidden")
        for response in writes:
            assert (response.status_code < 300) is may_write, response.text
            if not may_write:
                assert_problem(response, 403, "forbidden")
        me = await client.get("/v1/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["user"]["role"] == role
        if not may_write:
            after = (await client.get(f"/v1/users/{target['id']}", headers=tenant.admin)).json()
            assert after["full_name"] == ""
            assert after["is_active"] is True


class TestIsolation:
    """Another tenant's objects are 404 on every route that takes an id, exactly like missing ones."""

    async def test_cross_tenant_reads_updates_deletes_are_404(self, client: httpx.AsyncClient) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        victim, _ = await create_user(client, a, role="staff")
        key = await create_api_key(client, a)
        missing = str(uuid.uuid4())
        calls = [
            ("GET", "/v1/users/{id}", victim["id"], None),
            ("PATCH", "/v1/users/{id}", victim["id"], {"full_name": "pwned", "role": "admin"}),
            ("DELETE", "/v1/users/{id}", victim["id"], None),
            ("DELETE", "/v1/api-keys/{id}", key["id"], None),
        ]
        for method, template, object_id, body in calls:
            theirs = await client.request(method, template.format(id=object_id), json=body, headers=b.admin)
            absent = await client.request(method, template.format(id=missing), json=body, headers=b.admin)
            assert_problem(theirs, 404, "not-found")
            assert_problem(absent, 404, "not-found")
            assert _comparable(theirs.json()) == _comparable(absent.json()), (method, template)
        # Nothing changed for tenant A.
        after = (await client.get(f"/v1/users/{victim['id']}", headers=a.admin)).json()
        assert {**after, "last_login_at": None} == {**victim, "last_login_at": None}
        assert (await client.get("/v1/whoami", headers={"X-API-Key": key["key"]})).status_code == 200
        await login(client, a.slug, victim["email"])
        # And B's listings never include A's objects.
        b_users = (await client.get("/v1/users", headers=b.admin)).json()["items"]
        assert victim["id"] not in [u["id"] for u in b_users]
        assert (await client.get("/v1/api-keys", headers=b.admin)).json()["items"] == []

    async def test_malformed_ids_are_404_not_500(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        for path in ("/v1/users/not-a-uuid", "/v1/users/123", "/v1/api-keys/zzz"):
            response = await client.request(
                "DELETE" if "api-keys" in path else "GET", path, headers=tenant.admin
            )
            assert response.status_code in (404, 405), response.text
            assert response.headers["content-type"].startswith("application/problem+json")
