"""SLA test data through the API: contracts measured by objectives, items ingested, and the rollups the
sla.refresh_hours job would build."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import rollups
from tests.support.factories import TenantHandle, create_client, post_ok

IN_2026 = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
ONE_HOUR_CALENDAR = [
    {"metric": "first_response", "threshold": "1h", "target_percent": 90, "clock": "calendar"}
]
CHAT_OBJECTIVES = [
    {
        "metric": "first_response",
        "threshold": "45s",
        "target_percent": 95,
        "clock": "business_hours",
        "checkpoints": ["45s", "1m", "5m"],
    }
]
CHAT_HOURS = [{"days": ["weekdays"], "start": "10:30", "end": "18:30"}]
CHAT_TEAM = {
    "effective_from": "2026-01-01",
    "currency": "JPY",
    "charges": [
        {"kind": "person_month", "code": "chat", "name": "Chat team", "headcount": 2, "monthly_fee": 420000}
    ],
}
BASE_FEE = {
    "effective_from": "2026-01-01",
    "currency": "JPY",
    "charges": [{"kind": "fixed_monthly", "code": "base", "name": "Base", "amount": 100000}],
}


async def sla_contract(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    *,
    objectives: list[dict[str, Any]],
    windows: list[dict[str, Any]] | None = None,
    customer: dict[str, Any] | None = None,
    plan: dict[str, Any] = BASE_FEE,
    code: str = "K",
    name: str = "Chat",
) -> dict[str, Any]:
    """An active chat contract ``<code>-<random>`` named ``name``, measured by ``objectives`` on a Tokyo
    calendar (open all day unless ``windows`` say otherwise) and billed by ``plan``."""
    customer = customer or await create_client(client, tenant)
    h = tenant.admin
    suffix = uuid.uuid4().hex[:6]
    service = await post_ok(
        client, f"/v1/clients/{customer['id']}/services", {"code": f"s-{suffix}", "name": "S"}, h
    )
    calendar = await post_ok(
        client,
        "/v1/calendars",
        {
            "code": f"CAL-{suffix}",
            "name": "Hours",
            "time_zone": "Asia/Tokyo",
            "windows": windows or [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
        },
        h,
    )
    contract = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": service["id"],
            "code": f"{code}-{suffix}",
            "name": name,
            "work_type": "chat_support",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
        },
        h,
    )
    policy = {"effective_from": "2026-01-01", "objectives": objectives}
    await post_ok(client, f"/v1/contracts/{contract['id']}/sla-policies", policy, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", plan, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, h)
    return {"client": customer, "contract": contract}


async def chat_contract(client: httpx.AsyncClient, tenant: TenantHandle) -> dict[str, Any]:
    """Lancers-style chat: business days 10:30-18:30 JST, 45 s first-reply target."""
    return await sla_contract(
        client,
        tenant,
        objectives=CHAT_OBJECTIVES,
        windows=CHAT_HOURS,
        plan=CHAT_TEAM,
        code="CHAT",
        name="Chat support",
    )


async def ingest(
    client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, items: list[Any]
) -> Any:
    return await post_ok(
        client, "/v1/work-items:batch", {"contract_id": contract_id, "items": items}, headers
    )


async def rebuild(
    runtime: Runtime,
    tenant: TenantHandle,
    contract_id: str,
    now: datetime,
    *,
    received_between: tuple[datetime, datetime] = IN_2026,
) -> None:
    """What the sla.refresh_hours job does, for every hour holding items received ``received_between``."""
    scope = system_scope(tenant.id)
    async with runtime.db.tenant(tenant.id) as session:
        hours = await rollups.hours_of_items(session, scope, uuid.UUID(contract_id), *received_between)
        await rollups.refresh_hours(session, scope, uuid.UUID(contract_id), hours, now)
