"""A staff member's own pages over HTTP with a real browser session: shifts (list, month, calendar link),
time off, swaps and availability, in Japanese and English; bad forms write nothing; nobody reaches
another person's or another tenant's data; and 390 px screenshots of My shifts and Swaps."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.staffing import roster
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import csrf_of, sign_in, sign_in_on_page
from tests.support.factories import (
    PASSWORD,
    TenantHandle,
    create_tenant,
    get_ok,
    headers_for,
    login,
    onboard,
    post_ok,
)
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.staffing import add_assignment, add_shift, add_staff, remote_contract

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = "Europe/London"


@dataclass
class Person:
    staff_id: uuid.UUID
    email: str
    headers: dict[str, str]


async def person(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, name: str, **fields: Any
) -> Person:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    user = await post_ok(
        client, "/v1/users", {"email": email, "role": "staff", "password": PASSWORD}, tenant.admin
    )
    staff_id = await add_staff(runtime, tenant, name, user_id=user["id"], **fields)
    response = await client.patch(
        f"/v1/users/{user['id']}", json={"staff_id": str(staff_id)}, headers=tenant.admin
    )
    assert response.status_code == 200, response.text
    tokens = await login(client, tenant.slug, email)
    return Person(staff_id, email, headers_for(tokens["access_token"]))


async def set_language(client: httpx.AsyncClient, who: Person, language: str) -> None:
    response = await client.patch("/v1/me", json={"language": language}, headers=who.headers)
    assert response.status_code == 200, response.text


@dataclass
class Team:
    tenant: TenantHandle
    setup: dict[str, Any]
    night: dict[str, Any]
    fiona: Person
    aiko: Person
    kenji: Person
    shifts: list[uuid.UUID]
    assignments: list[uuid.UUID]


def next_monday_jst(weeks: int = 1) -> datetime:
    today = datetime.now(TOKYO).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
    return datetime(monday.year, monday.month, monday.day, tzinfo=TOKYO)


async def team(client: httpx.AsyncClient, runtime: Runtime) -> Team:
    """Fiona in London and Aiko in Tokyo work the Tokyo night patrol next week; Kenji is a colleague."""
    tenant = await create_tenant(client)
    setup = await onboard(client, tenant)
    night = await remote_contract(client, tenant, setup, name="Night patrol")
    fiona = await person(client, runtime, tenant, "Fiona MacLeod", zone=LONDON, country="GB")
    aiko = await person(client, runtime, tenant, "Aiko Tanaka")
    kenji = await person(client, runtime, tenant, "Kenji Sato")
    monday = next_monday_jst()
    shifts, assignments = [], []
    for day, status in ((0, "published"), (2, "draft")):
        start = monday + timedelta(days=day, hours=22)
        shift = await add_shift(
            runtime, tenant, night["id"], start, start + timedelta(hours=9), headcount=2, status=status
        )
        shifts.append(shift)
        assignments.append(await add_assignment(runtime, tenant, shift, fiona.staff_id))
        await add_assignment(runtime, tenant, shift, aiko.staff_id)
    return Team(tenant, setup, night, fiona, aiko, kenji, shifts, assignments)


def text_of(response: httpx.Response) -> str:
    """What a reader sees: the page without its markup."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.text)))


class TestMyShifts:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_a_staff_member_lands_on_their_shifts_on_their_own_clock(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.fiona, language)
        signed_in = await sign_in(browser, t.tenant.slug, t.fiona.email)
        assert signed_in.status_code == 303
        home = await browser.get("/dashboard")
        assert (home.status_code, home.headers["location"]) == (303, "/dashboard/me/shifts")

        response = await browser.get("/dashboard/me/shifts")

        assert response.status_code == 200, response.text
        page = text_of(response)
        # 22:00-07:00 in Tokyo is 13:00-22:00 in London (winter) or 14:00-23:00 (summer).
        monday = next_monday_jst()
        london = (monday + timedelta(hours=22)).astimezone(ZoneInfo(LONDON))
        assert f"{london:%H:%M}\N{EN DASH}{(london + timedelta(hours=9)):%H:%M}" in page
        assert "22:00\N{EN DASH}07:00" in page  # the client's clock beside it
        assert "Night patrol" in page
        assert "Aiko" in page
        assert "Tanaka" not in page
        assert response.text.count('data-shift-id="') == 2
        if language == "ja":
            assert "マイシフト" in page
            assert "確定" in page
            assert "未確定" in page
            assert "東京" in page
        else:
            assert "My shifts" in page
            assert "Published" in page
            assert "Not final yet" in page
            assert "Tokyo" in page
        assert f'<html lang="{language}">' in response.text

    async def test_a_change_after_publication_is_marked(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.kenji, "en")
        # Kenji joins the published shift after it was published.
        async with runtime.db.tenant(t.tenant.id) as session:
            from bpo.staffing import models

            shift = await session.get_one(models.Shift, (t.tenant.id, t.shifts[0]))
            shift.published_at = datetime.now(UTC) - timedelta(hours=1)
        await add_assignment(runtime, t.tenant, t.shifts[0], t.kenji.staff_id)
        await sign_in(browser, t.tenant.slug, t.kenji.email)
        page = text_of(await browser.get("/dashboard/me/shifts"))
        assert "Changed" in page
        assert "With Aiko, Fiona" in page

    async def test_the_month_calendar_and_the_calendar_link(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.aiko, "en")
        await sign_in(browser, t.tenant.slug, t.aiko.email)
        month = next_monday_jst().strftime("%Y-%m")
        calendar = await browser.get("/dashboard/me/calendar", params={"month": month})
        assert calendar.status_code == 200, calendar.text
        assert calendar.text.count('class="slot') >= 1
        assert (await browser.get("/dashboard/me/calendar", params={"month": "nonsense"})).status_code == 404

        page = await browser.get("/dashboard/me/shifts")
        created = await browser.post("/dashboard/me/calendar-feed", data={"csrf_token": csrf_of(page)})
        assert created.status_code == 200, created.text
        url = re.search(r'id="feed-url" class="copy" value="([^"]+)"', created.text)
        assert url, created.text
        feed = await client.get(httpx.URL(url[1]).raw_path.decode())
        assert feed.status_code == 200
        assert b"Night patrol" in feed.content
        assert "Stop my link working" in text_of(created)

        revoked = await browser.post(
            "/dashboard/me/calendar-feed/revoke", data={"csrf_token": csrf_of(created)}
        )
        assert (revoked.status_code, revoked.headers["location"]) == (
            303,
            "/dashboard/me/shifts?done=feed-revoked",
        )
        assert (await client.get(httpx.URL(url[1]).raw_path.decode())).status_code == 404
        # A form without its token changes nothing.
        refused = await browser.post("/dashboard/me/calendar-feed", data={"csrf_token": "0" * 64})
        assert refused.status_code == 403

    async def test_client_viewers_and_operators_without_a_profile_have_no_staff_pages(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        await sign_in(browser, tenant.slug, tenant.admin_email)
        assert (await browser.get("/dashboard/me/shifts")).status_code == 404


class TestTimeOff:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_ask_see_and_withdraw(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.aiko, language)
        await sign_in(browser, t.tenant.slug, t.aiko.email)
        form = await browser.get("/dashboard/me/time-off")
        assert form.status_code == 200
        first = (datetime.now(TOKYO) + timedelta(days=30)).date()

        bad = await browser.post(
            "/dashboard/me/time-off",
            data={
                "csrf_token": csrf_of(form),
                "first_day": first.isoformat(),
                "last_day": (first - timedelta(days=2)).isoformat(),
            },
        )
        assert bad.status_code == 422
        assert (
            "最終日は初日以降" if language == "ja" else "The last day cannot be before the first"
        ) in text_of(bad)
        assert (await get_ok(client, "/v1/time-off", t.aiko.headers))["items"] == []

        sent = await browser.post(
            "/dashboard/me/time-off",
            data={
                "csrf_token": csrf_of(form),
                "first_day": first.isoformat(),
                "last_day": (first + timedelta(days=1)).isoformat(),
                "reason": "Family",
            },
        )
        assert (sent.status_code, sent.headers["location"]) == (
            303,
            "/dashboard/me/time-off?done=time-off-requested",
        )
        [item] = (await get_ok(client, "/v1/time-off", t.aiko.headers))["items"]
        assert datetime.fromisoformat(item["start"]) == datetime(
            first.year, first.month, first.day, tzinfo=TOKYO
        )
        assert datetime.fromisoformat(item["end"]) - datetime.fromisoformat(item["start"]) == timedelta(
            days=2
        )
        page = text_of(await browser.get("/dashboard/me/time-off"))
        assert ("決定待ち" if language == "ja" else "Waiting for a decision") in page

        withdrawn = await browser.post(
            f"/dashboard/me/time-off/{item['id']}/cancel", data={"csrf_token": csrf_of(form)}
        )
        assert withdrawn.status_code == 303
        assert (await get_ok(client, f"/v1/time-off/{item['id']}", t.aiko.headers))["status"] == "cancelled"

    async def test_nobody_withdraws_someone_elses_request(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        other = await team(client, runtime)
        start = datetime.now(UTC) + timedelta(days=40)
        body = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
        aikos = await post_ok(client, f"/v1/staff/{t.aiko.staff_id}/time-off", body, t.aiko.headers)
        elsewhere = await post_ok(
            client, f"/v1/staff/{other.aiko.staff_id}/time-off", body, other.aiko.headers
        )
        await sign_in(browser, t.tenant.slug, t.kenji.email)
        page = await browser.get("/dashboard/me/time-off")
        assert aikos["id"] not in page.text
        for time_off_id in (aikos["id"], elsewhere["id"], str(uuid.uuid4())):
            refused = await browser.post(
                f"/dashboard/me/time-off/{time_off_id}/cancel", data={"csrf_token": csrf_of(page)}
            )
            assert refused.status_code == 404
        assert (await get_ok(client, f"/v1/time-off/{aikos['id']}", t.aiko.headers))["status"] == "requested"
        assert (await get_ok(client, f"/v1/time-off/{elsewhere['id']}", other.aiko.headers))[
            "status"
        ] == "requested"

    @pytest.mark.parametrize(("language", "browser_language"), [("en", "ja"), ("ja", "en")])
    async def test_a_refusal_is_in_the_readers_language_not_the_browsers(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        language: str,
        browser_language: str,
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.aiko, language)
        start = datetime.now(UTC) + timedelta(days=40)
        body = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
        asked = await post_ok(client, f"/v1/staff/{t.aiko.staff_id}/time-off", body, t.aiko.headers)
        await post_ok(client, f"/v1/time-off/{asked['id']}:approve", {}, t.tenant.admin)
        await sign_in(browser, t.tenant.slug, t.aiko.email)
        # The browser asks for the other language, with the page's switch and its own header.
        browser.cookies.set("bpo_lang", browser_language)
        browser.headers["accept-language"] = browser_language
        page = await browser.get("/dashboard/me/time-off")

        # Approved time off is the supervisor's to cancel: withdrawing it now is refused.
        refused = await browser.post(
            f"/dashboard/me/time-off/{asked['id']}/cancel", data={"csrf_token": csrf_of(page)}
        )

        assert refused.status_code == 409
        english = "This could not be done as things stand now"
        japanese = "現在の状態ではこの操作はできません"
        words = text_of(refused)
        assert (english if language == "en" else japanese) in words
        assert (japanese if language == "en" else english) not in words
        assert (await get_ok(client, f"/v1/time-off/{asked['id']}", t.aiko.headers))["status"] == "approved"


class TestSwaps:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_offer_accept_and_the_rules_in_plain_words(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.kenji, language)
        await sign_in(browser, t.tenant.slug, t.fiona.email)
        page = await browser.get("/dashboard/me/swaps")
        assert page.status_code == 200
        assert "Kenji Sato" in page.text

        bad = await browser.post(
            "/dashboard/me/swaps",
            data={
                "csrf_token": csrf_of(page),
                "assignment_id": "",
                "counterpart_staff_id": str(t.kenji.staff_id),
            },
        )
        assert bad.status_code == 422
        foreign = await browser.post(
            "/dashboard/me/swaps",
            data={
                "csrf_token": csrf_of(page),
                "assignment_id": str(uuid.uuid4()),
                "counterpart_staff_id": str(t.kenji.staff_id),
            },
        )
        assert foreign.status_code == 422
        assert (await get_ok(client, "/v1/swap-requests", t.fiona.headers))["items"] == []

        offered = await browser.post(
            "/dashboard/me/swaps",
            data={
                "csrf_token": csrf_of(page),
                "assignment_id": str(t.assignments[0]),
                "counterpart_staff_id": str(t.kenji.staff_id),
                "note": "Family dinner",
            },
        )
        assert offered.status_code == 303, offered.text
        [swap] = (await get_ok(client, "/v1/swap-requests", t.fiona.headers))["items"]

        # Kenji is on time off that night: the page says so in words.
        night = next_monday_jst() + timedelta(hours=20)
        body = {"start": night.isoformat(), "end": (night + timedelta(hours=14)).isoformat()}
        time_off = await post_ok(client, f"/v1/staff/{t.kenji.staff_id}/time-off", body, t.tenant.admin)
        response = await client.post(f"/v1/time-off/{time_off['id']}:approve", headers=t.tenant.admin)
        assert response.status_code == 200, response.text
        kenji = httpx.AsyncClient(base_url=str(browser.base_url), timeout=30)
        async with kenji:
            await sign_in(kenji, t.tenant.slug, t.kenji.email)
            offers = await kenji.get("/dashboard/me/swaps")
            text = text_of(offers)
            assert "Family dinner" in text
            if language == "ja":
                assert "あなた\N{FULLWIDTH COLON}その時間は休暇です" in text
                assert "Fiona さんからの申し出" in text
            else:
                assert "You: time off at that time" in text
                assert "Fiona offers you" in text
            assert "time_off" not in text
            accepted = await kenji.post(
                f"/dashboard/me/swaps/{swap['id']}/accept", data={"csrf_token": csrf_of(offers)}
            )
            assert accepted.status_code == 303
        assert (await get_ok(client, f"/v1/swap-requests/{swap['id']}", t.fiona.headers))[
            "status"
        ] == "accepted"

    async def test_nobody_acts_on_someone_elses_swap(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        other = await team(client, runtime)
        swap = await post_ok(
            client,
            "/v1/me/swap-requests",
            {"assignment_id": str(t.assignments[0]), "counterpart_staff_id": str(t.kenji.staff_id)},
            t.fiona.headers,
        )
        theirs = await post_ok(
            client,
            "/v1/me/swap-requests",
            {"assignment_id": str(other.assignments[0]), "counterpart_staff_id": str(other.kenji.staff_id)},
            other.fiona.headers,
        )
        await sign_in(browser, t.tenant.slug, t.aiko.email)
        page = await browser.get("/dashboard/me/swaps")
        assert swap["id"] not in page.text
        for swap_id in (swap["id"], theirs["id"], str(uuid.uuid4())):
            for action in ("accept", "cancel"):
                refused = await browser.post(
                    f"/dashboard/me/swaps/{swap_id}/{action}", data={"csrf_token": csrf_of(page)}
                )
                assert refused.status_code == 404, (swap_id, action)
        assert (await get_ok(client, f"/v1/swap-requests/{swap['id']}", t.fiona.headers))[
            "status"
        ] == "requested"
        assert (await get_ok(client, f"/v1/swap-requests/{theirs['id']}", other.fiona.headers))[
            "status"
        ] == "requested"


class TestAvailability:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_save_windows_on_the_page(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        await set_language(client, t.aiko, language)
        await sign_in(browser, t.tenant.slug, t.aiko.email)
        page = await browser.get("/dashboard/me/availability")
        assert page.status_code == 200
        assert "patrol" in page.text
        assert ("レベル 3\N{FULLWIDTH SOLIDUS}5" if language == "ja" else "level 3 of 5") in text_of(page)

        bad = await browser.post(
            "/dashboard/me/availability",
            data={
                "csrf_token": csrf_of(page),
                "a_mon_start": "09:00",
                "a_mon_end": "",
                "p_tue_start": "25:00",
                "p_tue_end": "10:00",
            },
        )
        assert bad.status_code == 422
        assert bad.text.count('aria-invalid="true"') >= 2
        before = await get_ok(client, "/v1/me/availability", t.aiko.headers)
        assert (before["availability"], before["preferred_times"]) == (None, None)

        saved = await browser.post(
            "/dashboard/me/availability",
            data={
                "csrf_token": csrf_of(page),
                "a_mon_start": "09:00", "a_mon_end": "18:00",
                "a_fri_start": "22:00", "a_fri_end": "07:00",
                "p_mon_start": "10:00", "p_mon_end": "16:00",
            },
        )  # fmt: skip
        assert saved.status_code == 303, saved.text
        after = await get_ok(client, "/v1/me/availability", t.aiko.headers)
        assert after["availability"] == [
            {"days": ["mon"], "start": "09:00", "end": "18:00"},
            {"days": ["fri"], "start": "22:00", "end": "31:00"},
        ]
        assert after["preferred_times"] == [{"days": ["mon"], "start": "10:00", "end": "16:00"}]
        shown = await browser.get("/dashboard/me/availability")
        assert 'name="a_fri_end" value="07:00"' in shown.text


class TestAvailabilityApi:
    async def test_get_and_put_with_bounds(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        t = await team(client, runtime)
        window = {"days": ["weekdays"], "start": "09:00", "end": "17:00"}
        response = await client.put(
            "/v1/me/availability",
            json={"availability": [window], "preferred_times": []},
            headers=t.aiko.headers,
        )
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["preferred_times"]
        too_many = await client.put(
            "/v1/me/availability",
            json={"availability": [window] * 101, "preferred_times": None},
            headers=t.aiko.headers,
        )
        assert too_many.status_code == 422
        backwards = await client.put(
            "/v1/me/availability",
            json={
                "availability": None,
                "preferred_times": [{"days": ["mon"], "start": "18:00", "end": "09:00"}],
            },
            headers=t.aiko.headers,
        )
        assert [e["field"] for e in backwards.json()["errors"]] == ["preferred_times[0].end"]
        assert (await get_ok(client, "/v1/me/availability", t.aiko.headers))["preferred_times"] is None

        ok = await client.put(
            "/v1/me/availability",
            json={"availability": None, "preferred_times": [window]},
            headers=t.aiko.headers,
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["preferred_times"] == [window]
        assert ok.json()["time_zone"] == "Asia/Tokyo"
        # Only one's own: Kenji's stays empty, and an admin without a profile has none.
        assert (await get_ok(client, "/v1/me/availability", t.kenji.headers))["preferred_times"] is None
        assert (await client.get("/v1/me/availability", headers=t.tenant.admin)).status_code == 404

    async def test_the_scheduler_reads_the_preferred_times(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        window = {"days": ["mon"], "start": "22:00", "end": "31:00"}
        ok = await client.put(
            "/v1/me/availability",
            json={"availability": None, "preferred_times": [window]},
            headers=t.aiko.headers,
        )
        assert ok.status_code == 200, ok.text
        monday = next_monday_jst()
        async with runtime.db.tenant(t.tenant.id) as session:
            loaded = await roster.load_roster(
                session, system_scope(t.tenant.id), monday, monday + timedelta(days=7)
            )
        people = {member.id: member for member in loaded.staff}
        aiko, kenji = people[t.aiko.staff_id], people[t.kenji.staff_id]
        assert [(w.weekday, w.start, w.end) for w in aiko.preferred] == [(0, 22 * 60, 31 * 60)]
        assert kenji.preferred == ()


class TestScreenshots:
    async def test_my_shifts_and_swaps_at_phone_width(
        self, client: httpx.AsyncClient, runtime: Runtime, server: ServerThread
    ) -> None:
        binary = chromium_binary()
        t = await team(client, runtime)
        await set_language(client, t.fiona, "ja")
        await post_ok(
            client,
            "/v1/me/swap-requests",
            {
                "assignment_id": str(t.assignments[0]),
                "counterpart_staff_id": str(t.kenji.staff_id),
                "note": "家族の用事",
            },
            t.fiona.headers,
        )
        async with Chromium(binary) as chromium:
            tab = await chromium.page()
            await tab.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(tab, server.url, t.tenant.slug, t.fiona.email)
            for name in ("shifts", "swaps"):
                await tab.goto(f"{server.url}/dashboard/me/{name}")
                width = await tab.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"{name} scrolls sideways at 390 px: {width}"
                await tab.screenshot(ARTIFACTS / f"staff-{name}-390.png")
                assert tab.console_errors() == []
