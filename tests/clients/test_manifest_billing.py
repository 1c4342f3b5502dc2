"""What a manifest says about billing: the issuer's address and bank account (tenant.issuer), each client's
tax class, and rate plans with meters, surcharges and charges of their own tax class. Applied, read back
through the API, exported and planned again with nothing to do; mistakes found with their paths."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import yaml

from bpo.core.runtime import Runtime
from bpo.onboarding.apply import Action, acting_scope, apply_manifest, plan_manifest, tenant_id_of
from bpo.onboarding.inventory import export
from bpo.onboarding.manifest import dump_manifest, load_manifest
from bpo.settings import Settings
from tests.support.factories import PASSWORD, get_ok, headers_for, login
from tests.support.manifests import dump, load

ISSUER: dict[str, Any] = {
    "address": {
        "postal_code": "150-0002",
        "lines": ["東京都渋谷区渋谷2-21-1", "ヒカリエ 30F"],
        "phone": "03-1234-5678",
    },
    "bank_account": {
        "bank_name": "三井住友銀行",
        "branch_name": "渋谷支店",
        "account_type": "checking",
        "account_number": "7654321",
        "account_holder": "マニフェストオペレーター(カ",
    },
}


def billing_manifest(slug: str) -> dict[str, Any]:
    return {
        "tenant": {"slug": slug, "name": "Billing Operator K.K.", "issuer": ISSUER, "demo": True},
        "users": [{"email": f"admin@{slug}.example", "role": "admin"}],
        "calendars": [
            {
                "code": "ALWAYS",
                "name": "24/365",
                "time_zone": "Asia/Tokyo",
                "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
                "holiday_country": "none",
            }
        ],
        "clients": [
            {
                "code": "ABROAD",
                "name": "Abroad Inc.",
                "tax_class": "exempt",
                "services": [{"code": "app", "name": "App"}],
                "contracts": [
                    {
                        "code": "ABR-PATROL",
                        "name": "Patrol",
                        "service": "app",
                        "work_type": "patrol",
                        "start_date": "2026-04-01",
                        "calendar": "ALWAYS",
                        "status": "active",
                        "rate_plan": {
                            "charges": [
                                {"kind": "per_unit", "code": "posts", "name": "Posts", "unit_price": 8},
                                {
                                    "kind": "per_unit",
                                    "code": "images",
                                    "name": "Images",
                                    "unit_price": 12,
                                    "meter": "images",
                                },
                                {
                                    "kind": "fixed_monthly",
                                    "code": "digest",
                                    "name": "Printed digest",
                                    "amount": 5000,
                                    "tax_class": "reduced",
                                },
                            ],
                            "meters": [
                                {"code": "images", "name": "Images", "kinds": ["image"], "event": "received"}
                            ],
                            "surcharges": [
                                {
                                    "code": "night",
                                    "name": "Night",
                                    "window": "night",
                                    "charges": ["posts", "images"],
                                    "multiplier": 1.25,
                                },
                                {
                                    "code": "holiday",
                                    "name": "Holiday",
                                    "window": "holiday",
                                    "charges": ["posts"],
                                    "holiday_country": "JP",
                                    "unit_price": 2,
                                },
                            ],
                        },
                    }
                ],
            }
        ],
    }


def new_slug() -> str:
    return f"mb-{uuid.uuid4().hex[:10]}"


async def admin_of(client: httpx.AsyncClient, slug: str) -> dict[str, str]:
    return headers_for((await login(client, slug, f"admin@{slug}.example", PASSWORD))["access_token"])


class TestApplyAndExport:
    async def test_applied_read_back_exported_and_planned_again_with_nothing_to_do(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(billing_manifest(slug)), demo_password=PASSWORD)
        admin = await admin_of(client, slug)

        issuer = await get_ok(client, "/v1/billing/issuer", admin)
        assert {k: issuer[k] for k in ("address", "bank_account")} == ISSUER
        [abroad] = (await get_ok(client, "/v1/clients", admin))["items"]
        assert abroad["tax_class"] == "exempt"
        [contract] = (await get_ok(client, "/v1/contracts", admin))["items"]
        [plan] = await get_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", admin)
        declared = billing_manifest(slug)["clients"][0]["contracts"][0]["rate_plan"]
        assert [(m["code"], m["event"], m["kinds"]) for m in plan["meters"]] == [
            ("images", "received", ["image"])
        ]
        assert [s["code"] for s in plan["surcharges"]] == [s["code"] for s in declared["surcharges"]]
        assert [(c["code"], c.get("meter"), c["tax_class"]) for c in plan["charges"]] == [
            ("posts", None, None),
            ("images", "images", None),
            ("digest", None, "reduced"),
        ]

        tenant_id = await tenant_id_of(runtime, slug)
        assert tenant_id is not None
        before = await dump(settings, slug)
        async with runtime.db.tenant(tenant_id) as session:
            exported = await export(session, await acting_scope(session, tenant_id))
        text = dump_manifest(exported)
        assert "issuer:" in text
        assert "tax_class: exempt" in text
        manifest, problems = load_manifest(text)
        assert manifest is not None, problems
        assert manifest == exported
        assert manifest.tenant.issuer == load(billing_manifest(slug)).tenant.issuer
        plan_again = await plan_manifest(runtime, manifest)
        assert plan_again.errors == []
        assert {c.action for c in plan_again.changes} == {Action.UNCHANGED}
        await apply_manifest(runtime, manifest, demo_password=PASSWORD)
        assert await dump(settings, slug) == before

    async def test_a_new_address_and_no_bank_account_apply_as_an_update(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(billing_manifest(slug)), demo_password=PASSWORD)
        changed = billing_manifest(slug)
        changed["tenant"]["issuer"] = {
            "address": {"postal_code": "100-0005", "lines": ["東京都千代田区丸の内1-1-1"]}
        }

        planned = await plan_manifest(runtime, load(changed))
        [tenant] = [c for c in planned.changes if c.kind == "tenant"]
        assert (tenant.action, tenant.fields) == (Action.UPDATE, ("issuer",))
        await apply_manifest(runtime, load(changed), demo_password=PASSWORD)

        issuer = await get_ok(client, "/v1/billing/issuer", await admin_of(client, slug))
        assert issuer["address"] == {
            "postal_code": "100-0005",
            "lines": ["東京都千代田区丸の内1-1-1"],
            "phone": None,
        }
        assert issuer["bank_account"] is None


class TestMistakes:
    def test_each_mistake_is_reported_at_its_path(self) -> None:
        data = billing_manifest(new_slug())
        broken = copy.deepcopy(data)
        broken["tenant"]["issuer"]["bank_account"]["account_number"] = "12-3456"
        client = broken["clients"][0]
        client["tax_class"] = "overseas"
        plan = client["contracts"][0]["rate_plan"]
        plan["meters"][0]["event"] = "closed"
        plan["charges"][0]["tax_class"] = "zero"
        # The 24/365 calendar observes no holidays: a holiday surcharge names a country.
        del plan["surcharges"][1]["holiday_country"]
        # 04:00-06:00 meets 22:00-05:00 on posts.
        plan["surcharges"].append(
            {
                "code": "dawn",
                "name": "Dawn",
                "window": "night",
                "start": "04:00",
                "end": "06:00",
                "charges": ["posts"],
                "unit_price": 1,
            }
        )

        manifest, errors = load_manifest(yaml.safe_dump(broken, allow_unicode=True))

        # Every mistake in one pass: the types, and the rules beyond them.
        assert manifest is None
        rate_plan = "clients[0].contracts[0].rate_plan"
        assert sorted(e.path for e in errors) == sorted(
            [
                "tenant.issuer.bank_account.account_number",
                "clients[0].tax_class",
                f"{rate_plan}.meters[0].event",
                f"{rate_plan}.charges[0].tax_class",
                f"{rate_plan}.surcharges[1].holiday_country",
                f"{rate_plan}.surcharges[2].start",
            ]
        ), errors
