"""Usage, month-end runs and invoices, through the HTTP API against the real database. The expected
amounts are worked out by hand from the rate plans (tests/support/billing.py), not by the rating engine."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from bpo.billing import invoice_runs as runs
from bpo.billing import service as billing
from bpo.core.jobs.registry import DEFAULT_QUEUE
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.settings import Settings
from tests.support.billing import (
    A_ITEMS,
    JST,
    REGISTRATION,
    billing_setup,
    expected_october,
    get_invoice,
    invoices,
    run_october,
)
from tests.support.database import owner_connection
from tests.support.factories import create_tenant, create_user, get_ok, onboard, post_ok
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import BPO, Worker, command_env
from tests.support.sla import ingest


class TestUsage:
    async def test_daily_units_reconcile_with_the_items(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await billing_setup(client, runtime, tenant)
        response = await client.get(
            f"/v1/contracts/{setup['a']}/usage",
            params={"start": "2026-10-01", "end": "2026-10-31"},
            headers=tenant.admin,
        )
        assert response.status_code == 200, response.text
        usage = response.json()
        assert usage["billable_event"] == "resolved"
        assert usage["time_zone"] == "Asia/Tokyo"
        assert usage["days"] == [
            {"date": "2026-10-02", "units": 600},
            {"date": "2026-10-15", "units": 600},
            {"date": "2026-10-31", "units": 3},
        ]
        assert usage["units"] == 1203
        # The item resolved at 00:10 JST on 1 November is November's; the whole range adds up to every item.
        wide = await client.get(
            f"/v1/contracts/{setup['a']}/usage",
            params={"start": "2026-09-01", "end": "2026-11-30"},
            headers=tenant.admin,
        )
        assert wide.json()["units"] == sum(item["units"] for item in A_ITEMS)
        assert {"date": "2026-11-01", "units": 50} in wide.json()["days"]
        b = await client.get(
            f"/v1/contracts/{setup['b']}/usage",
            params={"start": "2026-10-01", "end": "2026-10-31"},
            headers=tenant.admin,
        )
        assert b.json()["units"] == 107

    async def test_not_accessible_to_other_tenants_or_clients(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        other = await create_tenant(client)
        params = {"start": "2026-10-01", "end": "2026-10-31"}
        path = f"/v1/contracts/{setup['contract']['id']}/usage"
        assert_problem(await client.get(path, params=params, headers=other.admin), 404)
        elsewhere = await onboard(client, tenant)
        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=elsewhere["client"]["id"]
        )
        assert_problem(await client.get(path, params=params, headers=viewer), 404)
        bad = {"start": "2026-10-31", "end": "2026-10-01"}
        assert_problem(await client.get(path, params=bad, headers=tenant.admin), 422)

    async def test_dates_past_the_ones_allowed_are_named(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        setup = await onboard(client, tenant)
        path = f"/v1/contracts/{setup['contract']['id']}/usage"
        # At the ends of the calendar the day's bounds in UTC would not fit in a datetime.
        for day in ("0001-01-01", "9999-12-31"):
            response = await client.get(path, params={"start": day, "end": day}, headers=tenant.admin)
            assert error_fields(assert_problem(response, 422, "validation-error")) == ["start", "end"]


class TestMonthEndRun:
    async def test_one_draft_per_client_with_the_expected_lines(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await billing_setup(client, runtime, tenant)
        result = await run_october(runtime, tenant)
        assert (result.clients, result.drafts_created) == (1, 1)

        [summary] = await invoices(client, tenant.admin, period="2026-10")
        invoice = await get_invoice(client, tenant.admin, summary["id"])
        expected = expected_october()
        assert invoice["status"] == "draft"
        assert invoice["number"] is None
        assert invoice["client_id"] == setup["client"]["id"]
        assert [line["amount"]["amount"] for line in invoice["lines"]] == expected["amounts"]
        assert [line["kind"] for line in invoice["lines"]] == [
            "charge",
            "charge",
            "charge",
            "service_credit",
            "charge",
            "charge",
            "minimum_top_up",
        ]
        assert [line["contract_id"] for line in invoice["lines"]] == [setup["a"]] * 4 + [setup["b"]] * 3
        assert invoice["lines"][1]["quantity"] == "203"
        assert invoice["lines"][1]["unit_price"] == "100"
        assert invoice["lines"][5]["description"].endswith("21/31 days")
        # Each line is dated with the days it bills: B started on 11 October.
        assert [line["period_start"] for line in invoice["lines"]] == ["2026-10-01"] * 4 + ["2026-10-11"] * 3
        assert all(line["period_end"] == "2026-10-31" for line in invoice["lines"])
        assert (invoice["period"], invoice["period_start"], invoice["period_end"]) == (
            "2026-10-01",
            "2026-10-01",
            "2026-10-31",
        )
        assert invoice["subtotal"] == {"amount": expected["subtotal"], "currency": "JPY"}
        assert invoice["tax"]["amount"] == expected["tax"]
        assert invoice["total"]["amount"] == expected["total"]
        assert invoice["tax_rate"] == "0.1"
        # Month-end closing, paid at the end of the next month (the client's default terms).
        assert (invoice["issued_on"], invoice["due_on"]) == ("2026-10-31", "2026-11-30")
        assert invoice["registration_number"] == REGISTRATION
        assert invoice["client_name"] == setup["client"]["name"]

        csv_response = await client.get(f"/v1/invoices/{summary['id']}.csv", headers=tenant.admin)
        assert csv_response.status_code == 200, csv_response.text
        assert csv_response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(csv_response.text)))
        lines = [row for row in rows if row["kind"] != "consumption_tax"]
        assert [int(row["amount"]) for row in lines] == expected["amounts"]
        # After the lines, the tax per rate: the lines' total at 10% and its tax, rounded once.
        [tax] = [row for row in rows if row["kind"] == "consumption_tax"]
        assert (tax["tax_class"], tax["tax_rate"]) == ("standard", "0.1")
        assert (int(tax["quantity"]), int(tax["amount"])) == (expected["subtotal"], expected["tax"])

    async def test_re_running_replaces_the_draft_and_never_duplicates(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        setup = await billing_setup(client, runtime, tenant)
        await run_october(runtime, tenant)
        [first] = await invoices(client, tenant.admin, period="2026-10")
        again = await run_october(runtime, tenant)
        assert (again.drafts_created, again.drafts_replaced) == (0, 1)
        [second] = await invoices(client, tenant.admin, period="2026-10")
        assert second["id"] == first["id"]
        assert second["total"] == first["total"]
        assert len((await get_invoice(client, tenant.admin, second["id"]))["lines"]) == 7

        # Ten more posts on B: still below its minimum, so only the top-up line moves.
        late = {
            "external_id": "b9",
            "received_at": f"2026-10-30T09:00:00{JST}",
            "resolved_at": f"2026-10-30T10:00:00{JST}",
            "units": 10,
        }
        await ingest(client, tenant.admin, setup["b"], [late])
        await run_october(runtime, tenant)
        [third] = await invoices(client, tenant.admin, period="2026-10")
        lines = (await get_invoice(client, tenant.admin, third["id"]))["lines"]
        assert third["id"] == first["id"]
        assert lines[4]["amount"]["amount"] == 117 * 33
        assert lines[6]["amount"]["amount"] == 42007 - 117 * 33 - 21000
        assert third["total"] == first["total"]

    async def test_background_run_through_the_outbox(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        """POST /v1/invoice-runs → 202; the billing.run_period job (run here as the worker would) drafts."""
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        response = await client.post("/v1/invoice-runs", json={"period": "2026-10"}, headers=tenant.admin)
        assert response.status_code == 202, response.text
        run = response.json()
        assert run["status"] == "queued"
        async with runtime.db.tenant(tenant.id) as session:
            await runs.execute_run(session, system_scope(tenant.id), uuid.UUID(run["id"]))
        status = await client.get(f"/v1/invoice-runs/{run['id']}", headers=tenant.admin)
        assert status.status_code == 200
        assert status.json()["status"] == "done"
        assert status.json()["result"]["drafts_created"] == 1
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        assert draft["total"]["amount"] == expected_october()["total"]
        bad = await client.post("/v1/invoice-runs", json={"period": "2026-13"}, headers=tenant.admin)
        assert_problem(bad, 422)
        other = await create_tenant(client)
        assert_problem(await client.get(f"/v1/invoice-runs/{run['id']}", headers=other.admin), 404)

    async def test_the_worker_runs_the_job(
        self, client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
    ) -> None:
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        # Only its own queue: jobs other tests left in the shared Redis do not queue ahead of it.
        worker = Worker(worker_env, tmp_path / "worker.log", args=("--queue", DEFAULT_QUEUE))
        try:
            response = await client.post("/v1/invoice-runs", json={"period": "2026-10"}, headers=tenant.admin)
            assert response.status_code == 202, response.text
            run_id = response.json()["id"]
            deadline = time.monotonic() + 60
            while (run := await get_ok(client, f"/v1/invoice-runs/{run_id}", tenant.admin))[
                "status"
            ] == "queued":
                assert time.monotonic() < deadline, worker.log()[-3000:]
                await asyncio.sleep(0.2)
        finally:
            worker.kill()
        assert run["status"] == "done", run
        assert run["result"]["drafts_created"] == 1
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        assert draft["total"]["amount"] == expected_october()["total"]

    async def test_command_line_run(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings, tmp_path: Path
    ) -> None:
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        env = command_env(settings)
        command = [str(BPO), "invoices", "run", "--period", "2026-10", "--tenant", tenant.slug]
        for expected in ("1 drafts created, 0 replaced", "0 drafts created, 1 replaced"):
            result = subprocess.run(
                command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
            )
            assert result.returncode == 0, result.stderr
            assert expected in result.stdout, result.stdout
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        assert draft["total"]["amount"] == expected_october()["total"]


class TestFinalizeAndCorrect:
    async def test_gap_free_numbers_and_immutable_once_finalized(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        setup = await billing_setup(client, runtime, tenant)
        second_client = await billing_setup(client, runtime, tenant)
        await run_october(runtime, tenant)
        drafts = await invoices(client, tenant.admin, period="2026-10", status="draft")
        by_client = {d["client_id"]: d["id"] for d in drafts}
        first_id, second_id = by_client[setup["client"]["id"]], by_client[second_client["client"]["id"]]

        # A finalization that rolls back gives its number back.
        with pytest.raises(RuntimeError):
            async with runtime.db.tenant(tenant.id) as session:
                numbered = await billing.finalize(session, system_scope(tenant.id), uuid.UUID(first_id))
                assert numbered.number == "INV-2026-000001"
                raise RuntimeError("roll back")

        response = await client.post(f"/v1/invoices/{first_id}/finalize", headers=tenant.admin)
        assert response.status_code == 200, response.text
        final = response.json()
        assert final["number"] == "INV-2026-000001"
        assert final["status"] == "finalized"
        second = (await client.post(f"/v1/invoices/{second_id}/finalize", headers=tenant.admin)).json()
        assert second["number"] == "INV-2026-000002"
        assert_problem(await client.post(f"/v1/invoices/{first_id}/finalize", headers=tenant.admin), 409)

        # A re-run leaves finalized invoices alone (and adds nothing for their clients).
        rerun = await run_october(runtime, tenant)
        assert rerun.skipped_finalized == 2
        assert await get_invoice(client, tenant.admin, first_id) == final
        assert len(await invoices(client, tenant.admin, period="2026-10")) == 2

        # Even the table owner cannot change a finalized invoice or its lines.
        owner = await owner_connection(settings)
        try:
            with pytest.raises(asyncpg.CheckViolationError):
                await owner.execute(
                    "UPDATE invoices SET total = total + 1 WHERE id = $1", uuid.UUID(first_id)
                )
            with pytest.raises(asyncpg.CheckViolationError):
                await owner.execute(
                    "UPDATE invoice_lines SET amount = 0 WHERE invoice_id = $1", uuid.UUID(first_id)
                )
            with pytest.raises(asyncpg.CheckViolationError):
                await owner.execute("DELETE FROM invoices WHERE id = $1", uuid.UUID(first_id))
            # Lines are checked a statement at a time: one line of a finalized invoice fails it all.
            with pytest.raises(asyncpg.CheckViolationError):
                await owner.execute(
                    "DELETE FROM invoice_lines WHERE invoice_id = ANY($1::uuid[])",
                    [uuid.UUID(first_id), uuid.UUID(second_id)],
                )
            with pytest.raises(asyncpg.CheckViolationError):
                await owner.execute(
                    """
                    INSERT INTO invoice_lines (tenant_id, id, invoice_id, position, contract_id,
                                               contract_code, kind, code, description, quantity,
                                               unit_price, amount, period_start, period_end, tax_class)
                    SELECT tenant_id, gen_random_uuid(), invoice_id, position + 1000, contract_id,
                           contract_code, kind, code, description, quantity, unit_price, amount, period_start,
                           period_end, tax_class
                    FROM invoice_lines WHERE invoice_id = $1
                    """,
                    uuid.UUID(first_id),
                )
            lines = await owner.fetchval(
                "SELECT count(*) FROM invoice_lines WHERE invoice_id = $1", uuid.UUID(first_id)
            )
            assert lines == len(final["lines"]) > 0
        finally:
            await owner.close()

        # Void (unpaid only) keeps the number used; a new draft may then be run for the month.
        voided = await client.post(f"/v1/invoices/{second_id}/void", headers=tenant.admin)
        assert voided.json()["status"] == "void"
        assert_problem(await client.post(f"/v1/invoices/{second_id}/void", headers=tenant.admin), 409)
        after_void = await run_october(runtime, tenant)
        assert after_void.drafts_created == 1
        redraft = await invoices(
            client, tenant.admin, client_id=second_client["client"]["id"], status="draft"
        )
        assert len(redraft) == 1
        third = (await client.post(f"/v1/invoices/{redraft[0]['id']}/finalize", headers=tenant.admin)).json()
        assert third["number"] == "INV-2026-000003"

    async def test_credit_notes(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        tenant = await create_tenant(client)
        setup = await billing_setup(client, runtime, tenant)
        await run_october(runtime, tenant)
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        path = f"/v1/invoices/{draft['id']}/credit-notes"
        full = {"full_reversal": True}
        assert_problem(await client.post(path, json=full, headers=tenant.admin), 409)
        invoice = (await client.post(f"/v1/invoices/{draft['id']}/finalize", headers=tenant.admin)).json()

        partial = {
            "lines": [
                {
                    "description": "Goodwill for the outage of 20 Oct",
                    "amount": 10005,
                    "contract_id": setup["b"],
                }
            ]
        }
        response = await client.post(path, json=partial, headers=tenant.admin)
        assert response.status_code == 201, response.text
        note = response.json()
        assert note["kind"] == "credit_note"
        assert note["status"] == "finalized"
        # Their own series, numbered in the year they are issued (today's).
        assert re.fullmatch(r"CN-\d{4}-000001", note["number"])
        assert note["corrects_invoice_id"] == invoice["id"]
        assert note["subtotal"]["amount"] == -10005
        assert note["tax"]["amount"] == -1000  # 10% of 10,005, truncated toward zero
        assert note["lines"][0]["contract_code"] != ""
        assert_problem(
            await client.post(path, json=full, headers=tenant.admin), 409
        )  # would exceed the total

        invoice_only = await billing_setup(client, runtime, tenant)
        await run_october(runtime, tenant)
        [other] = await invoices(client, tenant.admin, client_id=invoice_only["client"]["id"])
        other_invoice = (
            await client.post(f"/v1/invoices/{other['id']}/finalize", headers=tenant.admin)
        ).json()
        reversal = (
            await client.post(f"/v1/invoices/{other['id']}/credit-notes", json=full, headers=tenant.admin)
        ).json()
        assert reversal["number"].endswith("-000002")
        assert reversal["total"]["amount"] == -other_invoice["total"]["amount"]
        assert reversal["tax"]["amount"] == -other_invoice["tax"]["amount"]
        assert [line["amount"]["amount"] for line in reversal["lines"]] == [
            -line["amount"]["amount"] for line in other_invoice["lines"]
        ]
        # The original is untouched by its credit notes.
        assert await get_invoice(client, tenant.admin, other["id"]) == other_invoice
        both = {"lines": partial["lines"], "full_reversal": True}
        assert_problem(await client.post(path, json=both, headers=tenant.admin), 422)


class TestInvoiceAccess:
    async def test_viewers_see_their_own_finalized_invoices_and_other_tenants_nothing(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        mine = await billing_setup(client, runtime, tenant)
        theirs = await billing_setup(client, runtime, tenant)
        await run_october(runtime, tenant)
        by_client = {i["client_id"]: i["id"] for i in await invoices(client, tenant.admin, period="2026-10")}
        my_invoice, their_invoice = by_client[mine["client"]["id"]], by_client[theirs["client"]["id"]]
        _, viewer = await create_user(client, tenant, role="client_viewer", client_id=mine["client"]["id"])
        _, supervisor = await create_user(client, tenant, role="supervisor")

        # Drafts are the operator's: a viewer sees nothing yet, not even its own client's.
        assert await invoices(client, viewer) == []
        assert_problem(await client.get(f"/v1/invoices/{my_invoice}", headers=viewer), 404)
        assert len(await invoices(client, supervisor)) == 2
        assert_problem(await client.post(f"/v1/invoices/{my_invoice}/finalize", headers=supervisor), 403)

        for invoice_id in (my_invoice, their_invoice):
            await post_ok(client, f"/v1/invoices/{invoice_id}/finalize", {}, tenant.admin)
        assert [i["id"] for i in await invoices(client, viewer)] == [my_invoice]
        assert (await get_invoice(client, viewer, my_invoice))["lines"]
        assert_problem(await client.get(f"/v1/invoices/{their_invoice}", headers=viewer), 404)
        assert_problem(await client.get(f"/v1/invoices/{their_invoice}.csv", headers=viewer), 404)
        assert_problem(await client.post(f"/v1/invoices/{my_invoice}/void", headers=viewer), 403)

        other = await create_tenant(client)
        assert await invoices(client, other.admin) == []
        assert_problem(await client.get(f"/v1/invoices/{my_invoice}", headers=other.admin), 404)
        assert_problem(await client.post(f"/v1/invoices/{my_invoice}/void", headers=other.admin), 404)
        response = await client.post(
            f"/v1/invoices/{my_invoice}/credit-notes", json={"full_reversal": True}, headers=other.admin
        )
        assert_problem(response, 404)
        assert_problem(await client.get("/v1/invoices/not-an-id", headers=tenant.admin), 404)
