"""Declarative onboarding: ``bpo tenants apply`` / ``export`` / ``schema`` run as operators run them (a
subprocess pointed at the test database), the engine called directly where that is quicker, and the API
reading back what a manifest declared."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from pydantic import SecretStr

from bpo.clients import schemas
from bpo.core.runtime import Runtime
from bpo.core.scope import Role
from bpo.onboarding.apply import (
    Action,
    ManifestRejected,
    acting_scope,
    apply_manifest,
    plan_manifest,
    tenant_id_of,
)
from bpo.onboarding.demo import load_demo
from bpo.onboarding.inventory import export
from bpo.onboarding.manifest import (
    ManifestError,
    dump_manifest,
    load_manifest,
    manifest_json_schema,
)
from bpo.settings import Settings
from tests.support.factories import PASSWORD, get_ok, headers_for, login
from tests.support.manifests import dump, load
from tests.support.paths import DEMO_MANIFEST, REPO
from tests.support.processes import BPO, command_env

PLAN_LINE = re.compile(
    r"^(?P<symbol>[+~=]) (?P<action>create|update|unchanged) +"
    r"(?P<kind>tenant|calendar|client|site|service|contract|SLA policy|rate plan|user) +"
    r"(?P<key>\S+(?: from \S+)?)(?:  \((?P<fields>.*)\))?$"
)


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return command_env(settings, BPO_DEMO_PASSWORD=PASSWORD)


@pytest.fixture
def bpo(cli_env: dict[str, str], tmp_path: Path) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BPO), *args],
            env=cli_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    return run


def write(tmp_path: Path, data: dict[str, Any], name: str = "tenant.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def plan_of(stdout: str) -> dict[str, tuple[str, str]]:
    """The plan lines as ``{"contract LAN-EMAIL": ("update", "name")}``."""
    plan = {}
    for line in stdout.splitlines():
        match = PLAN_LINE.match(line)
        if match:
            plan[f"{match['kind']} {match['key']}"] = (match["action"], match["fields"] or "")
    return plan


def next_month() -> str:
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1).isoformat()


def rich(slug: str, *, demo: bool = True) -> dict[str, Any]:
    """Two clients, three services, three contracts (one staffed 08:00-25:30, onsite, with objectives and
    a tiered plan; one draft; one with a volume plan), two sites, two calendars, three users."""
    return {
        "tenant": {
            "slug": slug,
            "name": "Manifest Operator K.K.",
            "invoice_registration_number": "T1234567890123",
            "demo": demo,
        },
        "users": [
            {"email": f"admin@{slug}.example", "role": "admin", "full_name": "Ada Admin"},
            {"email": f"Manager@{slug}.example", "role": "account_manager", "full_name": "Aiko Manager"},
            {"email": f"viewer@{slug}.example", "role": "client_viewer", "client": "LANCERS"},
        ],
        "sites": [
            {
                "code": "TOKYO",
                "name": "Tokyo office",
                "kind": "own",
                "time_zone": "Asia/Tokyo",
                "seat_capacity": 50,
            },
            {
                "code": "LANCERS-OFFICE",
                "name": "Lancers office",
                "kind": "client",
                "client": "LANCERS",
                "time_zone": "Asia/Tokyo",
            },
        ],
        "calendars": [
            {
                "code": "EMAIL-HOURS",
                "name": "Email 08:00-25:30 every day",
                "time_zone": "Asia/Tokyo",
                "windows": [{"days": ["daily"], "start": "08:00", "end": "25:30"}],
                "holiday_country": None,
            },
            {
                "code": "BUSINESS",
                "name": "Business days",
                "time_zone": "Asia/Tokyo",
                "windows": [{"days": ["weekdays"], "start": "10:30", "end": "18:30"}],
                "exceptions": [{"date": "2026-12-31", "windows": [{"start": "10:00", "end": "15:00"}]}],
            },
        ],
        "clients": [
            {
                "code": "LANCERS",
                "name": "Lancers",
                "legal_name": "ランサーズ株式会社",
                "services": [
                    {"code": "lancers", "name": "Lancers"},
                    {"code": "quick", "name": "Lancers Quick"},
                ],
                "contracts": [
                    {
                        "code": "LAN-EMAIL",
                        "name": "Email support",
                        "service": "lancers",
                        "work_type": "email_support",
                        "start_date": "2026-01-01",
                        "status": "active",
                        "calendar": "EMAIL-HOURS",
                        "staffing_mode": "onsite",
                        "site": "LANCERS-OFFICE",
                        "coverage": [
                            {
                                "days": ["daily"],
                                "start": "08:00",
                                "end": "25:30",
                                "headcount": 3,
                                "languages": ["ja"],
                            }
                        ],
                        "expected_monthly_volume": 7500,
                        "objectives": [
                            {
                                "metric": "first_response",
                                "threshold": "8h",
                                "target_percent": 90,
                                "checkpoints": ["1h", "8h", "12h", "18h", "24h"],
                            },
                            {"metric": "resolution", "threshold": "24h", "target_percent": 85},
                        ],
                        "rate_plan": {
                            "charges": [
                                {
                                    "kind": "graduated",
                                    "code": "replies",
                                    "name": "Replies",
                                    "unit": "reply",
                                    "tiers": [
                                        {"up_to": 1000, "unit_price": 120},
                                        {"up_to": 5000, "unit_price": 100},
                                        {"up_to": None, "unit_price": 80},
                                    ],
                                },
                                {
                                    "kind": "person_month",
                                    "code": "stationed",
                                    "name": "Stationed staff",
                                    "headcount": 10,
                                    "monthly_fee": 420000,
                                },
                            ],
                            "minimum_commitment": 300000,
                            "service_credits": [
                                {"below_percent": 90, "credit_percent": 5, "metric": "first_response"}
                            ],
                        },
                    },
                    {
                        "code": "LAN-CHAT",
                        "name": "Chat support",
                        "service": "quick",
                        "work_type": "chat_support",
                        "start_date": "2026-01-01",
                        "calendar": "BUSINESS",
                        "coverage": [
                            {"days": ["weekdays"], "start": "10:30", "end": "18:30", "headcount": 2}
                        ],
                        "objectives": [
                            {
                                "metric": "first_response",
                                "threshold": "45s",
                                "target_percent": 95,
                                "checkpoints": ["45s", "1m", "5m"],
                            }
                        ],
                    },
                ],
            },
            {
                "code": "EUREKA",
                "name": "Eureka",
                "currency": "JPY",
                "services": [{"code": "pairs", "name": "Pairs"}],
                "contracts": [
                    {
                        "code": "EUR-PATROL",
                        "name": "Post patrol 24/365",
                        "service": "pairs",
                        "work_type": "patrol",
                        "start_date": "2026-01-01",
                        "status": "active",
                        "calendar": "BUSINESS",
                        "coverage": [{"days": ["daily"], "start": "00:00", "end": "24:00", "headcount": 12}],
                        "rate_plans": [
                            {
                                "effective_from": "2026-01-01",
                                "charges": [
                                    {
                                        "kind": "volume",
                                        "code": "posts",
                                        "name": "Posts",
                                        "tiers": [
                                            {"up_to": 1500000, "unit_price": 4},
                                            {"up_to": None, "unit_price": 3},
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
        ],
    }


def new_slug() -> str:
    return f"mf-{uuid.uuid4().hex[:10]}"


# --- reading and validating ------------------------------------------------------------------


class TestLoadManifest:
    def test_tenant_and_users_alone_are_a_manifest(self) -> None:
        manifest, problems = load_manifest(
            "tenant: {slug: small, name: Small}\nusers:\n  - {email: a@small.example, role: admin}\n"
        )

        assert problems == []
        assert manifest is not None
        assert manifest.tenant.time_zone == "Asia/Tokyo"
        assert manifest.clients == []

    def test_the_demo_operator_is_a_valid_manifest(self) -> None:
        manifest, problems = load_manifest(DEMO_MANIFEST.read_text(encoding="utf-8"))

        assert problems == []
        assert manifest is not None
        assert manifest.tenant.slug == "demo"

    def test_clocks_country_codes_and_dates_read_as_written(self) -> None:
        text = """
tenant: {slug: yaml-rules, name: Y}
calendars:
  - code: LATE
    name: Late
    time_zone: Asia/Tokyo
    windows: [{days: [daily], start: 10:00, end: 25:30}]
    holiday_country: NO
    exceptions: [{date: 2026-12-31, windows: []}]
"""
        manifest, problems = load_manifest(text)

        assert problems == []
        assert manifest is not None
        calendar = manifest.calendars[0]
        # YAML 1.1 would have read 10:00 as 600, 25:30 as 1530 and NO as false.
        assert (calendar.windows[0].start, calendar.windows[0].end) == ("10:00", "25:30")
        assert calendar.holiday_country == "NO"
        assert str(calendar.exceptions[0].date) == "2026-12-31"

    def test_five_mistakes_in_five_places_are_all_reported_with_their_paths(self) -> None:
        data = rich("five")
        lancers, eureka = data["clients"]
        email, chat = lancers["contracts"]
        eureka["currency"] = "XYZ"
        email["rate_plan"]["charges"][0]["tiers"][1]["up_to"] = 500
        # In the same contract as the tier: a field the schema does not know must not hide the tier.
        email["colour"] = "blue"
        chat["calendar"] = "NOPE"
        data["calendars"][1]["windows"][0]["start"] = "24:61"

        manifest, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert manifest is None
        assert sorted(map(str, problems)) == sorted(
            [
                "clients[1].currency: unsupported currency 'XYZ'",
                "clients[0].contracts[0].rate_plan.charges[0].tiers[1].up_to: must be greater than 1000 "
                "(tiers ascend)",
                "clients[0].contracts[0].colour: unknown field",
                "clients[0].contracts[1].calendar: no calendar 'NOPE' in this file",
                "calendars[1].windows[0].start: '24:61' is not a clock time (00:00-47:59)",
            ]
        )

    def test_type_errors_name_their_place_and_are_reported_once(self) -> None:
        data = rich("types")
        data["users"][1]["role"] = "boss"
        data["users"][2]["client"] = "bad code!"  # not also "a client_viewer names the client"
        data["users"].append({"email": "ADMIN@types.example", "role": "admin"})
        data["clients"][0]["contracts"][0]["rate_plan"]["charges"][1]["monthly_fee"] = -1
        data["clients"][1]["contracts"][0]["rate_plans"][0]["charges"][0]["tiers"][0]["up_to"] = None
        data["clients"][1]["contracts"][0]["coverage"][0]["start"] = "9am"
        data["clients"][1]["services"][0]["name"] = ""  # not also "no service 'pairs'" for the contract
        data["calendars"][1]["windows"][0]["days"] = ["daly"]  # not also "at least one day", "no calendar"
        data["sites"][0]["kind"] = "home"
        data["tenant"]["slug"] = "Not A Slug"

        _, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert sorted(p.path for p in problems) == sorted(
            [
                "users[1].role",
                "users[2].client",
                "users[3].email",
                "clients[0].contracts[0].rate_plan.charges[1].monthly_fee",
                "clients[1].contracts[0].rate_plans[0].charges[0].tiers[0].up_to",
                "clients[1].contracts[0].coverage[0].start",
                "clients[1].services[0].name",
                "calendars[1].windows[0].days[0]",
                "sites[0].kind",
                "tenant.slug",
            ]
        ), problems
        messages = {p.path: p.message for p in problems}
        assert messages["users[1].role"] == (
            "Invalid enum value 'boss'; expected one of: admin, account_manager, supervisor, staff, "
            "client_viewer, api_client"
        )
        assert messages["users[3].email"] == "email 'admin@types.example' appears twice"

    def test_references_resolve_inside_the_file(self) -> None:
        data = rich("refs")
        data["sites"][1]["client"] = "RAKUTEN"
        data["users"][2]["client"] = "RAKUTEN"
        data["clients"][0]["contracts"][1]["service"] = "pairs"  # Eureka's, not Lancers'
        data["clients"][0]["contracts"][0]["site"] = "OSAKA"
        data["clients"][1]["contracts"][0]["code"] = "LAN-EMAIL"

        _, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert {str(p) for p in problems} == {
            "sites[1].client: no client 'RAKUTEN' in this file",
            "users[2].client: no client 'RAKUTEN' in this file",
            "clients[0].contracts[1].service: no service 'pairs' under client LANCERS",
            "clients[0].contracts[0].site: no site 'OSAKA' in this file",
            "clients[1].contracts[0].code: contract 'LAN-EMAIL' appears twice",
        }

    def test_a_rate_plan_in_another_currency_than_its_contract_is_refused(self) -> None:
        data = rich("money")
        data["clients"][0]["contracts"][0]["rate_plan"]["currency"] = "USD"

        _, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert [str(p) for p in problems] == [
            "clients[0].contracts[0].rate_plan.currency: must be the contract's currency JPY"
        ]

    def test_the_published_schema_is_the_one_the_types_generate(self) -> None:
        published = json.loads((REPO / "tenants" / "manifest.schema.json").read_text(encoding="utf-8"))

        assert published == manifest_json_schema(), (
            "run: bpo tenants schema --output tenants/manifest.schema.json"
        )


# --- apply, through the command --------------------------------------------------------------


class TestApply:
    async def test_a_rich_manifest_onboards_a_new_tenant_that_the_api_then_reads(
        self, bpo: Any, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        slug = new_slug()

        result = bpo("tenants", "apply", str(write(tmp_path, rich(slug))))

        assert result.returncode == 0, result.stderr
        plan = plan_of(result.stdout)
        assert {action for action, _ in plan.values()} == {"create"}
        assert plan["contract LAN-EMAIL"] == ("create", "status draft → active")
        assert plan["contract LAN-CHAT"] == ("create", "")
        assert plan["rate plan LAN-EMAIL from 2026-01-01"] == ("create", "")
        assert plan[f"user manager@{slug}.example"] == ("create", "")
        assert "Plan: 20 to create, 0 to update, 0 unchanged." in result.stdout
        assert "one-time password" not in result.stdout  # a demo tenant: BPO_DEMO_PASSWORD

        admin = headers_for((await login(client, slug, f"admin@{slug}.example"))["access_token"])
        listed = (await get_ok(client, "/v1/contracts?limit=200", admin))["items"]
        contracts = {c["code"]: c for c in listed}
        assert set(contracts) == {"LAN-EMAIL", "LAN-CHAT", "EUR-PATROL"}
        email = contracts["LAN-EMAIL"]
        assert email["status"] == "active"
        assert email["staffing_mode"] == "onsite"
        assert email["coverage"] == [
            {
                "days": ["daily"],
                "start": "08:00",
                "end": "25:30",
                "headcount": 3,
                "skills": [],
                "languages": ["ja"],
            }
        ]
        assert email["billable_event"] == "resolved"
        assert contracts["LAN-CHAT"]["status"] == "draft"
        plans = await get_ok(client, f"/v1/contracts/{email['id']}/rate-plans", admin)
        assert [p["effective_from"] for p in plans] == ["2026-01-01"]
        assert plans[0]["charges"][0]["tiers"] == [
            {"up_to": 1000, "unit_price": 120},
            {"up_to": 5000, "unit_price": 100},
            {"up_to": None, "unit_price": 80},
        ]
        assert plans[0]["minimum_commitment"] == 300000
        policies = await get_ok(client, f"/v1/contracts/{email['id']}/sla-policies", admin)
        assert [(o["metric"], o["threshold"], o["target_percent"]) for o in policies[0]["objectives"]] == [
            ("first_response", "8h", 90.0),
            ("resolution", "24h", 85.0),
        ]
        calendars = {c["code"]: c for c in (await get_ok(client, "/v1/calendars", admin))["items"]}
        assert calendars["EMAIL-HOURS"]["windows"] == [{"days": ["daily"], "start": "08:00", "end": "25:30"}]
        assert calendars["EMAIL-HOURS"]["holiday_country"] is None
        assert calendars["BUSINESS"]["holiday_country"] == "JP"
        sites = {s["code"]: s for s in (await get_ok(client, "/v1/sites", admin))["items"]}
        assert email["site_id"] == sites["LANCERS-OFFICE"]["id"]
        settings = await get_ok(client, "/v1/tenant", admin)
        assert settings["invoice_registration_number"] == "T1234567890123"

        viewer = headers_for((await login(client, slug, f"viewer@{slug}.example"))["access_token"])
        seen = (await get_ok(client, "/v1/contracts", viewer))["items"]
        assert {c["code"] for c in seen} == {"LAN-EMAIL", "LAN-CHAT"}
        manager = headers_for((await login(client, slug, f"manager@{slug}.example"))["access_token"])
        assert (await get_ok(client, "/v1/me", manager))["user"]["full_name"] == "Aiko Manager"

    async def test_applying_twice_changes_nothing_byte_for_byte(
        self, bpo: Any, runtime: Runtime, settings: Settings, tmp_path: Path
    ) -> None:
        slug = new_slug()
        path = write(tmp_path, rich(slug))
        assert bpo("tenants", "apply", str(path)).returncode == 0
        before = await dump(settings, slug)
        assert (len(before["contracts"]), len(before["users"]), len(before["rate_plans"])) == (3, 3, 2)
        assert before["audit_events"]

        again = bpo("tenants", "apply", str(path))
        # The engine itself, not only the command that sees nothing to do.
        applied = await apply_manifest(runtime, load(rich(slug)), demo_password=PASSWORD)

        assert again.returncode == 0, again.stderr
        plan = plan_of(again.stdout)
        assert len(plan) == 20
        assert {action for action, _ in plan.values()} == {"unchanged"}, again.stdout
        assert "Plan: 0 to create, 0 to update, 20 unchanged." in again.stdout
        assert {c.action for c in applied.plan.changes} == {Action.UNCHANGED}
        assert applied.passwords == {}
        assert await dump(settings, slug) == before

    async def test_dry_run_prints_the_plan_and_writes_nothing(
        self, bpo: Any, runtime: Runtime, settings: Settings, tmp_path: Path
    ) -> None:
        slug = new_slug()
        data = rich(slug)

        fresh = bpo("tenants", "apply", "--dry-run", str(write(tmp_path, data)))

        assert fresh.returncode == 0, fresh.stderr
        assert plan_of(fresh.stdout)[f"tenant {slug}"] == ("create", "")
        assert "Dry run: nothing was changed." in fresh.stdout
        assert await tenant_id_of(runtime, slug) is None

        assert bpo("tenants", "apply", str(write(tmp_path, data))).returncode == 0
        before = await dump(settings, slug)
        data["clients"][0]["contracts"][0]["name"] = "Email support (Zendesk)"

        changed = bpo("tenants", "apply", "--dry-run", str(write(tmp_path, data)))

        assert changed.returncode == 0, changed.stderr
        assert plan_of(changed.stdout)["contract LAN-EMAIL"] == ("update", "name")
        assert await dump(settings, slug) == before

    async def test_five_mistakes_are_reported_with_their_paths_and_nothing_is_written(
        self, bpo: Any, runtime: Runtime, settings: Settings, tmp_path: Path
    ) -> None:
        slug = new_slug()
        assert bpo("tenants", "apply", str(write(tmp_path, rich(slug)))).returncode == 0
        before = await dump(settings, slug)
        data = rich(slug)
        data["clients"][1]["currency"] = "XYZ"
        data["clients"][0]["contracts"][0]["rate_plan"]["charges"][0]["tiers"][1]["up_to"] = 500
        data["clients"][0]["contracts"][1]["calendar"] = "NOPE"
        data["calendars"][1]["windows"][0]["start"] = "24:61"
        data["sites"][0]["colour"] = "blue"
        other = rich(new_slug())
        other["sites"][0]["colour"] = "blue"

        result = bpo("tenants", "apply", str(write(tmp_path, data)))
        unborn = bpo("tenants", "apply", str(write(tmp_path, other, "other.yaml")))

        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert sorted(lines[:-1]) == sorted(
            [
                "clients[1].currency: unsupported currency 'XYZ'",
                "clients[0].contracts[0].rate_plan.charges[0].tiers[1].up_to: must be greater than 1000 "
                "(tiers ascend)",
                "clients[0].contracts[1].calendar: no calendar 'NOPE' in this file",
                "calendars[1].windows[0].start: '24:61' is not a clock time (00:00-47:59)",
                "sites[0].colour: unknown field",
            ]
        ), result.stderr
        assert lines[-1] == f"error: {tmp_path / 'tenant.yaml'}: 5 problem(s); nothing was changed"
        assert result.stdout == ""
        assert await dump(settings, slug) == before
        assert unborn.returncode == 1
        assert await tenant_id_of(runtime, other["tenant"]["slug"]) is None

    async def test_changes_are_planned_as_updates_and_creates_and_applied(
        self, bpo: Any, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        slug = new_slug()
        data = rich(slug)
        assert bpo("tenants", "apply", str(write(tmp_path, data))).returncode == 0
        email = data["clients"][0]["contracts"][0]
        email["name"] = "Email support (Zendesk)"
        first = {"effective_from": "2026-01-01", **email.pop("rate_plan")}
        second = copy.deepcopy(first)
        second["effective_from"] = next_month()
        second["charges"][0]["tiers"][2]["unit_price"] = 70
        email["rate_plans"] = [first, second]
        data["calendars"][1]["exceptions"] = []

        result = bpo("tenants", "apply", str(write(tmp_path, data)))

        assert result.returncode == 0, result.stderr
        plan = plan_of(result.stdout)
        assert plan["contract LAN-EMAIL"] == ("update", "name")
        assert plan["rate plan LAN-EMAIL from 2026-01-01"] == ("unchanged", "")
        assert plan[f"rate plan LAN-EMAIL from {next_month()}"] == ("create", "")
        assert plan["calendar BUSINESS"] == ("update", "exceptions")
        assert "Plan: 1 to create, 2 to update, 18 unchanged." in result.stdout
        admin = headers_for((await login(client, slug, f"admin@{slug}.example"))["access_token"])
        contracts = {c["code"]: c for c in (await get_ok(client, "/v1/contracts", admin))["items"]}
        assert contracts["LAN-EMAIL"]["name"] == "Email support (Zendesk)"
        plans = await get_ok(client, f"/v1/contracts/{contracts['LAN-EMAIL']['id']}/rate-plans", admin)
        assert [p["effective_from"] for p in plans] == ["2026-01-01", next_month()]
        assert plans[1]["charges"][0]["tiers"][2]["unit_price"] == 70

    async def test_a_changed_version_of_a_live_contract_is_refused_but_a_draft_one_is_replaced(
        self, bpo: Any, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
    ) -> None:
        slug = new_slug()
        data = rich(slug)
        assert bpo("tenants", "apply", str(write(tmp_path, data))).returncode == 0
        before = await dump(settings, slug)
        data["clients"][0]["contracts"][0]["rate_plan"]["charges"][0]["tiers"][2]["unit_price"] = 70

        live = bpo("tenants", "apply", str(write(tmp_path, data)))

        assert live.returncode == 1
        assert plan_of(live.stdout)["rate plan LAN-EMAIL from 2026-01-01"] == ("update", "charges")
        assert (
            "clients[0].contracts[0].rate_plan: version 2026-01-01 of contract LAN-EMAIL differs (charges); "
            "versions are immutable once live — add a new version"
        ) in live.stderr.splitlines()
        assert await dump(settings, slug) == before

        data = rich(slug)
        data["clients"][0]["contracts"][1]["objectives"][0]["target_percent"] = 97
        draft = bpo("tenants", "apply", str(write(tmp_path, data)))

        assert draft.returncode == 0, draft.stderr
        assert plan_of(draft.stdout)["SLA policy LAN-CHAT from 2026-01-01"] == ("update", "objectives")
        admin = headers_for((await login(client, slug, f"admin@{slug}.example"))["access_token"])
        contracts = {c["code"]: c for c in (await get_ok(client, "/v1/contracts", admin))["items"]}
        policies = await get_ok(client, f"/v1/contracts/{contracts['LAN-CHAT']['id']}/sla-policies", admin)
        assert [p["objectives"][0]["target_percent"] for p in policies] == [97.0]

    async def test_new_users_get_one_time_passwords_that_later_applies_never_change(
        self, bpo: Any, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        slug = new_slug()
        data = rich(slug, demo=False)

        created = bpo("tenants", "apply", str(write(tmp_path, data)))

        assert created.returncode == 0, created.stderr
        passwords = dict(re.findall(r"^one-time password for (\S+): (\S+)$", created.stdout, re.MULTILINE))
        assert set(passwords) == {
            f"admin@{slug}.example",
            f"manager@{slug}.example",
            f"viewer@{slug}.example",
        }
        await login(client, slug, f"viewer@{slug}.example", passwords[f"viewer@{slug}.example"])

        data["users"][1].update(role="supervisor", full_name="Aiko Supervisor")
        data["users"].append({"email": f"staff@{slug}.example", "role": "staff"})
        changed = bpo("tenants", "apply", str(write(tmp_path, data)))

        assert changed.returncode == 0, changed.stderr
        plan = plan_of(changed.stdout)
        assert plan[f"user manager@{slug}.example"] == ("update", "role, full_name")
        assert plan[f"user admin@{slug}.example"] == ("unchanged", "")
        again = dict(re.findall(r"^one-time password for (\S+): (\S+)$", changed.stdout, re.MULTILINE))
        assert set(again) == {f"staff@{slug}.example"}
        tokens = await login(client, slug, f"manager@{slug}.example", passwords[f"manager@{slug}.example"])
        me = await get_ok(client, "/v1/me", headers_for(tokens["access_token"]))
        assert (me["user"]["role"], me["user"]["full_name"]) == ("supervisor", "Aiko Supervisor")

    async def test_the_demo_operator_applies_twice_without_a_change(
        self, bpo: Any, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        path = DEMO_MANIFEST
        demo_settings = settings.model_copy(update={"demo_password": SecretStr(PASSWORD)})
        first = bpo("tenants", "apply", str(path))
        assert first.returncode == 0, first.stderr
        # What `bpo dev` does the first time: the manifest, and the demo's issuer details once.
        await load_demo(demo_settings, path)
        before = await dump(settings, "demo")

        second = bpo("tenants", "apply", str(path))
        # What `bpo dev` does on every later start.
        loaded = await load_demo(demo_settings, path)

        assert second.returncode == 0, second.stderr
        assert {action for action, _ in plan_of(second.stdout).values()} == {"unchanged"}, second.stdout
        assert await dump(settings, "demo") == before
        viewers = [login for login in loaded.logins if login.role is Role.CLIENT_VIEWER]
        assert viewers
        for viewer in viewers:
            assert viewer.password == PASSWORD
            await login(client, loaded.slug, viewer.email, viewer.password)

    async def test_a_new_tenant_needs_an_admin_in_its_manifest(
        self, bpo: Any, runtime: Runtime, tmp_path: Path
    ) -> None:
        data = rich(new_slug())
        data["users"] = [u for u in data["users"] if u["role"] != "admin"]

        result = bpo("tenants", "apply", str(write(tmp_path, data)))

        assert result.returncode == 1
        assert "users: a new tenant needs an admin among its users (the first becomes its owner)" in (
            result.stderr.splitlines()
        )
        assert await tenant_id_of(runtime, data["tenant"]["slug"]) is None


# --- the engine directly ---------------------------------------------------------------------


class TestPlan:
    async def test_a_contract_becomes_active_only_with_a_rate_plan(self, runtime: Runtime) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(rich(slug)), demo_password=PASSWORD)
        data = rich(slug)
        data["clients"][0]["contracts"][1]["status"] = "active"

        plan = await plan_manifest(runtime, load(data))

        assert plan.errors == [
            ManifestError("clients[0].contracts[1].status", "a contract needs a rate plan to become active")
        ]
        with pytest.raises(ManifestRejected):
            await apply_manifest(runtime, load(data), demo_password=PASSWORD)

    async def test_statuses_follow_the_lifecycle_and_immutable_fields_stay(self, runtime: Runtime) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(rich(slug)), demo_password=PASSWORD)
        data = rich(slug)
        email, chat = data["clients"][0]["contracts"]
        email["status"] = "draft"
        email["work_type"] = "chat_support"
        data["clients"][1]["contracts"][0]["status"] = "suspended"
        chat["status"] = "ended"
        data["sites"][1]["kind"] = "own"
        data["sites"][1].pop("client")

        plan = await plan_manifest(runtime, load(data))

        assert {str(e) for e in plan.errors} == {
            "clients[0].contracts[0].status: a active contract cannot become draft",
            "clients[0].contracts[0].work_type: cannot change once created (it is 'email_support'); "
            "declare a new contract instead",
            "sites[1].kind: cannot change once created (it is 'client'); declare a new site instead",
            "sites[1].client: cannot change once created (it is 'LANCERS'); declare a new site instead",
        }
        changes = {(c.kind, c.key): c for c in plan.changes}
        assert changes[("contract", "EUR-PATROL")].route == ("active", "suspended")
        assert changes[("contract", "LAN-CHAT")].route == ("draft", "ended")

    async def test_an_ended_contract_keeps_the_date_it_ended(self, runtime: Runtime) -> None:
        slug = new_slug()
        data = rich(slug)
        data["clients"][0]["contracts"][1]["status"] = "ended"

        first = await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        second = await plan_manifest(runtime, load(data))

        assert first.tenant_created
        assert second.errors == []
        assert {c.action for c in second.changes} == {Action.UNCHANGED}

    async def test_every_kind_of_update_applies_and_then_plans_as_unchanged(self, runtime: Runtime) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(rich(slug)), demo_password=PASSWORD)
        data = rich(slug)
        data["tenant"]["name"] = "Renamed Operator K.K."
        data["calendars"][0]["windows"][0]["end"] = "26:00"
        data["clients"][0]["legal_name"] = "Lancers, Inc."
        data["clients"][1]["time_zone"] = "Europe/London"
        data["sites"][0].update(name="Tokyo HQ", seat_capacity=60)
        data["clients"][0]["services"][1]["description"] = "Quick jobs"
        email = data["clients"][0]["contracts"][0]
        email.update(calendar="BUSINESS", staffing_mode="remote", expected_monthly_volume=8000)
        email.pop("site")
        email["coverage"][0]["headcount"] = 4
        data["clients"][1]["contracts"][0]["status"] = "suspended"
        data["users"][2]["client"] = "EUREKA"

        plan = await plan_manifest(runtime, load(data))
        applied = await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        after = await plan_manifest(runtime, load(data))

        assert plan.errors == []
        updates = {(c.kind, c.key): c.fields for c in plan.changes if c.action is Action.UPDATE}
        assert updates == {
            ("tenant", slug): ("name",),
            ("calendar", "EMAIL-HOURS"): ("windows",),
            ("client", "LANCERS"): ("legal_name",),
            ("client", "EUREKA"): ("time_zone",),
            ("site", "TOKYO"): ("name", "seat_capacity"),
            ("service", "LANCERS/quick"): ("description",),
            ("contract", "LAN-EMAIL"): (
                "calendar",
                "staffing_mode",
                "site",
                "coverage",
                "expected_monthly_volume",
            ),
            ("contract", "EUR-PATROL"): ("status",),
            ("user", f"viewer@{slug}.example"): ("client",),
        }
        assert [c.action for c in applied.plan.changes] == [c.action for c in plan.changes]
        assert after.errors == []
        assert {c.action for c in after.changes} == {Action.UNCHANGED}


class TestExport:
    async def test_export_round_trips_through_yaml_and_apply(
        self, bpo: Any, runtime: Runtime, settings: Settings, tmp_path: Path
    ) -> None:
        slug = new_slug()
        assert bpo("tenants", "apply", str(write(tmp_path, rich(slug)))).returncode == 0
        before = await dump(settings, slug)

        exported = bpo("tenants", "export", "--slug", slug, "--output", str(tmp_path / "exported.yaml"))
        text = (tmp_path / "exported.yaml").read_text(encoding="utf-8")
        reapplied = bpo("tenants", "apply", str(tmp_path / "exported.yaml"))

        assert exported.returncode == 0, exported.stderr
        manifest, problems = load_manifest(text)
        assert problems == []
        tenant_id = await tenant_id_of(runtime, slug)
        assert tenant_id is not None
        async with runtime.db.tenant(tenant_id) as session:
            direct = await export(session, await acting_scope(session, tenant_id))
        assert manifest == direct
        assert dump_manifest(direct) == text
        assert reapplied.returncode == 0, reapplied.stderr
        assert {action for action, _ in plan_of(reapplied.stdout).values()} == {"unchanged"}
        assert await dump(settings, slug) == before

    async def test_export_is_sorted_and_leaves_out_what_the_file_would_default_to(
        self, runtime: Runtime
    ) -> None:
        slug = new_slug()
        await apply_manifest(runtime, load(rich(slug)), demo_password=PASSWORD)
        tenant_id = await tenant_id_of(runtime, slug)
        assert tenant_id is not None

        async with runtime.db.tenant(tenant_id) as session:
            manifest = await export(session, await acting_scope(session, tenant_id))

        assert [c.code for c in manifest.clients] == ["EUREKA", "LANCERS"]
        assert [u.email for u in manifest.users] == sorted(u.email for u in manifest.users)
        assert f"manager@{slug}.example" in {u.email for u in manifest.users}
        lancers = manifest.clients[1]
        assert lancers.time_zone is None  # the tenant's
        email, chat = lancers.contracts[1], lancers.contracts[0]
        assert (email.code, email.currency, email.billable_event) == ("LAN-EMAIL", None, None)
        assert [
            (p.effective_from and p.effective_from.isoformat(), p.currency) for p in email.rate_plans
        ] == [("2026-01-01", None)]
        assert [o.threshold for o in chat.sla_policies[0].objectives] == ["45s"]
        patrol = manifest.clients[0].contracts[0]
        assert patrol.sla_policies == []  # still the work type's default objectives
        assert patrol.status is schemas.ContractStatus.ACTIVE

    def test_schema_command_prints_the_published_schema(self, bpo: Any) -> None:
        result = bpo("tenants", "schema")

        assert result.returncode == 0, result.stderr
        assert result.stdout == (REPO / "tenants" / "manifest.schema.json").read_text(encoding="utf-8")


# --- messages people can act on --------------------------------------------------------------


class TestGuidance:
    def test_constrained_values_are_explained_not_shown_as_regexes(self) -> None:
        data = rich("words")
        data["clients"][0]["contracts"][1]["objectives"][0]["threshold"] = "45 seconds"
        data["clients"][1]["currency"] = "yen"
        data["calendars"][0]["windows"][0]["start"] = "9am"

        _, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        messages = {p.path: p.message for p in problems}
        assert messages == {
            "clients[0].contracts[1].objectives[0].threshold": (
                "Expected a duration like 45s, 30m, 8h, 1h30m or 2d, at most 366d, got '45 seconds'"
            ),
            "clients[1].currency": "Expected a currency code like JPY or USD, got 'yen'",
            "calendars[0].windows[0].start": "Expected a clock time like 9:00, 18:00 or 25:30, got '9am'",
        }, problems
        assert not any("regex" in p.message for p in problems)

    def test_one_digit_hours_are_clock_times(self) -> None:
        data = rich("clock")
        data["calendars"][0]["windows"][0]["start"] = "9:00"

        manifest, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert problems == []
        assert manifest is not None
        assert manifest.calendars[0].windows[0].start == "9:00"

    def test_a_missing_admin_and_dangling_codes_are_found_with_the_type_errors(self) -> None:
        data = rich("first-pass")
        data["users"] = [u for u in data["users"] if u["role"] != "admin"]
        email = data["clients"][0]["contracts"][0]
        email["expected_monthly_volume"] = "lots"  # the contract is left out for this mistake …
        email["calendar"] = "NOPE"  # … and what it names is still checked

        _, for_new = load_manifest(yaml.safe_dump(data, allow_unicode=True), new_tenant=True)
        _, for_existing = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert {str(p) for p in for_new} == {
            "clients[0].contracts[0].expected_monthly_volume: Expected `int | null`, got `str`",
            "clients[0].contracts[0].calendar: no calendar 'NOPE' in this file",
            "users: a new tenant needs an admin among its users (the first becomes its owner)",
        }
        assert {str(p) for p in for_existing} == {str(p) for p in for_new if p.path != "users"}

    def test_no_holidays_is_said_with_none(self) -> None:
        data = rich("holidays")
        data["calendars"][0]["holiday_country"] = "none"

        manifest, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert problems == []
        assert manifest is not None
        assert manifest.calendars[0].holiday_country is None
        assert "holiday_country: none" in dump_manifest(manifest)

    async def test_a_round_the_clock_calendar_closed_on_holidays_is_warned_about(
        self, runtime: Runtime
    ) -> None:
        data = rich(new_slug())
        always = [{"days": ["daily"], "start": "00:00", "end": "24:00"}]
        stitched = [
            {"days": ["weekdays"], "start": "0:00", "end": "24:00"},
            {"days": ["weekends"], "start": "00:00", "end": "24:00"},
        ]
        nights = [{"days": ["daily"], "start": "18:00", "end": "33:00"}]
        zone = "Asia/Tokyo"
        data["calendars"] += [
            {"code": "ALL-JP", "name": "24/365", "time_zone": zone, "windows": always},
            {
                "code": "ALL-NONE",
                "name": "24/365",
                "time_zone": zone,
                "windows": always,
                "holiday_country": "none",
            },
            {"code": "NIGHTS-JP", "name": "Nights", "time_zone": zone, "windows": nights},
            {"code": "STITCHED-JP", "name": "Stitched", "time_zone": zone, "windows": stitched},
        ]
        first = len(data["calendars"]) - 4

        plan = await plan_manifest(runtime, load(data))

        assert plan.errors == []
        assert [str(w) for w in plan.warnings] == [
            f"calendars[{first}].holiday_country: ALL-JP is open 24 hours every day but closed on JP "
            "public holidays; say holiday_country: none if it never closes",
            f"calendars[{first + 3}].holiday_country: STITCHED-JP is open 24 hours every day but closed "
            "on JP public holidays; say holiday_country: none if it never closes",
        ]

    async def test_the_api_takes_none_for_no_holidays(self, client: httpx.AsyncClient) -> None:
        from tests.support.factories import create_tenant

        tenant = await create_tenant(client)
        window = {"days": ["daily"], "start": "0:00", "end": "24:00"}
        body = {"code": "ALWAYS", "name": "24/365", "time_zone": "Asia/Tokyo", "windows": [window]}

        created = await client.post(
            "/v1/calendars", json={**body, "holiday_country": "none"}, headers=tenant.admin
        )

        assert created.status_code == 201, created.text
        assert created.json()["holiday_country"] is None
        assert created.json()["windows"][0]["start"] == "0:00"


class TestExportLikeTheSource:
    async def test_the_demo_operator_exports_as_it_was_written(
        self, bpo: Any, runtime: Runtime, tmp_path: Path
    ) -> None:
        slug = new_slug()
        source = DEMO_MANIFEST.read_text(encoding="utf-8").replace("slug: demo\n", f"slug: {slug}\n", 1)
        manifest, problems = load_manifest(source)
        assert manifest is not None, problems
        await apply_manifest(runtime, manifest, demo_password=PASSWORD)
        (tmp_path / "source.yaml").write_text(source, encoding="utf-8")

        result = bpo("tenants", "export", "--slug", slug, "--like", str(tmp_path / "source.yaml"))

        assert result.returncode == 0, result.stderr
        written, exported = yaml.safe_load(source), yaml.safe_load(result.stdout)
        assert exported == written, result.stdout

        def keys(node: Any) -> Any:
            if isinstance(node, dict):
                return [(k, keys(v)) for k, v in node.items()]
            if isinstance(node, list):
                return [keys(v) for v in node]
            return type(node).__name__

        # The same keys in the same order, and values of the same types: 4 stays 4, not 4.0.
        assert keys(exported) == keys(written)
