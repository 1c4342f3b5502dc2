"""Escalations through the API: raised by staff on a contract or a work item, listed and read with their
timeline, acknowledged by the client's viewer, resolved by the operator; the rules per contract and
severity; bad input refused with the field and nothing written; and nobody else's escalations seen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import yaml
from sqlalchemy import select

from bpo.core.jobs.models import OutboxMessage
from bpo.core.jobs.registry import NOTIFY_ESCALATION_JOB
from bpo.core.runtime import Runtime
from bpo.onboarding.apply import acting_scope, apply_manifest, plan_manifest
from bpo.onboarding.inventory import export
from bpo.onboarding.manifest import load_manifest
from tests.support.escalations import CRITICAL, Desk, desk, raise_one
from tests.support.factories import (
    PASSWORD,
    create_api_key,
    create_tenant,
    create_user,
    get_ok,
    headers_for,
    login,
    onboard,
    post_ok,
)
from tests.support.manifests import load
from tests.support.problems import assert_problem, error_fields
from tests.support.work import item


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    body = await get_ok(client, "/v1/escalations", headers, **params)
    items: list[dict[str, Any]] = body["items"]
    return items


async def notify_jobs(runtime: Runtime, desk: Desk) -> list[dict[str, Any]]:
    async with runtime.db.tenant(desk.tenant.id) as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == desk.tenant.id, OutboxMessage.actor == NOTIFY_ESCALATION_JOB)
            .order_by(OutboxMessage.created_at)
        )
        return [dict(row.kwargs) for row in rows]


class TestRaising:
    async def test_staff_raise_on_a_contract_and_the_client_is_to_be_told_at_once(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, await create_tenant(client))
        before = datetime.now(UTC)
        made = await raise_one(client, d, link="https://recipe.example/r/123")
        assert (made["severity"], made["state"], made["notices"]) == ("critical", "open", 0)
        assert (made["contract_id"], made["client_id"]) == (d.contract["id"], d.client["id"])
        assert made["contract_code"] == d.contract["code"]
        assert made["reason"] == CRITICAL["reason"]
        assert made["link"] == "https://recipe.example/r/123"
        raised = datetime.fromisoformat(made["raised_at"])
        assert before - timedelta(seconds=5) <= raised <= datetime.now(UTC)
        # The default rule: a critical escalation is acknowledged within 15 minutes.
        assert made["acknowledge_within_minutes"] == 15
        assert datetime.fromisoformat(made["acknowledge_due_at"]) == raised + timedelta(minutes=15)
        assert [(e["event"], e["by"]) for e in made["timeline"]] == [("raised", made["raised_by"])]
        assert "@" in made["raised_by"]
        assert await notify_jobs(runtime, d) == [{"escalation_id": made["id"], "notice": "raised"}]

    async def test_on_a_work_item_the_contract_is_the_items(self, client: httpx.AsyncClient) -> None:
        d = await desk(client, await create_tenant(client))
        await post_ok(
            client,
            "/v1/work-items:batch",
            {"contract_id": d.contract["id"], "items": [item(1)]},
            d.tenant.admin,
        )
        [work_item] = (await get_ok(client, f"/v1/contracts/{d.contract['id']}/work-items", d.tenant.admin))[
            "items"
        ]
        made = await post_ok(
            client,
            "/v1/escalations",
            {**CRITICAL, "severity": "high", "work_item_id": work_item["id"]},
            d.tenant.admin,
        )
        assert (made["contract_id"], made["work_item_id"]) == (d.contract["id"], work_item["id"])
        assert made["work_item_external_id"] == "ticket-1"
        assert made["acknowledge_within_minutes"] == 60

    async def test_every_operator_role_and_staff_may_raise_but_not_the_client(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        for role in ("account_manager", "supervisor"):
            _, headers = await create_user(client, tenant, role=role)
            await raise_one(client, d, headers)
        key = await create_api_key(client, tenant, client_id=uuid.UUID(d.client["id"]))
        for headers in (d.viewer, headers_for(key["key"])):
            response = await client.post(
                "/v1/escalations", json={**CRITICAL, "contract_id": d.contract["id"]}, headers=headers
            )
            assert_problem(response, 403)
        assert len(await listed(client, tenant.admin)) == 2


class TestReading:
    async def test_newest_first_a_page_at_a_time_with_filters(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        other = await onboard(client, tenant)
        await post_ok(
            client, f"/v1/contracts/{other['contract']['id']}/transitions", {"status": "active"}, tenant.admin
        )
        first = await raise_one(client, d, severity="normal")
        second = await raise_one(client, d, severity="high")
        third = await raise_one(client, d, contract_id=other["contract"]["id"])
        page = await get_ok(client, "/v1/escalations", tenant.admin, limit=2)
        assert [e["id"] for e in page["items"]] == [third["id"], second["id"]]
        rest = await get_ok(client, "/v1/escalations", tenant.admin, limit=2, cursor=page["next_cursor"])
        assert ([e["id"] for e in rest["items"]], rest["next_cursor"]) == ([first["id"]], None)
        assert "timeline" not in page["items"][0]

        h = tenant.admin
        assert [e["id"] for e in await listed(client, h, severity="high")] == [second["id"]]
        assert [e["id"] for e in await listed(client, h, contract_id=d.contract["id"])] == [
            second["id"],
            first["id"],
        ]
        assert [e["id"] for e in await listed(client, h, client_id=other["client"]["id"])] == [third["id"]]
        assert len(await listed(client, h, state="open")) == 3
        assert await listed(client, h, state="acknowledged") == []
        since = datetime.fromisoformat(second["raised_at"]).isoformat()
        assert [e["id"] for e in await listed(client, h, raised_from=since)] == [third["id"], second["id"]]
        assert [e["id"] for e in await listed(client, h, raised_to=since)] == [first["id"]]
        detail = await get_ok(client, f"/v1/escalations/{first['id']}", h)
        assert detail["timeline"][0]["event"] == "raised"

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"raised_from": "yesterday"}, "query.raised_from"),
            ({"raised_from": "2026-10-01T00:00:00"}, "query.raised_from"),
            ({"raised_from": "2026-10-02T00:00:00Z", "raised_to": "2026-10-01T00:00:00Z"}, "query.raised_to"),
            ({"cursor": "not-a-cursor"}, "query.cursor"),
            ({"severity": "urgent"}, "query.severity"),
            ({"state": "closed"}, "query.state"),
            ({"limit": "0"}, "query.limit"),
        ],
    )
    async def test_bad_queries_name_the_parameter(
        self, client: httpx.AsyncClient, untouched: Desk, params: dict[str, str], field: str
    ) -> None:
        response = await client.get("/v1/escalations", params=params, headers=untouched.tenant.admin)
        assert error_fields(assert_problem(response, 422)) == [field]


class TestAcknowledgingAndResolving:
    async def test_the_viewer_acknowledges_once_and_the_operator_resolves_once(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        made = await raise_one(client, d)
        path = f"/v1/escalations/{made['id']}"
        for headers in (tenant.admin, d.staff):
            assert_problem(await client.post(f"{path}/acknowledge", headers=headers), 403)
        done = await post_ok(client, f"{path}/acknowledge", {}, d.viewer)
        assert (done["state"], done["acknowledged_via"], done["acknowledged_by"]) == (
            "acknowledged",
            "api",
            d.viewer_email,
        )
        assert done["minutes_to_acknowledge"] is not None
        assert done["minutes_to_acknowledge"] < 1
        again = await client.post(f"{path}/acknowledge", headers=d.viewer)
        assert_problem(again, 409, "already-acknowledged")

        assert_problem(await client.post(f"{path}/resolve", json={"note": "x"}, headers=d.viewer), 403)
        resolved = await post_ok(client, f"{path}/resolve", {"note": "投稿を非公開にしました。"}, d.staff)
        assert (resolved["state"], resolved["resolution_note"]) == ("resolved", "投稿を非公開にしました。")
        assert [e["event"] for e in resolved["timeline"]] == ["raised", "acknowledged", "resolved"]
        assert [e["by"] for e in resolved["timeline"]][1:] == [d.viewer_email, resolved["resolved_by"]]
        assert_problem(await client.post(f"{path}/resolve", json={"note": "again"}, headers=d.staff), 409)
        assert_problem(await client.post(f"{path}/acknowledge", headers=d.viewer), 409, "escalation-resolved")
        steps = [job["notice"] for job in await notify_jobs(runtime, d)]
        assert steps == ["raised", "acknowledged", "resolved"]

    async def test_an_escalation_nobody_acknowledged_may_still_be_resolved(
        self, client: httpx.AsyncClient
    ) -> None:
        d = await desk(client, await create_tenant(client))
        made = await raise_one(client, d)
        resolved = await post_ok(
            client, f"/v1/escalations/{made['id']}/resolve", {"note": "電話で対応済み"}, d.tenant.admin
        )
        assert (resolved["state"], resolved["acknowledged_at"]) == ("resolved", None)


class TestRules:
    async def test_defaults_then_replaced_and_used_by_the_next_escalation_only(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        path = f"/v1/contracts/{d.contract['id']}/escalation-rules"
        defaults = await get_ok(client, path, tenant.admin)
        assert [defaults[s]["acknowledge_within_minutes"] for s in ("critical", "high", "normal")] == [
            15,
            60,
            240,
        ]
        assert defaults["critical"] == {
            "notify_viewers": True,
            "extra_recipients": [],
            "acknowledge_within_minutes": 15,
        }
        earlier = await raise_one(client, d)
        body = {
            "critical": {
                "acknowledge_within_minutes": 5,
                "extra_recipients": ["duty@recipe.example", "DUTY@recipe.example", "lead@recipe.example"],
            },
            "normal": {"notify_viewers": False},
        }
        response = await client.put(path, json=body, headers=tenant.admin)
        assert response.status_code == 200, response.text
        rules = response.json()
        assert rules["critical"] == {
            "notify_viewers": True,
            "extra_recipients": ["duty@recipe.example", "lead@recipe.example"],
            "acknowledge_within_minutes": 5,
        }
        assert rules["high"] == defaults["high"]
        assert rules["normal"] == {
            "notify_viewers": False,
            "extra_recipients": [],
            "acknowledge_within_minutes": 240,
        }
        assert await get_ok(client, path, d.viewer) == rules
        later = await raise_one(client, d)
        assert later["acknowledge_within_minutes"] == 5
        kept = await get_ok(client, f"/v1/escalations/{earlier['id']}", tenant.admin)
        assert kept["acknowledge_within_minutes"] == 15
        # Left out, a severity goes back to its default.
        again = await client.put(path, json={}, headers=tenant.admin)
        assert again.json() == defaults

    async def test_only_account_managers_change_them(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        path = f"/v1/contracts/{d.contract['id']}/escalation-rules"
        _, supervisor = await create_user(client, tenant, role="supervisor")
        for headers in (supervisor, d.staff, d.viewer):
            assert_problem(await client.put(path, json={}, headers=headers), 403)
        _, manager = await create_user(client, tenant, role="account_manager")
        assert (await client.put(path, json={}, headers=manager)).status_code == 200


BAD_RAISES: list[tuple[dict[str, Any], str]] = [
    ({"severity": "urgent"}, "severity"),
    ({"reason": ""}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"recommended_action": "x" * 2001}, "recommended_action"),
    ({"link": "javascript:alert(1)"}, "link"),
    ({"link": "https://recipe.example/r/1\n"}, "link"),
    ({"contract_id": None}, "contract_id"),
    ({"contract_id": str(uuid.uuid4())}, "contract_id"),
    ({"work_item_id": str(uuid.uuid4())}, "work_item_id"),
    ({"priority": "p1"}, "priority"),
]


@pytest.fixture(scope="module")
async def untouched(client: httpx.AsyncClient) -> Desk:
    """A desk the bad-input cases share: none of them may write anything."""
    return await desk(client, await create_tenant(client))


class TestBadInput:
    @pytest.mark.parametrize(("fields", "field"), BAD_RAISES)
    async def test_a_bad_escalation_names_the_field_and_writes_nothing(
        self, client: httpx.AsyncClient, runtime: Runtime, untouched: Desk, fields: dict[str, Any], field: str
    ) -> None:
        d = untouched
        body = {**CRITICAL, "contract_id": d.contract["id"], **fields}
        response = await client.post("/v1/escalations", json=body, headers=d.staff)
        problem = assert_problem(response, 422)
        assert field in error_fields(problem) or field in problem["detail"], problem
        assert await listed(client, d.tenant.admin) == []
        assert await notify_jobs(runtime, d) == []

    async def test_a_contract_that_is_not_running_or_not_the_callers(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        draft = await onboard(client, tenant)
        stranger = await create_tenant(client)
        foreign = await desk(client, stranger)
        for contract_id in (draft["contract"]["id"], foreign.contract["id"]):
            response = await client.post(
                "/v1/escalations", json={**CRITICAL, "contract_id": contract_id}, headers=d.staff
            )
            assert error_fields(assert_problem(response, 422)) == ["contract_id"]
        await post_ok(
            client,
            "/v1/work-items:batch",
            {"contract_id": foreign.contract["id"], "items": [item(1)]},
            stranger.admin,
        )
        [theirs] = (
            await get_ok(client, f"/v1/contracts/{foreign.contract['id']}/work-items", stranger.admin)
        )["items"]
        mismatch = await client.post(
            "/v1/escalations", json={**CRITICAL, "work_item_id": theirs["id"]}, headers=d.staff
        )
        assert error_fields(assert_problem(mismatch, 422)) == ["work_item_id"]
        assert await listed(client, tenant.admin) == []

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"critical": {"acknowledge_within_minutes": 0}}, "critical.acknowledge_within_minutes"),
            ({"high": {"acknowledge_within_minutes": 10081}}, "high.acknowledge_within_minutes"),
            ({"normal": {"extra_recipients": ["not-an-address"]}}, "normal.extra_recipients[0]"),
            (
                {"normal": {"extra_recipients": [f"p{n}@x.example" for n in range(21)]}},
                "normal.extra_recipients",
            ),
            ({"urgent": {}}, "urgent"),
        ],
    )
    async def test_bad_rules_name_the_field_and_change_nothing(
        self, client: httpx.AsyncClient, untouched: Desk, body: dict[str, Any], field: str
    ) -> None:
        d = untouched
        tenant = d.tenant
        path = f"/v1/contracts/{d.contract['id']}/escalation-rules"
        before = await get_ok(client, path, tenant.admin)
        problem = assert_problem(await client.put(path, json=body, headers=tenant.admin), 422)
        assert field in error_fields(problem) or field in problem["detail"], problem
        assert await get_ok(client, path, tenant.admin) == before

    async def test_the_note_of_a_resolution_is_needed(self, client: httpx.AsyncClient) -> None:
        d = await desk(client, await create_tenant(client))
        made = await raise_one(client, d)
        for body, field in (({}, "note"), ({"note": " "}, "note"), ({"note": "x" * 2001}, "note")):
            response = await client.post(f"/v1/escalations/{made['id']}/resolve", json=body, headers=d.staff)
            problem = assert_problem(response, 422)
            assert field in error_fields(problem) or field in problem["detail"], problem
        assert (await get_ok(client, f"/v1/escalations/{made['id']}", d.staff))["state"] == "open"


class TestIsolation:
    async def test_nobody_sees_another_clients_or_tenants_escalations(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant)
        made = await raise_one(client, d)
        neighbour = await desk(client, tenant)
        stranger = await create_tenant(client)
        key = await create_api_key(client, tenant, client_id=uuid.UUID(d.client["id"]))
        own_key = headers_for(key["key"])
        path = f"/v1/escalations/{made['id']}"
        for headers in (neighbour.viewer, stranger.admin):
            assert_problem(await client.get(path, headers=headers), 404)
            assert await listed(client, headers) == []
            assert_problem(
                await client.post(f"{path}/resolve", json={"note": "x"}, headers=headers),
                404 if headers is stranger.admin else 403,
            )
            rules = f"/v1/contracts/{d.contract['id']}/escalation-rules"
            assert_problem(await client.get(rules, headers=headers), 404)
        assert_problem(await client.post(f"{path}/acknowledge", headers=neighbour.viewer), 404)
        assert_problem(
            await client.get(
                "/v1/escalations", params={"client_id": d.client["id"]}, headers=neighbour.viewer
            ),
            404,
        )
        assert_problem(
            await client.get(
                "/v1/escalations", params={"contract_id": d.contract["id"]}, headers=stranger.admin
            ),
            404,
        )
        # The client's own people, its API key and every staff member of the tenant see it.
        for headers in (d.viewer, own_key, neighbour.staff):
            assert (await get_ok(client, path, headers))["id"] == made["id"]
            assert [e["id"] for e in await listed(client, headers)] == [made["id"]]
        assert (await get_ok(client, path, d.viewer))["state"] == "open"


def manifest(slug: str, rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """One client with one contract, its escalation rules as given."""
    contract: dict[str, Any] = {
        "code": "RR-PATROL",
        "name": "Patrol",
        "service": "recipe",
        "work_type": "patrol",
        "start_date": "2026-01-01",
        "calendar": "ALWAYS",
    }
    if rules is not None:
        contract["escalation_rules"] = rules
    return {
        "tenant": {"slug": slug, "name": "Escalating K.K.", "demo": True},
        "users": [{"email": f"admin@{slug}.example", "role": "admin"}],
        "calendars": [
            {
                "code": "ALWAYS",
                "name": "24/365",
                "time_zone": "Asia/Tokyo",
                "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
                "holiday_country": None,
            }
        ],
        "clients": [
            {
                "code": "RAKUTEN",
                "name": "Rakuten",
                "services": [{"code": "recipe", "name": "Recipe"}],
                "contracts": [contract],
            }
        ],
    }


class TestInManifests:
    def test_mistakes_are_named_with_their_path(self) -> None:
        rules = {
            "critical": {
                "acknowledge_within_minutes": 10,
                "extra_recipients": ["a@x.example", "A@x.example"],
            },
            "high": {"extra_recipients": ["b@x.example"]},
            "normal": {"acknowledge_within_minutes": 0},
        }
        loaded, errors = load_manifest(yaml.safe_dump(manifest("esc-bad", rules)))
        assert loaded is None
        where = "clients[0].contracts[0].escalation_rules"
        assert sorted(e.path for e in errors) == [
            f"{where}.critical.extra_recipients",
            f"{where}.high.acknowledge_within_minutes",
            f"{where}.normal.acknowledge_within_minutes",
        ]

    async def test_applied_planned_as_an_update_and_exported(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        slug = f"esc-{uuid.uuid4().hex[:10]}"
        rules = {
            "critical": {"acknowledge_within_minutes": 10, "extra_recipients": ["legal@rakuten.example"]}
        }
        await apply_manifest(runtime, load(manifest(slug, rules)), demo_password=PASSWORD)
        admin = headers_for((await login(client, slug, f"admin@{slug}.example", PASSWORD))["access_token"])
        [contract] = (await get_ok(client, "/v1/contracts", admin))["items"]
        path = f"/v1/contracts/{contract['id']}/escalation-rules"
        stored = await get_ok(client, path, admin)
        assert stored["critical"] == {
            "notify_viewers": True,
            "extra_recipients": ["legal@rakuten.example"],
            "acknowledge_within_minutes": 10,
        }
        assert stored["high"]["acknowledge_within_minutes"] == 60

        same = await plan_manifest(runtime, load(manifest(slug, rules)))
        assert {c.action.value for c in same.changes} == {"unchanged"}
        changed = {"high": {"acknowledge_within_minutes": 30, "notify_viewers": False}}
        plan = await plan_manifest(runtime, load(manifest(slug, changed)))
        [update] = [c for c in plan.changes if c.action.value == "update"]
        assert (update.kind, update.key, update.fields) == ("contract", "RR-PATROL", ("escalation_rules",))
        await apply_manifest(runtime, load(manifest(slug, changed)), demo_password=PASSWORD)
        now = await get_ok(client, path, admin)
        assert now["high"] == {
            "notify_viewers": False,
            "extra_recipients": [],
            "acknowledge_within_minutes": 30,
        }
        # Left out of the file, critical is back to its default.
        assert now["critical"]["extra_recipients"] == []

        tenant_id = uuid.UUID((await get_ok(client, "/v1/whoami", admin))["tenant_id"])
        async with runtime.db.tenant(tenant_id) as session:
            exported = await export(session, await acting_scope(session, tenant_id))
        [written] = exported.clients[0].contracts
        assert msgspec.to_builtins(written.escalation_rules)["high"] == {
            "acknowledge_within_minutes": 30,
            "notify_viewers": False,
            "extra_recipients": [],
        }
        again = await plan_manifest(runtime, exported)
        assert {c.action.value for c in again.changes} == {"unchanged"}
