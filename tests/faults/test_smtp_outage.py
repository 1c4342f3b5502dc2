"""The SMTP server down for a while: a message waits in the log as pending with the reason, is not sent
twice by duplicate jobs, and goes once the server is back and its retry comes due (the scheduler's sweep
turns due retries into jobs)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from bpo.core import mail
from bpo.core.jobs.models import OutboxMessage
from bpo.core.jobs.registry import SEND_MAIL_JOB
from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import messages
from tests.support.factories import create_tenant
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server  # the fixture


async def test_mail_waits_while_the_smtp_server_is_down_and_goes_when_it_is_back(
    client: httpx.AsyncClient, runtime: Runtime, mail_server: LocalMailServer
) -> None:
    tenant = await create_tenant(client)
    response = await client.post("/v1/messages/test", json={"to": "ops@client.example"}, headers=tenant.admin)
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    policy = messages.SendPolicy(
        server=mail.SmtpServer.from_url(mail_server.url),
        sender="ops@bpo.test",
        jitter=lambda: 0.0,
        timeout_s=5,
    )
    scope = system_scope(tenant.id)

    async def attempt(now: datetime) -> str | None:
        async with runtime.db.tenant(tenant.id) as session:
            return await messages.send_message(session, scope, uuid.UUID(message_id), now=now, policy=policy)

    async def sweep(now: datetime) -> int:
        async with runtime.db.tenant(tenant.id) as session:
            return await messages.sweep_due(session, scope, now=now)

    async def logged() -> dict[str, Any]:
        got = await client.get(f"/v1/messages/{message_id}", headers=tenant.admin)
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    mail_server.stop()
    start = datetime.now(UTC)
    assert await attempt(start) == "pending"
    waiting = await logged()
    assert (waiting["status"], waiting["attempts"]) == ("pending", 1)
    assert "Connect" in waiting["last_error"], waiting["last_error"]
    retry_at = datetime.fromisoformat(waiting["next_attempt_at"])
    assert retry_at == start + messages.RETRY_SCHEDULE[0]
    # A duplicate job before the retry is due does nothing, nor does the sweep.
    assert await attempt(start + timedelta(seconds=1)) is None
    assert await sweep(start + timedelta(seconds=10)) == 0

    mail_server.start()
    assert await sweep(retry_at) == 1
    async with runtime.db.tenant(tenant.id) as session:
        jobs = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.tenant_id == tenant.id, OutboxMessage.actor == SEND_MAIL_JOB
                )
            )
        ).all()
    assert [job.kwargs["message_id"] for job in jobs] == [message_id, message_id]
    assert await attempt(retry_at) == "sent"
    assert await attempt(retry_at + timedelta(minutes=5)) is None
    (received,) = kept(mail_server)
    assert received["To"] == "ops@client.example"
    sent = await logged()
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 2, None)
