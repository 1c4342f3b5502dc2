"""Outgoing mail end to end through the local SMTP server (the one `bpo dev` runs): a test mail queued
through the API, sent by a real worker, kept as an .eml; the send job with explicit instants for bounces
and retries; idempotent queuing with attachments; the delivery log's isolation and bad input; the dev
mailbox pages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bpo.core import mail
from bpo.core.jobs import outbox
from bpo.core.jobs.models import OutboxMessage
from bpo.core.jobs.registry import MAIL_QUEUE, SEND_MAIL_JOB
from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import messages
from bpo.settings import Settings
from tests.support.dashboard import sign_in
from tests.support.factories import TenantHandle, create_client, create_tenant, create_user
from tests.support.jobs import eventually
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.paths import ARTIFACTS
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.server import ServerThread

DEADLINE_S = 60.0


async def send_test(client: httpx.AsyncClient, tenant: TenantHandle, to: str) -> dict[str, Any]:
    response = await client.post("/v1/messages/test", json={"to": to}, headers=tenant.admin)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def logged(client: httpx.AsyncClient, tenant: TenantHandle, message_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/messages/{message_id}", headers=tenant.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def policy_for(server: LocalMailServer, **overrides: Any) -> messages.SendPolicy:
    return messages.SendPolicy(
        server=mail.SmtpServer.from_url(server.url),
        sender="BPO Ops <no-reply@bpo.test>",
        jitter=lambda: 0.0,
        timeout_s=5.0,
        **overrides,
    )


async def attempt(
    runtime: Runtime, tenant: TenantHandle, message_id: str, now: datetime, policy: messages.SendPolicy
) -> str | None:
    """What the ``mail.send`` job does, at an explicit instant."""
    async with runtime.db.tenant(tenant.id) as session:
        return await messages.send_message(
            session, system_scope(tenant.id), uuid.UUID(message_id), now=now, policy=policy
        )


async def outbox_jobs(runtime: Runtime, tenant: TenantHandle) -> int:
    async with runtime.db.tenant(tenant.id) as session:
        count = await session.scalar(
            select(func.count()).where(
                OutboxMessage.tenant_id == tenant.id, OutboxMessage.actor == SEND_MAIL_JOB
            )
        )
        return int(count or 0)


class TestSending:
    async def test_a_real_worker_sends_a_test_mail_once(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        settings: Settings,
        worker_env: dict[str, str],
        mail_server: LocalMailServer,
        tmp_path: Path,
    ) -> None:
        tenant = await create_tenant(client)
        env = {**worker_env, "BPO_SMTP_URL": mail_server.url, "BPO_MAIL_FROM": "Ops <ops@bpo.test>"}
        worker = Worker(env, tmp_path / "worker.log", args=("--queue", MAIL_QUEUE))
        try:
            queued = await send_test(client, tenant, "lead@client.example")
            assert (queued["status"], queued["attempts"], queued["kind"]) == ("pending", 0, "mail.test")

            def mine() -> list[EmailMessage]:
                # The worker also sends what other tests of this process left queued, to this server.
                return [m for m in kept(mail_server) if m["X-BPO-Tenant"] == str(tenant.id)]

            async def arrived() -> bool:
                return len(mine()) == 1

            await eventually("the test mail to arrive", arrived, within=DEADLINE_S)

            async def recorded() -> bool:
                return bool((await logged(client, tenant, queued["id"]))["status"] == "sent")

            await eventually("the message to be logged as sent", recorded, within=DEADLINE_S)

            # A second job for the same message (a duplicate) sends nothing more.
            async with runtime.db.tenant(tenant.id) as session:
                outbox.relay_on_commit(session, runtime.relay)
                duplicate = outbox.enqueue(
                    session, tenant.id, SEND_MAIL_JOB, queue=MAIL_QUEUE, message_id=queued["id"]
                )

            async def duplicate_done() -> bool:
                return worker.logged("job_done", duplicate)

            await eventually("the duplicate job to finish", duplicate_done, within=DEADLINE_S)
        finally:
            worker.kill()
        assert len(mine()) == 1, worker.log()[-3000:]

        (received,) = mine()
        assert received["To"] == "lead@client.example"
        assert received["From"] == "Ops <ops@bpo.test>"
        assert received["Subject"] == "Test message from BPO Ops"
        assert received["Message-ID"] == f"<{queued['id']}@bpo.test>"
        assert received[mail.TENANT_HEADER] == str(tenant.id)
        assert received.get_content_type() == "multipart/alternative"
        text = received.get_body(preferencelist=("plain",))
        html = received.get_body(preferencelist=("html",))
        assert text is not None
        assert html is not None
        assert text.get_content_type() == "text/plain"
        assert html.get_content_type() == "text/html"
        dashboard = f"{settings.public_base_url}/dashboard"
        assert dashboard.startswith("http")
        assert f"Open BPO Ops: {dashboard}" in text.get_content()
        assert f'href="{dashboard}"' in html.get_content()
        assert f"Operator {tenant.slug}" in text.get_content()

        sent = await logged(client, tenant, queued["id"])
        assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 1, None)
        assert sent["to"] == "lead@client.example"
        assert sent["sent_at"] is not None
        assert await outbox_jobs(runtime, tenant) == 2

    async def test_a_refused_recipient_fails_for_good_until_an_operator_retries(
        self, client: httpx.AsyncClient, runtime: Runtime, mail_server: LocalMailServer
    ) -> None:
        tenant = await create_tenant(client)
        mail_server.refused.add("gone@client.example")
        queued = await send_test(client, tenant, "gone@client.example")
        now = datetime.now(UTC)
        policy = policy_for(mail_server)

        assert await attempt(runtime, tenant, queued["id"], now, policy) == "failed"
        failed = await logged(client, tenant, queued["id"])
        assert (failed["status"], failed["attempts"]) == ("failed", 1)
        assert failed["last_error"] == "550 5.1.1 No such mailbox here"
        assert failed["next_attempt_at"] is None
        assert failed["failed_at"] is not None
        # No more attempts, however late.
        assert await attempt(runtime, tenant, queued["id"], now + timedelta(days=3), policy) is None
        assert kept(mail_server) == []
        listed = await client.get("/v1/messages", params={"status": "failed"}, headers=tenant.admin)
        assert [m["id"] for m in listed.json()["items"]] == [queued["id"]]

        mail_server.refused.clear()
        retried = await client.post(f"/v1/messages/{queued['id']}/retry", headers=tenant.admin)
        assert retried.status_code == 202, retried.text
        assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
        assert await attempt(runtime, tenant, queued["id"], now + timedelta(seconds=1), policy) == "sent"
        assert len(kept(mail_server)) == 1
        sent = await logged(client, tenant, queued["id"])
        assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 1, None)
        # The retry queued its own job, beside the first.
        assert await outbox_jobs(runtime, tenant) == 2

        again = await client.post(f"/v1/messages/{queued['id']}/retry", headers=tenant.admin)
        assert_problem(again, 409, "not-failed")

    async def test_transient_replies_back_off_then_the_schedule_ends_in_failure(
        self, client: httpx.AsyncClient, runtime: Runtime, mail_server: LocalMailServer
    ) -> None:
        tenant = await create_tenant(client)
        queued = await send_test(client, tenant, "ops@client.example")
        start = datetime.now(UTC)
        mail_server.stop()
        policy = policy_for(mail_server, schedule=(timedelta(seconds=30),))
        assert await attempt(runtime, tenant, queued["id"], start, policy) == "pending"
        assert await attempt(runtime, tenant, queued["id"], start + timedelta(seconds=29), policy) is None
        assert await attempt(runtime, tenant, queued["id"], start + timedelta(seconds=30), policy) == "failed"
        failed = await logged(client, tenant, queued["id"])
        assert failed["attempts"] == 2
        assert failed["last_error"].startswith("gave up after 2 attempts: ")

    async def test_queuing_twice_stores_one_message_with_its_attachment(
        self, client: httpx.AsyncClient, runtime: Runtime, mail_server: LocalMailServer
    ) -> None:
        tenant = await create_tenant(client)
        invoice_id = uuid.uuid4()
        pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
        ids = []
        for _ in range(2):
            async with runtime.db.tenant(tenant.id) as session:
                ids.append(
                    await messages.queue_message(
                        session,
                        tenant.id,
                        "invoice.finalized",
                        "invoice",
                        invoice_id,
                        "2026-11",
                        "billing@client.example",
                        "Invoice 2026-11",
                        "Your invoice is attached.",
                        "<p>Your invoice is attached.</p>",
                        attachments=[mail.Attachment("invoice-2026-11.pdf", pdf, "application/pdf")],
                    )
                )
        assert ids[0] == ids[1]
        assert await outbox_jobs(runtime, tenant) == 1
        page = await client.get("/v1/messages", params={"kind": "invoice.finalized"}, headers=tenant.admin)
        (message,) = page.json()["items"]
        assert message["attachments"] == [
            {"filename": "invoice-2026-11.pdf", "mime_type": "application/pdf", "size": len(pdf)}
        ]
        assert (message["subject_type"], message["period"]) == ("invoice", "2026-11")

        policy = policy_for(mail_server)
        assert await attempt(runtime, tenant, str(ids[0]), datetime.now(UTC), policy) == "sent"
        (received,) = kept(mail_server)
        assert received.get_content_type() == "multipart/mixed"
        (file,) = list(received.iter_attachments())
        assert file.get_filename() == "invoice-2026-11.pdf"
        assert file.get_content_type() == "application/pdf"
        assert file.get_payload(decode=True) == pdf

    async def test_bad_addresses_and_oversized_attachments_are_refused(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        async with runtime.db.tenant(tenant.id) as session:
            with pytest.raises(Exception, match="recipient") as refused:
                await messages.queue_message(
                    session,
                    tenant.id,
                    "k",
                    "x",
                    uuid.uuid4(),
                    "",
                    "a@b.example\nBcc: x@y.example",
                    "S",
                    "t",
                    None,
                )
            assert error_fields({"errors": refused.value.errors}) == ["recipient"]  # type: ignore[attr-defined]
            too_big = mail.Attachment("big.bin", b"0" * (messages.MAX_ATTACHMENT_BYTES + 1))
            with pytest.raises(Exception, match="attachments"):
                await messages.queue_message(
                    session, tenant.id, "k", "x", uuid.uuid4(), "", "a@b.example", "S", "t", None, [too_big]
                )


class TestDeliveryLog:
    async def test_bad_input_names_the_field_and_writes_nothing(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        for body, field in [
            ({"to": "not-an-address"}, "to"),
            ({"to": "a@b.example\nBcc: x@y.example"}, "to"),
            ({"to": "Someone <a@b.example>"}, "to"),
            ({"to": "a@b.example, c@d.example"}, "to"),
            ({"to": "x" * 250 + "@b.example"}, "to"),
            ({}, "to"),
            ({"to": "a@b.example", "cc": "c@d.example"}, "cc"),
        ]:
            response = await client.post("/v1/messages/test", json=body, headers=tenant.admin)
            problem = assert_problem(response, 422)
            assert error_fields(problem) == [field], (body, problem)
        for params, field in [
            ({"status": "bounced"}, "status"),
            ({"kind": ""}, "kind"),
            ({"limit": "0"}, "limit"),
        ]:
            response = await client.get("/v1/messages", params=params, headers=tenant.admin)
            fields = error_fields(assert_problem(response, 422))
            assert fields == [f"query.{field}"], (params, fields)
        listed = await client.get("/v1/messages", headers=tenant.admin)
        assert listed.json() == {"items": [], "next_cursor": None}

    async def test_other_tenants_and_non_operators_cannot_reach_messages(
        self, client: httpx.AsyncClient
    ) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        queued = await send_test(client, a, "ops@client.example")
        x = await create_client(client, a)
        _, viewer_headers = await create_user(client, a, role="client_viewer", client_id=uuid.UUID(x["id"]))
        _, supervisor_headers = await create_user(client, a, role="supervisor")

        assert (await client.get("/v1/messages", headers=b.admin)).json()["items"] == []
        for method, path in [
            ("GET", f"/v1/messages/{queued['id']}"),
            ("POST", f"/v1/messages/{queued['id']}/retry"),
        ]:
            mine = await client.request(method, path, headers=b.admin)
            missing = await client.request(
                method, path.replace(queued["id"], str(uuid.uuid4())), headers=b.admin
            )
            assert_problem(mine, 404)
            assert (mine.status_code, mine.json()["type"]) == (missing.status_code, missing.json()["type"])

        for path in ["/v1/messages", f"/v1/messages/{queued['id']}"]:
            assert_problem(await client.get(path, headers=viewer_headers), 403)
        seen = await client.get("/v1/messages", headers=supervisor_headers)
        assert [m["id"] for m in seen.json()["items"]] == [queued["id"]]
        # Only admins send test mail.
        refused = await client.post(
            "/v1/messages/test", json={"to": "x@y.example"}, headers=supervisor_headers
        )
        assert_problem(refused, 403)
        assert len((await client.get("/v1/messages", headers=a.admin)).json()["items"]) == 1


# --- the dev mailbox --------------------------------------------------------------------------------


@pytest.fixture
def mailbox_server(settings: Settings, mail_server: LocalMailServer) -> Iterator[ServerThread]:
    """The app as `bpo dev` serves it with its embedded mail server."""
    with ServerThread(settings.model_copy(update={"dev_mailbox": mail_server.directory})) as running:
        yield running


@pytest.fixture
async def mailbox_browser(mailbox_server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mailbox_server.url, timeout=30) as http:
        yield http


class TestDevMailbox:
    async def test_an_operator_reads_its_tenants_mail_only(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        mail_server: LocalMailServer,
        mailbox_browser: httpx.AsyncClient,
    ) -> None:
        a = await create_tenant(client)
        b = await create_tenant(client)
        policy = policy_for(mail_server)
        ours = await send_test(client, a, "ours@client.example")
        theirs = await send_test(client, b, "theirs@client.example")
        assert await attempt(runtime, a, ours["id"], datetime.now(UTC), policy) == "sent"
        assert await attempt(runtime, b, theirs["id"], datetime.now(UTC), policy) == "sent"
        names = sorted(p.name for p in mail_server.directory.glob("*.eml"))
        assert len(names) == 2

        # Without a session: the sign-in form.
        entry = await mailbox_browser.get("/dev/mailbox")
        assert entry.status_code == 303
        assert entry.headers["location"] == "/dashboard/dev/mailbox/"
        anonymous = await mailbox_browser.get("/dashboard/dev/mailbox/")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/dashboard/login")

        signed_in = await sign_in(mailbox_browser, a.slug, a.admin_email)
        assert signed_in.status_code == 303, signed_in.text
        inbox = await mailbox_browser.get("/dashboard/dev/mailbox/")
        assert inbox.status_code == 200, inbox.text
        assert "ours@client.example" in inbox.text
        assert "theirs@client.example" not in inbox.text
        (own,) = [n for n in names if n in inbox.text]
        (other,) = [n for n in names if n != own]

        shown = await mailbox_browser.get(f"/dashboard/dev/mailbox/{own}")
        assert shown.status_code == 200
        assert "Open BPO Ops:" in shown.text
        part = await mailbox_browser.get(f"/dashboard/dev/mailbox/{own}/html")
        assert part.status_code == 200
        assert "Mail from BPO Ops works" in part.text
        assert "sandbox" in part.headers["content-security-policy"]
        for path in [
            f"/dashboard/dev/mailbox/{other}",
            f"/dashboard/dev/mailbox/{other}/html",
            "/dashboard/dev/mailbox/..%2Fx.eml",
        ]:
            assert (await mailbox_browser.get(path)).status_code == 404, path

        # The API server of the other tests runs no mail server: no mailbox there.
        assert (await browser.get("/dev/mailbox")).status_code == 404
        assert (await browser.get("/dashboard/dev/mailbox/")).status_code == 404

    async def test_attachments_download_and_the_page_fits_a_phone(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        mail_server: LocalMailServer,
        mailbox_server: ServerThread,
        mailbox_browser: httpx.AsyncClient,
    ) -> None:
        tenant = await create_tenant(client)
        pdf = b"%PDF-1.7 probe"
        async with runtime.db.tenant(tenant.id) as session:
            message_id = await messages.queue_message(
                session,
                tenant.id,
                "report.ready",
                "report",
                uuid.uuid4(),
                "2026-W48",
                "lead@client.example",
                "Weekly report 2026-W48",
                "Your weekly report is attached.",
                "<p>Your weekly report is attached.</p>",
                attachments=[mail.Attachment("report-2026-W48.pdf", pdf, "application/pdf")],
            )
        assert (
            await attempt(runtime, tenant, str(message_id), datetime.now(UTC), policy_for(mail_server))
            == "sent"
        )
        (name,) = [p.name for p in mail_server.directory.glob("*.eml")]
        await sign_in(mailbox_browser, tenant.slug, tenant.admin_email)
        download = await mailbox_browser.get(f"/dashboard/dev/mailbox/{name}/attachments/0")
        assert download.status_code == 200
        assert download.content == pdf
        assert download.headers["content-type"].startswith("application/pdf")
        assert 'filename="report-2026-W48.pdf"' in download.headers["content-disposition"]
        assert (await mailbox_browser.get(f"/dashboard/dev/mailbox/{name}/attachments/1")).status_code == 404

        from tests.support.chromium import Chromium, chromium_binary
        from tests.support.dashboard import sign_in_on_page

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        async with Chromium(chromium_binary()) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, mailbox_server.url, tenant.slug, tenant.admin_email)
            await page.goto(f"{mailbox_server.url}/dashboard/dev/mailbox/")
            await page.screenshot(ARTIFACTS / "mailbox-phone.png")
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            await page.goto(f"{mailbox_server.url}/dashboard/dev/mailbox/{name}")
            await page.screenshot(ARTIFACTS / "mailbox-message-phone.png")
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert page.console_errors() == []
