"""The notification settings page: a staff member turns kinds of mail off and sets their own webhook in
Japanese or English, a refused address is a 422 naming what is wrong and saves nothing, a supervisor is
offered the supervisors' kinds, and the page fits a phone (390 px screenshots)."""

from __future__ import annotations

import httpx
import pytest

from bpo.core.runtime import Runtime
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import csrf_of, sign_in, sign_in_on_page
from tests.support.factories import create_tenant, create_user, get_ok
from tests.support.paths import ARTIFACTS
from tests.support.receiver import Receiver
from tests.support.server import ServerThread
from tests.support.staffing import staff_login
from tests.web.test_staff_pages import text_of

PAGE = "/dashboard/account/notifications"
PREFERENCES = "/v1/me/notification-preferences"


async def person(
    client: httpx.AsyncClient, runtime: Runtime, language: str
) -> tuple[str, str, dict[str, str]]:
    """(tenant slug, email, API headers) of a staff member reading ``language``."""
    tenant = await create_tenant(client)
    _, headers = await staff_login(client, runtime, tenant, "Hana Suzuki")
    response = await client.patch("/v1/me", json={"language": language}, headers=headers)
    assert response.status_code == 200, response.text
    me = await get_ok(client, "/v1/me", headers)
    return tenant.slug, me["user"]["email"], headers


class TestThePage:
    @pytest.mark.parametrize(
        ("language", "saved", "shifts_label"),
        [
            (
                "en",
                "Your notification settings are saved.",
                "My shifts: published, added, changed or cancelled",
            ),
            ("ja", "お知らせの設定を保存しました。", "自分のシフト：公開・追加・変更・取り消し"),  # noqa: RUF001
        ],
    )
    async def test_turn_a_kind_off_and_set_my_webhook(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        language: str,
        saved: str,
        shifts_label: str,
    ) -> None:
        slug, email, headers = await person(client, runtime, language)
        await sign_in(browser, slug, email)
        page = await browser.get(PAGE)
        assert page.status_code == 200, page.text
        assert shifts_label in text_of(page)
        assert 'name="mail_lateness"' not in page.text
        with Receiver() as receiver:
            form = {
                "csrf_token": csrf_of(page),
                "mail_shifts": "on",
                "mail_time_off": "on",
                "mail_open_shifts": "on",
                "webhook_url": receiver.url,
                "webhook_enabled": "on",
                "action": "save",
            }
            posted = await browser.post(PAGE, data=form)
            assert posted.status_code == 303, posted.text
            done = await browser.get(posted.headers["location"])
            assert saved in text_of(done)
        stored = await get_ok(client, PREFERENCES, headers)
        assert stored["mail"]["swaps"] is False
        assert stored["mail"]["shifts"] is True
        assert stored["webhook"]["enabled"] is True
        assert stored["webhook"]["secret"] in done.text

    async def test_a_refused_address_says_why_and_saves_nothing(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        slug, email, headers = await person(client, runtime, "en")
        await sign_in(browser, slug, email)
        page = await browser.get(PAGE)
        form = {
            "csrf_token": csrf_of(page),
            "webhook_url": "http://chat.example.com/hook",
            "webhook_enabled": "on",
        }
        refused = await browser.post(PAGE, data=form)
        assert refused.status_code == 422
        assert "This address cannot be used: must use https" in text_of(refused)
        assert 'aria-invalid="true"' in refused.text
        stored = await get_ok(client, PREFERENCES, headers)
        assert stored["webhook"]["url"] is None
        assert stored["mail"]["shifts"] is True
        forged = await browser.post(PAGE, data={**form, "csrf_token": "0" * 64})
        assert forged.status_code == 403

    async def test_a_supervisor_is_offered_the_supervisors_kinds(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        supervisor, _ = await create_user(client, tenant, role="supervisor")
        await sign_in(browser, tenant.slug, supervisor["email"])
        page = await browser.get(PAGE)
        assert page.status_code == 200, page.text
        assert 'name="mail_lateness"' in page.text
        assert 'name="mail_open_shifts"' in page.text
        assert 'name="mail_shifts"' not in page.text


class TestScreenshots:
    @pytest.mark.parametrize("language", ["ja", "en"])
    async def test_the_page_at_phone_width(
        self, client: httpx.AsyncClient, runtime: Runtime, server: ServerThread, language: str
    ) -> None:
        binary = chromium_binary()
        slug, email, headers = await person(client, runtime, language)
        with Receiver() as receiver:
            body = {"webhook": {"url": receiver.url, "enabled": True}, "mail": {"swaps": False}}
            response = await client.put(PREFERENCES, json=body, headers=headers)
            assert response.status_code == 200, response.text
        async with Chromium(binary) as chromium:
            tab = await chromium.page()
            await tab.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(tab, server.url, slug, email)
            await tab.goto(f"{server.url}{PAGE}")
            width = await tab.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways at 390 px: {width}"
            assert tab.console_errors() == []
            await tab.screenshot(ARTIFACTS / f"staff-notifications-{language}-390.png")
