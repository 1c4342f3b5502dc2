"""Invoice runs that cannot succeed: a period past the window is refused up front; a rate plan or a run an
older release stored (planted here straight in the database) fails its own client or run only, at once,
with the reason on the run and in the dead-letter view, and is corrected through the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bpo.billing.models import InvoiceRun
from bpo.clients.models import RatePlan
from bpo.core.jobs.registry import DEFAULT_QUEUE, RUN_PERIOD_JOB
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.support.billing import billing_setup, expected_october, invoices
from tests.support.database import owner_connection
from tests.support.factories import TenantHandle, create_tenant, get_ok
from tests.support.jobs import eventually, job_done, job_failures, send_job
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.sla import BASE_FEE, ONE_HOUR_CALENDAR, sla_contract

# Past MinorUnits (10^15) and past the 64-bit integers invoices are stored in.
ABSURD_FEE = [{"kind": "fixed_monthly", "code": "base", "name": "Base", "amount": 10**30}]


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    # Only its own queue: jobs other tests left in the shared Redis do not queue ahead of it.
    running = Worker(worker_env, tmp_path / "worker.log", args=("--queue", DEFAULT_QUEUE))
    try:
        yield running
    finally:
        running.kill()


async def finished(client: httpx.AsyncClient, tenant: TenantHandle, run_id: str) -> dict[str, Any]:
    async def done() -> bool:
        run = await get_ok(client, f"/v1/invoice-runs/{run_id}", tenant.admin)
        return bool(run["status"] != "queued")

    await eventually(f"invoice run {run_id} finished", done, within=60)
    run: dict[str, Any] = await get_ok(client, f"/v1/invoice-runs/{run_id}", tenant.admin)
    return run


async def start_run(client: httpx.AsyncClient, tenant: TenantHandle, period: str) -> str:
    response = await client.post("/v1/invoice-runs", json={"period": period}, headers=tenant.admin)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


class TestPeriods:
    async def test_only_months_within_the_window(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        for period in ("9999-12", "2032-01", "1999-12", "0000-01"):
            response = await client.post("/v1/invoice-runs", json={"period": period}, headers=tenant.admin)
            assert "period" in error_fields(assert_problem(response, 422, "validation-error")), period
        # The tenant's today is in December 2026: five years on is December 2031.
        assert await start_run(client, tenant, "2031-12")
        assert await start_run(client, tenant, "2000-01")


class TestPoisonedRuns:
    async def test_a_client_whose_plan_cannot_be_billed_fails_alone(
        self, client: httpx.AsyncClient, runtime: Runtime, worker: Worker
    ) -> None:
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        poisoned = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR, plan=BASE_FEE)
        contract_id = poisoned["contract"]["id"]
        (plan,) = await get_ok(client, f"/v1/contracts/{contract_id}/rate-plans", tenant.admin)
        async with runtime.db.tenant(tenant.id) as session:
            await session.execute(
                update(RatePlan)
                .where(RatePlan.tenant_id == tenant.id, RatePlan.id == uuid.UUID(plan["id"]))
                .values(charges=ABSURD_FEE)
            )
        # Still listed as stored, so it can be looked at and corrected.
        (stored,) = await get_ok(client, f"/v1/contracts/{contract_id}/rate-plans", tenant.admin)
        assert stored["charges"][0]["amount"] == 10**30

        run = await finished(client, tenant, await start_run(client, tenant, "2026-10"))

        assert run["status"] == "failed", run
        (error,) = run["result"]["errors"]
        assert error.startswith(f"Client {poisoned['client']['code']}: "), error
        assert run["result"]["drafts_created"] == 1
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        assert draft["total"]["amount"] == expected_october()["total"]
        (failure,) = await job_failures(client, tenant.admin, object_id=poisoned["client"]["id"])
        assert failure["job"] == "billing.run_period"
        assert failure["object_type"] == "client"
        assert failure["attempts"] == 1
        assert failure["cause"] == "deterministic"
        assert "job_retrying" not in worker.log()

        # Corrected in place (its month is closed, but nothing could be billed by it), the next run bills
        # both clients and closes the failure.
        response = await client.put(
            f"/v1/contracts/{contract_id}/rate-plans/{plan['id']}",
            json={"currency": "JPY", "charges": BASE_FEE["charges"]},
            headers=tenant.admin,
        )
        assert response.status_code == 200, response.text
        run = await finished(client, tenant, await start_run(client, tenant, "2026-10"))
        assert run["status"] == "done", run
        assert run["result"]["drafts_created"] == 1
        assert run["result"]["drafts_replaced"] == 1
        assert await job_failures(client, tenant.admin, object_id=poisoned["client"]["id"]) == []
        (resolved,) = await job_failures(
            client, tenant.admin, object_id=poisoned["client"]["id"], status="resolved"
        )
        assert resolved["resolved_at"] is not None

    async def test_a_draft_the_database_refuses_fails_its_client_alone(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings, worker: Worker
    ) -> None:
        """The run writes every draft together; when the database refuses that (here a trigger planted on
        one contract's lines), it writes them again client by client, and only that client fails."""
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        refused = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR, plan=BASE_FEE)
        code = refused["contract"]["code"]
        owner = await owner_connection(settings)
        trigger = f"refuse_{uuid.uuid4().hex[:8]}"
        try:
            await owner.execute(
                f"""
                CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'line refused for %', NEW.contract_code; END $$;
                CREATE TRIGGER {trigger} BEFORE INSERT ON invoice_lines FOR EACH ROW
                WHEN (NEW.contract_code = '{code}') EXECUTE FUNCTION {trigger}();
                """
            )
            run = await finished(client, tenant, await start_run(client, tenant, "2026-10"))
        finally:
            await owner.execute(
                f"DROP TRIGGER IF EXISTS {trigger} ON invoice_lines; DROP FUNCTION {trigger}()"
            )
            await owner.close()

        assert run["status"] == "failed", run
        (error,) = run["result"]["errors"]
        assert error.startswith(f"Client {refused['client']['code']}: "), error
        assert f"line refused for {code}" in error
        assert run["result"]["drafts_created"] == 1
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        assert draft["total"]["amount"] == expected_october()["total"]
        (failure,) = await job_failures(client, tenant.admin, object_id=refused["client"]["id"])
        assert failure["object_type"] == "client"

        # Nothing refuses it any more: the next run drafts both, together.
        run = await finished(client, tenant, await start_run(client, tenant, "2026-10"))
        assert run["status"] == "done", run
        assert (run["result"]["drafts_created"], run["result"]["drafts_replaced"]) == (1, 1)
        assert await job_failures(client, tenant.admin, object_id=refused["client"]["id"]) == []

    async def test_a_run_that_cannot_succeed_ends_failed_at_once(
        self, client: httpx.AsyncClient, runtime: Runtime, worker: Worker
    ) -> None:
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        # A run an older release accepted: December 9999, whose last day has no day after it.
        run_id = new_id()
        async with runtime.db.tenant(tenant.id) as session:
            session.add(
                InvoiceRun(
                    tenant_id=tenant.id, id=run_id, period=date(9999, 12, 1), status="queued", result={}
                )
            )
        await send_job(runtime, RUN_PERIOD_JOB, DEFAULT_QUEUE, tenant.id, run_id=str(run_id))

        run = await finished(client, tenant, str(run_id))

        assert run["status"] == "failed", run
        (error,) = run["result"]["errors"]
        assert "OverflowError" in error
        assert run["finished_at"] is not None

        # A job whose run is gone fails as a whole, once: not found now is not found in a minute.
        missing = uuid.uuid4()
        job_id = await send_job(runtime, RUN_PERIOD_JOB, DEFAULT_QUEUE, tenant.id, run_id=str(missing))

        async def recorded() -> bool:
            return bool(await job_failures(client, tenant.admin, object_id=str(missing)))

        await eventually("the failure of the job", recorded, within=30)
        (failure,) = await job_failures(client, tenant.admin, object_id=str(missing))
        assert failure["job"] == "billing.run_period"
        assert failure["object_type"] == "invoice_run"
        assert failure["job_id"] == str(job_id)
        assert failure["attempts"] == 1
        assert failure["cause"] == "deterministic"
        assert failure["error"] == f"NotFound: Invoice run {missing} not found."
        assert not await job_done(runtime, tenant.id, job_id)
        assert "job_retrying" not in worker.log()
