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


async def create_client(
    client: httpx.AsyncClient, tenant: TenantHandle, *, code: str | None = None, **fields: Any
) -> dict[str, Any]:
    code = code or f"C{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/v1/clients", json={"code": code, "name": f"Client {code}", **fields}, headers=tenant.admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_api_key(
    client: httpx.AsyncClient, tenant: TenantHandle, *, client_id: uuid.UUID | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/api-keys",
        json={"name": "ingest", "client_id": str(client_id or (await create_client(client, tenant))["id"])},
        headers=tenant.admin,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_ok(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def get_ok(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    # No params leaves a query written into ``path`` alone (an empty mapping would replace it).
    response = await client.get(path, params=params or None, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


TIERED_PLAN: dict[str, Any] = {
    "effective_from": "2026-01-01",
    "currency": "JPY",
    "charges": [
        {
            "kind": "graduated",
            "code": "replies",
            "name": "Replies",
            "unit": "reply",
            "tiers": [
                {"up_to": 1000, "unit_price": 120},
                {"up_to": 5000, "unit_price": 100},
                {"up_to": None, "unit_price": 80},
            ],
        },
        {
            "kind": "person_month",
            "code": "stationed",
            "name": "Stationed staff",
            "headcount": 2,
            "monthly_fee": 450000,
        },
    ],
    "minimum_commitment": 300000,
    "service_credits": [
        {"below_percent": 95, "credit_percent": 5},
        {"below_percent": 90, "credit_percent": 10},
    ],
}


async def onboard(
    client: httpx.AsyncClient, tenant: TenantHandle, *, code: str | None = None
) -> dict[str, Any]:
    """A client with a service, a site, a calendar and a contract with a tiered rate plan (draft)."""
    code = code or uuid.uuid4().hex[:6]
    h = tenant.admin
    customer = await create_client(client, tenant, code=f"CL-{code}")
    service = await post_ok(
        client, f"/v1/clients/{customer['id']}/services", {"code": "svc", "name": "Service"}, h
    )
    site = await post_ok(
        client,
        "/v1/sites",
        {
            "code": f"SITE-{code}",
            "name": "Client office",
            "kind": "client",
            "client_id": customer["id"],
            "time_zone": "Asia/Tokyo",
        },
        h,
    )
    calendar = await post_ok(
        client,
        "/v1/calendars",
        {
            "code": f"CAL-{code}",
            "name": "Email hours",
            "time_zone": "Asia/Tokyo",
            "windows": [{"days": ["daily"], "start": "08:00", "end": "25:30"}],
        },
        h,
    )
    contract = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": service["id"],
            "code": f"K-{code}",
            "name": "Email support",
            "work_type": "email_support",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
            "staffing_mode": "onsite",
            "site_id": site["id"],
            "coverage": [
                {"days": ["daily"], "start": "08:00", "end": "25:30", "headcount": 3, "languages": ["ja"]}
            ],
        },
        h,
    )
    plan = await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", TIERED_PLAN, h)
    return {
        "client": customer,
        "service": service,
        "site": site,
        "calendar": calendar,
        "contract": contract,
        "rate_plan": plan,
    }
