"""Staffing over HTTP: profiles, time off, shifts from coverage, assignments under every hard rule, the
coverage view and settings, with other tenants, client viewers, API keys and staff kept out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support.factories import (
    create_api_key,
    create_tenant,
    create_user,
    get_ok,
    post_ok,
)
from tests.support.problems import assert_problem, error_fields
from tests.support.staffing import REMOTE_DAY, World, world

NIGHT = [{"days": ["daily"], "start": "22:00", "end": "31:00", "headcount": 2, "languages": ["ja"]}]


class TestStaffProfiles:
    async def test_create_read_change_list_and_filter(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        night = await w.contract(client, NIGHT)
        created = await w.staff(
            client,
            code="E-001",
            display_name="Ewan MacLeod",
            given_name="Ewan",
            home_zone="Europe/London",
            country="GB",
            employment_type="part_time",
            skills=[{"name": "patrol", "level": 4}, {"name": "chat_support", "level": 2}],
            languages=[{"name": "en", "level": 5}, {"name": "ja", "level": 3}],
            site_ids=[w.site_id],
            excluded_contract_ids=[night["id"]],
            weekly_hour_cap=30,
            contracted_hours=24,
            hourly_cost={"amount": 1800, "currency": "GBP"},
            availability=[{"days": ["weekdays"], "start": "08:00", "end": "20:00"}],
        )
        other = await w.staff(client, display_name="Hana Suzuki")

        assert (created["employment_type"], created["given_name"]) == ("part_time", "Ewan")
        assert created["hourly_cost"] == {"amount": 1800, "currency": "GBP"}
        assert created["trained_contract_ids"] is None
        assert await get_ok(client, f"/v1/staff/{created['id']}", w.h) == created
        response = await client.patch(
            f"/v1/staff/{created['id']}", json={"weekly_hour_cap": 20, "hourly_cost": None}, headers=w.h
        )
        assert response.status_code == 200, response.text
        assert (response.json()["weekly_hour_cap"], response.json()["hourly_cost"]) == (20, None)

        first = await get_ok(client, "/v1/staff", w.h, limit=1)
        second = await get_ok(client, "/v1/staff", w.h, limit=1, cursor=first["next_cursor"])
        assert [first["items"][0]["id"], second["items"][0]["id"]] == [created["id"], other["id"]]
        chat = await get_ok(client, "/v1/staff", w.h, skill="chat_support")
        assert [s["id"] for s in chat["items"]] == [created["id"]]
        english = await get_ok(client, "/v1/staff", w.h, language="en", site_id=w.site_id)
        assert [s["id"] for s in english["items"]] == [created["id"]]

    async def test_a_linked_login_sees_only_its_own_profile_and_writes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        user, staff_headers = await create_user(client, w.tenant, role="staff")
        mine = await w.staff(client, user_id=user["id"])
        theirs = await w.staff(client)

        linked = await get_ok(client, f"/v1/users/{user['id']}", w.h)
        assert linked["staff_id"] == mine["id"]
        assert (await get_ok(client, f"/v1/staff/{mine['id']}", staff_headers))["id"] == mine["id"]
        assert [s["id"] for s in (await get_ok(client, "/v1/staff", staff_headers))["items"]] == [mine["id"]]
        assert_problem(await client.get(f"/v1/staff/{theirs['id']}", headers=staff_headers), 404)
        assert_problem(
            await client.patch(
                f"/v1/staff/{mine['id']}", json={"weekly_hour_cap": 60}, headers=staff_headers
            ),
            403,
        )
        assert_problem(await client.post("/v1/staff", json={}, headers=staff_headers), 403)
        # One login, one profile.
        taken = await client.post(
            "/v1/staff",
            json={"display_name": "Twin", "home_zone": "Asia/Tokyo", "country": "JP", "user_id": user["id"]},
            headers=w.h,
        )
        assert error_fields(assert_problem(taken, 409, "user-already-staff")) == ["user_id"]

    async def test_delete_removes_an_unused_profile_and_deactivates_a_rostered_one(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        unused, rostered = await w.staff(client), await w.staff(client)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        assert (await w.assign(client, shift, rostered["id"])).status_code == 201

        for person in (unused, rostered):
            response = await client.delete(f"/v1/staff/{person['id']}", headers=w.h)
            assert response.status_code == 204, response.text

        assert_problem(await client.get(f"/v1/staff/{unused['id']}", headers=w.h), 404)
        assert (await get_ok(client, f"/v1/staff/{rostered['id']}", w.h))["active"] is False
        assert await w.assigned(client, rostered["id"]) == [shift]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"home_zone": "Asia/Sapporo"}, "home_zone"),
            ({"country": "XX"}, "country"),
            ({"skills": ["moderation"]}, "skills[0]"),
            ({"skills": [{"name": "patrol", "level": 9}]}, "skills[0].level"),
            ({"languages": [{"name": "ja"}, {"name": "ja"}]}, "languages[1].name"),
            ({"site_ids": [str(uuid.UUID(int=7))]}, "site_ids[0]"),
            ({"excluded_contract_ids": [str(uuid.UUID(int=8))]}, "excluded_contract_ids[0]"),
            ({"user_id": str(uuid.UUID(int=9))}, "user_id"),
            (
                {"availability": [{"days": ["weekdays"], "start": "18:00", "end": "09:00"}]},
                "availability[0].end",
            ),
            ({"hourly_cost": {"amount": 100, "currency": "XYZ"}}, "hourly_cost.currency"),
            ({"shoe_size": 42}, "shoe_size"),
        ],
    )
    async def test_bad_input_names_the_field_and_writes_nothing(
        self, client: httpx.AsyncClient, change: dict[str, Any], field: str
    ) -> None:
        w = await world(client)
        body = {"display_name": "Bad", "home_zone": "Asia/Tokyo", "country": "JP", **change}

        response = await client.post("/v1/staff", json=body, headers=w.h)

        assert field in error_fields(assert_problem(response, 422))
        assert (await get_ok(client, "/v1/staff", w.h))["items"] == []

    async def test_other_tenants_client_viewers_and_api_keys_are_kept_out(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        person = await w.staff(client)
        stranger = await create_tenant(client)
        _, viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=w.setup["client"]["id"]
        )
        key = await create_api_key(client, w.tenant, client_id=w.setup["client"]["id"])
        machine = {"Authorization": f"Bearer {key['key']}"}

        for method, path in (
            ("GET", f"/v1/staff/{person['id']}"),
            ("PATCH", f"/v1/staff/{person['id']}"),
            ("DELETE", f"/v1/staff/{person['id']}"),
        ):
            response = await client.request(
                method, path, json={} if method == "PATCH" else None, headers=stranger.admin
            )
            assert_problem(response, 404)
        assert (await get_ok(client, "/v1/staff", stranger.admin))["items"] == []
        for headers in (viewer, machine):
            assert_problem(await client.get("/v1/staff", headers=headers), 403)
            assert_problem(await client.get(f"/v1/staff/{person['id']}", headers=headers), 403)
            assert_problem(await client.post("/v1/staff", json={}, headers=headers), 403)


class TestTimeOff:
    async def test_request_approve_reject_cancel(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        user, own = await create_user(client, w.tenant, role="staff")
        me = await w.staff(client, user_id=user["id"])
        colleague = await w.staff(client)
        boss, supervisor = await create_user(client, w.tenant, role="supervisor")
        leave = {
            "start": "2026-12-24T00:00:00+09:00",
            "end": "2026-12-26T00:00:00+09:00",
            "reason": "Holiday",
        }

        asked = await post_ok(client, f"/v1/staff/{me['id']}/time-off", leave, own)
        assert (asked["status"], asked["start"]) == ("requested", "2026-12-23T15:00:00Z")
        assert_problem(
            await client.post(f"/v1/staff/{colleague['id']}/time-off", json=leave, headers=own), 404
        )
        assert_problem(await client.post(f"/v1/time-off/{asked['id']}:approve", headers=own), 403)

        approved = await post_ok(client, f"/v1/time-off/{asked['id']}:approve", {}, supervisor)
        assert (approved["status"], approved["decided_by"]) == ("approved", boss["id"])
        assert_problem(await client.post(f"/v1/time-off/{asked['id']}:reject", headers=supervisor), 409)
        cancelled = await post_ok(client, f"/v1/time-off/{asked['id']}:cancel", {}, own)
        assert cancelled["status"] == "cancelled"

        second = await post_ok(client, f"/v1/staff/{colleague['id']}/time-off", leave, supervisor)
        rejected = await post_ok(client, f"/v1/time-off/{second['id']}:reject", {}, supervisor)
        assert rejected["status"] == "rejected"
        mine = await get_ok(client, "/v1/time-off", own)
        assert [t["id"] for t in mine["items"]] == [asked["id"]]
        everyone = await get_ok(client, "/v1/time-off", w.h, status="rejected")
        assert [t["id"] for t in everyone["items"]] == [second["id"]]
        assert_problem(await client.get(f"/v1/time-off/{second['id']}", headers=own), 404)
        assert_problem(await client.post(f"/v1/time-off/{second['id']}:archive", headers=w.h), 404)

    async def test_approval_is_refused_while_the_person_works_during_it(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        assert (await w.assign(client, shift, person["id"])).status_code == 201
        leave = await post_ok(
            client,
            f"/v1/staff/{person['id']}/time-off",
            {"start": "2026-11-01T15:00:00Z", "end": "2026-11-02T15:00:00Z"},
            w.h,
        )

        body = assert_problem(await client.post(f"/v1/time-off/{leave['id']}:approve", headers=w.h), 409)

        assert [(v["code"], v["conflicting_shift_id"]) for v in body["violations"]] == [("time_off", shift)]
        assert (await get_ok(client, f"/v1/time-off/{leave['id']}", w.h))["status"] == "requested"

    @pytest.mark.parametrize(
        ("leave", "field"),
        [
            ({"start": "2026-12-24T00:00:00Z", "end": "2026-12-23T00:00:00Z"}, "end"),
            ({"start": "2026-12-24T00:00:00", "end": "2026-12-25T00:00:00Z"}, "start"),
            ({"start": "2026-12-24T00:00:00Z", "end": "2028-12-25T00:00:00Z"}, "end"),
            ({"start": "2026-12-24T00:00:00Z"}, "end"),
        ],
    )
    async def test_bad_periods_name_the_field(
        self, client: httpx.AsyncClient, leave: dict[str, str], field: str
    ) -> None:
        w = await world(client)
        person = await w.staff(client)

        response = await client.post(f"/v1/staff/{person['id']}/time-off", json=leave, headers=w.h)

        assert field in error_fields(assert_problem(response, 422))
        assert (await get_ok(client, "/v1/time-off", w.h))["items"] == []

    async def test_another_tenant_finds_nothing(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        person = await w.staff(client)
        leave = await post_ok(
            client,
            f"/v1/staff/{person['id']}/time-off",
            {"start": "2026-12-24T00:00:00Z", "end": "2026-12-25T00:00:00Z"},
            w.h,
        )
        stranger = await create_tenant(client)

        assert_problem(await client.get(f"/v1/time-off/{leave['id']}", headers=stranger.admin), 404)
        assert_problem(await client.post(f"/v1/time-off/{leave['id']}:approve", headers=stranger.admin), 404)
        assert_problem(
            await client.post(
                f"/v1/staff/{person['id']}/time-off",
                json={"start": "2026-12-24T00:00:00Z", "end": "2026-12-25T00:00:00Z"},
                headers=stranger.admin,
            ),
            404,
        )
        assert (await get_ok(client, "/v1/time-off", stranger.admin))["items"] == []


class TestGenerate:
    async def test_a_jst_night_line_makes_13_to_22_utc_shifts_once(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        night = await w.contract(client, NIGHT)
        path = f"/v1/contracts/{night['id']}/shifts:generate"

        first = await post_ok(client, path, {"from": "2026-11-02", "to": "2026-11-04"}, w.h)
        again = await post_ok(client, path, {"from": "2026-11-01", "to": "2026-11-04"}, w.h)

        assert (first["created"], first["existing"], first["time_zone"]) == (3, 0, "Asia/Tokyo")
        assert (again["created"], again["existing"]) == (1, 3)
        page = await get_ok(
            client, "/v1/shifts", w.h, contract_id=night["id"], **{"from": "2026-11-02", "to": "2026-11-02"}
        )
        (shift,) = page["items"]
        assert (shift["start"], shift["end"]) == ("2026-11-02T13:00:00Z", "2026-11-02T22:00:00Z")
        assert (shift["headcount"], shift["languages"], shift["mode"], shift["status"]) == (
            2,
            ["ja"],
            "remote",
            "draft",
        )
        assert shift["coverage_line"] == 0
        assert len((await get_ok(client, "/v1/shifts", w.h, contract_id=night["id"]))["items"]) == 4

    async def test_a_24_hour_line_becomes_shifts_no_longer_than_asked(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        always = await w.contract(
            client, [{"days": ["daily"], "start": "00:00", "end": "24:00", "headcount": 4}]
        )
        path = f"/v1/contracts/{always['id']}/shifts:generate"

        default = await post_ok(client, path, {"from": "2026-11-02", "to": "2026-11-03"}, w.h)
        longer = await post_ok(
            client, path, {"from": "2026-11-02", "to": "2026-11-02", "max_shift_hours": 12}, w.h
        )
        too_long = await client.post(
            path, json={"from": "2026-11-02", "to": "2026-11-02", "max_shift_hours": 25}, headers=w.h
        )

        assert (default["created"], longer["created"]) == (6, 2)
        assert "max_shift_hours" in error_fields(assert_problem(too_long, 422))
        page = await get_ok(client, "/v1/shifts", w.h, contract_id=always["id"], limit=50)
        spans = sorted((s["start"], s["end"]) for s in page["items"] if s["start"] < "2026-11-02T15:00:00Z")
        assert spans == [
            ("2026-11-01T15:00:00Z", "2026-11-01T23:00:00Z"),
            ("2026-11-01T15:00:00Z", "2026-11-02T03:00:00Z"),
            ("2026-11-01T23:00:00Z", "2026-11-02T07:00:00Z"),
            ("2026-11-02T03:00:00Z", "2026-11-02T15:00:00Z"),
            ("2026-11-02T07:00:00Z", "2026-11-02T15:00:00Z"),
        ]
        assert {s["headcount"] for s in page["items"]} == {4}

    async def test_a_london_contract_keeps_its_wall_clock_over_both_dst_weekends(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        london = await w.contract(
            client,
            [{"days": ["daily"], "start": "22:00", "end": "31:00", "headcount": 1}],
            zone="Europe/London",
        )
        path = f"/v1/contracts/{london['id']}/shifts:generate"
        await post_ok(client, path, {"from": "2026-10-24", "to": "2026-10-25"}, w.h)
        await post_ok(client, path, {"from": "2026-03-28", "to": "2026-03-29"}, w.h)

        page = await get_ok(client, "/v1/shifts", w.h, contract_id=london["id"], tz="Europe/London")

        times = sorted((s["start"], s["end"]) for s in page["items"])
        assert times == [
            ("2026-03-28T22:00:00Z", "2026-03-29T06:00:00Z"),
            ("2026-03-29T21:00:00Z", "2026-03-30T06:00:00Z"),
            ("2026-10-24T21:00:00Z", "2026-10-25T07:00:00Z"),
            ("2026-10-25T22:00:00Z", "2026-10-26T07:00:00Z"),
        ]
        locals_ = sorted((s["local_start"], s["local_end"]) for s in page["items"])
        assert locals_[2] == ("2026-10-24T22:00:00+01:00", "2026-10-25T07:00:00Z")

    async def test_holidays_of_the_contract_calendar_and_days_outside_the_contract_are_skipped(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        weekdays = await w.contract(
            client,
            [{"days": ["weekdays"], "start": "09:00", "end": "18:00", "headcount": 1}],
            holiday_country="JP",
        )

        result = await post_ok(
            client,
            f"/v1/contracts/{weekdays['id']}/shifts:generate",
            {"from": "2025-12-29", "to": "2026-01-09"},
            w.h,
        )

        page = await get_ok(client, "/v1/shifts", w.h, contract_id=weekdays["id"], tz="Asia/Tokyo")
        days = sorted(s["local_start"][:10] for s in page["items"])
        # The contract starts on 2026-01-01 (a holiday); 2026-01-02 is a weekday; then the next week.
        assert days == ["2026-01-02", "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"]
        assert result["created"] == 6

    async def test_publish_moves_drafts_of_the_period(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        night = await w.contract(client, NIGHT)
        await post_ok(
            client,
            f"/v1/contracts/{night['id']}/shifts:generate",
            {"from": "2026-11-02", "to": "2026-11-05"},
            w.h,
        )
        period = {"contract_id": night["id"], "from": "2026-11-02", "to": "2026-11-03"}

        assert (await post_ok(client, "/v1/shifts:publish", period, w.h))["published"] == 2
        assert (await post_ok(client, "/v1/shifts:publish", period, w.h))["published"] == 0
        drafts = await get_ok(client, "/v1/shifts", w.h, contract_id=night["id"], status="draft")
        assert len(drafts["items"]) == 2

    @pytest.mark.parametrize(
        ("period", "field"),
        [
            ({"from": "2026-11-05", "to": "2026-11-04"}, "to"),
            ({"from": "2026-01-01", "to": "2026-04-04"}, "to"),
            ({"from": "2026-11-05"}, "to"),
            ({"from": "2026-11-05", "to": "2026-11-06", "until": "x"}, "until"),
        ],
    )
    async def test_bad_periods_name_the_field(
        self, client: httpx.AsyncClient, period: dict[str, str], field: str
    ) -> None:
        w = await world(client)
        night = await w.contract(client, NIGHT)

        response = await client.post(f"/v1/contracts/{night['id']}/shifts:generate", json=period, headers=w.h)

        assert field in error_fields(assert_problem(response, 422))
        assert (await get_ok(client, "/v1/shifts", w.h))["items"] == []

    async def test_another_tenants_contract_is_not_found(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        night = await w.contract(client, NIGHT)
        stranger = await create_tenant(client)
        period = {"from": "2026-11-02", "to": "2026-11-03"}

        generate = await client.post(
            f"/v1/contracts/{night['id']}/shifts:generate", json=period, headers=stranger.admin
        )
        publish = await client.post(
            "/v1/shifts:publish", json={"contract_id": night["id"], **period}, headers=stranger.admin
        )

        assert_problem(generate, 404)
        assert "contract_id" in error_fields(assert_problem(publish, 422))


class TestShifts:
    async def test_a_manual_shift_takes_the_contracts_site_and_renders_in_any_zone(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        onsite = w.setup["contract"]

        created = await post_ok(
            client,
            "/v1/shifts",
            {
                "contract_id": onsite["id"],
                "start": "2026-11-02T09:00:00+09:00",
                "end": "2026-11-02T18:00:00+09:00",
                "headcount": 2,
                "skills": ["email"],
            },
            w.h,
        )
        shown = await get_ok(client, f"/v1/shifts/{created['id']}", w.h, tz="America/Argentina/Buenos_Aires")

        assert (created["mode"], created["site_id"], created["start"]) == (
            "onsite",
            w.site_id,
            "2026-11-02T00:00:00Z",
        )
        assert (shown["time_zone"], shown["local_start"]) == (
            "America/Argentina/Buenos_Aires",
            "2026-11-01T21:00:00-03:00",
        )
        assert_problem(
            await client.get(f"/v1/shifts/{created['id']}", params={"tz": "Mars/Olympus"}, headers=w.h), 422
        )

    async def test_changing_a_shift_rechecks_its_people_and_headcount(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        early = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T04:00:00Z")
        late = await w.shift(client, contract, "2026-11-02T20:00:00Z", "2026-11-03T02:00:00Z", headcount=2)
        for shift in (early, late):
            assert (await w.assign(client, shift, person["id"])).status_code == 201

        moved = await client.patch(f"/v1/shifts/{late}", json={"start": "2026-11-02T03:00:00Z"}, headers=w.h)
        lowered = await client.patch(f"/v1/shifts/{late}", json={"headcount": 0}, headers=w.h)
        published = await client.patch(
            f"/v1/shifts/{late}", json={"start": "2026-11-02T16:00:00Z", "status": "published"}, headers=w.h
        )

        codes = {v["code"] for v in assert_problem(moved, 409, "schedule-conflict")["violations"]}
        assert codes == {"overlap"}
        assert "headcount" in error_fields(assert_problem(lowered, 422))
        assert published.status_code == 200, published.text
        assert (published.json()["start"], published.json()["status"]) == (
            "2026-11-02T16:00:00Z",
            "published",
        )
        assert published.json()["staff_ids"] == [person["id"]]

    async def test_a_shift_with_people_is_not_deleted(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        (assignment,) = [(await w.assign(client, shift, person["id"])).json()]

        assert_problem(await client.delete(f"/v1/shifts/{shift}", headers=w.h), 409, "shift-has-assignments")
        assert (await client.delete(f"/v1/assignments/{assignment['id']}", headers=w.h)).status_code == 204
        assert (await client.delete(f"/v1/shifts/{shift}", headers=w.h)).status_code == 204
        assert_problem(await client.get(f"/v1/shifts/{shift}", headers=w.h), 404)

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"end": "2026-11-02T00:00:00Z"}, "end"),
            ({"end": "2026-11-03T09:00:00Z"}, "end"),
            ({"start": "2026-11-02T00:00:00"}, "start"),
            ({"headcount": 0}, "headcount"),
            ({"mode": "onsite"}, "site_id"),
            ({"contract_id": str(uuid.UUID(int=3))}, "contract_id"),
        ],
    )
    async def test_bad_shifts_name_the_field(
        self, client: httpx.AsyncClient, change: dict[str, Any], field: str
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        body = {
            "contract_id": contract["id"],
            "start": "2026-11-02T00:00:00Z",
            "end": "2026-11-02T08:00:00Z",
            **change,
        }

        response = await client.post("/v1/shifts", json=body, headers=w.h)

        assert field in error_fields(assert_problem(response, 422))
        assert (await get_ok(client, "/v1/shifts", w.h))["items"] == []

    async def test_another_tenant_and_other_roles_are_kept_out(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        assignment = (await w.assign(client, shift, person["id"])).json()
        stranger = await create_tenant(client)
        _, staff_headers = await create_user(client, w.tenant, role="staff")
        _, viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=w.setup["client"]["id"]
        )
        key = await create_api_key(client, w.tenant, client_id=w.setup["client"]["id"])
        machine = {"Authorization": f"Bearer {key['key']}"}

        for method, path, body in (
            ("GET", f"/v1/shifts/{shift}", None),
            ("PATCH", f"/v1/shifts/{shift}", {"headcount": 3}),
            ("DELETE", f"/v1/shifts/{shift}", None),
            ("POST", f"/v1/shifts/{shift}/assignments", {"staff_id": person["id"]}),
            ("GET", f"/v1/assignments/{assignment['id']}", None),
            ("DELETE", f"/v1/assignments/{assignment['id']}", None),
            ("GET", f"/v1/contracts/{contract['id']}/coverage?from=2026-11-02&to=2026-11-02", None),
        ):
            assert_problem(await client.request(method, path, json=body, headers=stranger.admin), 404)
            for headers in (staff_headers, viewer, machine):
                assert_problem(await client.request(method, path, json=body, headers=headers), 403)
        assert (await get_ok(client, "/v1/shifts", stranger.admin))["items"] == []
        assert (await get_ok(client, "/v1/assignments", stranger.admin))["items"] == []
        assert await w.assigned(client, person["id"]) == [shift]


class TestAssignmentRules:
    """Each hard rule, on its own, rejects a manual assignment with its code and the conflicting shift,
    and nothing is written."""

    async def _refused(
        self, client: httpx.AsyncClient, w: World, shift: str, person: dict[str, Any], status: int
    ) -> list[tuple[str, str | None]]:
        before = await w.assigned(client, person["id"])
        body = assert_problem(await w.assign(client, shift, person["id"]), status)
        assert await w.assigned(client, person["id"]) == before
        assert "staff_id" in error_fields(body)
        return [(v["code"], v["conflicting_shift_id"]) for v in body["violations"]]

    async def test_overlap(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        first = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        second = await w.shift(client, contract, "2026-11-02T06:00:00Z", "2026-11-02T10:00:00Z")
        assert (await w.assign(client, first, person["id"])).status_code == 201

        assert await self._refused(client, w, second, person, 409) == [("overlap", first)]

    async def test_min_rest_follows_the_tenant_setting(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        first = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        second = await w.shift(client, contract, "2026-11-02T15:00:00Z", "2026-11-02T20:00:00Z")
        assert (await w.assign(client, first, person["id"])).status_code == 201

        assert await self._refused(client, w, second, person, 409) == [("min_rest", first)]
        response = await client.put("/v1/staffing/settings", json={"min_rest_hours": 6}, headers=w.h)
        assert response.status_code == 200, response.text
        assert (await w.assign(client, second, person["id"])).status_code == 201

    async def test_weekly_hours(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client, weekly_hour_cap=16)
        days = [
            await w.shift(client, contract, f"2026-11-0{d}T00:00:00Z", f"2026-11-0{d}T08:00:00Z")
            for d in (2, 3, 4)
        ]
        for shift in days[:2]:
            assert (await w.assign(client, shift, person["id"])).status_code == 201

        assert await self._refused(client, w, days[2], person, 409) == [("weekly_hours", None)]

    async def test_skills_and_languages(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        shift = await w.shift(
            client,
            contract,
            "2026-11-02T00:00:00Z",
            "2026-11-02T08:00:00Z",
            skills=["chat"],
            languages=["es"],
        )

        assert await self._refused(client, w, shift, person, 422) == [("skills", None), ("languages", None)]

    async def test_site(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        person = await w.staff(client, languages=[{"name": "ja", "level": 5}])
        shift = await w.shift(client, w.setup["contract"], "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")

        assert await self._refused(client, w, shift, person, 422) == [("site_not_allowed", None)]

    async def test_approved_time_off(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        leave = await post_ok(
            client,
            f"/v1/staff/{person['id']}/time-off",
            {"start": "2026-11-02T05:00:00Z", "end": "2026-11-03T00:00:00Z"},
            w.h,
        )
        # Requested time off does not block; approved does.
        other = await w.shift(client, contract, "2026-11-01T00:00:00Z", "2026-11-01T04:00:00Z")
        assert (await w.assign(client, other, person["id"])).status_code == 201
        await post_ok(client, f"/v1/time-off/{leave['id']}:approve", {}, w.h)

        assert await self._refused(client, w, shift, person, 422) == [("time_off", None)]

    async def test_availability(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(
            client,
            home_zone="Europe/London",
            country="GB",
            availability=[{"days": ["weekdays"], "start": "09:00", "end": "17:00"}],
        )
        # 09:00-17:00 JST is 00:00-08:00 in London.
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")

        assert await self._refused(client, w, shift, person, 422) == [("availability", None)]

    async def test_excluded_contract(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client, excluded_contract_ids=[contract["id"]])
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")

        assert await self._refused(client, w, shift, person, 422) == [("excluded_contract", None)]

    async def test_seat_capacity(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        response = await client.patch(f"/v1/sites/{w.site_id}", json={"seat_capacity": 1}, headers=w.h)
        assert response.status_code == 200, response.text
        first_person, second_person = (
            await w.staff(client, site_ids=[w.site_id]),
            await w.staff(client, site_ids=[w.site_id]),
        )
        onsite = w.setup["contract"]
        morning = await w.shift(client, onsite, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        midday = await w.shift(client, onsite, "2026-11-02T04:00:00Z", "2026-11-02T10:00:00Z")
        assert (await w.assign(client, morning, first_person["id"])).status_code == 201

        assert await self._refused(client, w, midday, second_person, 409) == [("seat_capacity", morning)]

    async def test_a_full_shift(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        first_person, second_person = await w.staff(client), await w.staff(client)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        assert (await w.assign(client, shift, first_person["id"])).status_code == 201

        assert await self._refused(client, w, shift, second_person, 409) == [("headcount_full", shift)]
        again = await w.assign(client, shift, first_person["id"])
        assert_problem(again, 409, "already-assigned")

    async def test_every_broken_rule_is_listed_and_ineligibility_wins(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client, excluded_contract_ids=[contract["id"]])
        other = await w.contract(client, REMOTE_DAY)
        booked = await w.shift(client, other, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")
        assert (await w.assign(client, booked, person["id"])).status_code == 201
        shift = await w.shift(
            client, contract, "2026-11-02T02:00:00Z", "2026-11-02T06:00:00Z", skills=["ads"]
        )

        found = await self._refused(client, w, shift, person, 422)

        assert found == [("excluded_contract", None), ("skills", None), ("overlap", booked)]

    async def test_unknown_or_inactive_people_and_unknown_shifts(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client, active=False)
        shift = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z")

        assert "staff_id" in error_fields(
            assert_problem(await w.assign(client, shift, str(uuid.UUID(int=5))), 422)
        )
        assert_problem(await w.assign(client, shift, person["id"]), 409, "staff-inactive")
        assert_problem(await w.assign(client, str(uuid.UUID(int=6)), person["id"]), 404)
        bad = await client.post(f"/v1/shifts/{shift}/assignments", json={"staff": person["id"]}, headers=w.h)
        assert_problem(bad, 422)

    async def test_two_concurrent_requests_cannot_together_double_book_a_person(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        shifts = [
            await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z"),
            await w.shift(client, contract, "2026-11-02T04:00:00Z", "2026-11-02T12:00:00Z"),
        ]

        for _ in range(3):
            responses = await asyncio.gather(*(w.assign(client, shift, person["id"]) for shift in shifts))
            assert sorted(r.status_code for r in responses) == [201, 409]
            assert len(await w.assigned(client, person["id"])) == 1
            (kept,) = [r.json() for r in responses if r.status_code == 201]
            assert (await client.delete(f"/v1/assignments/{kept['id']}", headers=w.h)).status_code == 204

    async def test_listing_by_shift_person_contract_and_dates(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        people = [await w.staff(client), await w.staff(client)]
        monday = await w.shift(client, contract, "2026-11-02T00:00:00Z", "2026-11-02T08:00:00Z", headcount=2)
        friday = await w.shift(client, contract, "2026-11-06T00:00:00Z", "2026-11-06T08:00:00Z")
        for shift, person in ((monday, people[0]), (monday, people[1]), (friday, people[0])):
            assert (await w.assign(client, shift, person["id"])).status_code == 201

        by_shift = await get_ok(client, "/v1/assignments", w.h, shift_id=monday)
        by_dates = await get_ok(
            client,
            "/v1/assignments",
            w.h,
            staff_id=people[0]["id"],
            tz="Asia/Tokyo",
            **{"from": "2026-11-06", "to": "2026-11-06"},
        )

        assert {a["staff_id"] for a in by_shift["items"]} == {people[0]["id"], people[1]["id"]}
        assert [(a["shift_id"], a["start"]) for a in by_dates["items"]] == [(friday, "2026-11-06T00:00:00Z")]
        assert len((await get_ok(client, "/v1/assignments", w.h, contract_id=contract["id"]))["items"]) == 3
        bad = await client.get(
            "/v1/assignments", params={"from": "2026-11-06", "to": "2026-11-01"}, headers=w.h
        )
        assert "to" in error_fields(assert_problem(bad, 422))


class TestCoverageView:
    async def test_a_small_day_computed_by_hand(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        # Two people 09:00-13:00 JST (00:00-04:00 UTC).
        contract = await w.contract(
            client, [{"days": ["daily"], "start": "09:00", "end": "13:00", "headcount": 2}]
        )
        await post_ok(
            client,
            f"/v1/contracts/{contract['id']}/shifts:generate",
            {"from": "2026-11-02", "to": "2026-11-02"},
            w.h,
        )
        (generated,) = (await get_ok(client, "/v1/shifts", w.h, contract_id=contract["id"]))["items"]
        ann, ben = await w.staff(client), await w.staff(client)
        # Ann works the generated shift; Ben 11:00-15:00 JST.
        assert (await w.assign(client, generated["id"], ann["id"])).status_code == 201
        afternoon = await w.shift(client, contract, "2026-11-02T11:00:00+09:00", "2026-11-02T15:00:00+09:00")
        assert (await w.assign(client, afternoon, ben["id"])).status_code == 201

        report = await get_ok(
            client,
            f"/v1/contracts/{contract['id']}/coverage",
            w.h,
            interval=60,
            **{"from": "2026-11-02", "to": "2026-11-02"},
        )

        assert report["time_zone"] == "Asia/Tokyo"
        assert len(report["intervals"]) == 24
        assert report["intervals"][0]["start"] == "2026-11-01T15:00:00Z"
        rows = [(i["required"], i["scheduled"], i["gap"]) for i in report["intervals"][8:16]]
        assert rows == [
            (0, 0, False),
            (2, 1, True),
            (2, 1, True),
            (2, 2, False),
            (2, 2, False),
            (0, 1, False),
            (0, 1, False),
            (0, 0, False),
        ]
        assert report["totals"] == {
            "required_staff_minutes": 480,
            "staffed_staff_minutes": 360,
            "coverage_minutes": 240,
            "fully_staffed_minutes": 120,
            "fully_staffed_share": 0.5,
        }
        quarter = await get_ok(
            client,
            f"/v1/contracts/{contract['id']}/coverage",
            w.h,
            interval=15,
            **{"from": "2026-11-02", "to": "2026-11-02"},
        )
        assert len(quarter["intervals"]) == 96
        assert quarter["totals"] == report["totals"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "2026-11-02", "to": "2026-11-01"}, "to"),
            ({"from": "2026-01-01", "to": "2026-06-01"}, "to"),
            ({"from": "2026-11-02", "to": "2026-11-02", "interval": 45}, "interval"),
        ],
    )
    async def test_bad_queries_name_the_parameter(
        self, client: httpx.AsyncClient, params: dict[str, Any], field: str
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)

        response = await client.get(f"/v1/contracts/{contract['id']}/coverage", params=params, headers=w.h)

        assert field in error_fields(assert_problem(response, 422))


class TestDateLimits:
    """Local dates become instants a few days either side: at the ends of the calendar that used to be a
    server error, now the parameter is named."""

    @pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31", "9999-01-01", "9999-12-31"])
    @pytest.mark.parametrize("field", ["from", "to"])
    async def test_a_date_out_of_range_is_named_and_writes_nothing(
        self, client: httpx.AsyncClient, field: str, day: str
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        usual = {"from": "2026-11-02", "to": "2026-11-02"}
        await post_ok(client, f"/v1/contracts/{contract['id']}/shifts:generate", usual, w.h)
        period = {**usual, field: day}

        responses = [
            await client.get("/v1/shifts", params={field: day}, headers=w.h),
            await client.get("/v1/shifts", params={**period, "tz": "Pacific/Kiritimati"}, headers=w.h),
            await client.get("/v1/assignments", params={field: day, "tz": "Pacific/Pago_Pago"}, headers=w.h),
            await client.get(f"/v1/contracts/{contract['id']}/coverage", params=period, headers=w.h),
            await client.post(f"/v1/contracts/{contract['id']}/shifts:generate", json=period, headers=w.h),
            await client.post(
                "/v1/shifts:publish", json={"contract_id": contract["id"], **period}, headers=w.h
            ),
            await client.post(
                "/v1/schedule-runs", json={"contract_ids": [contract["id"]], **period}, headers=w.h
            ),
        ]

        for response in responses:
            problem = assert_problem(response, 422, "validation-error")
            assert error_fields(problem) == [field], (response.request.url, problem)
        shifts = (await get_ok(client, "/v1/shifts", w.h))["items"]
        assert [s["status"] for s in shifts] == ["draft"]
        assert (await get_ok(client, "/v1/schedule-runs", w.h))["items"] == []

    async def test_the_first_and_last_dates_allowed_are_served(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        created: dict[str, int] = {}
        for day in ("1970-01-01", "9998-12-31"):
            period = {"from": day, "to": day}
            for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
                assert (await get_ok(client, "/v1/shifts", w.h, tz=zone, **period))["items"] == []
                assert (await get_ok(client, "/v1/assignments", w.h, tz=zone, **period))["items"] == []
            report = await get_ok(client, f"/v1/contracts/{contract['id']}/coverage", w.h, **period)
            assert report["from"] == day
            path = f"/v1/contracts/{contract['id']}/shifts:generate"
            created[day] = (await post_ok(client, path, period, w.h))["created"]
        # The contract runs from 2026 on, with no end.
        assert created == {"1970-01-01": 0, "9998-12-31": 1}


class TestSettings:
    async def test_admins_read_and_set_rest_and_weights(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        _, supervisor = await create_user(client, w.tenant, role="supervisor")

        default = await get_ok(client, "/v1/staffing/settings", w.h)
        response = await client.put(
            "/v1/staffing/settings",
            json={
                "min_rest_hours": 12,
                "weights": {"follow_the_sun": 80, "night_start": 1260, "night_end": 1800},
            },
            headers=w.h,
        )

        assert default["min_rest_hours"] == 11
        assert default["weights"]["coverage"] == 1000
        assert response.status_code == 200, response.text
        stored = await get_ok(client, "/v1/staffing/settings", w.h)
        assert (stored["min_rest_hours"], stored["weights"]["follow_the_sun"], stored["weights"]["cost"]) == (
            12,
            80,
            1,
        )
        assert_problem(await client.get("/v1/staffing/settings", headers=supervisor), 403)
        assert_problem(await client.put("/v1/staffing/settings", json={}, headers=supervisor), 403)
        stranger = await create_tenant(client)
        assert (await get_ok(client, "/v1/staffing/settings", stranger.admin))["min_rest_hours"] == 11

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"min_rest_hours": -1}, "min_rest_hours"),
            ({"weights": {"night_start": 1320, "night_end": 1200}}, "weights.night_end"),
            ({"weights": {"coverage": -5}}, "weights.coverage"),
            ({"weights": {"speed": 1}}, "weights.speed"),
        ],
    )
    async def test_bad_settings_name_the_field(
        self, client: httpx.AsyncClient, body: dict[str, Any], field: str
    ) -> None:
        w = await world(client)

        response = await client.put("/v1/staffing/settings", json=body, headers=w.h)

        assert field in error_fields(assert_problem(response, 422))
        assert (await get_ok(client, "/v1/staffing/settings", w.h))["min_rest_hours"] == 11
