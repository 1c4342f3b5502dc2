"""Invoices people can pay and find: the issuer's address and bank account on the document, contract names,
Stripe's payment link, the issued PDF mailed to the client's billing contact by a job, the invoice life
cycle as signed webhooks, and the invoice list in the browser (operators: every invoice; a client viewer:
its own issued ones)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import select

from bpo.billing import document, invoice_mail
from bpo.core import i18n
from bpo.core.jobs.registry import DEFAULT_QUEUE, MAIL_INVOICE_JOB, MAIL_QUEUE
from bpo.core.mailbox import LocalMailServer
from bpo.core.pdf import PdfUnavailable
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import webhooks
from bpo.delivery.models import WebhookDelivery
from bpo.settings import Settings
from tests.support.billing import billing_setup, get_invoice, invoices, run_october
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import data_values, sign_in, sign_in_on_page
from tests.support.factories import TenantHandle, create_tenant, create_user, post_ok
from tests.support.fake_stripe import HOSTED_INVOICE_BASE, FakeStripe
from tests.support.jobs import eventually, job_done, send_job
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.paths import ARTIFACTS
from tests.support.pdf import pdf_text, require_pdf
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.receiver import Receiver
from tests.support.server import ServerThread
from tests.support.stripe import WEBHOOKS, connect_stripe, push, queued

DEADLINE_S = 90.0
PUBLIC_URL = "https://ops.example.com"
ISSUER: dict[str, Any] = {
    "address": {
        "postal_code": "100-0005",
        "lines": ["東京都千代田区丸の内1-9-2", "グラントウキョウサウスタワー 12階"],
        "phone": "03-5555-0123",
    },
    "bank_account": {
        "bank_name": "みずほ銀行",
        "branch_name": "丸の内中央支店",
        "account_type": "ordinary",
        "account_number": "1234567",
        "account_holder": "デモビーピーオーオペレーションズ(カ",
    },
}


class Billed:
    def __init__(self, tenant: TenantHandle, setup: dict[str, Any], other: dict[str, Any]) -> None:
        self.tenant = tenant
        self.setup = setup
        self.other = other

    @property
    def client_id(self) -> str:
        client_id: str = self.setup["client"]["id"]
        return client_id

    async def draft_of(self, client: httpx.AsyncClient, client_id: str) -> dict[str, Any]:
        [draft] = await invoices(client, self.tenant.admin, client_id=client_id, status="draft")
        return draft


async def billed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    *,
    language: str = "en",
    billing_email: str | None = "accounts@client.example",
) -> Billed:
    """Two clients' October drafts; the first client has a billing contact (unless told otherwise)."""
    tenant = await create_tenant(client)
    response = await client.patch("/v1/tenant", json={"default_language": language}, headers=tenant.admin)
    assert response.status_code == 200, response.text
    setup = await billing_setup(client, runtime, tenant)
    other = await billing_setup(client, runtime, tenant)
    if billing_email is not None:
        response = await client.patch(
            f"/v1/clients/{setup['client']['id']}",
            json={"billing_email": billing_email, "billing_contact_name": "経理部 御中"},
            headers=tenant.admin,
        )
        assert response.status_code == 200, response.text
    await run_october(runtime, tenant)
    return Billed(tenant, setup, other)


async def put_issuer(client: httpx.AsyncClient, tenant: TenantHandle, body: dict[str, Any]) -> httpx.Response:
    return await client.put("/v1/billing/issuer", json=body, headers=tenant.admin)


async def finalize(client: httpx.AsyncClient, tenant: TenantHandle, invoice_id: str) -> dict[str, Any]:
    return await post_ok(client, f"/v1/invoices/{invoice_id}/finalize", {}, tenant.admin)


async def mail_now(runtime: Runtime, tenant: TenantHandle, invoice_id: str) -> invoice_mail.Outcome:
    """What the ``billing.mail_invoice`` job does, in a transaction of its own."""
    async with runtime.db.tenant(tenant.id) as session:
        return await invoice_mail.mail_invoice(
            session, system_scope(tenant.id), uuid.UUID(invoice_id), public_url=PUBLIC_URL
        )


async def messages(client: httpx.AsyncClient, tenant: TenantHandle) -> list[dict[str, Any]]:
    response = await client.get("/v1/messages", headers=tenant.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def viewer(
    client: httpx.AsyncClient, tenant: TenantHandle, client_id: str
) -> tuple[str, dict[str, str]]:
    email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    _, headers = await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(client_id), email=email
    )
    return email, headers


# --- the issuer: address and bank account -----------------------------------------------------------


class TestIssuer:
    async def test_the_document_carries_them_as_issued(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        bill = await billed(client, runtime)
        empty = await client.get("/v1/billing/issuer", headers=bill.tenant.admin)
        assert empty.status_code == 200, empty.text
        assert empty.json() == {"address": None, "bank_account": None, "updated_at": None}
        saved = await put_issuer(client, bill.tenant, ISSUER)
        assert saved.status_code == 200, saved.text
        assert {k: saved.json()[k] for k in ISSUER} == ISSUER
        assert (await client.get("/v1/billing/issuer", headers=bill.tenant.admin)).json()["address"] == (
            ISSUER["address"]
        )

        issued = await finalize(client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"])
        assert issued["issuer"] == ISSUER
        # A new bank account: the issued invoice keeps the one it was issued with, a draft shows the new.
        moved = {**ISSUER, "bank_account": {**ISSUER["bank_account"], "account_number": "7654321"}}
        assert (await put_issuer(client, bill.tenant, moved)).status_code == 200
        assert (await get_invoice(client, bill.tenant.admin, issued["id"]))["issuer"] == ISSUER
        draft = await bill.draft_of(client, bill.other["client"]["id"])
        assert (await get_invoice(client, bill.tenant.admin, draft["id"]))["issuer"] == moved

        await sign_in(browser, bill.tenant.slug, bill.tenant.admin_email)
        page = (await browser.get(f"/dashboard/invoices/{issued['id']}")).text
        shown = ("〒100-0005", "東京都千代田区丸の内1-9-2", "Phone 03-5555-0123", "みずほ銀行 丸の内中央支店")
        for text in shown:
            assert text in page, text
        assert '<span class="account-number">1234567</span>' in page
        assert "Ordinary (普通)" in page
        assert "デモビーピーオーオペレーションズ(カ" in page
        # Contract names beside their codes.
        contract = bill.setup["contract"]
        assert f'<span class="contract-name">{contract["name"]}</span>' in page
        assert f'<span class="contract-code">{contract["code"]}</span>' in page
        assert "7654321" in (await browser.get(f"/dashboard/invoices/{draft['id']}")).text

    async def test_bad_input_names_each_field_and_writes_nothing(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        assert (await put_issuer(client, tenant, ISSUER)).status_code == 200
        before = (await client.get("/v1/billing/issuer", headers=tenant.admin)).json()
        bad_cases: list[tuple[dict[str, Any], str]] = [
            ({**ISSUER, "address": {**ISSUER["address"], "postal_code": "1000005"}}, "address.postal_code"),
            ({**ISSUER, "address": {**ISSUER["address"], "lines": []}}, "address.lines"),
            ({**ISSUER, "address": {**ISSUER["address"], "lines": ["a"] * 5}}, "address.lines"),
            ({**ISSUER, "address": {**ISSUER["address"], "lines": [" padded"]}}, "address.lines[0]"),
            ({**ISSUER, "address": {**ISSUER["address"], "lines": ["x" * 101]}}, "address.lines[0]"),
            ({**ISSUER, "address": {**ISSUER["address"], "phone": "call me"}}, "address.phone"),
            (
                {**ISSUER, "bank_account": {**ISSUER["bank_account"], "bank_name": ""}},
                "bank_account.bank_name",
            ),
            (
                {**ISSUER, "bank_account": {**ISSUER["bank_account"], "account_type": "savings"}},
                "bank_account.account_type",
            ),
            (
                {**ISSUER, "bank_account": {**ISSUER["bank_account"], "account_number": "12345"}},
                "bank_account.account_number",
            ),
            (
                {**ISSUER, "bank_account": {**ISSUER["bank_account"], "account_holder": "Demo KK"}},
                "bank_account.account_holder",
            ),
            ({"address": None}, "bank_account"),
            ({**ISSUER, "iban": "DE00"}, "iban"),
        ]
        for body, field in bad_cases:
            response = await put_issuer(client, tenant, body)
            assert field in error_fields(assert_problem(response, 422)), (field, response.text)
        assert (await client.get("/v1/billing/issuer", headers=tenant.admin)).json() == before
        # Admins only.
        bill = await billed(client, runtime)
        _, headers = await viewer(client, bill.tenant, bill.client_id)
        _, manager = await create_user(client, bill.tenant, role="account_manager")
        for caller in (headers, manager):
            assert_problem(await client.put("/v1/billing/issuer", json=ISSUER, headers=caller), 403)
            assert_problem(await client.get("/v1/billing/issuer", headers=caller), 403)


# --- mail ----------------------------------------------------------------------------------------------


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    [part] = [p for p in message.iter_attachments()]
    content = part.get_content()
    assert isinstance(content, bytes)
    return part.get_filename() or "", content


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


@pytest.mark.slow
class TestInvoiceMail:
    async def test_a_real_worker_mails_the_pdf_to_the_billing_contact_once(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        worker_env: dict[str, str],
        mail_server: LocalMailServer,
        tmp_path: Path,
    ) -> None:
        require_pdf()
        bill = await billed(client, runtime, language="ja")
        assert (await put_issuer(client, bill.tenant, ISSUER)).status_code == 200
        env = {**worker_env, "BPO_SMTP_URL": mail_server.url, "BPO_PUBLIC_URL": PUBLIC_URL}
        worker = Worker(env, tmp_path / "worker.log", args=("--queue", DEFAULT_QUEUE, "--queue", MAIL_QUEUE))
        try:

            def mine() -> list[EmailMessage]:
                return [m for m in kept(mail_server) if m["X-BPO-Tenant"] == str(bill.tenant.id)]

            async def count(expected: int) -> None:
                async def arrived() -> bool:
                    # The mail job queues the send job: the scheduler's outbox sweep relays it.
                    await runtime.relay.sweep_tenant(bill.tenant.id, older_than=datetime.now(UTC))
                    return len(mine()) >= expected

                await eventually(f"{expected} mail(s) to arrive", arrived, within=DEADLINE_S)

            invoice = await finalize(client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"])
            # Queued with the change that issued the invoice, and sent by the worker.
            await count(1)
            [sent] = mine()
            assert sent["To"] == "accounts@client.example"
            total = i18n.format_money(invoice["total"]["amount"], "JPY", "ja")
            assert invoice["number"] in sent["Subject"]
            assert total in sent["Subject"]
            assert "請求書" in sent["Subject"]
            name, pdf = attachment(sent)
            assert name == f"{invoice['number']}.pdf"
            text = pdf_text(pdf)
            assert invoice["number"] in text
            assert total in text
            assert "みずほ銀行" in text
            assert "1234567" in text
            body = body_text(sent)
            assert f"{PUBLIC_URL}/dashboard/invoices/{invoice['id']}" in body
            assert "経理部 御中" in body

            reversal = {"full_reversal": True}
            note = await post_ok(
                client, f"/v1/invoices/{invoice['id']}/credit-notes", reversal, bill.tenant.admin
            )
            await count(2)
            credit = mine()[-1]
            assert note["number"] in credit["Subject"]
            assert "適格返還請求書" in credit["Subject"]
            _, credit_pdf = attachment(credit)
            assert note["number"] in pdf_text(credit_pdf)

            # The job again, for each document: nothing more is sent.
            for document_id in (invoice["id"], note["id"]):
                job = await send_job(
                    runtime, MAIL_INVOICE_JOB, DEFAULT_QUEUE, bill.tenant.id, invoice_id=document_id
                )

                async def done(job_id: uuid.UUID = job) -> bool:
                    return await job_done(runtime, bill.tenant.id, job_id)

                await eventually("the repeated job to run", done, within=DEADLINE_S)
            logged = await messages(client, bill.tenant)
            assert sorted(m["kind"] for m in logged) == ["credit_note.issued", "invoice.issued"]
            assert {m["status"] for m in logged} == {"sent"}
            assert all(m["attachments"][0]["mime_type"] == "application/pdf" for m in logged)
            await asyncio.sleep(1)
            assert len(mine()) == 2, worker.log()[-3000:]
        finally:
            worker.kill()

    async def test_without_a_billing_address_nothing_is_sent_and_the_log_says_why(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        bill = await billed(client, runtime, billing_email=None)
        invoice = await finalize(client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"])
        assert await queued(runtime, bill.tenant, MAIL_INVOICE_JOB) == [{"invoice_id": invoice["id"]}]
        with structlog.testing.capture_logs() as logs:
            outcome = await mail_now(runtime, bill.tenant, invoice["id"])
        assert (outcome.message_id, outcome.skipped) == (None, "no billing email")
        [entry] = [e for e in logs if e["event"] == "invoice_mail_skipped"]
        assert "billing email" in entry["reason"]
        assert entry["client_code"] == bill.setup["client"]["code"]
        assert await messages(client, bill.tenant) == []

    async def test_without_pdf_rendering_the_mail_links_to_the_document(
        self, client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def unavailable(*args: Any) -> bytes:
            raise PdfUnavailable("PDF is not available on this server: install Pango.")

        monkeypatch.setattr(document, "render_pdf", unavailable)
        bill = await billed(client, runtime)
        invoice = await finalize(client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"])
        outcome = await mail_now(runtime, bill.tenant, invoice["id"])
        assert outcome.message_id is not None
        assert not outcome.attached
        [message] = await messages(client, bill.tenant)
        assert message["attachments"] == []
        assert message["kind"] == "invoice.issued"
        assert message["period"] == "2026-10"
        assert message["subject"].startswith(f"Invoice {invoice['number']} from Operator {bill.tenant.slug}")
        # A second run finds the message and queues nothing.
        again = await mail_now(runtime, bill.tenant, invoice["id"])
        assert (again.message_id, again.skipped) == (outcome.message_id, "already queued")
        assert len(await messages(client, bill.tenant)) == 1

    async def test_a_stripe_invoice_goes_out_after_its_push_with_the_payment_link(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        async def unavailable(*args: Any) -> bytes:
            raise PdfUnavailable("not needed here")

        monkeypatch.setattr(document, "render_pdf", unavailable)
        bill = await billed(client, runtime)
        await connect_stripe(client, bill.tenant, fake_stripe)
        invoice = await finalize(client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"])
        # The mail waits for the push, which knows Stripe's payment link.
        assert await queued(runtime, bill.tenant, MAIL_INVOICE_JOB) == []
        link = await push(runtime, stripe_settings, bill.tenant, invoice["id"])
        assert link is not None
        assert await queued(runtime, bill.tenant, MAIL_INVOICE_JOB) == [{"invoice_id": invoice["id"]}]
        hosted = f"{HOSTED_INVOICE_BASE}/{link.stripe_invoice_id}"
        assert (await get_invoice(client, bill.tenant.admin, invoice["id"]))["hosted_invoice_url"] == hosted

        await mail_now(runtime, bill.tenant, invoice["id"])
        async with runtime.db.tenant(bill.tenant.id) as session:
            from bpo.delivery.models import Message

            stored = await session.scalar(select(Message).where(Message.tenant_id == bill.tenant.id))
            assert stored is not None
            assert f"Pay online: {hosted}" in stored.text_body
            assert stored.html_body is not None
            assert f'href="{hosted}"' in stored.html_body

        await sign_in(browser, bill.tenant.slug, bill.tenant.admin_email)
        page = (await browser.get(f"/dashboard/invoices/{invoice['id']}")).text
        assert f'class="hosted-invoice" href="{hosted}"' in page


# --- webhooks ----------------------------------------------------------------------------------------

INVOICE_EVENTS = ["invoice.finalized", "invoice.paid", "invoice.voided", "credit_note.issued"]


class TestInvoiceWebhooks:
    async def test_a_subscribed_endpoint_receives_each_event_signed(
        self,
        client: httpx.AsyncClient,
        stripe_api: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        bill = await billed(client, runtime)
        account = await connect_stripe(client, bill.tenant, fake_stripe)
        with Receiver() as receiver:
            endpoint = await post_ok(
                client,
                "/v1/webhook-endpoints",
                {"url": receiver.url, "event_types": INVOICE_EVENTS},
                bill.tenant.admin,
            )
            # Another client's endpoint hears nothing of this client's invoices.
            elsewhere = await post_ok(
                client,
                "/v1/webhook-endpoints",
                {"url": receiver.url, "event_types": INVOICE_EVENTS, "client_id": bill.other["client"]["id"]},
                bill.tenant.admin,
            )
            paid_invoice = await finalize(
                client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"]
            )
            link = await push(runtime, stripe_settings, bill.tenant, paid_invoice["id"])
            assert link is not None
            settled = fake_stripe.pay(account, link.stripe_invoice_id)
            event = fake_stripe.event("invoice.paid", settled, account)
            assert (await fake_stripe.send(stripe_api, WEBHOOKS, event)).status_code == 200
            note = await post_ok(
                client,
                f"/v1/invoices/{paid_invoice['id']}/credit-notes",
                {"lines": [{"description": "Goodwill", "amount": 1000}]},
                bill.tenant.admin,
            )
            voided = await finalize(
                client, bill.tenant, (await bill.draft_of(client, bill.other["client"]["id"]))["id"]
            )
            await post_ok(client, f"/v1/invoices/{voided['id']}/void", {}, bill.tenant.admin)

            async with runtime.db.tenant(bill.tenant.id) as session:
                pending = (
                    await session.scalars(
                        select(WebhookDelivery.id)
                        .where(WebhookDelivery.tenant_id == bill.tenant.id)
                        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
                    )
                ).all()
                now = await webhooks.database_now(session)
            for delivery_id in pending:
                async with runtime.db.tenant(bill.tenant.id) as session:
                    status = await webhooks.deliver(
                        session,
                        system_scope(bill.tenant.id),
                        delivery_id,
                        now=now,
                        policy=webhooks.DeliveryPolicy(allow_local=True, jitter=lambda: 0.0),
                    )
                    assert status == "succeeded"

            received = [json.loads(r.body) for r in receiver.received()]
            secrets = {endpoint["id"]: endpoint["secret"], elsewhere["id"]: elsewhere["secret"]}
            for request in receiver.received():
                assert any(
                    webhooks.verify(request.headers["bpo-signature"], request.body, secret, now=time.time())
                    for secret in secrets.values()
                )
        by_type = {(e["type"], e["data"]["invoice_id"]): e["data"] for e in received}
        assert sorted(by_type) == sorted(
            [
                ("invoice.finalized", paid_invoice["id"]),
                ("invoice.paid", paid_invoice["id"]),
                ("credit_note.issued", note["id"]),
                ("invoice.finalized", voided["id"]),
                ("invoice.voided", voided["id"]),
            ]
        )
        paid = by_type[("invoice.paid", paid_invoice["id"])]
        assert paid["number"] == paid_invoice["number"]
        assert paid["status"] == "paid"
        assert paid["kind"] == "invoice"
        assert paid["client_id"] == bill.client_id
        assert paid["client_code"] == bill.setup["client"]["code"]
        assert paid["period"] == "2026-10"
        assert paid["total"] == paid_invoice["total"]
        assert paid["currency"] == "JPY"
        assert paid["hosted_invoice_url"] == f"{HOSTED_INVOICE_BASE}/{link.stripe_invoice_id}"
        issued = by_type[("credit_note.issued", note["id"])]
        assert (issued["kind"], issued["corrects_invoice_id"], issued["total"]["amount"]) == (
            "credit_note",
            paid_invoice["id"],
            -1100,
        )
        # Only the other client's invoice reached the endpoint bound to that client (twice: issued, void).
        assert len(received) == 5 + 2


# --- the invoice list in the browser ---------------------------------------------------------------


async def issued_and_drafts(client: httpx.AsyncClient, runtime: Runtime) -> tuple[Billed, dict[str, Any]]:
    bill = await billed(client, runtime)
    issued = await finalize(client, bill.tenant, (await bill.draft_of(client, bill.client_id))["id"])
    return bill, issued


class TestInvoiceList:
    async def test_operators_see_and_filter_every_invoice_viewers_their_issued_ones(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        bill, issued = await issued_and_drafts(client, runtime)
        draft = await bill.draft_of(client, bill.other["client"]["id"])
        await sign_in(browser, bill.tenant.slug, bill.tenant.admin_email)
        listing = await browser.get("/dashboard/invoices")
        assert listing.status_code == 200, listing.text
        assert listing.headers["content-type"].startswith("text/html")
        page = listing.text
        assert f'data-invoice-id="{issued["id"]}"' in page
        assert f'data-invoice-id="{draft["id"]}"' in page
        assert 'class="badge badge-draft">Draft, not issued</span>' in page
        assert issued["number"] in page
        for suffix in ("", ".pdf", ".csv"):
            assert f'href="/dashboard/invoices/{issued["id"]}{suffix}"' in page
        totals = sorted(int(v) for v in data_values(page, "total"))
        assert totals == sorted([issued["total"]["amount"], draft["total"]["amount"]])
        assert f"¥{issued['total']['amount']:,}" in page
        assert 'href="/dashboard/invoices"' in page  # the navigation

        async def shown(**query: str) -> set[str]:
            response = await browser.get("/dashboard/invoices", params=query)
            assert response.status_code == 200, response.text
            return {
                value
                for value in (issued["id"], draft["id"])
                if f'data-invoice-id="{value}"' in response.text
            }

        assert await shown(status="draft") == {draft["id"]}
        assert await shown(status="finalized") == {issued["id"]}
        assert await shown(client=bill.other["client"]["id"]) == {draft["id"]}
        assert await shown(period="2026-10") == {issued["id"], draft["id"]}
        assert await shown(period="2026-09") == set()
        bad = await browser.get("/dashboard/invoices", params={"period": "October"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("text/html")
        assert (await browser.get("/dashboard/invoices", params={"status": "lost"})).status_code == 400

        # In Japanese, amounts as Japanese readers write them.
        await client.patch("/v1/me", json={"language": "ja"}, headers=bill.tenant.admin)
        japanese = (await browser.get("/dashboard/invoices")).text
        assert f"￥{issued['total']['amount']:,}" in japanese
        assert "2026年10月" in japanese
        assert "下書き" in japanese

        email, _ = await viewer(client, bill.tenant, bill.client_id)
        async with httpx.AsyncClient(base_url=str(browser.base_url), timeout=30) as own:
            await sign_in(own, bill.tenant.slug, email)
            mine = (await own.get("/dashboard/invoices")).text
            assert f'data-invoice-id="{issued["id"]}"' in mine
            assert draft["id"] not in mine
            assert bill.other["client"]["name"] not in mine
            # Asking for another client's invoices shows none of them.
            other = await own.get("/dashboard/invoices", params={"client": bill.other["client"]["id"]})
            assert draft["id"] not in other.text

    async def test_the_lines_as_csv_for_those_who_may_see_them(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        bill, issued = await issued_and_drafts(client, runtime)
        email, _ = await viewer(client, bill.tenant, bill.client_id)
        await sign_in(browser, bill.tenant.slug, email)
        response = await browser.get(f"/dashboard/invoices/{issued['id']}.csv")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"] == f'attachment; filename="{issued["number"]}.csv"'
        rows = list(csv.DictReader(io.StringIO(response.text)))
        lines = [r for r in rows if r["kind"] != "consumption_tax"]
        assert [int(r["amount"]) for r in lines] == [line["amount"]["amount"] for line in issued["lines"]]
        assert {r["invoice_number"] for r in rows} == {issued["number"]}
        # The same bytes as the API's CSV.
        api = await client.get(f"/v1/invoices/{issued['id']}.csv", headers=bill.tenant.admin)
        assert api.text == response.text

        # Another client's viewer: every invoice route is a 404, as for an id that does not exist.
        other_email, other_headers = await viewer(client, bill.tenant, bill.other["client"]["id"])
        async with httpx.AsyncClient(base_url=str(browser.base_url), timeout=30) as stranger:
            await sign_in(stranger, bill.tenant.slug, other_email)
            for path in ("", ".pdf", ".csv"):
                for target in (issued["id"], str(uuid.uuid4())):
                    answer = await stranger.get(f"/dashboard/invoices/{target}{path}")
                    assert answer.status_code == 404, (path, answer.text[:200])
                    assert issued["number"] not in answer.text
            listing = (await stranger.get("/dashboard/invoices")).text
            assert issued["id"] not in listing
        for path in (f"/v1/invoices/{issued['id']}", f"/v1/invoices/{issued['id']}.csv"):
            assert_problem(await client.get(path, headers=other_headers), 404)


@pytest.mark.slow
class TestInChromium:
    async def test_the_list_at_phone_width(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        binary = chromium_binary()
        bill, _ = await issued_and_drafts(client, runtime)
        await client.patch("/v1/tenant", json={"default_language": "ja"}, headers=bill.tenant.admin)
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, server.url, bill.tenant.slug, bill.tenant.admin_email)
            await page.goto(f"{server.url}/dashboard/invoices")
            rows = await page.evaluate("document.querySelectorAll('.invoice-row').length")
            assert rows == 2
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            blocked = [text for text in page.console_errors() if "Content Security Policy" in text]
            assert blocked == []
            phone = await page.screenshot(ARTIFACTS / "invoice-list-phone.png")
        print(f"\nscreenshot of the invoice list: {phone}")
