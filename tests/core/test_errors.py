"""Bad input and bad credentials on the write endpoints: every rejection is a problem+json with a stable
type, names what was wrong, and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bpo.core.scope import Role
from bpo.core.tokens import AccessClaims, issue_access_token
from bpo.settings import Settings
from tests.support.factories import PASSWORD, TenantHandle, create_tenant, create_user
from tests.support.problems import assert_problem, error_fields

JSON = {"content-type": "application/json"}


@dataclass
class Write:
    """One write endpoint with the headers it needs, a body it would accept, and the users before."""

    tenant: TenantHandle
    method: str
    path: str
    headers: dict[str, str]
    valid: dict[str, Any]
    # Fields of this body with a value of the wrong type.
    mistyped: dict[str, Any]
    users_before: list[dict[str, Any]] = field(default_factory=list)

    async def send(
        self, client: httpx.AsyncClient, *, json: Any = None, content: Any = None, **headers: str
    ) -> httpx.Response:
        return await client.request(
            self.method, self.path, json=json, content=content, headers={**self.headers, **headers}
        )

    async def assert_nothing_written(self, client: httpx.AsyncClient) -> None:
        """Not a user, not a login time, not a change."""
        assert await users_of(client, self.tenant) == self.users_before


async def users_of(client: httpx.AsyncClient, tenant: TenantHandle) -> list[dict[str, Any]]:
    response = await client.get("/v1/users", params={"limit": 200}, headers=tenant.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture(params=["create_user", "login", "update_user"])
async def write(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> Write:
    tenant = await create_tenant(client)
    if request.param == "create_user":
        endpoint = Write(
            tenant,
            "POST",
            "/v1/users",
            tenant.admin,
            valid={"email": f"new@{tenant.slug}.example", "role": "staff", "password": PASSWORD},
            mistyped={"email": 5, "role": ["admin"], "password": 12345678901234, "client_id": "not-a-uuid"},
        )
    elif request.param == "login":
        endpoint = Write(
            tenant,
            "POST",
            "/v1/auth/token",
            {},
            valid={"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD},
            mistyped={"tenant": 5, "email": ["a@b.example"], "password": {"value": PASSWORD}},
        )
    else:
        user, _ = await create_user(client, tenant, role="staff")
        endpoint = Write(
            tenant,
            "PATCH",
            f"/v1/users/{user['id']}",
            tenant.admin,
            valid={"full_name": "Renamed"},
            mistyped={"full_name": {"an": "object"}, "is_active": "yes", "role": 1, "staff_id": "nope"},
        )
    endpoint.users_before = await users_of(client, tenant)
    return endpoint


async def test_malformed_json_is_400(client: httpx.AsyncClient, write: Write) -> None:
    response = await write.send(client, content=b'{"email": "x@example.com", ', **JSON)

    body = assert_problem(response, 400, "malformed-request")
    assert "JSON" in body["detail"]
    await write.assert_nothing_written(client)


async def test_a_body_that_is_not_an_object_is_422(client: httpx.AsyncClient, write: Write) -> None:
    response = await write.send(client, json=["not", "an", "object"])

    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == ["body"]
    await write.assert_nothing_written(client)


async def test_an_empty_body_is_422_naming_the_body(client: httpx.AsyncClient, write: Write) -> None:
    response = await write.send(client, content=b"", **JSON)

    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == ["body"]
    assert "'data'" not in body["detail"]
    await write.assert_nothing_written(client)


async def test_a_wrong_type_is_422_naming_the_field(client: httpx.AsyncClient, write: Write) -> None:
    for field_name, value in write.mistyped.items():
        response = await write.send(client, json={**write.valid, field_name: value})

        body = assert_problem(response, 422, "validation-error")
        assert error_fields(body) == [field_name]
        assert field_name in body["detail"]
    await write.assert_nothing_written(client)


async def test_an_unknown_field_is_422_naming_it(client: httpx.AsyncClient, write: Write) -> None:
    response = await write.send(client, json={**write.valid, "favourite_colour": "red"})

    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == ["favourite_colour"]
    assert "favourite_colour" in body["detail"]
    await write.assert_nothing_written(client)


@pytest.mark.parametrize(
    ("write", "field"),
    [("create_user", "email"), ("create_user", "password"), ("login", "tenant"), ("login", "password")],
    indirect=["write"],
)
async def test_a_missing_required_field_is_422_naming_it(
    client: httpx.AsyncClient, write: Write, field: str
) -> None:
    body = {k: v for k, v in write.valid.items() if k != field}

    problem = assert_problem(await write.send(client, json=body), 422, "validation-error")
    assert error_fields(problem) == [field]
    assert field in problem["detail"]
    await write.assert_nothing_written(client)


async def test_an_oversize_body_is_413(client: httpx.AsyncClient, settings: Settings, write: Write) -> None:
    padding = "x" * settings.max_body_bytes
    oversize = {**write.valid, "full_name": padding}

    assert_problem(await write.send(client, json=oversize), 413, "payload-too-large")
    await write.assert_nothing_written(client)


async def test_an_oversize_streamed_body_is_413(
    client: httpx.AsyncClient, settings: Settings, write: Write
) -> None:
    """Without a Content-Length the limit is enforced while reading."""
    chunk = b" " * 65_536

    async def body() -> AsyncIterator[bytes]:
        yield b'{"full_name": "'
        for _ in range(settings.max_body_bytes // len(chunk) + 1):
            yield chunk
        yield b'"}'

    response = await write.send(client, content=body(), **JSON)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    await write.assert_nothing_written(client)


async def test_a_body_just_under_the_limit_is_not_413(
    client: httpx.AsyncClient, settings: Settings, write: Write
) -> None:
    """The 413 is about size: the same shape of body under the limit reaches validation instead."""
    padding = "x" * (settings.max_body_bytes // 2)

    response = await write.send(client, json={**write.valid, "padding": padding})
    body = assert_problem(response, 422, "validation-error")
    assert error_fields(body) == ["padding"]
    await write.assert_nothing_written(client)


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/users/not-a-uuid/extra"])
async def test_an_unknown_route_is_404(client: httpx.AsyncClient, path: str) -> None:
    tenant = await create_tenant(client)
    for headers in ({}, tenant.admin):
        body = assert_problem(await client.get(path, headers=headers), 404, "not-found")
        assert path in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/v1/users", {"GET", "POST"}), ("DELETE", "/v1/auth/token", {"POST"})],
)
async def test_a_wrong_method_is_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    tenant = await create_tenant(client)
    before = await users_of(client, tenant)

    response = await client.request(method, path, json={}, headers=tenant.admin)

    assert_problem(response, 405, "method-not-allowed")
    assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}
    assert await users_of(client, tenant) == before


def _admin_claims(tenant: TenantHandle, admin_id: str) -> AccessClaims:
    return AccessClaims(
        tenant_id=tenant.id, user_id=uuid.UUID(admin_id), role=Role.ADMIN, client_id=None, staff_id=None
    )


@pytest.mark.parametrize(
    ("credential", "slug", "error"),
    [
        (None, "unauthorized", "invalid_request"),
        ("Bearer", "unauthorized", "invalid_request"),
        ("Basic YWRtaW46cGFzc3dvcmQ=", "unauthorized", "invalid_request"),
        ("Bearer garbage", "invalid-token", "invalid_token"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", "invalid-token", "invalid_token"),
        ("expired", "token-expired", "invalid_token"),
        ("another key", "invalid-token", "invalid_token"),
        ("Bearer bpo_not-a-real-key", "invalid-api-key", "invalid_token"),
    ],
)
async def test_a_bad_credential_is_401_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, credential: str | None, slug: str, error: str
) -> None:
    tenant = await create_tenant(client)
    me = (await client.get("/v1/me", headers=tenant.admin)).json()["user"]
    claims = _admin_claims(tenant, me["id"])
    if credential == "expired":
        credential = "Bearer " + issue_access_token(settings.signing_key(), claims, ttl_seconds=-60)
    elif credential == "another key":
        credential = "Bearer " + issue_access_token(
            "another-signing-key-" + "k" * 40, claims, ttl_seconds=600
        )
    # The same claims, signed with the server's key and still valid, are accepted: what fails is the token.
    valid = "Bearer " + issue_access_token(settings.signing_key(), claims, ttl_seconds=600)
    assert (await client.get("/v1/users", headers={"Authorization": valid})).status_code == 200
    before = await users_of(client, tenant)
    headers = {} if credential is None else {"Authorization": credential}
    new_user = {"email": f"new@{tenant.slug}.example", "role": "staff", "password": PASSWORD}

    for response in (
        await client.post("/v1/users", json=new_user, headers=headers),
        await client.patch(f"/v1/users/{me['id']}", json={"full_name": "Mallory"}, headers=headers),
        await client.get("/v1/users", headers=headers),
    ):
        assert_problem(response, 401, slug)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert f'error="{error}"' in challenge

    assert await users_of(client, tenant) == before


async def test_a_token_of_another_tenant_cannot_write_here(client: httpx.AsyncClient) -> None:
    """A valid token is scoped to its tenant: another tenant's user id in the path is simply not found."""
    tenant, other = await create_tenant(client), await create_tenant(client)
    target, _ = await create_user(client, tenant, role="staff")
    before = await users_of(client, tenant)

    response = await client.patch(f"/v1/users/{target['id']}", json={"full_name": "X"}, headers=other.admin)

    assert_problem(response, 404, "not-found")
    assert await users_of(client, tenant) == before
