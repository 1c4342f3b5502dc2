"""The batch upsert: what each item did, the rollup hours it asks for, the ids it gives new items, and its
temporary staging table within one transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from sqlalchemy import select

from bpo.core.errors import Invalid
from bpo.core.jobs.models import OutboxMessage
from bpo.core.jobs.registry import REFRESH_HOURS_JOB
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.work import schemas, service
from tests.support.factories import create_tenant
from tests.support.problems import assert_problem
from tests.support.work import BASE, item, items_of, live_contract, send


async def refresh_jobs(runtime: Runtime, tenant_id: uuid.UUID) -> list[list[str]]:
    async with runtime.db.tenant(tenant_id) as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.actor == REFRESH_HOURS_JOB)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return [row.kwargs["hours"] for row in rows]


def hour(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).replace(minute=0).isoformat()


async def test_a_mixed_batch_counts_each_item_and_asks_for_the_hours_that_changed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    first = [item(0), item(70), item(150)]
    created = await send(client, tenant.admin, {"contract_id": contract["id"], "items": first})
    assert created.json()["created"] == 3
    answered = (BASE + timedelta(minutes=80)).isoformat()
    mixed = [item(0), item(70, first_response_at=answered), item(300)]
    response = await send(client, tenant.admin, {"contract_id": contract["id"], "items": mixed})
    assert response.json() == {
        "contract_id": contract["id"],
        "received": 3,
        "created": 1,
        "updated": 1,
        "unchanged": 1,
    }
    assert await refresh_jobs(runtime, tenant.id) == [[hour(0), hour(70), hour(150)], [hour(70), hour(300)]]
    replay = await send(client, tenant.admin, {"contract_id": contract["id"], "items": mixed})
    assert replay.json()["unchanged"] == 3
    assert len(await refresh_jobs(runtime, tenant.id)) == 2


async def test_new_items_get_distinct_time_ordered_ids(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    before = datetime.now(UTC) - timedelta(seconds=5)
    for start in (0, 600):
        batch = {"contract_id": contract["id"], "items": [item(n) for n in range(start, start + 600)]}
        assert (await send(client, tenant.admin, batch)).json()["created"] == 600
    ids = [uuid.UUID(stored["id"]) for stored in await items_of(client, contract["id"], tenant.admin)]
    assert len(set(ids)) == 1200
    assert {i.version for i in ids} == {7}
    # UUIDv7: the first 48 bits are the creation time in milliseconds.
    created = [datetime.fromtimestamp((i.int >> 80) / 1000, UTC) for i in ids]
    assert all(before <= at <= datetime.now(UTC) for at in created)


async def test_batches_in_one_transaction(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    scope = system_scope(tenant.id)

    def batch(numbers: range) -> schemas.WorkItemBatch:
        items = [item(n) for n in numbers]
        return msgspec.convert({"contract_id": contract["id"], "items": items}, schemas.WorkItemBatch)

    async with runtime.db.tenant(tenant.id) as session:
        first = await service.ingest(session, scope, batch(range(0, 10)))
        second = await service.ingest(session, scope, batch(range(5, 20)))
    assert (first.created, second.created, second.unchanged) == (10, 10, 5)
    assert len(await items_of(client, contract["id"], tenant.admin)) == 20


async def test_a_script_cannot_send_more_than_a_batch(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    too_many = schemas.WorkItemBatch(
        contract_id=uuid.UUID(contract["id"]),
        items=[
            schemas.WorkItemIn(external_id=f"x-{n}", received_at=BASE) for n in range(schemas.MAX_BATCH + 1)
        ],
    )
    async with runtime.db.tenant(tenant.id) as session:
        with pytest.raises(Invalid):
            await service.ingest(session, system_scope(tenant.id), too_many)
    assert await items_of(client, contract["id"], tenant.admin) == []


async def test_the_body_is_documented_and_checked_as_before(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    body = schema["paths"]["/v1/work-items:batch"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WorkItemBatch"}
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    headers = {**tenant.admin, "Content-Type": "application/json"}
    truncated = await client.post("/v1/work-items:batch", content=b'{"items": [', headers=headers)
    assert_problem(truncated, 400, "malformed-request")
    empty = await client.post("/v1/work-items:batch", content=b"", headers=headers)
    assert assert_problem(empty, 422)["errors"] == [
        {"field": "body", "message": "a JSON request body is required"}
    ]
    # Lax typing as before: a number in a string is a number.
    lax = await send(client, tenant.admin, {"contract_id": contract["id"], "items": [item(1, units="3")]})
    assert lax.json()["created"] == 1
    wrong = await send(client, tenant.admin, {"contract_id": contract["id"], "items": [item(2, units="x")]})
    problem = assert_problem(wrong, 422, "validation-error")
    assert problem["errors"] == [
        {"field": "items[0].units", "message": "Expected `int`, got `str`", "index": 0}
    ]
