"""Rollups and the dashboard API, from ingest to the numbers a client sees."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bpo.core.jobs.registry import SLA_QUEUE
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import rollups
from tests.support.factories import create_client, create_tenant, create_user
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import BPO, Worker
from tests.support.sla import chat_contract, ingest, rebuild

JST = "+09:00"

# Monday 5 October 2026 (JST). a, c, e answered within 45 s of business time; b late; d never answered.
CHATS = [
    {
        "external_id": "a",
        "received_at": f"2026-10-05T10:30:00{JST}",
        "first_response_at": f"2026-10-05T10:30:44{JST}",
    },
    {
        "external_id": "b",
        "received_at": f"2026-10-05T10:31:00{JST}",
        "first_response_at": f"2026-10-05T10:31:46{JST}",
    },
    {
        "external_id": "c",
        "received_at": f"2026-10-05T10:32:00{JST}",
        "first_response_at": f"2026-10-05T10:32:30{JST}",
    },
    {"external_id": "d", "received_at": f"2026-10-05T10:33:00{JST}", "channel": "chat"},
    # 10 s before closing, answered 30 s after the next opening: 40 s of business time.
    {
        "external_id": "e",
        "received_at": f"2026-10-05T18:29:50{JST}",
        "first_response_at": f"2026-10-06T10:30:30{JST}",
    },
]


async def sla(client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, **params: str) -> Any:
    query = {"start": "2026-10-01", "end": "2026-10-31", **params}
    response = await client.get(f"/v1/contracts/{contract_id}/sla", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestContractSla:
    async def test_lancers_chat_numbers(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        setup = await chat_contract(client, tenant)
        contract_id = setup["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, CHATS)
        await rebuild(runtime, tenant, contract_id, datetime(2026, 11, 1, tzinfo=UTC))
        body = await sla(client, tenant.admin, contract_id)
        (objective,) = body["objectives"]
        assert (objective["met"], objective["breached"], objective["pending"]) == (3, 2, 0)
        assert objective["attainment"] == 60.0
        assert objective["status"] == "red"
        assert objective["target_percent"] == 95
        assert [(c["checkpoint"], c["within"], c["eligible"]) for c in objective["checkpoints"]] == [
            ("45s", 3, 5),
            ("1m", 4, 5),
            ("5m", 4, 5),
        ]
        # Answered latencies 30, 40, 44, 46 s: the median sketch value is within 4.4% of 40 or 44.
        p50_ms = objective["percentiles"]["p50_ms"]
        assert isinstance(p50_ms, int)
        assert 38_000 <= p50_ms <= 46_000
        series = {p["period"]: p for p in objective["series"]}
        assert series["2026-10-05"]["met"] == 3  # e was received on the 5th (JST)
        assert body["volumes"]["received"] == 5
        assert body["volumes"]["responded"] == 4
        channels = {c["channel"]: c["received"] for c in body["volumes"]["by_channel"]}
        assert channels == {"": 4, "chat": 1}
        weekly = await sla(client, tenant.admin, contract_id, granularity="week")
        assert [p["period"] for p in weekly["objectives"][0]["series"]] == ["2026-10-05"]

    async def test_replay_leaves_the_numbers_unchanged(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await chat_contract(client, tenant))["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, CHATS)
        await rebuild(runtime, tenant, contract_id, datetime(2026, 11, 1, tzinfo=UTC))
        before = await sla(client, tenant.admin, contract_id)
        replay = await ingest(client, tenant.admin, contract_id, CHATS)
        assert replay["unchanged"] == len(CHATS)
        await rebuild(runtime, tenant, contract_id, datetime(2026, 11, 1, tzinfo=UTC))
        assert await sla(client, tenant.admin, contract_id) == before

    async def test_pending_turns_breached_with_time_alone(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await chat_contract(client, tenant))["contract"]["id"]
        received = datetime(2026, 10, 5, 1, 40, tzinfo=UTC)  # 10:40 JST, open
        await ingest(
            client, tenant.admin, contract_id, [{"external_id": "x", "received_at": received.isoformat()}]
        )
        await rebuild(runtime, tenant, contract_id, received + timedelta(seconds=10))
        (objective,) = (await sla(client, tenant.admin, contract_id))["objectives"]
        assert (objective["met"], objective["breached"], objective["pending"]) == (0, 0, 1)
        scope = system_scope(tenant.id)
        async with runtime.db.tenant(tenant.id) as session:
            assert await rollups.due_hours(session, scope, received + timedelta(seconds=30)) == {}
            later = received + timedelta(minutes=5)
            due = await rollups.due_hours(session, scope, later)
            assert due == {uuid.UUID(contract_id): [received.replace(minute=0)]}
            for cid, hours in due.items():
                await rollups.refresh_hours(session, scope, cid, hours, later)
        (objective,) = (await sla(client, tenant.admin, contract_id))["objectives"]
        assert (objective["met"], objective["breached"], objective["pending"]) == (0, 1, 0)
        async with runtime.db.tenant(tenant.id) as session:
            assert await rollups.due_hours(session, scope, later + timedelta(days=30)) == {}

    async def test_ingest_reaches_the_dashboard_through_a_real_worker(
        self, client: httpx.AsyncClient, worker_env: dict[str, str], tmp_path: Any
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await chat_contract(client, tenant))["contract"]["id"]
        # Only its own queue: jobs other tests left in the shared Redis do not queue ahead of it.
        worker = Worker(worker_env, tmp_path / "worker.log", args=("--queue", SLA_QUEUE))
        try:
            await ingest(client, tenant.admin, contract_id, CHATS)
            deadline = time.monotonic() + 60
            while True:
                objectives = (await sla(client, tenant.admin, contract_id))["objectives"]
                if objectives and objectives[0]["met"] + objectives[0]["breached"] == 5:
                    break
                assert time.monotonic() < deadline, worker.log()[-3000:]
                await asyncio.sleep(0.2)
            assert objectives[0]["met"] == 3
        finally:
            worker.kill()

    async def test_bad_ranges(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await chat_contract(client, tenant))["contract"]["id"]
        for params in (
            {"start": "2026-10-31", "end": "2026-10-01"},
            {"start": "2025-01-01", "end": "2026-10-01"},
            {"start": "yesterday"},
            {"granularity": "hour"},
        ):
            response = await client.get(
                f"/v1/contracts/{contract_id}/sla", params=params, headers=tenant.admin
            )
            assert_problem(response, 422)

    async def test_dates_past_the_ones_allowed_are_named(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await chat_contract(client, tenant)
        contract_id, client_id = setup["contract"]["id"], setup["client"]["id"]
        paths = [f"/v1/contracts/{contract_id}/sla", f"/v1/contracts/{contract_id}/sla.csv"]
        # Neither the default month before the first date nor the day after the last fits in a datetime.
        last_day = {"start": "9999-12-31", "end": "9999-12-31"}
        for path in [*paths, f"/v1/clients/{client_id}/sla"]:
            for params, field in (({"end": "0001-01-01"}, "end"), (last_day, "start")):
                response = await client.get(path, params=params, headers=tenant.admin)
                body = assert_problem(response, 422, "validation-error")
                assert field in error_fields(body), (path, body)


class TestClientSla:
    async def test_summary_with_trend(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        setup = await chat_contract(client, tenant)
        contract_id = setup["contract"]["id"]
        september = [
            {
                **chat,
                "external_id": f"sep-{chat['external_id']}",
                "received_at": chat["received_at"].replace("10-05", "09-07"),
            }
            for chat in CHATS
            if "first_response_at" in chat and chat["external_id"] in {"a", "c"}
        ]
        for chat in september:
            chat["first_response_at"] = chat["first_response_at"].replace("10-05", "09-07")
        await ingest(client, tenant.admin, contract_id, CHATS + september)
        await rebuild(runtime, tenant, contract_id, datetime(2026, 11, 1, tzinfo=UTC))
        response = await client.get(
            f"/v1/clients/{setup['client']['id']}/sla",
            params={"start": "2026-10-01", "end": "2026-10-30"},
            headers=tenant.admin,
        )
        assert response.status_code == 200, response.text
        (summary,) = response.json()["contracts"]
        assert summary["received"] == 5
        (objective,) = summary["objectives"]
        assert objective["attainment"] == 60.0
        assert objective["previous_attainment"] == 100.0
        assert objective["trend"] == "down"
        assert objective["status"] == "red"

        export = await client.get(
            f"/v1/clients/{setup['client']['id']}/sla.csv",
            params={"start": "2026-10-01", "end": "2026-10-30"},
            headers=tenant.admin,
        )
        assert export.status_code == 200, export.text
        assert export.headers["content-type"].startswith("text/csv")
        assert (
            f"sla-{setup['client']['code']}-2026-10-01-2026-10-30.csv"
            in export.headers["content-disposition"]
        )
        (row,) = csv.DictReader(io.StringIO(export.text))
        assert row == {
            "contract_code": summary["contract_code"],
            "contract_name": summary["name"],
            "objective": objective["key"],
            "metric": "first_response",
            "target_percent": "95",
            "attainment_percent": "60.00",
            "status": "red",
            "previous_attainment_percent": "100.00",
            "trend": "down",
            "received": "5",
        }


class TestIsolation:
    async def test_viewers_see_only_their_client_and_others_nothing(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        mine = await chat_contract(client, tenant)
        theirs = await chat_contract(client, tenant)
        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(mine["client"]["id"])
        )
        assert (
            await client.get(f"/v1/contracts/{mine['contract']['id']}/sla", headers=viewer)
        ).status_code == 200
        assert (
            await client.get(f"/v1/clients/{mine['client']['id']}/sla", headers=viewer)
        ).status_code == 200
        for path in (
            f"/v1/contracts/{theirs['contract']['id']}/sla",
            f"/v1/clients/{theirs['client']['id']}/sla",
            f"/v1/clients/{theirs['client']['id']}/sla.csv",
        ):
            assert_problem(await client.get(path, headers=viewer), 404)
        _, staff = await create_user(client, tenant, role="staff")
        assert_problem(await client.get(f"/v1/contracts/{mine['contract']['id']}/sla", headers=staff), 403)
        stranger = await create_tenant(client)
        for path in (
            f"/v1/contracts/{mine['contract']['id']}/sla",
            f"/v1/clients/{mine['client']['id']}/sla",
            f"/v1/clients/{mine['client']['id']}/sla.csv",
        ):
            assert_problem(await client.get(path, headers=stranger.admin), 404)


class TestRebuildCommand:
    async def test_rebuild_recomputes_from_items(
        self, client: httpx.AsyncClient, worker_env: dict[str, str], tmp_path: Any
    ) -> None:
        import subprocess

        tenant = await create_tenant(client)
        contract = (await chat_contract(client, tenant))["contract"]
        await ingest(client, tenant.admin, contract["id"], CHATS)
        assert (await sla(client, tenant.admin, contract["id"]))["objectives"][0]["met"] == 0
        bpo = str(BPO)
        command = [bpo, "sla", "rebuild", "--contract", contract["code"], "--tenant", tenant.slug]
        done = subprocess.run(
            [*command, "--since", "2026-10-01", "--until", "2026-11-01"],
            env=worker_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "2 hours with items rebuilt" in done.stdout
        (objective,) = (await sla(client, tenant.admin, contract["id"]))["objectives"]
        assert (objective["met"], objective["breached"]) == (3, 2)
        unknown = subprocess.run(
            [bpo, "sla", "rebuild", "--contract", "NOPE", "--tenant", tenant.slug, "--since", "2026-10-01"],
            env=worker_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert unknown.returncode == 1
        assert "NOPE" in unknown.stderr


class TestCsvExport:
    async def test_csv_has_the_same_numbers(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        setup = await chat_contract(client, tenant)
        contract_id = setup["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, CHATS)
        await rebuild(runtime, tenant, contract_id, datetime(2026, 11, 1, tzinfo=UTC))
        report = await sla(client, tenant.admin, contract_id)
        params = {"start": "2026-10-01", "end": "2026-10-31"}
        response = await client.get(
            f"/v1/contracts/{contract_id}/sla.csv", params=params, headers=tenant.admin
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        series = report["objectives"][0]["series"]
        assert [(r["period"], int(r["met"]), int(r["breached"])) for r in rows] == [
            (p["period"], p["met"], p["breached"]) for p in series
        ]
        assert rows[0]["received"] == "5"
        _, viewer = await create_user(
            client,
            tenant,
            role="client_viewer",
            client_id=uuid.UUID((await create_client(client, tenant))["id"]),
        )
        assert_problem(await client.get(f"/v1/contracts/{contract_id}/sla.csv", headers=viewer), 404)
