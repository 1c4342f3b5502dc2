"""Work items through the batch API: numbered items, a live contract to send them to, and reading them
back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.factories import TenantHandle, onboard, post_ok

BASE = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)


def item(n: int, **fields: Any) -> dict[str, Any]:
    received = BASE + timedelta(minutes=n)
    return {"external_id": f"ticket-{n}", "received_at": received.isoformat(), "channel": "email", **fields}


async def live_contract(client: httpx.AsyncClient, tenant: TenantHandle) -> dict[str, Any]:
    setup = await onboard(client, tenant)
    await post_ok(
        client, f"/v1/contracts/{setup['contract']['id']}/transitions", {"status": "active"}, tenant.admin
    )
    return setup


async def items_of(
    client: httpx.AsyncClient, contract_id: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(f"/v1/contracts/{contract_id}/work-items", params=params, headers=headers)
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def send(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/work-items:batch", json=body, headers=headers)
