"""Escalations in the browser: a client viewer reads their client's (and nobody else's), opens one with its
timeline and acknowledges it with a button; operators read them all but do not acknowledge for the client;
in Japanese and English, and at phone width in Chromium, the page a mailed link opens included."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.support.chromium import Chromium, Page, chromium_binary
from tests.support.dashboard import csrf_of, sign_in, sign_in_on_page
from tests.support.escalations import CRITICAL, desk, link_path, notify, queued, raise_one
from tests.support.factories import create_tenant, get_ok, post_ok
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread

ROW = re.compile(r'data-escalation-id="([0-9a-f-]+)"')


class TestPages:
    async def test_a_viewer_reads_and_acknowledges_their_clients_escalation_only(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        neighbour = await desk(client, tenant)
        mine = await raise_one(client, d, link="https://recipe.example/r/7")
        theirs = await raise_one(client, neighbour)
        assert (await sign_in(browser, tenant.slug, d.viewer_email)).status_code == 303

        listing = await browser.get("/dashboard/escalations")
        assert listing.status_code == 200
        assert ROW.findall(listing.text) == [mine["id"]]
        assert "確認待ち" in listing.text
        assert (await browser.get(f"/dashboard/escalations/{theirs['id']}")).status_code == 404
        assert (await browser.get("/dashboard/escalations/not-an-id")).status_code == 404

        page = await browser.get(f"/dashboard/escalations/{mine['id']}")
        assert page.status_code == 200
        assert CRITICAL["reason"] in page.text
        assert CRITICAL["recommended_action"] in page.text
        assert 'href="https://recipe.example/r/7"' in page.text
        assert 'data-event="raised"' in page.text
        form = f'action="/dashboard/escalations/{mine["id"]}/acknowledge"'
        assert form in page.text
        refused = await browser.post(
            f"/dashboard/escalations/{theirs['id']}/acknowledge", data={"csrf_token": csrf_of(page)}
        )
        assert refused.status_code == 404
        done = await browser.post(
            f"/dashboard/escalations/{mine['id']}/acknowledge", data={"csrf_token": csrf_of(page)}
        )
        assert done.status_code == 303
        after = await browser.get(done.headers["location"])
        assert 'role="status"' in after.text
        assert 'data-event="acknowledged"' in after.text
        assert form not in after.text
        found = await get_ok(client, f"/v1/escalations/{mine['id']}", tenant.admin)
        assert (found["state"], found["acknowledged_via"]) == ("acknowledged", "dashboard")
        # Pressed twice (a second tab): the page says so, nothing changes.
        again = await browser.post(
            f"/dashboard/escalations/{mine['id']}/acknowledge", data={"csrf_token": csrf_of(page)}
        )
        assert again.status_code == 303
        assert (await get_ok(client, "/v1/escalations", d.viewer, state="open"))["items"] == []
        assert (await get_ok(client, f"/v1/escalations/{theirs['id']}", tenant.admin))["state"] == "open"

    async def test_operators_read_every_clients_but_only_the_client_acknowledges(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        neighbour = await desk(client, tenant)
        first = await raise_one(client, d, severity="normal")
        second = await raise_one(client, neighbour)
        await client.patch("/v1/me", json={"language": "en"}, headers=tenant.admin)
        await sign_in(browser, tenant.slug, tenant.admin_email)
        listing = await browser.get("/dashboard/escalations")
        assert ROW.findall(listing.text) == [second["id"], first["id"]]
        assert "Waiting for acknowledgement" in listing.text
        assert d.client["name"] in listing.text
        filtered = await browser.get("/dashboard/escalations", params={"severity": "normal"})
        assert ROW.findall(filtered.text) == [first["id"]]
        assert (await browser.get("/dashboard/escalations", params={"state": "closed"})).status_code == 422
        page = await browser.get(f"/dashboard/escalations/{first['id']}")
        assert "/acknowledge" not in page.text
        refused = await browser.post(
            f"/dashboard/escalations/{first['id']}/acknowledge", data={"csrf_token": csrf_of(page)}
        )
        assert refused.status_code == 403
        assert (await get_ok(client, f"/v1/escalations/{first['id']}", tenant.admin))["state"] == "open"
        await post_ok(
            client, f"/v1/escalations/{first['id']}/resolve", {"note": "Phoned the client"}, d.staff
        )
        resolved = await browser.get(f"/dashboard/escalations/{first['id']}")
        assert "Phoned the client" in resolved.text
        assert 'data-event="resolved"' in resolved.text


@pytest.mark.slow
class TestInChromium:
    async def test_the_pages_fit_a_phone_in_both_languages(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime, settings: Settings
    ) -> None:
        binary = chromium_binary()
        tenant = await create_tenant(client)
        d = await desk(client, tenant, name="楽天レシピ")
        await raise_one(client, d, severity="high", reason="コメント欄で炎上の兆候があります。")
        made = await raise_one(client, d, link="https://recipe.rakuten.example/recipe/1234567890/comments")
        await notify(runtime, settings, tenant, made["id"], "raised")
        [mail] = await queued(runtime, tenant, "escalation.notice")
        shots = []
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await page.goto(f"{server.url}{link_path(mail.text_body)}")
            assert await page.evaluate("document.documentElement.lang") == "ja"
            shots.append(await self.fits(page, "escalation-link-phone-ja.png"))
            await sign_in_on_page(page, server.url, tenant.slug, d.viewer_email)
            for lang in ("ja", "en"):
                await client.patch(f"/v1/users/{d.viewer_id}", json={"language": lang}, headers=tenant.admin)
                await page.goto(f"{server.url}/dashboard/escalations")
                assert await page.evaluate("document.documentElement.lang") == lang
                assert await page.evaluate("document.querySelectorAll('.escalation-row').length") == 2
                shots.append(await self.fits(page, f"escalations-phone-{lang}.png"))
                await page.goto(f"{server.url}/dashboard/escalations/{made['id']}")
                assert await page.evaluate("!!document.querySelector('form.acknowledge button')")
                shots.append(await self.fits(page, f"escalation-phone-{lang}.png"))
            assert [t for t in page.console_errors() if "Content Security Policy" in t] == []
        print("\nscreenshots:", *shots)

    @staticmethod
    async def fits(page: Page, name: str) -> Path:
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px wider than a phone"
        return await page.screenshot(ARTIFACTS / name)
