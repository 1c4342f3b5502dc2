"""Identity takes effect at once, through the HTTP API: access tokens stop within seconds when their user
is demoted, deactivated or given a new password (in this process and, through Redis, in others); the
last active admin stays one; one spelling per e-mail address and no look-alikes; a login names a staff
profile of its own tenant that no other login names; an unlock lets the person sign in at once."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import httpx
import pytest

from bpo.clients.service import require_client_binding
from bpo.core.errors import Conflict
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, system_scope
from bpo.core.tokens import AccessClaims, issue_access_token
from bpo.settings import Settings
from bpo.tenancy import schemas, service, users
from tests.support.factories import (
    PASSWORD,
    TenantHandle,
    create_api_key,
    create_tenant,
    create_user,
    headers_for,
    login,
    post_ok,
)
from tests.support.jobs import eventually
from tests.support.problems import assert_problem, error_fields

# What "at once" allows: a change made in another process is seen within a second (core.identity).
WITHIN_S = 3.0


async def refused_within(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """Wait until ``headers`` get 401 on ``path``; the problem they get."""

    async def refused() -> bool:
        return (await client.get(path, headers=headers)).status_code == 401

    await eventually(f"{path} to refuse the old token", refused, within=WITHIN_S, every=0.05)
    return assert_problem(await client.get(path, headers=headers), 401, "token-revoked")


async def my_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    me = await client.get("/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    user_id: str = me.json()["user"]["id"]
    return user_id


async def patch_user(
    client: httpx.AsyncClient, user_id: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await client.patch(f"/v1/users/{user_id}", json=body, headers=headers)


class TestTokensEndAtOnce:
    async def test_a_demoted_admin_loses_the_admin_routes(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        admin, headers = await create_user(client, tenant, role="admin")
        assert (await client.get("/v1/audit-events", headers=headers)).status_code == 200

        demoted = await patch_user(client, admin["id"], {"role": "supervisor"}, tenant.admin)

        assert demoted.status_code == 200, demoted.text
        await refused_within(client, "/v1/audit-events", headers)
        assert_problem(await client.get("/v1/users", headers=headers), 401, "token-revoked")
        # Signed in again, the person has what a supervisor has.
        fresh = headers_for((await login(client, tenant.slug, admin["email"]))["access_token"])
        assert (await client.get("/v1/users", headers=fresh)).status_code == 200
        assert_problem(await client.get("/v1/audit-events", headers=fresh), 403, "forbidden")

    async def test_a_deactivated_users_token_is_refused_and_stays_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="supervisor")
        assert (await client.get("/v1/me", headers=headers)).status_code == 200

        assert (await client.delete(f"/v1/users/{user['id']}", headers=tenant.admin)).status_code == 204

        await refused_within(client, "/v1/me", headers)
        reactivated = await patch_user(client, user["id"], {"is_active": True}, tenant.admin)
        assert reactivated.status_code == 200, reactivated.text
        assert_problem(await client.get("/v1/me", headers=headers), 401, "token-revoked")
        fresh = headers_for((await login(client, tenant.slug, user["email"]))["access_token"])
        assert (await client.get("/v1/me", headers=fresh)).status_code == 200

    async def test_a_password_change_ends_the_old_tokens(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="staff")
        new_password = f"another-{uuid.uuid4().hex}"

        changed = await patch_user(client, user["id"], {"password": new_password}, tenant.admin)

        assert changed.status_code == 200, changed.text
        await refused_within(client, "/v1/me", headers)
        fresh = headers_for((await login(client, tenant.slug, user["email"], new_password))["access_token"])
        assert (await client.get("/v1/me", headers=fresh)).status_code == 200

    async def test_a_change_made_in_another_process_is_seen_within_seconds(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="account_manager")
        assert (await client.get("/v1/api-keys", headers=headers)).status_code == 200

        # This test's own runtime, not the server's: only the marker in Redis tells the server.
        async with runtime.db.tenant(tenant.id) as session:
            await users.update_user(
                session,
                system_scope(tenant.id),
                uuid.UUID(user["id"]),
                schemas.UserUpdate(role=Role.STAFF),
                require_client_binding,
            )

        await refused_within(client, "/v1/api-keys", headers)

    async def test_a_retired_tenants_tokens_are_refused(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        _, headers = await create_user(client, tenant, role="supervisor")
        assert (await client.get("/v1/me", headers=headers)).status_code == 200

        await service.retire_tenant(runtime, tenant.slug)

        await refused_within(client, "/v1/me", headers)
        await refused_within(client, "/v1/me", tenant.admin)

    async def test_changes_that_leave_the_access_alone_leave_the_tokens_alone(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="supervisor")

        renamed = await patch_user(client, user["id"], {"full_name": "Hana Sato"}, tenant.admin)

        assert renamed.status_code == 200, renamed.text
        await asyncio.sleep(1.2)
        assert (await client.get("/v1/me", headers=headers)).json()["user"]["full_name"] == "Hana Sato"

    async def test_tokens_of_no_user_or_of_another_version_are_refused(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        admin_id = uuid.UUID(await my_id(client, tenant.admin))
        claims = AccessClaims(
            tenant_id=tenant.id, user_id=admin_id, role=Role.ADMIN, client_id=None, staff_id=None
        )
        key = settings.signing_key()
        current = issue_access_token(key, claims, 60)
        nobody = issue_access_token(key, dataclasses.replace(claims, user_id=uuid.uuid4()), 60)
        ahead = issue_access_token(key, dataclasses.replace(claims, token_version=1), 60)

        assert (await client.get("/v1/whoami", headers=headers_for(current))).status_code == 200
        assert_problem(await client.get("/v1/whoami", headers=headers_for(nobody)), 401, "token-revoked")
        assert_problem(await client.get("/v1/whoami", headers=headers_for(ahead)), 401, "token-revoked")

    async def test_a_revoked_api_key_is_refused_at_once(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        key = await create_api_key(client, tenant)
        headers = {"X-API-Key": key["key"]}
        assert (await client.get("/v1/whoami", headers=headers)).status_code == 200

        revoked = await client.delete(f"/v1/api-keys/{key['id']}", headers=tenant.admin)

        assert revoked.status_code == 204
        assert_problem(await client.get("/v1/whoami", headers=headers), 401, "invalid-api-key")


class TestLastAdmin:
    async def test_the_last_admin_cannot_step_down(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        me = await my_id(client, tenant.admin)

        refused = await patch_user(client, me, {"role": "account_manager"}, tenant.admin)

        problem = assert_problem(refused, 409, "last-admin")
        assert error_fields(problem) == ["role"]
        assert (await client.get("/v1/me", headers=tenant.admin)).json()["user"]["role"] == "admin"

    async def test_another_admin_may_step_down_until_one_is_left(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        first = await my_id(client, tenant.admin)
        second, second_headers = await create_user(client, tenant, role="admin")

        stepped_down = await patch_user(client, first, {"role": "supervisor"}, tenant.admin)

        assert stepped_down.status_code == 200, stepped_down.text
        assert_problem(
            await patch_user(client, second["id"], {"role": "staff"}, second_headers), 409, "last-admin"
        )
        # An inactive admin is no admin to fall back on.
        made_admin = await patch_user(client, first, {"role": "admin", "is_active": False}, second_headers)
        assert made_admin.status_code == 200, made_admin.text
        assert_problem(
            await patch_user(client, second["id"], {"role": "staff"}, second_headers), 409, "last-admin"
        )

    async def test_the_last_admin_cannot_be_deactivated(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        admin_id = uuid.UUID(await my_id(client, tenant.admin))
        # Only an admin deactivates users over HTTP, and never themselves: the system is the one other actor.
        with pytest.raises(Conflict) as refusal:
            async with runtime.db.tenant(tenant.id) as session:
                await users.update_user(
                    session,
                    system_scope(tenant.id),
                    admin_id,
                    schemas.UserUpdate(is_active=False),
                    require_client_binding,
                )
        assert refusal.value.slug == "last-admin"
        assert [e["field"] for e in refusal.value.errors] == ["is_active"]
        assert (await client.get("/v1/me", headers=tenant.admin)).status_code == 200

    async def test_two_admins_demoting_each_other_at_once_leave_one(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        first = await my_id(client, tenant.admin)
        second, second_headers = await create_user(client, tenant, role="admin")

        answers = await asyncio.gather(
            patch_user(client, second["id"], {"role": "supervisor"}, tenant.admin),
            patch_user(client, first, {"role": "supervisor"}, second_headers),
        )

        assert sorted(a.status_code for a in answers)[0] == 200, [a.text for a in answers]
        assert sorted(a.status_code for a in answers)[1] in (401, 409), [a.text for a in answers]
        roles = []
        for email in (tenant.admin_email, second["email"]):
            fresh = headers_for((await login(client, tenant.slug, email))["access_token"])
            roles.append((await client.get("/v1/me", headers=fresh)).json()["user"]["role"])
        assert sorted(roles) == ["admin", "supervisor"]


class TestEmails:
    async def test_one_spelling_per_address(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        domain = f"{tenant.slug}.example"
        created = await post_ok(
            client,
            "/v1/users",
            {"email": f"Hana.Sato@{domain.upper()}", "role": "staff", "password": PASSWORD},
            tenant.admin,
        )
        assert created["email"] == f"hana.sato@{domain}"
        accented = await post_ok(
            client,
            "/v1/users",
            {"email": f"jos\u00e9@{domain}", "role": "staff", "password": PASSWORD},
            tenant.admin,
        )

        twins = [
            "\uff48\uff41\uff4e\uff41.sato@" + domain,  # full-width
            f"HANA.SATO@{domain}",
            f"jose\u0301@{domain}",  # decomposed
            f"JOS\u00c9@{domain}",
        ]
        for twin in twins:
            body = {"email": twin, "role": "staff", "password": PASSWORD}
            response = await client.post("/v1/users", json=body, headers=tenant.admin)
            assert error_fields(assert_problem(response, 409, "duplicate-email")) == ["email"], twin
        # Every spelling signs in to the one account.
        for spelling in ("\uff28\uff41\uff4e\uff41.Sato@" + domain, f"hana.sato@{domain}"):
            await login(client, tenant.slug, spelling)
        await login(client, tenant.slug, f"jose\u0301@{domain}")
        assert accented["email"] == f"jos\u00e9@{domain}"

    async def test_look_alikes_of_an_address_are_refused(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        domain = f"{tenant.slug}.example"
        await post_ok(
            client,
            "/v1/users",
            {"email": f"paypal@{domain}", "role": "staff", "password": PASSWORD},
            tenant.admin,
        )

        look_alikes = [
            f"p\u0430ypal@{domain}",  # Cyrillic a
            f"payp\u0430l@{domain}",
            f"p\u03b1yp\u03b1l@{domain}",  # Greek alpha
            f"PAYPA\u04c0@{domain}",  # Cyrillic palochka, folded
        ]
        for look_alike in look_alikes:
            body = {"email": look_alike, "role": "staff", "password": PASSWORD}
            problem = assert_problem(
                await client.post("/v1/users", json=body, headers=tenant.admin), 409, "confusable-email"
            )
            assert error_fields(problem) == ["email"]
        different = {"email": f"paypal2@{domain}", "role": "staff", "password": PASSWORD}
        assert (await client.post("/v1/users", json=different, headers=tenant.admin)).status_code == 201
        users = (await client.get("/v1/users", headers=tenant.admin)).json()["items"]
        assert sorted(u["email"] for u in users) == sorted(
            [tenant.admin_email, f"paypal@{domain}", f"paypal2@{domain}"]
        )

    async def test_the_same_look_alike_in_another_tenant_is_another_user(
        self, client: httpx.AsyncClient
    ) -> None:
        a, b = await create_tenant(client), await create_tenant(client)
        await post_ok(
            client,
            "/v1/users",
            {"email": "ann@shared.example", "role": "staff", "password": PASSWORD},
            a.admin,
        )
        await post_ok(
            client,
            "/v1/users",
            {"email": "\u0430nn@shared.example", "role": "staff", "password": PASSWORD},
            b.admin,
        )

    async def test_addresses_that_are_no_address_once_normalised_are_422(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        # A full-width at sign (a second @ once normalised), a zero-width space.
        for email in ("ann\uff20box@example.com", "ad\u200bmin@example.com"):
            body = {"email": email, "role": "staff", "password": PASSWORD}
            problem = assert_problem(await client.post("/v1/users", json=body, headers=tenant.admin), 422)
            assert error_fields(problem) == ["email"], (email, problem)

    async def test_failed_logins_in_any_spelling_count_for_the_one_account(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        full_width = "".join(
            chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in user["email"]
        )
        for _ in range(settings.login_lockout_failures):
            attempt = await client.post(
                "/v1/auth/token",
                json={"tenant": tenant.slug, "email": full_width, "password": "wrong-password-1"},
            )
            assert_problem(attempt, 401, "invalid-credentials")
        locked = await client.post(
            "/v1/auth/token", json={"tenant": tenant.slug, "email": user["email"], "password": PASSWORD}
        )
        assert_problem(locked, 429, "rate-limited")


async def new_staff(client: httpx.AsyncClient, tenant: TenantHandle, **fields: Any) -> str:
    body = {"display_name": f"Person {uuid.uuid4().hex[:4]}", "home_zone": "Asia/Tokyo", "country": "JP"}
    staff_id: str = (await post_ok(client, "/v1/staff", {**body, **fields}, tenant.admin))["id"]
    return staff_id


class TestStaffLink:
    async def test_staff_id_names_a_profile_of_the_tenant(self, client: httpx.AsyncClient) -> None:
        tenant, other = await create_tenant(client), await create_tenant(client)
        mine, theirs = await new_staff(client, tenant), await new_staff(client, other)
        user, _ = await create_user(client, tenant, role="staff")

        for staff_id in (theirs, str(uuid.uuid4())):
            patched = await patch_user(client, user["id"], {"staff_id": staff_id}, tenant.admin)
            assert error_fields(assert_problem(patched, 422, "validation-error")) == ["staff_id"]
            body = {"email": f"n-{uuid.uuid4().hex[:6]}@x.example", "role": "staff", "password": PASSWORD}
            created = await client.post(
                "/v1/users", json={**body, "staff_id": staff_id}, headers=tenant.admin
            )
            assert error_fields(assert_problem(created, 422, "validation-error")) == ["staff_id"]
        assert (await client.get(f"/v1/users/{user['id']}", headers=tenant.admin)).json()["staff_id"] is None
        linked = await patch_user(client, user["id"], {"staff_id": mine}, tenant.admin)
        assert linked.status_code == 200, linked.text
        assert linked.json()["staff_id"] == mine

    async def test_a_profile_has_at_most_one_login(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        first, _ = await create_user(client, tenant, role="staff")
        second, _ = await create_user(client, tenant, role="staff")
        loose = await new_staff(client, tenant)
        # Linked by the staff API: the profile names its login.
        named = await new_staff(client, tenant, user_id=first["id"])

        taken = await patch_user(client, second["id"], {"staff_id": named}, tenant.admin)
        assert error_fields(assert_problem(taken, 409, "staff-already-linked")) == ["staff_id"]
        assert (await patch_user(client, first["id"], {"staff_id": named}, tenant.admin)).status_code == 200
        # Linked by the users API only: the login names the profile.
        assert (await patch_user(client, second["id"], {"staff_id": loose}, tenant.admin)).status_code == 200
        body = {"email": f"n-{uuid.uuid4().hex[:6]}@x.example", "role": "staff", "password": PASSWORD}
        again = await client.post("/v1/users", json={**body, "staff_id": loose}, headers=tenant.admin)
        assert error_fields(assert_problem(again, 409, "staff-already-linked")) == ["staff_id"]
        assert_problem(await patch_user(client, first["id"], {"staff_id": loose}, tenant.admin), 409)

    async def test_deleting_a_profile_unlinks_its_logins(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        staff_id = await new_staff(client, tenant)
        assert (await patch_user(client, user["id"], {"staff_id": staff_id}, tenant.admin)).status_code == 200

        assert (await client.delete(f"/v1/staff/{staff_id}", headers=tenant.admin)).status_code == 204

        assert (await client.get(f"/v1/users/{user['id']}", headers=tenant.admin)).json()["staff_id"] is None


class TestUnlock:
    async def test_an_unlocked_account_signs_in_at_once(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        attempt = {"tenant": tenant.slug, "email": user["email"]}
        for _ in range(settings.login_lockout_failures):
            failed = await client.post("/v1/auth/token", json={**attempt, "password": "wrong-password-1"})
            assert_problem(failed, 401, "invalid-credentials")
        assert_problem(await client.post("/v1/auth/token", json={**attempt, "password": PASSWORD}), 429)

        unlocked = await client.post(f"/v1/users/{user['id']}:unlock", headers=tenant.admin)

        assert unlocked.status_code == 200, unlocked.text
        await login(client, tenant.slug, user["email"])
