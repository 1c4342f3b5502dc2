"""Poison values. Bounds are refused with the field's path and stated in the schema; a value an older
release stored (planted here straight in the database) fails the jobs of its own contract only, at once
and with its reason in the dead-letter view and /metrics, leaves the other contracts measured and
alerted, keeps the dashboard answering, and is corrected through the API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text, update

from bpo.clients.models import SlaPolicy
from bpo.core.jobs.failures import Failures
from bpo.core.jobs.registry import DETECT_JOB, REFRESH_DUE_JOB, SLA_QUEUE
from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import alerts
from tests.support.factories import TenantHandle, create_tenant, create_user, get_ok, post_ok
from tests.support.jobs import eventually, failure_count, job_done, job_failures, send_job
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, sla_contract

# At risk 48 s after receipt, breached after a minute: quick enough to watch a sweep raise it.
ONE_MINUTE = [{"metric": "first_response", "threshold": "1m", "target_percent": 90, "clock": "calendar"}]
# Past any real objective and past what date arithmetic can hold (about 27 million years).
POISON = [{"metric": "first_response", "threshold": "9999999999d", "target_percent": 90, "clock": "calendar"}]


def objectives(**fields: Any) -> dict[str, Any]:
    return {"effective_from": "2026-12-01", "objectives": [{**ONE_HOUR_CALENDAR[0], **fields}]}


async def plant(runtime: Runtime, tenant: TenantHandle, policy_id: str, stored: list[dict[str, Any]]) -> None:
    """What an older release could have stored: written to the database past today's checks."""
    async with runtime.db.tenant(tenant.id) as session:
        await session.execute(
            update(SlaPolicy)
            .where(SlaPolicy.tenant_id == tenant.id, SlaPolicy.id == uuid.UUID(policy_id))
            .values(objectives=stored)
        )


async def make_hours_due(runtime: Runtime, tenant: TenantHandle) -> None:
    """Every hourly row of the tenant as if time had moved past its next change."""
    async with runtime.db.tenant(tenant.id) as session:
        await session.execute(
            text("UPDATE sla_hourly SET next_change_at = now() - interval '1 second' WHERE tenant_id = :t"),
            {"t": tenant.id},
        )


async def objective(client: httpx.AsyncClient, headers: dict[str, str], contract_id: str) -> dict[str, Any]:
    (only,) = (await get_ok(client, f"/v1/contracts/{contract_id}/sla", headers))["objectives"]
    result: dict[str, Any] = only
    return result


def at(instant: datetime) -> str:
    return instant.isoformat()


class TestBounds:
    async def test_thresholds_and_checkpoints_past_a_year_are_refused_with_their_path(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        path = f"/v1/contracts/{contract_id}/sla-policies"
        for body, field in (
            (objectives(threshold="9999999999d"), "objectives[0].threshold"),
            (objectives(threshold="367d"), "objectives[0].threshold"),
            (objectives(threshold="8785h"), "objectives[0].threshold"),
            (objectives(checkpoints=["1h", "400d"]), "objectives[0].checkpoints[1]"),
            (objectives(checkpoints=["1h", "99999999999s"]), "objectives[0].checkpoints[1]"),
        ):
            response = await client.post(path, json=body, headers=tenant.admin)
            problem = assert_problem(response, 422, "validation-error")
            assert field in error_fields(problem), problem
        assert (await post_ok(client, path, objectives(threshold="366d"), tenant.admin))["objectives"]

    async def test_counts_and_dates_are_bounded(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        many = {
            "effective_from": "2026-12-01",
            "objectives": [{**ONE_HOUR_CALENDAR[0], "channels": [f"c{n}"]} for n in range(51)],
        }
        tiers = [{"up_to": n + 1, "unit_price": 1} for n in range(50)] + [{"up_to": None, "unit_price": 1}]
        plan = {
            "effective_from": "2026-12-01",
            "currency": "JPY",
            "charges": [{"kind": "graduated", "code": "t", "name": "Tiers", "tiers": tiers}],
        }
        for path, body, field in (
            ("sla-policies", many, "objectives"),
            ("sla-policies", {**objectives(), "effective_from": "2040-01-01"}, "effective_from"),
            ("rate-plans", plan, "charges[0].tiers"),
            ("sla-policies", {**objectives(), "effective_from": "1999-12-31"}, "effective_from"),
            (
                "rate-plans",
                {**plan, "charges": [], "minimum_commitment": 1, "effective_from": "2032-01-01"},
                "effective_from",
            ),
        ):
            response = await client.post(
                f"/v1/contracts/{contract_id}/{path}", json=body, headers=tenant.admin
            )
            problem = assert_problem(response, 422, "validation-error")
            assert field in error_fields(problem), problem
        forecast = {
            "start": "2026-12-07T09:00:00+09:00",
            "arrivals": [10, 12],
            "aht_seconds": 300,
            "model": "backlog",
            "objective": {"threshold": "400d"},
        }
        response = await client.post(
            f"/v1/contracts/{contract_id}/forecast", json=forecast, headers=tenant.admin
        )
        assert "objective.threshold" in error_fields(assert_problem(response, 422, "validation-error"))

    async def test_the_schema_states_the_bounds(self, client: httpx.AsyncClient) -> None:
        schemas = (await get_ok(client, "/schema/openapi.json", {}))["components"]["schemas"]
        threshold = schemas["Objective"]["properties"]["threshold"]
        assert threshold["maxLength"] == 25
        assert "{1,3}d" in threshold["pattern"]
        assert "at most 366 days" in threshold["description"]
        assert schemas["SlaPolicyCreate"]["properties"]["objectives"]["maxItems"] == 50
        assert (
            "5 years after today" in schemas["SlaPolicyCreate"]["properties"]["effective_from"]["description"]
        )
        assert schemas["RatePlanCreate"]["properties"]["charges"]["maxItems"] == 50
        assert schemas["Tier"]["properties"]["up_to"]["maximum"] == 10**12
        assert "5 years after today" in schemas["InvoiceRunCreate"]["properties"]["period"]["description"]
        assert "at most 366 days" in schemas["ForecastObjective"]["properties"]["threshold"]["description"]


class TestPoisonedContract:
    async def test_fails_alone_at_once_and_is_corrected_through_the_api(
        self, client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
    ) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        good = (await sla_contract(client, tenant, objectives=ONE_MINUTE, code="GOOD"))["contract"]["id"]
        poisoned = await sla_contract(client, tenant, objectives=ONE_MINUTE, code="BAD")
        bad = poisoned["contract"]["id"]
        worker = Worker(worker_env, tmp_path / "worker.log", args=("--queue", SLA_QUEUE))
        try:
            start = datetime.now(UTC)
            late = {"external_id": "late", "received_at": at(start - timedelta(hours=3))}
            late["first_response_at"] = at(start - timedelta(hours=2))
            for contract_id in (good, bad):
                await ingest(client, h, contract_id, [late])

            async def measured(contract_id: str, count: int) -> bool:
                numbers = await objective(client, h, contract_id)
                return bool(numbers["met"] + numbers["breached"] + numbers["pending"] == count)

            await eventually("GOOD measured", lambda: measured(good, 1), within=60)
            await eventually("BAD measured", lambda: measured(bad, 1), within=60)

            # An older release stored an absurd threshold in BAD's only version.
            (version,) = await get_ok(client, f"/v1/contracts/{bad}/sla-policies", h)
            await plant(runtime, tenant, version["id"], POISON)
            counted = await failure_count(client, "sla.refresh_hours")

            # New items: each contract's sla.refresh_hours job; BAD's fails, GOOD's does not.
            received = datetime.now(UTC) - timedelta(seconds=40)
            soon = {"external_id": "soon", "received_at": at(received)}
            for contract_id in (good, bad):
                await ingest(client, h, contract_id, [soon])
            await eventually("GOOD's new item measured", lambda: measured(good, 2), within=30)

            async def failed(**params: str) -> list[dict[str, Any]]:
                return await job_failures(client, h, object_id=bad, **params)

            async def failed_jobs(*jobs: str) -> bool:
                return {f["job"] for f in await failed()} >= set(jobs)

            await eventually("BAD's refresh failure", lambda: failed_jobs("sla.refresh_hours"), within=30)
            # Its at-risk instant (48 s after receipt) comes after GOOD's refresh ran: the sweep raises it.
            assert datetime.now(UTC) < received + timedelta(seconds=48)
            await asyncio.sleep((received + timedelta(seconds=49) - datetime.now(UTC)).total_seconds())

            # The tenant-wide sweeps, as the scheduler sends them every minute.
            await make_hours_due(runtime, tenant)
            sweeps = [
                await send_job(runtime, job, SLA_QUEUE, tenant.id) for job in (REFRESH_DUE_JOB, DETECT_JOB)
            ]
            await eventually("both sweeps done", lambda: all_done(runtime, tenant, sweeps), within=30)

            # GOOD: measured and alerted by the sweeps, which went on past BAD.
            (raised,) = await alerts_of(client, h, good, "at_risk")
            assert raised["detail"]["work_item"]["external_id"] == "soon"
            assert await alerts_of(client, h, bad, "at_risk") == []
            assert await job_failures(client, h, object_id=good) == []

            # BAD: each job failed on it once, at once, with the reason; never retried.
            await asyncio.sleep(2)
            failures = {f["job"]: f for f in await failed()}
            assert set(failures) == {"sla.refresh_hours", "sla.refresh_due", "sla.detect_alerts"}
            for failure in failures.values():
                assert failure["object_type"] == "contract"
                assert failure["attempts"] == 1, failure
                assert failure["cause"] == "deterministic"
                assert "'9999999999d' is longer than 366 days" in failure["error"]
                assert failure["resolved_at"] is None
            assert "job_retrying" not in worker.log()
            assert await failure_count(client, "sla.refresh_hours") >= counted + 1

            # BAD's dashboard still answers, and says why its objective shows nothing new.
            shown = await objective(client, h, bad)
            assert "longer than 366 days" in shown["problem"]
            assert shown["threshold"] == "9999999999d"
            await get_ok(client, f"/v1/clients/{poisoned['client']['id']}/sla", h)
            assert (await objective(client, h, good))["problem"] is None

            # The dead-letter view is the tenant's admins': others see nothing of it.
            other = await create_tenant(client)
            assert await job_failures(client, other.admin) == []
            _, supervisor = await create_user(client, tenant, role="supervisor")
            assert_problem(await client.get("/v1/job-failures", headers=supervisor), 403)

            # Corrected through the API (the version started in a closed month, but nothing could be
            # measured by it), the next runs succeed and close the failures.
            corrected = {"objectives": ONE_MINUTE}
            response = await client.put(
                f"/v1/contracts/{bad}/sla-policies/{version['id']}", json=corrected, headers=h
            )
            assert response.status_code == 200, response.text
            assert response.json()["objectives"][0]["threshold"] == "1m"
            # What the version could not measure is measured in the background (sla.remeasure).
            await eventually("BAD measured again", lambda: measured(bad, 2), within=30)
            assert (await objective(client, h, bad))["problem"] is None
            await ingest(client, h, bad, [{"external_id": "after", "received_at": at(datetime.now(UTC))}])
            await make_hours_due(runtime, tenant)
            sweeps = [
                await send_job(runtime, job, SLA_QUEUE, tenant.id) for job in (REFRESH_DUE_JOB, DETECT_JOB)
            ]
            await eventually("the failures resolved", lambda: no_open(client, h, bad), within=30)
            resolved = await failed(status="resolved")
            assert {f["job"] for f in resolved} == {
                "sla.refresh_hours",
                "sla.refresh_due",
                "sla.detect_alerts",
            }
            assert all(f["resolved_at"] for f in resolved)
            shown = await objective(client, h, bad)
            assert shown["problem"] is None
            assert shown["met"] + shown["breached"] + shown["pending"] == 3
        finally:
            worker.kill()


async def alerts_of(
    client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, kind: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await get_ok(client, "/v1/alerts", headers, contract_id=contract_id, kind=kind)
    )["items"]
    return items


async def all_done(runtime: Runtime, tenant: TenantHandle, jobs: list[uuid.UUID]) -> bool:
    return all([await job_done(runtime, tenant.id, job) for job in jobs])


async def no_open(client: httpx.AsyncClient, headers: dict[str, str], object_id: str) -> bool:
    return await job_failures(client, headers, object_id=object_id) == []


class TestFutureVersion:
    async def test_a_planted_future_version_is_deleted_even_on_an_ended_contract(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        planted = new_id()
        async with runtime.db.tenant(tenant.id) as session:
            session.add(
                SlaPolicy(
                    tenant_id=tenant.id,
                    id=planted,
                    contract_id=uuid.UUID(contract_id),
                    effective_from=date(2027, 3, 1),
                    objectives=POISON,
                )
            )
        await post_ok(client, f"/v1/contracts/{contract_id}/transitions", {"status": "ended"}, h)
        versions = await get_ok(client, f"/v1/contracts/{contract_id}/sla-policies", h)
        assert [v["objectives"][0]["threshold"] for v in versions] == ["1h", "9999999999d"]

        async def sweep() -> Failures:
            failures = Failures()
            async with runtime.db.tenant(tenant.id) as session:
                await alerts.sweep(session, system_scope(tenant.id), datetime.now(UTC), failures=failures)
            return failures

        # Measured by no one yet, it already breaks the sweep for its contract (and only for it).
        (failure,) = (await sweep()).failed
        assert failure.object_id == uuid.UUID(contract_id)

        # A sane version of an ended contract stays as it is; the planted one goes.
        sane = versions[0]["id"]
        response = await client.put(
            f"/v1/contracts/{contract_id}/sla-policies/{sane}",
            json={"objectives": ONE_HOUR_CALENDAR},
            headers=h,
        )
        assert_problem(response, 409, "contract-ended")
        response = await client.delete(f"/v1/contracts/{contract_id}/sla-policies/{planted}", headers=h)
        assert response.status_code == 204, response.text
        versions = await get_ok(client, f"/v1/contracts/{contract_id}/sla-policies", h)
        assert [v["id"] for v in versions] == [sane]
        assert (await sweep()).failed == []
        response = await client.delete(f"/v1/contracts/{contract_id}/sla-policies/{sane}", headers=h)
        assert_problem(response, 409)


class TestCorrectingVersions:
    async def test_only_versions_no_closed_month_depends_on(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        path = f"/v1/contracts/{contract_id}/sla-policies"
        (first,) = await get_ok(client, path, h)
        current = await post_ok(client, path, objectives(), h)
        replacement = {"objectives": [{**ONE_HOUR_CALENDAR[0], "threshold": "2h"}]}

        # From 2026-01-01 it measured closed months: it stays.
        response = await client.put(f"{path}/{first['id']}", json=replacement, headers=h)
        assert_problem(response, 409, "version-in-force")
        assert_problem(await client.delete(f"{path}/{first['id']}", headers=h), 409, "version-in-force")
        # From this month's first day: corrected in place, with the same checks as a new one.
        response = await client.put(f"{path}/{current['id']}", json=replacement, headers=h)
        assert response.status_code == 200, response.text
        assert response.json()["effective_from"] == current["effective_from"]
        assert response.json()["objectives"][0]["threshold"] == "2h"
        bad = {"objectives": [{**ONE_HOUR_CALENDAR[0], "threshold": "400d"}]}
        response = await client.put(f"{path}/{current['id']}", json=bad, headers=h)
        assert "objectives[0].threshold" in error_fields(assert_problem(response, 422))
        response = await client.delete(f"{path}/{current['id']}", headers=h)
        assert response.status_code == 204, response.text
        assert [v["id"] for v in await get_ok(client, path, h)] == [first["id"]]
        assert_problem(await client.put(f"{path}/{uuid.uuid4()}", json=replacement, headers=h), 404)
        other = await create_tenant(client)
        assert_problem(await client.delete(f"{path}/{first['id']}", headers=other.admin), 404)
