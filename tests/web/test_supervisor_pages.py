"""Supervisors' pages over HTTP with a real browser session: a contract's week (names, filled and open
places, why a place is open), planning and publishing it, and the queue of time off and swaps with its
decisions, in Japanese and English; staff, client viewers and other tenants reach none of it; 390 px
screenshots of both pages."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.web.supervisor import open_reason
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import csrf_of, sign_in, sign_in_on_page
from tests.support.factories import create_tenant, create_user, get_ok, post_ok
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.staffing import add_assignment, add_shift
from tests.web.test_staff_pages import TOKYO, Team, next_monday_jst, person, team, text_of


def roster_path(t: Team, monday: datetime) -> str:
    return f"/dashboard/roster?contract={t.night['id']}&week={monday.date().isoformat()}"


def figure(page: httpx.Response, name: str) -> str:
    marker = f'data-figure="{name}">'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index("<", start)]


async def set_language(client: httpx.AsyncClient, headers: dict[str, str], language: str) -> None:
    response = await client.patch("/v1/me", json={"language": language}, headers=headers)
    assert response.status_code == 200, response.text


class TestRoster:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_the_week_with_names_and_open_places(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        monday = next_monday_jst()
        # A third night with nobody on it yet.
        empty = await add_shift(
            runtime,
            t.tenant,
            t.night["id"],
            monday + timedelta(days=4, hours=22),
            monday + timedelta(days=5, hours=7),
        )
        await set_language(client, t.tenant.admin, language)
        await sign_in(browser, t.tenant.slug, t.tenant.admin_email)
        page = await browser.get(roster_path(t, monday))
        assert page.status_code == 200, page.text
        text = text_of(page)
        # Two nights of two places, filled by Fiona and Aiko; the third night's place is open.
        assert (figure(page, "required"), figure(page, "scheduled"), figure(page, "open")) == ("5", "4", "1")
        assert figure(page, "drafts") == "1"
        assert "Aiko Tanaka, Fiona MacLeod" in text
        assert f'data-shift-id="{empty}"' in page.text
        assert ("1 件の空き" if language == "ja" else "1 place open") in text
        next_day = "\uff08翌日\uff09" if language == "ja" else "(next day)"
        assert f"22:00\N{EN DASH}07:00 {next_day}" in text
        assert ("週の名簿" if language == "ja" else "Roster") in text

    async def test_publish_and_plan_from_the_page(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        monday = next_monday_jst()
        await sign_in(browser, t.tenant.slug, t.tenant.admin_email)
        page = await browser.get(roster_path(t, monday))
        week = {"contract": t.night["id"], "week": monday.date().isoformat(), "csrf_token": csrf_of(page)}

        published = await browser.post("/dashboard/roster/publish", data=week)
        assert published.status_code == 303, published.text
        assert "done=published" in published.headers["location"]
        shift = await get_ok(client, f"/v1/shifts/{t.shifts[1]}", t.tenant.admin)
        assert shift["status"] == "published"
        again = await browser.post("/dashboard/roster/publish", data=week)
        assert "done=nothing-to-publish" in again.headers["location"]

        planned = await browser.post("/dashboard/roster/plan", data=week)
        assert planned.status_code == 303, planned.text
        runs = (await get_ok(client, "/v1/schedule-runs", t.tenant.admin))["items"]
        assert [(r["from"], r["to"], r["contract_ids"]) for r in runs] == [
            (monday.date().isoformat(), (monday + timedelta(days=6)).date().isoformat(), [t.night["id"]])
        ]
        follow = await browser.get(planned.headers["location"])
        assert f'data-run-status="{runs[0]["status"]}"' in follow.text

    async def test_bad_input_and_other_tenants(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        other = await create_tenant(client)
        await sign_in(browser, t.tenant.slug, t.tenant.admin_email)
        page = await browser.get("/dashboard/roster")
        assert page.status_code == 200
        for path in (
            "/dashboard/roster?contract=nonsense",
            f"/dashboard/roster?contract={uuid.uuid4()}",
            f"/dashboard/roster?contract={t.night['id']}&week=not-a-date",
            f"/dashboard/roster?contract={t.night['id']}&week=1999-01-04",
        ):
            assert (await browser.get(path)).status_code == 404, path
        token = csrf_of(page)
        other_contract = (await post_ok(client, "/v1/clients", {"code": "X", "name": "X"}, other.admin))["id"]
        for body in (
            {"contract": "nonsense", "week": "2026-01-05"},
            {"contract": str(uuid.uuid4()), "week": "2026-01-05"},
            {"contract": other_contract, "week": "2026-01-05"},
        ):
            response = await browser.post("/dashboard/roster/plan", data={**body, "csrf_token": token})
            assert response.status_code == 404, body
        assert (await get_ok(client, "/v1/schedule-runs", t.tenant.admin))["items"] == []
        # Without the form's token nothing is done.
        week = {"contract": t.night["id"], "week": next_monday_jst().date().isoformat()}
        refused = await browser.post("/dashboard/roster/publish", data=week)
        assert refused.status_code == 403
        assert (await get_ok(client, f"/v1/shifts/{t.shifts[1]}", t.tenant.admin))["status"] == "draft"


class TestApprovals:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_time_off_and_a_swap_decided_on_the_page(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        _, supervisor = await create_user(client, t.tenant, role="supervisor")
        supervisor_email = (await get_ok(client, "/v1/me", supervisor))["user"]["email"]
        await set_language(client, supervisor, language)
        later = (datetime.now(TOKYO) + timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
        asked = await post_ok(
            client,
            f"/v1/staff/{t.kenji.staff_id}/time-off",
            {"start": later.isoformat(), "end": (later + timedelta(days=1)).isoformat(), "reason": "通院"},
            t.kenji.headers,
        )
        swap = await post_ok(
            client,
            "/v1/me/swap-requests",
            {"assignment_id": str(t.assignments[0]), "counterpart_staff_id": str(t.kenji.staff_id)},
            t.fiona.headers,
        )
        accepted = await client.post(f"/v1/swap-requests/{swap['id']}:accept", headers=t.kenji.headers)
        assert accepted.status_code == 200, accepted.text

        await sign_in(browser, t.tenant.slug, supervisor_email)
        page = await browser.get("/dashboard/approvals")
        assert page.status_code == 200, page.text
        text = text_of(page)
        assert "Kenji Sato" in text
        assert "通院" in text
        assert ("Fiona MacLeod さんが Kenji Sato さんにシフトを渡します" if language == "ja" else
                "Fiona MacLeod gives a shift to Kenji Sato") in text  # fmt: skip
        token = csrf_of(page)

        decided = await browser.post(
            f"/dashboard/approvals/time-off/{asked['id']}/approve", data={"csrf_token": token}
        )
        assert (decided.status_code, decided.headers["location"]) == (
            303,
            "/dashboard/approvals?done=time-off-approved",
        )
        assert (await get_ok(client, f"/v1/time-off/{asked['id']}", supervisor))["status"] == "approved"
        swapped = await browser.post(
            f"/dashboard/approvals/swaps/{swap['id']}/approve", data={"csrf_token": token}
        )
        assert swapped.status_code == 303, swapped.text
        assert (await get_ok(client, f"/v1/swap-requests/{swap['id']}", supervisor))["status"] == "approved"
        empty = text_of(await browser.get("/dashboard/approvals?done=swap-approved"))
        assert ("承認待ちの休暇はありません" if language == "ja" else "No time off is waiting") in empty

    async def test_a_clash_is_refused_in_plain_words(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        monday = next_monday_jst()
        # Aiko asks for the Monday she works.
        asked = await post_ok(
            client,
            f"/v1/staff/{t.aiko.staff_id}/time-off",
            {"start": monday.isoformat(), "end": (monday + timedelta(days=1)).isoformat()},
            t.aiko.headers,
        )
        await sign_in(browser, t.tenant.slug, t.tenant.admin_email)
        page = await browser.get("/dashboard/approvals")
        refused = await browser.post(
            f"/dashboard/approvals/time-off/{asked['id']}/approve", data={"csrf_token": csrf_of(page)}
        )
        assert refused.status_code == 409
        # In the reader's words (here the tenant's default, Japanese): Aiko has time off then.
        assert "次の理由で実行できませんでした: その時間は休暇です" in text_of(refused)
        assert (await get_ok(client, f"/v1/time-off/{asked['id']}", t.tenant.admin))["status"] == "requested"

    async def test_staff_viewers_and_other_tenants_reach_nothing(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        t = await team(client, runtime)
        asked = await post_ok(
            client,
            f"/v1/staff/{t.kenji.staff_id}/time-off",
            {
                "start": (next_monday_jst(5)).isoformat(),
                "end": (next_monday_jst(5) + timedelta(days=1)).isoformat(),
            },
            t.kenji.headers,
        )
        await sign_in(browser, t.tenant.slug, t.kenji.email)
        page = await browser.get("/dashboard/me/shifts")
        token = csrf_of(page)
        for path in ("/dashboard/roster", "/dashboard/approvals"):
            assert (await browser.get(path)).status_code == 403, path
        decided = await browser.post(
            f"/dashboard/approvals/time-off/{asked['id']}/approve", data={"csrf_token": token}
        )
        assert decided.status_code == 403
        assert (await get_ok(client, f"/v1/time-off/{asked['id']}", t.tenant.admin))["status"] == "requested"

        other = await create_tenant(client)
        browser.cookies.clear()
        await sign_in(browser, other.slug, other.admin_email)
        page = await browser.get("/dashboard/approvals")
        assert page.status_code == 200
        assert "Kenji" not in page.text
        token = csrf_of(page)
        for path in (
            f"/dashboard/approvals/time-off/{asked['id']}/approve",
            f"/dashboard/approvals/swaps/{uuid.uuid4()}/approve",
            f"/dashboard/approvals/time-off/{asked['id']}/explode",
            "/dashboard/approvals/bogus/x/approve",
        ):
            assert (await browser.post(path, data={"csrf_token": token})).status_code == 404, path
        assert (await browser.get(roster_path(t, next_monday_jst()))).status_code == 404
        assert (await get_ok(client, f"/v1/time-off/{asked['id']}", t.tenant.admin))["status"] == "requested"


class TestScreenshots:
    @pytest.mark.parametrize("language", ["ja", "en"])
    async def test_roster_and_approvals_at_phone_width(
        self, client: httpx.AsyncClient, runtime: Runtime, server: ServerThread, language: str
    ) -> None:
        binary = chromium_binary()
        t = await team(client, runtime)
        monday = next_monday_jst()
        await add_shift(
            runtime,
            t.tenant,
            t.night["id"],
            monday + timedelta(days=4, hours=22),
            monday + timedelta(days=5, hours=7),
        )
        extra = await person(client, runtime, t.tenant, "Sakura Ito")
        shift = await add_shift(
            runtime,
            t.tenant,
            t.night["id"],
            monday + timedelta(days=5, hours=9),
            monday + timedelta(days=5, hours=18),
        )
        await add_assignment(runtime, t.tenant, shift, extra.staff_id)
        later = (datetime.now(TOKYO) + timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
        await post_ok(
            client,
            f"/v1/staff/{t.kenji.staff_id}/time-off",
            {
                "start": later.isoformat(),
                "end": (later + timedelta(days=2)).isoformat(),
                "reason": "家族の用事",
            },
            t.kenji.headers,
        )
        await set_language(client, t.tenant.admin, language)
        async with Chromium(binary) as chromium:
            tab = await chromium.page()
            await tab.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(tab, server.url, t.tenant.slug, t.tenant.admin_email)
            for name, path in (("roster", roster_path(t, monday)), ("approvals", "/dashboard/approvals")):
                await tab.goto(f"{server.url}{path}")
                width = await tab.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"{name} scrolls sideways at 390 px: {width}"
                await tab.screenshot(ARTIFACTS / f"supervisor-{name}-{language}-390.png")
                assert tab.console_errors() == []


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("no staff with skill patrol", "nobody has what the shift needs"),
        ("no staff available: of 4, 3 outside their availability, 1 on time off", "outside their hours"),
        ("only 2 staff available, all on it", "already on it"),
        ("1 eligible staff are still free; the search stopped before using them", "fill open places again"),
        ("all 6 eligible staff not on it are busy (2 overlap, 6 weekly_hours)", "at their weekly hours"),
    ],
)
def test_the_planners_reasons_in_words(reason: str, words: str) -> None:
    assert words in open_reason(reason)
