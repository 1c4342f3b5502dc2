"""The weekly client report's users' voices: counts by category against the week before and the highlighted
quotes, the same figures as GET /v1/clients/{id}/voices/summary, in the report's JSON, page, PDF and mail,
in Japanese and in English."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from bpo.reports import document, schemas
from tests.support.factories import TenantHandle, create_client, create_tenant, get_ok, post_ok
from tests.support.pdf import pdf_text, require_pdf
from tests.support.sla import sla_contract

JST = "+09:00"
WEEK = ("2026-11-16", "2026-11-22")  # 2026-W47
QUOTE = "アップデート後、つくれぽの写真が投稿できません"
PRAISE = "肉じゃがのレシピが家族に大好評でした"
CATEGORIES = [
    {"key": "praise", "label_ja": "レシピへの好評", "label_en": "Praise for recipes"},
    {"key": "bug_report", "label_ja": "アプリの不具合", "label_en": "App bug"},
]
ONE_HOUR = [{"metric": "first_response", "threshold": "1h", "target_percent": 90, "clock": "calendar"}]


async def voiced_client(client: httpx.AsyncClient, language: str) -> tuple[TenantHandle, dict[str, Any], str]:
    """A client whose one contract heard four voices in 2026-W47 (three bug reports, one praise) and two
    praises the week before; one bug report and the praise of W47 highlighted, one praise of W46 too."""
    tenant = await create_tenant(client)
    customer = await create_client(client, tenant, time_zone="Asia/Tokyo", name="楽天レシピ")
    made = await sla_contract(
        client, tenant, objectives=ONE_HOUR, customer=customer, name="SNSアクティブサポート"
    )
    contract = made["contract"]["id"]
    h = tenant.admin
    response = await client.put(
        f"/v1/contracts/{contract}/voice-categories", json={"categories": CATEGORIES}, headers=h
    )
    assert response.status_code == 200, response.text
    voices = [
        (QUOTE, "bug_report", "negative", "2026-11-17T10:00:00", True),
        ("検索結果が表示されない", "bug_report", "negative", "2026-11-18T10:00:00", False),
        ("ログインできません", "bug_report", None, "2026-11-22T23:30:00", False),
        (PRAISE, "praise", "positive", "2026-11-19T20:00:00", True),
        ("毎日の献立に助かっています", "praise", "positive", "2026-11-10T12:00:00", True),
        ("レシピが見やすい", "praise", "positive", "2026-11-11T12:00:00", False),
    ]
    for text, category, sentiment, observed, highlighted in voices:
        body = {"contract_id": contract, "text": text, "category": category, "observed_at": observed + JST}
        body |= {"highlighted": highlighted} | ({"sentiment": sentiment} if sentiment else {})
        await post_ok(client, "/v1/voices", body, h)
    await post_ok(
        client,
        f"/v1/clients/{customer['id']}/report-subscriptions",
        {"cadence": "weekly", "weekday": 1, "send_at": "09:00", "language": language},
        h,
    )
    return tenant, customer, contract


async def make(client: httpx.AsyncClient, tenant: TenantHandle, customer: dict[str, Any]) -> dict[str, Any]:
    body = {"client_id": customer["id"], "period": "2026-W47", "send": False}
    return await post_ok(client, "/v1/reports", body, tenant.admin)


class TestVoiceSection:
    async def test_the_weeks_voices_are_the_summarys(self, client: httpx.AsyncClient) -> None:
        tenant, customer, contract = await voiced_client(client, "ja")
        report = await make(client, tenant, customer)
        [section] = report["contracts"]
        voices = section["voices"]
        assert (voices["total"], voices["previous_total"]) == (4, 2)
        assert (voices["positive"], voices["neutral"], voices["negative"], voices["unrated"]) == (1, 0, 2, 1)
        assert [(c["key"], c["total"], c["previous_total"], c["trend"]) for c in voices["categories"]] == [
            ("praise", 1, 2, "flat"),
            ("bug_report", 3, 0, "up"),
        ]
        assert (voices["rising_ja"], voices["rising_en"]) == (["アプリの不具合"], ["App bug"])
        # This week's highlighted voices, newest first; last week's is not among them.
        assert [q["text"] for q in voices["highlighted"]] == [PRAISE, QUOTE]
        assert voices["highlighted"][1]["category_ja"] == "アプリの不具合"

        summary = await get_ok(
            client, f"/v1/clients/{customer['id']}/voices/summary", tenant.admin, start=WEEK[0], end=WEEK[1]
        )
        [figures] = summary["contracts"]
        assert figures["contract_id"] == contract
        assert (figures["total"], figures["previous_total"]) == (voices["total"], voices["previous_total"])
        assert [line["total"] for line in figures["categories"]] == [c["total"] for c in voices["categories"]]
        assert [v["text"] for v in figures["highlighted"]] == [q["text"] for q in voices["highlighted"]]

        page = await client.get(f"/v1/reports/{report['id']}/html", headers=tenant.admin)
        assert page.status_code == 200
        assert "ユーザーの声" in page.text
        assert '<b class="voice-total">4</b>件の声' in page.text
        assert '<p class="rising">▲ 前の期間より増えた分類' in page.text
        assert QUOTE in page.text
        assert PRAISE in page.text
        assert (
            '<tr data-category="bug_report"><td>アプリの不具合</td><td>3 ▲</td><td>0</td><td>2</td></tr>'
            in page.text
        )

        mail = document.render_mail(
            msgspec.convert(report, schemas.Report),
            report_url="https://ops.example/r",
            public_url="",
            attached=True,
        )
        assert "ユーザーの声: 4件の声" in mail.text
        assert f"> {QUOTE}" in mail.text
        assert QUOTE in mail.html

    async def test_the_pdf_quotes_the_highlighted_voices(self, client: httpx.AsyncClient) -> None:
        require_pdf()
        tenant, customer, _ = await voiced_client(client, "ja")
        report = await make(client, tenant, customer)
        response = await client.get(f"/v1/reports/{report['id']}/pdf", headers=tenant.admin)
        assert response.status_code == 200
        text = pdf_text(response.content).replace("\n", "")
        assert "ユーザーの声" in text, text[:800]
        assert "4件の声" in text, text[:800]
        assert QUOTE in text, text[:800]
        assert PRAISE in text, text[:800]

    async def test_in_english(self, client: httpx.AsyncClient) -> None:
        tenant, customer, _ = await voiced_client(client, "en")
        report = await make(client, tenant, customer)
        page = await client.get(f"/v1/reports/{report['id']}/html", headers=tenant.admin)
        assert "What users said" in page.text
        assert '<b class="voice-total">4</b> voices' in page.text
        assert "More than in the previous period: App bug" in page.text
        assert "Picked out by our team" in page.text
        assert "<td>Praise for recipes</td>" in page.text

    @pytest.mark.parametrize("language", ["ja", "en"])
    async def test_a_contract_without_voices_has_no_section(
        self, client: httpx.AsyncClient, language: str
    ) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant, time_zone="Asia/Tokyo")
        await sla_contract(client, tenant, objectives=ONE_HOUR, customer=customer)
        await post_ok(
            client,
            f"/v1/clients/{customer['id']}/report-subscriptions",
            {"cadence": "weekly", "weekday": 1, "send_at": "09:00", "language": language},
            tenant.admin,
        )
        report = await make(client, tenant, customer)
        assert report["contracts"][0]["voices"] is None
        page = await client.get(f"/v1/reports/{report['id']}/html", headers=tenant.admin)
        assert "data-voices" not in page.text
