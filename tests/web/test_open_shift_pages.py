"""A staff member's open shifts and clock-in on their own pages, in Japanese and English: claiming an open
shift and withdrawing the claim, a claim refused in plain words, clocking in and out on My shifts (and
when not), nobody acting on another person's or tenant's shifts and claims; 390 px screenshots."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bpo.core.runtime import Runtime
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import csrf_of, sign_in, sign_in_on_page
from tests.support.factories import TenantHandle, create_tenant, get_ok, onboard, post_ok
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.staffing import add_assignment, add_shift, remote_contract, staff_login
from tests.web.test_staff_pages import text_of


@dataclass
class Member:
    staff_id: uuid.UUID
    email: str
    headers: dict[str, str]


@dataclass
class Office:
    tenant: TenantHandle
    setup: dict[str, Any]
    night: dict[str, Any]
    hana: Member
    kenji: Member


async def member(client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, name: str) -> Member:
    staff_id, headers = await staff_login(client, runtime, tenant, name)
    me = await get_ok(client, "/v1/me", headers)
    return Member(staff_id, me["user"]["email"], headers)


async def office(client: httpx.AsyncClient, runtime: Runtime, language: str = "en") -> Office:
    tenant = await create_tenant(client)
    setup = await onboard(client, tenant)
    night = await remote_contract(client, tenant, setup, name="Night patrol")
    hana = await member(client, runtime, tenant, "Hana Suzuki")
    kenji = await member(client, runtime, tenant, "Kenji Sato")
    for who in (hana, kenji):
        response = await client.patch("/v1/me", json={"language": language}, headers=who.headers)
        assert response.status_code == 200, response.text
    return Office(tenant, setup, night, hana, kenji)


def hours_from_now(hours: float) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=hours)


async def open_shift(runtime: Runtime, o: Office, in_hours: float = 72) -> uuid.UUID:
    start = hours_from_now(in_hours)
    return await add_shift(runtime, o.tenant, o.night["id"], start, start + timedelta(hours=8))


class TestOpenShiftsPage:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_claim_and_withdraw(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        o = await office(client, runtime, language)
        shift = await open_shift(runtime, o)
        await sign_in(browser, o.tenant.slug, o.hana.email)

        page = await browser.get("/dashboard/me/open-shifts")

        assert page.status_code == 200, page.text
        assert f'data-open-shift-id="{shift}"' in page.text
        text = text_of(page)
        assert "Night patrol" in text
        assert ("このシフトに応募する" if language == "ja" else "Claim this shift") in text
        assert ("募集中のシフト" if language == "ja" else "Open shifts") in text
        assert f'<html lang="{language}">' in page.text

        claimed = await browser.post(
            f"/dashboard/me/open-shifts/{shift}/claim", data={"csrf_token": csrf_of(page)}
        )

        assert (claimed.status_code, claimed.headers["location"]) == (
            303,
            "/dashboard/me/open-shifts?done=claim-sent",
        )
        [claim] = (await get_ok(client, "/v1/open-shift-claims", o.hana.headers))["items"]
        assert claim["status"] == "pending"
        after = text_of(await browser.get("/dashboard/me/open-shifts?done=claim-sent"))
        assert ("スーパーバイザーの承認待ち" if language == "ja" else "Waiting for a supervisor") in after
        assert ("応募しました" if language == "ja" else "Your claim is sent") in after

        withdrawn = await browser.post(
            f"/dashboard/me/open-shifts/claims/{claim['id']}/cancel", data={"csrf_token": csrf_of(page)}
        )
        assert withdrawn.status_code == 303
        assert (await get_ok(client, f"/v1/open-shift-claims/{claim['id']}", o.hana.headers))["status"] == (
            "cancelled"
        )

    async def test_a_claim_refused_says_why_and_writes_nothing(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        o = await office(client, runtime)
        shift = await open_shift(runtime, o)
        await sign_in(browser, o.tenant.slug, o.hana.email)
        page = await browser.get("/dashboard/me/open-shifts")
        # Kenji is put on it meanwhile.
        await add_assignment(runtime, o.tenant, shift, o.kenji.staff_id)

        refused = await browser.post(
            f"/dashboard/me/open-shifts/{shift}/claim", data={"csrf_token": csrf_of(page)}
        )

        assert refused.status_code == 409
        text = text_of(refused)
        assert "You could not take this shift" in text
        assert "You: the shift already has everyone it needs" in text
        assert "headcount_full" not in text
        assert (await get_ok(client, "/v1/open-shift-claims", o.hana.headers))["items"] == []

    async def test_a_contract_that_approves_at_once_puts_the_shift_in_my_shifts(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        o = await office(client, runtime)
        changed = await client.patch(
            f"/v1/contracts/{o.night['id']}", json={"open_shift_approval": "auto"}, headers=o.tenant.admin
        )
        assert changed.status_code == 200, changed.text
        shift = await open_shift(runtime, o, in_hours=30)
        await sign_in(browser, o.tenant.slug, o.hana.email)
        page = await browser.get("/dashboard/me/open-shifts")
        assert "Yours as soon as you claim it" in text_of(page)

        claimed = await browser.post(
            f"/dashboard/me/open-shifts/{shift}/claim", data={"csrf_token": csrf_of(page)}
        )

        assert claimed.headers["location"] == "/dashboard/me/open-shifts?done=claim-approved"
        mine = await browser.get("/dashboard/me/shifts")
        assert f'data-shift-id="{shift}"' in mine.text

    async def test_nobody_claims_or_withdraws_for_someone_else(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        o = await office(client, runtime)
        elsewhere = await office(client, runtime)
        theirs = await open_shift(runtime, elsewhere)
        draft = await add_shift(
            runtime, o.tenant, o.night["id"], hours_from_now(50), hours_from_now(58), status="draft"
        )
        shift = await open_shift(runtime, o)
        kenjis = await post_ok(client, f"/v1/me/open-shifts/{shift}/claim", {}, o.kenji.headers)
        await sign_in(browser, o.tenant.slug, o.hana.email)
        page = await browser.get("/dashboard/me/open-shifts")
        assert kenjis["id"] not in page.text
        assert str(theirs) not in page.text
        for shift_id in (theirs, draft, uuid.uuid4()):
            refused = await browser.post(
                f"/dashboard/me/open-shifts/{shift_id}/claim", data={"csrf_token": csrf_of(page)}
            )
            assert refused.status_code == 404, shift_id
        for claim_id in (kenjis["id"], str(uuid.uuid4())):
            refused = await browser.post(
                f"/dashboard/me/open-shifts/claims/{claim_id}/cancel", data={"csrf_token": csrf_of(page)}
            )
            assert refused.status_code == 404
        assert (await get_ok(client, f"/v1/open-shift-claims/{kenjis['id']}", o.kenji.headers))[
            "status"
        ] == "pending"
        refused = await browser.post(
            f"/dashboard/me/open-shifts/{shift}/claim", data={"csrf_token": "0" * 64}
        )
        assert refused.status_code == 403


class TestClockingOnMyShifts:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_clock_in_then_out(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        o = await office(client, runtime, language)
        start = hours_from_now(-0.25)
        shift = await add_shift(runtime, o.tenant, o.night["id"], start, start + timedelta(hours=8))
        await add_assignment(runtime, o.tenant, shift, o.hana.staff_id)
        await sign_in(browser, o.tenant.slug, o.hana.email)

        page = await browser.get("/dashboard/me/shifts")

        assert page.status_code == 200, page.text
        assert f'data-clock-shift-id="{shift}"' in page.text
        assert f'action="/dashboard/me/shifts/{shift}/clock-in"' in page.text
        clocked = await browser.post(
            f"/dashboard/me/shifts/{shift}/clock-in", data={"csrf_token": csrf_of(page)}
        )
        assert (clocked.status_code, clocked.headers["location"]) == (
            303,
            "/dashboard/me/shifts?done=clocked-in",
        )

        after = await browser.get("/dashboard/me/shifts?done=clocked-in")
        text = text_of(after)
        assert ("出勤を打刻しました" if language == "ja" else "You are clocked in") in text
        assert ("分の遅刻" if language == "ja" else "min late") in text
        assert f'action="/dashboard/me/shifts/{shift}/clock-out"' in after.text
        again = await browser.post(
            f"/dashboard/me/shifts/{shift}/clock-in", data={"csrf_token": csrf_of(after)}
        )
        assert again.status_code == 409
        assert (
            "このシフトの出勤は打刻済みです" if language == "ja" else "You have already clocked in"
        ) in text_of(again)

        out = await browser.post(
            f"/dashboard/me/shifts/{shift}/clock-out", data={"csrf_token": csrf_of(after)}
        )
        assert out.headers["location"] == "/dashboard/me/shifts?done=clocked-out"
        [record] = (await get_ok(client, "/v1/me/attendance", o.hana.headers))["items"]
        assert (record["status"], record["clock_in_source"], record["clock_out_source"]) == (
            "done",
            "staff",
            "staff",
        )

    async def test_not_now_and_not_someone_elses(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        o = await office(client, runtime)
        later = await add_shift(runtime, o.tenant, o.night["id"], hours_from_now(12), hours_from_now(20))
        await add_assignment(runtime, o.tenant, later, o.hana.staff_id)
        kenjis = await add_shift(runtime, o.tenant, o.night["id"], hours_from_now(0), hours_from_now(8))
        await add_assignment(runtime, o.tenant, kenjis, o.kenji.staff_id)
        await sign_in(browser, o.tenant.slug, o.hana.email)
        page = await browser.get("/dashboard/me/shifts")
        assert f"{later}/clock-in" not in page.text

        early = await browser.post(
            f"/dashboard/me/shifts/{later}/clock-in", data={"csrf_token": csrf_of(page)}
        )

        assert early.status_code == 409
        assert "You can clock in from an hour before your shift starts" in text_of(early)
        for shift_id, action in ((kenjis, "clock-in"), (uuid.uuid4(), "clock-in"), (later, "lunch")):
            refused = await browser.post(
                f"/dashboard/me/shifts/{shift_id}/{action}", data={"csrf_token": csrf_of(page)}
            )
            assert refused.status_code == 404, (shift_id, action)
        assert (await get_ok(client, "/v1/me/attendance", o.kenji.headers))["items"][0]["clock_in"] is None


class TestScreenshots:
    async def test_open_shifts_and_clocking_in_at_phone_width(
        self, client: httpx.AsyncClient, runtime: Runtime, server: ServerThread
    ) -> None:
        binary = chromium_binary()
        o = await office(client, runtime, "ja")
        await open_shift(runtime, o, in_hours=30)
        auto = await open_shift(runtime, o, in_hours=100)
        await add_assignment(runtime, o.tenant, auto, o.kenji.staff_id)
        await add_shift(
            runtime, o.tenant, o.night["id"], hours_from_now(150), hours_from_now(158), headcount=3
        )
        start = hours_from_now(-0.25)
        now_shift = await add_shift(runtime, o.tenant, o.night["id"], start, start + timedelta(hours=8))
        await add_assignment(runtime, o.tenant, now_shift, o.hana.staff_id)
        async with Chromium(binary) as chromium:
            tab = await chromium.page()
            await tab.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(tab, server.url, o.tenant.slug, o.hana.email)
            for name in ("open-shifts", "shifts"):
                await tab.goto(f"{server.url}/dashboard/me/{name}")
                width = await tab.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"{name} scrolls sideways at 390 px: {width}"
                await tab.screenshot(ARTIFACTS / f"staff-{name}-390.png")
                assert tab.console_errors() == []
            # Clock in the way a person does: tap the button.
            await tab.goto(f"{server.url}/dashboard/me/shifts")
            loaded = tab.browser.expect("Page.loadEventFired", tab.session)
            await tab.evaluate("document.querySelector('.clock-form button').click()")
            await loaded
            assert "出勤を打刻しました" in await tab.evaluate("document.body.innerText")
            await tab.screenshot(ARTIFACTS / "staff-clocked-in-390.png")


class TestClaimsOnTheApprovalsPage:
    @pytest.mark.parametrize("language", ["en", "ja"])
    async def test_a_supervisor_approves_one_claim_and_declines_another(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, language: str
    ) -> None:
        o = await office(client, runtime, language)
        first, second = await open_shift(runtime, o, 72), await open_shift(runtime, o, 96)
        for shift in (first, second):
            await post_ok(client, f"/v1/me/open-shifts/{shift}/claim", {}, o.hana.headers)
        claims = {
            c["shift_id"]: c for c in (await get_ok(client, "/v1/open-shift-claims", o.hana.headers))["items"]
        }
        await client.patch("/v1/me", json={"language": language}, headers=o.tenant.admin)
        await sign_in(browser, o.tenant.slug, o.tenant.admin_email)

        page = await browser.get("/dashboard/approvals")

        assert page.status_code == 200, page.text
        text = text_of(page)
        assert (
            "Hana Suzuki さんがこのシフトに入りたいと応募しています" if language == "ja"
            else "Hana Suzuki would like to work this shift"
        ) in text  # fmt: skip
        assert "Night patrol" in text
        for claim in claims.values():
            assert f'data-claim-id="{claim["id"]}"' in page.text
        token = csrf_of(page)
        approved = await browser.post(
            f"/dashboard/approvals/claims/{claims[str(first)]['id']}/approve", data={"csrf_token": token}
        )
        assert (approved.status_code, approved.headers["location"]) == (
            303,
            "/dashboard/approvals?done=claim-approved",
        )
        declined = await browser.post(
            f"/dashboard/approvals/claims/{claims[str(second)]['id']}/reject", data={"csrf_token": token}
        )
        assert declined.status_code == 303

        mine = {
            c["shift_id"]: c["status"]
            for c in (await get_ok(client, "/v1/open-shift-claims", o.hana.headers))["items"]
        }
        assert mine == {str(first): "approved", str(second): "declined"}
        shifts = await get_ok(client, "/v1/me/shifts", o.hana.headers)
        assert str(first) in {s["shift_id"] for s in shifts["items"]}
        after = text_of(await browser.get("/dashboard/approvals?done=claim-approved"))
        assert ("応募を承認しました" if language == "ja" else "The claim is approved") in after
        assert ("承認待ちの応募はありません" if language == "ja" else "No claim is waiting") in after

    async def test_a_claim_on_a_shift_that_has_begun_is_refused_in_words_and_others_reach_nothing(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        o = await office(client, runtime)
        shift = await open_shift(runtime, o, 0.02)
        await post_ok(client, f"/v1/me/open-shifts/{shift}/claim", {}, o.hana.headers)
        [claim] = (await get_ok(client, "/v1/open-shift-claims", o.hana.headers))["items"]
        await sign_in(browser, o.tenant.slug, o.tenant.admin_email)
        page = await browser.get("/dashboard/approvals")
        await asyncio.sleep(
            max(0.0, (datetime.fromisoformat(claim["start"]) - datetime.now(UTC)).total_seconds() + 0.5)
        )

        refused = await browser.post(
            f"/dashboard/approvals/claims/{claim['id']}/approve", data={"csrf_token": csrf_of(page)}
        )

        assert refused.status_code == 409
        # In the reader's words (the tenant's default, Japanese).
        assert "次の理由で実行できませんでした: シフトはすでに始まっています" in text_of(refused)
        assert (await get_ok(client, f"/v1/open-shift-claims/{claim['id']}", o.hana.headers))[
            "status"
        ] == "pending"

        # Staff can't decide; another tenant's supervisor finds no such claim.
        browser.cookies.clear()
        await sign_in(browser, o.tenant.slug, o.kenji.email)
        token = csrf_of(await browser.get("/dashboard/me/shifts"))
        assert (
            await browser.post(
                f"/dashboard/approvals/claims/{claim['id']}/approve", data={"csrf_token": token}
            )
        ).status_code == 403
        other = await create_tenant(client)
        browser.cookies.clear()
        await sign_in(browser, other.slug, other.admin_email)
        token = csrf_of(await browser.get("/dashboard/approvals"))
        assert (
            await browser.post(
                f"/dashboard/approvals/claims/{claim['id']}/reject", data={"csrf_token": token}
            )
        ).status_code == 404
        assert (await get_ok(client, f"/v1/open-shift-claims/{claim['id']}", o.hana.headers))[
            "status"
        ] == "pending"
