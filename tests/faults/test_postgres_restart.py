"""PostgreSQL stopped and started again, under load and then with nobody looking: while clients keep
reading and ingesting, every request either succeeds or fails fast with a 503 problem (never a 500,
never a hang), and the same app process serves again once the database is back, without a restart.
What was acknowledged is stored."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from bpo.core.errors import PROBLEM_BASE
from bpo.core.runtime import Runtime
from bpo.work.models import WorkItem
from tests.faults.stack import Stack
from tests.support.factories import (
    TenantHandle,
    create_api_key,
    create_tenant,
    headers_for,
    onboard,
    post_ok,
)
from tests.support.problems import assert_problem

pytestmark = pytest.mark.slow

# A request that takes longer than this counts as hung.
BOUND_S = 5.0
# Once PostgreSQL accepts connections again, each endpoint must answer 200 within this.
RECOVERY_S = 10.0
# How long the load runs before the stop, while the database is down, and after it is back.
PHASE_S = 1.5
BATCH = 20
RECEIVED = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class Outcome:
    endpoint: str
    started: float
    finished: float
    status: int | None
    content_type: str
    retry_after: str | None
    problem_type: str | None
    error: str | None = None
    batch: list[str] | None = None

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


@dataclass
class Timeline:
    stop_begun: float = 0.0
    stop_done: float = 0.0
    start_begun: float = 0.0
    start_done: float = 0.0


Call = Callable[[httpx.AsyncClient], Awaitable[tuple[httpx.Response, list[str] | None]]]


async def loop(
    client: httpx.AsyncClient, endpoint: str, call: Call, outcomes: list[Outcome], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            response, batch = await call(client)
        except httpx.HTTPError as exc:
            outcomes.append(Outcome(endpoint, started, time.monotonic(), None, "", None, None, repr(exc)))
            continue
        problem_type = None
        if response.headers.get("content-type") == "application/problem+json":
            problem_type = response.json().get("type")
        outcomes.append(
            Outcome(
                endpoint,
                started,
                time.monotonic(),
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                problem_type,
                batch=batch,
            )
        )
        await asyncio.sleep(0.02)


async def stored_external_ids(runtime: Runtime, tenant: TenantHandle, contract_id: str) -> set[str]:
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.scalars(
            select(WorkItem.external_id).where(WorkItem.contract_id == uuid.UUID(contract_id))
        )
        return set(rows)


def recovered_at(outcomes: list[Outcome], endpoint: str, timeline: Timeline) -> float | None:
    """When ``endpoint`` first answered 200 to a request sent after PostgreSQL was back."""
    answered = [
        o.finished
        for o in outcomes
        if o.endpoint == endpoint and o.status == 200 and o.started > timeline.start_done
    ]
    return min(answered, default=None)


async def test_postgres_restarts_fail_requests_fast_and_cleanly_and_the_same_process_recovers(
    stack: Stack, stack_client: httpx.AsyncClient, stack_runtime: Runtime
) -> None:
    client = stack_client
    tenant = await create_tenant(client)
    setup = await onboard(client, tenant)
    contract_id = setup["contract"]["id"]
    await post_ok(client, f"/v1/contracts/{contract_id}/transitions", {"status": "active"}, tenant.admin)
    key = headers_for((await create_api_key(client, tenant, client_id=setup["client"]["id"]))["key"])
    client_path = f"/v1/clients/{setup['client']['id']}"
    numbers = itertools.count()
    sent: set[str] = set()

    async def read(http: httpx.AsyncClient) -> tuple[httpx.Response, None]:
        return await http.get(client_path, headers=tenant.admin), None

    async def ingest(http: httpx.AsyncClient) -> tuple[httpx.Response, list[str]]:
        first = next(numbers) * BATCH
        ids = [f"fault-{n}" for n in range(first, first + BATCH)]
        sent.update(ids)
        items = [
            {"external_id": ext, "received_at": (RECEIVED + timedelta(minutes=n)).isoformat()}
            for n, ext in enumerate(ids, start=first)
        ]
        body = {"contract_id": contract_id, "items": items}
        return await http.post("/v1/work-items:batch", json=body, headers=key), ids

    async def ready(http: httpx.AsyncClient) -> tuple[httpx.Response, None]:
        return await http.get("/ready"), None

    calls: dict[str, Call] = {"read": read, "ingest": ingest, "ready": ready}
    outcomes: list[Outcome] = []
    stop = asyncio.Event()
    timeline = Timeline()
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=3 * BOUND_S) as http:
        loops = [
            asyncio.create_task(loop(http, name, call, outcomes, stop))
            for name, call in [*calls.items(), ("read", read), ("ingest", ingest)]
        ]
        try:
            await asyncio.sleep(PHASE_S)
            timeline.stop_begun = time.monotonic()
            await asyncio.to_thread(stack.services.stop_postgres)
            timeline.stop_done = time.monotonic()
            await asyncio.sleep(PHASE_S)
            timeline.start_begun = time.monotonic()
            await asyncio.to_thread(stack.services.start_postgres)
            timeline.start_done = time.monotonic()
            deadline = timeline.start_done + RECOVERY_S
            while not all(recovered_at(outcomes, name, timeline) for name in calls):
                assert time.monotonic() < deadline, "no 200 from every endpoint within RECOVERY_S"
                await asyncio.sleep(0.1)
            await asyncio.sleep(PHASE_S)
        finally:
            stop.set()
            await asyncio.gather(*loops)

    hung = [o for o in outcomes if o.error is not None or o.elapsed > BOUND_S]
    assert not hung, hung
    statuses = {o.status for o in outcomes}
    assert statuses <= {200, 503}, statuses
    for failed in (o for o in outcomes if o.status == 503):
        assert failed.content_type == "application/problem+json", failed
        assert failed.problem_type == PROBLEM_BASE + (
            "not-ready" if failed.endpoint == "ready" else "unavailable"
        )
        assert int(failed.retry_after or 0) > 0, failed

    for name in calls:
        mine = [o for o in outcomes if o.endpoint == name]
        before = [o.status for o in mine if o.finished < timeline.stop_begun]
        down = [
            o.status for o in mine if o.started > timeline.stop_done and o.finished < timeline.start_begun
        ]
        recovered = recovered_at(outcomes, name, timeline)
        assert recovered is not None
        after = [o.status for o in mine if o.started > recovered]
        assert set(before) == {200}, (name, before)
        # Requests kept coming while the database was down, and each one failed fast.
        assert len(down) >= 3, (name, down)
        assert set(down) == {503}, (name, down)
        assert set(after) == {200}, (name, after)

    # Every acknowledged batch is stored; nothing appears that was never sent.
    accepted = {ext for o in outcomes if o.status == 200 and o.batch for ext in o.batch}
    stored = await stored_external_ids(stack_runtime, tenant, contract_id)
    assert accepted <= stored <= sent

    # A restart no request met: nothing has told the pool its connections died, so the first request
    # after may fail cleanly on one; that renews the pool, and the next requests are served.
    await asyncio.to_thread(stack.services.stop_postgres)
    await asyncio.to_thread(stack.services.start_postgres)
    first = await client.get(client_path, headers=tenant.admin)
    if first.status_code != 200:
        assert_problem(first, 503, "unavailable")
    for _ in range(3):
        assert (await client.get(client_path, headers=tenant.admin)).status_code == 200
    assert stack.server.thread.is_alive()
