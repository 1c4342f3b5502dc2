"""The `coverage` SLA objective, measured from Staffing's shifts and assignments: on the contract
dashboard (operators and the client's viewers only) and in billing's service credits."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx

from bpo.billing.invoice_runs import run_period_now
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from tests.support.billing import get_invoice, invoices
from tests.support.factories import create_client, create_tenant, create_user, get_ok, post_ok
from tests.support.problems import assert_problem
from tests.support.staffing import REMOTE_DAY, World, world


async def staffed_half(client: httpx.AsyncClient, w: World, **plan: Any) -> dict[str, Any]:
    """09:00-18:00 JST with one person on 2 and 3 November 2026; only the 2nd is staffed."""
    contract = await w.contract(client, REMOTE_DAY)
    objectives = [
        {"metric": "first_response", "threshold": "1h", "target_percent": 95, "clock": "calendar"},
        {"metric": "coverage", "target_percent": 90},
    ]
    await post_ok(
        client,
        f"/v1/contracts/{contract['id']}/sla-policies",
        {"effective_from": "2026-01-01", "objectives": objectives},
        w.h,
    )
    if plan:
        await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", plan, w.h)
        await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, w.h)
    period = {"from": "2026-11-02", "to": "2026-11-03"}
    await post_ok(client, f"/v1/contracts/{contract['id']}/shifts:generate", period, w.h)
    shifts = await get_ok(client, "/v1/shifts", w.h, contract_id=contract["id"], **period)
    first = min(shifts["items"], key=lambda shift: str(shift["start"]))
    person = await w.staff(client)
    assert (await w.assign(client, first["id"], person["id"])).status_code == 201
    return contract


class TestCoverageOnTheDashboard:
    async def test_half_the_required_time_staffed_is_50_percent_and_red(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await staffed_half(client, w)
        _, viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=uuid.UUID(w.setup["client"]["id"])
        )
        for headers in (w.h, viewer):
            body = await get_ok(
                client, f"/v1/contracts/{contract['id']}/sla", headers, start="2026-11-02", end="2026-11-03"
            )
            assert body["coverage"] == {
                "target_percent": 90.0,
                "attainment": 50.0,
                "status": "red",
                "required_minutes": 2 * 540.0,
                "fully_staffed_minutes": 540.0,
                "series": [
                    {
                        "period": "2026-11-02",
                        "required_minutes": 540.0,
                        "fully_staffed_minutes": 540.0,
                        "attainment": 100.0,
                    },
                    {
                        "period": "2026-11-03",
                        "required_minutes": 540.0,
                        "fully_staffed_minutes": 0.0,
                        "attainment": 0.0,
                    },
                ],
            }
            # Items are not measured against coverage: it is not among the item objectives.
            assert [o["metric"] for o in body["objectives"]] == ["first_response"]
        one_day = await get_ok(
            client, f"/v1/contracts/{contract['id']}/sla", w.h, start="2026-11-02", end="2026-11-02"
        )
        assert (one_day["coverage"]["attainment"], one_day["coverage"]["status"]) == (100.0, "green")
        export = await client.get(
            f"/v1/contracts/{contract['id']}/sla.csv",
            params={"start": "2026-11-02", "end": "2026-11-03"},
            headers=w.h,
        )
        assert export.status_code == 200, export.text
        rows = list(csv.DictReader(io.StringIO(export.text)))
        columns = ("objective", "period", "met", "attainment_percent", "target_percent")
        columns += ("required_minutes", "fully_staffed_minutes")
        assert [tuple(r[c] for c in columns) for r in rows if r["objective"] == "coverage"] == [
            ("coverage", "2026-11-02", "", "100.00", "90", "540", "540"),
            ("coverage", "2026-11-03", "", "0.00", "90", "540", "0"),
        ]
        # Both days fall in the week starting Monday 2 November: one point for the week.
        by_week = await get_ok(
            client,
            f"/v1/contracts/{contract['id']}/sla",
            w.h,
            start="2026-11-02",
            end="2026-11-08",
            granularity="week",
        )
        assert [
            (p["period"], p["required_minutes"], p["fully_staffed_minutes"], p["attainment"])
            for p in by_week["coverage"]["series"]
        ] == [("2026-11-02", 7 * 540.0, 540.0, round(100 / 7, 4))]

    async def test_the_client_summary_compares_with_the_period_before(
        self, client: httpx.AsyncClient
    ) -> None:
        w = await world(client)
        contract = await staffed_half(client, w)
        _, viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=uuid.UUID(w.setup["client"]["id"])
        )
        path = f"/v1/clients/{w.setup['client']['id']}/sla"
        for headers in (w.h, viewer):
            # 3 November unstaffed after a fully staffed 2 November; 2 November after an unstaffed 1st.
            for day, attained, before, status, trend in (
                ("2026-11-03", 0.0, 100.0, "red", "down"),
                ("2026-11-02", 100.0, 0.0, "green", "up"),
            ):
                body = await get_ok(client, path, headers, start=day, end=day)
                (summary,) = [c for c in body["contracts"] if c["contract_id"] == contract["id"]]
                assert summary["coverage"] == {
                    "target_percent": 90.0,
                    "attainment": attained,
                    "status": status,
                    "previous_attainment": before,
                    "trend": trend,
                }, day
                assert [o["metric"] for o in summary["objectives"]] == ["first_response"]
        # Both days against the two before them, required but never staffed.
        body = await get_ok(client, path, w.h, start="2026-11-02", end="2026-11-03")
        (summary,) = [c for c in body["contracts"] if c["contract_id"] == contract["id"]]
        assert (summary["coverage"]["attainment"], summary["coverage"]["previous_attainment"]) == (
            50.0,
            0.0,
        )
        export = await client.get(
            f"{path}.csv", params={"start": "2026-11-02", "end": "2026-11-03"}, headers=w.h
        )
        assert export.status_code == 200, export.text
        rows = [r for r in csv.DictReader(io.StringIO(export.text)) if r["contract_code"] == contract["code"]]
        assert [(r["objective"], r["attainment_percent"], r["status"], r["trend"]) for r in rows] == [
            ("first_response", "", "", ""),
            ("coverage", "50.00", "red", "up"),
        ]

    async def test_without_a_coverage_objective_there_is_none(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await w.contract(client, REMOTE_DAY)
        objectives = [
            {"metric": "first_response", "threshold": "1h", "target_percent": 95, "clock": "calendar"}
        ]
        await post_ok(
            client,
            f"/v1/contracts/{contract['id']}/sla-policies",
            {"effective_from": "2026-01-01", "objectives": objectives},
            w.h,
        )
        body = await get_ok(
            client, f"/v1/contracts/{contract['id']}/sla", w.h, start="2026-11-02", end="2026-11-03"
        )
        assert body["coverage"] is None
        summary = await get_ok(client, f"/v1/clients/{w.setup['client']['id']}/sla", w.h)
        assert [c["coverage"] for c in summary["contracts"] if c["contract_id"] == contract["id"]] == [None]

    async def test_other_clients_and_tenants_do_not_see_it(self, client: httpx.AsyncClient) -> None:
        w = await world(client)
        contract = await staffed_half(client, w)
        other = await create_client(client, w.tenant)
        _, stranger_viewer = await create_user(
            client, w.tenant, role="client_viewer", client_id=uuid.UUID(other["id"])
        )
        stranger = await create_tenant(client)
        for headers in (stranger_viewer, stranger.admin):
            response = await client.get(f"/v1/contracts/{contract['id']}/sla", headers=headers)
            assert_problem(response, 404)


class TestCoverageCredits:
    async def test_a_month_staffed_below_the_credit_threshold_is_credited(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        plan = {
            "effective_from": "2026-01-01",
            "currency": "JPY",
            "charges": [{"kind": "fixed_monthly", "code": "desk", "name": "Patrol desk", "amount": 300000}],
            "service_credits": [{"below_percent": 95, "credit_percent": 10, "metric": "coverage"}],
        }
        contract = await staffed_half(client, w, **plan)

        await run_period_now(runtime, system_scope(w.tenant.id), "2026-11")

        (draft,) = await invoices(client, w.h, client_id=w.setup["client"]["id"], status="draft")
        lines = (await get_invoice(client, w.h, draft["id"]))["lines"]
        mine = [line for line in lines if line["contract_id"] == contract["id"]]
        credits = [line for line in mine if line["kind"] == "service_credit"]
        assert [line["amount"]["amount"] for line in credits] == [-30000]
        assert "coverage" in credits[0]["description"]
