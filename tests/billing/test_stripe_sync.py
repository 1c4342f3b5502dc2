"""Pushing finalized invoices to the tenant's connected Stripe account (a fake Stripe over HTTP, the real
client), retries that never bill twice, and the reconciliation of both sides."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from bpo.billing import stripe_sync
from bpo.billing.schemas import InvoiceStatus, ReconciliationKind
from bpo.billing.stripe_sync import Ours, Theirs, compare, our_amount, stripe_amount
from bpo.core.jobs.registry import DEFAULT_QUEUE, RECONCILE_JOB
from bpo.core.money import MINOR_UNIT_EXPONENT
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.settings import Settings
from tests.support.billing import billing_setup, expected_october, invoices, run_october
from tests.support.factories import create_tenant, create_user, post_ok
from tests.support.fake_stripe import API_KEY, FakeStripe
from tests.support.problems import assert_problem
from tests.support.processes import Worker
from tests.support.stripe import connect_stripe, issued_invoice, push, queued

PUSH_JOB = "billing.push_invoice"


class TestAmounts:
    def test_yen_are_yen_and_cents_are_cents(self) -> None:
        assert stripe_amount(1_234_567, "JPY") == 1_234_567
        assert stripe_amount(-5_000, "JPY") == -5_000
        assert stripe_amount(1_250, "USD") == 1_250
        assert stripe_amount(99, "KRW") == 99

    @given(st.sampled_from(sorted(MINOR_UNIT_EXPONENT)), st.integers(-(10**15), 10**15))
    def test_every_currency_we_bill_round_trips(self, currency: str, amount: int) -> None:
        assert our_amount(stripe_amount(amount, currency), currency) == amount
        # Zero-decimal at Stripe exactly where it has no minor unit for us.
        assert (currency in stripe_sync.STRIPE_ZERO_DECIMAL) == (MINOR_UNIT_EXPONENT[currency] == 0)


class TestPush:
    async def test_customer_invoice_lines_tax_finalized_with_deterministic_keys(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe, stripe_settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        invoice = await issued_invoice(client, runtime, tenant)
        # Finalizing queued the push in the same transaction.
        assert await queued(runtime, tenant, PUSH_JOB) == [{"invoice_id": invoice["id"]}]

        link = await push(runtime, stripe_settings, tenant, invoice["id"])

        assert link is not None
        [customer] = fake_stripe.objects("customer", account)
        [pushed] = fake_stripe.objects("invoice", account)
        assert pushed["id"] == link.stripe_invoice_id
        assert pushed["customer"] == customer["id"]
        assert customer["metadata"]["bpo_client_id"] == str(invoice["client_id"])
        assert pushed["status"] == "open" == link.stripe_status
        assert pushed["metadata"]["bpo_invoice_id"] == invoice["id"]
        assert pushed["number"] == invoice["number"]
        assert pushed["currency"] == "jpy"
        assert pushed["collection_method"] == "send_invoice"
        # One item per line, then the tax as we computed it: Stripe's total is ours to the yen.
        amounts = [line["amount"] for line in pushed["lines"]["data"]]
        assert amounts == [*expected_october()["amounts"], expected_october()["tax"]]
        assert pushed["total"] == invoice["total"]["amount"] == expected_october()["total"]
        keys = [entry.idempotency_key for entry in fake_stripe.log if entry.account == account]
        base = f"bpo-invoice-{invoice['id']}"
        assert keys == [
            f"bpo-customer-{invoice['client_id']}",
            base,
            *[f"{base}-line-{n}" for n in range(1, 8)],
            f"{base}-tax",
            f"{base}-finalize",
        ]

        # A second push (a redelivered job) finds the link and calls nothing.
        calls = len(fake_stripe.log)
        again = await push(runtime, stripe_settings, tenant, invoice["id"])
        assert again is not None
        assert again.stripe_invoice_id == link.stripe_invoice_id
        assert len(fake_stripe.log) == calls

    async def test_a_timeout_retried_by_the_client_bills_once(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe, stripe_settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        invoice = await issued_invoice(client, runtime, tenant)
        # Stripe creates the invoice, but answers after the client has given up; the client retries.
        fake_stripe.delay_next(2.0, path="/v1/invoices")
        link = await push(
            runtime, stripe_settings, tenant, invoice["id"], request_timeout=0.5, network_retries=2
        )
        assert link is not None
        assert fake_stripe.count("invoice", account) == 1
        assert fake_stripe.count("customer", account) == 1
        replayed = [e for e in fake_stripe.log if e.account == account and e.replayed]
        assert [e.idempotency_key for e in replayed] == [f"bpo-invoice-{invoice['id']}"]
        [pushed] = fake_stripe.objects("invoice", account)
        assert pushed["total"] == invoice["total"]["amount"]

    async def test_a_failed_job_retried_later_reuses_every_key(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe, stripe_settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        invoice = await issued_invoice(client, runtime, tenant)
        # Everything is created, then finalizing times out and (no client retries) the job fails...
        fake_stripe.delay_next(2.0, path="/v1/invoices/")
        with pytest.raises(stripe.APIConnectionError):
            await push(
                runtime, stripe_settings, tenant, invoice["id"], request_timeout=0.5, network_retries=0
            )
        # ...and the next attempt meets two 5xx before it goes through.
        fake_stripe.fail_next(2, status=503, path="/v1/customers")
        with pytest.raises(stripe.APIError):
            await push(runtime, stripe_settings, tenant, invoice["id"], network_retries=1)
        link = await push(runtime, stripe_settings, tenant, invoice["id"], network_retries=0)

        assert link is not None
        assert fake_stripe.count("customer", account) == 1
        assert fake_stripe.count("invoice", account) == 1
        assert fake_stripe.count("invoiceitem", account) == 8
        [pushed] = fake_stripe.objects("invoice", account)
        assert pushed["status"] == "open"
        assert pushed["total"] == invoice["total"]["amount"]

    async def test_nothing_is_pushed_without_an_account_or_after_a_void(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe, stripe_settings: Settings
    ) -> None:
        unconnected = await create_tenant(client)
        invoice = await issued_invoice(client, runtime, unconnected)
        assert await queued(runtime, unconnected, PUSH_JOB) == []
        assert await push(runtime, stripe_settings, unconnected, invoice["id"]) is None

        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        voided = await issued_invoice(client, runtime, tenant)
        await post_ok(client, f"/v1/invoices/{voided['id']}/void", {}, tenant.admin)
        assert await push(runtime, stripe_settings, tenant, voided["id"]) is None
        assert fake_stripe.count("invoice", account) == 0

    async def test_credit_notes_are_not_pushed_as_invoices(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe
    ) -> None:
        tenant = await create_tenant(client)
        await connect_stripe(client, tenant, fake_stripe)
        invoice = await issued_invoice(client, runtime, tenant)
        path = f"/v1/invoices/{invoice['id']}/credit-notes"
        await post_ok(client, path, {"full_reversal": True}, tenant.admin)
        assert await queued(runtime, tenant, PUSH_JOB) == [{"invoice_id": invoice["id"]}]

    @pytest.mark.slow
    async def test_the_worker_pushes_what_finalizing_queued(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        worker_env: dict[str, str],
        tmp_path: Path,
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        await billing_setup(client, runtime, tenant)
        await run_october(runtime, tenant)
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        env = {**worker_env, "BPO_STRIPE_API_KEY": API_KEY, "BPO_STRIPE_API_BASE": fake_stripe.url}
        # Only its own queue: jobs other tests left in the shared Redis do not queue ahead of it.
        worker = Worker(env, tmp_path / "worker.log", args=("--queue", DEFAULT_QUEUE))
        try:
            await post_ok(client, f"/v1/invoices/{draft['id']}/finalize", {}, tenant.admin)
            deadline = time.monotonic() + 60
            while (
                not fake_stripe.objects("invoice", account)
                or fake_stripe.objects("invoice", account)[0]["status"] != "open"
            ):
                assert time.monotonic() < deadline, worker.log()[-3000:]
                await asyncio.sleep(0.2)
        finally:
            worker.kill()
        [pushed] = fake_stripe.objects("invoice", account)
        assert pushed["total"] == expected_october()["total"]
        assert pushed["metadata"]["bpo_invoice_id"] == draft["id"]


def ours(number: str, status: InvoiceStatus, total: int, stripe_id: str | None, age: timedelta) -> Ours:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    return Ours(uuid.uuid4(), number, status, total, "JPY", now - age, stripe_id)


class TestCompare:
    def test_each_kind_of_difference(self) -> None:
        now = datetime(2026, 11, 24, tzinfo=UTC)
        day = timedelta(days=1)
        same = ours("INV-1", InvoiceStatus.PAID, 1000, "in_1", day)
        amount = ours("INV-2", InvoiceStatus.FINALIZED, 2000, "in_2", day)
        status = ours("INV-3", InvoiceStatus.VOID, 3000, "in_3", day)
        gone = ours("INV-4", InvoiceStatus.FINALIZED, 4000, "in_4", day)
        unpushed = ours("INV-5", InvoiceStatus.FINALIZED, 5000, None, day)
        on_its_way = ours("INV-6", InvoiceStatus.FINALIZED, 6000, None, timedelta(minutes=5))
        settled_here = ours("INV-7", InvoiceStatus.VOID, 7000, None, day)
        theirs = [
            Theirs("in_1", "paid", 1000, str(same.invoice_id)),
            Theirs("in_2", "open", 2100, str(amount.invoice_id)),
            Theirs("in_3", "open", 3000, str(status.invoice_id)),
            Theirs("in_9", "open", 900, str(uuid.uuid4())),
            Theirs("in_8", "open", 800, None),
        ]
        found = compare([same, amount, status, gone, unpushed, on_its_way, settled_here], theirs, now)
        summary = [(m.kind, m.number, m.ours, m.stripe) for m in found]
        assert summary == [
            (ReconciliationKind.AMOUNT, "INV-2", 2000, 2100),
            (ReconciliationKind.STATUS, "INV-3", "void", "open"),
            (ReconciliationKind.MISSING_IN_STRIPE, "INV-4", None, None),
            (ReconciliationKind.NOT_PUSHED, "INV-5", None, None),
            (ReconciliationKind.UNKNOWN_IN_STRIPE, None, None, "open"),
        ]
        assert found[-1].stripe_invoice_id == "in_9"

    def test_an_older_invoice_of_ours_is_not_unknown(self) -> None:
        old = str(uuid.uuid4())
        found = compare([], [Theirs("in_1", "paid", 10, old)], datetime.now(UTC), known=[old])
        assert found == []


class TestReconciliation:
    async def test_report_is_stored_and_read_back(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe, stripe_settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        paid_there = await issued_invoice(client, runtime, tenant)
        in_step = await issued_invoice(client, runtime, tenant)
        never_pushed = await issued_invoice(client, runtime, tenant)
        for invoice in (paid_there, in_step):
            await push(runtime, stripe_settings, tenant, invoice["id"])
        [paid_link] = [
            i for i in fake_stripe.objects("invoice", account) if i["number"] == paid_there["number"]
        ]
        fake_stripe.pay(account, paid_link["id"])
        assert_problem(await client.get("/v1/billing/reconciliation", headers=tenant.admin), 404)

        later = datetime.now(UTC) + timedelta(hours=2)
        connection = stripe_sync.connect(stripe_settings)
        async with connection as stripe_client, runtime.db.tenant(tenant.id) as session:
            report = await stripe_sync.reconcile(session, system_scope(tenant.id), stripe_client, later)
        assert report is not None
        assert report.checked == 3
        kinds = {(m.kind.value, m.number) for m in report.mismatches}
        assert kinds == {("status", paid_there["number"]), ("not_pushed", never_pushed["number"])}

        response = await client.get("/v1/billing/reconciliation", headers=tenant.admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == str(report.id)
        assert body["stripe_account_id"] == account
        status = next(m for m in body["mismatches"] if m["kind"] == "status")
        assert (status["ours"], status["stripe"]) == ("open", "paid")
        assert status["invoice_id"] == paid_there["id"]

        # Another tenant sees none of it; a viewer may not read it; the API queues a new one.
        other = await create_tenant(client)
        assert_problem(await client.get("/v1/billing/reconciliation", headers=other.admin), 404)
        _, viewer = await create_user(client, tenant, role="client_viewer", client_id=paid_there["client_id"])
        assert_problem(await client.get("/v1/billing/reconciliation", headers=viewer), 403)
        queued_job = await client.post("/v1/billing/reconciliation", headers=tenant.admin)
        assert queued_job.status_code == 202, queued_job.text
        assert await queued(runtime, tenant, RECONCILE_JOB) == [{}]
        assert_problem(await client.post("/v1/billing/reconciliation", headers=other.admin), 409)

    async def test_a_tenant_without_stripe_has_nothing_to_reconcile(
        self, client: httpx.AsyncClient, runtime: Runtime, stripe_settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        connection = stripe_sync.connect(stripe_settings)
        async with connection as stripe_client, runtime.db.tenant(tenant.id) as session:
            assert await stripe_sync.reconcile(session, system_scope(tenant.id), stripe_client) is None


async def test_no_api_key_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(stripe_sync.StripeNotConfigured, match="BPO_STRIPE_API_KEY"):
        async with stripe_sync.connect(settings):
            pass
