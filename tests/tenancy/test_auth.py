from __future__ import annotations

import time
import uuid

import httpx
import jwt
import msgspec
import pytest

from bpo.core.runtime import Runtime
from bpo.settings import Settings
from bpo.tenancy import service
from bpo.tenancy.schemas import CredentialHolder, RefreshRequest
from tests.support.factories import (
    PASSWORD,
    PLATFORM_HEADERS,
    create_api_key,
    create_client,
    create_tenant,
    create_user,
    headers_for,
    login,
)
from tests.support.problems import assert_problem


class TestLogin:
    async def test_login_returns_bearer_tokens(self, client: httpx.AsyncClient, settings: Settings) -> None:
        tenant = await create_tenant(client)
        tokens = await login(client, tenant.slug, tenant.admin_email)
        assert tokens["token_type"] == "bearer"
        assert tokens["expires_in"] == settings.access_token_ttl_seconds
        assert tokens["refresh_token"].startswith("rt_")
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["tid"] == str(tenant.id)
        assert claims["role"] == "admin"
        assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
        me = await client.get("/v1/me", headers=headers_for(tokens["access_token"]))
        assert me.status_code == 200
        assert me.json()["user"]["email"] == tenant.admin_email
        assert me.json()["user"]["last_login_at"] is not None

    async def test_email_is_case_insensitive(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        await login(client, tenant.slug, tenant.admin_email.upper())

    @pytest.mark.parametrize("field", ["tenant", "email", "password"])
    async def test_wrong_credentials_are_one_indistinct_401(
        self, client: httpx.AsyncClient, field: str
    ) -> None:
        tenant = await create_tenant(client)
        body = {"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
        body[field] = {
            "tenant": "no-such-tenant",
            "email": "nobody@x.example",
            "password": "wrong-password!",
        }[field]
        problem = assert_problem(await client.post("/v1/auth/token", json=body), 401, "invalid-credentials")
        assert problem["detail"] == "Unknown tenant, email or password."

    async def test_user_of_another_tenant_cannot_log_in_here(self, client: httpx.AsyncClient) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        response = await client.post(
            "/v1/auth/token", json={"tenant": b.slug, "email": a.admin_email, "password": PASSWORD}
        )
        assert_problem(response, 401, "invalid-credentials")

    async def test_login_is_rate_limited_per_account(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        wrong = {"tenant": tenant.slug, "email": tenant.admin_email, "password": "not-the-password"}
        for _ in range(settings.login_attempts_per_window):
            assert (await client.post("/v1/auth/token", json=wrong)).status_code == 401
        limited = await client.post("/v1/auth/token", json=wrong)
        assert_problem(limited, 429, "rate-limited")
        assert int(limited.headers["retry-after"]) > 0
        # Even the right password is refused until the window passes.
        right = {**wrong, "password": PASSWORD}
        assert_problem(await client.post("/v1/auth/token", json=right), 429)
        # Other accounts are not affected.
        other = await create_tenant(client)
        await login(client, other.slug, other.admin_email)

    async def test_deactivated_user_cannot_log_in(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        assert (await client.delete(f"/v1/users/{user['id']}", headers=tenant.admin)).status_code == 204
        response = await client.post(
            "/v1/auth/token", json={"tenant": tenant.slug, "email": user["email"], "password": PASSWORD}
        )
        assert_problem(response, 401, "invalid-credentials")


class TestAccessTokens:
    async def test_expired_token_is_401(self, client: httpx.AsyncClient, settings: Settings) -> None:
        tenant = await create_tenant(client)
        tokens = await login(client, tenant.slug, tenant.admin_email)
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        claims["exp"] = int(time.time()) - 1
        expired = jwt.encode(claims, settings.signing_key(), algorithm="HS256")
        response = await client.get("/v1/me", headers=headers_for(expired))
        assert_problem(response, 401, "token-expired")
        assert "invalid_token" in response.headers["www-authenticate"]

    async def test_token_for_another_tenant_cannot_be_forged(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        tokens = await login(client, a.slug, a.admin_email)
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        claims["tid"] = str(b.id)
        forged = jwt.encode(claims, "not-the-server-key-" + "x" * 32, algorithm="HS256")
        assert_problem(await client.get("/v1/me", headers=headers_for(forged)), 401, "invalid-token")
        unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
        assert_problem(await client.get("/v1/me", headers=headers_for(unsigned)), 401, "invalid-token")

    @pytest.mark.parametrize(
        "header",
        [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer bpo_notakey"],
    )
    async def test_missing_or_garbage_credentials(
        self, client: httpx.AsyncClient, header: str | None
    ) -> None:
        headers = {"Authorization": header} if header is not None else {}
        response = await client.get("/v1/me", headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


class TestRefreshTokens:
    async def test_refresh_rotates_and_reuse_revokes_everything(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        first = await login(client, tenant.slug, tenant.admin_email)
        rotated = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert (await client.get("/v1/me", headers=headers_for(second["access_token"]))).status_code == 200
        # Replaying the used token looks like theft: every session of the user ends.
        replay = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert_problem(replay, 401, "token-reused")
        after = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert_problem(after, 401)

    async def test_revoke_logs_out(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        tokens = await login(client, tenant.slug, tenant.admin_email)
        response = await client.post("/v1/auth/revoke", json={"refresh_token": tokens["refresh_token"]})
        assert response.status_code == 204
        refused = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401

    async def test_password_change_ends_refresh(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        tokens = await login(client, tenant.slug, user["email"])
        changed = await client.patch(
            f"/v1/users/{user['id']}", json={"password": "a-brand-new-password"}, headers=tenant.admin
        )
        assert changed.status_code == 200, changed.text
        refused = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401
        await login(client, tenant.slug, user["email"], "a-brand-new-password")

    @pytest.mark.parametrize("token", ["", "rt_", "rt_" + "0" * 32 + "_" + "x" * 43, "garbage"])
    async def test_bad_refresh_tokens(self, client: httpx.AsyncClient, token: str) -> None:
        response = await client.post("/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code in (401, 422)
        assert response.headers["content-type"].startswith("application/problem+json")

    async def test_refresh_token_of_tenant_a_is_useless_with_tenant_b_id(
        self, client: httpx.AsyncClient
    ) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        tokens = await login(client, a.slug, a.admin_email)
        _, _, secret = tokens["refresh_token"].partition("_")[2].partition("_")
        moved = f"rt_{b.id.hex}_{secret}"
        assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": moved}), 401)


class TestApiKeys:
    async def test_key_is_shown_once_and_authenticates_scoped_to_its_client(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        client_id = uuid.UUID((await create_client(client, tenant))["id"])
        created = await create_api_key(client, tenant, client_id=client_id)
        key = created["key"]
        assert key.startswith(f"bpo_{tenant.id.hex}_")
        assert created["prefix"] == key.split("_", 2)[2][:12]
        listed = (await client.get("/v1/api-keys", headers=tenant.admin)).json()["items"]
        assert [k["id"] for k in listed] == [created["id"]]
        assert "key" not in listed[0]
        assert listed[0]["prefix"] == created["prefix"]
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            who = await client.get("/v1/whoami", headers=headers)
            assert who.status_code == 200, who.text
            assert who.json()["kind"] == "api_key"
            assert who.json()["role"] == "api_client"
            assert who.json()["client_id"] == str(client_id)
            assert who.json()["tenant_id"] == str(tenant.id)
        # A machine key is not a user: user routes refuse it.
        assert_problem(await client.get("/v1/users", headers={"X-API-Key": key}), 403)
        used = (await client.get("/v1/api-keys", headers=tenant.admin)).json()["items"][0]
        assert used["last_used_at"] is not None

    async def test_revocation_is_immediate(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        created = await create_api_key(client, tenant)
        headers = {"X-API-Key": created["key"]}
        assert (await client.get("/v1/whoami", headers=headers)).status_code == 200
        assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=tenant.admin)).status_code == 204
        assert_problem(await client.get("/v1/whoami", headers=headers), 401, "invalid-api-key")
        listed = (await client.get("/v1/api-keys", headers=tenant.admin)).json()["items"]
        assert listed[0]["revoked_at"] is not None

    async def test_tampered_key_is_refused(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        key = (await create_api_key(client, tenant))["key"]
        tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
        assert_problem(
            await client.get("/v1/whoami", headers={"X-API-Key": tampered}), 401, "invalid-api-key"
        )
        other = await create_tenant(client)
        moved = f"bpo_{other.id.hex}_{key.split('_', 2)[2]}"
        assert_problem(await client.get("/v1/whoami", headers={"X-API-Key": moved}), 401, "invalid-api-key")

    @pytest.mark.parametrize("role", ["supervisor", "staff"])
    async def test_only_admins_and_account_managers_manage_keys(
        self, client: httpx.AsyncClient, role: str
    ) -> None:
        tenant = await create_tenant(client)
        _, headers = await create_user(client, tenant, role=role)
        body = {"name": "k", "client_id": (await create_client(client, tenant))["id"]}
        assert_problem(await client.post("/v1/api-keys", json=body, headers=headers), 403)
        assert_problem(await client.get("/v1/api-keys", headers=headers), 403)
        _, manager = await create_user(client, tenant, role="account_manager")
        assert (await client.post("/v1/api-keys", json=body, headers=manager)).status_code == 201


class TestPlatform:
    async def test_platform_token_required(self, client: httpx.AsyncClient) -> None:
        body = {"slug": "nope-" + uuid.uuid4().hex[:6], "name": "N", "admin_email": "a@b.example"}
        assert_problem(await client.post("/v1/platform/tenants", json=body), 401)
        wrong = {"Authorization": "Bearer not-the-platform-token"}
        assert_problem(await client.post("/v1/platform/tenants", json=body, headers=wrong), 401)
        tenant = await create_tenant(client)
        # A tenant admin's token is not a platform token.
        assert_problem(await client.get("/v1/platform/tenants", headers=tenant.admin), 401)
        listed = await client.get("/v1/platform/tenants", params={"limit": 200}, headers=PLATFORM_HEADERS)
        assert listed.status_code == 200

    async def test_create_get_and_duplicate(self, client: httpx.AsyncClient) -> None:
        slug = "op-" + uuid.uuid4().hex[:8]
        body = {"slug": slug, "name": "Operator", "admin_email": f"root@{slug}.example"}
        created = await client.post("/v1/platform/tenants", json=body, headers=PLATFORM_HEADERS)
        assert created.status_code == 201, created.text
        password = created.json()["admin_password"]
        assert password
        assert len(password) >= 16
        await login(client, slug, f"root@{slug}.example", password)
        got = await client.get(f"/v1/platform/tenants/{slug}", headers=PLATFORM_HEADERS)
        assert got.json()["id"] == created.json()["tenant"]["id"]
        assert_problem(
            await client.post("/v1/platform/tenants", json=body, headers=PLATFORM_HEADERS),
            409,
            "duplicate-tenant",
        )
        assert_problem(await client.get("/v1/platform/tenants/no-such-one", headers=PLATFORM_HEADERS), 404)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("slug", "Bad Slug"),
            ("slug", "-x"),
            ("admin_email", "not-an-email"),
            ("time_zone", "Mars/Olympus"),
        ],
    )
    async def test_invalid_tenant_is_rejected(
        self, client: httpx.AsyncClient, field: str, value: str
    ) -> None:
        body = {"slug": "ok-" + uuid.uuid4().hex[:6], "name": "N", "admin_email": "a@b.example", field: value}
        problem = assert_problem(
            await client.post("/v1/platform/tenants", json=body, headers=PLATFORM_HEADERS), 422
        )
        assert field in str(problem["errors"])
        slug = body["slug"]
        assert (await client.get(f"/v1/platform/tenants/{slug}", headers=PLATFORM_HEADERS)).status_code == 404


class TestBrowserSessionRenewal:
    async def test_revoking_the_login_refresh_token_names_its_holder_once(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="supervisor")
        refresh = RefreshRequest(
            refresh_token=(await login(client, tenant.slug, user["email"]))["refresh_token"]
        )
        holder = await service.revoke(runtime, refresh)
        assert holder == CredentialHolder(tenant_id=tenant.id, user_id=uuid.UUID(user["id"]), token_version=0)
        assert await service.revoke(runtime, refresh) is None
        assert (await client.post("/v1/auth/refresh", json={"refresh_token": refresh.refresh_token})).is_error

    async def test_renews_only_while_the_token_version_holds(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="supervisor")
        holder = CredentialHolder(tenant_id=tenant.id, user_id=uuid.UUID(user["id"]), token_version=0)
        token = await service.renew_access_token(runtime, holder)
        assert token is not None
        me = await client.get("/v1/me", headers=headers_for(token))
        assert me.status_code == 200
        assert me.json()["user"]["id"] == user["id"]

        await client.patch(f"/v1/users/{user['id']}", json={"role": "account_manager"}, headers=tenant.admin)
        assert await service.renew_access_token(runtime, holder) is None
        moved_on = msgspec.structs.replace(holder, token_version=1)
        renewed = await service.renew_access_token(runtime, moved_on)
        assert renewed is not None
        assert jwt.decode(renewed, options={"verify_signature": False})["role"] == "account_manager"

        await client.delete(f"/v1/users/{user['id']}", headers=tenant.admin)
        for version in (1, 2):
            assert (
                await service.renew_access_token(
                    runtime, msgspec.structs.replace(moved_on, token_version=version)
                )
                is None
            )

    async def test_not_across_tenants_nor_for_a_retired_tenant(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant, other = await create_tenant(client), await create_tenant(client)
        user, _ = await create_user(client, tenant, role="supervisor")
        holder = CredentialHolder(tenant_id=tenant.id, user_id=uuid.UUID(user["id"]), token_version=0)
        assert (
            await service.renew_access_token(runtime, msgspec.structs.replace(holder, tenant_id=other.id))
            is None
        )
        await service.retire_tenant(runtime, tenant.slug)
        assert await service.renew_access_token(runtime, holder) is None
