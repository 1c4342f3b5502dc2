"""What the client's people and the operator hear of an escalation: the mail in each reader's language with a
one-click acknowledgement link of their own (single use, expiring, only its hash stored; its page changes
nothing until its button is pressed), signed webhooks, the sweep that turns an unacknowledged escalation
overdue once, alerts the operator and reminds the client a bounded number of times, one contract's bad data
failing alone, the client report's escalation figures, and the whole flow through a real worker."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update

from bpo.core.jobs.registry import MAIL_QUEUE, SWEEP_ESCALATIONS_JOB, WEBHOOK_QUEUE
from bpo.core.mailbox import LocalMailServer
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope, system_scope
from bpo.delivery import webhooks
from bpo.delivery.models import WebhookDelivery
from bpo.delivery.webhooks import verify
from bpo.settings import Settings
from bpo.work import escalations
from bpo.work import escalations_schemas as schemas
from bpo.work.escalation_models import Escalation, EscalationLink, EscalationRule
from tests.support.dashboard import csrf_of
from tests.support.escalations import CRITICAL, Desk, desk, link_path, notify, queued, raise_one, sweep
from tests.support.factories import create_tenant, get_ok, post_ok
from tests.support.jobs import eventually, job_done, job_failures, send_job
from tests.support.mail import kept
from tests.support.mail import mail_server as mail_server
from tests.support.processes import Worker
from tests.support.receiver import Receiver

DEADLINE_S = 90.0
EVENT_TYPES = ["escalation.raised", "escalation.overdue", "escalation.acknowledged", "escalation.resolved"]


async def set_rules(client: httpx.AsyncClient, d: Desk, **rules: Any) -> None:
    response = await client.put(
        f"/v1/contracts/{d.contract['id']}/escalation-rules", json=rules, headers=d.tenant.admin
    )
    assert response.status_code == 200, response.text


async def escalation(client: httpx.AsyncClient, d: Desk, escalation_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await get_ok(client, f"/v1/escalations/{escalation_id}", d.tenant.admin)
    return found


async def deliver_all(runtime: Runtime, d: Desk, endpoint_id: str) -> list[str]:
    """Make every pending delivery of the endpoint's, as the ``webhooks.deliver`` jobs would."""
    async with runtime.db.tenant(d.tenant.id) as session:
        pending = await session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.tenant_id == d.tenant.id,
                WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id),
                WebhookDelivery.status == "pending",
            )
        )
        ids = list(pending)
    outcomes = []
    for delivery_id in ids:
        async with runtime.db.tenant(d.tenant.id) as session:
            outcome = await webhooks.deliver(
                session,
                system_scope(d.tenant.id),
                delivery_id,
                now=datetime.now(UTC),
                policy=webhooks.DeliveryPolicy(allow_local=True, jitter=lambda: 0.0),
            )
        outcomes.append(str(outcome))
    return outcomes


class TestTheClientsMail:
    async def test_each_recipient_reads_it_in_their_language_with_a_link_of_their_own(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        d = await desk(client, tenant, language="ja", name="楽天")
        await client.patch(f"/v1/users/{d.viewer_id}", json={"language": "en"}, headers=tenant.admin)
        await set_rules(client, d, critical={"extra_recipients": ["duty@recipe.example"]})
        made = await raise_one(client, d, link="https://recipe.example/r/42")
        await notify(runtime, settings, tenant, made["id"], "raised")
        # The same job again (a redelivered message): nothing more is sent.
        await notify(runtime, settings, tenant, made["id"], "raised")

        mails = {m.recipient: m for m in await queued(runtime, tenant, "escalation.notice")}
        assert sorted(mails) == sorted([d.viewer_email, "duty@recipe.example"])
        english, japanese = mails[d.viewer_email], mails["duty@recipe.example"]
        assert english.period == japanese.period == "notice-1"
        assert english.subject.startswith("[Critical] Escalation from Operator ")
        assert japanese.subject.startswith("【緊急】")
        assert "エスカレーション" in japanese.subject
        for message in (english, japanese):
            assert CRITICAL["reason"] in message.text_body
            assert CRITICAL["recommended_action"] in message.text_body
            assert "https://recipe.example/r/42" in message.text_body
            assert message.html_body is not None
            assert "/dashboard/acknowledge/esc_" in message.html_body
        assert "What we ask you to do" in english.text_body
        assert "お願いしたいこと" in japanese.text_body
        # Times on the client's clock, in each language's way.
        raised = datetime.fromisoformat(made["raised_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
        assert f"{raised:%H:%M}" in english.text_body
        assert f"{raised.year}/{raised.month:02d}/{raised.day:02d}" in japanese.text_body
        # Only a viewer, who can sign in, is shown the dashboard's page.
        assert f"/dashboard/escalations/{made['id']}" in english.text_body
        assert f"/dashboard/escalations/{made['id']}" not in japanese.text_body

        links = {link_path(m.text_body) for m in mails.values()}
        assert len(links) == 2
        async with runtime.db.tenant(tenant.id) as session:
            stored = (
                await session.scalars(select(EscalationLink).where(EscalationLink.tenant_id == tenant.id))
            ).all()
        assert len(stored) == 2
        tokens = {path.rsplit("/", 1)[1].split("?")[0] for path in links}
        for link in stored:
            assert link.token_hash not in "".join(tokens)
            assert all(token.split("_", 2)[2] not in link.token_hash for token in tokens)
        after = await escalation(client, d, made["id"])
        assert after["notices"] == 1
        assert [(e["event"], e["detail"]) for e in after["timeline"]][1][0] == "notified"

    async def test_nobody_to_tell_is_logged_and_the_webhook_still_goes(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, await create_tenant(client))
        await set_rules(client, d, critical={"notify_viewers": False})
        made = await raise_one(client, d)
        await notify(runtime, settings, d.tenant, made["id"], "raised")
        assert await queued(runtime, d.tenant, "escalation.notice") == []
        assert (await escalation(client, d, made["id"]))["notices"] == 0


class TestTheLink:
    async def test_its_page_changes_nothing_and_its_button_acknowledges_once(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, await create_tenant(client))
        await set_rules(client, d, critical={"extra_recipients": ["duty@recipe.example"]})
        made = await raise_one(client, d)
        await notify(runtime, settings, d.tenant, made["id"], "raised")
        mails = {m.recipient: m for m in await queued(runtime, d.tenant, "escalation.notice")}
        mine, theirs = (
            link_path(mails["duty@recipe.example"].text_body),
            link_path(mails[d.viewer_email].text_body),
        )

        shown = await browser.get(mine)
        assert shown.status_code == 200
        assert CRITICAL["reason"] in shown.text
        assert 'method="post"' in shown.text
        # Opening the link (as a mail scanner does) acknowledges nothing.
        for _ in range(2):
            assert (await browser.get(mine)).status_code == 200
        assert (await escalation(client, d, made["id"]))["state"] == "open"
        forged = await browser.post(mine, data={"csrf_token": "0" * 64})
        assert forged.status_code == 403
        assert (await escalation(client, d, made["id"]))["state"] == "open"

        used = await browser.post(mine, data={"csrf_token": csrf_of(shown)})
        assert used.status_code == 200
        assert 'role="status"' in used.text
        done = await escalation(client, d, made["id"])
        assert (done["state"], done["acknowledged_via"], done["acknowledged_by"]) == (
            "acknowledged",
            "link",
            "duty@recipe.example",
        )
        assert [e["event"] for e in done["timeline"]] == ["raised", "notified", "acknowledged"]
        # Single use: the same link again is gone.
        again = await browser.get(mine)
        assert again.status_code == 404
        assert CRITICAL["reason"] not in again.text
        assert (await browser.post(mine, data={"csrf_token": csrf_of(shown)})).status_code == 404
        # Another recipient's link now says it is done, and using it changes nothing.
        other = await browser.get(theirs)
        assert other.status_code == 200
        assert 'method="post"' not in other.text
        assert "duty@recipe.example" in other.text
        await browser.post(theirs, data={"csrf_token": csrf_of(shown)})
        assert (await escalation(client, d, made["id"]))["acknowledged_by"] == "duty@recipe.example"

    async def test_an_expired_a_forged_or_another_tenants_link_is_refused(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, await create_tenant(client))
        stranger = await create_tenant(client)
        made = await raise_one(client, d)
        await notify(runtime, settings, d.tenant, made["id"], "raised")
        [mail] = await queued(runtime, d.tenant, "escalation.notice")
        path = link_path(mail.text_body)
        token = path.rsplit("/", 1)[1].split("?")[0]
        elsewhere = f"/dashboard/acknowledge/esc_{stranger.id.hex}_{token.split('_', 2)[2]}"
        for bad in (
            elsewhere,
            "/dashboard/acknowledge/esc_nope",
            f"/dashboard/acknowledge/{token}x",
            "/dashboard/acknowledge/" + "a" * 300,
        ):
            response = await browser.get(bad)
            assert response.status_code == 404, bad
            assert CRITICAL["reason"] not in response.text
        form = await browser.get(path)
        async with runtime.db.tenant(d.tenant.id) as session:
            await session.execute(
                update(EscalationLink)
                .where(EscalationLink.tenant_id == d.tenant.id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert (await browser.get(path)).status_code == 404
        assert (await browser.post(path, data={"csrf_token": csrf_of(form)})).status_code == 404
        assert (await escalation(client, d, made["id"]))["state"] == "open"


class TestWebhooks:
    async def test_raised_acknowledged_and_resolved_go_out_signed_to_the_clients_endpoint(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, await create_tenant(client))
        other = await desk(client, d.tenant)
        with Receiver() as receiver:
            endpoint = await post_ok(
                client,
                "/v1/webhook-endpoints",
                {"url": receiver.url, "event_types": EVENT_TYPES, "client_id": d.client["id"]},
                d.tenant.admin,
            )
            made = await raise_one(client, d)
            # Another client's escalation never reaches this client's endpoint.
            theirs = await raise_one(client, other)
            await notify(runtime, settings, d.tenant, theirs["id"], "raised")
            await notify(runtime, settings, d.tenant, made["id"], "raised")
            await post_ok(client, f"/v1/escalations/{made['id']}/acknowledge", {}, d.viewer)
            await notify(runtime, settings, d.tenant, made["id"], "acknowledged")
            await post_ok(
                client, f"/v1/escalations/{made['id']}/resolve", {"note": "非公開にしました"}, d.staff
            )
            await notify(runtime, settings, d.tenant, made["id"], "resolved")
            assert await deliver_all(runtime, d, endpoint["id"]) == ["succeeded"] * 3
            requests = receiver.received()
        bodies = [json.loads(r.body) for r in requests]
        assert sorted(b["type"] for b in bodies) == sorted(
            ["escalation.raised", "escalation.acknowledged", "escalation.resolved"]
        )
        for request in requests:
            assert verify(request.headers["bpo-signature"], request.body, endpoint["secret"], now=time.time())
        raised = next(b for b in bodies if b["type"] == "escalation.raised")["data"]
        assert (raised["escalation_id"], raised["severity"], raised["state"]) == (
            made["id"],
            "critical",
            "open",
        )
        assert (raised["client_id"], raised["contract_code"]) == (d.client["id"], d.contract["code"])
        assert raised["reason"] == CRITICAL["reason"]
        resolved = next(b for b in bodies if b["type"] == "escalation.resolved")["data"]
        assert (resolved["state"], resolved["resolution_note"]) == ("resolved", "非公開にしました")


class TestTheSweep:
    async def test_overdue_once_the_operator_alerted_and_the_client_reminded_a_few_times(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, await create_tenant(client))
        with Receiver() as receiver:
            endpoint = await post_ok(
                client,
                "/v1/webhook-endpoints",
                {"url": receiver.url, "event_types": ["escalation.overdue"]},
                d.tenant.admin,
            )
            made = await raise_one(client, d)
            await notify(runtime, settings, d.tenant, made["id"], "raised")
            due = datetime.fromisoformat(made["acknowledge_due_at"])
            assert (await sweep(runtime, settings, d.tenant, due - timedelta(seconds=1)))[0] == 0
            assert (await sweep(runtime, settings, d.tenant, due + timedelta(seconds=1)))[0] == 1
            # The same minute again: nothing more.
            assert (await sweep(runtime, settings, d.tenant, due + timedelta(seconds=2)))[0] == 0
            late = await escalation(client, d, made["id"])
            assert (late["state"], late["notices"]) == ("overdue", 2)
            assert late["overdue_at"] is not None
            [alert] = await queued(runtime, d.tenant, "escalation.overdue")
            assert alert.recipient == d.manager_email
            assert "Not acknowledged in time" in alert.subject or "確認期限超過" in alert.subject
            assert f"/dashboard/escalations/{made['id']}" in alert.text_body
            assert await deliver_all(runtime, d, endpoint["id"]) == ["succeeded"]
            [request] = receiver.received()
            assert json.loads(request.body)["data"]["state"] == "overdue"
            # Once per target interval, four notices in all, then no more.
            for minutes, expected in ((16, 1), (31, 1), (46, 0), (61, 0), (240, 0)):
                followed, _ = await sweep(runtime, settings, d.tenant, due + timedelta(minutes=minutes))
                assert followed == expected, minutes
        notices = await queued(runtime, d.tenant, "escalation.notice")
        assert [m.period for m in notices] == ["notice-1", "notice-2", "notice-3", "notice-4"]
        assert all("Reminder" in m.subject or "再通知" in m.subject for m in notices[1:])
        assert len(await queued(runtime, d.tenant, "escalation.overdue")) == 1
        final = await escalation(client, d, made["id"])
        events = [e["event"] for e in final["timeline"]]
        assert events == ["raised", "notified", "overdue", "reminded", "reminded", "reminded"]
        # Acknowledged late: it says so, and nothing more is sent.
        acknowledged = await post_ok(client, f"/v1/escalations/{made['id']}/acknowledge", {}, d.viewer)
        assert (acknowledged["state"], acknowledged["overdue_at"]) == ("acknowledged", final["overdue_at"])

    async def test_acknowledged_in_time_nothing_follows(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        d = await desk(client, await create_tenant(client))
        made = await raise_one(client, d, severity="normal")
        await notify(runtime, settings, d.tenant, made["id"], "raised")
        await post_ok(client, f"/v1/escalations/{made['id']}/acknowledge", {}, d.viewer)
        due = datetime.fromisoformat(made["acknowledge_due_at"])
        assert (await sweep(runtime, settings, d.tenant, due + timedelta(hours=5)))[0] == 0
        assert await queued(runtime, d.tenant, "escalation.overdue") == []

    async def test_one_contracts_bad_address_fails_alone_and_the_others_are_followed_up(
        self, client: httpx.AsyncClient, runtime: Runtime, settings: Settings
    ) -> None:
        tenant = await create_tenant(client)
        poisoned, sound = await desk(client, tenant), await desk(client, tenant)
        await set_rules(client, poisoned, critical={"extra_recipients": ["duty@recipe.example"]})
        # An address today's checks refuse, as an older release could have stored it.
        async with runtime.db.tenant(tenant.id) as session:
            await session.execute(
                update(EscalationRule)
                .where(EscalationRule.tenant_id == tenant.id, EscalationRule.severity == "critical")
                .values(extra_recipients=["duty@recipe.example", "not an address"])
            )
        bad = await raise_one(client, poisoned)
        good = await raise_one(client, sound)
        failed = await notify(runtime, settings, tenant, bad["id"], "raised")
        assert [(f.object_type, str(f.object_id)) for f in failed.failed] == [("escalation", bad["id"])]
        assert "recipient" in failed.failed[0].error
        await notify(runtime, settings, tenant, good["id"], "raised")
        told = sorted(m.recipient for m in await queued(runtime, tenant, "escalation.notice"))
        assert told == sorted([poisoned.viewer_email, "duty@recipe.example", sound.viewer_email])

        later = datetime.fromisoformat(good["acknowledge_due_at"]) + timedelta(minutes=1)
        followed, failures = await sweep(runtime, settings, tenant, later)
        assert followed == 2
        assert {str(f.object_id) for f in failures.failed} == {bad["id"]}
        states = {
            e["id"]: e["state"] for e in (await get_ok(client, "/v1/escalations", tenant.admin))["items"]
        }
        assert states == {bad["id"]: "overdue", good["id"]: "overdue"}
        reminded = [
            m.recipient for m in await queued(runtime, tenant, "escalation.notice") if m.period == "notice-2"
        ]
        assert sorted(reminded) == sorted([poisoned.viewer_email, "duty@recipe.example", sound.viewer_email])


class TestInTheClientReport:
    async def test_the_weeks_escalations_by_severity_with_times_to_acknowledge(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        d = await desk(client, await create_tenant(client))
        monday = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, week 2026-W47
        viewer = Scope(
            tenant_id=d.tenant.id,
            principal_id=uuid.UUID(d.viewer_id),
            role=Role.CLIENT_VIEWER,
            client_id=uuid.UUID(d.client["id"]),
        )
        async with runtime.db.tenant(d.tenant.id) as session:
            scope = system_scope(d.tenant.id)
            for offset, severity, waited in (
                (0, "critical", 6),
                (1, "critical", 10),
                (2, "high", 50),
                (3, "normal", None),
            ):
                raised = monday + timedelta(days=offset)
                made = await escalations.raise_escalation(
                    session,
                    scope,
                    schemas.EscalationCreate(
                        severity=severity,
                        reason="r",
                        recommended_action="a",
                        contract_id=uuid.UUID(d.contract["id"]),
                    ),
                    raised,
                    notify=False,
                )
                if waited is not None:
                    await escalations.acknowledge(
                        session, viewer, made.id, raised + timedelta(minutes=waited), notify=False
                    )
        report = await post_ok(
            client,
            "/v1/reports",
            {"client_id": d.client["id"], "period": "2026-W47", "send": False},
            d.tenant.admin,
        )
        assert report["escalations"] == [
            {
                "severity": "critical",
                "raised": 2,
                "acknowledged": 2,
                "median_minutes_to_acknowledge": 8.0,
                "mean_minutes_to_acknowledge": 8.0,
            },
            {
                "severity": "high",
                "raised": 1,
                "acknowledged": 1,
                "median_minutes_to_acknowledge": 50.0,
                "mean_minutes_to_acknowledge": 50.0,
            },
            {
                "severity": "normal",
                "raised": 1,
                "acknowledged": 0,
                "median_minutes_to_acknowledge": None,
                "mean_minutes_to_acknowledge": None,
            },
        ]
        page = await client.get(f"/v1/reports/{report['id']}/html", headers=d.viewer)
        assert "エスカレーション" in page.text
        assert "8分" in page.text
        quiet = await post_ok(
            client,
            "/v1/reports",
            {"client_id": d.client["id"], "period": "2026-W46", "send": False},
            d.tenant.admin,
        )
        assert quiet["escalations"] == []
        assert (
            "エスカレーション"
            not in (await client.get(f"/v1/reports/{quiet['id']}/html", headers=d.viewer)).text
        )


@pytest.mark.slow
class TestWithARealWorker:
    async def test_staff_raise_the_viewer_is_mailed_and_acknowledges_through_the_link(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        runtime: Runtime,
        worker_env: dict[str, str],
        mail_server: LocalMailServer,
        tmp_path: Path,
    ) -> None:
        d = await desk(client, await create_tenant(client))
        env = {**worker_env, "BPO_SMTP_URL": mail_server.url, "BPO_MAIL_FROM": "Ops <ops@bpo.test>"}
        worker = Worker(env, tmp_path / "worker.log", args=("--queue", MAIL_QUEUE, "--queue", WEBHOOK_QUEUE))
        try:
            with Receiver() as receiver:
                endpoint = await post_ok(
                    client,
                    "/v1/webhook-endpoints",
                    {"url": receiver.url, "event_types": EVENT_TYPES},
                    d.tenant.admin,
                )
                made = await raise_one(client, d)

                def mine() -> list[EmailMessage]:
                    return [m for m in kept(mail_server) if m["X-BPO-Tenant"] == str(d.tenant.id)]

                async def arrived() -> bool:
                    return len(mine()) == 1

                await eventually("the escalation's mail to arrive", arrived, within=DEADLINE_S)
                [message] = mine()
                assert message["To"] == d.viewer_email
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                path = link_path(body.get_content())
                shown = await browser.get(path)
                assert (await escalation(client, d, made["id"]))["state"] == "open"
                assert (await browser.post(path, data={"csrf_token": csrf_of(shown)})).status_code == 200

                async def both_announced() -> bool:
                    return len(receiver.received()) == 2

                await eventually(
                    "raised and acknowledged to reach the receiver", both_announced, within=DEADLINE_S
                )
                # Each event is its own delivery job, so they may arrive in either order: their own times
                # say which came first.
                bodies = sorted(
                    (json.loads(r.body) for r in receiver.received()), key=lambda body: body["created_at"]
                )
                assert [body["type"] for body in bodies] == ["escalation.raised", "escalation.acknowledged"]
                assert all(
                    verify(r.headers["bpo-signature"], r.body, endpoint["secret"], now=time.time())
                    for r in receiver.received()
                )

                # A planted bad address fails that escalation's follow-up alone, with its reason on record.
                other = await raise_one(client, d)

                async def told_too() -> bool:
                    return len(mine()) == 2

                await eventually("the second escalation's mail", told_too, within=DEADLINE_S)
                async with runtime.db.tenant(d.tenant.id) as session:
                    await session.execute(
                        update(Escalation)
                        .where(Escalation.tenant_id == d.tenant.id, Escalation.id == uuid.UUID(other["id"]))
                        .values(next_check_at=datetime.now(UTC) - timedelta(seconds=1))
                    )
                    session.add(
                        EscalationRule(
                            tenant_id=d.tenant.id,
                            id=uuid.uuid4(),
                            contract_id=uuid.UUID(d.contract["id"]),
                            severity="critical",
                            notify_viewers=True,
                            extra_recipients=["not an address"],
                            acknowledge_within_minutes=15,
                        )
                    )
                job = await send_job(runtime, SWEEP_ESCALATIONS_JOB, MAIL_QUEUE, d.tenant.id)

                async def swept() -> bool:
                    return await job_done(runtime, d.tenant.id, job)

                await eventually("the sweep to finish", swept, within=DEADLINE_S)
                failures = [
                    f for f in await job_failures(client, d.tenant.admin) if f["job"] == SWEEP_ESCALATIONS_JOB
                ]
                assert [(f["job"], f["object_type"], f["object_id"]) for f in failures] == [
                    (SWEEP_ESCALATIONS_JOB, "escalation", other["id"])
                ]
                assert "recipient" in failures[0]["error"]
                assert (await escalation(client, d, other["id"]))["state"] == "overdue"
        finally:
            worker.kill()
