"""Per-person productivity: items handled per person and period and the median handle time, hand-checked;
the operator's people only, never a client's."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.factories import create_api_key, create_tenant, create_user, get_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, sla_contract

JST = "+09:00"


def handled(n: int, day: str, who: str | None, minutes: int | None = None, **extra: Any) -> dict[str, Any]:
    received = f"2026-10-{day}T10:{n:02d}:00{JST}"
    item: dict[str, Any] = {"external_id": f"i{n}", "received_at": received, **extra}
    if who is not None:
        item["handled_by"] = who
    if minutes is not None:
        item["started_at"] = f"2026-10-{day}T11:00:00{JST}"
        item["handled_at"] = f"2026-10-{day}T11:{minutes:02d}:00{JST}"
    return item


# Sato: 5, 10 and 20 minutes over two days (median 10 min); Suzuki: 4 minutes and one untimed item;
# one item nobody took; one received on 1 November (outside October).
ITEMS = [
    handled(1, "05", "Sato", 5),
    handled(2, "05", "Sato", 20),
    handled(3, "06", "Sato", 10),
    handled(4, "06", "Suzuki", 4),
    handled(5, "06", "Suzuki"),
    handled(6, "06", None, 7),
    {"external_id": "late", "received_at": f"2026-11-01T10:00:00{JST}", "handled_by": "Sato"},
]


async def productivity(
    client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, **params: str
) -> httpx.Response:
    query = {"from": "2026-10-01", "to": "2026-10-31", **params}
    return await client.get(f"/v1/contracts/{contract_id}/productivity", params=query, headers=headers)


class TestProductivity:
    async def test_items_and_median_handle_time_per_person(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, ITEMS)
        _, supervisor = await create_user(client, tenant, role="supervisor")
        response = await productivity(client, supervisor, contract_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["start"], body["end"], body["unattributed"]) == ("2026-10-01", "2026-10-31", 1)
        people = {p["handled_by"]: p for p in body["people"]}
        assert [p["handled_by"] for p in body["people"]] == ["Sato", "Suzuki"]
        assert (people["Sato"]["handled"], people["Sato"]["timed"], people["Sato"]["median_handle_ms"]) == (
            3,
            3,
            600_000,
        )
        assert [(p["period"], p["handled"], p["median_handle_ms"]) for p in people["Sato"]["series"]] == [
            ("2026-10-05", 2, 750_000),
            ("2026-10-06", 1, 600_000),
        ]
        assert (
            people["Suzuki"]["handled"],
            people["Suzuki"]["timed"],
            people["Suzuki"]["median_handle_ms"],
        ) == (2, 1, 240_000)
        monthly = (await productivity(client, tenant.admin, contract_id, granularity="month")).json()
        assert [(p["period"], p["handled"]) for p in monthly["people"][0]["series"]] == [("2026-10-01", 3)]
        november = (
            await productivity(
                client, tenant.admin, contract_id, **{"from": "2026-11-01", "to": "2026-11-30"}
            )
        ).json()
        assert [(p["handled_by"], p["handled"], p["median_handle_ms"]) for p in november["people"]] == [
            ("Sato", 1, None)
        ]

    async def test_never_for_a_clients_people_or_systems(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        contract_id = setup["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, ITEMS)
        client_id = uuid.UUID(setup["client"]["id"])
        _, viewer = await create_user(client, tenant, role="client_viewer", client_id=client_id)
        _, staff = await create_user(client, tenant, role="staff")
        key = await create_api_key(client, tenant, client_id=client_id)
        for headers in (viewer, staff, {"Authorization": f"Bearer {key['key']}"}):
            body = assert_problem(await productivity(client, headers, contract_id), 403)
            assert "Sato" not in str(body)
        # The viewer still reads the contract's SLA: only productivity is closed to it.
        await get_ok(client, f"/v1/contracts/{contract_id}/sla", viewer)
        for role in ("admin", "account_manager"):
            headers = tenant.admin if role == "admin" else (await create_user(client, tenant, role=role))[1]
            assert (await productivity(client, headers, contract_id)).status_code == 200
        stranger = await create_tenant(client)
        assert_problem(await productivity(client, stranger.admin, contract_id), 404)
        assert_problem(await productivity(client, tenant.admin, str(uuid.uuid4())), 404)

    async def test_bad_ranges_name_the_parameter(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR))["contract"]["id"]
        for params, field in (
            ({"from": "2026-10-31", "to": "2026-10-01"}, "to"),
            ({"from": "2026-01-01", "to": "2026-10-01"}, "to"),
            ({"from": "0001-01-01"}, "from"),
        ):
            body = assert_problem(await productivity(client, tenant.admin, contract_id, **params), 422)
            assert field in error_fields(body), (params, body)
        for params in ({"from": "yesterday"}, {"granularity": "hour"}):
            assert_problem(await productivity(client, tenant.admin, contract_id, **params), 422)
