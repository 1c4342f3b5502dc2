"""Users' voices on the client dashboard: a section per contract that heard any (counts by sentiment and
topic against the period before, the topics rising, the quotes the operator picked out), the same figures
as GET /v1/clients/{id}/voices/summary, in Japanese and English, at phone width, in Chromium."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import sign_in, sign_in_on_page
from tests.support.factories import (
    TenantHandle,
    create_tenant,
    create_user,
    get_ok,
    headers_for,
    login,
    post_ok,
)
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread
from tests.support.sla import BASE_FEE, chat_contract

TOKYO = ZoneInfo("Asia/Tokyo")
BUG = "アップデート後、写真付きのつくれぽが送れません"
PRAISE = "肉じゃがのレシピ、家族に大好評でした"

READ_VOICES = """(() => [...document.querySelectorAll('[data-contract-id]')].map(card => {
  const section = card.querySelector('[data-voices]');
  if (!section) return {contract: card.dataset.contractId, voices: null};
  const value = selector => section.querySelector(selector).value;
  return {
    contract: card.dataset.contractId,
    voices: {
      heading: section.querySelector('h3').textContent.trim(),
      total: value('data.voice-total'),
      positive: value('data.voice-positive'),
      neutral: value('data.voice-neutral'),
      negative: value('data.voice-negative'),
      previous: value('data.voice-previous'),
      rising: section.querySelector('.rising') && section.querySelector('.rising').dataset.rising,
      risingText: section.querySelector('.rising') && section.querySelector('.rising').textContent.trim(),
      topics: [...section.querySelectorAll('tr[data-category]')].map(row => [
        row.dataset.category, row.querySelector('th').textContent.trim(),
        row.querySelector('data.voice-count').value, row.cells[2].textContent.trim(),
      ]),
      quotes: [...section.querySelectorAll('.quotes blockquote')].map(quote => quote.textContent.trim()),
      links: [...section.querySelectorAll('.quotes a')].map(link => link.href),
    },
  };
}))()"""


def days_ago(days: int, clock: str = "12:00") -> str:
    day = datetime.now(TOKYO).date() - timedelta(days=days)
    return f"{day.isoformat()}T{clock}:00+09:00"


async def voiced_client(client: httpx.AsyncClient) -> tuple[TenantHandle, dict[str, Any], str, str, str]:
    """A Tokyo client with a chat contract that heard six voices in the last 30 days and five in the 30
    before, a second contract that heard none, and a viewer."""
    tenant = await create_tenant(client)
    chat = await chat_contract(client, tenant)
    customer, contract = chat["client"], chat["contract"]["id"]
    quiet = await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": chat["contract"]["service_id"],
            "code": f"MAIL-{uuid.uuid4().hex[:6]}",
            "name": "Email support",
            "work_type": "email_support",
            "start_date": "2026-01-01",
            "calendar_id": chat["contract"]["calendar_id"],
        },
        tenant.admin,
    )
    await post_ok(client, f"/v1/contracts/{quiet['id']}/rate-plans", BASE_FEE, tenant.admin)
    await post_ok(client, f"/v1/contracts/{quiet['id']}/transitions", {"status": "active"}, tenant.admin)
    said = [
        (BUG, "bug_report", "negative", days_ago(1), True, None),
        ("検索結果が真っ白になります", "bug_report", "negative", days_ago(2), False, None),
        ("ログインできない", "bug_report", "negative", days_ago(3), False, None),
        (PRAISE, "praise", "positive", days_ago(5), True, "https://x.com/cook/status/1866000000000000000"),
        ("毎日の献立に助かっています", "praise", "positive", days_ago(5, "18:00"), False, None),
        ("冷蔵庫の材料で探したい", "feature_request", "neutral", days_ago(10), False, None),
        *[("見やすいアプリ", "praise", "positive", days_ago(40), n == 0, None) for n in range(4)],
        ("ダークモードがほしい", "feature_request", "neutral", days_ago(35), False, None),
    ]
    for text, category, sentiment, observed, highlighted, source in said:
        body: dict[str, Any] = {
            "contract_id": contract,
            "text": text,
            "category": category,
            "sentiment": sentiment,
            "observed_at": observed,
            "highlighted": highlighted,
            "channel": "x",
        }
        if source:
            body["source_url"] = source
        await post_ok(client, "/v1/voices", body, tenant.admin)
    email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    await create_user(client, tenant, role="client_viewer", client_id=uuid.UUID(customer["id"]), email=email)
    return tenant, customer, contract, quiet["id"], email


async def test_the_section_is_there_only_for_a_contract_with_voices(
    client: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    tenant, customer, contract, quiet, email = await voiced_client(client)
    assert (await sign_in(browser, tenant.slug, email)).status_code == 303
    page = await browser.get(f"/dashboard/clients/{customer['id']}?days=30")
    assert page.status_code == 200
    assert page.text.count("data-voices") == 1
    cards = page.text.split("data-contract-id=")
    voiced = next(card for card in cards if card.startswith(f'"{contract}"'))
    assert "data-voices" in voiced
    assert "ユーザーの声" in voiced
    assert BUG in voiced
    assert next(card for card in cards if card.startswith(f'"{quiet}"')).count("data-voices") == 0
    # Over the last 7 days: the three bug reports and two praises; the request is older.
    week = await browser.get(f"/dashboard/clients/{customer['id']}?days=7")
    assert '<data class="voice-total" value="5">5</data>' in week.text


@pytest.mark.slow
async def test_a_viewer_reads_the_voices_in_japanese_and_english(
    client: httpx.AsyncClient, server: ServerThread
) -> None:
    binary = chromium_binary()
    tenant, customer, contract, quiet, email = await voiced_client(client)
    viewer = headers_for((await login(client, tenant.slug, email))["access_token"])
    started = time.monotonic()
    async with Chromium(binary) as chromium:
        page = await chromium.page()
        await page.set_viewport(390, 844, mobile=True)
        await sign_in_on_page(page, server.url, tenant.slug, email)
        for language in ("ja", "en"):
            response = await client.patch("/v1/me", json={"language": language}, headers=viewer)
            assert response.status_code == 200, response.text
            await page.goto(f"{server.url}/dashboard/clients/{customer['id']}?days=30")
            assert await page.evaluate("document.documentElement.lang") == language
            period = await page.evaluate("Object.values(document.querySelector('.period').dataset)")
            summary = await get_ok(
                client, f"/v1/clients/{customer['id']}/voices/summary", viewer, start=period[0], end=period[1]
            )
            [figures] = summary["contracts"]
            shown = {card["contract"]: card["voices"] for card in await page.evaluate(READ_VOICES)}
            assert shown[quiet] is None
            voices = shown[contract]
            assert (voices["total"], voices["previous"]) == (
                str(figures["total"]),
                str(figures["previous_total"]),
            )
            assert (voices["total"], voices["previous"]) == ("6", "5")
            sentiments = figures["sentiments"]
            assert (voices["positive"], voices["neutral"], voices["negative"]) == tuple(
                str(sentiments[name]) for name in ("positive", "neutral", "negative")
            )
            labels = {line["key"]: line[f"label_{language}"] for line in figures["categories"]}
            assert voices["topics"] == [
                [line["key"], labels[line["key"]], str(line["total"]), str(line["previous_total"])]
                for line in figures["categories"]
                if line["total"] or line["previous_total"]
            ]
            assert [row[0] for row in voices["topics"]] == ["praise", "bug_report", "feature_request"]
            assert voices["rising"] == "bug_report" == " ".join(figures["trending_up"])
            assert voices["quotes"] == [v["text"] for v in figures["highlighted"]] == [BUG, PRAISE]
            assert voices["links"] == ["https://x.com/cook/status/1866000000000000000"]
            if language == "ja":
                assert voices["heading"] == "ユーザーの声"
                assert "前の30日間より増えた分類" in voices["risingText"]
                assert "不具合の報告" in voices["risingText"]
            else:
                assert voices["heading"] == "What users said"
                assert voices["risingText"].endswith("More than in the previous 30 days: Bug report")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the {language} page is {overflow}px wider than a phone"
            clipped = await page.evaluate(
                "[...document.querySelectorAll('[data-voices] :is(h3, h4, dt, dd, th, td, blockquote)')]"
                ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim())"
            )
            assert clipped == [], clipped
            await page.evaluate("document.querySelector('[data-voices]').scrollIntoView()")
            await page.screenshot(ARTIFACTS / f"voices-phone-{language}.png")
        await page.set_viewport(1280, 900, mobile=False)
        await page.goto(f"{server.url}/dashboard/clients/{customer['id']}?days=30")
        await page.screenshot(ARTIFACTS / "voices-desktop-en.png")
        assert page.console_errors() == []
    print(f"\nchromium run {time.monotonic() - started:.1f}s; screenshots in {ARTIFACTS}")
