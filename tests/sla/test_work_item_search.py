"""GET /v1/work-items, its CSV and GET /v1/work-items/{id}: filters, text search (Japanese too), keyset
pages, each item's SLA result per objective, the objective/status filter against engine.measure, bad
input and isolation."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import asyncpg

from bpo.settings import Settings
from bpo.work import search
from bpo.work.models import WorkItem
from tests.support.database import owner_connection
from tests.support.factories import (
    TenantHandle,
    create_api_key,
    create_client,
    create_tenant,
    create_user,
    headers_for,
    post_ok,
)
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import BASE_FEE, CHAT_HOURS, CHAT_OBJECTIVES, ingest, sla_contract

JST = "+09:00"
OCTOBER = {"received_from": f"2026-10-01T00:00:00{JST}", "received_to": f"2026-11-01T00:00:00{JST}"}
ONE_HOUR = [{"metric": "first_response", "threshold": "1h", "target_percent": 90, "clock": "calendar"}]


def at(day: int, clock: str) -> str:
    return f"2026-10-{day:02d}T{clock}{JST}"


ITEMS: list[dict[str, Any]] = [
    {
        "external_id": "recipe-1",
        "received_at": at(5, "10:00:00"),
        "first_response_at": at(5, "10:20:00"),
        "channel": "chat",
        "kind": "inquiry",
        "outcome": "replied",
        "sentiment": "negative",
        "handled_by": "agent-1",
        "attributes": {"summary": "レシピの投稿が表示されない", "tags": ["bug", "recipe"]},
    },
    {
        "external_id": "recipe-2",
        "received_at": at(6, "11:00:00"),
        "first_response_at": at(6, "13:00:00"),
        "channel": "email",
        "kind": "inquiry",
        "outcome": "resolved",
        "sentiment": "positive",
        "handled_by": "agent-2",
        "attributes": {
            "summary": "Thanks for the quick fix",
            "voice": "写真が表示されないと報告",
            "tags": ["bug"],
        },
    },
    {
        "external_id": "post-3",
        "received_at": at(7, "12:00:00"),
        "channel": "chat",
        "kind": "report",
        "outcome": "escalated",
        "sentiment": "neutral",
        "handled_by": "agent-1",
        "attributes": {"summary": "100% off coupon_code abuse", "tags": ["fraud"]},
    },
    {
        "external_id": "post-4",
        "received_at": at(20, "09:00:00"),
        "resolved_at": at(20, "09:30:00"),
        "channel": "email",
        "kind": "report",
        "handled_by": "agent-3",
    },
]


async def find(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/work-items", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def found_ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    body = await find(client, headers, limit=200, **params)
    assert body["next_cursor"] is None
    return {item["external_id"] for item in body["items"]}


async def versioned_contract(
    client: httpx.AsyncClient, tenant: TenantHandle, versions: list[tuple[str, list[dict[str, Any]]]]
) -> dict[str, Any]:
    """An active chat contract on Lancers' chat hours with SLA versions from the given days."""
    h = tenant.admin
    customer = await create_client(client, tenant)
    service = await post_ok(client, f"/v1/clients/{customer['id']}/services", {"code": "s", "name": "S"}, h)
    calendar = await post_ok(
        client,
        "/v1/calendars",
        {"code": "CAL-CHAT", "name": "Chat", "time_zone": "Asia/Tokyo", "windows": CHAT_HOURS},
        h,
    )
    contract = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": service["id"],
            "code": "CHAT",
            "name": "Chat support",
            "work_type": "chat_support",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
        },
        h,
    )
    for effective_from, objectives in versions:
        policy = {"effective_from": effective_from, "objectives": objectives}
        await post_ok(client, f"/v1/contracts/{contract['id']}/sla-policies", policy, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", BASE_FEE, h)
    await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, h)
    return {"client": customer, "contract": contract}


async def one_contract(client: httpx.AsyncClient, objectives: list[dict[str, Any]] = ONE_HOUR) -> Any:
    tenant = await create_tenant(client)
    setup = await sla_contract(client, tenant, objectives=objectives)
    return tenant, setup


class TestFilters:
    async def test_each_filter_narrows(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        contract = setup["contract"]["id"]
        other = await sla_contract(client, tenant, objectives=ONE_HOUR)
        await ingest(client, tenant.admin, contract, ITEMS)
        await ingest(
            client,
            tenant.admin,
            other["contract"]["id"],
            [{"external_id": "elsewhere", "received_at": at(8, "08:00:00"), "channel": "chat"}],
        )
        h = tenant.admin
        everything = {item["external_id"] for item in ITEMS} | {"elsewhere"}
        assert await found_ids(client, h) == everything
        cases: list[tuple[dict[str, Any], set[str]]] = [
            ({"contract": contract}, everything - {"elsewhere"}),
            ({"contract": [contract, other["contract"]["id"]]}, everything),
            ({"received_from": at(6, "00:00:00")}, {"recipe-2", "post-3", "post-4", "elsewhere"}),
            ({"received_to": at(6, "11:00:00")}, {"recipe-1"}),
            ({"received_from": at(6, "11:00:00"), "received_to": at(7, "12:00:01")}, {"recipe-2", "post-3"}),
            ({"channel": "chat"}, {"recipe-1", "post-3", "elsewhere"}),
            ({"channel": "chat", "contract": contract}, {"recipe-1", "post-3"}),
            ({"kind": "report"}, {"post-3", "post-4"}),
            ({"outcome": "resolved"}, {"recipe-2"}),
            ({"sentiment": "negative"}, {"recipe-1"}),
            ({"handled_by": "agent-1"}, {"recipe-1", "post-3"}),
            ({"external_id": "post-4"}, {"post-4"}),
            ({"tag": "bug"}, {"recipe-1", "recipe-2"}),
            ({"tag": ["bug", "recipe"]}, {"recipe-1"}),
            ({"tag": ["bug", "fraud"]}, set()),
            ({"kind": "inquiry", "sentiment": "positive"}, {"recipe-2"}),
        ]
        for params, expected in cases:
            assert await found_ids(client, h, **params) == expected, params

    async def test_item_fields_and_the_contract_listing_still_answer(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        contract = setup["contract"]["id"]
        await ingest(client, tenant.admin, contract, ITEMS[:1])
        (item,) = (await find(client, tenant.admin))["items"]
        assert item["contract_id"] == contract
        assert item["contract_code"] == setup["contract"]["code"]
        assert item["summary"] == "レシピの投稿が表示されない"
        assert item["tags"] == ["bug", "recipe"]
        assert item["handled_by"] == "agent-1"
        (result,) = item["sla"]
        assert result["objective"] == "first_response"
        assert result["status"] == "met"
        assert result["elapsed_seconds"] == 20 * 60
        assert result["due_at"] == "2026-10-05T02:00:00Z"
        listed = await client.get(
            f"/v1/contracts/{contract}/work-items", params={"external_id": "recipe-1"}, headers=tenant.admin
        )
        assert [i["id"] for i in listed.json()["items"]] == [item["id"]]


class TestTextSearch:
    async def test_japanese_and_english_words_are_found_in_summary_and_voice(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant, setup = await one_contract(client)
        await ingest(client, tenant.admin, setup["contract"]["id"], ITEMS)
        h = tenant.admin
        assert await found_ids(client, h, q="表示されない") == {"recipe-1", "recipe-2"}
        assert await found_ids(client, h, q="レシピ") == {"recipe-1"}
        assert await found_ids(client, h, q="写真") == {"recipe-2"}
        assert await found_ids(client, h, q="QUICK fix") == {"recipe-2"}
        assert await found_ids(client, h, q="表示されない 投稿") == {"recipe-1"}
        assert await found_ids(client, h, q="表示された") == set()
        # Wildcards of LIKE are plain characters in a search.
        assert await found_ids(client, h, q="100%") == {"post-3"}
        assert await found_ids(client, h, q="0%o") == set()
        assert await found_ids(client, h, q="100_") == set()
        assert await found_ids(client, h, q="coupon_code") == {"post-3"}

    async def test_the_search_uses_the_trigram_and_tag_indexes(self, settings: Settings) -> None:
        owner = await owner_connection(settings)
        try:
            # Trigrams of Japanese text: the database's locale reads its characters as word characters.
            assert await owner.fetchval("SELECT cardinality(show_trgm('レシピの投稿が表示されない'))") > 0
            for filters, index in (
                (search.parse_filters(q="表示されない"), "ix_work_items_search"),
                (search.parse_filters(tag=["bug"]), "ix_work_items_tags"),
            ):
                # As the app sends it (values as parameters), planned without them (a generic plan).
                statement = select(WorkItem.id).where(*search.conditions(filters))
                compiled = statement.compile(dialect=asyncpg.dialect())  # type: ignore[no-untyped-call]
                values = [compiled.params[name] for name in compiled.positiontup or ()]
                async with owner.transaction():
                    await owner.execute("SET LOCAL enable_seqscan = off")
                    await owner.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                    plan = "\n".join(row[0] for row in await owner.fetch(f"EXPLAIN {compiled}", *values))
                assert index in plan, plan
        finally:
            await owner.close()


class TestPages:
    async def test_keyset_pages_have_no_gaps_or_repeats(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        contract = setup["contract"]["id"]
        # Pairs received at the same instant: the id orders them.
        items = [
            {"external_id": f"i-{n:02d}", "received_at": at(1 + n // 2, "12:00:00"), "channel": "chat"}
            for n in range(23)
        ]
        await ingest(client, tenant.admin, contract, items)
        everything = (await find(client, tenant.admin, limit=200))["items"]
        assert len(everything) == 23
        order = [(i["received_at"], i["id"]) for i in everything]
        assert order == sorted(order, reverse=True)
        for limit in (1, 2, 5, 22, 23):
            seen: list[str] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": limit, "channel": "chat"}
                if cursor:
                    params["cursor"] = cursor
                page = await find(client, tenant.admin, **params)
                assert len(page["items"]) <= limit
                seen += [i["id"] for i in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == [i["id"] for i in everything], limit


class TestCsv:
    async def test_the_csv_holds_the_json_rows(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        await ingest(client, tenant.admin, setup["contract"]["id"], ITEMS)
        params = {"tag": "bug", "limit": 200}
        rows = (await find(client, tenant.admin, **params))["items"]
        response = await client.get("/v1/work-items.csv", params={"tag": "bug"}, headers=tenant.admin)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(table) == len(rows) == 2
        for line, item in zip(table, rows, strict=True):
            for name in ("id", "contract_id", "contract_code", "external_id", "kind", "channel", "outcome"):
                assert line[name] == (item[name] or ""), name
            assert datetime.fromisoformat(line["received_at"]) == datetime.fromisoformat(item["received_at"])
            assert line["summary"] == item["summary"]
            assert line["tags"].split() == item["tags"]
            assert line["sla"] == " ".join(f"{r['objective']}={r['status']}" for r in item["sla"])

    async def test_a_large_export_streams_every_row(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        start = datetime(2026, 10, 1, tzinfo=UTC)
        items = [
            {"external_id": f"bulk-{n}", "received_at": (start + timedelta(minutes=n)).isoformat()}
            for n in range(2_345)
        ]
        await ingest(client, tenant.admin, setup["contract"]["id"], items)
        response = await client.get("/v1/work-items.csv", headers=tenant.admin)
        table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len({row["external_id"] for row in table}) == len(table) == 2_345


class TestSlaResults:
    async def test_status_filter_matches_each_items_result(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        now = datetime.now(UTC).replace(microsecond=0)

        def ago(minutes: int) -> str:
            return (now - timedelta(minutes=minutes)).isoformat()

        items = [
            {"external_id": "met", "received_at": ago(300), "first_response_at": ago(290)},
            {"external_id": "late", "received_at": ago(300), "first_response_at": ago(200)},
            {"external_id": "open-late", "received_at": ago(90)},
            {"external_id": "at-risk", "received_at": ago(55)},
            {"external_id": "fresh", "received_at": ago(5)},
            {"external_id": "resolved-only", "received_at": ago(300), "resolved_at": ago(280)},
        ]
        await ingest(client, tenant.admin, setup["contract"]["id"], items)
        window = {"received_from": ago(24 * 60), "objective": "first_response"}
        expected = {
            "met": {"met", "resolved-only"},
            "breached": {"late", "open-late"},
            "at_risk": {"at-risk"},
            "pending": {"fresh"},
        }
        for status, ids in expected.items():
            assert await found_ids(client, tenant.admin, status=status, **window) == ids, status
        listed = (await find(client, tenant.admin))["items"]
        assert {i["external_id"]: i["sla"][0]["status"] for i in listed} == {
            item: status for status, ids in expected.items() for item in ids
        }
        assert (
            await found_ids(client, tenant.admin, status="met", **{**window, "objective": "resolution"})
            == set()
        )

    async def test_business_hours_and_versions_in_sql_agree_with_the_engine(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        # From 15 October, 2 minutes of business time with a 50% at-risk share.
        stricter = [{**CHAT_OBJECTIVES[0], "threshold": "2m", "at_risk_percent": 50, "checkpoints": []}]
        setup = await versioned_contract(
            client, tenant, [("2026-01-01", CHAT_OBJECTIVES), ("2026-10-15", stricter)]
        )
        contract = setup["contract"]["id"]
        items = [
            {"external_id": "a", "received_at": at(5, "10:30:00"), "first_response_at": at(5, "10:30:44")},
            {"external_id": "b", "received_at": at(5, "10:31:00"), "first_response_at": at(5, "10:31:46")},
            {"external_id": "d", "received_at": at(5, "10:33:00")},
            # 10 s before closing, answered 30 s after the next opening: 40 s of business time.
            {"external_id": "e", "received_at": at(5, "18:29:50"), "first_response_at": at(6, "10:30:30")},
            # 5 s before closing on Friday, answered 50 s after Tuesday's opening (Monday is Sports Day).
            {"external_id": "f", "received_at": at(9, "18:29:55"), "first_response_at": at(13, "10:30:50")},
            # Under the 2-minute version: 100 s is met there, where 45 s would have breached.
            {"external_id": "g", "received_at": at(15, "11:00:00"), "first_response_at": at(15, "11:01:40")},
            {"external_id": "h", "received_at": at(16, "18:29:00"), "first_response_at": at(19, "10:31:30")},
        ]
        await ingest(client, tenant.admin, contract, items)
        window = {**OCTOBER, "objective": "first_response"}
        expected = {
            "met": {"a", "e", "g"},
            "breached": {"b", "d", "f", "h"},
            "pending": set(),
            "at_risk": set(),
        }
        for status, ids in expected.items():
            assert await found_ids(client, tenant.admin, status=status, **window) == ids, status
        listed = {i["external_id"]: i for i in (await find(client, tenant.admin, limit=200))["items"]}
        for status, ids in expected.items():
            for item in ids:
                assert listed[item]["sla"][0]["status"] == status, item
        (e,) = listed["e"]["sla"]
        assert e["elapsed_seconds"] == 40
        assert e["due_at"] == "2026-10-06T01:30:35Z"
        assert listed["g"]["sla"][0]["threshold"] == "2m"
        detail = await client.get(f"/v1/work-items/{listed['e']['id']}", headers=tenant.admin)
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert [(event["event"], event["at"]) for event in body["timeline"]] == [
            ("received", "2026-10-05T09:29:50Z"),
            ("first_response", "2026-10-06T01:30:30Z"),
        ]
        assert body["sla"] == listed["e"]["sla"]
        assert body["contract_name"] == setup["contract"]["name"]
        assert body["client_id"] == setup["client"]["id"]


class TestBadInput:
    async def test_bad_filters_name_the_parameter_and_change_nothing(self, client: httpx.AsyncClient) -> None:
        tenant, _ = await one_contract(client)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"contract": "not-a-uuid"}, "query.contract"),
            ({"contract": [str(uuid.uuid4()) for _ in range(51)]}, "query.contract"),
            ({"received_from": "2026-10-01"}, "query.received_from"),
            ({"received_to": "yesterday"}, "query.received_to"),
            ({"received_from": at(2, "00:00:00"), "received_to": at(1, "00:00:00")}, "query.received_to"),
            ({"outcome": "maybe"}, "query.outcome"),
            ({"sentiment": "angry"}, "query.sentiment"),
            ({"channel": "x" * 65}, "query.channel"),
            ({"q": "x"}, "query.q"),
            ({"q": "x" * 101}, "query.q"),
            ({"q": "aa bb cc dd ee ff"}, "query.q"),
            ({"tag": [f"t{n}" for n in range(11)]}, "query.tag"),
            ({"tag": "x" * 65}, "query.tag"),
            ({"status": "late", "objective": "first_response", **OCTOBER}, "query.status"),
            ({"status": "breached", **OCTOBER}, "query.objective"),
            ({"objective": "first_response", **OCTOBER}, "query.status"),
            ({"objective": "first_response", "status": "breached"}, "query.received_from"),
            (
                {"objective": "first_response", "status": "met", "received_from": "2025-01-01T00:00:00Z"},
                "query.received_from",
            ),
            ({"cursor": "!!!"}, "query.cursor"),
            ({"cursor": "AAAA"}, "query.cursor"),
            ({"limit": 0}, "query.limit"),
            ({"limit": 201}, "query.limit"),
        ]
        for path in ("/v1/work-items", "/v1/work-items.csv"):
            for params, field in cases:
                if path.endswith(".csv") and field in ("query.cursor", "query.limit"):
                    continue
                response = await client.get(path, params=params, headers=tenant.admin)
                assert field in error_fields(assert_problem(response, 422)), (path, params, response.text)
        response = await client.get("/v1/work-items/not-an-id", headers=tenant.admin)
        assert response.status_code in (404, 422)


class TestIsolation:
    async def test_other_clients_and_tenants_see_nothing(self, client: httpx.AsyncClient) -> None:
        tenant, setup = await one_contract(client)
        contract = setup["contract"]["id"]
        await ingest(client, tenant.admin, contract, ITEMS)
        mine = (await find(client, tenant.admin))["items"]
        item_id = mine[0]["id"]
        viewer_of_x, viewer_headers = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"])
        )
        assert viewer_of_x
        assert {i["id"] for i in (await find(client, viewer_headers))["items"]} == {i["id"] for i in mine}
        key = await create_api_key(client, tenant, client_id=uuid.UUID(setup["client"]["id"]))
        assert len((await find(client, headers_for(key["key"]), contract=contract))["items"]) == len(ITEMS)

        other_client = await create_client(client, tenant)
        other = await sla_contract(client, tenant, objectives=ONE_HOUR, customer=other_client)
        await ingest(
            client,
            tenant.admin,
            other["contract"]["id"],
            [{"external_id": "y", "received_at": at(3, "09:00:00")}],
        )
        _, stranger = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(other_client["id"])
        )
        other_tenant = await create_tenant(client)
        for headers in (stranger, other_tenant.admin):
            assert_problem(await client.get(f"/v1/work-items/{item_id}", headers=headers), 404)
            assert_problem(await client.get(f"/v1/work-items/{uuid.uuid4()}", headers=headers), 404)
            for path in ("/v1/work-items", "/v1/work-items.csv"):
                assert_problem(await client.get(path, params={"contract": contract}, headers=headers), 404)
            seen = await find(client, headers)
            assert item_id not in str(seen)
        assert {i["external_id"] for i in (await find(client, stranger))["items"]} == {"y"}
        assert (await find(client, other_tenant.admin))["items"] == []
        # A staff member reads no client's items.
        _, staff = await create_user(client, tenant, role="staff")
        assert (await client.get("/v1/work-items", headers=staff)).status_code == 403
