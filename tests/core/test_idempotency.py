"""``Idempotency-Key`` on POST: the first response is stored per tenant and replayed; a different request with
the same key is a conflict; a key in flight is a conflict; a 5xx is not stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar, post
from litestar.middleware import DefineMiddleware
from litestar.params import JSONBody

from bpo.core.idempotency import IdempotencyMiddleware
from bpo.core.observability import RequestContext
from bpo.core.problems import EXCEPTION_HANDLERS
from bpo.core.runtime import Runtime
from bpo.settings import Settings
from bpo.tenancy.auth import AuthenticationMiddleware
from tests.support.factories import PASSWORD, TenantHandle, create_tenant
from tests.support.problems import assert_problem, error_fields


def new_user(tenant: TenantHandle, name: str = "agent") -> dict[str, Any]:
    return {"email": f"{name}@{tenant.slug}.example", "role": "staff", "password": PASSWORD}


async def emails_of(client: httpx.AsyncClient, tenant: TenantHandle) -> list[str]:
    response = await client.get("/v1/users", params={"limit": 200}, headers=tenant.admin)
    assert response.status_code == 200, response.text
    return sorted(user["email"] for user in response.json()["items"])


def keyed(tenant: TenantHandle, key: str) -> dict[str, str]:
    return {**tenant.admin, "Idempotency-Key": key}


async def test_the_same_request_twice_is_replayed_and_creates_one_user(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = new_user(tenant)
    key = str(uuid.uuid4())

    first = await client.post("/v1/users", json=body, headers=keyed(tenant, key))
    second = await client.post("/v1/users", json=body, headers=keyed(tenant, key))

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == first.status_code
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.content == first.content
    assert await emails_of(client, tenant) == sorted([tenant.admin_email, body["email"]])


async def test_without_a_key_the_same_request_is_not_replayed(client: httpx.AsyncClient) -> None:
    """The control for the test above: the second create is a real one, and conflicts."""
    tenant = await create_tenant(client)
    body = new_user(tenant)

    assert (await client.post("/v1/users", json=body, headers=tenant.admin)).status_code == 201
    again = await client.post("/v1/users", json=body, headers=tenant.admin)

    assert_problem(again, 409, "duplicate-email")
    assert "idempotent-replayed" not in again.headers


async def test_the_same_key_with_a_different_body_is_409(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    key = str(uuid.uuid4())
    first = await client.post("/v1/users", json=new_user(tenant, "first"), headers=keyed(tenant, key))
    assert first.status_code == 201, first.text

    reused = await client.post("/v1/users", json=new_user(tenant, "second"), headers=keyed(tenant, key))

    body = assert_problem(reused, 409, "idempotency-key-reused")
    assert error_fields(body) == ["header.Idempotency-Key"]
    assert "idempotent-replayed" not in reused.headers
    assert await emails_of(client, tenant) == sorted([tenant.admin_email, f"first@{tenant.slug}.example"])


async def test_a_key_is_scoped_to_its_tenant(client: httpx.AsyncClient) -> None:
    tenant, other = await create_tenant(client), await create_tenant(client)
    key = str(uuid.uuid4())

    here = await client.post("/v1/users", json=new_user(tenant), headers=keyed(tenant, key))
    there = await client.post("/v1/users", json=new_user(other), headers=keyed(other, key))

    assert here.status_code == there.status_code == 201, (here.text, there.text)
    assert "idempotent-replayed" not in there.headers
    assert there.json()["id"] != here.json()["id"]
    assert await emails_of(client, tenant) == sorted([tenant.admin_email, f"agent@{tenant.slug}.example"])
    assert await emails_of(client, other) == sorted([other.admin_email, f"agent@{other.slug}.example"])
    # Each tenant replays its own response.
    replay = await client.post("/v1/users", json=new_user(other), headers=keyed(other, key))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == there.content


@pytest.mark.parametrize("key", ["k" * 256, "has spaces", "tab\there", "ключ", ""])
async def test_an_invalid_key_is_400_and_nothing_runs(client: httpx.AsyncClient, key: str) -> None:
    tenant = await create_tenant(client)

    headers = {k.encode(): v.encode() for k, v in tenant.admin.items()}
    response = await client.post(
        "/v1/users", json=new_user(tenant), headers={**headers, b"Idempotency-Key": key.encode()}
    )

    body = assert_problem(response, 400, "invalid-idempotency-key")
    assert error_fields(body) == ["header.Idempotency-Key"]
    assert await emails_of(client, tenant) == [tenant.admin_email]


async def test_the_longest_valid_key_is_accepted(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    key = "k" * 255

    first = await client.post("/v1/users", json=new_user(tenant), headers=keyed(tenant, key))
    second = await client.post("/v1/users", json=new_user(tenant), headers=keyed(tenant, key))

    assert first.status_code == 201, first.text
    assert second.headers.get("idempotent-replayed") == "true", second.text


async def test_a_validation_failure_is_stored_and_replayed(client: httpx.AsyncClient) -> None:
    """Any response below 500 is the outcome of the key, 4xx included (as Stripe does for
    errors raised by the endpoint): the replay repeats the 422 byte for byte, including the original
    request's ``request_id`` in the body, while the replay itself gets a fresh X-Request-ID header. To
    retry after fixing the body, the client must use a new key."""
    tenant = await create_tenant(client)
    key = str(uuid.uuid4())
    invalid = {**new_user(tenant), "password": "short"}

    first = await client.post("/v1/users", json=invalid, headers=keyed(tenant, key))
    second = await client.post("/v1/users", json=invalid, headers=keyed(tenant, key))

    problem = assert_problem(first, 422, "validation-error")
    assert error_fields(problem) == ["password"]
    assert second.status_code == 422
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/problem+json"
    assert second.content == first.content
    assert second.json()["request_id"] == first.headers["x-request-id"] != second.headers["x-request-id"]

    fixed = await client.post("/v1/users", json=new_user(tenant), headers=keyed(tenant, key))
    assert_problem(fixed, 409, "idempotency-key-reused")
    assert await emails_of(client, tenant) == [tenant.admin_email]

    with_new_key = await client.post("/v1/users", json=new_user(tenant), headers=keyed(tenant, "retry-1"))
    assert with_new_key.status_code == 201, with_new_key.text


async def test_an_oversize_body_is_413_and_does_not_use_up_the_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await create_tenant(client)
    key = str(uuid.uuid4())
    oversize = {**new_user(tenant), "full_name": "x" * settings.max_body_bytes}

    response = await client.post("/v1/users", json=oversize, headers=keyed(tenant, key))

    assert_problem(response, 413, "payload-too-large")
    created = await client.post("/v1/users", json=new_user(tenant), headers=keyed(tenant, key))
    assert created.status_code == 201, created.text
    assert "idempotent-replayed" not in created.headers


async def test_a_key_is_ignored_where_there_is_no_caller(client: httpx.AsyncClient) -> None:
    """Login is not keyed (there is no tenant to store the key in before it succeeds)."""
    tenant = await create_tenant(client)
    credentials = {"tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    first = await client.post("/v1/auth/token", json=credentials, headers=headers)
    second = await client.post("/v1/auth/token", json=credentials, headers=headers)

    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in second.headers
    assert first.json()["refresh_token"] != second.json()["refresh_token"]


class Flaky:
    """An endpoint that can be made to fail or to wait, to see what the middleware stores meanwhile."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_next = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    def app(self, runtime: Runtime) -> RequestContext:
        @post("/flaky", status_code=201)
        async def flaky(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
            self.calls += 1
            self.entered.set()
            await self.release.wait()
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("boom")
            return {"call": self.calls}

        app = Litestar(
            route_handlers=[flaky],
            middleware=[DefineMiddleware(AuthenticationMiddleware), IdempotencyMiddleware()],
            exception_handlers=EXCEPTION_HANDLERS,
        )
        app.state.runtime = runtime
        return RequestContext(app)


@pytest.fixture
async def flaky(runtime: Runtime) -> AsyncIterator[tuple[Flaky, httpx.AsyncClient]]:
    endpoint = Flaky()
    # httpx types the ASGI app more narrowly than Litestar types its callables.
    transport = httpx.ASGITransport(app=cast("Any", endpoint.app(runtime)))
    async with httpx.AsyncClient(transport=transport, base_url="http://flaky") as http:
        yield endpoint, http


async def test_a_5xx_is_not_stored_so_the_same_key_can_be_retried(
    client: httpx.AsyncClient, flaky: tuple[Flaky, httpx.AsyncClient]
) -> None:
    endpoint, http = flaky
    tenant = await create_tenant(client)
    headers = keyed(tenant, str(uuid.uuid4()))
    endpoint.fail_next = True

    failed = await http.post("/flaky", json={"n": 1}, headers=headers)
    retried = await http.post("/flaky", json={"n": 1}, headers=headers)
    replayed = await http.post("/flaky", json={"n": 1}, headers=headers)

    assert_problem(failed, 500, "internal-error")
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == retried.json() == {"call": 2}
    assert endpoint.calls == 2


async def test_a_key_in_flight_is_409_with_retry_after(
    client: httpx.AsyncClient, flaky: tuple[Flaky, httpx.AsyncClient]
) -> None:
    endpoint, http = flaky
    tenant = await create_tenant(client)
    headers = keyed(tenant, str(uuid.uuid4()))
    endpoint.release.clear()

    first = asyncio.create_task(http.post("/flaky", json={"n": 1}, headers=headers))
    await asyncio.wait_for(endpoint.entered.wait(), timeout=10)
    concurrent = await http.post("/flaky", json={"n": 1}, headers=headers)
    endpoint.release.set()
    completed = await first

    assert_problem(concurrent, 409, "idempotency-key-in-use")
    assert concurrent.headers["retry-after"] == "1"
    assert completed.status_code == 201
    assert endpoint.calls == 1


async def test_a_retry_sent_as_soon_as_the_response_arrives_is_replayed(client: httpx.AsyncClient) -> None:
    """The outcome is stored before the response is sent, so a retry can never find the key still in
    progress (it used to, now and then: the response went out first)."""
    tenant = await create_tenant(client)
    for attempt in range(20):
        body, headers = new_user(tenant, f"agent{attempt}"), keyed(tenant, f"attempt-{attempt}")
        first = await client.post("/v1/users", json=body, headers=headers)
        second = await client.post("/v1/users", json=body, headers=headers)

        assert first.status_code == 201, first.text
        assert second.status_code == 201, second.text
        assert second.headers["idempotent-replayed"] == "true"


async def test_a_new_api_key_secret_is_never_stored_for_replay(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from sqlalchemy import select

    from bpo.core.models import IdempotencyRecord
    from tests.support.factories import create_client

    tenant = await create_tenant(client)
    customer = await create_client(client, tenant)
    body = {"name": "zendesk", "client_id": customer["id"]}
    first = await client.post("/v1/api-keys", json=body, headers=keyed(tenant, "key-once"))
    assert first.status_code == 201, first.text
    secret = first.json()["key"]
    assert secret.startswith("bpo_")
    again = await client.post("/v1/api-keys", json=body, headers=keyed(tenant, "key-once"))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["key"] is None
    async with runtime.db.tenant(tenant.id) as session:
        stored = await session.scalar(
            select(IdempotencyRecord.response_body).where(IdempotencyRecord.key == "key-once")
        )
    assert stored is not None
    assert secret.encode() not in stored
    assert secret.split("_", 2)[2].encode() not in stored
    keys = (await client.get("/v1/api-keys", headers=tenant.admin)).json()["items"]
    assert len(keys) == 1
