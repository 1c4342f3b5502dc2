"""Account lockout, admin unlock and the password policy, through the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from bpo.core.runtime import Runtime
from bpo.settings import Settings
from bpo.tenancy.credentials import password_problems
from tests.support.factories import PASSWORD, TenantHandle, create_tenant, create_user, login
from tests.support.problems import assert_problem, error_fields


async def attempt(client: httpx.AsyncClient, slug: str, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", json={"tenant": slug, "email": email, "password": password})


async def fail_logins(client: httpx.AsyncClient, slug: str, email: str, times: int) -> None:
    for _ in range(times):
        response = await attempt(client, slug, email, "not-the-password-at-all")
        assert_problem(response, 401, "invalid-credentials")


async def end_rate_window(runtime: Runtime, slug: str, email: str) -> None:
    """What the passing of the attempt-rate window does, so only the lockout is left to refuse."""
    await runtime.redis.delete(f"bpo:login:account:{slug}:{email.lower()}")


async def events(client: httpx.AsyncClient, tenant: TenantHandle, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit-events", params=params, headers=tenant.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestLockout:
    async def test_consecutive_failures_lock_the_account_past_the_rate_window(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="supervisor")
        await fail_logins(client, tenant.slug, user["email"], settings.login_lockout_failures)
        await end_rate_window(runtime, tenant.slug, user["email"])

        # Even the right password is refused while locked, for the lockout's length.
        locked = await attempt(client, tenant.slug, user["email"], PASSWORD)
        body = assert_problem(locked, 429, "rate-limited")
        retry = int(locked.headers["retry-after"])
        assert settings.login_window_seconds < retry <= settings.login_lockout_seconds
        assert str(retry) in body["detail"]
        locks = await events(client, tenant, object_id=user["id"])
        assert [e["action"] for e in locks] == ["user.created", "user.locked"]
        assert locks[1]["actor_id"] is None

    async def test_a_success_resets_the_count(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        almost = settings.login_lockout_failures - 1
        await fail_logins(client, tenant.slug, user["email"], almost)
        await login(client, tenant.slug, user["email"])
        await fail_logins(client, tenant.slug, user["email"], almost)
        await end_rate_window(runtime, tenant.slug, user["email"])
        await login(client, tenant.slug, user["email"])

    async def test_an_unknown_account_locks_the_same_way(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        ghost = f"nobody-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
        answers = []
        for email in (user["email"], ghost):
            await fail_logins(client, tenant.slug, email, settings.login_lockout_failures)
            await end_rate_window(runtime, tenant.slug, email)
            answers.append(await attempt(client, tenant.slug, email, PASSWORD))
        # Nothing tells an existing account from a made-up one.
        bodies = [assert_problem(answer, 429, "rate-limited") for answer in answers]
        assert bodies[0]["title"] == bodies[1]["title"]
        assert bodies[0]["detail"].split(";")[0] == bodies[1]["detail"].split(";")[0]
        assert all(int(answer.headers["retry-after"]) > settings.login_window_seconds for answer in answers)

    async def test_other_accounts_are_not_locked(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        victim, _ = await create_user(client, tenant, role="staff")
        colleague, _ = await create_user(client, tenant, role="staff")
        await fail_logins(client, tenant.slug, victim["email"], settings.login_lockout_failures)
        await login(client, tenant.slug, colleague["email"])
        await login(client, tenant.slug, tenant.admin_email)


class TestUnlock:
    async def test_an_admin_unlocks(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="account_manager")
        await fail_logins(client, tenant.slug, user["email"], settings.login_lockout_failures)
        await end_rate_window(runtime, tenant.slug, user["email"])
        assert_problem(await attempt(client, tenant.slug, user["email"], PASSWORD), 429)

        response = await client.post(f"/v1/users/{user['id']}:unlock", headers=tenant.admin)

        assert response.status_code == 200, response.text
        assert response.json()["id"] == user["id"]
        await login(client, tenant.slug, user["email"])
        unlocked = (await events(client, tenant, object_id=user["id"]))[-1]
        assert unlocked["action"] == "user.unlocked"
        assert unlocked["actor_id"] == (await client.get("/v1/me", headers=tenant.admin)).json()["user"]["id"]

    async def test_the_count_starts_over_after_an_unlock(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        await fail_logins(client, tenant.slug, user["email"], settings.login_lockout_failures - 1)
        response = await client.post(f"/v1/users/{user['id']}:unlock", headers=tenant.admin)
        assert response.status_code == 200, response.text
        await fail_logins(client, tenant.slug, user["email"], 1)
        await end_rate_window(runtime, tenant.slug, user["email"])
        await login(client, tenant.slug, user["email"])

    async def test_only_admins_of_the_tenant(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        _, manager = await create_user(client, tenant, role="account_manager")
        other = await create_tenant(client)
        path = f"/v1/users/{user['id']}:unlock"
        assert_problem(await client.post(path, headers=manager), 403, "forbidden")
        assert_problem(await client.post(path, headers=other.admin), 404, "not-found")
        assert_problem(await client.post(path), 401)

    async def test_bad_references(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        for ref in (f"{user['id']}:relock", f"{user['id']}", "not-a-uuid:unlock", f"{uuid.uuid4()}:unlock"):
            assert_problem(await client.post(f"/v1/users/{ref}", headers=tenant.admin), 404, "not-found")


class TestPasswordPolicy:
    async def test_common_and_personal_passwords_are_refused(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        email = f"tanaka.hiroshi@{tenant.slug}.example"
        cases = {
            "P@ssw0rd2026!": "is a commonly used password",
            "123456789012": "is a commonly used password",
            "tanaka.hiroshi": "is too similar to the email address or the tenant",
            f"{tenant.slug}-2026!": "is too similar to the email address or the tenant",
        }
        for password, message in cases.items():
            body = {"email": email, "role": "staff", "password": password}
            problem = assert_problem(
                await client.post("/v1/users", json=body, headers=tenant.admin), 422, "validation-error"
            )
            assert error_fields(problem) == ["password"]
            assert problem["errors"][0]["message"] == message
        listing = await client.get("/v1/users", headers=tenant.admin)
        assert [u["email"] for u in listing.json()["items"]] == [tenant.admin_email]

    async def test_a_changed_password_follows_the_policy(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="staff")
        local = user["email"].split("@")[0]
        response = await client.patch(
            f"/v1/users/{user['id']}", json={"password": f"{local}!!"}, headers=tenant.admin
        )
        problem = assert_problem(response, 422, "validation-error")
        assert error_fields(problem) == ["password"]
        await login(client, tenant.slug, user["email"])


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=12, max_size=40))
def test_the_email_itself_is_never_a_password(local: str) -> None:
    assert "is too similar to the email address or the tenant" in password_problems(
        local, (f"{local}@example.com", "acme")
    )


@given(st.text(alphabet="0123456789!?#", min_size=12, max_size=30))
def test_digits_and_symbols_alone_are_guessable(password: str) -> None:
    assert "is a commonly used password" in password_problems(password)
