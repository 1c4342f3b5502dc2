"""Open shifts over HTTP: a staff member sees the published shifts still short of people that pass every
hard rule for them, claims one, and a supervisor approves or declines it (or the contract approves at
once); a claim that breaks a rule is a 409 naming the rules, and nobody reaches anyone else's claims."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bpo.core.runtime import Runtime
from tests.support.factories import create_tenant, create_user, get_ok, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.staffing import World, add_assignment, add_shift, remote_contract, staff_login, world


def day(n: int, hour: int = 0) -> datetime:
    """Midnight UTC ``n`` days from today, plus ``hour`` hours."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=n, hours=hour)


@dataclass
class Team:
    w: World
    contract: dict[str, Any]
    me: uuid.UUID
    my_h: dict[str, str]
    kenji: uuid.UUID
    kenji_h: dict[str, str]
    supervisor: dict[str, str]


async def team(client: httpx.AsyncClient, runtime: Runtime) -> Team:
    w = await world(client)
    contract = await remote_contract(client, w.tenant, w.setup)
    me, my_h = await staff_login(client, runtime, w.tenant, "Hana Suzuki")
    kenji, kenji_h = await staff_login(client, runtime, w.tenant, "Kenji Sato")
    _, supervisor = await create_user(client, w.tenant, role="supervisor")
    return Team(w, contract, me, my_h, kenji, kenji_h, supervisor)


async def shift(runtime: Runtime, t: Team, start: datetime, hours: int = 8, **fields: Any) -> uuid.UUID:
    return await add_shift(
        runtime, t.w.tenant, t.contract["id"], start, start + timedelta(hours=hours), **fields
    )


async def open_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    body = await get_ok(client, "/v1/me/open-shifts", headers)
    return [item["shift_id"] for item in body["items"]]


async def claim(
    client: httpx.AsyncClient, t: Team, shift_id: uuid.UUID, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"/v1/me/open-shifts/{shift_id}/claim", headers=headers)


class TestEligibility:
    async def test_only_open_shifts_that_pass_every_hard_rule_are_listed(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        tenant = t.w.tenant
        half_open = await shift(runtime, t, day(2, 1), headcount=2)
        await add_assignment(runtime, tenant, half_open, t.kenji)
        full = await shift(runtime, t, day(3, 1))
        await add_assignment(runtime, tenant, full, t.kenji)
        draft = await shift(runtime, t, day(4, 1), status="draft")
        chat = await shift(runtime, t, day(5, 1), skills=["chat"])
        english = await shift(runtime, t, day(6, 1), languages=["en"])
        mine = await shift(runtime, t, day(7, 0))
        await add_assignment(runtime, tenant, mine, t.me)
        overlapping = await shift(runtime, t, day(7, 4))
        # Ends five hours before my own shift starts: less than the 11 hours of rest.
        too_close = await shift(runtime, t, day(6, 11))
        onsite = await shift(runtime, t, day(9, 1), mode="onsite", site_id=t.w.site_id)
        on_leave = await shift(runtime, t, day(11, 1))
        started = await shift(runtime, t, day(0) - timedelta(hours=2), hours=4)
        later = await shift(runtime, t, day(13, 1))
        leave = await post_ok(
            client,
            f"/v1/staff/{t.me}/time-off",
            {"start": day(11).isoformat(), "end": day(12).isoformat()},
            t.my_h,
        )
        approved = await client.post(f"/v1/time-off/{leave['id']}:approve", headers=tenant.admin)
        assert approved.status_code == 200, approved.text

        body = await get_ok(client, "/v1/me/open-shifts", t.my_h)

        assert [item["shift_id"] for item in body["items"]] == [str(half_open), str(later)]
        first = body["items"][0]
        assert (first["open"], first["headcount"], first["approval"], first["pending_claim_id"]) == (
            1,
            2,
            "supervisor",
            None,
        )
        assert first["contract_name"] == "Night patrol"
        assert body["time_zone"] == "Asia/Tokyo"
        for excluded in (full, draft, chat, english, mine, overlapping, too_close, onsite, on_leave, started):
            assert str(excluded) not in str(body)
        # Kenji works half_open already and lacks nothing else: the rest is his to see.
        kenji_sees = await open_ids(client, t.kenji_h)
        assert str(half_open) not in kenji_sees
        assert {str(overlapping), str(too_close), str(on_leave), str(later)} <= set(kenji_sees)
        assert str(mine) not in kenji_sees

    async def test_bad_input(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        t = await team(client, runtime)
        for params, field in (
            ({"tz": "Mars/Olympus"}, "tz"),
            ({"from": "2026-03-05", "to": "2026-03-01"}, "to"),
            ({"from": "2026-01-01", "to": "2026-12-31"}, "to"),
        ):
            body = assert_problem(await client.get("/v1/me/open-shifts", params=params, headers=t.my_h), 422)
            assert error_fields(body) == [field]


class TestClaims:
    async def test_a_claim_waits_for_a_supervisor_who_approves_it(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        target = await shift(runtime, t, day(3, 1))

        response = await claim(client, t, target, t.my_h)

        assert response.status_code == 201, response.text
        made = response.json()
        assert (made["status"], made["approval"], made["assignment_id"], made["staff_id"]) == (
            "pending",
            "supervisor",
            None,
            str(t.me),
        )
        listed = await get_ok(client, "/v1/me/open-shifts", t.my_h)
        assert [(i["shift_id"], i["pending_claim_id"]) for i in listed["items"]] == [
            (str(target), made["id"])
        ]
        assert_problem(await claim(client, t, target, t.my_h), 409, "claim-pending")
        # Kenji sees none of it; the supervisor sees it among everyone's.
        assert (await get_ok(client, "/v1/open-shift-claims", t.kenji_h))["items"] == []
        assert_problem(await client.get(f"/v1/open-shift-claims/{made['id']}", headers=t.kenji_h), 404)
        waiting = await get_ok(client, "/v1/open-shift-claims", t.supervisor, status="pending")
        assert [c["id"] for c in waiting["items"]] == [made["id"]]
        # Only a supervisor decides.
        assert_problem(await client.post(f"/v1/open-shift-claims/{made['id']}:approve", headers=t.my_h), 403)

        approved = await client.post(f"/v1/open-shift-claims/{made['id']}:approve", headers=t.supervisor)

        assert approved.status_code == 200, approved.text
        decided = approved.json()
        assert decided["status"] == "approved"
        assert decided["decided_by"] is not None
        assignment = await get_ok(client, f"/v1/assignments/{decided['assignment_id']}", t.w.h)
        assert (assignment["shift_id"], assignment["staff_id"], assignment["source"]) == (
            str(target),
            str(t.me),
            "claim",
        )
        mine = await get_ok(
            client,
            "/v1/me/shifts",
            t.my_h,
            **{"from": day(3).date().isoformat(), "to": day(4).date().isoformat()},
        )
        assert [item["shift_id"] for item in mine["items"]] == [str(target)]
        assert await open_ids(client, t.my_h) == []
        assert_problem(
            await client.post(f"/v1/open-shift-claims/{made['id']}:approve", headers=t.supervisor),
            409,
            "claim-status",
        )
        audit = await get_ok(client, "/v1/audit-events", t.w.h, object_id=made["id"])
        assert [e["action"] for e in audit["items"]] == [
            "open_shift_claim.created",
            "open_shift_claim.approved",
        ]

    async def test_declined_and_withdrawn(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        t = await team(client, runtime)
        first = await shift(runtime, t, day(3, 1))
        second = await shift(runtime, t, day(5, 1))
        one = (await claim(client, t, first, t.my_h)).json()
        two = (await claim(client, t, second, t.my_h)).json()
        too_long = await client.post(
            f"/v1/open-shift-claims/{one['id']}:decline", json={"note": "x" * 501}, headers=t.supervisor
        )
        assert error_fields(assert_problem(too_long, 422)) == ["note"]
        declined = await client.post(
            f"/v1/open-shift-claims/{one['id']}:decline",
            json={"note": "Covered by the Sapporo team"},
            headers=t.supervisor,
        )
        assert declined.status_code == 200, declined.text
        assert (declined.json()["status"], declined.json()["note"]) == (
            "declined",
            "Covered by the Sapporo team",
        )
        assert_problem(await client.post(f"/v1/open-shift-claims/{two['id']}:cancel", headers=t.kenji_h), 404)
        cancelled = await client.post(f"/v1/open-shift-claims/{two['id']}:cancel", headers=t.my_h)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert (await get_ok(client, "/v1/assignments", t.w.h, staff_id=str(t.me)))["items"] == []
        # A claim can be made again once the earlier one is closed.
        assert (await claim(client, t, second, t.my_h)).status_code == 201

    async def test_a_contract_that_approves_at_once(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        target = await shift(runtime, t, day(3, 1))
        # Kenji claimed it while claims still waited for a supervisor.
        kenjis = (await claim(client, t, target, t.kenji_h)).json()
        changed = await client.patch(
            f"/v1/contracts/{t.contract['id']}", json={"open_shift_approval": "auto"}, headers=t.w.h
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["open_shift_approval"] == "auto"
        assert (await get_ok(client, "/v1/me/open-shifts", t.my_h))["items"][0]["approval"] == "auto"

        response = await claim(client, t, target, t.my_h)

        assert response.status_code == 201, response.text
        made = response.json()
        assert (made["status"], made["approval"], made["decided_by"]) == ("approved", "auto", None)
        assert await get_ok(client, f"/v1/assignments/{made['assignment_id']}", t.w.h)
        # The shift is full: Kenji's claim is closed, saying why.
        theirs = await get_ok(client, f"/v1/open-shift-claims/{kenjis['id']}", t.kenji_h)
        assert theirs["status"] == "declined"
        assert "filled" in theirs["note"]

    async def test_a_claim_that_breaks_a_hard_rule_is_refused_with_the_rules(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        mine = await shift(runtime, t, day(4, 0))
        await add_assignment(runtime, t.w.tenant, mine, t.me)
        cases = {
            "skills": await shift(runtime, t, day(2, 1), skills=["chat"]),
            "overlap": await shift(runtime, t, day(4, 4)),
            "min_rest": await shift(runtime, t, day(3, 11)),
            "headcount_full": await shift(runtime, t, day(6, 1)),
            "shift_started": await shift(runtime, t, day(0) - timedelta(hours=1), hours=12),
        }
        await add_assignment(runtime, t.w.tenant, cases["headcount_full"], t.kenji)
        for code, shift_id in cases.items():
            response = await claim(client, t, shift_id, t.my_h)
            body = assert_problem(response, 409, "claim-breaks-rules")
            assert code in [v["code"] for v in body["violations"]], (code, body)
            assert all(v["message"] for v in body["violations"])
            assert error_fields(body)[0] == "shift_id"
        assert (await get_ok(client, "/v1/open-shift-claims", t.supervisor))["items"] == []

    async def test_approval_checks_the_rules_again(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        t = await team(client, runtime)
        target = await shift(runtime, t, day(3, 1))
        made = (await claim(client, t, target, t.my_h)).json()
        # Filled meanwhile by hand.
        assert (await t.w.assign(client, str(target), str(t.kenji))).status_code == 201

        response = await client.post(f"/v1/open-shift-claims/{made['id']}:approve", headers=t.supervisor)

        body = assert_problem(response, 409, "claim-breaks-rules")
        assert [v["code"] for v in body["violations"]] == ["headcount_full"]
        assert (await get_ok(client, f"/v1/open-shift-claims/{made['id']}", t.my_h))["status"] == "pending"
        assert (await get_ok(client, "/v1/assignments", t.w.h, staff_id=str(t.me)))["items"] == []


class TestNotAccessible:
    async def test_other_tenants_and_unknown_shifts_and_claims(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        draft = await shift(runtime, t, day(3, 1), status="draft")
        target = await shift(runtime, t, day(4, 1))
        made = (await claim(client, t, target, t.my_h)).json()
        other = await create_tenant(client)
        _, stranger = await staff_login(client, runtime, other, "Hana Suzuki")
        for shift_id in (draft, uuid.uuid4()):
            assert_problem(await claim(client, t, shift_id, t.my_h), 404)
        assert_problem(await claim(client, t, target, stranger), 404)
        assert (await get_ok(client, "/v1/me/open-shifts", stranger))["items"] == []
        for action in ("", ":approve", ":decline", ":cancel"):
            method = client.get if not action else client.post
            assert_problem(
                await method(f"/v1/open-shift-claims/{made['id']}{action}", headers=other.admin), 404
            )
        assert (await get_ok(client, "/v1/open-shift-claims", other.admin))["items"] == []
        _, viewer = await create_user(
            client, t.w.tenant, role="client_viewer", client_id=t.w.setup["client"]["id"]
        )
        assert_problem(await client.get("/v1/me/open-shifts", headers=viewer), 403)
        assert_problem(await client.get("/v1/open-shift-claims", headers=viewer), 403)
        assert (await get_ok(client, f"/v1/open-shift-claims/{made['id']}", t.my_h))["status"] == "pending"
