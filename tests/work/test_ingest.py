from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.factories import create_tenant, create_user, onboard, post_ok
from tests.support.problems import assert_problem
from tests.support.processes import BPO
from tests.support.work import BASE, item, items_of, live_contract, send


class TestBatch:
    async def test_create_then_replay_changes_nothing(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract = (await live_contract(client, tenant))["contract"]
        batch = {"contract_id": contract["id"], "items": [item(n) for n in range(1000)]}
        first = await send(client, tenant.admin, batch)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "contract_id": contract["id"],
            "received": 1000,
            "created": 1000,
            "updated": 0,
            "unchanged": 0,
        }
        before = await items_of(client, contract["id"], tenant.admin)
        replay = await send(client, tenant.admin, batch)
        assert replay.json()["created"] == 0
        assert replay.json()["updated"] == 0
        assert replay.json()["unchanged"] == 1000
        assert await items_of(client, contract["id"], tenant.admin) == before

    async def test_three_bad_items_out_of_1000_are_all_named_and_nothing_is_written(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        contract = (await live_contract(client, tenant))["contract"]
        items = [item(n) for n in range(1000)]
        items[17]["resolved_at"] = (BASE - timedelta(days=1)).isoformat()  # before received_at
        items[500]["received_at"] = "2026-10-01T09:00:00"  # no offset
        items[999]["external_id"] = "ticket-3"  # repeats items[3]
        response = await send(client, tenant.admin, {"contract_id": contract["id"], "items": items})
        problem = assert_problem(response, 422, "validation-error")
        named = {(e["index"], e["field"]) for e in problem["errors"]}  # type: ignore[union-attr]
        assert named == {
            (17, "items[17].resolved_at"),
            (500, "items[500].received_at"),
            (999, "items[999].external_id"),
        }
        assert await items_of(client, contract["id"], tenant.admin) == []

    async def test_timestamps_only_move_forward(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract = (await live_contract(client, tenant))["contract"]
        answered = BASE + timedelta(minutes=30)
        created = await send(
            client,
            tenant.admin,
            {
                "contract_id": contract["id"],
                "items": [item(1, first_response_at=answered.isoformat(), priority="high")],
            },
        )
        assert created.json()["created"] == 1
        # A later first response, and a payload without priority: neither overwrites.
        later = await send(
            client,
            tenant.admin,
            {
                "contract_id": contract["id"],
                "items": [item(1, first_response_at=(answered + timedelta(hours=1)).isoformat())],
            },
        )
        assert later.json()["unchanged"] == 1
        # A resolution arrives: the item is updated, and the first response is kept.
        resolved = BASE + timedelta(hours=5)
        update = await send(
            client,
            tenant.admin,
            {
                "contract_id": contract["id"],
                "items": [item(1, resolved_at=resolved.isoformat(), outcome="replied")],
            },
        )
        assert update.json()["updated"] == 1
        (stored,) = await items_of(client, contract["id"], tenant.admin)
        assert datetime.fromisoformat(stored["first_response_at"]) == answered
        assert datetime.fromisoformat(stored["resolved_at"]) == resolved
        assert stored["priority"] == "high"
        assert stored["outcome"] == "replied"
        # An earlier first response does win.
        earlier = BASE + timedelta(minutes=5)
        await send(
            client,
            tenant.admin,
            {"contract_id": contract["id"], "items": [item(1, first_response_at=earlier.isoformat())]},
        )
        (stored,) = await items_of(client, contract["id"], tenant.admin)
        assert datetime.fromisoformat(stored["first_response_at"]) == earlier

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"sentiment": "furious"}, "sentiment"),
            ({"units": -1}, "units"),
            ({"attributes": {"blob": "x" * 5000}}, "attributes"),
            ({"received_at": "2099-01-01T00:00:00Z"}, "received_at"),
            ({"surprise": 1}, "surprise"),
        ],
    )
    async def test_bad_items(self, client: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
        tenant = await create_tenant(client)
        contract = (await live_contract(client, tenant))["contract"]
        response = await send(
            client, tenant.admin, {"contract_id": contract["id"], "items": [item(1, **change)]}
        )
        problem = assert_problem(response, 422)
        assert field in str(problem["errors"]), problem
        assert await items_of(client, contract["id"], tenant.admin) == []

    async def test_batch_limits_and_contract_rules(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract = setup["contract"]
        draft = await send(client, tenant.admin, {"contract_id": contract["id"], "items": [item(1)]})
        assert_problem(draft, 409, "contract-not-active")
        await post_ok(
            client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, tenant.admin
        )
        too_many = await send(
            client, tenant.admin, {"contract_id": contract["id"], "items": [item(n) for n in range(10_001)]}
        )
        assert_problem(too_many, 422)
        assert_problem(await send(client, tenant.admin, {"items": [item(1)]}), 422)
        by_code = await send(client, tenant.admin, {"contract_code": contract["code"], "items": [item(1)]})
        assert by_code.json()["created"] == 1


class TestIsolation:
    async def test_api_keys_write_only_their_clients_contracts(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        mine = await live_contract(client, tenant)
        theirs = await live_contract(client, tenant)
        key = await post_ok(
            client, "/v1/api-keys", {"name": "zendesk", "client_id": mine["client"]["id"]}, tenant.admin
        )
        headers = {"X-API-Key": key["key"]}
        ok = await send(client, headers, {"contract_id": mine["contract"]["id"], "items": [item(1)]})
        assert ok.status_code == 200, ok.text
        other = await send(client, headers, {"contract_id": theirs["contract"]["id"], "items": [item(1)]})
        assert_problem(other, 404)
        by_code = await send(
            client, headers, {"contract_code": theirs["contract"]["code"], "items": [item(1)]}
        )
        assert_problem(by_code, 404)
        assert await items_of(client, theirs["contract"]["id"], tenant.admin) == []
        # A key bound to one contract needs no contract in the body.
        bound = await post_ok(
            client,
            "/v1/api-keys",
            {"name": "one", "client_id": mine["client"]["id"], "contract_id": mine["contract"]["id"]},
            tenant.admin,
        )
        implicit = await send(client, {"X-API-Key": bound["key"]}, {"items": [item(2)]})
        assert implicit.json()["created"] == 1

    async def test_viewers_and_other_tenants(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        mine = await live_contract(client, tenant)
        theirs = await live_contract(client, tenant)
        await send(client, tenant.admin, {"contract_id": theirs["contract"]["id"], "items": [item(1)]})
        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(mine["client"]["id"])
        )
        assert_problem(
            await client.get(f"/v1/contracts/{theirs['contract']['id']}/work-items", headers=viewer), 404
        )
        assert await items_of(client, mine["contract"]["id"], viewer) == []
        assert_problem(
            await send(client, viewer, {"contract_id": mine["contract"]["id"], "items": [item(1)]}), 403
        )
        _, staff = await create_user(client, tenant, role="staff")
        assert_problem(
            await send(client, staff, {"contract_id": mine["contract"]["id"], "items": [item(1)]}), 403
        )
        stranger = await create_tenant(client)
        response = await send(
            client, stranger.admin, {"contract_id": theirs["contract"]["id"], "items": [item(9)]}
        )
        assert_problem(response, 404)
        assert_problem(
            await client.get(f"/v1/contracts/{theirs['contract']['id']}/work-items", headers=stranger.admin),
            404,
        )
        assert len(await items_of(client, theirs["contract"]["id"], tenant.admin)) == 1


class TestImportCommand:
    async def test_csv_and_ndjson_import_with_line_numbered_errors(
        self, client: httpx.AsyncClient, worker_env: dict[str, str], tmp_path: Any
    ) -> None:
        import json
        import subprocess

        tenant = await create_tenant(client)
        contract = (await live_contract(client, tenant))["contract"]
        bpo = str(BPO)
        csv_file = tmp_path / "history.csv"
        lines = ["external_id,received_at,first_response_at,channel,units,attributes"]
        lines += [
            f'c-{n},2026-09-01T0{n % 10}:00:00+09:00,,email,2,"{{""lang"": ""ja""}}"' for n in range(30)
        ]
        csv_file.write_text("\n".join(lines) + "\n")
        command = [
            bpo,
            "work",
            "import",
            str(csv_file),
            "--contract",
            contract["code"],
            "--tenant",
            tenant.slug,
        ]
        done = subprocess.run(
            command, env=worker_env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "30 items: 30 created, 0 updated, 0 unchanged" in done.stdout
        again = subprocess.run(
            command, env=worker_env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert "30 items: 0 created, 0 updated, 30 unchanged" in again.stdout
        stored = await items_of(client, contract["id"], tenant.admin)
        assert len(stored) == 30
        assert {i["units"] for i in stored} == {2}
        assert stored[0]["attributes"] == {"lang": "ja"}

        bad = tmp_path / "bad.ndjson"
        rows = [{"external_id": f"n-{n}", "received_at": "2026-09-02T00:00:00Z"} for n in range(5)]
        rows[1]["resolved_at"] = "2026-09-01T00:00:00Z"
        rows[3]["units"] = "many"
        bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        command = [bpo, "work", "import", str(bad), "--contract", contract["code"], "--tenant", tenant.slug]
        failed = subprocess.run(
            command, env=worker_env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert failed.returncode == 1
        assert "line 2: resolved_at: is before received_at" in failed.stderr
        assert "line 4:" in failed.stderr
        assert len(await items_of(client, contract["id"], tenant.admin)) == 30


def test_the_import_help_documents_every_column() -> None:
    import os
    import subprocess

    from bpo.work import schemas

    done = subprocess.run(
        [str(BPO), "work", "import", "--help"],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    documented = {
        line.split()[0] for line in done.stdout.splitlines() if line.startswith("   ") and line.strip()
    }
    assert set(schemas.WorkItemIn.__struct_fields__) <= documented, done.stdout
    for value in [*schemas.Outcome, *schemas.Sentiment]:
        assert value.value in done.stdout
