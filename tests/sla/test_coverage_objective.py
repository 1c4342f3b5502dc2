"""The `coverage` SLA objective, measured from Staffing's shifts and assignments: on the contract
dashboard (operators and the client's viewers only) and in billing's service credits."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bpo.billing.invoice_runs import run_period_now
from bpo.clients.schemas import Metric
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.sla import attainment as sla
from tests.support.billing import get_invoice, invoices
from tests.support.dashboard import data_values, sign_in
from tests.support.factories import create_client, create_tenant, create_user, get_ok, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.staffing import REMOTE_DAY, World, add_punch, world

TOKYO = ZoneInfo("Asia/Tokyo")


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
                        "planned_attainment": 100.0,
                        "actual_attainment": None,
                    },
                    {
                        "period": "2026-11-03",
                        "required_minutes": 540.0,
                        "fully_staffed_minutes": 0.0,
                        "attainment": 0.0,
                        "planned_attainment": 0.0,
                        "actual_attainment": None,
                    },
                ],
                # No attendance recorded: measured on the roster.
                "basis": "planned",
                "planned_attainment": 50.0,
                "actual_attainment": None,
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
                    "basis": "planned",
                    "planned_attainment": attained,
                    "actual_attainment": None,
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


async def attended(
    client: httpx.AsyncClient,
    runtime: Runtime,
    w: World,
    first: date,
    *,
    basis: str | None = None,
    punch: bool = True,
    **plan: Any,
) -> dict[str, Any]:
    """09:00-18:00 JST with one person on ``first`` and the day after, both assigned. On the first day the
    person clocks in at 09:00 and out at 18:00; on the second only at 13:30, out at 18:00."""
    contract = await w.contract(client, REMOTE_DAY)
    coverage: dict[str, Any] = {"metric": "coverage", "target_percent": 90}
    if basis is not None:
        coverage["basis"] = basis
    policy = {"effective_from": "2026-01-01", "objectives": [coverage]}
    await post_ok(client, f"/v1/contracts/{contract['id']}/sla-policies", policy, w.h)
    if plan:
        await post_ok(client, f"/v1/contracts/{contract['id']}/rate-plans", plan, w.h)
        await post_ok(client, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"}, w.h)
    period = {"from": first.isoformat(), "to": (first + timedelta(days=1)).isoformat()}
    await post_ok(client, f"/v1/contracts/{contract['id']}/shifts:generate", period, w.h)
    shifts = sorted(
        (await get_ok(client, "/v1/shifts", w.h, contract_id=contract["id"], **period))["items"],
        key=lambda shift: str(shift["start"]),
    )
    person = await w.staff(client)
    for shift in shifts:
        assert (await w.assign(client, shift["id"], person["id"])).status_code == 201
    if punch:
        staff_id = uuid.UUID(person["id"])
        for shift, arrival in zip(shifts, (time(9), time(13, 30)), strict=True):
            day = datetime.fromisoformat(shift["start"]).astimezone(TOKYO).date()
            shift_id = uuid.UUID(shift["id"])
            at = datetime.combine(day, arrival, TOKYO)
            await add_punch(runtime, w.tenant, shift_id, staff_id, "clock_in", at)
            await add_punch(
                runtime, w.tenant, shift_id, staff_id, "clock_out", datetime.combine(day, time(18), TOKYO)
            )
    return contract


def recent_days() -> date:
    """The day before yesterday in Tokyo: both days it starts are over and inside a 7-day dashboard."""
    return datetime.now(TOKYO).date() - timedelta(days=3)


class TestCoverageOnAttendance:
    async def test_measured_on_attendance_once_it_is_recorded_with_the_plan_beside_it(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        first = recent_days()
        second = first + timedelta(days=1)
        contract = await attended(client, runtime, w, first)

        body = await get_ok(
            client,
            f"/v1/contracts/{contract['id']}/sla",
            w.h,
            start=first.isoformat(),
            end=second.isoformat(),
        )

        # Planned: both days staffed. Actual: the first day, and 13:30-18:00 (270 of 540 min) of the second.
        coverage = body["coverage"]
        assert (coverage["basis"], coverage["planned_attainment"], coverage["actual_attainment"]) == (
            "actual",
            100.0,
            75.0,
        )
        assert (coverage["attainment"], coverage["status"]) == (75.0, "red")
        assert (coverage["required_minutes"], coverage["fully_staffed_minutes"]) == (1080.0, 810.0)
        assert [
            (p["period"], p["attainment"], p["planned_attainment"], p["actual_attainment"])
            for p in coverage["series"]
        ] == [(first.isoformat(), 100.0, 100.0, 100.0), (second.isoformat(), 50.0, 100.0, 50.0)]
        summary = await get_ok(
            client,
            f"/v1/clients/{w.setup['client']['id']}/sla",
            w.h,
            start=second.isoformat(),
            end=second.isoformat(),
        )
        (mine,) = [c["coverage"] for c in summary["contracts"] if c["contract_id"] == contract["id"]]
        assert mine == {
            "target_percent": 90.0,
            "attainment": 50.0,
            "status": "red",
            "previous_attainment": 100.0,
            "trend": "down",
            "basis": "actual",
            "planned_attainment": 100.0,
            "actual_attainment": 50.0,
        }

    async def test_the_objective_may_say_which_basis(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        first = recent_days()
        span = {"start": first.isoformat(), "end": (first + timedelta(days=1)).isoformat()}
        planned = await attended(client, runtime, w, first, basis="planned")
        body = await get_ok(client, f"/v1/contracts/{planned['id']}/sla", w.h, **span)
        assert (body["coverage"]["basis"], body["coverage"]["attainment"], body["coverage"]["status"]) == (
            "planned",
            100.0,
            "green",
        )
        assert body["coverage"]["actual_attainment"] == 75.0
        # On attendance with none recorded: nobody clocked in, nothing was staffed.
        actual = await attended(client, runtime, w, first, basis="actual", punch=False)
        body = await get_ok(client, f"/v1/contracts/{actual['id']}/sla", w.h, **span)
        assert (
            body["coverage"]["basis"],
            body["coverage"]["attainment"],
            body["coverage"]["planned_attainment"],
        ) == (
            "actual",
            0.0,
            100.0,
        )
        bad = await client.post(
            f"/v1/contracts/{actual['id']}/sla-policies",
            json={
                "effective_from": "2026-01-01",
                "objectives": [
                    {"metric": "first_response", "threshold": "1h", "target_percent": 95, "basis": "actual"}
                ],
            },
            headers=w.h,
        )
        assert error_fields(assert_problem(bad, 422)) == ["objectives[0].basis"]

    async def test_the_client_dashboard_shows_planned_and_actual(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        w = await world(client)
        await attended(client, runtime, w, recent_days())
        await sign_in(browser, w.tenant.slug, w.tenant.admin_email)
        page = await browser.get(f"/dashboard/clients/{w.setup['client']['id']}", params={"days": 7})
        assert page.status_code == 200, page.text
        # Beside the onboarded contract's card: of seven days of 540 required minutes, two rostered (1080)
        # and one and a half attended (810).
        assert sorted(data_values(page.text, "planned-attainment")) == ["0.0", "28.5714"]
        assert sorted(data_values(page.text, "actual-attainment")) == ["", "21.4286"]
        assert 'data-basis="actual"' in page.text
        assert "Measured on attendance" in page.text or "勤怠の実績" in page.text

    async def test_what_billing_reads_follows_the_basis(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        """Service credits take the coverage attainment of the period from ``attainment_by_metric``."""
        w = await world(client)
        first = date(2026, 11, 2)
        on_attendance = await attended(client, runtime, w, first)
        on_roster = await attended(client, runtime, w, first, basis="planned")
        lower = datetime.combine(first, time(), TOKYO)
        upper = lower + timedelta(days=2)
        async with runtime.db.tenant(w.tenant.id) as session:
            scope = system_scope(w.tenant.id)
            found = {
                contract["id"]: (
                    await sla.attainment_by_metric(session, scope, uuid.UUID(contract["id"]), lower, upper)
                )[Metric.COVERAGE]
                for contract in (on_attendance, on_roster)
            }
        assert found == {on_attendance["id"]: 75.0, on_roster["id"]: 100.0}
