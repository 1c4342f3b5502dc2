"""Labour rules over HTTP: shift breaks (the usual one, a too-short one refused naming the field), and
consecutive working days and monthly and yearly overtime caps, as tenant defaults and per-person
overrides, enforced on manual assignments, open-shift claims, swaps and solver runs with the same
problem shape; other tenants neither see nor change them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.staffing import schedule_runs as runs
from tests.support.factories import create_tenant, create_user, get_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.staffing import (
    REMOTE_DAY,
    World,
    add_assignment,
    add_shift,
    remote_contract,
    staff_login,
    world,
)


async def refused(
    client: httpx.AsyncClient, w: World, shift: str, person: dict[str, Any]
) -> list[tuple[str, str | None]]:
    before = await w.assigned(client, person["id"])
    body = assert_problem(await w.assign(client, shift, person["id"]), 409, "schedule-conflict")
    assert await w.assigned(client, person["id"]) == before
    assert "staff_id" in error_fields(body)
    assert all(v["message"] for v in body["violations"])
    return [(v["code"], v["conflicting_shift_id"]) for v in body["violations"]]


async def days(
    client: httpx.AsyncClient, w: World, contract: dict[str, Any], first: datetime, count: int, hours: float
) -> list[str]:
    """One shift a day from ``first`` (UTC), ``hours`` long."""
    return [
        await w.shift(
            client,
            contract,
            (first + timedelta(days=d)).isoformat(),
            (first + timedelta(days=d, hours=hours)).isoformat(),
        )
        for d in range(count)
    ]


NOV_2 = datetime(2026, 11, 2, tzinfo=UTC)


class TestBreaks:
    async def test_the_usual_break_a_stored_one_and_a_too_short_one(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        body = {"contract_id": contract["id"], "start": "2026-11-02T00:00:00Z", "end": "2026-11-02T08:00:00Z"}

        created = await client.post("/v1/shifts", json=body, headers=w.h)
        assert created.status_code == 201, created.text
        shift = created.json()
        assert (shift["break_minutes"], shift["break_default"], shift["worked_hours"]) == (45, True, 7.25)
        for minutes in (30, 480, 601):
            response = await client.post("/v1/shifts", json={**body, "break_minutes": minutes}, headers=w.h)
            assert error_fields(assert_problem(response, 422)) == ["break_minutes"], minutes
        too_short = await client.post("/v1/shifts", json={**body, "break_minutes": 30}, headers=w.h)
        assert "break_too_short" in assert_problem(too_short, 422)["errors"][0]["message"]
        listed = await get_ok(client, "/v1/shifts", w.h, contract_id=contract["id"])
        assert [item["id"] for item in listed["items"]] == [shift["id"]]

        changed = await client.patch(f"/v1/shifts/{shift['id']}", json={"break_minutes": 60}, headers=w.h)
        assert changed.status_code == 200, changed.text
        assert (changed.json()["break_minutes"], changed.json()["break_default"]) == (60, False)
        assert changed.json()["worked_hours"] == 7.0
        # Ten hours with 45 minutes leaves 9 h 15 min of work: an hour's break is the minimum.
        longer = {"end": "2026-11-02T10:00:00Z", "break_minutes": 45}
        response = await client.patch(f"/v1/shifts/{shift['id']}", json=longer, headers=w.h)
        assert error_fields(assert_problem(response, 422)) == ["break_minutes"]
        assert (await get_ok(client, f"/v1/shifts/{shift['id']}", w.h))["end"].startswith("2026-11-02T08:00")
        back = await client.patch(f"/v1/shifts/{shift['id']}", json={"break_minutes": None}, headers=w.h)
        assert (back.json()["break_minutes"], back.json()["break_default"]) == (45, True)
        stranger = await create_tenant(client)
        other = await client.patch(
            f"/v1/shifts/{shift['id']}", json={"break_minutes": 90}, headers=stranger.admin
        )
        assert_problem(other, 404)


class TestManualAssignments:
    async def test_consecutive_days_tenant_default_then_personal_override(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client)
        week = await days(client, w, contract, NOV_2, 7, 5)
        for shift in week[:6]:
            assert (await w.assign(client, shift, person["id"])).status_code == 201

        assert await refused(client, w, week[6], person) == [("consecutive_days", None)]
        response = await client.patch(
            f"/v1/staff/{person['id']}", json={"max_consecutive_days": 7}, headers=w.h
        )
        assert response.status_code == 200, response.text
        assert response.json()["max_consecutive_days"] == 7
        assert (await w.assign(client, week[6], person["id"])).status_code == 201

        strict = await client.put("/v1/staffing/settings", json={"max_consecutive_days": 2}, headers=w.h)
        assert strict.status_code == 200, strict.text
        colleague = await w.staff(client)
        later = await days(client, w, contract, NOV_2 + timedelta(days=14), 3, 5)
        for shift in later[:2]:
            assert (await w.assign(client, shift, colleague["id"])).status_code == 201
        assert await refused(client, w, later[2], colleague) == [("consecutive_days", None)]

    async def test_monthly_overtime_cap_and_override(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        response = await client.put("/v1/staffing/settings", json={"monthly_overtime_hours": 3}, headers=w.h)
        assert response.status_code == 200, response.text
        person = await w.staff(client, weekly_hour_cap=80)
        # 11-hour spans with the usual hour's break: 10 h worked, 2 h beyond the statutory 8 each.
        long_days = await days(client, w, contract, NOV_2, 3, 11)
        assert (await w.assign(client, long_days[0], person["id"])).status_code == 201

        assert await refused(client, w, long_days[1], person) == [("monthly_overtime", None)]
        override = await client.patch(
            f"/v1/staff/{person['id']}", json={"monthly_overtime_hours": 4}, headers=w.h
        )
        assert override.status_code == 200, override.text
        assert (await w.assign(client, long_days[1], person["id"])).status_code == 201
        assert await refused(client, w, long_days[2], person) == [("monthly_overtime", None)]

    async def test_yearly_overtime_counts_the_year_from_april(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        person = await w.staff(client, weekly_hour_cap=80, yearly_overtime_hours=3)
        may, november = [
            (await days(client, w, contract, start, 1, 11))[0]
            for start in (datetime(2026, 5, 7, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
        ]
        next_april = (await days(client, w, contract, datetime(2027, 4, 6, tzinfo=UTC), 1, 11))[0]
        assert (await w.assign(client, may, person["id"])).status_code == 201

        assert await refused(client, w, november, person) == [("yearly_overtime", None)]
        assert (await w.assign(client, next_april, person["id"])).status_code == 201


class TestClaimsAndSwaps:
    async def test_a_claim_for_a_seventh_day_in_a_row_is_refused(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        contract = await remote_contract(client, w.tenant, w.setup)
        me, my_h = await staff_login(client, runtime, w.tenant, "Hana Suzuki")
        today = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
        shifts = [
            await add_shift(runtime, w.tenant, contract["id"], start, start + timedelta(hours=6))
            for start in (today + timedelta(days=d) for d in range(2, 9))
        ]
        for shift in shifts[:6]:
            await add_assignment(runtime, w.tenant, shift, me)

        listed = await get_ok(client, "/v1/me/open-shifts", my_h)
        assert str(shifts[6]) not in [item["shift_id"] for item in listed["items"]]
        body = assert_problem(
            await client.post(f"/v1/me/open-shifts/{shifts[6]}/claim", headers=my_h),
            409,
            "claim-breaks-rules",
        )
        assert [v["code"] for v in body["violations"]] == ["consecutive_days"]
        assert error_fields(body) == ["shift_id"]

    async def test_a_swap_over_the_monthly_cap_is_refused_at_approval(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        contract = await remote_contract(client, w.tenant, w.setup)
        aiko, aiko_h = await staff_login(client, runtime, w.tenant, "Aiko Mori")
        kenji, kenji_h = await staff_login(
            client, runtime, w.tenant, "Kenji Sato", weekly_hour_cap=80, monthly_overtime_hours=2
        )
        _, supervisor = await create_user(client, w.tenant, role="supervisor")
        # Two 11-hour days (2 h overtime each) next week, in one month of Kenji's clock.
        monday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=8)
        if (monday + timedelta(days=2)).month != monday.month:
            monday += timedelta(days=5)
        his = await add_shift(runtime, w.tenant, contract["id"], monday, monday + timedelta(hours=11))
        await add_assignment(runtime, w.tenant, his, kenji)
        start = monday + timedelta(days=1)
        hers = await add_shift(runtime, w.tenant, contract["id"], start, start + timedelta(hours=11))
        given = await add_assignment(runtime, w.tenant, hers, aiko)

        proposed = await client.post(
            "/v1/me/swap-requests",
            json={"assignment_id": str(given), "counterpart_staff_id": str(kenji)},
            headers=aiko_h,
        )
        assert proposed.status_code == 201, proposed.text
        swap = proposed.json()
        assert (
            await client.post(f"/v1/swap-requests/{swap['id']}:accept", headers=kenji_h)
        ).status_code == 200
        body = assert_problem(
            await client.post(f"/v1/swap-requests/{swap['id']}:approve", headers=supervisor),
            409,
            "swap-breaks-rules",
        )
        assert [v["code"] for v in body["violations"]] == ["monthly_overtime"]
        swap_now = await get_ok(client, f"/v1/swap-requests/{swap['id']}", supervisor)
        assert swap_now["status"] == "accepted"


class TestSolverRuns:
    async def test_a_run_counts_overtime_from_earlier_in_the_year(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        contract = await remote_contract(client, w.tenant, w.setup)
        person = await w.staff(client, weekly_hour_cap=80, yearly_overtime_hours=4)
        staff_id = uuid.UUID(person["id"])
        # February, far outside the run's period: 2 h of overtime in the year from April 2025.
        february = datetime(2026, 2, 2, tzinfo=UTC)
        earlier = await add_shift(runtime, w.tenant, contract["id"], february, february + timedelta(hours=11))
        await add_assignment(runtime, w.tenant, earlier, staff_id)
        for day in (2, 3, 4):
            start = datetime(2026, 3, day, tzinfo=UTC)
            await add_shift(runtime, w.tenant, contract["id"], start, start + timedelta(hours=11))

        body = {"from": "2026-03-02", "to": "2026-03-04", "contract_ids": [contract["id"]], "time_limit_s": 5}
        response = await client.post("/v1/schedule-runs", json=body, headers=w.h)
        assert response.status_code == 202, response.text
        async with runtime.db.tenant(w.tenant.id) as session:
            await runs.execute_run(session, system_scope(w.tenant.id), uuid.UUID(response.json()["id"]))
        done = await get_ok(client, f"/v1/schedule-runs/{response.json()['id']}", w.h)

        assert done["status"] == "succeeded", done
        assert done["result"]["assignments_added"] == 1
        assert all("yearly_overtime" in gap["reason"] for gap in done["result"]["unfilled"])
        assert len(await w.assigned(client, person["id"])) == 2


class TestSettingsAndOverrides:
    async def test_tenant_defaults_and_what_others_see(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        defaults = await get_ok(client, "/v1/staffing/settings", w.h)
        limits = ("max_consecutive_days", "monthly_overtime_hours", "yearly_overtime_hours")
        assert [defaults[name] for name in (*limits, "overtime_year_start_month")] == [6, 45, 360, 4]

        body = {"max_consecutive_days": 5, "monthly_overtime_hours": 30, "yearly_overtime_hours": 300}
        response = await client.put("/v1/staffing/settings", json=body, headers=w.h)
        assert response.status_code == 200, response.text
        assert [response.json()[name] for name in limits] == [5, 30, 300]
        stranger = await create_tenant(client)
        assert (await get_ok(client, "/v1/staffing/settings", stranger.admin))["max_consecutive_days"] == 6
        person = await w.staff(client, max_consecutive_days=4, monthly_overtime_hours=10)
        assert [person[name] for name in limits] == [4, 10, None]
        assert_problem(
            await client.patch(
                f"/v1/staff/{person['id']}", json={"max_consecutive_days": 9}, headers=stranger.admin
            ),
            404,
        )
        assert (await get_ok(client, f"/v1/staff/{person['id']}", w.h))["max_consecutive_days"] == 4

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"max_consecutive_days": 0}, "max_consecutive_days"),
            ({"monthly_overtime_hours": -1}, "monthly_overtime_hours"),
            ({"yearly_overtime_hours": "many"}, "yearly_overtime_hours"),
            ({"overtime_year_start_month": 13}, "overtime_year_start_month"),
        ],
    )
    async def test_bad_settings_and_overrides_name_the_field(
        self, client: httpx.AsyncClient, body: dict[str, Any], field: str
    ) -> None:
        w = await world(client)
        person = await w.staff(client)

        settings = await client.put("/v1/staffing/settings", json=body, headers=w.h)
        assert field in error_fields(assert_problem(settings, 422))
        assert (await get_ok(client, "/v1/staffing/settings", w.h))["max_consecutive_days"] == 6
        if field != "overtime_year_start_month":
            patched = await client.patch(f"/v1/staff/{person['id']}", json=body, headers=w.h)
            assert field in error_fields(assert_problem(patched, 422))
            assert (await get_ok(client, f"/v1/staff/{person['id']}", w.h))[field] is None
