"""Billing test data: a client with two contracts and October's items, the invoice they should give
(worked out by hand from the rate plans, not by the rating engine), and the invoices API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bpo.billing.invoice_runs import run_period_now
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from tests.support.factories import TenantHandle, get_ok, onboard, post_ok
from tests.support.sla import ingest, rebuild

JST = "+09:00"
REGISTRATION = "T1234567890123"
# Contract A (onboard's TIERED_PLAN, email support billed on resolution): three items in October resolved
# for 1,203 units, one of them answered late against a 1 h first-response objective.
A_ITEMS: list[dict[str, Any]] = [
    {
        "external_id": "a1",
        "received_at": f"2026-10-02T10:00:00{JST}",
        "first_response_at": f"2026-10-02T10:20:00{JST}",
        "resolved_at": f"2026-10-02T11:00:00{JST}",
        "units": 600,
    },
    {
        "external_id": "a2",
        "received_at": f"2026-10-15T10:00:00{JST}",
        "first_response_at": f"2026-10-15T10:30:00{JST}",
        "resolved_at": f"2026-10-15T12:00:00{JST}",
        "units": 600,
    },
    {
        "external_id": "a3",
        "received_at": f"2026-10-31T20:00:00{JST}",
        "first_response_at": f"2026-10-31T23:00:00{JST}",
        "resolved_at": f"2026-10-31T23:30:00{JST}",
        "units": 3,
    },
    # Resolved on 1 November JST (still 31 October in UTC): November's, not October's.
    {
        "external_id": "a4",
        "received_at": f"2026-10-31T22:00:00{JST}",
        "first_response_at": f"2026-10-31T22:10:00{JST}",
        "resolved_at": f"2026-11-01T00:10:00{JST}",
        "units": 50,
    },
]
# Contract B (patrol, from 11 October): per post 33 yen, a fixed fee of 31,000 and a minimum of 62,010 a
# month, both prorated 21/31; 107 posts.
B_PLAN: dict[str, Any] = {
    "effective_from": "2026-10-11",
    "currency": "JPY",
    "charges": [
        {"kind": "per_unit", "code": "posts", "name": "Posts patrolled", "unit": "post", "unit_price": 33},
        {"kind": "fixed_monthly", "code": "base", "name": "Base fee", "amount": 31000},
    ],
    "minimum_commitment": 62010,
}
B_ITEMS: list[dict[str, Any]] = [
    {
        "external_id": "b1",
        "received_at": f"2026-10-12T09:00:00{JST}",
        "resolved_at": f"2026-10-12T09:05:00{JST}",
        "units": 100,
    },
    {
        "external_id": "b2",
        "received_at": f"2026-10-20T09:00:00{JST}",
        "resolved_at": f"2026-10-20T09:05:00{JST}",
        "units": 7,
    },
    # Resolved in September: not October's.
    {
        "external_id": "b0",
        "received_at": f"2026-09-30T09:00:00{JST}",
        "resolved_at": f"2026-09-30T23:59:00{JST}",
        "units": 5,
    },
]


async def billing_setup(client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle) -> dict[str, Any]:
    h = tenant.admin
    response = await client.patch("/v1/tenant", json={"invoice_registration_number": REGISTRATION}, headers=h)
    assert response.status_code == 200, response.text
    setup = await onboard(client, tenant)
    a = setup["contract"]["id"]
    objectives = [{"metric": "first_response", "threshold": "1h", "target_percent": 95, "clock": "calendar"}]
    await post_ok(
        client,
        f"/v1/contracts/{a}/sla-policies",
        {"effective_from": "2026-01-01", "objectives": objectives},
        h,
    )
    b = (
        await post_ok(
            client,
            "/v1/contracts",
            {
                "service_id": setup["service"]["id"],
                "code": f"PATROL-{uuid.uuid4().hex[:6]}",
                "name": "Post patrol",
                "work_type": "patrol",
                "start_date": "2026-10-11",
                "calendar_id": setup["calendar"]["id"],
            },
            h,
        )
    )["id"]
    await post_ok(client, f"/v1/contracts/{b}/rate-plans", B_PLAN, h)
    for contract in (a, b):
        await post_ok(client, f"/v1/contracts/{contract}/transitions", {"status": "active"}, h)
    await ingest(client, h, a, A_ITEMS)
    await ingest(client, h, b, B_ITEMS)
    await rebuild(runtime, tenant, a, datetime(2026, 11, 24, tzinfo=UTC))
    return {**setup, "a": a, "b": b}


def expected_october() -> dict[str, Any]:
    # A: graduated 1-1,000 at 120 and 1,001-5,000 at 100; two stationed staff at 450,000; the minimum
    # (300,000) is exceeded; first response met 2 of 3 (66.67% < 90%) → the 10% credit of A's charges.
    a_tier1, a_tier2, a_staff = 1000 * 120, 203 * 100, 2 * 450000
    a_credit = -(a_tier1 + a_tier2 + a_staff) // 10
    # B: 107 x 33; 31,000 x 21/31 = 21,000; minimum 62,010 x 21/31 = 42,006.77 → 42,007 (half-up).
    b_posts, b_base = 107 * 33, 21000
    b_top_up = 42007 - (b_posts + b_base)
    amounts = [a_tier1, a_tier2, a_staff, a_credit, b_posts, b_base, b_top_up]
    subtotal = sum(amounts)
    tax = subtotal // 10  # 10%, truncated once on the invoice
    return {"amounts": amounts, "subtotal": subtotal, "tax": tax, "total": subtotal + tax}


async def run_october(runtime: Runtime, tenant: TenantHandle) -> Any:
    return await run_period_now(runtime, system_scope(tenant.id), "2026-10")


async def invoices(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/invoices", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def get_invoice(client: httpx.AsyncClient, headers: dict[str, str], invoice_id: str) -> dict[str, Any]:
    invoice: dict[str, Any] = await get_ok(client, f"/v1/invoices/{invoice_id}", headers)
    return invoice
