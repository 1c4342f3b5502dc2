"""A request body that fails type validation is answered with every mistake in it, each at its path
(and item index in a batch), up to a limit, with a count of the rest."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from bpo.core.validation import ERROR_LIMIT
from tests.support.factories import create_tenant
from tests.support.problems import assert_problem, error_fields
from tests.support.work import item, items_of, live_contract, send


async def test_four_bad_fields_are_four_errors(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    body = {"code": "bad code!", "name": "", "currency": "yen", "closing_day": "soon", "colour": "red"}

    response = await client.post("/v1/clients", json=body, headers=tenant.admin)

    problem = assert_problem(response, 422, "validation-error")
    errors = {e["field"]: e["message"] for e in problem["errors"]}
    assert sorted(errors) == ["closing_day", "code", "colour", "currency", "name"]
    assert errors["currency"] == "Expected a currency code like JPY or USD, got 'yen'"
    assert errors["code"].startswith("Expected a code of letters, digits")
    assert errors["colour"] == "Object contains unknown field `colour`"
    assert "errors_omitted" not in problem
    for field in errors:
        assert f"{field}: " in problem["detail"]
    listed = await client.get("/v1/clients", headers=tenant.admin)
    assert listed.json()["items"] == []


async def test_a_batch_names_every_bad_item_by_index(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    items = [item(n) for n in range(7)]
    items[0]["units"] = "x"
    items[2]["received_at"] = "yesterday"
    del items[5]["external_id"]
    items[5]["extra"] = 1

    response = await send(client, tenant.admin, {"contract_id": contract["id"], "items": items})

    problem = assert_problem(response, 422, "validation-error")
    assert [(e["field"], e.get("index")) for e in problem["errors"]] == [
        ("items[0].units", 0),
        ("items[2].received_at", 2),
        ("items[5].extra", 5),
        ("items[5].external_id", 5),
    ]
    assert problem["errors"][3]["message"] == "Object missing required field `external_id`"
    assert await items_of(client, contract["id"], tenant.admin) == []


async def test_more_mistakes_than_the_limit_are_counted(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    contract = (await live_contract(client, tenant))["contract"]
    items = [item(n, units="x") for n in range(ERROR_LIMIT + 30)]

    response = await send(client, tenant.admin, {"contract_id": contract["id"], "items": items})

    problem = assert_problem(response, 422, "validation-error")
    assert len(problem["errors"]) == ERROR_LIMIT
    assert error_fields(problem) == [f"items[{n}].units" for n in range(ERROR_LIMIT)]
    assert problem["errors_omitted"] == 30
    assert problem["detail"].endswith("; and 30 more")


async def test_nested_mistakes_are_named_by_their_whole_path(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    tiers: list[dict[str, Any]] = [
        {"up_to": 100, "unit_price": 50},
        {"up_to": 1000, "unit_price": 40},
        {"up_to": "lots", "unit_price": 30},
    ]
    body = {
        "effective_from": "2026-13-01",
        "currency": "JPY",
        "charges": [
            {"kind": "per_unit", "code": "HANDLED", "name": "Handled", "unit_price": 10},
            {"kind": "graduated", "code": "TIERS", "name": "Tiers", "tiers": tiers},
            {"kind": "bonus", "code": "B", "name": "B"},
        ],
        "service_credits": "none",
    }

    response = await client.post(f"/v1/contracts/{uuid.uuid4()}/rate-plans", json=body, headers=tenant.admin)

    problem = assert_problem(response, 422, "validation-error")
    assert error_fields(problem) == [
        "effective_from",
        "charges[1].tiers[2].up_to",
        "charges[2].kind",
        "service_credits",
    ]
    assert all("index" not in e for e in problem["errors"])


async def test_a_tag_that_is_not_a_name_is_a_mistake_at_the_tag(client: httpx.AsyncClient) -> None:
    """A charge's ``kind`` given as an object or a list names no kind of charge: a 422 at it, not a 500."""
    tenant = await create_tenant(client)
    for kind in ({}, [], None, 1.5):
        body = {
            "effective_from": "2027-01-01",
            "currency": "JPY",
            "charges": [{"kind": kind, "code": "C", "name": "C"}],
        }
        response = await client.post(
            f"/v1/contracts/{uuid.uuid4()}/rate-plans", json=body, headers=tenant.admin
        )
        problem = assert_problem(response, 422, "validation-error")
        assert error_fields(problem) == ["charges[0].kind"], (kind, problem)


async def test_more_rule_violations_than_the_limit_are_counted(client: httpx.AsyncClient) -> None:
    """Mistakes found by the rules after decoding (not by the types) are capped at the same limit."""
    tenant = await create_tenant(client)
    window = {"days": [], "start": "0:00", "end": "0:00"}
    empty = {"start": "0:00", "end": "0:00"}
    exceptions = [{"date": f"2027-01-{day:02d}", "windows": [empty] * 5} for day in range(1, 29)]
    body = {
        "code": "C",
        "name": "C",
        "time_zone": "Asia/Tokyo",
        "windows": [window] * 50,
        "exceptions": exceptions,
    }
    response = await client.post("/v1/calendars", json=body, headers=tenant.admin)
    problem = assert_problem(response, 422, "validation-error")
    assert len(problem["errors"]) == ERROR_LIMIT
    # 50 windows wrong twice (no day, no length), 140 exception windows once: 240 in all.
    assert problem["errors_omitted"] == 140


async def test_a_query_value_that_reads_malformed_is_still_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    response = await client.get(
        "/v1/job-failures",
        params=[("object_id", "true"), ("object_id", "malformed-request")],
        headers=tenant.admin,
    )
    assert_problem(response, 422, "validation-error")
