"""The alerts page, for the operator's people: acting on alerts with the page's own forms, steps out of order
answered with a page that says why, client viewers kept out; and the averages and satisfaction on a client's
dashboard and an item's page. In Japanese and English, and in Chromium at phone width."""

from __future__ import annotations

import html
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import alerts
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import csrf_of, data_value, sign_in, sign_in_on_page
from tests.support.factories import TenantHandle, create_tenant, create_user, get_ok
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, rebuild, sla_contract

TOKYO = ZoneInfo("Asia/Tokyo")


async def with_alerts(client: httpx.AsyncClient, runtime: Runtime, count: int = 2) -> dict[str, Any]:
    """A tenant whose contract has ``count`` breached items, their alerts, a supervisor and a client viewer
    (each with a password to sign in with)."""
    tenant = await create_tenant(client)
    setup = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR, name="メール対応")
    now = datetime.now(UTC).replace(microsecond=0)
    items = [
        {"external_id": f"mail-{n}", "received_at": (now - timedelta(minutes=70 + n)).isoformat()}
        for n in range(count)
    ]
    await ingest(client, tenant.admin, setup["contract"]["id"], items)
    async with runtime.db.tenant(tenant.id) as session:
        assert len(await alerts.sweep(session, system_scope(tenant.id), now)) == count
    supervisor_email = f"supervisor-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    supervisor, supervisor_headers = await create_user(
        client, tenant, role="supervisor", email=supervisor_email
    )
    viewer_email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"]), email=viewer_email
    )
    ids = [a["id"] for a in (await get_ok(client, "/v1/alerts", tenant.admin))["items"]]
    return {
        "tenant": tenant,
        "setup": setup,
        "supervisor": supervisor,
        "supervisor_headers": supervisor_headers,
        "supervisor_email": supervisor_email,
        "viewer_email": viewer_email,
        "alerts": ids,
    }


async def press(browser: httpx.AsyncClient, alert_id: str, action: str, **fields: str) -> httpx.Response:
    """Send one of the page's forms as a browser does: with the page's CSRF token."""
    listing = await browser.get("/dashboard/alerts")
    return await browser.post(
        f"/dashboard/alerts/{alert_id}/{action}", data={"csrf_token": csrf_of(listing), **fields}
    )


def card(page: str, alert_id: str) -> str:
    """The part of the page about one alert."""
    (found,) = [part for part in page.split('<li class="alert-card"')[1:] if f'id="alert-{alert_id}"' in part]
    return found


class TestAlertsPage:
    async def test_a_supervisor_acts_on_alerts_with_the_pages_forms(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        world = await with_alerts(client, runtime)
        first, second = world["alerts"]
        signed_in = await sign_in(browser, world["tenant"].slug, world["supervisor_email"])
        assert signed_in.status_code == 303, signed_in.text
        page = await browser.get("/dashboard/alerts")
        assert page.status_code == 200, page.text
        # The operator is in Tokyo: Japanese, with the section in the navigation.
        assert '<a href="/dashboard/alerts">アラート</a>' in page.text
        assert "未対応" in card(page.text, first)
        assert "mail-0" in page.text

        done = await press(browser, first, "acknowledge")
        assert (done.status_code, done.headers["location"]) == (
            303,
            "/dashboard/alerts?show=open&done=acknowledge",
        )
        again = await press(browser, first, "acknowledge")
        assert again.status_code == 409
        assert "このアラートはすでに誰かが確認しています。" in again.text

        assigned = await press(browser, first, "assign", assignee_id=world["supervisor"]["id"])
        assert assigned.status_code == 303
        mine = await browser.get("/dashboard/alerts", params={"show": "mine"})
        assert f'id="alert-{first}"' in mine.text
        assert f'id="alert-{second}"' not in mine.text
        missing = await press(browser, first, "assign", assignee_id="")
        assert missing.status_code == 422
        assert "スーパーバイザーを選んでください。" in missing.text

        empty = await press(browser, first, "resolve", note="   ")
        assert empty.status_code == 422
        assert "分かったことと対応した内容を書いてください。" in empty.text
        resolved = await press(browser, first, "resolve", note="テンプレートの誤りを直しました")
        assert resolved.status_code == 303
        still_open = (await browser.get("/dashboard/alerts")).text
        assert f'id="alert-{first}"' not in still_open
        history = card((await browser.get("/dashboard/alerts", params={"show": "resolved"})).text, first)
        assert 'alert-state-resolved">解決' in history
        assert html.escape("テンプレートの誤りを直しました") in history
        assert "アラート発生" in history
        assert "<form" not in history
        # The API says the same.
        api = await get_ok(client, f"/v1/alerts/{first}", world["tenant"].admin)
        assert [step["action"] for step in api["handling"]["timeline"]] == [
            "raised",
            "acknowledged",
            "assigned",
            "resolved",
        ]
        after = await press(browser, first, "resolve", note="again")
        assert after.status_code == 409
        assert "このアラートはすでに解決済みです。" in after.text
        assert_unknown = await press(browser, second, "close")
        assert assert_unknown.status_code == 404

    async def test_in_english(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        world = await with_alerts(client, runtime, count=1)
        response = await client.patch("/v1/me", json={"language": "en"}, headers=world["supervisor_headers"])
        assert response.status_code == 200, response.text
        await sign_in(browser, world["tenant"].slug, world["supervisor_email"])
        page = (await browser.get("/dashboard/alerts")).text
        for words in ("Alerts", "Still open", "Breached", "m on it", "Assign", "Resolve", "Open"):
            assert words in page, words
        (alert,) = world["alerts"]
        await press(browser, alert, "acknowledge")
        assert "Seen" in card((await browser.get("/dashboard/alerts")).text, alert)

    async def test_client_viewers_and_other_operators_are_kept_out(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        world = await with_alerts(client, runtime, count=1)
        (alert,) = world["alerts"]
        await sign_in(browser, world["tenant"].slug, world["viewer_email"])
        dashboard = await browser.get(f"/dashboard/clients/{world['setup']['client']['id']}")
        assert dashboard.status_code == 200
        assert "/dashboard/alerts" not in dashboard.text
        listing = await browser.get("/dashboard/alerts")
        assert listing.status_code == 403
        assert "mail-0" not in listing.text
        token = csrf_of(dashboard)
        acted = await browser.post(f"/dashboard/alerts/{alert}/acknowledge", data={"csrf_token": token})
        assert acted.status_code == 403
        stranger = await create_tenant(client)
        stranger_email = f"supervisor@{stranger.slug}.example"
        await create_user(client, stranger, role="supervisor", email=stranger_email)
        browser.cookies.clear()
        await sign_in(browser, stranger.slug, stranger_email)
        assert alert not in (await browser.get("/dashboard/alerts", params={"show": "all"})).text
        assert (await press(browser, alert, "acknowledge")).status_code == 404
        state = (await get_ok(client, f"/v1/alerts/{alert}", world["tenant"].admin))["handling"]["state"]
        assert state == "open"


# --- averages and satisfaction on the dashboard ---------------------------------------------------


async def rated_contract(client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle) -> dict[str, Any]:
    """Email answered in 5, 10 and 15 minutes over the last three days, rated 5, 4 and 2; NPS answers
    10, 9 and 3."""
    setup = await sla_contract(
        client,
        tenant,
        objectives=[
            {"metric": "first_response", "threshold": "1h", "target_percent": 90, "clock": "calendar"}
        ],
        name="メール対応",
    )
    contract_id = setup["contract"]["id"]
    today = datetime.now(TOKYO).replace(hour=10, minute=0, second=0, microsecond=0)
    items, answers = [], []
    for n, (minutes, rating, score) in enumerate(((5, 5, 10), (10, 4, 9), (15, 2, 3)), 1):
        received = today - timedelta(days=n)
        items.append(
            {
                "external_id": f"mail-{n}",
                "received_at": received.isoformat(),
                "first_response_at": (received + timedelta(minutes=minutes)).isoformat(),
                "started_at": (received + timedelta(minutes=1)).isoformat(),
                "handled_at": (received + timedelta(minutes=minutes)).isoformat(),
                "csat": rating,
            }
        )
        answers.append({"external_id": f"nps-{n}", "score": score, "responded_at": received.isoformat()})
    await ingest(client, tenant.admin, contract_id, items)
    response = await client.post(
        f"/v1/contracts/{contract_id}/nps-responses", json={"items": answers}, headers=tenant.admin
    )
    assert response.status_code == 200, response.text
    await rebuild(
        runtime, tenant, contract_id, datetime.now(UTC), received_between=(today - timedelta(days=5), today)
    )
    return setup


class TestDashboardSatisfaction:
    async def test_the_card_shows_the_apis_average_and_satisfaction(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await rated_contract(client, runtime, tenant)
        bare = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR, customer=setup["client"])
        email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
        await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"]), email=email
        )
        await sign_in(browser, tenant.slug, email)
        whole = (await browser.get(f"/dashboard/clients/{setup['client']['id']}", params={"days": 7})).text
        cards = whole.split("data-contract-id=")
        page = next(c for c in cards if c.startswith(f'"{setup["contract"]["id"]}"'))
        bare_card = next(c for c in cards if c.startswith(f'"{bare["contract"]["id"]}"'))
        start, end = re.search(r'data-start="([^"]+)" data-end="([^"]+)"', whole).groups()  # type: ignore[union-attr]
        api = await get_ok(
            client, f"/v1/contracts/{setup['contract']['id']}/sla", tenant.admin, start=start, end=end
        )
        (objective,) = api["objectives"]
        assert objective["mean_ms"] == 600_000
        assert data_value(page, "mean_ms") == "600000"
        assert "10.0分" in page
        assert (api["csat"]["score"], api["csat"]["mean"]) == (pytest.approx(200 / 3), pytest.approx(11 / 3))
        assert float(data_value(page, "csat-score")) == api["csat"]["score"]
        assert float(data_value(page, "csat-mean")) == api["csat"]["mean"]
        assert data_value(page, "csat-responses") == "3"
        assert float(data_value(page, "nps-score")) == api["nps"]["score"] == pytest.approx(100 / 3)
        assert "+33.3" in page
        assert "顧客満足度" in page
        # Only the rated contract's card has the section.
        assert whole.count("data-satisfaction") == 1
        assert "data-satisfaction" not in bare_card

    async def test_an_items_page_shows_its_rating_and_handling_time(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await rated_contract(client, runtime, tenant)
        found = await get_ok(client, "/v1/work-items", tenant.admin, external_id="mail-3")
        (item,) = found["items"]
        assert (item["csat"], item["started_at"] is not None) == (2, True)
        email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
        await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"]), email=email
        )
        await sign_in(browser, tenant.slug, email)
        page = (await browser.get(f"/dashboard/items/{item['id']}")).text
        assert data_value(page, "csat") == "2"
        assert "5段階中2" in page
        assert "14.0分" in page  # from 1 to 15 minutes after receipt
        assert 'data-event="started"' in page
        assert 'data-event="handled"' in page


@pytest.mark.slow
class TestInChromium:
    async def test_the_alerts_page_and_the_satisfaction_card_at_phone_width(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        binary = chromium_binary()
        world = await with_alerts(client, runtime, count=3)
        first = world["alerts"][0]
        await client.post(
            f"/v1/alerts/{first}/assign",
            json={"assignee_id": world["supervisor"]["id"], "note": "返信の遅れを確認してください"},
            headers=world["tenant"].admin,
        )
        rated = await rated_contract(client, runtime, world["tenant"])
        started = time.monotonic()
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, server.url, world["tenant"].slug, world["supervisor_email"])
            await page.goto(f"{server.url}/dashboard/alerts")
            cards = await page.evaluate(
                "[...document.querySelectorAll('.alert-card')].map(c => ({id: c.dataset.alertId, "
                "state: c.dataset.state, buttons: c.querySelectorAll('button').length}))"
            )
            assert {c["id"] for c in cards} == set(world["alerts"])
            assert {c["id"]: c["state"] for c in cards}[first] == "assigned"
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the alerts page is {overflow}px wider than a phone"
            clipped = await page.evaluate(
                "[...document.querySelectorAll('.alert-card :is(p, dt, dd, button, label, span)')]"
                ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"
            )
            assert clipped == [], clipped
            alerts_shot = await page.screenshot(ARTIFACTS / "alerts-phone.png")

            # Press the button as a person does.
            await page.evaluate(f"document.querySelector('#alert-{world['alerts'][1]} form button').focus()")
            await page.press_enter()
            assert "done=acknowledge" in await page.evaluate("location.search")

            client_id = rated["client"]["id"]
            await page.goto(f"{server.url}/dashboard/clients/{client_id}?days=7")
            shown = await page.evaluate(
                "[...document.querySelectorAll('[data-satisfaction] data')].map(d => [d.className, d.value])"
            )
            assert dict(shown)["csat-responses"] == "3"
            clipped = await page.evaluate(
                "[...document.querySelectorAll("
                "'[data-satisfaction] :is(h3, dt, dd, th), [data-objective] :is(dt, dd)')]"
                ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"
            )
            assert clipped == [], clipped
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the dashboard is {overflow}px wider than a phone"
            dashboard_shot = await page.screenshot(ARTIFACTS / "satisfaction-phone.png")
            blocked = [text for text in page.console_errors() if "Content Security Policy" in text]
            assert blocked == []
        print(
            f"\nchromium run {time.monotonic() - started:.1f}s; screenshots: {alerts_shot} {dashboard_shot}"
        )
