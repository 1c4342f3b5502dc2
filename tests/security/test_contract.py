"""What the fuzzing relies on, checked directly: the OpenAPI document states every problem an operation
answers with and which operations are public, OPTIONS tells every method of a resource, and the input
fixes the fuzzing led to hold."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from bpo.core.problems import PROBLEM_JSON
from bpo.onboarding.manifest import manifest_json_schema
from tests.support.factories import create_tenant
from tests.support.problems import assert_problem, error_fields

PUBLIC = {("get", "/health"), ("get", "/ready"), ("post", "/v1/auth/token"), ("post", "/v1/auth/refresh")}


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def patterns(schema: Any) -> list[str]:
    """Every ``pattern`` in a JSON Schema document."""
    if isinstance(schema, dict):
        own = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        return own + [p for value in schema.values() for p in patterns(value)]
    if isinstance(schema, list):
        return [p for value in schema for p in patterns(value)]
    return []


class TestDocument:
    def test_every_error_is_a_documented_problem(self, document: dict[str, Any]) -> None:
        assert document["components"]["schemas"]["Problem"]["required"] == [
            "type",
            "title",
            "status",
            "detail",
        ]
        for method, path, operation in operations(document):
            errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
            assert "503" in errors, (method, path)
            for code, response in errors.items():
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, code)
                schema = response["content"][PROBLEM_JSON]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, code)

    def test_statuses_follow_what_the_route_takes(self, document: dict[str, Any]) -> None:
        paths = document["paths"]
        create_user = set(paths["/v1/users"]["post"]["responses"])
        assert {"400", "401", "403", "409", "413", "422"} <= create_user
        assert {"404", "422"} <= set(paths["/v1/users/{user_id}"]["get"]["responses"])
        assert "409" not in paths["/v1/users/{user_id}"]["get"]["responses"]
        assert {"401", "429"} <= set(paths["/v1/auth/token"]["post"]["responses"])
        assert set(paths["/health"]["get"]["responses"]) == {"200", "503"}
        retry = paths["/v1/auth/token"]["post"]["responses"]["429"]["headers"]
        assert "Retry-After" in retry

    def test_public_operations_need_no_credentials(self, document: dict[str, Any]) -> None:
        assert document["security"] == [{"bearer": []}]
        for method, path, operation in operations(document):
            if (method, path) in PUBLIC:
                assert operation["security"] == [], (method, path)
                assert "401" not in operation["responses"] or path.startswith("/v1/auth"), (method, path)
            elif path.startswith("/v1/") and not path.startswith(("/v1/auth", "/v1/calendar/", "/v1/stripe")):
                assert "security" not in operation, (method, path)
                assert "401" in operation["responses"], (method, path)

    def test_one_path_per_resource(self, document: dict[str, Any]) -> None:
        shapes = [re.sub(r"\{[^}]*\}", "{}", path) for path in document["paths"]]
        assert len(shapes) == len(set(shapes))
        unlock = document["paths"]["/v1/users/{user_id}"]["post"]
        assert [p["name"] for p in unlock["parameters"] if p["in"] == "path"] == ["user_id"]

    def test_request_bodies_say_unknown_fields_are_refused(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        for name in ("UserCreate", "ContractCreate", "WorkItemBatch", "WorkItemIn", "TokenRequest"):
            assert schemas[name]["additionalProperties"] is False, name
        assert "additionalProperties" not in schemas["User"]

    def test_no_pattern_lets_a_final_line_break_through(self, document: dict[str, Any]) -> None:
        # msgspec checks patterns with Python's re, where $ also matches before a final newline.
        found = patterns(document) + patterns(manifest_json_schema())
        assert len(found) > 10
        assert [p for p in found if p.endswith("$") and not p.endswith("(?!\\n)$")] == []


class TestOptions:
    async def test_allow_lists_every_method_of_the_resource(self, client: httpx.AsyncClient) -> None:
        cases = {
            "/v1/tenant": "GET, OPTIONS, PATCH",
            "/v1/users": "GET, OPTIONS, POST",
            f"/v1/users/{uuid.uuid4()}": "DELETE, GET, OPTIONS, PATCH, POST",
            "/health": "GET, OPTIONS",
        }
        for path, allow in cases.items():
            response = await client.options(path)
            assert response.status_code == 204, (path, response.text)
            assert response.headers["allow"] == allow, path

    async def test_guarded_controllers_answer_without_credentials(self, client: httpx.AsyncClient) -> None:
        # Controller-level guards used to run for OPTIONS too, where no caller is authenticated: a 500.
        for path in (
            "/v1/webhook-endpoints",
            f"/v1/webhook-endpoints/{uuid.uuid4()}",
            "/v1/platform/tenants",
        ):
            response = await client.options(path)
            assert response.status_code == 204, (path, response.text)
            assert "GET" in response.headers["allow"]


CALENDAR = {"code": "NL", "name": "Probe", "time_zone": "UTC", "windows": []}


class TestInput:
    @pytest.mark.parametrize("code", ["F\n", "F\nG", "\nF"])
    async def test_a_code_never_carries_a_line_break(self, client: httpx.AsyncClient, code: str) -> None:
        tenant = await create_tenant(client)
        response = await client.post(
            "/v1/clients", json={"code": code, "name": "Probe"}, headers=tenant.admin
        )
        assert error_fields(assert_problem(response, 422, "validation-error")) == ["code"]
        assert (await client.get("/v1/clients", headers=tenant.admin)).json()["items"] == []

    async def test_a_tenant_slug_never_carries_a_line_break(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        response = await client.post(
            "/v1/auth/token",
            json={"tenant": tenant.slug + "\n", "email": tenant.admin_email, "password": "irrelevant-here"},
        )
        assert error_fields(assert_problem(response, 422, "validation-error")) == ["tenant"]

    @pytest.mark.parametrize(
        ("method", "path", "body", "field"),
        [
            ("post", "/v1/clients", {"code": "NL", "name": "Probe", "currency": "JPY\n"}, "currency"),
            ("post", "/v1/calendars", {**CALENDAR, "holiday_country": "JP\n"}, "holiday_country"),
            (
                "post",
                "/v1/calendars",
                {**CALENDAR, "windows": [{"days": ["daily"], "start": "08:00\n", "end": "18:00"}]},
                "windows[0].start",
            ),
            (
                "post",
                f"/v1/contracts/{uuid.UUID(int=1)}/sla-policies",
                {
                    "effective_from": "2026-01-01",
                    "objectives": [{"metric": "first_response", "target_percent": 95, "threshold": "45s\n"}],
                },
                "objectives[0].threshold",
            ),
            ("post", "/v1/staff", {"display_name": "P", "home_zone": "UTC", "country": "JP\n"}, "country"),
            (
                "post",
                "/v1/users",
                {"email": "probe@example.com\n", "role": "supervisor", "password": "a long passphrase"},
                "email",
            ),
            (
                "put",
                "/v1/billing/settings",
                {"stripe_account_id": "acct_1Nv0FGQ9\n", "tax_rate": "0.10", "tax_rounding": "floor"},
                "stripe_account_id",
            ),
            ("post", "/v1/invoice-runs", {"period": "2026-10\n"}, "period"),
        ],
    )
    async def test_no_patterned_field_takes_a_trailing_line_break(
        self, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str
    ) -> None:
        tenant = await create_tenant(client)
        before = (await client.get("/v1/audit-events", params={"limit": 200}, headers=tenant.admin)).json()
        response = await client.request(method, path, json=body, headers=tenant.admin)
        assert error_fields(assert_problem(response, 422, "validation-error")) == [field]
        after = (await client.get("/v1/audit-events", params={"limit": 200}, headers=tenant.admin)).json()
        assert after == before

    async def test_a_nul_character_is_bad_input_not_a_server_error(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        created = await client.post(
            "/v1/clients",
            json={"code": "NUL", "name": "Probe", "billing_contact_name": "a\u0000b"},
            headers=h,
        )
        assert_problem(created, 422, "validation-error")
        assert (await client.get("/v1/clients", headers=h)).json()["items"] == []
        me = (await client.get("/v1/me", headers=h)).json()["user"]
        renamed = await client.patch(f"/v1/users/{me['id']}", json={"full_name": "\u0000"}, headers=h)
        assert_problem(renamed, 422, "validation-error")
        assert (await client.get("/v1/me", headers=h)).json()["user"]["full_name"] == me["full_name"]
        searched = await client.get("/v1/audit-events", params={"object_type": "\u0000"}, headers=h)
        assert_problem(searched, 422, "validation-error")
