"""The refresh after ingest adds a batch's new items to its hours' rows, and the rows are then exactly what
measuring every item of those hours gives: at every step, with items answered, open, breaching with time,
changed by a later batch, or sent to an hour no row holds yet."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import alerts, rollups
from bpo.sla.models import Alert, RollupBatch, SlaHourly, SlaPeriod, WorkHourly, WorkPeriod
from bpo.sla.rollups import HOUR
from tests.support.factories import TenantHandle, create_tenant
from tests.support.sla import ingest, sla_contract

# Thursday 1 October 2026, 09:00 in Tokyo.
T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
HOURS = [T0 + timedelta(hours=n) for n in range(3)]
OBJECTIVES = [
    {
        "metric": "first_response",
        "threshold": "1h",
        "target_percent": 90,
        "clock": "calendar",
        "checkpoints": ["15m", "30m"],
    },
    {"metric": "resolution", "threshold": "2h", "target_percent": 80, "clock": "business_hours"},
    {
        "metric": "first_response",
        "threshold": "20m",
        "target_percent": 95,
        "clock": "calendar",
        "priorities": ["high"],
    },
]
WEEKDAYS = [{"days": ["weekdays"], "start": "09:00", "end": "18:00"}]


def at(instant: datetime) -> str:
    return instant.isoformat()


def new_item(rng: random.Random, name: str) -> dict[str, Any]:
    received = T0 + timedelta(seconds=rng.uniform(0, 3 * 3600))
    item: dict[str, Any] = {"external_id": name, "received_at": at(received), "units": rng.randint(1, 3)}
    if rng.random() < 0.7:
        item["channel"] = rng.choice(["chat", "email"])
    if rng.random() < 0.3:
        item["priority"] = "high"
    if rng.random() < 0.3:
        item["csat"] = rng.randint(1, 5)
    if rng.random() < 0.7:
        first = received + timedelta(seconds=rng.expovariate(1 / 1500))
        item["first_response_at"] = at(first)
        if rng.random() < 0.6:
            item["resolved_at"] = at(first + timedelta(seconds=rng.expovariate(1 / 3600)))
            item["outcome"] = rng.choice(["replied", "resolved"])
    return item


async def rows(session: AsyncSession, tenant_id: uuid.UUID, contract_id: uuid.UUID) -> dict[str, Any]:
    """The contract's hourly, daily and monthly rows, as comparable values."""
    found: dict[str, Any] = {}
    for model in (SlaHourly, WorkHourly, SlaPeriod, WorkPeriod):
        columns = [c for c in model.__table__.columns if c.name != "refreshed_at"]
        result = await session.execute(
            select(*columns).where(model.tenant_id == tenant_id, model.contract_id == contract_id)
        )
        found[model.__tablename__] = sorted((tuple(map(repr, row)) for row in result), key=str)
    return found


async def setup(client: httpx.AsyncClient) -> tuple[TenantHandle, uuid.UUID]:
    tenant = await create_tenant(client)
    contract = await sla_contract(client, tenant, objectives=OBJECTIVES, windows=WEEKDAYS)
    return tenant, uuid.UUID(contract["contract"]["id"])


async def follow(
    runtime: Runtime, tenant: TenantHandle, contract_id: uuid.UUID, now: datetime
) -> rollups.Followed:
    """What the refresh job does after a batch, then a check in a savepoint that measuring every item of
    the hours at the same instant writes the same rows (for the hours time has not moved on: those are
    the periodic refresh's to measure again)."""
    scope = system_scope(tenant.id)
    async with runtime.db.tenant(tenant.id) as session:
        followed = await rollups.add_batches(session, scope, contract_id, HOURS, now)
    async with runtime.db.tenant(tenant.id) as session:
        added = await rows(session, tenant.id, contract_id)
        due = (await rollups.due_hours(session, scope, now)).get(contract_id, [])
        async with session.begin_nested() as nested:
            await rollups.refresh_hours(session, scope, contract_id, sorted(set(HOURS) - set(due)), now)
            assert await rows(session, tenant.id, contract_id) == added
            await nested.rollback()
    return followed


async def test_batches_added_to_their_hours_equal_measuring_every_item(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, contract_id = await setup(client)
    rng = random.Random(20261001)
    sent: list[dict[str, Any]] = []
    whole: list[datetime] = []
    added = 0
    # Each step a little later: open items breach and pass checkpoints between some steps and not others.
    for step in range(8):
        batch = [new_item(rng, f"i{step}-{n}") for n in range(25)]
        await ingest(client, tenant.admin, str(contract_id), batch)
        sent += batch
        followed = await follow(runtime, tenant, contract_id, T0 + timedelta(hours=3, minutes=4 * step))
        whole += followed.whole
        added += len(followed.added)
        assert {item.external_id for item in followed.added} <= {item["external_id"] for item in batch}
    # The first batch found no rows: its hours were measured whole. Later ones were added, except to hours
    # time had moved on (an open item breaching, passing a checkpoint).
    assert set(HOURS) <= set(whole)
    assert added > 0
    assert len(whole) > len(HOURS)

    # A batch that changes stored items has their hours measured whole, and adds its new items elsewhere.
    late = T0 + timedelta(hours=2, minutes=30)
    answered = next(
        item for item in sent if "first_response_at" not in item and item["received_at"] < at(late)
    )
    changed = {**answered, "first_response_at": at(late)}
    fresh = {
        "external_id": "fresh",
        "received_at": at(T0 + timedelta(hours=2, minutes=50)),
        "channel": "chat",
    }
    await ingest(client, tenant.admin, str(contract_id), [changed, fresh])
    followed = await follow(runtime, tenant, contract_id, T0 + timedelta(hours=3, minutes=40))
    assert rollups.hour_of(datetime.fromisoformat(answered["received_at"])) in followed.whole
    if rollups.hour_of(datetime.fromisoformat(fresh["received_at"])) not in followed.whole:
        assert [item.external_id for item in followed.added] == ["fresh"]

    # Every batch was taken; a refresh asked again for the same hours has nothing left to do.
    async with runtime.db.tenant(tenant.id) as session:
        left = await session.scalars(select(RollupBatch).where(RollupBatch.contract_id == contract_id))
        assert list(left) == []
        again = await rollups.add_batches(
            session, system_scope(tenant.id), contract_id, HOURS, T0 + timedelta(hours=4)
        )
        assert again == rollups.Followed()


async def test_an_hour_measured_whole_takes_its_batches(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """A refresh that measures an hour whole (rebuild, time moving on) takes the batches recorded for it:
    the refresh after ingest then adds nothing twice."""
    tenant, contract_id = await setup(client)
    scope = system_scope(tenant.id)
    items = [
        {"external_id": f"w{n}", "received_at": at(T0 + timedelta(minutes=5 * n)), "channel": "chat"}
        for n in range(4)
    ]
    await ingest(client, tenant.admin, str(contract_id), items)
    now = T0 + timedelta(minutes=30)
    async with runtime.db.tenant(tenant.id) as session:
        await rollups.refresh_hours(session, scope, contract_id, [T0], now)
    async with runtime.db.tenant(tenant.id) as session:
        before = await rows(session, tenant.id, contract_id)
        assert await rollups.add_batches(session, scope, contract_id, [T0], now) == rollups.Followed()
        assert await rows(session, tenant.id, contract_id) == before
    assert await _volume(runtime, tenant, contract_id) == 4


async def test_hours_asked_whole_are_measured_whole(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Hours a job from before batches were recorded asks for are measured whole, taking the batches
    recorded for them, beside hours whose batches are added; the alerts then read the former whole."""
    tenant, contract_id = await setup(client)
    scope = system_scope(tenant.id)
    early = [{"external_id": "a1", "received_at": at(T0 + timedelta(minutes=5)), "channel": "chat"}]
    await ingest(client, tenant.admin, str(contract_id), early)
    now = T0 + timedelta(hours=3)
    async with runtime.db.tenant(tenant.id) as session:
        await rollups.add_batches(session, scope, contract_id, [T0 + HOUR], now)  # no batch there yet
    later = [{"external_id": "b1", "received_at": at(T0 + HOUR + timedelta(minutes=5)), "channel": "chat"}]
    await ingest(client, tenant.admin, str(contract_id), later)
    async with runtime.db.tenant(tenant.id) as session:
        await rollups.refresh_hours(session, scope, contract_id, [T0 + HOUR], now)
    more = [{"external_id": "b2", "received_at": at(T0 + HOUR + timedelta(minutes=6)), "channel": "chat"}]
    await ingest(client, tenant.admin, str(contract_id), more)
    async with runtime.db.tenant(tenant.id) as session:
        followed = await rollups.add_batches(session, scope, contract_id, [T0 + HOUR], now, whole=[T0])
    assert followed.whole == [T0]
    assert [item.external_id for item in followed.added] == ["b2"]
    async with runtime.db.tenant(tenant.id) as session:
        assert await rollups.add_batches(session, scope, contract_id, [T0], now) == rollups.Followed()
    assert await _volume(runtime, tenant, contract_id) == 3


async def _volume(runtime: Runtime, tenant: TenantHandle, contract_id: uuid.UUID) -> int:
    async with runtime.db.tenant(tenant.id) as session:
        return sum(
            await session.scalars(
                select(WorkHourly.received).where(
                    WorkHourly.tenant_id == tenant.id, WorkHourly.contract_id == contract_id
                )
            )
        )


async def test_added_items_that_arrive_late_raise_their_alerts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Alert detection after ingest sees the items added to an hour's rows: one answered past its threshold
    is a breach alert, as it would be had its hour been measured whole."""
    tenant, contract_id = await setup(client)
    scope = system_scope(tenant.id)
    now = datetime.now(UTC).replace(microsecond=0)
    hour = rollups.hour_of(now - timedelta(hours=3))
    on_time = {
        "external_id": "on-time",
        "received_at": at(hour + timedelta(minutes=1)),
        "first_response_at": at(hour + timedelta(minutes=5)),
    }
    await ingest(client, tenant.admin, str(contract_id), [on_time])
    async with runtime.db.tenant(tenant.id) as session:
        await rollups.add_batches(session, scope, contract_id, [hour], now)
    late = {
        "external_id": "late",
        "received_at": at(hour + timedelta(minutes=2)),
        "first_response_at": at(hour + timedelta(minutes=2, hours=1, seconds=30)),
    }
    await ingest(client, tenant.admin, str(contract_id), [late])
    async with runtime.db.tenant(tenant.id) as session:
        followed = await rollups.add_batches(session, scope, contract_id, [hour], now)
        assert followed.whole == []
        assert [item.external_id for item in followed.added] == ["late"]
        await alerts.detect_in_hours(session, scope, contract_id, followed.whole, now, followed.added)
    async with runtime.db.tenant(tenant.id) as session:
        raised = (await session.scalars(select(Alert).where(Alert.contract_id == contract_id))).all()
    assert {(a.kind, a.detail["work_item"]["external_id"]) for a in raised} == {("breached", "late")}


async def test_a_changed_calendar_has_the_hours_measured_again_whole(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Business hours that change after an hour was measured: the next batch into that hour has it
    measured whole, on the new hours, instead of adding to numbers measured on the old ones."""
    tenant = await create_tenant(client)
    contract = (await sla_contract(client, tenant, objectives=OBJECTIVES, windows=WEEKDAYS))["contract"]
    contract_id = uuid.UUID(contract["id"])
    scope = system_scope(tenant.id)
    first = {
        "external_id": "c1",
        "received_at": at(T0 + timedelta(minutes=5)),
        "first_response_at": at(T0 + timedelta(minutes=10)),
        "resolved_at": at(T0 + timedelta(hours=3)),
    }
    await ingest(client, tenant.admin, str(contract_id), [first])
    now = T0 + timedelta(hours=4)
    async with runtime.db.tenant(tenant.id) as session:
        assert (await rollups.add_batches(session, scope, contract_id, [T0], now)).whole == [T0]
    response = await client.patch(
        f"/v1/calendars/{contract['calendar_id']}",
        json={"windows": [{"days": ["weekdays"], "start": "10:00", "end": "18:00"}]},
        headers=tenant.admin,
    )
    assert response.status_code == 200, response.text
    second = {"external_id": "c2", "received_at": at(T0 + timedelta(minutes=6)), "channel": "chat"}
    await ingest(client, tenant.admin, str(contract_id), [second])
    followed = await follow(runtime, tenant, contract_id, now)
    assert followed == rollups.Followed(whole=[T0], added=[])
