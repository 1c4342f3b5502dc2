"""The demo operator's escalations: rules for Rakuten's contracts from its manifest, a short history recorded
once however often `bpo dev` starts, and the flow the demo is for: staff1 raises a critical escalation
through the API, Rakuten's viewer gets the mail, opens its link and acknowledges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import yaml

from bpo.core.runtime import Runtime
from bpo.onboarding.apply import apply_manifest
from bpo.onboarding.demo_activity import seed_activity
from bpo.onboarding.demo_escalations import HISTORY, seed_escalations
from bpo.settings import Settings
from tests.support.dashboard import csrf_of
from tests.support.escalations import link_path, notify, queued
from tests.support.factories import PASSWORD, get_ok, headers_for, login, post_ok
from tests.support.manifests import load
from tests.support.paths import DEMO_MANIFEST
from tests.support.redis_databases import demo_jobs_database

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_settings(settings: Settings) -> Iterator[Settings]:
    """The suite's database, and a Redis database no worker takes jobs from (the demo's jobs stay there)."""
    assert settings.redis_url
    url = demo_jobs_database(settings.redis_url)
    yield settings.model_copy(update={"redis_url": url})
    redis.Redis.from_url(url).flushdb()


async def as_user(client: httpx.AsyncClient, slug: str, email: str) -> dict[str, str]:
    return headers_for((await login(client, slug, email, PASSWORD))["access_token"])


async def test_rules_history_and_the_flow_the_demo_is_for(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    demo_settings: Settings,
) -> None:
    slug = f"de-{uuid.uuid4().hex[:10]}"
    data: dict[str, Any] = yaml.safe_load(DEMO_MANIFEST.read_text(encoding="utf-8"))
    data["tenant"]["slug"] = slug
    await apply_manifest(runtime, load(data), demo_password=PASSWORD)
    admin = await as_user(client, slug, "admin@demo.example")
    patrol = (await get_ok(client, "/v1/contracts", admin, limit=200))["items"]
    by_code = {c["code"]: c for c in patrol}
    rules = await get_ok(
        client, f"/v1/contracts/{by_code['RKT-RECIPE-PATROL']['id']}/escalation-rules", admin
    )
    assert rules["critical"]["acknowledge_within_minutes"] == 10
    assert "legal@rakuten.example" in rules["critical"]["extra_recipients"]

    demo_runtime = Runtime.create(demo_settings)
    try:
        await seed_activity(demo_runtime, slug, days=4)
        assert await seed_escalations(demo_runtime, slug) == len(HISTORY)
        assert await seed_escalations(demo_runtime, slug) == 0
    finally:
        await demo_runtime.close()
    viewer = await as_user(client, slug, "viewer-rakuten@demo.example")
    history = (await get_ok(client, "/v1/escalations", viewer))["items"]
    assert len(history) == len(HISTORY)
    assert {e["state"] for e in history} == {"resolved"}
    assert all(e["minutes_to_acknowledge"] is not None for e in history)
    assert any(e["work_item_external_id"] for e in history)
    assert (
        await get_ok(client, "/v1/escalations", await as_user(client, slug, "viewer-lancers@demo.example"))
    )["items"] == []

    staff1 = await as_user(client, slug, "staff1@demo.example")
    made = await post_ok(
        client,
        "/v1/escalations",
        {
            "severity": "critical",
            "contract_id": by_code["RKT-RECIPE-PATROL"]["id"],
            "reason": "コメント欄に第三者の個人情報が書き込まれています。",
            "recommended_action": "削除のご判断をお願いします。",
        },
        staff1,
    )
    assert made["acknowledge_within_minutes"] == 10
    tenant_id = uuid.UUID((await get_ok(client, "/v1/whoami", admin))["tenant_id"])
    await notify(runtime, settings, tenant_id, made["id"], "raised")
    told = {m.recipient: m for m in await queued(runtime, tenant_id)}
    assert sorted(told) == sorted(
        ["viewer-rakuten@demo.example", "recipe-moderation@rakuten.example", "legal@rakuten.example"]
    )
    mail = told["viewer-rakuten@demo.example"]
    assert mail.subject.startswith("【緊急】")
    page = await browser.get(link_path(mail.text_body))
    assert page.status_code == 200
    done = await browser.post(link_path(mail.text_body), data={"csrf_token": csrf_of(page)})
    assert done.status_code == 200
    found = await get_ok(client, f"/v1/escalations/{made['id']}", viewer)
    assert (found["state"], found["acknowledged_by"]) == ("acknowledged", "viewer-rakuten@demo.example")
