"""Day and month rollups: dashboards read them and show exactly what the hourly rows give, a late item or
a client moving to another zone included."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import rollups
from bpo.sla.models import PeriodRollupZone, SlaPeriod
from bpo.sla.ranges import merge_plan
from tests.support.factories import TenantHandle, create_tenant, post_ok
from tests.support.problems import assert_problem
from tests.support.sla import chat_contract, ingest, rebuild

JST = "+09:00"
# Every hour of the day is used so that local days differ between zones.
RANGES = [("2026-09-15", "2026-11-10"), ("2026-10-01", "2026-10-31"), ("2026-10-02", "2026-10-30")]


def history() -> list[dict[str, Any]]:
    """Chats from 10 September to mid November 2026: answered fast, late or never; some on channel chat."""
    items = []
    start = datetime.fromisoformat(f"2026-09-10T00:17:00{JST}")
    for n in range(160):
        received = start + timedelta(hours=n * 10 + n % 7, minutes=n % 13)
        item: dict[str, Any] = {"external_id": f"h-{n}", "received_at": received.isoformat()}
        if n % 5:
            item["first_response_at"] = (received + timedelta(seconds=20 + 13 * (n % 9))).isoformat()
        if n % 3 == 0:
            item["resolved_at"] = (received + timedelta(hours=1 + n % 30)).isoformat()
            item["outcome"] = "replied"
        if n % 4 == 0:
            item["channel"] = "chat"
            item["sentiment"] = "positive"
        items.append(item)
    return items


async def dashboards(client: httpx.AsyncClient, headers: dict[str, str], setup: dict[str, Any]) -> list[Any]:
    bodies = []
    contract_id = setup["contract"]["id"]
    for start, end in RANGES:
        for granularity in ("day", "week", "month"):
            params = {"start": start, "end": end, "granularity": granularity}
            response = await client.get(f"/v1/contracts/{contract_id}/sla", params=params, headers=headers)
            assert response.status_code == 200, response.text
            bodies.append(response.json())
        params = {"start": start, "end": end}
        response = await client.get(
            f"/v1/clients/{setup['client']['id']}/sla", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    return bodies


async def from_hours(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, setup: dict[str, Any]
) -> list[Any]:
    """The same dashboards while the contract's day and month rows are set aside (read from hours)."""
    contract_id = uuid.UUID(setup["contract"]["id"])
    key = (PeriodRollupZone.tenant_id == tenant.id, PeriodRollupZone.contract_id == contract_id)
    async with runtime.db.tenant(tenant.id) as session:
        marker = (
            await session.execute(select(PeriodRollupZone.time_zone, PeriodRollupZone.version).where(*key))
        ).one()
        await session.execute(delete(PeriodRollupZone).where(*key))
    try:
        return await dashboards(client, tenant.admin, setup)
    finally:
        async with runtime.db.tenant(tenant.id) as session:
            zone, version = marker
            session.add(
                PeriodRollupZone(
                    tenant_id=tenant.id, contract_id=contract_id, time_zone=zone, version=version
                )
            )


async def with_history(client: httpx.AsyncClient, runtime: Runtime) -> tuple[TenantHandle, dict[str, Any]]:
    tenant = await create_tenant(client)
    setup = await chat_contract(client, tenant)
    await ingest(client, tenant.admin, setup["contract"]["id"], history())
    await rebuild(runtime, tenant, setup["contract"]["id"], datetime(2026, 11, 1, tzinfo=UTC))
    return tenant, setup


class TestDayAndMonthRows:
    async def test_dashboards_read_them_and_show_what_the_hours_give(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant, setup = await with_history(client, runtime)
        by_periods = await dashboards(client, tenant.admin, setup)
        assert by_periods == await from_hours(client, runtime, tenant, setup)
        october = by_periods[4]["objectives"][0]
        assert october["met"] + october["breached"] + october["pending"] > 40
        # The served numbers are the day rows', as of the rollup version: changed rows show once the
        # version moves on, as every refresh makes it.
        contract_id = uuid.UUID(setup["contract"]["id"])
        async with runtime.db.tenant(tenant.id) as session:
            await session.execute(
                update(SlaPeriod)
                .where(SlaPeriod.contract_id == contract_id, SlaPeriod.span == "day")
                .values(met=SlaPeriod.met + 1000)
            )
        assert (await dashboards(client, tenant.admin, setup))[4]["objectives"][0] == october
        async with runtime.db.tenant(tenant.id) as session:
            await session.execute(
                update(PeriodRollupZone)
                .where(PeriodRollupZone.contract_id == contract_id)
                .values(version=PeriodRollupZone.version + 1)
            )
        tampered = (await dashboards(client, tenant.admin, setup))[4]["objectives"][0]
        assert tampered["met"] == october["met"] + 1000 * len(october["series"])

    async def test_a_late_item_updates_its_day_and_month(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant, setup = await with_history(client, runtime)
        before = await dashboards(client, tenant.admin, setup)
        late = {
            "external_id": "late",
            "received_at": f"2026-10-02T23:40:00{JST}",
            "first_response_at": f"2026-10-05T10:30:10{JST}",
        }
        await ingest(client, tenant.admin, setup["contract"]["id"], [late])
        async with runtime.db.tenant(tenant.id) as session:
            hour = datetime(2026, 10, 2, 14, tzinfo=UTC)
            now = datetime(2026, 11, 1, tzinfo=UTC)
            scope = system_scope(tenant.id)
            await rollups.refresh_hours(session, scope, uuid.UUID(setup["contract"]["id"]), [hour], now)
        after = await dashboards(client, tenant.admin, setup)
        assert after == await from_hours(client, runtime, tenant, setup)
        october = (before[4]["objectives"][0], after[4]["objectives"][0])
        assert october[1]["met"] == october[0]["met"] + 1
        assert after[4]["volumes"]["received"] == before[4]["volumes"]["received"] + 1

    async def test_a_client_moving_zone_reads_hours_until_its_next_refresh(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant, setup = await with_history(client, runtime)
        tokyo = await dashboards(client, tenant.admin, setup)
        moving = await client.patch(
            f"/v1/clients/{setup['client']['id']}",
            json={"time_zone": "America/Sao_Paulo"},
            headers=tenant.admin,
        )
        assert moving.status_code == 200, moving.text
        moved = await dashboards(client, tenant.admin, setup)
        assert moved != tokyo
        assert moved[0]["time_zone"] == "America/Sao_Paulo"
        # The day and month rows are still cut in Tokyo's days: the dashboards come from the hours.
        assert moved == await from_hours(client, runtime, tenant, setup)
        await rebuild(runtime, tenant, setup["contract"]["id"], datetime(2026, 11, 1, tzinfo=UTC))
        async with runtime.db.tenant(tenant.id) as session:
            cut_in = await session.scalar(
                select(PeriodRollupZone.time_zone).where(
                    PeriodRollupZone.contract_id == uuid.UUID(setup["contract"]["id"])
                )
            )
        assert cut_in == "America/Sao_Paulo"
        assert await dashboards(client, tenant.admin, setup) == moved

    async def test_other_tenants_see_nothing(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        _, setup = await with_history(client, runtime)
        stranger = await create_tenant(client)
        response = await client.get(f"/v1/contracts/{setup['contract']['id']}/sla", headers=stranger.admin)
        assert_problem(response, 404)
        async with runtime.db.tenant(stranger.id) as session:
            assert (await session.scalars(select(SlaPeriod.contract_id))).all() == []


async def test_a_range_without_items_is_empty(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    setup = await chat_contract(client, tenant)
    await post_ok(
        client,
        "/v1/work-items:batch",
        {"contract_id": setup["contract"]["id"], "items": history()[:3]},
        tenant.admin,
    )
    await rebuild(runtime, tenant, setup["contract"]["id"], datetime(2026, 11, 1, tzinfo=UTC))
    response = await client.get(
        f"/v1/contracts/{setup['contract']['id']}/sla",
        params={"start": "2026-01-01", "end": "2026-02-28"},
        headers=tenant.admin,
    )
    assert response.status_code == 200, response.text
    (objective,) = response.json()["objectives"]
    assert (objective["met"], objective["breached"], objective["series"]) == (0, 0, [])
    assert objective["percentiles"] == {"p50_ms": None, "p90_ms": None, "p95_ms": None}
    assert response.json()["volumes"]["received"] == 0


async def test_refreshing_hours_without_items_writes_no_rows(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    setup = await chat_contract(client, tenant)
    contract_id = uuid.UUID(setup["contract"]["id"])
    async with runtime.db.tenant(tenant.id) as session:
        hour = datetime(2026, 10, 5, 3, tzinfo=UTC)
        written = await rollups.refresh_hours(session, system_scope(tenant.id), contract_id, [hour], hour)
        assert written == 0
        assert (await session.scalars(select(SlaPeriod.starts_on))).all() == []
        cut_in = await session.scalar(select(PeriodRollupZone.time_zone))
    assert cut_in == "Asia/Tokyo"


@given(st.dates(date(2025, 1, 1), date(2027, 12, 31)), st.integers(0, 400), st.sets(st.integers(0, 1200)))
def test_month_rows_plus_and_minus_month_to_date_rows_add_up_to_the_range(
    first: date, days: int, busy: set[int]
) -> None:
    """Any range is what merge_plan says: its months, plus the last month-to-date row up to its last day,
    minus the last one before its first day; days without items have no rows."""
    last = first + timedelta(days=days)
    origin = date(2024, 11, 1)
    counts = {origin + timedelta(days=n): n + 1 for n in busy}
    months: dict[date, int] = {}
    for day, count in counts.items():
        months[day.replace(day=1)] = months.get(day.replace(day=1), 0) + count

    def to_date(lower: date, upper: date) -> int:
        rows = [day for day in counts if lower <= day <= upper]
        latest = max(rows, default=None)
        return (
            0 if latest is None else sum(c for d, c in counts.items() if latest.replace(day=1) <= d <= latest)
        )

    plan = merge_plan(first, last)
    merged = (
        sum(c for month, c in months.items() if plan["months_from"] <= month <= plan["months_to"])
        + to_date(plan["tail_from"], last)
        - to_date(plan["head_from"], plan["head_to"])
    )
    assert merged == sum(c for day, c in counts.items() if first <= day <= last)
