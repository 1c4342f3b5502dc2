"""Small factories that build test data through the public HTTP API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

PLATFORM_TOKEN = SecretStr("test-platform-token")
PASSWORD = "correct-horse-battery-staple"
PLATFORM_HEADERS = {"Authorization": f"Bearer {PLATFORM_TOKEN.get_secret_value()}"}


def headers_for(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class TenantHandle:
    id: uuid.UUID
    slug: str
    admin_email: str
    admin: dict[str, str]
    users: dict[str, dict[str, Any]] = field(default_factory=dict)


async def login(client: httpx.AsyncClient, slug: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post(
        "/v1/auth/token", json={"tenant": slug, "email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_tenant(client: httpx.AsyncClient, *, slug: str | None = None) -> TenantHandle:
    slug = slug or f"t-{uuid.uuid4().hex[:12]}"
    email = f"admin@{slug}.example"
    response = await client.post(
        "/v1/platform/tenants",
        json={"slug": slug, "name": f"Operator {slug}", "admin_email": email, "admin_password": PASSWORD},
        headers=PLATFORM_HEADERS,
    )
    assert response.status_code == 201, response.text
    tokens = await login(client, slug, email)
    return TenantHandle(
        id=uuid.UUID(response.json()["tenant"]["id"]),
        slug=slug,
        admin_email=email,
        admin=headers_for(tokens["access_token"]),
    )


async def create_user(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    *,
    role: str,
    client_id: uuid.UUID | None = None,
    email: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Create a user as the tenant's admin and return (user, auth headers of that user)."""
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@{tenant.slug}.example"
    body: dict[str, Any] = {"email": email, "role": role, "password": PASSWORD}
    if client_id is not None:
        body["client_id"] = str(client_id)
    response = await client.post("/v1/users", json=body, headers=tenant.admin)
    assert response.status_code == 201, response.text
    tokens = await login(client, tenant.slug, email)
    return response.json(), headers_for(tokens["access_token"])


async def create_api_key(
    client: httpx.AsyncClient, tenant: TenantHandle, *, client_id: uuid.UUID | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/api-keys",
        json={"name": "ingest", "client_id": str(client_id or uuid.uuid4())},
        headers=tenant.admin,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
