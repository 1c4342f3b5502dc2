"""Supervisors' pages over HTTP with a real browser session: a contract's week (names, filled and open
places, why a place is open, and on shifts that have begun who clocked in, late or not, and who is
absent), planning and publishing it, and the queue of time off and swaps with its decisions, in Japanese
and English; staff, client viewers and other tenants reach none of it; 390 px screenshots of both pages."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.web.supervisor import open_reason
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import csrf_of, sign_in, sign_in_on_page
from tests.support.factories import create_tenant, create_user, get_ok, post_ok
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.staffing import add_assignment, add_punch, add_shift
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


def monday_of(moment: datetime) -> date:
    day = moment.astimezone(TOKYO).date()
    return day - timedelta(days=day.weekday())


def week_path(t: Team, moment: datetime) -> str:
    return f"/dashboard/roster?contract={t.night['id']}&week={monday_of(moment).isoformat()}"


def slot_text(page: httpx.Response, shift_id: uuid.UUID) -> str:
    """What a reader sees of one shift on the roster."""
    start = page.text.index(f'data-shift-id="{shift_id}"')
    ends = [page.text.find(marker, start + 1) for marker in ('data-shift-id="', "</section>")]
    fragment = page.text[start : min(end for end in ends if end != -1)]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment.split(">", 1)[1])))


@dataclass
class Begun:
    # Last week's Wednesday 09:00-18:00: Aiko came 12 minutes late, Fiona never came.
    ended: uuid.UUID
    ended_start: datetime
    # Started an hour ago: Kenji clocked in early, Fiona 20 minutes late, Ren not yet.
    under_way: uuid.UUID
    under_way_start: datetime
    kenji_in: datetime
    fiona_in: datetime


async def begun_shifts(client: httpx.AsyncClient, runtime: Runtime, t: Team) -> Begun:
    wednesday = datetime.combine(
        monday_of(datetime.now(TOKYO)) - timedelta(days=5), datetime.min.time(), TOKYO
    )
    ended_start = wednesday + timedelta(hours=9)
    ended = await add_shift(
        runtime, t.tenant, t.night["id"], ended_start, ended_start + timedelta(hours=9), headcount=2
    )
    for who in (t.aiko, t.fiona):
        await add_assignment(runtime, t.tenant, ended, who.staff_id)
    await add_punch(
        runtime, t.tenant, ended, t.aiko.staff_id, "clock_in", ended_start + timedelta(minutes=12)
    )
    await add_punch(runtime, t.tenant, ended, t.aiko.staff_id, "clock_out", ended_start + timedelta(hours=9))

    start = datetime.now(TOKYO).replace(second=0, microsecond=0) - timedelta(hours=1)
    under_way = await add_shift(
        runtime, t.tenant, t.night["id"], start, start + timedelta(hours=9), headcount=3
    )
    ren = await person(client, runtime, t.tenant, "Ren Kato")
    for who in (t.kenji, t.fiona, ren):
        await add_assignment(runtime, t.tenant, under_way, who.staff_id)
    kenji_in, fiona_in = start - timedelta(minutes=5), start + timedelta(minutes=20)
    await add_punch(runtime, t.tenant, under_way, t.kenji.staff_id, "clock_in", kenji_in)
    await add_punch(runtime, t.tenant, under_way, t.fiona.staff_id, "clock_in", fiona_in)
    return Begun(ended, ended_start, under_way, start, kenji_in, fiona_in)


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
        # Nothing has begun next week: nobody is counted as present, late or absent yet.
        assert 'data-figure="present"' not in page.text
        assert "data-present=" not in page.text
        assert 'class="roster-people"' not in page.text
        assert ("必要 2 人・配置 2 人" if language == "ja" else "2 needed, 2 on the roster") in text
        assert ("必要 1 人・配置 0 人" if language == "ja" else "1 needed, 0 on the roster") in text

    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_who_came_late_or_not_and_who_is_absent(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        t = await team(client, runtime)
        begun = await begun_shifts(client, runtime, t)
        await set_language(client, t.tenant.admin, language)
        await sign_in(browser, t.tenant.slug, t.tenant.admin_email)
        ja = language == "ja"

        last_week = await browser.get(week_path(t, begun.ended_start))
        this_week = await browser.get(week_path(t, begun.under_way_start))

        assert (last_week.status_code, this_week.status_code) == (200, 200), last_week.text
        ended = slot_text(last_week, begun.ended)
        assert ("2 人中 2 人 · 出勤 1 人" if ja else "2 of 2 · 1 present") in ended
        assert ("Aiko Tanaka 12分の遅刻" if ja else "Aiko Tanaka 12 min late") in ended
        assert ("Fiona MacLeod 欠勤" if ja else "Fiona MacLeod Absent") in ended
        # Over: nobody is "under way" or waiting to clock in any more.
        assert ("勤務中" if ja else "Under way") not in ended
        assert (
            "必要 2 人・配置 2 人・出勤 1 人" if ja else "2 needed, 2 on the roster, 1 present"
        ) in text_of(last_week)

        now = slot_text(this_week, begun.under_way)
        kenji, fiona = f"{begun.kenji_in:%H:%M}", f"{begun.fiona_in:%H:%M}"
        assert ("勤務中" if ja else "Under way") in now
        assert ("3 人中 3 人 · 出勤 2 人" if ja else "3 of 3 · 2 present") in now
        assert (f"Kenji Sato 出勤 {kenji}" if ja else f"Kenji Sato Clocked in {kenji}") in now
        assert (
            f"Fiona MacLeod 出勤 {fiona} 20分の遅刻"
            if ja
            else f"Fiona MacLeod Clocked in {fiona} 20 min late"
        ) in now
        assert ("Ren Kato まだ出勤の打刻がありません" if ja else "Ren Kato Not clocked in yet") in now
        # Kenji came early: nothing but his clock-in beside his name.
        assert (f"Kenji Sato 出勤 {kenji} Ren" if ja else f"Kenji Sato Clocked in {kenji} Ren") in now

        # The week's figures count only what has begun (both shifts fall in one week early on a Monday).
        same = monday_of(begun.ended_start) == monday_of(begun.under_way_start)
        assert (figure(last_week, "present"), figure(last_week, "late"), figure(last_week, "absent")) == (
            ("3", "2", "1") if same else ("1", "1", "1")
        )
        assert (figure(this_week, "present"), figure(this_week, "late"), figure(this_week, "absent")) == (
            ("3", "2", "1") if same else ("2", "1", "0")
        )

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
        begun = await begun_shifts(client, runtime, t)
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
            for name, path in (
                ("roster", roster_path(t, monday)),
                ("roster-now", week_path(t, begun.under_way_start)),
                ("roster-last-week", week_path(t, begun.ended_start)),
                ("approvals", "/dashboard/approvals"),
            ):
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
