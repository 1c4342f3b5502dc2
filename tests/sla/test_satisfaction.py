"""Averages and satisfaction through the API: mean first response and resolution computed exactly from the
rollups (hand-computed here), CSAT ratings carried by work items, answers to a contract's NPS survey,
the contract SLA response and the client report showing them, and bad input refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bpo.core.runtime import Runtime
from tests.support.factories import TenantHandle, create_api_key, create_tenant, create_user, get_ok, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import ingest, rebuild, sla_contract
from tests.support.work import items_of

JST = "+09:00"
AFTER = datetime(2026, 11, 2, tzinfo=UTC)
EMAIL_OBJECTIVES = [
    {"metric": "first_response", "threshold": "1h", "target_percent": 90, "clock": "calendar"},
    {"metric": "resolution", "threshold": "8h", "target_percent": 90, "clock": "calendar"},
]


def at(text_: str) -> str:
    return f"{text_}{JST}"


# First response / resolution in seconds: F 100/200 (10 Sep), E 30/300 (30 Sep), A 600/3600 and B 1200/7200
# (5 Oct), C 2000/- and D -/- (6 Oct). Ratings A 5, B 4, C 3, D 1, E 5.
ITEMS: list[dict[str, Any]] = [
    {
        "external_id": "F",
        "received_at": at("2026-09-10T10:00:00"),
        "first_response_at": at("2026-09-10T10:01:40"),
        "resolved_at": at("2026-09-10T10:03:20"),
    },
    {
        "external_id": "E",
        "received_at": at("2026-09-30T10:00:00"),
        "first_response_at": at("2026-09-30T10:00:30"),
        "resolved_at": at("2026-09-30T10:05:00"),
        "csat": 5,
    },
    {
        "external_id": "A",
        "received_at": at("2026-10-05T10:00:00"),
        "first_response_at": at("2026-10-05T10:10:00"),
        "resolved_at": at("2026-10-05T11:00:00"),
        "csat": 5,
    },
    {
        "external_id": "B",
        "received_at": at("2026-10-05T11:00:00"),
        "first_response_at": at("2026-10-05T11:20:00"),
        "resolved_at": at("2026-10-05T13:00:00"),
        "csat": 4,
    },
    {
        "external_id": "C",
        "received_at": at("2026-10-06T09:00:00"),
        "first_response_at": at("2026-10-06T09:33:20"),
        "csat": 3,
    },
    {"external_id": "D", "received_at": at("2026-10-06T09:30:00"), "csat": 1},
]


async def sla(client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, **params: str) -> Any:
    return await get_ok(client, f"/v1/contracts/{contract_id}/sla", headers, **params)


def by_metric(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {objective["metric"]: objective for objective in body["objectives"]}


async def email_contract(client: httpx.AsyncClient, tenant: TenantHandle) -> dict[str, Any]:
    return await sla_contract(client, tenant, objectives=EMAIL_OBJECTIVES, code="MAIL", name="Email support")


class TestMeans:
    async def test_means_are_exact_over_a_month_and_across_months(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, ITEMS)
        await rebuild(runtime, tenant, contract_id, AFTER)

        october = by_metric(
            await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31")
        )
        # (600 + 1200 + 2000) / 3 s, and (3600 + 7200) / 2 s: D is unanswered, C unresolved.
        assert (october["first_response"]["mean_ms"], october["first_response"]["answered"]) == (1_266_667, 3)
        assert (october["resolution"]["mean_ms"], october["resolution"]["answered"]) == (5_400_000, 2)

        # 15 Sep to 5 Oct: September's month row less its first fortnight (F), plus October to date.
        across = by_metric(await sla(client, tenant.admin, contract_id, start="2026-09-15", end="2026-10-05"))
        assert (across["first_response"]["mean_ms"], across["first_response"]["answered"]) == (610_000, 3)
        assert (across["resolution"]["mean_ms"], across["resolution"]["answered"]) == (3_700_000, 3)
        monthly = by_metric(
            await sla(
                client, tenant.admin, contract_id, start="2026-09-15", end="2026-10-05", granularity="month"
            )
        )
        assert monthly["first_response"]["mean_ms"] == 610_000

        # Read from the hourly rows when the day and month rows are missing: the same numbers.
        async with runtime.db.tenant(tenant.id) as session:
            await session.execute(
                text("DELETE FROM period_rollup_zones WHERE contract_id = :c"), {"c": uuid.UUID(contract_id)}
            )
        from_hours = by_metric(
            await sla(client, tenant.admin, contract_id, start="2026-09-15", end="2026-10-05")
        )
        assert from_hours["first_response"]["mean_ms"] == 610_000
        assert from_hours["resolution"]["mean_ms"] == 3_700_000

    async def test_the_mean_of_a_business_hours_objective_counts_business_time(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (
            await sla_contract(
                client,
                tenant,
                objectives=[
                    {
                        "metric": "first_response",
                        "threshold": "45s",
                        "target_percent": 95,
                        "clock": "business_hours",
                    }
                ],
                windows=[{"days": ["weekdays"], "start": "10:30", "end": "18:30"}],
            )
        )["contract"]["id"]
        chats = [
            {
                "external_id": "a",
                "received_at": at("2026-10-05T10:30:00"),
                "first_response_at": at("2026-10-05T10:30:44"),
            },
            {
                "external_id": "b",
                "received_at": at("2026-10-05T10:31:00"),
                "first_response_at": at("2026-10-05T10:31:46"),
            },
            {
                "external_id": "c",
                "received_at": at("2026-10-05T10:32:00"),
                "first_response_at": at("2026-10-05T10:32:30"),
            },
            {"external_id": "d", "received_at": at("2026-10-05T10:33:00")},
            # 10 s before closing, answered 30 s after the next opening: 40 s of business time.
            {
                "external_id": "e",
                "received_at": at("2026-10-05T18:29:50"),
                "first_response_at": at("2026-10-06T10:30:30"),
            },
        ]
        await ingest(client, tenant.admin, contract_id, chats)
        await rebuild(runtime, tenant, contract_id, AFTER)
        (objective,) = (await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31"))[
            "objectives"
        ]
        # (44 + 46 + 30 + 40) / 4 = 40 s, where the sketch's p50 may be off by 4.4%.
        assert (objective["mean_ms"], objective["answered"]) == (40_000, 4)

    async def test_rows_rolled_up_before_sums_were_kept_leave_the_mean_unknown_until_rebuilt(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, ITEMS)
        await rebuild(runtime, tenant, contract_id, AFTER)
        async with runtime.db.tenant(tenant.id) as session:
            for table in ("sla_hourly", "sla_periods"):
                await session.execute(
                    text(f"UPDATE {table} SET elapsed_sum = NULL WHERE contract_id = :c"),
                    {"c": uuid.UUID(contract_id)},
                )
        unknown = by_metric(
            await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31")
        )
        assert unknown["first_response"]["mean_ms"] is None
        # The counts and percentiles do not depend on the sums.
        assert unknown["first_response"]["answered"] == 3
        await rebuild(runtime, tenant, contract_id, AFTER)
        again = by_metric(await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31"))
        assert again["first_response"]["mean_ms"] == 1_266_667


class TestCsat:
    async def test_ratings_give_the_share_satisfied_and_the_mean(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, ITEMS)
        await rebuild(runtime, tenant, contract_id, AFTER)
        csat = (await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31"))["csat"]
        assert (csat["responses"], csat["satisfied"], csat["score"], csat["mean"]) == (4, 2, 50.0, 3.25)
        assert csat["distribution"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1}
        assert [
            (p["period"], p["responses"], p["satisfied"], p["score"], p["mean"]) for p in csat["series"]
        ] == [
            ("2026-10-05", 2, 2, 100.0, 4.5),
            ("2026-10-06", 2, 0, 0.0, 2.0),
        ]
        monthly = (
            await sla(
                client, tenant.admin, contract_id, start="2026-09-01", end="2026-10-31", granularity="month"
            )
        )["csat"]
        assert [(p["period"], p["responses"], p["satisfied"]) for p in monthly["series"]] == [
            ("2026-09-01", 1, 1),
            ("2026-10-01", 4, 2),
        ]
        # A rating sent again replaces the one stored; the item itself shows it.
        await ingest(client, tenant.admin, contract_id, [{**ITEMS[2], "csat": 2}])
        await rebuild(runtime, tenant, contract_id, AFTER)
        csat = (await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31"))["csat"]
        assert (csat["responses"], csat["satisfied"], csat["score"], csat["mean"]) == (4, 1, 25.0, 2.5)
        stored = {
            item["external_id"]: item["csat"] for item in await items_of(client, contract_id, tenant.admin)
        }
        assert stored == {"F": None, "E": 5, "A": 2, "B": 4, "C": 3, "D": 1}

    async def test_no_rating_no_csat(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, [{**ITEMS[0]}])
        await rebuild(runtime, tenant, contract_id, AFTER)
        body = await sla(client, tenant.admin, contract_id, start="2026-09-01", end="2026-09-30")
        assert body["csat"] is None
        assert body["nps"] is None

    @pytest.mark.parametrize("rating", [0, 6, "5", 4.5])
    async def test_a_rating_outside_1_to_5_is_refused_and_nothing_written(
        self, client: httpx.AsyncClient, rating: Any
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        batch = {"contract_id": contract_id, "items": [{**ITEMS[2]}, {**ITEMS[3], "csat": rating}]}
        response = await client.post("/v1/work-items:batch", json=batch, headers=tenant.admin)
        if rating == "5":
            # Lax typing reads "5" as 5, as it reads every number of a batch.
            assert response.status_code == 200, response.text
            return
        body = assert_problem(response, 422, "validation-error")
        assert error_fields(body) == ["items[1].csat"]
        assert await items_of(client, contract_id, tenant.admin) == []

    async def test_handling_instants_are_checked(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        received = at("2026-10-05T10:00:00")
        items = [
            {"external_id": "x", "received_at": received, "started_at": at("2026-10-05T09:00:00")},
            {
                "external_id": "y",
                "received_at": received,
                "started_at": at("2026-10-05T10:30:00"),
                "handled_at": at("2026-10-05T10:10:00"),
            },
            {"external_id": "z", "received_at": received, "handled_at": "2026-10-05T10:10:00"},
        ]
        response = await client.post(
            "/v1/work-items:batch", json={"contract_id": contract_id, "items": items}, headers=tenant.admin
        )
        body = assert_problem(response, 422, "validation-error")
        assert error_fields(body) == ["items[0].started_at", "items[1].handled_at", "items[2].handled_at"]
        assert await items_of(client, contract_id, tenant.admin) == []


def answer(external_id: str, score: int, when: str, **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "score": score, "responded_at": when, **extra}


# Promoters 10, 9, 10; passives 8, 7; detractors 6, 0: NPS = (3 - 2) / 7 = 14.29. The last answer falls on
# 30 September in Tokyo (14:59:59Z), outside October.
ANSWERS = [
    answer("n1", 10, at("2026-10-05T12:00:00"), comment="とても丁寧でした"),
    answer("n2", 9, at("2026-10-05T15:00:00")),
    answer("n3", 8, at("2026-10-06T09:00:00")),
    answer("n4", 7, at("2026-10-06T10:00:00")),
    answer("n5", 6, at("2026-10-06T11:00:00")),
    answer("n6", 0, "2026-10-07T03:00:00Z"),
    answer("n7", 10, at("2026-10-07T23:59:59")),
    answer("n8", 0, at("2026-09-30T23:59:59")),
]


async def send_answers(
    client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, answers: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post(
        f"/v1/contracts/{contract_id}/nps-responses", json={"items": answers}, headers=headers
    )


async def listed(client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, **params: str) -> Any:
    return await get_ok(client, f"/v1/contracts/{contract_id}/nps-responses", headers, **params)


class TestNps:
    async def test_promoters_less_detractors_per_period_and_idempotent_answers(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await email_contract(client, tenant)
        contract_id = setup["contract"]["id"]
        key = await create_api_key(client, tenant, client_id=uuid.UUID(setup["client"]["id"]))
        system = {"Authorization": f"Bearer {key['key']}"}
        first = await send_answers(client, system, contract_id, ANSWERS)
        assert first.status_code == 200, first.text
        assert {k: first.json()[k] for k in ("received", "created", "updated", "unchanged")} == {
            "received": 8,
            "created": 8,
            "updated": 0,
            "unchanged": 0,
        }
        replay = (await send_answers(client, system, contract_id, ANSWERS)).json()
        assert (replay["created"], replay["updated"], replay["unchanged"]) == (0, 0, 8)

        nps = (await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31"))["nps"]
        assert (nps["responses"], nps["promoters"], nps["passives"], nps["detractors"]) == (7, 3, 2, 2)
        assert nps["score"] == pytest.approx(100 / 7)
        assert [(p["period"], p["responses"], p["score"]) for p in nps["series"]] == [
            ("2026-10-05", 2, 100.0),
            ("2026-10-06", 3, pytest.approx(-100 / 3)),
            ("2026-10-07", 2, 0.0),
        ]

        # A corrected answer replaces the stored one.
        corrected = (
            await send_answers(client, system, contract_id, [answer("n5", 9, at("2026-10-06T11:00:00"))])
        ).json()
        assert (corrected["created"], corrected["updated"], corrected["unchanged"]) == (0, 1, 0)
        nps = (await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31"))["nps"]
        assert (nps["promoters"], nps["detractors"], nps["score"]) == (4, 1, pytest.approx(300 / 7))

        page = await listed(
            client,
            tenant.admin,
            contract_id,
            **{"from": "2026-10-05T00:00:00+09:00", "to": "2026-10-06T00:00:00+09:00"},
        )
        assert [(r["external_id"], r["score"], r["category"], r["comment"]) for r in page["items"]] == [
            ("n1", 10, "promoter", "とても丁寧でした"),
            ("n2", 9, "promoter", None),
        ]
        every = await listed(client, tenant.admin, contract_id, limit="200")
        assert len(every["items"]) == 8
        assert {r["external_id"]: r["category"] for r in every["items"]}["n4"] == "passive"

    @pytest.mark.parametrize(
        ("answers", "fields"),
        [
            ([answer("a", 11, "2026-10-05T00:00:00Z")], ["items[0].score"]),
            ([answer("a", -1, "2026-10-05T00:00:00Z")], ["items[0].score"]),
            ([answer("a", 7, "2026-10-05T09:00:00")], ["items[0].responded_at"]),
            ([answer("a", 7, "2099-10-05T09:00:00Z")], ["items[0].responded_at"]),
            (
                [answer("a", 7, "2026-10-05T00:00:00Z"), answer("a", 8, "2026-10-05T00:00:00Z")],
                ["items[1].external_id"],
            ),
            ([{"external_id": "a", "score": 7}], ["items[0].responded_at"]),
            ([answer("a", 7, "2026-10-05T00:00:00Z", mood="happy")], ["items[0].mood"]),
            ([], ["items"]),
        ],
    )
    async def test_bad_answers_are_named_and_nothing_is_written(
        self, client: httpx.AsyncClient, answers: list[dict[str, Any]], fields: list[str]
    ) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        good = answer("fine", 9, "2026-10-05T00:00:00Z")
        response = await send_answers(client, tenant.admin, contract_id, [good, *answers] if answers else [])
        body = assert_problem(response, 422, "validation-error")
        shifted = [f.replace("items[1]", "items[2]").replace("items[0]", "items[1]") for f in fields]
        assert error_fields(body) == (shifted if answers else fields), body
        assert (await listed(client, tenant.admin, contract_id))["items"] == []

    async def test_bad_list_filters(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        contract_id = (await email_contract(client, tenant))["contract"]["id"]
        for params, field in (
            ({"from": "yesterday"}, "from"),
            ({"from": "2026-10-05T00:00:00"}, "from"),
            ({"from": "2026-10-05T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "to"),
        ):
            response = await client.get(
                f"/v1/contracts/{contract_id}/nps-responses", params=params, headers=tenant.admin
            )
            assert field in error_fields(assert_problem(response, 422)), params

    async def test_who_may_send_and_read_answers(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        mine = await email_contract(client, tenant)
        theirs = await email_contract(client, tenant)
        contract_id = mine["contract"]["id"]
        first = answer("n1", 9, "2026-10-05T00:00:00Z")
        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(mine["client"]["id"])
        )
        _, other_viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(theirs["client"]["id"])
        )
        other_key = await create_api_key(client, tenant, client_id=uuid.UUID(theirs["client"]["id"]))
        stranger = await create_tenant(client)
        assert (await send_answers(client, tenant.admin, contract_id, [first])).status_code == 200
        # A client's viewers read their own contract's answers, and send none.
        assert len((await listed(client, viewer, contract_id))["items"]) == 1
        assert_problem(await send_answers(client, viewer, contract_id, [first]), 403)
        # Another client's people and systems, and another operator, find nothing there.
        for headers in (other_viewer, stranger.admin, {"Authorization": f"Bearer {other_key['key']}"}):
            assert_problem(
                await client.get(f"/v1/contracts/{contract_id}/nps-responses", headers=headers), 404
            )
        for headers in (stranger.admin, {"Authorization": f"Bearer {other_key['key']}"}):
            assert_problem(
                await send_answers(client, headers, contract_id, [answer("x", 1, "2026-10-05T00:00:00Z")]),
                404,
            )
        assert len((await listed(client, tenant.admin, contract_id))["items"]) == 1


class TestReport:
    async def test_the_monthly_report_shows_the_averages_and_satisfaction_of_the_api(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await email_contract(client, tenant)
        contract_id = setup["contract"]["id"]
        await ingest(client, tenant.admin, contract_id, ITEMS)
        await send_answers(client, tenant.admin, contract_id, ANSWERS)
        await rebuild(runtime, tenant, contract_id, AFTER)
        report = await post_ok(
            client,
            "/v1/reports",
            {"client_id": setup["client"]["id"], "period": "2026-10", "send": False},
            tenant.admin,
        )
        api = await sla(client, tenant.admin, contract_id, start="2026-10-01", end="2026-10-31")
        (section,) = report["contracts"]
        assert {line["metric"]: line["mean_ms"] for line in section["objectives"]} == {
            "first_response": 1_266_667,
            "resolution": 5_400_000,
        }
        assert section["csat"] == {
            "responses": api["csat"]["responses"],
            "satisfied": api["csat"]["satisfied"],
            "score": api["csat"]["score"],
            "mean": api["csat"]["mean"],
            # September: E's 5 alone.
            "previous_score": 100.0,
        }
        assert (section["nps"]["responses"], section["nps"]["score"]) == (
            7,
            pytest.approx(api["nps"]["score"]),
        )
        assert section["nps"]["previous_score"] == -100.0
        # The operator is in Tokyo: the report is in Japanese.
        page = await client.get(f"/v1/reports/{report['id']}/html", headers=tenant.admin)
        assert page.status_code == 200, page.text
        assert "顧客満足度" in page.text
        assert "50.0%" in page.text
        # 1,266,667 ms and 5,400,000 ms in plain words.
        assert "平均所要時間 21.1分" in page.text
        assert "平均所要時間 1.5時間" in page.text
        assert "+14.3" in page.text
