"""Report subscriptions in tenant manifests: the demo operator's reports are created through the same service
as the API, a second apply changes nothing, edits are planned as updates and creates (and a report the file
no longer lists is left alone), mistakes are reported at their paths, and export writes the reports back."""

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
    data: dict[str, Any] = yaml.safe_load(DEMO_MANIFEST.read_text(encoding="utf-8"))
    data["tenant"]["slug"] = slug
    return data


def new_slug() -> str:
    return f"rp-{uuid.uuid4().hex[:10]}"


async def subscriptions(client: httpx.AsyncClient, slug: str) -> dict[str, dict[str, Any]]:
    """Every report subscription of the tenant through the API, by ``CLIENT/cadence``."""
    admin = headers_for((await login(client, slug, "admin@demo.example"))["access_token"])
    found = {}
    for listed in (await get_ok(client, "/v1/clients", admin, limit=100))["items"]:
        for row in await get_ok(client, f"/v1/clients/{listed['id']}/report-subscriptions", admin):
            found[f"{listed['code']}/{row['cadence']}"] = row
    return found


async def exported(runtime: Runtime, slug: str) -> Any:
    tenant_id = await tenant_id_of(runtime, slug)
    assert tenant_id is not None
    async with runtime.db.tenant(tenant_id) as session:
        return await export(session, await acting_scope(session, tenant_id))


class TestDemoReports:
    async def test_the_demo_reports_are_created_and_reapplied_without_a_change(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        slug = new_slug()
        applied = await apply_manifest(runtime, load(demo(slug)), demo_password=PASSWORD)
        before = await dump(settings, slug)

        again = await plan_manifest(runtime, load(demo(slug)))

        created = {c.key: c.action for c in applied.plan.changes if c.kind == "report"}
        assert created == {
            "RAKUTEN/weekly": Action.CREATE,
            "RAKUTEN/monthly": Action.CREATE,
            "EUREKA/weekly": Action.CREATE,
            "LANCERS/weekly": Action.CREATE,
        }
        assert "+ create    report     RAKUTEN/weekly" in [c.describe() for c in applied.plan.changes]
        assert {c.action for c in again.changes} == {Action.UNCHANGED}
        await apply_manifest(runtime, load(demo(slug)), demo_password=PASSWORD)
        assert await dump(settings, slug) == before
        found = await subscriptions(client, slug)
        assert set(found) == set(created)
        for key in ("RAKUTEN/weekly", "EUREKA/weekly", "LANCERS/weekly"):
            row = found[key]
            assert (row["weekday"], row["day_of_month"], row["send_at"]) == (1, None, "09:00")
            assert (row["time_zone"], row["language"], row["include_viewers"]) == ("Asia/Tokyo", "ja", True)
            assert (row["contract_ids"], row["active"]) == ([], True)
        monthly = found["RAKUTEN/monthly"]
        assert (monthly["weekday"], monthly["day_of_month"], monthly["send_at"]) == (None, 3, "09:00")


class TestReportEdits:
    async def test_edits_are_updates_a_report_left_out_stays_and_export_round_trips(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        slug = new_slug()
        data = demo(slug)
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)
        rakuten = next(r for r in data["reports"] if (r["client"], r["cadence"]) == ("RAKUTEN", "weekly"))
        rakuten.update(
            weekday=5,
            send_at="8:30",
            contracts=["RKT-RECIPE-PATROL"],
            extra_recipients=["sla@rakuten.example"],
            include_viewers=False,
        )
        data["reports"] = [r for r in data["reports"] if r["client"] != "LANCERS"]
        monthly = {"cadence": "monthly", "day_of_month": 28, "send_at": "18:00", "language": "en"}
        data["reports"].append({"client": "EUREKA", **monthly})

        plan = await plan_manifest(runtime, load(data))
        await apply_manifest(runtime, load(data), demo_password=PASSWORD)

        reports = {c.key: (c.action, c.fields) for c in plan.changes if c.kind == "report"}
        assert reports == {
            "RAKUTEN/weekly": (
                Action.UPDATE,
                ("send_at", "weekday", "include_viewers", "extra_recipients", "contracts"),
            ),
            "RAKUTEN/monthly": (Action.UNCHANGED, ()),
            "EUREKA/weekly": (Action.UNCHANGED, ()),
            "EUREKA/monthly": (Action.CREATE, ()),
        }
        found = await subscriptions(client, slug)
        # Apply never deletes: the report the file no longer lists keeps going.
        assert found["LANCERS/weekly"]["active"] is True
        changed = found["RAKUTEN/weekly"]
        assert (changed["weekday"], changed["send_at"], changed["include_viewers"]) == (5, "08:30", False)
        assert changed["extra_recipients"] == ["sla@rakuten.example"]
        admin = headers_for((await login(client, slug, "admin@demo.example"))["access_token"])
        contracts = {c["code"]: c["id"] for c in (await get_ok(client, "/v1/contracts", admin))["items"]}
        assert changed["contract_ids"] == [contracts["RKT-RECIPE-PATROL"]]
        eureka = found["EUREKA/monthly"]
        assert (eureka["day_of_month"], eureka["language"], eureka["time_zone"]) == (28, "en", "Asia/Tokyo")

        written = await exported(runtime, slug)
        by_key = {(r.client, r.cadence): r for r in written.reports}
        assert list(by_key) == [
            ("EUREKA", "monthly"),
            ("EUREKA", "weekly"),
            ("LANCERS", "weekly"),
            ("RAKUTEN", "monthly"),
            ("RAKUTEN", "weekly"),
        ]
        # The client's zone and the tenant's language are what a file would default to: left out.
        assert (by_key["EUREKA", "weekly"].time_zone, by_key["EUREKA", "weekly"].language) == (None, None)
        assert by_key["EUREKA", "monthly"].language == "en"
        assert by_key["RAKUTEN", "weekly"].contracts == ["RKT-RECIPE-PATROL"]
        reread, problems = load_manifest(dump_manifest(written))
        assert reread is not None, problems
        replan = await plan_manifest(runtime, reread)
        assert {c.action for c in replan.changes} == {Action.UNCHANGED}


class TestReportMistakes:
    def test_every_mistake_is_reported_at_its_path(self) -> None:
        data = demo(new_slug())
        weekly = {"cadence": "weekly", "weekday": 1, "send_at": "09:00"}
        data["reports"] = [
            {"client": "NOPE", **weekly},
            {"client": "RAKUTEN", **weekly, "weekday": 8},
            {"client": "EUREKA", "cadence": "monthly", "send_at": "09:00", "weekday": 2},
            {"client": "LANCERS", **weekly, "contracts": ["RKT-RECIPE-PATROL", "LAN-EMAIL", "LAN-EMAIL"]},
            {"client": "LANCERS", **weekly, "time_zone": "Asia/Sapporo"},
            {"client": "RAKUTEN", "cadence": "monthly", "day_of_month": 3, "send_at": "9am"},
            {"client": "GHOST", "cadence": "yearly", "send_at": "09:00"},
            {"client": "EUREKA", **weekly, "extra_recipients": ["a@eureka.example", "A@eureka.example"]},
        ]

        manifest, problems = load_manifest(yaml.safe_dump(data, allow_unicode=True))

        assert manifest is None
        found = {(p.path, p.message) for p in problems}
        assert found >= {
            ("reports[0].client", "no client 'NOPE' in this file"),
            ("reports[2].day_of_month", "a monthly report names its day"),
            ("reports[2].weekday", "only a weekly report has a weekday"),
            ("reports[3].contracts[0]", "no contract 'RKT-RECIPE-PATROL' under client LANCERS"),
            ("reports[3].contracts", "lists a code twice"),
            ("reports[4].cadence", "client LANCERS has a weekly report already"),
            ("reports[4].time_zone", "'Asia/Sapporo' is not an IANA time zone"),
            ("reports[5].send_at", "Expected a time of day like 9:00 or 18:30, got '9am'"),
            # Left out for its cadence, and its client still checked in the same pass.
            ("reports[6].client", "no client 'GHOST' in this file"),
            ("reports[7].extra_recipients", "lists an address twice"),
        }, problems
        assert any(p.path == "reports[1].weekday" for p in problems), problems
        assert any(p.path == "reports[6].cadence" for p in problems), problems
        assert len(problems) == 12, problems
