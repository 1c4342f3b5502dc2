"""Handling SLA alerts through the API: acknowledge, assign to a supervisor, resolve with a note, with the
timeline of who did what; steps out of order are a 409 naming why; client viewers see their alerts as
before and act on none; other clients and operators find nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import alerts
from tests.support.factories import TenantHandle, create_tenant, create_user, get_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.sla import ONE_HOUR_CALENDAR, ingest, sla_contract


async def breached_alerts(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, late: dict[str, int]
) -> None:
    """Items 70 minutes late (``late``: how many on each contract), and the sweep that raises their
    breaches."""
    now = datetime.now(UTC).replace(microsecond=0)
    for contract_id, count in late.items():
        items = [
            {"external_id": f"late-{n}", "received_at": (now - timedelta(minutes=70 + n)).isoformat()}
            for n in range(count)
        ]
        await ingest(client, tenant.admin, contract_id, items)
    async with runtime.db.tenant(tenant.id) as session:
        raised = await alerts.sweep(session, system_scope(tenant.id), now)
    assert len(raised) == sum(late.values())


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], alert_id: str, action: str, body: Any = None
) -> httpx.Response:
    return await client.post(f"/v1/alerts/{alert_id}/{action}", json=body, headers=headers)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def steps(alert: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (step["action"], step["actor_name"], step["assignee_name"], step["note"])
        for step in alert["handling"]["timeline"]
    ]


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    page = await get_ok(client, "/v1/alerts", headers, **params)
    return [alert["id"] for alert in page["items"]]


class TestHandling:
    async def test_acknowledge_assign_resolve_and_the_timeline(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        mine = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        theirs = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        await breached_alerts(
            client, runtime, tenant, {mine["contract"]["id"]: 3, theirs["contract"]["id"]: 1}
        )
        everything = await ids(client, tenant.admin)
        first, second, third, other = everything
        supervisor, as_supervisor = await create_user(
            client, tenant, role="supervisor", email=f"sato@{tenant.slug}.example"
        )
        manager, as_manager = await create_user(client, tenant, role="account_manager")
        me = await get_ok(client, "/v1/me", tenant.admin)
        admin_name = me["user"]["full_name"] or tenant.admin_email

        raised = await get_ok(client, f"/v1/alerts/{first}", tenant.admin)
        assert raised["handling"]["state"] == "open"
        assert steps(raised) == [("raised", None, None, None)]

        acknowledged = ok(await act(client, as_manager, first, "acknowledge"))
        assert acknowledged["handling"]["state"] == "acknowledged"
        assert acknowledged["handling"]["state_changed_at"] is not None
        assert steps(acknowledged) == [
            ("raised", None, None, None),
            ("acknowledged", manager["email"], None, None),
        ]
        body = assert_problem(
            await act(client, as_manager, first, "acknowledge"), 409, "alert-already-acknowledged"
        )
        assert "acknowledged" in body["detail"]

        # Only an active supervisor of this operator takes an alert; the alert stays as it was.
        for assignee in (manager["id"], str(uuid.uuid4()), "not-a-uuid"):
            response = await act(client, tenant.admin, first, "assign", {"assignee_id": assignee})
            assert error_fields(assert_problem(response, 422)) == ["assignee_id"], assignee
        assigned = ok(
            await act(
                client,
                tenant.admin,
                first,
                "assign",
                {"assignee_id": supervisor["id"], "note": "見てください"},
            )
        )
        assert (assigned["handling"]["state"], assigned["handling"]["assignee_id"]) == (
            "assigned",
            supervisor["id"],
        )
        assert assigned["handling"]["assignee_name"] == supervisor["email"]
        assert_problem(
            await act(client, tenant.admin, first, "assign", {"assignee_id": supervisor["id"]}),
            409,
            "alert-already-assigned",
        )

        for bad in ({}, {"note": ""}, {"note": "   "}, {"note": "x" * 2001}, {"note": "ok", "extra": 1}):
            response = await act(client, as_supervisor, first, "resolve", bad)
            assert assert_problem(response, 422)["errors"], bad
        resolved = ok(
            await act(client, as_supervisor, first, "resolve", {"note": "  返信テンプレートを直しました  "})
        )
        assert resolved["handling"]["state"] == "resolved"
        assert steps(resolved) == [
            ("raised", None, None, None),
            ("acknowledged", manager["email"], None, None),
            ("assigned", admin_name, supervisor["email"], "見てください"),
            ("resolved", supervisor["email"], None, "返信テンプレートを直しました"),
        ]
        times = [step["at"] for step in resolved["handling"]["timeline"]]
        assert times == sorted(times)
        for action, sent in (
            ("resolve", {"note": "again"}),
            ("acknowledge", None),
            ("assign", {"assignee_id": supervisor["id"]}),
        ):
            problem = assert_problem(
                await act(client, tenant.admin, first, action, sent), 409, "alert-resolved"
            )
            assert "resolved" in problem["detail"]
        assert steps(await get_ok(client, f"/v1/alerts/{first}", tenant.admin)) == steps(resolved)

        # Assigning an open alert acknowledges it too; resolving one needs no step before.
        direct = ok(await act(client, tenant.admin, second, "assign", {"assignee_id": supervisor["id"]}))
        assert [s[0] for s in steps(direct)] == ["raised", "acknowledged", "assigned"]
        closed = ok(await act(client, as_supervisor, third, "resolve", {"note": "誤検知"}))
        assert [s[0] for s in steps(closed)] == ["raised", "resolved"]

        assert await ids(client, tenant.admin, state="open") == [other]
        assert await ids(client, tenant.admin, state="resolved") == [first, third]
        assert await ids(client, tenant.admin, state=["open", "acknowledged", "assigned"]) == [second, other]
        assert await ids(client, tenant.admin, assignee_id=supervisor["id"]) == [first, second]
        assert await ids(client, tenant.admin, assignee_id=supervisor["id"], state="assigned") == [second]
        for params in ({"state": "closed"}, {"assignee_id": "sato"}, {"state": ["open"] * 5}):
            assert_problem(await client.get("/v1/alerts", params=params, headers=tenant.admin), 422)

    async def test_a_supervisor_no_longer_active_takes_no_alert(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        contract = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        await breached_alerts(client, runtime, tenant, {contract["contract"]["id"]: 1})
        (alert,) = await ids(client, tenant.admin)
        supervisor, _ = await create_user(client, tenant, role="supervisor")
        assert (await client.delete(f"/v1/users/{supervisor['id']}", headers=tenant.admin)).status_code == 204
        response = await act(client, tenant.admin, alert, "assign", {"assignee_id": supervisor["id"]})
        assert error_fields(assert_problem(response, 422)) == ["assignee_id"]
        assert (await get_ok(client, f"/v1/alerts/{alert}", tenant.admin))["handling"]["state"] == "open"


class TestAccess:
    async def test_client_viewers_see_their_alerts_as_before_and_act_on_none(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        mine = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        theirs = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        await breached_alerts(
            client, runtime, tenant, {mine["contract"]["id"]: 1, theirs["contract"]["id"]: 1}
        )
        own, other = await ids(client, tenant.admin)
        supervisor, _ = await create_user(client, tenant, role="supervisor")
        ok(
            await act(
                client, tenant.admin, own, "assign", {"assignee_id": supervisor["id"], "note": "社内メモ"}
            )
        )
        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(mine["client"]["id"])
        )

        page = await get_ok(client, "/v1/alerts", viewer)
        assert [(a["id"], a["handling"]) for a in page["items"]] == [(own, None)]
        assert (await get_ok(client, f"/v1/alerts/{own}", viewer))["handling"] is None
        assert "社内メモ" not in str(page)
        assert supervisor["id"] not in str(page)
        for params in ({"state": "open"}, {"assignee_id": supervisor["id"]}):
            assert_problem(await client.get("/v1/alerts", params=params, headers=viewer), 403)
        assert_problem(await client.get(f"/v1/alerts/{other}", headers=viewer), 404)
        for action, body in (
            ("acknowledge", None),
            ("assign", {"assignee_id": supervisor["id"]}),
            ("resolve", {"note": "client"}),
        ):
            assert_problem(await act(client, viewer, own, action, body), 403)
        _, staff = await create_user(client, tenant, role="staff")
        assert_problem(await act(client, staff, other, "acknowledge"), 403)
        assert_problem(await client.get(f"/v1/alerts/{own}", headers=staff), 403)

        stranger = await create_tenant(client)
        for alert_id in (own, str(uuid.uuid4())):
            assert_problem(await client.get(f"/v1/alerts/{alert_id}", headers=stranger.admin), 404)
            for action, body in (
                ("acknowledge", None),
                ("assign", {"assignee_id": supervisor["id"]}),
                ("resolve", {"note": "not mine"}),
            ):
                assert_problem(await act(client, stranger.admin, alert_id, action, body), 404)
        untouched = await get_ok(client, f"/v1/alerts/{other}", tenant.admin)
        assert [s[0] for s in steps(untouched)] == ["raised"]
        assert [s[0] for s in steps(await get_ok(client, f"/v1/alerts/{own}", tenant.admin))] == [
            "raised",
            "acknowledged",
            "assigned",
        ]
