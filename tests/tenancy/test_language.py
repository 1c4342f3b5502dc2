"""The language a user reads: their own setting, or else their tenant's default (Japanese for an operator
in Japan); set through the API, refused when unknown, and never across tenants."""

from __future__ import annotations

import uuid

import httpx
import yaml

from bpo.core.runtime import Runtime
from bpo.onboarding.apply import Action, acting_scope, apply_manifest, plan_manifest, tenant_id_of
from bpo.onboarding.inventory import export
from bpo.onboarding.manifest import load_manifest
from bpo.tenancy import service as tenancy
from tests.clients.test_manifest import new_slug, rich
from tests.support.factories import PASSWORD, PLATFORM_HEADERS, create_tenant, create_user, headers_for, login
from tests.support.manifests import load
from tests.support.problems import assert_problem, error_fields


async def _audit_fields(client: httpx.AsyncClient, admin: dict[str, str], user_id: str) -> list[list[str]]:
    events = await client.get("/v1/audit-events", params={"object_id": user_id}, headers=admin)
    assert events.status_code == 200, events.text
    return [e["detail"].get("fields", []) for e in events.json()["items"] if e["action"] == "user.updated"]


class TestTenantDefault:
    async def test_an_operator_in_japan_reads_japanese_elsewhere_english(
        self, client: httpx.AsyncClient
    ) -> None:
        tokyo = await create_tenant(client)
        settings = await client.get("/v1/tenant", headers=tokyo.admin)
        assert settings.json()["default_language"] == "ja"
        slug = f"t-{uuid.uuid4().hex[:12]}"
        created = await client.post(
            "/v1/platform/tenants",
            json={
                "slug": slug,
                "name": "Edinburgh desk",
                "admin_email": f"admin@{slug}.example",
                "admin_password": PASSWORD,
                "time_zone": "Europe/London",
            },
            headers=PLATFORM_HEADERS,
        )
        assert created.status_code == 201, created.text
        assert created.json()["tenant"]["default_language"] == "en"
        admin = headers_for((await login(client, slug, f"admin@{slug}.example"))["access_token"])
        assert (await client.get("/v1/me", headers=admin)).json()["language"] == "en"

    async def test_the_admin_changes_the_default_and_users_without_a_choice_follow(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        _, viewer = await create_user(client, tenant, role="supervisor")
        assert (await client.get("/v1/me", headers=viewer)).json()["language"] == "ja"
        changed = await client.patch("/v1/tenant", json={"default_language": "en"}, headers=tenant.admin)
        assert changed.status_code == 200, changed.text
        assert changed.json()["default_language"] == "en"
        me = (await client.get("/v1/me", headers=viewer)).json()
        assert me["language"] == "en"
        assert me["user"]["language"] is None

    async def test_an_unknown_default_is_refused_and_nothing_changes(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        for value in ("fr", "JA", "", None, 1):
            response = await client.patch(
                "/v1/tenant", json={"default_language": value, "name": "Renamed"}, headers=tenant.admin
            )
            body = assert_problem(response, 422)
            assert "default_language" in body["detail"] + str(error_fields(body))
        settings = (await client.get("/v1/tenant", headers=tenant.admin)).json()
        assert settings["default_language"] == "ja"
        assert settings["name"] != "Renamed"

    async def test_only_an_admin_changes_it(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        _, manager = await create_user(client, tenant, role="account_manager")
        response = await client.patch("/v1/tenant", json={"default_language": "en"}, headers=manager)
        assert response.status_code == 403
        assert (await client.get("/v1/tenant", headers=tenant.admin)).json()["default_language"] == "ja"


class TestOwnLanguage:
    async def test_a_user_chooses_english_and_back_to_the_default(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="supervisor")
        assert user["language"] is None
        chosen = await client.patch("/v1/me", json={"language": "en"}, headers=headers)
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["language"] == "en"
        assert chosen.json()["user"]["language"] == "en"
        assert (await client.get(f"/v1/users/{user['id']}", headers=tenant.admin)).json()["language"] == "en"
        cleared = await client.patch("/v1/me", json={"language": None}, headers=headers)
        assert cleared.json()["language"] == "ja"
        assert cleared.json()["user"]["language"] is None
        assert await _audit_fields(client, tenant.admin, user["id"]) == [["language"], ["language"]]

    async def test_an_unknown_language_is_refused_and_nothing_is_written(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="staff")
        for value in ("fr", "en-GB", "japanese", 7):
            body = assert_problem(
                await client.patch("/v1/me", json={"language": value}, headers=headers), 422
            )
            assert "language" in body["detail"] + str(error_fields(body))
        body = assert_problem(await client.patch("/v1/me", json={"role": "admin"}, headers=headers), 422)
        assert (await client.get("/v1/me", headers=headers)).json()["user"]["language"] is None
        assert (await client.get("/v1/me", headers=headers)).json()["user"]["role"] == "staff"
        assert await _audit_fields(client, tenant.admin, user["id"]) == []

    async def test_api_keys_have_no_profile(self, client: httpx.AsyncClient) -> None:
        response = await client.patch("/v1/me", json={"language": "en"})
        assert response.status_code == 401


class TestAdminSetsALanguage:
    async def test_on_creation_and_on_update(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        email = f"en-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
        created = await client.post(
            "/v1/users",
            json={"email": email, "role": "supervisor", "password": PASSWORD, "language": "en"},
            headers=tenant.admin,
        )
        assert created.status_code == 201, created.text
        assert created.json()["language"] == "en"
        user_headers = headers_for((await login(client, tenant.slug, email))["access_token"])
        assert (await client.get("/v1/me", headers=user_headers)).json()["language"] == "en"
        updated = await client.patch(
            f"/v1/users/{created.json()['id']}", json={"language": "ja"}, headers=tenant.admin
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["language"] == "ja"
        # The language is no change of who the user is: their sign-in keeps working.
        assert (await client.get("/v1/me", headers=user_headers)).json()["language"] == "ja"

    async def test_an_unknown_language_is_refused_with_the_field_named(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        user, _ = await create_user(client, tenant, role="supervisor")
        response = await client.patch(
            f"/v1/users/{user['id']}", json={"language": "de", "full_name": "Changed"}, headers=tenant.admin
        )
        body = assert_problem(response, 422)
        assert "language" in body["detail"] + str(error_fields(body))
        after = (await client.get(f"/v1/users/{user['id']}", headers=tenant.admin)).json()
        assert after["language"] is None
        assert after["full_name"] != "Changed"
        email = f"x-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
        refused = await client.post(
            "/v1/users",
            json={"email": email, "role": "supervisor", "password": PASSWORD, "language": "xx"},
            headers=tenant.admin,
        )
        assert_problem(refused, 422)
        listed = await client.get("/v1/users", headers=tenant.admin)
        assert email not in [u["email"] for u in listed.json()["items"]]

    async def test_an_admin_cannot_change_another_tenants_user(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        stranger = await create_tenant(client)
        user, headers = await create_user(client, tenant, role="supervisor")
        response = await client.patch(
            f"/v1/users/{user['id']}", json={"language": "en"}, headers=stranger.admin
        )
        assert_problem(response, 404)
        assert (await client.get("/v1/me", headers=headers)).json()["user"]["language"] is None
        # Nor does another tenant's default reach this tenant's users.
        await client.patch("/v1/tenant", json={"default_language": "en"}, headers=stranger.admin)
        assert (await client.get("/v1/me", headers=headers)).json()["language"] == "ja"


class TestManifest:
    async def test_the_default_follows_the_zone_unless_the_file_names_one(self, runtime: Runtime) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(rich(slug)), demo_password=PASSWORD)
        tenant_id = await tenant_id_of(runtime, slug)
        assert tenant_id is not None
        async with runtime.db.tenant(tenant_id) as session:
            scope = await acting_scope(session, tenant_id)
            assert (await tenancy.tenant_settings(session, scope)).default_language == "ja"
            # Export leaves out what the file would default to.
            assert (await export(session, scope)).tenant.default_language is None

        data = rich(slug)
        data["tenant"]["default_language"] = "en"
        plan = await plan_manifest(runtime, load(data))
        assert plan.errors == []
        updates = {(c.kind, c.key): c.fields for c in plan.changes if c.action is Action.UPDATE}
        assert updates == {("tenant", slug): ("default_language",)}
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        async with runtime.db.tenant(tenant_id) as session:
            scope = await acting_scope(session, tenant_id)
            assert (await tenancy.tenant_settings(session, scope)).default_language == "en"
            exported = await export(session, scope)
        assert exported.tenant.default_language == "en"
        again = await plan_manifest(runtime, exported)
        assert {c.action for c in again.changes} == {Action.UNCHANGED}

    def test_an_unknown_language_in_the_file_names_its_place(self) -> None:
        data = rich(new_slug())
        data["tenant"]["default_language"] = "fr"
        _, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))
        assert [str(p).split(":")[0] for p in problems] == ["tenant.default_language"]
