"""Staff self-service over HTTP: own shifts in the viewer's zone, the secret iCal feed, and swaps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar

from bpo.core.runtime import Runtime
from tests.support.factories import TenantHandle, create_tenant, create_user, get_ok, onboard
from tests.support.problems import assert_problem, error_fields
from tests.support.staffing import add_assignment, add_shift, add_staff, remote_contract, staff_login

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = "Europe/London"
BUENOS_AIRES = "America/Argentina/Buenos_Aires"


def jst(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TOKYO)


def wall(text: str) -> tuple[str, str]:
    """(local date-time, UTC offset) of an ISO timestamp."""
    moment = datetime.fromisoformat(text)
    return moment.strftime("%Y-%m-%d %H:%M"), moment.strftime("%z")


class World:
    """A tenant with an onsite contract (Tokyo office) and a remote night patrol, and people on them."""

    tenant: TenantHandle
    setup: dict[str, Any]
    night: dict[str, Any]


async def world(client: httpx.AsyncClient) -> World:
    state = World()
    state.tenant = await create_tenant(client)
    state.setup = await onboard(client, state.tenant)
    state.night = await remote_contract(client, state.tenant, state.setup)
    return state


class TestMyShifts:
    async def test_a_night_shift_in_tokyo_on_each_viewers_clock(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        fiona, fiona_h = await staff_login(client, runtime, w.tenant, "Fiona MacLeod", zone=LONDON)
        winter = await add_shift(runtime, w.tenant, w.night["id"], jst(2026, 1, 14, 22), jst(2026, 1, 15, 7))
        summer = await add_shift(runtime, w.tenant, w.night["id"], jst(2026, 7, 15, 22), jst(2026, 7, 16, 7))
        await add_assignment(runtime, w.tenant, winter, fiona)
        await add_assignment(runtime, w.tenant, summer, fiona)

        body = await get_ok(client, "/v1/me/shifts", fiona_h, **{"from": "2026-01-14", "to": "2026-01-14"})
        assert body["time_zone"] == LONDON
        [item] = body["items"]
        assert (wall(item["start"]), wall(item["end"])) == (
            ("2026-01-14 13:00", "+0000"),
            ("2026-01-14 22:00", "+0000"),
        )
        body = await get_ok(client, "/v1/me/shifts", fiona_h, **{"from": "2026-07-15", "to": "2026-07-15"})
        [item] = body["items"]
        assert (wall(item["start"]), wall(item["end"])) == (
            ("2026-07-15 14:00", "+0100"),
            ("2026-07-15 23:00", "+0100"),
        )
        body = await get_ok(
            client, "/v1/me/shifts", fiona_h, **{"from": "2026-01-14", "to": "2026-01-14", "tz": BUENOS_AIRES}
        )
        assert body["time_zone"] == BUENOS_AIRES
        [item] = body["items"]
        assert (wall(item["start"]), wall(item["end"])) == (
            ("2026-01-14 10:00", "-0300"),
            ("2026-01-14 19:00", "-0300"),
        )

    async def test_own_shifts_only_earliest_first_with_coworkers_first_names(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        me, my_h = await staff_login(client, runtime, w.tenant, "Yuki Tanaka")
        sofia = await add_staff(
            runtime, w.tenant, "Sofía Fernández", zone=BUENOS_AIRES, email="sofia@example.com"
        )
        kenji = await add_staff(runtime, w.tenant, "Kenji Sato")
        site = w.setup["site"]
        office = await add_shift(
            runtime,
            w.tenant,
            w.setup["contract"]["id"],
            jst(2026, 3, 3, 9),
            jst(2026, 3, 3, 18),
            mode="onsite",
            site_id=site["id"],
            headcount=2,
            status="draft",
        )
        night = await add_shift(runtime, w.tenant, w.night["id"], jst(2026, 3, 2, 22), jst(2026, 3, 3, 7))
        elsewhere = await add_shift(runtime, w.tenant, w.night["id"], jst(2026, 3, 4, 22), jst(2026, 3, 5, 7))
        later = await add_assignment(runtime, w.tenant, office, me)
        earlier = await add_assignment(runtime, w.tenant, night, me)
        await add_assignment(runtime, w.tenant, office, kenji)
        await add_assignment(runtime, w.tenant, night, sofia)
        await add_assignment(runtime, w.tenant, night, kenji)
        await add_assignment(runtime, w.tenant, elsewhere, sofia)

        body = await get_ok(client, "/v1/me/shifts", my_h, **{"from": "2026-03-01", "to": "2026-03-07"})
        assert body["staff_id"] == str(me)
        assert [item["assignment_id"] for item in body["items"]] == [str(earlier), str(later)]
        first, second = body["items"]
        assert first["coworkers"] == ["Kenji", "Sofía"]
        assert first["contract_name"] == "Night patrol"
        assert first["client_name"] == w.setup["client"]["name"]
        assert (first["mode"], first["site"], first["status"]) == ("remote", None, "published")
        assert second["coworkers"] == ["Kenji"]
        assert second["site"] == {"id": site["id"], "name": site["name"]}
        assert (second["mode"], second["status"]) == ("onsite", "draft")
        assert "sofia@example.com" not in str(body)
        assert (wall(first["start"]), wall(first["end"])) == (
            ("2026-03-02 22:00", "+0900"),
            ("2026-03-03 07:00", "+0900"),
        )
        # A window that the night shift only runs into still shows it.
        body = await get_ok(client, "/v1/me/shifts", my_h, **{"from": "2026-03-03", "to": "2026-03-03"})
        assert [item["assignment_id"] for item in body["items"]] == [str(earlier), str(later)]
        body = await get_ok(client, "/v1/me/shifts", my_h, **{"from": "2026-03-05", "to": "2026-03-31"})
        assert body["items"] == []

    async def test_default_period_starts_today(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        w = await world(client)
        me, my_h = await staff_login(client, runtime, w.tenant, "Aiko Mori")
        now = datetime.now(UTC)
        past = await add_shift(
            runtime, w.tenant, w.night["id"], now - timedelta(days=3), now - timedelta(days=3, hours=-8)
        )
        soon = await add_shift(
            runtime, w.tenant, w.night["id"], now + timedelta(days=2), now + timedelta(days=2, hours=8)
        )
        await add_assignment(runtime, w.tenant, past, me)
        upcoming = await add_assignment(runtime, w.tenant, soon, me)
        body = await get_ok(client, "/v1/me/shifts", my_h)
        assert [item["assignment_id"] for item in body["items"]] == [str(upcoming)]

    async def test_bad_input(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        w = await world(client)
        _, my_h = await staff_login(client, runtime, w.tenant, "Aiko Mori")
        body = assert_problem(
            await client.get("/v1/me/shifts", params={"tz": "Mars/Olympus"}, headers=my_h), 422
        )
        assert error_fields(body) == ["tz"]
        backwards = {"from": "2026-03-05", "to": "2026-03-01"}
        body = assert_problem(await client.get("/v1/me/shifts", params=backwards, headers=my_h), 422)
        assert error_fields(body) == ["to"]
        too_long = {"from": "2026-01-01", "to": "2026-12-31"}
        assert_problem(await client.get("/v1/me/shifts", params=too_long, headers=my_h), 422)
        # Past the first and last dates allowed: the day after would not fit in a datetime.
        for params, field in (
            ({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
            ({"from": "9999-12-31"}, "from"),
            ({"from": "2026-03-01", "to": "9999-12-31"}, "to"),
        ):
            body = assert_problem(await client.get("/v1/me/shifts", params=params, headers=my_h), 422)
            assert field in error_fields(body), body
        not_a_date = await client.get("/v1/me/shifts", params={"from": "soon"}, headers=my_h)
        assert_problem(not_a_date, not_a_date.status_code)
        assert not_a_date.status_code in (400, 422)

    async def test_not_accessible(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        w = await world(client)
        me, _ = await staff_login(client, runtime, w.tenant, "Yuki Tanaka")
        shift = await add_shift(runtime, w.tenant, w.night["id"], jst(2026, 3, 2, 22), jst(2026, 3, 3, 7))
        await add_assignment(runtime, w.tenant, shift, me)
        period = {"from": "2026-03-01", "to": "2026-03-07"}
        # Someone of another tenant sees only their own (none), a login without a profile has none at all.
        other = await create_tenant(client)
        _, stranger = await staff_login(client, runtime, other, "Yuki Tanaka")
        assert (await get_ok(client, "/v1/me/shifts", stranger, **period))["items"] == []
        _, unlinked = await create_user(client, w.tenant, role="staff")
        assert_problem(await client.get("/v1/me/shifts", params=period, headers=unlinked), 404)
        _, viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=w.setup["client"]["id"]
        )
        assert_problem(await client.get("/v1/me/shifts", params=period, headers=viewer), 403)
        assert_problem(await client.get("/v1/me/shifts", params=period), 401)


def parse_feed(response: httpx.Response) -> icalendar.Calendar:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content)


def feed_path(url: str) -> str:
    path = httpx.URL(url).path
    assert path.startswith("/v1/calendar/cal_"), url
    assert path.endswith(".ics"), url
    return path


class TestCalendarFeed:
    async def test_feed_matches_the_shifts_api(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        w = await world(client)
        me, my_h = await staff_login(client, runtime, w.tenant, "Fiona MacLeod", zone=LONDON)
        kenji = await add_staff(runtime, w.tenant, "Kenji Sato")
        now = datetime.now(UTC).replace(microsecond=0)
        night = await add_shift(
            runtime, w.tenant, w.night["id"], now + timedelta(days=1), now + timedelta(days=1, hours=9)
        )
        office = await add_shift(
            runtime,
            w.tenant,
            w.setup["contract"]["id"],
            now + timedelta(days=3),
            now + timedelta(days=3, hours=8),
            mode="onsite",
            site_id=w.setup["site"]["id"],
            status="draft",
        )
        await add_assignment(runtime, w.tenant, night, me)
        await add_assignment(runtime, w.tenant, office, me)
        await add_assignment(runtime, w.tenant, night, kenji)

        response = await client.post("/v1/me/calendar-feed", headers=my_h)
        assert response.status_code == 201, response.text
        feed = response.json()
        assert feed["staff_id"] == str(me)
        calendar = parse_feed(await client.get(feed_path(feed["url"])))
        assert str(calendar["PRODID"]) == "-//BPO Ops//Shifts//EN"
        assert str(calendar["VERSION"]) == "2.0"
        assert str(calendar["X-WR-CALNAME"]) == "Shifts: Fiona MacLeod"
        events = {str(event["UID"]): event for event in calendar.walk("VEVENT")}

        listing = await get_ok(client, "/v1/me/shifts", my_h)
        assert len(listing["items"]) == 2
        assert len(events) == 2
        for item in listing["items"]:
            event = events[f"{item['assignment_id']}@bpo-ops"]
            start, end = event.decoded("DTSTART"), event.decoded("DTEND")
            # On the person's own clock, with the zone named (and described in a VTIMEZONE).
            assert event["DTSTART"].params["TZID"] == LONDON
            assert event["DTEND"].params["TZID"] == LONDON
            assert start.utcoffset() == datetime.fromisoformat(item["start"]).utcoffset()
            assert start == datetime.fromisoformat(item["start"])
            assert end == datetime.fromisoformat(item["end"])
            assert item["contract_name"] in str(event["SUMMARY"])
            # In the person's language: here the tenant's default, Japanese.
            assert str(event["LOCATION"]) == (item["site"]["name"] if item["site"] else "リモート")
            assert str(event["STATUS"]) == ("CONFIRMED" if item["status"] == "published" else "TENTATIVE")
            assert "DTSTAMP" in event
            assert int(event["SEQUENCE"]) == 0
            description = str(event["DESCRIPTION"])
            assert item["contract_name"] in description
            # Co-workers by first name only.
            assert ("Kenji" in description) == (item["shift_id"] == str(night))
        assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == [LONDON]
        assert "Sato" not in response.text + (await client.get(feed_path(feed["url"]))).text
        # The same UIDs on every fetch.
        again = parse_feed(await client.get(feed_path(feed["url"])))
        assert {str(event["UID"]) for event in again.walk("VEVENT")} == set(events)

    async def test_changes_move_the_sequence_and_a_shift_taken_away_is_cancelled(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        me, my_h = await staff_login(client, runtime, w.tenant, "Fiona MacLeod", zone=LONDON)
        now = datetime.now(UTC).replace(microsecond=0)
        moved = await add_shift(
            runtime, w.tenant, w.night["id"], now + timedelta(days=2), now + timedelta(days=2, hours=8)
        )
        taken = await add_shift(
            runtime, w.tenant, w.night["id"], now + timedelta(days=4), now + timedelta(days=4, hours=8)
        )
        kept = await add_assignment(runtime, w.tenant, moved, me)
        gone = await add_assignment(runtime, w.tenant, taken, me)
        url = feed_path((await client.post("/v1/me/calendar-feed", headers=my_h)).json()["url"])

        def events(calendar: icalendar.Calendar) -> dict[str, Any]:
            return {str(event["UID"]): event for event in calendar.walk("VEVENT")}

        before = events(parse_feed(await client.get(url)))
        assert {int(e["SEQUENCE"]) for e in before.values()} == {0}

        later = now + timedelta(days=2, hours=1)
        response = await client.patch(
            f"/v1/shifts/{moved}",
            headers=w.tenant.admin,
            json={"start": later.isoformat(), "end": (later + timedelta(hours=8)).isoformat()},
        )
        assert response.status_code == 200, response.text
        response = await client.delete(f"/v1/assignments/{gone}", headers=w.tenant.admin)
        assert response.status_code == 204, response.text

        after = events(parse_feed(await client.get(url)))
        assert set(after) == set(before)
        changed = after[f"{kept}@bpo-ops"]
        assert int(changed["SEQUENCE"]) == 1
        assert changed.decoded("DTSTART") == later
        assert str(changed["STATUS"]) in {"CONFIRMED", "TENTATIVE"}
        cancelled = after[f"{gone}@bpo-ops"]
        assert str(cancelled["STATUS"]) == "CANCELLED"
        assert int(cancelled["SEQUENCE"]) == 1
        assert cancelled.decoded("DTSTART") == now + timedelta(days=4)

        # Put back on the same shift: the cancellation gives way to the new assignment.
        back = await client.post(
            f"/v1/shifts/{taken}/assignments", headers=w.tenant.admin, json={"staff_id": str(me)}
        )
        assert back.status_code == 201, back.text
        final = events(parse_feed(await client.get(url)))
        assert f"{gone}@bpo-ops" not in final
        assert str(final[f"{back.json()['id']}@bpo-ops"]["STATUS"]) != "CANCELLED"
        assert len(final) == 2

    async def test_rotate_and_revoke(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        w = await world(client)
        _, my_h = await staff_login(client, runtime, w.tenant, "Aiko Mori")
        first = (await client.post("/v1/me/calendar-feed", headers=my_h)).json()["url"]
        parse_feed(await client.get(feed_path(first)))
        rotated = await client.post("/v1/me/calendar-feed", headers=my_h)
        assert rotated.status_code == 201
        second = rotated.json()["url"]
        assert second != first
        assert_problem(await client.get(feed_path(first)), 404)
        parse_feed(await client.get(feed_path(second)))
        assert (await client.delete("/v1/me/calendar-feed", headers=my_h)).status_code == 204
        assert_problem(await client.get(feed_path(second)), 404)
        assert_problem(await client.delete("/v1/me/calendar-feed", headers=my_h), 404)

    async def test_unknown_and_forged_tokens(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        w = await world(client)
        _, my_h = await staff_login(client, runtime, w.tenant, "Aiko Mori")
        path = feed_path((await client.post("/v1/me/calendar-feed", headers=my_h)).json()["url"])
        token = path.removeprefix("/v1/calendar/").removesuffix(".ics")
        other = await create_tenant(client)
        forged = token.replace(w.tenant.id.hex, other.id.hex)
        for wrong in (
            f"/v1/calendar/{token}",
            f"/v1/calendar/{token[:-3]}xyz.ics",
            f"/v1/calendar/{forged}.ics",
            f"/v1/calendar/cal_{uuid.uuid4().hex}_{'a' * 43}.ics",
            "/v1/calendar/nonsense.ics",
        ):
            assert_problem(await client.get(wrong), 404)

    async def test_supervisor_manages_a_persons_feed(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        me, my_h = await staff_login(client, runtime, w.tenant, "Aiko Mori")
        _, supervisor = await create_user(client, w.tenant, role="supervisor")
        response = await client.post(f"/v1/staff/{me}/calendar-feed", headers=supervisor)
        assert response.status_code == 201, response.text
        url = response.json()["url"]
        parse_feed(await client.get(feed_path(url)))
        assert_problem(await client.post(f"/v1/staff/{me}/calendar-feed", headers=my_h), 403)
        other = await create_tenant(client)
        assert_problem(await client.post(f"/v1/staff/{me}/calendar-feed", headers=other.admin), 404)
        assert_problem(await client.delete(f"/v1/staff/{me}/calendar-feed", headers=other.admin), 404)
        assert_problem(await client.post(f"/v1/staff/{uuid.uuid4()}/calendar-feed", headers=supervisor), 404)
        _, viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=w.setup["client"]["id"]
        )
        assert_problem(await client.post("/v1/me/calendar-feed", headers=viewer), 403)
        assert (await client.delete(f"/v1/staff/{me}/calendar-feed", headers=supervisor)).status_code == 204
        assert_problem(await client.get(feed_path(url)), 404)


def upcoming_monday() -> datetime:
    """Midnight in Tokyo of a Monday at least a week ahead, so every shift of a test is still to come."""
    day = (datetime.now(TOKYO) + timedelta(days=7)).date()
    day += timedelta(days=-day.weekday() + 7)
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO)


class Swaps:
    """Two colleagues with logins, a bystander, a supervisor, and the night shifts of a week ahead."""

    w: World
    aiko: uuid.UUID
    aiko_h: dict[str, str]
    kenji: uuid.UUID
    kenji_h: dict[str, str]
    bystander_h: dict[str, str]
    supervisor: dict[str, str]
    monday: datetime


async def swaps_world(client: httpx.AsyncClient, runtime: Runtime) -> Swaps:
    s = Swaps()
    s.w = await world(client)
    s.aiko, s.aiko_h = await staff_login(client, runtime, s.w.tenant, "Aiko Mori")
    s.kenji, s.kenji_h = await staff_login(client, runtime, s.w.tenant, "Kenji Sato")
    _, s.bystander_h = await staff_login(client, runtime, s.w.tenant, "Hana Ito")
    _, s.supervisor = await create_user(client, s.w.tenant, role="supervisor")
    s.monday = upcoming_monday()
    return s


async def night_shift(runtime: Runtime, s: Swaps, day: int, **fields: Any) -> uuid.UUID:
    start = s.monday + timedelta(days=day, hours=22)
    return await add_shift(runtime, s.w.tenant, s.w.night["id"], start, start + timedelta(hours=9), **fields)


async def act(
    client: httpx.AsyncClient, swap_id: str, action: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"/v1/swap-requests/{swap_id}:{action}", headers=headers)


async def propose(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/me/swap-requests", json={k: str(v) for k, v in body.items()}, headers=headers
    )
    assert response.status_code == 201, response.text
    swap: dict[str, Any] = response.json()
    return swap


async def my_assignments(client: httpx.AsyncClient, s: Swaps, headers: dict[str, str]) -> set[str]:
    period = {"from": s.monday.date().isoformat(), "to": (s.monday + timedelta(days=13)).date().isoformat()}
    return {item["shift_id"] for item in (await get_ok(client, "/v1/me/shifts", headers, **period))["items"]}


class TestSwaps:
    async def test_give_away_accepted_and_approved(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        s = await swaps_world(client, runtime)
        tuesday = await night_shift(runtime, s, 1)
        given = await add_assignment(runtime, s.w.tenant, tuesday, s.aiko)
        swap = await propose(
            client, s.aiko_h, assignment_id=given, counterpart_staff_id=s.kenji, note="dentist"
        )
        assert swap["status"] == "requested"
        assert swap["shift"]["shift_id"] == str(tuesday)
        assert swap["counterpart_shift"] is None
        # The counterpart sees it, a bystander does not, and neither may decide it.
        assert [item["id"] for item in (await get_ok(client, "/v1/swap-requests", s.kenji_h))["items"]] == [
            swap["id"]
        ]
        assert (await get_ok(client, "/v1/swap-requests", s.bystander_h))["items"] == []
        assert_problem(await client.get(f"/v1/swap-requests/{swap['id']}", headers=s.bystander_h), 404)
        assert_problem(await act(client, swap["id"], "accept", s.bystander_h), 404)
        assert_problem(await act(client, swap["id"], "accept", s.aiko_h), 403)
        assert_problem(await act(client, swap["id"], "approve", s.supervisor), 409, "swap-status")
        assert_problem(await act(client, swap["id"], "approve", s.kenji_h), 403)

        accepted = await act(client, swap["id"], "accept", s.kenji_h)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"
        approved = await act(client, swap["id"], "approve", s.supervisor)
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["decided_by"] is not None
        assert await my_assignments(client, s, s.aiko_h) == set()
        assert await my_assignments(client, s, s.kenji_h) == {str(tuesday)}
        assert_problem(await act(client, swap["id"], "approve", s.supervisor), 409)

    async def test_trade(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        s = await swaps_world(client, runtime)
        tuesday, thursday = await night_shift(runtime, s, 1), await night_shift(runtime, s, 3)
        mine = await add_assignment(runtime, s.w.tenant, tuesday, s.aiko)
        theirs = await add_assignment(runtime, s.w.tenant, thursday, s.kenji)
        swap = await propose(
            client,
            s.aiko_h,
            assignment_id=mine,
            counterpart_staff_id=s.kenji,
            counterpart_assignment_id=theirs,
        )
        assert swap["counterpart_shift"]["shift_id"] == str(thursday)
        assert (await act(client, swap["id"], "accept", s.kenji_h)).status_code == 200
        assert (await act(client, swap["id"], "approve", s.supervisor)).status_code == 200
        assert await my_assignments(client, s, s.aiko_h) == {str(thursday)}
        assert await my_assignments(client, s, s.kenji_h) == {str(tuesday)}

    async def test_approval_rechecks_the_hard_rules(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        s = await swaps_world(client, runtime)
        tuesday = await night_shift(runtime, s, 1)
        given = await add_assignment(runtime, s.w.tenant, tuesday, s.aiko)
        swap = await propose(client, s.aiko_h, assignment_id=given, counterpart_staff_id=s.kenji)
        assert (await act(client, swap["id"], "accept", s.kenji_h)).status_code == 200
        # After accepting, Kenji is put on a shift that ends 3 hours before the one he would take.
        start = s.monday + timedelta(days=1, hours=10)
        busy = await add_shift(runtime, s.w.tenant, s.w.night["id"], start, start + timedelta(hours=9))
        await add_assignment(runtime, s.w.tenant, busy, s.kenji)
        body = assert_problem(
            await act(client, swap["id"], "approve", s.supervisor), 409, "swap-breaks-rules"
        )
        assert [v["code"] for v in body["violations"]] == ["min_rest"]
        assert body["violations"][0]["conflicting_shift_id"] == str(busy)
        assert await my_assignments(client, s, s.aiko_h) == {str(tuesday)}
        assert await my_assignments(client, s, s.kenji_h) == {str(busy)}
        assert (await get_ok(client, f"/v1/swap-requests/{swap['id']}", s.supervisor))["status"] == "accepted"
        rejected = await act(client, swap["id"], "reject", s.supervisor)
        assert rejected.json()["status"] == "rejected"

    async def test_a_skill_the_colleague_lacks(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        s = await swaps_world(client, runtime)
        chat = await night_shift(runtime, s, 2, skills=("chat",))
        given = await add_assignment(runtime, s.w.tenant, chat, s.aiko)
        swap = await propose(client, s.aiko_h, assignment_id=given, counterpart_staff_id=s.kenji)
        assert (await act(client, swap["id"], "accept", s.kenji_h)).status_code == 200
        body = assert_problem(await act(client, swap["id"], "approve", s.supervisor), 409)
        assert "skills" in {v["code"] for v in body["violations"]}
        assert await my_assignments(client, s, s.aiko_h) == {str(chat)}

    async def test_decline_and_cancel(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        s = await swaps_world(client, runtime)
        given = await add_assignment(runtime, s.w.tenant, await night_shift(runtime, s, 1), s.aiko)
        first = await propose(client, s.aiko_h, assignment_id=given, counterpart_staff_id=s.kenji)
        assert (await act(client, first["id"], "decline", s.kenji_h)).json()["status"] == "declined"
        assert_problem(await act(client, first["id"], "accept", s.kenji_h), 409)
        second = await propose(client, s.aiko_h, assignment_id=given, counterpart_staff_id=s.kenji)
        assert_problem(await act(client, second["id"], "cancel", s.kenji_h), 403)
        assert (await act(client, second["id"], "cancel", s.aiko_h)).json()["status"] == "cancelled"
        statuses = {
            i["id"]: i["status"] for i in (await get_ok(client, "/v1/swap-requests", s.supervisor))["items"]
        }
        assert statuses == {first["id"]: "declined", second["id"]: "cancelled"}

    async def test_bad_input(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        s = await swaps_world(client, runtime)
        mine = await add_assignment(runtime, s.w.tenant, await night_shift(runtime, s, 1), s.aiko)
        theirs = await add_assignment(runtime, s.w.tenant, await night_shift(runtime, s, 3), s.kenji)
        started = await add_shift(
            runtime,
            s.w.tenant,
            s.w.night["id"],
            datetime.now(UTC) - timedelta(hours=1),
            datetime.now(UTC) + timedelta(hours=5),
        )
        running = await add_assignment(runtime, s.w.tenant, started, s.aiko)
        cases = [
            ({"assignment_id": theirs, "counterpart_staff_id": s.kenji}, ["assignment_id"]),
            ({"assignment_id": running, "counterpart_staff_id": s.kenji}, ["assignment_id"]),
            ({"assignment_id": mine, "counterpart_staff_id": s.aiko}, ["counterpart_staff_id"]),
            ({"assignment_id": mine, "counterpart_staff_id": uuid.uuid4()}, ["counterpart_staff_id"]),
            (
                {"assignment_id": mine, "counterpart_staff_id": s.kenji, "counterpart_assignment_id": mine},
                ["counterpart_assignment_id"],
            ),
        ]
        for body, fields in cases:
            payload = {k: str(v) for k, v in body.items()}
            problem = assert_problem(
                await client.post("/v1/me/swap-requests", json=payload, headers=s.aiko_h), 422
            )
            assert error_fields(problem) == fields
        invalid: tuple[dict[str, object], ...] = (
            {"assignment_id": str(mine), "counterpart_staff_id": str(s.kenji), "urgent": True},
            {"assignment_id": "soon", "counterpart_staff_id": str(s.kenji)},
            {"counterpart_staff_id": str(s.kenji)},
        )
        for wrong in invalid:
            assert_problem(await client.post("/v1/me/swap-requests", json=wrong, headers=s.aiko_h), 422)
        swap = await propose(client, s.aiko_h, assignment_id=mine, counterpart_staff_id=s.kenji)
        again = await client.post(
            "/v1/me/swap-requests",
            json={"assignment_id": str(mine), "counterpart_staff_id": str(s.kenji)},
            headers=s.aiko_h,
        )
        assert_problem(again, 409, "swap-pending")
        assert_problem(await act(client, swap["id"], "frobnicate", s.kenji_h), 404)
        assert_problem(await client.post("/v1/swap-requests/not-an-id:accept", headers=s.kenji_h), 404)
        assert_problem(await client.get(f"/v1/swap-requests/{swap['id']}:accept", headers=s.kenji_h), 404)

    async def test_not_accessible(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        s = await swaps_world(client, runtime)
        given = await add_assignment(runtime, s.w.tenant, await night_shift(runtime, s, 1), s.aiko)
        swap = await propose(client, s.aiko_h, assignment_id=given, counterpart_staff_id=s.kenji)
        assert (await act(client, swap["id"], "accept", s.kenji_h)).status_code == 200
        other = await create_tenant(client)
        _, outsider = await staff_login(client, runtime, other, "Aiko Mori")
        for headers in (other.admin, outsider):
            assert_problem(await client.get(f"/v1/swap-requests/{swap['id']}", headers=headers), 404)
            assert_problem(await act(client, swap["id"], "approve", headers), 404)
        assert (await get_ok(client, "/v1/swap-requests", other.admin))["items"] == []
        body = {"assignment_id": str(given), "counterpart_staff_id": str(s.kenji)}
        assert_problem(await client.post("/v1/me/swap-requests", json=body, headers=outsider), 422)
        _, viewer = await create_user(
            client, s.w.tenant, role="client_viewer", client_id=s.w.setup["client"]["id"]
        )
        assert_problem(await client.get("/v1/swap-requests", headers=viewer), 403)
        assert_problem(await client.get(f"/v1/swap-requests/{swap['id']}", headers=viewer), 403)
        assert_problem(await client.post("/v1/me/swap-requests", json=body, headers=viewer), 403)
        assert await my_assignments(client, s, s.aiko_h) != set()
