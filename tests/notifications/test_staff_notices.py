"""Notices to staff and supervisors through the public surfaces: a published week is one mail listing its
shifts, decisions reach the requester (and a waiting claim the supervisors), lateness reaches the
supervisors once, a kind turned off is not mailed, a person's own webhook is signed and received, bad
input is a 422 naming the field, and a person reads and changes only their own preferences."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bpo.core import mail
from bpo.core.jobs.failures import Failures
from bpo.core.jobs.registry import MAIL_QUEUE, SWEEP_NOTICES_JOB
from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import messages, webhooks
from bpo.delivery.models import Message
from bpo.notifications import sending
from bpo.notifications.models import NoticeBatch
from bpo.settings import Settings
from tests.support.factories import TenantHandle, create_user, get_ok, post_ok
from tests.support.jobs import eventually, send_job
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.receiver import Receiver
from tests.support.staffing import add_assignment, add_punch, add_shift, remote_contract, staff_login, world

PREFERENCES = "/v1/me/notification-preferences"


@dataclass
class Desk:
    tenant: TenantHandle
    contract: dict[str, Any]
    hana: uuid.UUID
    hana_h: dict[str, str]
    hana_email: str
    supervisor: dict[str, Any]
    supervisor_h: dict[str, str]
    client_id: uuid.UUID


async def desk(client: httpx.AsyncClient, runtime: Runtime, *, zone: str = "Europe/London") -> Desk:
    w = await world(client)
    contract = await remote_contract(client, w.tenant, w.setup, name="Night patrol")
    hana, hana_h = await staff_login(client, runtime, w.tenant, "Hana Suzuki", zone=zone)
    response = await client.patch("/v1/me", json={"language": "en"}, headers=hana_h)
    assert response.status_code == 200, response.text
    supervisor, supervisor_h = await create_user(client, w.tenant, role="supervisor")
    response = await client.patch("/v1/me", json={"language": "en"}, headers=supervisor_h)
    assert response.status_code == 200, response.text
    client_id = uuid.UUID(w.setup["client"]["id"])
    hana_email = await email_of(client, hana_h)
    return Desk(w.tenant, contract, hana, hana_h, hana_email, supervisor, supervisor_h, client_id)


def days_ahead(days: int, hour: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour)


async def sweep(
    runtime: Runtime, settings: Settings, tenant: TenantHandle, *, after: float = 120
) -> Failures:
    """What the ``notifications.sweep`` job does ``after`` seconds from now; the failures it met."""
    failures = Failures()
    now = datetime.now(UTC) + timedelta(seconds=after)
    async with runtime.db.tenant(tenant.id) as session:
        await sending.sweep(session, system_scope(tenant.id), now, settings, failures)
    return failures


async def mails(runtime: Runtime, tenant: TenantHandle, to: str | None = None) -> list[Message]:
    async with runtime.db.tenant(tenant.id) as session:
        statement = (
            select(Message)
            .where(Message.tenant_id == tenant.id, Message.kind == sending.MESSAGE_KIND)
            .order_by(Message.created_at, Message.id)
        )
        found = list((await session.scalars(statement)).all())
    return [m for m in found if to is None or m.recipient == to]


async def batches(runtime: Runtime, tenant: TenantHandle) -> list[NoticeBatch]:
    async with runtime.db.tenant(tenant.id) as session:
        rows = await session.scalars(
            select(NoticeBatch).where(NoticeBatch.tenant_id == tenant.id).order_by(NoticeBatch.created_at)
        )
        return list(rows.all())


async def deliver(runtime: Runtime, tenant: TenantHandle, message: Message, server: LocalMailServer) -> None:
    """What the ``mail.send`` job does with the local mail server (the dev mailbox)."""
    policy = messages.SendPolicy(
        server=mail.SmtpServer.from_url(server.url), sender="BPO Ops <no-reply@bpo.test>", timeout_s=5.0
    )
    async with runtime.db.tenant(tenant.id) as session:
        status = await messages.send_message(
            session, system_scope(tenant.id), message.id, now=datetime.now(UTC), policy=policy
        )
    assert status == "sent"


async def email_of(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    me = await get_ok(client, "/v1/me", headers)
    return str(me["user"]["email"])


async def claim_shift(client: httpx.AsyncClient, d: Desk, shift_id: uuid.UUID) -> dict[str, Any]:
    response = await client.post(f"/v1/me/open-shifts/{shift_id}/claim", headers=d.hana_h)
    assert response.status_code == 201, response.text
    claim: dict[str, Any] = response.json()
    return claim


async def publish(client: httpx.AsyncClient, d: Desk, first: datetime, last: datetime) -> None:
    body = {"contract_id": d.contract["id"], "from": f"{first:%Y-%m-%d}", "to": f"{last:%Y-%m-%d}"}
    await post_ok(client, "/v1/shifts:publish", body, d.tenant.admin)


class TestShifts:
    async def test_a_published_week_is_one_mail_listing_every_shift_on_my_clock(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings, mail_server: LocalMailServer
    ) -> None:
        d = await desk(client, runtime)
        starts = [days_ahead(n, 9) for n in range(2, 7)]
        for start in starts:
            shift = await add_shift(
                runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8), status="draft"
            )
            await add_assignment(runtime, d.tenant, shift, d.hana)
        await publish(client, d, starts[0], starts[-1])

        # Within the quiet minute after the publish nothing goes: more may follow.
        await sweep(runtime, settings, d.tenant, after=0)
        assert await mails(runtime, d.tenant) == []
        assert (await sweep(runtime, settings, d.tenant)).failed == []
        # A sweep run again sends nothing more.
        await sweep(runtime, settings, d.tenant)
        [message] = await mails(runtime, d.tenant)
        assert message.recipient == d.hana_email
        assert message.subject == "5 updates about shifts"
        assert "New shifts for you" in message.text_body
        assert message.text_body.count("Night patrol, ") == 5
        # 09:00 UTC in December is 09:00 in London: on Hana's clock, with the weekday.
        for start in starts:
            assert f"{start:%a} {start.day} {start:%b} 09:00\N{EN DASH}17:00" in message.text_body
        assert "/dashboard/me/shifts" in message.text_body
        assert "/dashboard/account/notifications" in message.text_body

        await deliver(runtime, d.tenant, message, mail_server)
        [received] = kept(mail_server)
        assert received["To"] == d.hana_email
        assert received["X-BPO-Tenant"] == str(d.tenant.id)

    async def test_a_changed_and_a_cancelled_shift_say_what_changed(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime, zone="Asia/Tokyo")
        response = await client.patch("/v1/me", json={"language": "ja"}, headers=d.hana_h)
        assert response.status_code == 200, response.text
        start = days_ahead(3, 0)
        moved = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        gone = await add_shift(
            runtime, d.tenant, d.contract["id"], start + timedelta(days=1), start + timedelta(days=1, hours=8)
        )
        await add_assignment(runtime, d.tenant, moved, d.hana)
        kept_on = await add_assignment(runtime, d.tenant, gone, d.hana)
        await sweep(runtime, settings, d.tenant)
        before = len(await mails(runtime, d.tenant))

        later = {
            "start": (start + timedelta(hours=1)).isoformat(),
            "end": (start + timedelta(hours=9)).isoformat(),
        }
        response = await client.patch(f"/v1/shifts/{moved}", json=later, headers=d.tenant.admin)
        assert response.status_code == 200, response.text
        response = await client.delete(f"/v1/assignments/{kept_on}", headers=d.tenant.admin)
        assert response.status_code == 204, response.text
        await sweep(runtime, settings, d.tenant)
        message = (await mails(runtime, d.tenant))[before]
        left, right = "\N{FULLWIDTH LEFT PARENTHESIS}", "\N{FULLWIDTH RIGHT PARENTHESIS}"
        assert message.subject == f"シフトのお知らせ{left}2件{right}"
        assert "変更されたシフト" in message.text_body
        assert "担当から外れたシフト" in message.text_body
        # 00:00 UTC is 09:00 in Tokyo; the change to 10:00 says what it was.
        assert f"10:00\N{EN DASH}18:00{left}変更前\N{FULLWIDTH COLON}" in message.text_body
        assert f"09:00\N{EN DASH}17:00{right}" in message.text_body


class TestDecisions:
    async def test_a_claim_waits_for_the_supervisor_and_its_approval_reaches_the_claimant(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings, mail_server: LocalMailServer
    ) -> None:
        d = await desk(client, runtime)
        start = days_ahead(2, 9)
        shift = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        claim = await claim_shift(client, d, shift)
        await sweep(runtime, settings, d.tenant)
        [waiting] = await mails(runtime, d.tenant, d.supervisor["email"])
        assert waiting.subject.startswith(
            "Claims waiting for your approval: Hana Suzuki claims Night patrol, "
        )
        assert "/dashboard/approvals" in waiting.text_body

        response = await client.post(f"/v1/open-shift-claims/{claim['id']}:approve", headers=d.supervisor_h)
        assert response.status_code == 200, response.text
        await sweep(runtime, settings, d.tenant)
        [approved] = await mails(runtime, d.tenant, d.hana_email)
        assert approved.subject.startswith("Your claim is approved, the shift is yours: Night patrol, ")
        # The assignment the approval made is told by the decision alone.
        assert "New shifts for you" not in approved.text_body
        await deliver(runtime, d.tenant, approved, mail_server)
        assert [m["To"] for m in kept(mail_server)] == [d.hana_email]

    async def test_a_declined_claim_says_why_and_a_claim_decided_before_the_sweep_is_not_sent_as_waiting(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime)
        start = days_ahead(2, 9)
        shift = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        claim = await claim_shift(client, d, shift)
        response = await client.post(
            f"/v1/open-shift-claims/{claim['id']}:decline",
            json={"note": "Kenji covers it"},
            headers=d.supervisor_h,
        )
        assert response.status_code == 200, response.text
        await sweep(runtime, settings, d.tenant)
        assert await mails(runtime, d.tenant, d.supervisor["email"]) == []
        [declined] = await mails(runtime, d.tenant, d.hana_email)
        assert "Your claim is not approved: Night patrol" in declined.subject
        assert "(Note: Kenji covers it)" in declined.text_body

    async def test_an_approved_trade_tells_both_with_both_shifts_and_nothing_twice(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime)
        kenji, kenji_h = await staff_login(client, runtime, d.tenant, "Kenji Sato", zone="Europe/London")
        response = await client.patch("/v1/me", json={"language": "en"}, headers=kenji_h)
        assert response.status_code == 200, response.text
        mine_at, theirs_at = days_ahead(3, 9), days_ahead(4, 12)
        mine = await add_shift(runtime, d.tenant, d.contract["id"], mine_at, mine_at + timedelta(hours=8))
        theirs = await add_shift(
            runtime, d.tenant, d.contract["id"], theirs_at, theirs_at + timedelta(hours=8)
        )
        my_assignment = await add_assignment(runtime, d.tenant, mine, d.hana)
        their_assignment = await add_assignment(runtime, d.tenant, theirs, kenji)
        await sweep(runtime, settings, d.tenant)
        before = len(await mails(runtime, d.tenant))
        offer = {
            "assignment_id": str(my_assignment),
            "counterpart_staff_id": str(kenji),
            "counterpart_assignment_id": str(their_assignment),
        }
        swap = await post_ok(client, "/v1/me/swap-requests", offer, d.hana_h)
        accepted = await client.post(f"/v1/swap-requests/{swap['id']}:accept", headers=kenji_h)
        assert accepted.status_code == 200, accepted.text
        approved = await client.post(f"/v1/swap-requests/{swap['id']}:approve", headers=d.supervisor_h)
        assert approved.status_code == 200, approved.text
        await sweep(runtime, settings, d.tenant)
        told = (await mails(runtime, d.tenant))[before:]
        assert sorted(m.recipient for m in told) == sorted([d.hana_email, (await email_of(client, kenji_h))])
        for message in told:
            assert message.subject.startswith("The swap is approved: Night patrol, ")
            assert f"{mine_at:%a} {mine_at.day} {mine_at:%b} 09:00" in message.subject
            assert f"(in exchange for {theirs_at:%a} {theirs_at.day} {theirs_at:%b} 12:00" in message.subject
            assert "Shifts you are no longer on" not in message.text_body
            assert "New shifts for you" not in message.text_body

    async def test_time_off_decided_reaches_the_requester(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime)
        leave = {"start": days_ahead(10, 0).isoformat(), "end": days_ahead(12, 0).isoformat()}
        asked = await post_ok(client, f"/v1/staff/{d.hana}/time-off", leave, d.hana_h)
        response = await client.post(f"/v1/time-off/{asked['id']}:approve", headers=d.supervisor_h)
        assert response.status_code == 200, response.text
        await sweep(runtime, settings, d.tenant)
        [message] = await mails(runtime, d.tenant, d.hana_email)
        assert message.subject.startswith("Your time off is approved: ")


class TestLateness:
    async def test_the_supervisor_hears_once_and_not_of_someone_who_clocked_in(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime)
        kenji, _ = await staff_login(client, runtime, d.tenant, "Kenji Sato")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=13)
        late = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        on_time = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        await add_assignment(runtime, d.tenant, late, d.hana)
        await add_assignment(runtime, d.tenant, on_time, kenji)
        await add_punch(runtime, d.tenant, on_time, kenji, "clock_in", start)
        # Not yet late at 20 minutes: the tenant's setting.
        response = await client.put(
            "/v1/notification-settings", json={"late_after_minutes": 20}, headers=d.tenant.admin
        )
        assert response.status_code == 200, response.text
        await sweep(runtime, settings, d.tenant, after=0)
        await sweep(runtime, settings, d.tenant)
        assert await mails(runtime, d.tenant, d.supervisor["email"]) == []

        response = await client.put(
            "/v1/notification-settings", json={"late_after_minutes": 10}, headers=d.tenant.admin
        )
        assert response.status_code == 200, response.text
        for _ in range(3):
            await sweep(runtime, settings, d.tenant)
        [message] = await mails(runtime, d.tenant, d.supervisor["email"])
        assert message.subject.startswith(
            "Not clocked in: Hana Suzuki had not clocked in 10 minutes after the start of Night patrol, "
        )
        assert "Kenji" not in message.text_body
        assert "/dashboard/roster" in message.text_body

    async def test_the_setting_is_checked(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        d = await desk(client, runtime)
        response = await client.put(
            "/v1/notification-settings", json={"late_after_minutes": 0}, headers=d.tenant.admin
        )
        assert "late_after_minutes" in error_fields(assert_problem(response, 422))
        response = await client.put(
            "/v1/notification-settings", json={"late_after_minutes": 5}, headers=d.supervisor_h
        )
        assert response.status_code == 403


class TestPreferences:
    async def test_defaults_and_a_kind_turned_off_is_not_mailed(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime)
        shown = await get_ok(client, PREFERENCES, d.hana_h)
        assert shown["mail"] == {
            "shifts": True,
            "swaps": True,
            "time_off": True,
            "open_shifts": True,
            "lateness": True,
        }
        assert shown["webhook"] == {"url": None, "enabled": False, "secret": None, "last_delivery": None}
        assert shown["email"] == d.hana_email
        response = await client.put(PREFERENCES, json={"mail": {"shifts": False}}, headers=d.hana_h)
        assert response.status_code == 200, response.text
        assert response.json()["mail"]["shifts"] is False
        assert response.json()["mail"]["swaps"] is True

        start = days_ahead(2, 9)
        shift = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        await add_assignment(runtime, d.tenant, shift, d.hana)
        await sweep(runtime, settings, d.tenant)
        assert await mails(runtime, d.tenant) == []
        # The notice was handled all the same (nothing waits for ever).
        [batch] = await batches(runtime, d.tenant)
        assert (batch.notices, batch.message_id, batch.status) == (1, None, "none")

    async def test_bad_input_is_a_422_naming_the_field(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"mail": {"shifts": "yes"}}, "mail.shifts"),
            ({"mail": {"holidays": False}}, "mail.holidays"),
            ({"webhook": {"url": "ftp://chat.example.com/hook"}}, "webhook.url"),
            ({"webhook": {"url": "https://169.254.169.254/latest"}}, "webhook.url"),
            ({"webhook": {"enabled": True}}, "webhook.url"),
        ]
        for body, field in cases:
            response = await client.put(PREFERENCES, json=body, headers=d.hana_h)
            assert field in error_fields(assert_problem(response, 422)), (body, response.text)
        assert (await get_ok(client, PREFERENCES, d.hana_h))["webhook"]["url"] is None

    async def test_each_person_reads_and_changes_only_their_own(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, runtime)
        with Receiver() as receiver:
            mine = {"mail": {"swaps": False}, "webhook": {"url": receiver.url, "enabled": True}}
            response = await client.put(PREFERENCES, json=mine, headers=d.hana_h)
            assert response.status_code == 200, response.text
            secret = response.json()["webhook"]["secret"]
            assert secret.startswith("whsec_")
            theirs = await get_ok(client, PREFERENCES, d.supervisor_h)
            assert theirs["mail"]["swaps"] is True
            assert theirs["webhook"]["secret"] is None
            assert secret not in json.dumps(theirs)
            response = await client.put(PREFERENCES, json={"mail": {"shifts": False}}, headers=d.supervisor_h)
            assert response.status_code == 200, response.text
            again = await get_ok(client, PREFERENCES, d.hana_h)
            assert again["mail"]["shifts"] is True
            assert again["webhook"]["secret"] == secret
        _, viewer_h = await create_user(client, d.tenant, role="client_viewer", client_id=d.client_id)
        assert (await client.get(PREFERENCES, headers=viewer_h)).status_code == 403


class TestWebhook:
    async def test_a_batch_is_posted_signed_to_my_own_receiver_and_retried_when_it_fails(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, runtime)
        with Receiver(statuses=[503]) as receiver:
            body = {"webhook": {"url": receiver.url, "enabled": True}}
            response = await client.put(PREFERENCES, json=body, headers=d.hana_h)
            assert response.status_code == 200, response.text
            secret = response.json()["webhook"]["secret"]
            for n in (2, 3):
                start = days_ahead(n, 9)
                shift = await add_shift(
                    runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8)
                )
                await add_assignment(runtime, d.tenant, shift, d.hana)
            await sweep(runtime, settings, d.tenant)
            [batch] = await batches(runtime, d.tenant)
            assert batch.status == "pending"
            policy = webhooks.DeliveryPolicy(allow_local=True, jitter=lambda: 0.0)

            async def attempt(now: datetime) -> str | None:
                async with runtime.db.tenant(d.tenant.id) as session:
                    return await sending.deliver_webhook(
                        session, system_scope(d.tenant.id), batch.id, now=now, policy=policy
                    )

            assert await attempt(datetime.now(UTC)) == "pending"
            failed = (await get_ok(client, PREFERENCES, d.hana_h))["webhook"]["last_delivery"]
            assert (failed["status"], failed["attempts"], failed["last_status_code"]) == ("pending", 1, 503)
            assert "HTTP 503" in failed["last_error"]
            # Not due yet: a duplicate job sends nothing.
            assert await attempt(datetime.now(UTC)) is None
            assert await attempt(datetime.now(UTC) + timedelta(minutes=1)) == "succeeded"
            first, second = receiver.received()
            assert first.body == second.body
            assert webhooks.verify(second.headers["bpo-signature"], second.body, secret, now=time.time())
            assert not webhooks.verify(
                second.headers["bpo-signature"], second.body, "whsec_other", now=time.time()
            )
            event = json.loads(second.body)
            assert event["type"] == "staff.notices"
            assert second.headers["bpo-event-id"] == event["id"] == str(batch.id)
            assert [n["kind"] for n in event["data"]["notices"]] == ["shift.added", "shift.added"]
            assert event["data"]["notices"][0]["text"].startswith("Night patrol, ")
            done = (await get_ok(client, PREFERENCES, d.hana_h))["webhook"]["last_delivery"]
            assert done["status"] == "succeeded"


@pytest.mark.slow
class TestWithARealWorker:
    async def test_a_claim_approved_reaches_the_claimants_mailbox(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        worker_env: dict[str, str],
        mail_server: LocalMailServer,
        tmp_path: Path,
    ) -> None:
        d = await desk(client, runtime)
        start = days_ahead(2, 9)
        shift = await add_shift(runtime, d.tenant, d.contract["id"], start, start + timedelta(hours=8))
        claim = await claim_shift(client, d, shift)
        response = await client.post(f"/v1/open-shift-claims/{claim['id']}:approve", headers=d.supervisor_h)
        assert response.status_code == 200, response.text
        env = {**worker_env, "BPO_SMTP_URL": mail_server.url, "BPO_MAIL_FROM": "Ops <ops@bpo.test>"}
        worker = Worker(env, tmp_path / "worker.log", args=("--queue", MAIL_QUEUE))

        def mine() -> list[EmailMessage]:
            return [m for m in kept(mail_server) if m["X-BPO-Tenant"] == str(d.tenant.id)]

        async def arrived() -> bool:
            if not mine():
                # What the scheduler sends every minute.
                await send_job(runtime, SWEEP_NOTICES_JOB, MAIL_QUEUE, d.tenant.id)
            return bool(mine())

        try:
            await eventually("the claimant's mail", arrived, within=180, every=5)
        finally:
            worker.kill()
        # The claim was decided before the supervisors' mail went: only the claimant hears.
        [message] = mine()
        assert message["To"] == d.hana_email
        assert str(message["Subject"]).startswith(
            "Your claim is approved, the shift is yours: Night patrol, "
        )
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        assert "/dashboard/me/shifts" in body.get_content()
