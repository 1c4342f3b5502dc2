"""The items behind the dashboard's figures: from a breached count to the list of those items, a page at
a time, and on to one item's timeline; in Japanese and English, at phone width, and nothing of another
client's."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bpo.core.runtime import Runtime
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import sign_in, sign_in_on_page
from tests.support.factories import create_client, create_tenant, create_user, get_ok, headers_for, login
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.sla import CHAT_HOURS, CHAT_OBJECTIVES, ingest, rebuild, sla_contract

JST = "+09:00"
ITEM_LINK = re.compile(r'<a href="/dashboard/items/([0-9a-f-]+)">([^<]+)</a>')
# Business days of October 2026 (Monday 5 to Friday 30), skipping Sports Day (Monday 12).
DAYS = [d for d in range(5, 31) if datetime(2026, 10, d).weekday() < 5 and d != 12]


def chats() -> list[dict[str, Any]]:
    """57 late first replies (60 s against 45 s), 3 in time, on business days of October."""
    items = []
    for n in range(60):
        day = DAYS[n % len(DAYS)]
        minute = 31 + n // len(DAYS)
        answered = f"11:{minute + 1:02d}:00" if n >= 3 else f"11:{minute:02d}:30"
        items.append(
            {
                "external_id": f"chat-{n:02d}",
                "received_at": f"2026-10-{day:02d}T11:{minute:02d}:00{JST}",
                "first_response_at": f"2026-10-{day:02d}T{answered}{JST}",
                "channel": "chat",
                "handled_by": f"agent-{n % 4}",
                "attributes": {
                    "summary": "レシピの投稿が表示されない" if n % 2 else "Login fails on the app"
                },
            }
        )
    return items


async def setup_viewer(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, Any]:
    tenant = await create_tenant(client)
    setup = await sla_contract(client, tenant, objectives=CHAT_OBJECTIVES, windows=CHAT_HOURS)
    contract = setup["contract"]["id"]
    await ingest(client, tenant.admin, contract, chats())
    await rebuild(runtime, tenant, contract, datetime.now(UTC))
    email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"]), email=email
    )
    return {"tenant": tenant, "client": setup["client"], "contract": contract, "email": email}


def breached_link(page: str) -> str:
    found = re.search(r'<a href="([^"]+status=breached[^"]+)"><data class="breached" value="(\d+)"', page)
    assert found, page[:2000]
    return html.unescape(found.group(1))


async def follow_pages(browser: httpx.AsyncClient, url: str) -> tuple[list[str], list[str]]:
    """Every item listed from ``url`` through its "Next page" links: ids, and each page's HTML."""
    ids: list[str] = []
    pages: list[str] = []
    while True:
        response = await browser.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.text)
        ids += [item for item, _ in ITEM_LINK.findall(response.text)]
        more = re.search(r'<a href="(\?[^"]+)" rel="next">', response.text)
        if more is None:
            return ids, pages
        url = url.split("?")[0] + html.unescape(more.group(1))


class TestDrillDown:
    async def test_breached_figure_lists_its_items_page_by_page_and_each_item_shows_its_timeline(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await setup_viewer(client, runtime)
        assert (await sign_in(browser, setup["tenant"].slug, setup["email"])).status_code == 303
        dashboard = await browser.get(f"/dashboard/clients/{setup['client']['id']}", params={"days": 90})
        assert dashboard.status_code == 200, dashboard.text
        link = breached_link(dashboard.text)
        breached = int(re.search(r'<data class="breached" value="(\d+)"', dashboard.text).group(1))  # type: ignore[union-attr]
        assert breached == 57
        ids, pages = await follow_pages(browser, link)
        assert len(pages) == 2
        assert len(ids) == len(set(ids)) == breached
        listed = {item["id"] for item in await api_items(client, setup, "breached")}
        assert set(ids) == listed
        assert "期限超過" in pages[0]
        assert "レシピの投稿が表示されない" in pages[0]

        # Pending counts the items still open, at risk or not: none here.
        pending = re.search(
            r'<a href="([^"]+status=pending&amp;status=at_risk[^"]+)"><data class="pending"', dashboard.text
        )
        assert pending, dashboard.text[:2000]
        still_open = await browser.get(html.unescape(pending.group(1)))
        assert still_open.status_code == 200, still_open.text
        assert "判定待ち" in still_open.text
        assert ITEM_LINK.findall(still_open.text) == []

        item = await browser.get(f"/dashboard/items/{ids[0]}")
        assert item.status_code == 200, item.text
        assert 'data-event="received"' in item.text
        assert 'data-event="first_response"' in item.text
        assert 'data-objective="first_response"' in item.text
        assert re.search(r'<data class="elapsed" value="60">', item.text)
        assert "経過" in item.text
        assert "期限超過" in item.text

        changed = await client.patch(
            "/v1/me", json={"language": "en"}, headers=await viewer_headers(client, setup)
        )
        assert changed.status_code == 200, changed.text
        english = await browser.get(link)
        assert "Breached" in english.text
        assert "Next page" in english.text

    async def test_another_clients_viewer_gets_not_found_pages(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await setup_viewer(client, runtime)
        other = await create_client(client, setup["tenant"])
        email = f"other-{uuid.uuid4().hex[:6]}@{setup['tenant'].slug}.example"
        await create_user(
            client, setup["tenant"], role="client_viewer", client_id=uuid.UUID(other["id"]), email=email
        )
        item_id = (await api_items(client, setup, "breached"))[0]["id"]
        assert (await sign_in(browser, setup["tenant"].slug, email)).status_code == 303
        for path in (
            f"/dashboard/clients/{setup['client']['id']}/items",
            f"/dashboard/clients/{other['id']}/items?contract={setup['contract']}",
            f"/dashboard/items/{item_id}",
        ):
            response = await browser.get(path)
            assert response.status_code == 404, (path, response.text[:300])
            assert item_id not in response.text

    async def test_bad_period_is_a_page_saying_so(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await setup_viewer(client, runtime)
        assert (await sign_in(browser, setup["tenant"].slug, setup["email"])).status_code == 303
        base = f"/dashboard/clients/{setup['client']['id']}/items"
        for query in ("start=2026-10-10&end=2026-10-01", "start=2024-01-01&end=2026-10-01", "status=late"):
            response = await browser.get(f"{base}?{query}")
            assert response.status_code in (400, 422), (query, response.status_code)
            assert "<html" in response.text


async def viewer_headers(client: httpx.AsyncClient, setup: dict[str, Any]) -> dict[str, str]:
    return headers_for((await login(client, setup["tenant"].slug, setup["email"]))["access_token"])


async def api_items(client: httpx.AsyncClient, setup: dict[str, Any], status: str) -> list[dict[str, Any]]:
    body = await get_ok(
        client,
        "/v1/work-items",
        setup["tenant"].admin,
        contract=setup["contract"],
        objective="first_response",
        status=status,
        received_from=f"2026-10-01T00:00:00{JST}",
        limit=200,
    )
    items: list[dict[str, Any]] = body["items"]
    return items


@pytest.mark.slow
class TestInChromium:
    async def test_the_drill_down_fits_a_phone(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        binary = chromium_binary()
        setup = await setup_viewer(client, runtime)
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, server.url, setup["tenant"].slug, setup["email"])
            await page.goto(f"{server.url}/dashboard/clients/{setup['client']['id']}?days=90")
            href = await page.evaluate("document.querySelector('a[href*=\"status=breached\"]').href")
            await page.goto(href)
            rows = await page.evaluate("document.querySelectorAll('.item-row').length")
            assert rows == 50
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            listing = await page.screenshot(ARTIFACTS / "items-phone.png")
            first = await page.evaluate("document.querySelector('.item-title a').href")
            await page.goto(first)
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            detail = await page.screenshot(ARTIFACTS / "item-phone.png")
            assert [t for t in page.console_errors() if "Content Security Policy" in t] == []
        print(f"\nscreenshots: {listing} {detail}")
