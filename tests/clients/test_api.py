from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support.factories import (
    TIERED_PLAN,
    TenantHandle,
    create_api_key,
    create_tenant,
    create_user,
    get_ok,
    headers_for,
    login,
    onboard,
    post_ok,
)
from tests.support.problems import assert_problem


class TestOnboardingThroughTheApi:
    async def test_client_with_two_services_three_contracts_objectives_and_tiers(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        h = tenant.admin
        lancers = await post_ok(
            client,
            "/v1/clients",
            {
                "code": "LANCERS",
                "name": "Lancers",
                "legal_name": "ランサーズ株式会社",
                "billing_contact_name": "経理部",
                "billing_email": "billing@lancers.example",
                "currency": "JPY",
                "closing_day": 31,
                "payment_month_offset": 1,
                "payment_day": 31,
            },
            h,
        )
        assert lancers["time_zone"] == "Asia/Tokyo"  # the tenant's zone by default
        assert lancers["payment_terms"] == "closing at month end, payment due on month end of the next month"
        platform = await post_ok(
            client, f"/v1/clients/{lancers['id']}/services", {"code": "lancers", "name": "Lancers"}, h
        )
        sub = await post_ok(
            client, f"/v1/clients/{lancers['id']}/services", {"code": "quick", "name": "Lancers Quick"}, h
        )
        email_hours = await post_ok(
            client,
            "/v1/calendars",
            {
                "code": "LANCERS-EMAIL",
                "name": "Email 08:00-25:30",
                "time_zone": "Asia/Tokyo",
                "windows": [{"days": ["daily"], "start": "08:00", "end": "25:30"}],
                "exceptions": [{"date": "2026-12-31", "windows": [{"start": "10:00", "end": "15:00"}]}],
            },
            h,
        )
        chat_hours = await post_ok(
            client,
            "/v1/calendars",
            {
                "code": "LANCERS-CHAT",
                "name": "Chat 10:30-18:30",
                "time_zone": "Asia/Tokyo",
                "windows": [{"days": ["weekdays"], "start": "10:30", "end": "18:30"}],
            },
            h,
        )
        email = await post_ok(
            client,
            "/v1/contracts",
            {
                "service_id": platform["id"],
                "code": "LAN-EMAIL",
                "name": "Email support",
                "work_type": "email_support",
                "start_date": "2026-01-01",
                "calendar_id": email_hours["id"],
                "coverage": [
                    {"days": ["daily"], "start": "08:00", "end": "25:30", "headcount": 3, "languages": ["ja"]}
                ],
                "expected_monthly_volume": 7500,
            },
            h,
        )
        chat = await post_ok(
            client,
            "/v1/contracts",
            {
                "service_id": platform["id"],
                "code": "LAN-CHAT",
                "name": "Chat support",
                "work_type": "chat_support",
                "start_date": "2026-01-01",
                "calendar_id": chat_hours["id"],
                "coverage": [{"days": ["weekdays"], "start": "10:30", "end": "18:30", "headcount": 2}],
            },
            h,
        )
        review = await post_ok(
            client,
            "/v1/contracts",
            {
                "service_id": sub["id"],
                "code": "LAN-REVIEW",
                "name": "Listing review",
                "work_type": "review",
                "start_date": "2026-02-01",
                "calendar_id": email_hours["id"],
            },
            h,
        )
        objectives = {
            "effective_from": "2026-01-01",
            "objectives": [
                {
                    "metric": "first_response",
                    "threshold": "45s",
                    "target_percent": 95,
                    "clock": "business_hours",
                    "checkpoints": ["45s", "1m", "5m"],
                    "channels": ["chat"],
                },
                {"metric": "coverage", "target_percent": 98.5},
            ],
        }
        policy = await post_ok(client, f"/v1/contracts/{chat['id']}/sla-policies", objectives, h)
        plan = await post_ok(client, f"/v1/contracts/{email['id']}/rate-plans", TIERED_PLAN, h)

        # Read everything back exactly.
        assert await get_ok(client, f"/v1/clients/{lancers['id']}", h) == lancers
        services = await get_ok(client, f"/v1/clients/{lancers['id']}/services", h)
        assert [s["code"] for s in services["items"]] == ["lancers", "quick"]
        assert await get_ok(client, f"/v1/contracts/{email['id']}", h) == email
        assert email["coverage"][0]["end"] == "25:30"
        assert email["billable_event"] == "resolved"
        assert email["currency"] == "JPY"
        assert email["status"] == "draft"
        listed = await get_ok(client, f"/v1/contracts?client_id={lancers['id']}", h)
        assert sorted(c["code"] for c in listed["items"]) == ["LAN-CHAT", "LAN-EMAIL", "LAN-REVIEW"]
        policies = await get_ok(client, f"/v1/contracts/{chat['id']}/sla-policies", h)
        assert policies == [policy]
        assert policy["objectives"][0]["threshold"] == "45s"
        assert policy["objectives"][1]["target_percent"] == 98.5
        plans = await get_ok(client, f"/v1/contracts/{email['id']}/rate-plans", h)
        assert plans == [plan]
        # Every charge as sent; what it left out (its meter, its tax class) reads back as null.
        assert [{k: v for k, v in c.items() if v is not None} for c in plan["charges"]] == TIERED_PLAN[
            "charges"
        ]
        assert {(c.get("meter"), c["tax_class"]) for c in plan["charges"]} == {(None, None)}
        assert plan["minimum_commitment"] == 300000
        # A contract without explicit objectives is measured by its work type's defaults from day one.
        defaults = await get_ok(client, f"/v1/contracts/{review['id']}/sla-policies", h)
        assert defaults[0]["effective_from"] == "2026-02-01"
        assert defaults[0]["objectives"][0]["metric"] == "first_response"

    async def test_past_midnight_windows_are_open_across_midnight(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        calendar_id = setup["calendar"]["id"]
        intervals = await get_ok(
            client,
            f"/v1/calendars/{calendar_id}/open-intervals?start=2026-03-02T00:00:00%2B09:00"
            "&end=2026-03-03T00:00:00%2B09:00",
            tenant.admin,
        )
        # 08:00-25:30 every day: on 2 March JST, open until 01:30 (1 March's window) and from 08:00 on.
        assert intervals == [
            {"start": "2026-03-01T15:00:00Z", "end": "2026-03-01T16:30:00Z"},
            {"start": "2026-03-01T23:00:00Z", "end": "2026-03-02T15:00:00Z"},
        ]

    @pytest.mark.parametrize(
        ("start", "end", "field"),
        [
            ("0.5", "2026-03-03T00:00:00Z", "start"),
            ("2026-03-02T00:00:00", "2026-03-03T00:00:00Z", "start"),
            ("0001-01-01T00:00:00+14:00", "2026-03-03T00:00:00Z", "start"),
            ("2026-03-02T00:00:00Z", "9999-12-30T00:00:00Z", "end"),
            ("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z", "end"),
            ("2026-03-02T00:00:00Z", "2026-06-02T00:00:00Z", "end"),
        ],
    )
    async def test_open_intervals_need_two_close_instants_with_offsets(
        self, client: httpx.AsyncClient, start: str, end: str, field: str
    ) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        response = await client.get(
            f"/v1/calendars/{setup['calendar']['id']}/open-intervals",
            params={"start": start, "end": end},
            headers=tenant.admin,
        )
        problem = assert_problem(response, 422)
        assert [error["field"] for error in problem["errors"]] == [field]


class TestValidation:
    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            ("/v1/clients", {"code": "X", "name": "X", "currency": "XYZ"}, "currency"),
            ("/v1/clients", {"code": "X", "name": "X", "time_zone": "Tokyo"}, "time_zone"),
            ("/v1/clients", {"code": "X", "name": "X", "closing_day": 30}, "closing_day"),
            ("/v1/clients", {"code": "bad code", "name": "X"}, "code"),
            (
                "/v1/calendars",
                {
                    "code": "C",
                    "name": "C",
                    "time_zone": "Asia/Tokyo",
                    "windows": [{"days": ["mon"], "start": "09:00", "end": "08:00"}],
                },
                "windows[0].end",
            ),
            (
                "/v1/calendars",
                {
                    "code": "C",
                    "name": "C",
                    "time_zone": "Asia/Tokyo",
                    "windows": [{"days": ["mon"], "start": "24:30", "end": "26:00"}],
                },
                "windows[0].start",
            ),
            (
                "/v1/calendars",
                {
                    "code": "C",
                    "name": "C",
                    "time_zone": "Asia/Tokyo",
                    "windows": [{"days": ["mon"], "start": "9:00", "end": "49:00"}],
                },
                "windows[0].end",
            ),
            (
                "/v1/calendars",
                {
                    "code": "C",
                    "name": "C",
                    "time_zone": "Asia/Tokyo",
                    "holiday_country": "ZZ",
                    "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
                },
                "holiday_country",
            ),
            (
                "/v1/sites",
                {"code": "S", "name": "S", "kind": "client", "time_zone": "Asia/Tokyo"},
                "client_id",
            ),
        ],
    )
    async def test_bad_input_names_the_field_and_writes_nothing(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
    ) -> None:
        tenant = await create_tenant(client)
        problem = assert_problem(await client.post(path, json=body, headers=tenant.admin), 422)
        assert field in [e["field"] for e in problem["errors"]], problem  # type: ignore[union-attr]
        assert (await get_ok(client, path, tenant.admin))["items"] == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"currency": "USD"}, "currency"),
            (
                {
                    "charges": [
                        {
                            "kind": "graduated",
                            "code": "a",
                            "name": "A",
                            "tiers": [
                                {"up_to": 100, "unit_price": 1},
                                {"up_to": 50, "unit_price": 1},
                                {"up_to": None, "unit_price": 1},
                            ],
                        }
                    ]
                },
                "charges[0].tiers[1].up_to",
            ),
            (
                {
                    "charges": [
                        {
                            "kind": "volume",
                            "code": "a",
                            "name": "A",
                            "tiers": [{"up_to": None, "unit_price": 1}, {"up_to": 50, "unit_price": 1}],
                        }
                    ]
                },
                "charges[0].tiers[0].up_to",
            ),
            (
                {
                    "charges": [
                        {
                            "kind": "volume",
                            "code": "a",
                            "name": "A",
                            "tiers": [{"up_to": 10, "unit_price": 1}],
                        }
                    ]
                },
                "charges[0].tiers[0].up_to",
            ),
            (
                {"charges": [{"kind": "per_unit", "code": "a", "name": "A", "unit_price": -5}]},
                "charges[0].unit_price",
            ),
            (
                {
                    "charges": [
                        {"kind": "per_unit", "code": "a", "name": "A", "unit_price": 5},
                        {"kind": "fixed_monthly", "code": "a", "name": "B", "amount": 1},
                    ]
                },
                "charges[1].code",
            ),
            ({"charges": [{"kind": "barter", "code": "a", "name": "A"}]}, "charges[0]"),
            ({"charges": [], "minimum_commitment": None}, "charges"),
            ({"effective_from": "2025-12-01"}, "effective_from"),
        ],
    )
    async def test_rate_plan_rules(
        self, client: httpx.AsyncClient, change: dict[str, Any], field: str
    ) -> None:
        tenant = await create_tenant(client)
        contract = (await onboard(client, tenant))["contract"]
        body = {**TIERED_PLAN, **change}
        response = await client.post(
            f"/v1/contracts/{contract['id']}/rate-plans", json=body, headers=tenant.admin
        )
        problem = assert_problem(response, 422)
        fields = [e["field"] for e in problem["errors"]]  # type: ignore[union-attr]
        assert any(f.startswith(field) for f in fields), (field, fields)
        plans = await get_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", tenant.admin)
        assert len(plans) == 1  # only the one onboard() created

    @pytest.mark.parametrize(
        ("objectives", "field"),
        [
            ([{"metric": "first_response", "target_percent": 90}], "objectives[0].threshold"),
            ([{"metric": "coverage", "target_percent": 90, "threshold": "1h"}], "objectives[0].threshold"),
            (
                [{"metric": "resolution", "target_percent": 101, "threshold": "1h"}],
                "objectives[0].target_percent",
            ),
            (
                [{"metric": "resolution", "target_percent": 90, "threshold": "soon"}],
                "objectives[0].threshold",
            ),
            (
                [
                    {
                        "metric": "first_response",
                        "target_percent": 90,
                        "threshold": "8h",
                        "checkpoints": ["8h", "1h"],
                    }
                ],
                "objectives[0].checkpoints",
            ),
            (
                [
                    {"metric": "first_response", "target_percent": 90, "threshold": "8h"},
                    {"metric": "first_response", "target_percent": 95, "threshold": "4h"},
                ],
                "objectives[1].metric",
            ),
            ([], "objectives"),
        ],
    )
    async def test_objective_rules(
        self, client: httpx.AsyncClient, objectives: list[Any], field: str
    ) -> None:
        tenant = await create_tenant(client)
        contract = (await onboard(client, tenant))["contract"]
        body = {"effective_from": "2026-01-01", "objectives": objectives}
        response = await client.post(
            f"/v1/contracts/{contract['id']}/sla-policies", json=body, headers=tenant.admin
        )
        problem = assert_problem(response, 422)
        fields = [e["field"] for e in problem["errors"]]  # type: ignore[union-attr]
        assert any(f.startswith(field) for f in fields), (field, fields)

    async def test_onsite_needs_a_site_and_references_must_exist(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        base = {
            "service_id": setup["service"]["id"],
            "code": "NEW",
            "name": "New",
            "work_type": "patrol",
            "start_date": "2026-01-01",
            "calendar_id": setup["calendar"]["id"],
        }
        cases = [
            ({"staffing_mode": "onsite"}, "site_id"),
            ({"calendar_id": str(uuid.uuid4())}, "calendar_id"),
            ({"service_id": str(uuid.uuid4())}, "service_id"),
            ({"end_date": "2025-12-31"}, "end_date"),
            ({"work_type": "gardening"}, "work_type"),
            (
                {"coverage": [{"days": ["mon"], "start": "22:00", "end": "07:00", "headcount": 1}]},
                "coverage[0].end",
            ),
        ]
        for change, field in cases:
            problem = assert_problem(
                await client.post("/v1/contracts", json={**base, **change}, headers=tenant.admin), 422
            )
            assert any(e["field"].startswith(field) for e in problem["errors"]), (change, problem)  # type: ignore[union-attr]
        listed = await get_ok(client, "/v1/contracts", tenant.admin)
        assert [c["code"] for c in listed["items"]] == [setup["contract"]["code"]]

    async def test_duplicate_codes_conflict(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        body = {"code": "DUP", "name": "Dup"}
        await post_ok(client, "/v1/clients", body, tenant.admin)
        assert_problem(
            await client.post("/v1/clients", json=body, headers=tenant.admin), 409, "duplicate-code"
        )


class TestLifecycleAndVersions:
    async def test_status_lifecycle(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract_id = setup["contract"]["id"]
        url = f"/v1/contracts/{contract_id}/transitions"

        async def move(status: str) -> httpx.Response:
            return await client.post(url, json={"status": status}, headers=tenant.admin)

        assert_problem(await move("suspended"), 409, "invalid-transition")
        assert (await move("active")).json()["status"] == "active"
        assert (await move("suspended")).json()["status"] == "suspended"
        assert (await move("active")).json()["status"] == "active"
        ended = (await move("ended")).json()
        assert ended["status"] == "ended"
        assert ended["end_date"] is not None
        assert_problem(await move("active"), 409, "invalid-transition")
        change = await client.patch(f"/v1/contracts/{contract_id}", json={"name": "x"}, headers=tenant.admin)
        assert_problem(change, 409, "contract-ended")

    async def test_activation_needs_a_rate_plan(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        bare = await post_ok(
            client,
            "/v1/contracts",
            {
                "service_id": setup["service"]["id"],
                "code": "BARE",
                "name": "No prices yet",
                "work_type": "patrol",
                "start_date": "2026-01-01",
                "calendar_id": setup["calendar"]["id"],
            },
            tenant.admin,
        )
        response = await client.post(
            f"/v1/contracts/{bare['id']}/transitions", json={"status": "active"}, headers=tenant.admin
        )
        assert_problem(response, 409, "rate-plan-required")

    async def test_versions_of_a_live_contract_only_move_forward(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract_id = setup["contract"]["id"]
        await post_ok(client, f"/v1/contracts/{contract_id}/transitions", {"status": "active"}, tenant.admin)
        today = date.today()
        next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        raise_prices = {**TIERED_PLAN, "effective_from": next_month.isoformat()}
        added = await post_ok(client, f"/v1/contracts/{contract_id}/rate-plans", raise_prices, tenant.admin)
        assert added["effective_to"] is None
        versions = await get_ok(client, f"/v1/contracts/{contract_id}/rate-plans", tenant.admin)
        assert [v["effective_from"] for v in versions] == ["2026-01-01", next_month.isoformat()]
        assert versions[0]["effective_to"] == (next_month - timedelta(days=1)).isoformat()
        # A closed month can never be re-billed, and a version cannot be slipped in before the latest.
        for effective_from in ("2026-01-01", today.replace(day=1).isoformat()):
            retro = {**TIERED_PLAN, "effective_from": effective_from}
            response = await client.post(
                f"/v1/contracts/{contract_id}/rate-plans", json=retro, headers=tenant.admin
            )
            assert_problem(response, 422)

    async def test_draft_versions_are_replaced_on_the_same_date(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        contract_id = setup["contract"]["id"]
        cheaper = {**TIERED_PLAN, "minimum_commitment": 100000}
        await post_ok(client, f"/v1/contracts/{contract_id}/rate-plans", cheaper, tenant.admin)
        versions = await get_ok(client, f"/v1/contracts/{contract_id}/rate-plans", tenant.admin)
        assert len(versions) == 1
        assert versions[0]["minimum_commitment"] == 100000


class TestArchive:
    async def test_referenced_objects_are_archived_unreferenced_deleted(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        h = tenant.admin
        for path in (
            f"/v1/clients/{setup['client']['id']}",
            f"/v1/services/{setup['service']['id']}",
            f"/v1/calendars/{setup['calendar']['id']}",
            f"/v1/sites/{setup['site']['id']}",
        ):
            assert (await client.delete(path, headers=h)).status_code == 204
            assert (await get_ok(client, path, h))["status"] == "archived", path
        # The contract still reads whole, and archived clients leave the default listing.
        assert (await get_ok(client, f"/v1/contracts/{setup['contract']['id']}", h))["code"]
        assert (await get_ok(client, "/v1/clients", h))["items"] == []
        assert len((await get_ok(client, "/v1/clients?include_archived=true", h))["items"]) == 1
        lonely = await post_ok(client, "/v1/clients", {"code": "LONELY", "name": "Nobody refers to me"}, h)
        assert (await client.delete(f"/v1/clients/{lonely['id']}", headers=h)).status_code == 204
        assert_problem(await client.get(f"/v1/clients/{lonely['id']}", headers=h), 404)


async def _viewer(client: httpx.AsyncClient, tenant: TenantHandle, client_id: str) -> dict[str, str]:
    _, headers = await create_user(client, tenant, role="client_viewer", client_id=uuid.UUID(client_id))
    return headers


class TestIsolation:
    async def test_client_viewer_sees_only_its_client(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        rakuten = await onboard(client, tenant, code="rakuten")
        lancers = await onboard(client, tenant, code="lancers")
        viewer = await _viewer(client, tenant, lancers["client"]["id"])
        # Its own client: readable, including objectives and its own rate plans.
        clients = await get_ok(client, "/v1/clients", viewer)
        assert [c["id"] for c in clients["items"]] == [lancers["client"]["id"]]
        own = lancers["contract"]["id"]
        assert (await get_ok(client, f"/v1/contracts/{own}", viewer))["id"] == own
        assert await get_ok(client, f"/v1/contracts/{own}/sla-policies", viewer)
        assert [c["id"] for c in (await get_ok(client, "/v1/contracts", viewer))["items"]] == [own]
        # Every Rakuten object is 404, exactly like one that does not exist.
        other = rakuten["contract"]["id"]
        for path in (
            f"/v1/clients/{rakuten['client']['id']}",
            f"/v1/clients/{rakuten['client']['id']}/services",
            f"/v1/services/{rakuten['service']['id']}",
            f"/v1/contracts/{other}",
            f"/v1/contracts/{other}/sla-policies",
            f"/v1/contracts/{other}/rate-plans",
        ):
            assert_problem(await client.get(path, headers=viewer), 404)
        filtered = await get_ok(client, f"/v1/contracts?client_id={rakuten['client']['id']}", viewer)
        assert filtered["items"] == []
        # Operator-only resources and every write are refused.
        for path in ("/v1/sites", "/v1/calendars", "/v1/users", "/v1/api-keys"):
            assert_problem(await client.get(path, headers=viewer), 403)
        writes = [
            ("POST", "/v1/clients", {"code": "X", "name": "X"}),
            ("PATCH", f"/v1/clients/{lancers['client']['id']}", {"name": "mine now"}),
            ("POST", f"/v1/contracts/{own}/transitions", {"status": "active"}),
            ("POST", f"/v1/contracts/{own}/rate-plans", TIERED_PLAN),
        ]
        for method, path, body in writes:
            assert_problem(await client.request(method, path, json=body, headers=viewer), 403)

    async def test_api_key_scoped_to_a_contract(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        second = await post_ok(
            client,
            "/v1/contracts",
            {
                "service_id": setup["service"]["id"],
                "code": "SECOND",
                "name": "Second",
                "work_type": "patrol",
                "start_date": "2026-01-01",
                "calendar_id": setup["calendar"]["id"],
            },
            tenant.admin,
        )
        response = await client.post(
            "/v1/api-keys",
            json={
                "name": "one contract",
                "client_id": setup["client"]["id"],
                "contract_id": setup["contract"]["id"],
            },
            headers=tenant.admin,
        )
        assert response.status_code == 201, response.text
        key = {"X-API-Key": response.json()["key"]}
        listed = await get_ok(client, "/v1/contracts", key)
        assert [c["id"] for c in listed["items"]] == [setup["contract"]["id"]]
        assert_problem(await client.get(f"/v1/contracts/{second['id']}", headers=key), 404)
        # A key's contract must belong to its client.
        other = await onboard(client, tenant)
        mismatch = await client.post(
            "/v1/api-keys",
            json={"name": "bad", "client_id": setup["client"]["id"], "contract_id": other["contract"]["id"]},
            headers=tenant.admin,
        )
        assert_problem(mismatch, 422)

    async def test_another_tenant_gets_404_on_everything(self, client: httpx.AsyncClient) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        setup = await onboard(client, a)
        for path in (
            f"/v1/clients/{setup['client']['id']}",
            f"/v1/clients/{setup['client']['id']}/services",
            f"/v1/services/{setup['service']['id']}",
            f"/v1/sites/{setup['site']['id']}",
            f"/v1/calendars/{setup['calendar']['id']}",
            f"/v1/contracts/{setup['contract']['id']}",
            f"/v1/contracts/{setup['contract']['id']}/sla-policies",
            f"/v1/contracts/{setup['contract']['id']}/rate-plans",
        ):
            assert_problem(await client.get(path, headers=b.admin), 404)
        for path in (
            f"/v1/clients/{setup['client']['id']}",
            f"/v1/services/{setup['service']['id']}",
            f"/v1/sites/{setup['site']['id']}",
            f"/v1/calendars/{setup['calendar']['id']}",
            f"/v1/contracts/{setup['contract']['id']}",
        ):
            assert_problem(await client.patch(path, json={"name": "x"}, headers=b.admin), 404)
        for path in (
            f"/v1/clients/{setup['client']['id']}",
            f"/v1/services/{setup['service']['id']}",
            f"/v1/sites/{setup['site']['id']}",
            f"/v1/calendars/{setup['calendar']['id']}",
        ):
            assert_problem(await client.delete(path, headers=b.admin), 404)
        contract = setup["contract"]["id"]
        assert_problem(
            await client.post(
                f"/v1/contracts/{contract}/transitions", json={"status": "active"}, headers=b.admin
            ),
            404,
        )
        assert_problem(
            await client.post(f"/v1/contracts/{contract}/rate-plans", json=TIERED_PLAN, headers=b.admin), 404
        )
        # B cannot attach A's objects to its own.
        b_client = await post_ok(client, "/v1/clients", {"code": "B", "name": "B"}, b.admin)
        b_service = await post_ok(
            client, f"/v1/clients/{b_client['id']}/services", {"code": "s", "name": "S"}, b.admin
        )
        steal = await client.post(
            "/v1/contracts",
            json={
                "service_id": b_service["id"],
                "code": "STEAL",
                "name": "Steal",
                "work_type": "patrol",
                "start_date": "2026-01-01",
                "calendar_id": setup["calendar"]["id"],
            },
            headers=b.admin,
        )
        assert_problem(steal, 422)
        # And A's data is unchanged.
        assert (await get_ok(client, f"/v1/contracts/{contract}", a.admin)) == setup["contract"]
        tokens = await login(client, a.slug, a.admin_email)
        assert (
            await client.get("/v1/clients", headers=headers_for(tokens["access_token"]))
        ).status_code == 200
        assert (await create_api_key(client, a, client_id=uuid.UUID(setup["client"]["id"])))["client_id"]
