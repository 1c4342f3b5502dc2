"""The scheduled month-end run: early on the day after a client's closing date in the tenant's zone, once."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bpo.billing import invoice_runs as runs
from bpo.billing.models import InvoiceRun
from bpo.core.jobs.registry import MONTH_END_JOB
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.scheduler import JOB_NAMESPACE, Scheduler
from tests.support.billing import billing_setup, expected_october, invoices
from tests.support.factories import TenantHandle, create_tenant

TOKYO = ZoneInfo("Asia/Tokyo")


class TestWhenDue:
    def test_from_three_on_the_day_after_the_closing_date_local_time(self) -> None:
        assert runs.closing_due(datetime(2026, 11, 1, 2, 59, tzinfo=TOKYO)) is None
        assert runs.closing_due(datetime(2026, 11, 1, 3, 0, tzinfo=TOKYO)) == date(2026, 10, 31)
        assert runs.closing_due(datetime(2026, 11, 21, 3, 0, tzinfo=TOKYO)) == date(2026, 11, 20)
        assert runs.closing_due(datetime(2027, 1, 1, 23, 59, tzinfo=TOKYO)) == date(2026, 12, 31)

    @given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
    def test_due_from_three_and_always_for_the_day_before(self, moment: datetime) -> None:
        due = runs.closing_due(moment)
        assert (due is not None) == (moment.hour >= runs.MONTH_END_HOUR)
        if due is not None:
            assert due.toordinal() == moment.date().toordinal() - 1


async def run_count(runtime: Runtime, tenant: TenantHandle) -> int:
    async with runtime.db.tenant(tenant.id) as session:
        count = await session.scalar(
            select(func.count()).select_from(InvoiceRun).where(InvoiceRun.tenant_id == tenant.id)
        )
    return int(count or 0)


async def trigger(runtime: Runtime, tenant: TenantHandle, now: datetime) -> Any:
    async with runtime.db.tenant(tenant.id) as session:
        return await runs.run_month_end(session, system_scope(tenant.id), now)


class TestScheduledRun:
    async def test_drafts_once_however_often_triggered(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        # 02:30 JST on 1 November is 17:30 UTC on 31 October: not yet.
        assert await trigger(runtime, tenant, datetime(2026, 10, 31, 17, 30, tzinfo=UTC)) is None
        assert await run_count(runtime, tenant) == 0

        first = await trigger(runtime, tenant, datetime(2026, 11, 1, 3, 5, tzinfo=TOKYO))
        assert first is not None
        assert first.drafts_created == 1
        for later in (datetime(2026, 11, 1, 3, 5, tzinfo=TOKYO), datetime(2026, 11, 1, 9, 11, tzinfo=TOKYO)):
            assert await trigger(runtime, tenant, later) is None
        assert await run_count(runtime, tenant) == 1
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        assert draft["status"] == "draft"
        assert draft["total"]["amount"] == expected_october()["total"]
        run_id = runs.month_end_run_id(tenant.id, date(2026, 10, 31))
        status = await client.get(f"/v1/invoice-runs/{run_id}", headers=tenant.admin)
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "done"


class RecordingBroker:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def enqueue(self, message: Any) -> None:
        self.messages.append(message)


class TestScheduler:
    async def test_one_job_per_tenant_per_hour_with_a_deterministic_id(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        broker = RecordingBroker()
        scheduler = Scheduler(dataclasses.replace(runtime, broker=broker))  # type: ignore[arg-type]
        await runtime.redis.delete("bpo:scheduler:leader")
        before = datetime.now(UTC).strftime("%Y-%m-%dT%H")
        sent = await scheduler.month_end_runs()
        again = await scheduler.month_end_runs()
        after = datetime.now(UTC).strftime("%Y-%m-%dT%H")
        assert sent == again >= 1
        mine = [m for m in broker.messages if m.kwargs["tenant_id"] == str(tenant.id)]
        assert [m.actor_name for m in mine] == [MONTH_END_JOB] * 2
        # The same id within the hour: a second send has no second effect.
        assert mine[0].message_id == mine[1].message_id
        assert uuid.UUID(mine[0].message_id) in {
            uuid.uuid5(JOB_NAMESPACE, f"{MONTH_END_JOB}:{tenant.id}:{hour}") for hour in (before, after)
        }
        await runtime.redis.delete("bpo:scheduler:leader")
