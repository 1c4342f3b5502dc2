"""Staff in tenant manifests: the demo operator's people are created with their logins, sites and
contracts, a second apply changes nothing, edits are planned as updates, mistakes are reported with their
paths, and export writes the staff back; likewise who approves claims of a contract's open shifts."""

from __future__ import annotations

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
from tests.support.paths import DEMO_MANIFEST


def demo(slug: str) -> dict[str, Any]:
    """The demo operator's manifest under another slug (and its logins under that slug's domain)."""
    data: dict[str, Any] = yaml.safe_load(DEMO_MANIFEST.read_text(encoding="utf-8"))
    data["tenant"]["slug"] = slug
    return data


def new_slug() -> str:
    return f"st-{uuid.uuid4().hex[:10]}"


class TestDemoStaff:
    async def test_the_demo_staff_are_created_linked_and_reapplied_without_a_change(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        slug = new_slug()
        data = demo(slug)
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        before = await dump(settings, slug)

        again = await plan_manifest(runtime, load(data))
        applied = await apply_manifest(runtime, load(data), demo_password=PASSWORD)

        assert {c.action for c in again.changes} == {Action.UNCHANGED}
        declared = len(data["staff"])
        assert declared > 100
        assert [c.kind for c in applied.plan.changes].count("staff") == declared
        assert await dump(settings, slug) == before
        admin = headers_for((await login(client, slug, "admin@demo.example"))["access_token"])
        people = {p["code"]: p for p in (await get_ok(client, "/v1/staff", admin, limit=200))["items"]}
        assert len(people) == declared
        assert {p["home_zone"] for p in people.values()} == {
            "Asia/Tokyo",
            "Europe/London",
            "America/Argentina/Buenos_Aires",
        }
        sites = {s["code"]: s["id"] for s in (await get_ok(client, "/v1/sites", admin))["items"]}
        stationed = [p["code"] for p in people.values() if sites["RAKUTEN-CRIMSON"] in p["site_ids"]]
        assert sorted(stationed) == ["ST-003", "ST-007", "ST-176"]
        contracts = {c["code"]: c for c in (await get_ok(client, "/v1/contracts", admin))["items"]}
        eureka = {c["id"] for c in contracts.values() if c["code"].startswith("EUR-")}
        assert set(people["ST-009"]["excluded_contract_ids"]) == eureka
        # The existing demo login sees the profile linked to it, and only that one.
        hana = headers_for((await login(client, slug, "staff1@demo.example"))["access_token"])
        mine = await get_ok(client, "/v1/staff", hana)
        assert [p["code"] for p in mine["items"]] == ["ST-001"]
        me = await get_ok(client, "/v1/me", hana)
        assert me["user"]["staff_id"] == people["ST-001"]["id"]

    async def test_edits_are_planned_as_updates_and_export_writes_the_staff_back(
        self, runtime: Runtime
    ) -> None:
        slug = new_slug()
        data = demo(slug)
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        ewan = next(p for p in data["staff"] if p["code"] == "ST-004")
        ewan["weekly_hour_cap"] = 30
        ewan["sites"] = ["TOKYO-HQ"]
        ewan["max_consecutive_days"] = 5
        ewan["monthly_overtime_hours"] = 30
        data["staff"].append(
            {"code": "ST-099", "display_name": "New Hire", "home_zone": "Asia/Tokyo", "country": "JP"}
        )

        plan = await plan_manifest(runtime, load(data))
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)

        changed = {c.key: (c.action, c.fields) for c in plan.changes if c.kind == "staff" and c.fields}
        assert list(changed) == ["ST-004"]
        assert changed["ST-004"][0] is Action.UPDATE
        assert set(changed["ST-004"][1]) == {
            "sites",
            "weekly_hour_cap",
            "max_consecutive_days",
            "monthly_overtime_hours",
        }
        assert [c.action for c in plan.changes if c.key == "ST-099"] == [Action.CREATE]
        tenant_id = await tenant_id_of(runtime, slug)
        assert tenant_id is not None
        async with runtime.db.tenant(tenant_id) as session:
            exported = await export(session, await acting_scope(session, tenant_id))
        by_code = {p.code: p for p in exported.staff}
        assert (by_code["ST-004"].weekly_hour_cap, by_code["ST-004"].sites) == (30, ["TOKYO-HQ"])
        limits = by_code["ST-004"]
        assert (limits.max_consecutive_days, limits.monthly_overtime_hours, limits.yearly_overtime_hours) == (
            5,
            30,
            None,
        )
        assert by_code["ST-001"].user == "staff1@demo.example"
        assert by_code["ST-009"].excluded_contracts == [
            "EUR-PAIRS-PATROL",
            "EUR-PAIRS-REPORTS",
            "EUR-PAIRS-EMAIL",
        ]
        replan = await plan_manifest(runtime, exported)
        assert {c.action for c in replan.changes} == {Action.UNCHANGED}


class TestStaffMistakes:
    def test_every_mistake_is_reported_at_its_path(self) -> None:
        data = demo(new_slug())
        data["staff"][0]["home_zone"] = "Asia/Sapporo"
        data["staff"][1]["sites"] = ["OSAKA"]
        data["staff"][2]["trained_contracts"] = ["NOPE"]
        data["staff"][3]["user"] = "viewer-rakuten@demo.example"
        data["staff"][4]["user"] = "nobody@demo.example"
        data["staff"][5]["code"] = data["staff"][6]["code"]
        data["staff"][7]["skills"] = ["patrol"]
        data["staff"][8]["country"] = "UK"
        data["staff"][9]["max_consecutive_days"] = 0

        manifest, problems = load_manifest(yaml.safe_dump(data))

        assert manifest is None
        assert {(p.path, p.message.split(":")[0].split(" (")[0]) for p in problems} >= {
            ("staff[0].home_zone", "'Asia/Sapporo' is not an IANA time zone"),
            ("staff[1].sites[0]", "no site 'OSAKA' in this file"),
            ("staff[2].trained_contracts[0]", "no contract 'NOPE' in this file"),
            ("staff[3].user", "a client viewer cannot be staff"),
            ("staff[4].user", "no user 'nobody@demo.example' in this file"),
            ("staff[6].code", f"staff code '{data['staff'][6]['code']}' appears twice"),
            ("staff[8].country", "'UK' is not an ISO 3166-1 alpha-2 code"),
        }
        assert any(p.path.startswith("staff[7].skills[0]") for p in problems)
        assert any(p.path == "staff[9].max_consecutive_days" for p in problems)


def contract_in(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for client in data["clients"] for c in client["contracts"] if c["code"] == code)


class TestOpenShiftApproval:
    async def test_declared_per_contract_applied_exported_and_planned_as_unchanged(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        slug = new_slug()
        data = demo(slug)
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        admin = headers_for((await login(client, slug, "admin@demo.example"))["access_token"])

        async def approvals() -> dict[str, str]:
            listed = (await get_ok(client, "/v1/contracts", admin, limit=200))["items"]
            return {c["code"]: c["open_shift_approval"] for c in listed}

        # The demo's chat team takes claims at once; every other contract, staff1's included, waits for a
        # supervisor.
        declared = await approvals()
        assert {code for code, approval in declared.items() if approval == "auto"} == {"LAN-CHAT"}
        assert declared["EUR-PAIRS-PATROL"] == "supervisor"

        contract_in(data, "EUR-PAIRS-REPORTS")["open_shift_approval"] = "auto"
        del contract_in(data, "LAN-CHAT")["open_shift_approval"]
        plan = await plan_manifest(runtime, load(data))
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)

        assert plan.errors == []
        updates = {c.key: c.fields for c in plan.changes if c.action is Action.UPDATE}
        assert updates == {
            "EUR-PAIRS-REPORTS": ("open_shift_approval",),
            "LAN-CHAT": ("open_shift_approval",),
        }
        changed = await approvals()
        assert (changed["EUR-PAIRS-REPORTS"], changed["LAN-CHAT"]) == ("auto", "supervisor")
        tenant_id = await tenant_id_of(runtime, slug)
        assert tenant_id is not None
        async with runtime.db.tenant(tenant_id) as session:
            exported = await export(session, await acting_scope(session, tenant_id))
        contracts = [c for declared_client in exported.clients for c in declared_client.contracts]
        written = {c.code: c.open_shift_approval.value for c in contracts}
        assert written == changed
        # Only where it differs from the default does the file say it.
        text = dump_manifest(exported)
        assert text.count("open_shift_approval:") == 1
        assert "open_shift_approval: auto" in text
        replan = await plan_manifest(runtime, exported)
        assert {c.action for c in replan.changes} == {Action.UNCHANGED}

    def test_a_value_it_does_not_know_is_reported_at_its_path(self) -> None:
        data = demo(new_slug())
        contract_in(data, "LAN-CHAT")["open_shift_approval"] = "sometimes"

        manifest, problems = load_manifest(yaml.safe_dump(data))

        assert manifest is None
        [problem] = problems
        lancers = next(i for i, c in enumerate(data["clients"]) if c["code"] == "LANCERS")
        chat = next(i for i, c in enumerate(data["clients"][lancers]["contracts"]) if c["code"] == "LAN-CHAT")
        assert problem.path == f"clients[{lancers}].contracts[{chat}].open_shift_approval"
        assert "'sometimes'" in problem.message
        assert "supervisor" in problem.message
        assert "auto" in problem.message
