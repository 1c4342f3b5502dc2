"""The dashboard in Japanese and in English: the sign-in page follows the browser (or the switch on it),
signed-in pages the user's language or else the tenant's, and every word, date and number on a page is
in that language."""

from __future__ import annotations

import html
import re
from datetime import date

import httpx
import pytest

from bpo.core.runtime import Runtime
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import sign_in, sign_in_on_page
from tests.support.factories import headers_for, login
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.web.test_dashboard_page import Setup, viewer_setup

# Words a Japanese page may still hold: the product's name, the API's and the client's own data.
NOT_WORDS = {"BPO", "Ops", "SLA", "API", "CSV", "Asia", "Tokyo", "demo", "English"}


def visible_text(page: str) -> str:
    """What a person reads: the body's text, without the charts' drawing and the form's values."""
    body = page[page.index("<body") :]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def english_words(text: str, data: list[str]) -> list[str]:
    for value in data:
        text = text.replace(value, " ")
    return [word for word in re.findall(r"[A-Za-z]{2,}", text) if word not in NOT_WORDS]


def period(page: str) -> tuple[date, date]:
    start, end = re.search(r'data-start="([^"]+)" data-end="([^"]+)"', page).groups()  # type: ignore[union-attr]
    return date.fromisoformat(start), date.fromisoformat(end)


class TestSignInPages:
    async def test_the_browsers_language_decides(self, browser: httpx.AsyncClient) -> None:
        english = await browser.get(
            "/dashboard/login", headers={"Accept-Language": "en-GB,en;q=0.9,ja;q=0.5"}
        )
        assert english.status_code == 200
        assert '<html lang="en">' in english.text
        assert '<h1 id="login-title">Sign in</h1>' in english.text
        assert "Operator code" in english.text
        japanese = await browser.get(
            "/dashboard/login", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}
        )
        assert '<html lang="ja">' in japanese.text
        assert '<h1 id="login-title">サインイン</h1>' in japanese.text
        assert english_words(visible_text(japanese.text), []) == []
        # A browser that asks for neither gets Japanese, the operators' own language.
        neither = await browser.get("/dashboard/login", headers={"Accept-Language": "fr-FR"})
        assert '<html lang="ja">' in neither.text

    async def test_the_switch_remembers_the_choice(self, browser: httpx.AsyncClient) -> None:
        japanese_browser = {"Accept-Language": "ja"}
        form = await browser.get("/dashboard/login", headers=japanese_browser)
        assert '<a href="/dashboard/login?lang=en" lang="en" hreflang="en">English</a>' in form.text
        chosen = await browser.get("/dashboard/login", params={"lang": "en"}, headers=japanese_browser)
        assert '<html lang="en">' in chosen.text
        cookie = next(c for c in chosen.headers.get_list("set-cookie") if c.startswith("bpo_lang="))
        assert cookie.startswith("bpo_lang=en;")
        assert "path=/dashboard" in cookie.lower()
        again = await browser.get("/dashboard/login", headers=japanese_browser)
        assert '<html lang="en">' in again.text
        assert 'aria-current="true">English</a>' in again.text
        # A failed sign-in answers in the chosen language too.
        refused = await sign_in(browser, "no-such-operator", "nobody@example.com", "wrong-password")
        assert refused.status_code == 401
        assert "Unknown tenant, email or password." in refused.text
        back = await browser.get("/dashboard/login", params={"lang": "ja"})
        assert '<html lang="ja">' in back.text
        refused = await sign_in(browser, "no-such-operator", "nobody@example.com", "wrong-password")
        assert "事業者コード、メールアドレス、またはパスワードが正しくありません。" in refused.text

    async def test_an_unknown_language_is_refused(self, browser: httpx.AsyncClient) -> None:
        response = await browser.get("/dashboard/login", params={"lang": "fr"})
        assert response.status_code == 400
        assert "bpo_lang=" not in response.headers.get("set-cookie", "")


class TestSignedIn:
    async def test_the_tenants_language_then_the_users_own(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime, with_email=True)
        # The browser asks for English; the account decides once signed in.
        browser.headers["Accept-Language"] = "en"
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        path = f"/dashboard/clients/{setup.customer['id']}"
        page = (await browser.get(path, params={"days": 30})).text
        start, _ = period(page)
        assert '<html lang="ja">' in page
        assert (
            f'直近30日間：<time datetime="{start}">{start.year}年{start.month}月{start.day}日</time>' in page  # noqa: RUF001
        )
        assert "初回応答 45秒以内" in page
        assert '目標 <data class="target" value="' in page
        assert ">サインアウト</button>" in page
        assert "日ごとの受付件数" in page  # a chart's title
        # The contracts' own names and codes are the client's words, as are the percentiles' names.
        names = re.findall(r'<h2 id="k\d-name">([^<]+)</h2>', page)
        codes = re.findall(r'<p class="muted">\s*([^ ]+) ·', page)
        data = [setup.customer["name"], *names, *codes, "p50", "p90", "p95"]
        leftover = english_words(visible_text(page), data)
        assert leftover == [], leftover

        viewer = headers_for((await login(client, setup.tenant.slug, setup.viewer_email))["access_token"])
        assert (await client.patch("/v1/me", json={"language": "en"}, headers=viewer)).status_code == 200
        browser.headers["Accept-Language"] = "ja"
        page = (await browser.get(path, params={"days": 30})).text
        assert '<html lang="en">' in page
        day = f"{start.day} {start:%B} {start.year}"
        assert f'Last 30 days: <time datetime="{start}">{day}</time>' in page
        assert "First response within 45 s" in page
        assert ">Sign out</button>" in page
        assert "年" not in visible_text(page)
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", visible_text(page))

    async def test_error_pages_speak_the_users_language(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        setup = await viewer_setup(client, runtime)
        await sign_in(browser, setup.tenant.slug, setup.viewer_email)
        missing = await browser.get("/dashboard/clients/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
        assert '<html lang="ja">' in missing.text
        assert "このダッシュボードは存在しないか、閲覧する権限がありません。" in missing.text
        await client.patch("/v1/tenant", json={"default_language": "en"}, headers=setup.tenant.admin)
        missing = await browser.get("/dashboard/clients/00000000-0000-0000-0000-000000000000")
        assert '<html lang="en">' in missing.text
        assert "There is no dashboard here, or it is not one you may see." in missing.text


@pytest.mark.slow
class TestOnAPhone:
    async def test_the_client_page_in_japanese_and_english(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        setup: Setup = await viewer_setup(client, runtime, with_email=True, with_desk=True)
        viewer = headers_for((await login(client, setup.tenant.slug, setup.viewer_email))["access_token"])
        async with Chromium(chromium_binary()) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, server.url, setup.tenant.slug, setup.viewer_email)
            for language in ("ja", "en"):
                await client.patch("/v1/me", json={"language": language}, headers=viewer)
                await page.goto(f"{server.url}/dashboard/clients/{setup.customer['id']}?days=30")
                assert await page.evaluate("document.documentElement.lang") == language
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"the {language} page is {overflow}px wider than a phone"
                # No heading or label is cut: every element's text fits in its box.
                clipped = await page.evaluate(
                    "[...document.querySelectorAll('h1, h2, h3, dt, dd, .status, .periods a, th')]"
                    ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"
                )
                assert clipped == [], clipped
                await page.screenshot(ARTIFACTS / f"dashboard-phone-{language}.png")
