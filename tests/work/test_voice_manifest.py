"""A contract's voice categories in a tenant manifest: applied, read back by the API, planned again as
unchanged, exported as written, changed, and refused where they break a rule (every mistake at its path)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
import yaml

from bpo.core.errors import Conflict
from bpo.core.runtime import Runtime
from bpo.onboarding.apply import Action, acting_scope, apply_manifest, plan_manifest, tenant_id_of
from bpo.onboarding.inventory import export
from bpo.onboarding.manifest import dump_manifest, load_manifest
from tests.support.factories import PASSWORD, get_ok, headers_for, login, post_ok

CATEGORIES = [
    {"key": "praise", "label_ja": "レシピへの好評", "label_en": "Praise"},
    {"key": "bug_report", "label_ja": "アプリの不具合", "label_en": "App bug"},
    {"key": "recipe_content", "label_ja": "レシピ内容への指摘", "label_en": "Recipe content"},
]


def manifest(slug: str, categories: list[dict[str, str]] | None) -> dict[str, Any]:
    contract: dict[str, Any] = {
        "code": "RR-SOCIAL",
        "name": "Active support on social media",
        "service": "recipe",
        "work_type": "active_support",
        "start_date": "2026-01-01",
        "calendar": "ALWAYS",
        "status": "active",
        "rate_plan": {
            "charges": [{"kind": "fixed_monthly", "code": "base", "name": "Base", "amount": 80000}]
        },
    }
    if categories is not None:
        contract["voice_categories"] = categories
    return {
        "tenant": {"slug": slug, "name": "Voices K.K.", "demo": True},
        "users": [{"email": f"admin@{slug}.example", "role": "admin"}],
        "calendars": [
            {
                "code": "ALWAYS",
                "name": "24/365",
                "time_zone": "Asia/Tokyo",
                "holiday_country": "none",
                "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
            }
        ],
        "clients": [
            {
                "code": "RAKUTEN",
                "name": "Rakuten",
                "services": [{"code": "recipe", "name": "Rakuten Recipe"}],
                "contracts": [contract, {**contract, "code": "RR-PLAIN", "voice_categories": None}],
            }
        ],
    }


async def applied(runtime: Runtime, data: dict[str, Any]) -> Any:
    loaded, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))
    assert loaded is not None, problems
    return (await apply_manifest(runtime, loaded, demo_password=PASSWORD)).plan


async def test_categories_round_trip_through_a_manifest(client: httpx.AsyncClient, runtime: Runtime) -> None:
    slug = f"v-{uuid.uuid4().hex[:10]}"
    data = manifest(slug, CATEGORIES)
    await applied(runtime, data)
    admin = headers_for((await login(client, slug, f"admin@{slug}.example"))["access_token"])
    contracts = {c["code"]: c["id"] for c in (await get_ok(client, "/v1/contracts", admin))["items"]}
    own = await get_ok(client, f"/v1/contracts/{contracts['RR-SOCIAL']}/voice-categories", admin)
    assert (own["categories"], own["default"]) == (CATEGORIES, False)
    plain = await get_ok(client, f"/v1/contracts/{contracts['RR-PLAIN']}/voice-categories", admin)
    assert plain["default"] is True

    # Planned again: nothing to do; exported like the file.
    loaded, _ = load_manifest(yaml.safe_dump(data, allow_unicode=True))
    assert loaded is not None
    again = await plan_manifest(runtime, loaded)
    assert {c.action for c in again.changes} == {Action.UNCHANGED}
    tenant_id = await tenant_id_of(runtime, slug)
    assert tenant_id is not None
    async with runtime.db.tenant(tenant_id) as session:
        written = await export(session, await acting_scope(session, tenant_id))
    exported = yaml.safe_load(dump_manifest(written))
    contracts_out = {c["code"]: c for c in exported["clients"][0]["contracts"]}
    assert contracts_out["RR-SOCIAL"]["voice_categories"] == CATEGORIES
    assert "voice_categories" not in contracts_out["RR-PLAIN"]

    # A category in use cannot leave the list; a new list that keeps it applies, and only that changes.
    await post_ok(
        client,
        "/v1/voices",
        {"contract_id": contracts["RR-SOCIAL"], "text": "量が多すぎ", "category": "recipe_content"},
        admin,
    )
    shorter = copy.deepcopy(data)
    shorter["clients"][0]["contracts"][0]["voice_categories"] = CATEGORIES[:2]
    loaded, _ = load_manifest(yaml.safe_dump(shorter, allow_unicode=True))
    assert loaded is not None
    with pytest.raises(Conflict, match="recipe_content") as refused:
        await apply_manifest(runtime, loaded, demo_password=PASSWORD)
    assert refused.value.detail.startswith("clients[0].contracts[0]: ")
    assert "recipe_content (1 voice)" in refused.value.detail
    renamed = copy.deepcopy(data)
    renamed["clients"][0]["contracts"][0]["voice_categories"][0]["label_en"] = "Praise for recipes"
    plan = await applied(runtime, renamed)
    changed = {(c.kind, c.key): c.fields for c in plan.changes if c.action is Action.UPDATE}
    assert changed == {("contract", "RR-SOCIAL"): ("voice_categories",)}
    own = await get_ok(client, f"/v1/contracts/{contracts['RR-SOCIAL']}/voice-categories", admin)
    assert own["categories"][0]["label_en"] == "Praise for recipes"


def test_mistakes_are_named_at_their_path() -> None:
    data = manifest("mistakes", [*CATEGORIES, {"key": "praise", "label_ja": "重複", "label_en": "Again"}])
    data["clients"][0]["contracts"][1]["voice_categories"] = [
        {"key": "Bad Key", "label_ja": "x", "label_en": "x"}
    ]
    data["clients"][0]["contracts"].append(
        {**data["clients"][0]["contracts"][0], "code": "RR-EMPTY", "voice_categories": []}
    )
    loaded, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))
    assert loaded is None
    paths = {problem.path for problem in problems}
    assert "clients[0].contracts[0].voice_categories[3].key" in paths, problems
    assert "clients[0].contracts[1].voice_categories[0].key" in paths, problems
    assert "clients[0].contracts[2].voice_categories" in paths, problems
