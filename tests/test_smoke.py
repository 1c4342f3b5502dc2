from __future__ import annotations

import httpx

from tests.support.factories import create_tenant


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    tenant = await create_tenant(client)
    me = await client.get("/v1/me", headers=tenant.admin)
    assert me.status_code == 200, me.text
    assert me.json()["tenant"] == tenant.slug
