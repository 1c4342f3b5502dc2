"""Outbound webhooks: endpoints through the API, signed deliveries to a receiver on 127.0.0.1 (by a real
worker, and by the delivery function with an explicit ``now`` for retries), the delivery log, replays,
secret rotation and isolation."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpo.core.jobs import outbox
from bpo.core.jobs.broker import NAMESPACE
from bpo.core.jobs.registry import DELIVER_JOB, DETECT_JOB, SLA_QUEUE, SWEEP_JOB, WEBHOOK_QUEUE
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import webhooks
from bpo.delivery.webhooks import (
    DeliveryPolicy,
    NewEvent,
    retry_delay,
    sign,
    signature_header,
    verify,
)
from bpo.scheduler import Scheduler
from bpo.sla import alerts
from tests.support.factories import TenantHandle, create_client, create_tenant, create_user, post_ok
from tests.support.jobs import broker_messages, eventually
from tests.support.problems import assert_problem, error_fields
from tests.support.processes import Worker
from tests.support.receiver import Receiver
from tests.support.sla import ONE_HOUR_CALENDAR, sla_contract

DEADLINE_S = 60.0
# Immediate, so that explicit instants decide everything.
NO_JITTER = DeliveryPolicy(allow_local=True, jitter=lambda: 0.0)


# --- pure ---------------------------------------------------------------------------------------

SECRETS = st.text(min_size=1, max_size=60).map(lambda s: "whsec_" + s)


@given(SECRETS, st.binary(max_size=300), st.integers(0, 2**32), st.integers(-300, 300))
def test_signatures_verify_with_their_secret_body_and_a_recent_timestamp(
    secret: str, body: bytes, timestamp: int, skew: int
) -> None:
    header = signature_header([secret], timestamp, body)
    assert header == f"t={timestamp},v1={sign(secret, timestamp, body)}"
    assert verify(header, body, secret, now=timestamp + skew)
    assert not verify(header, body + b" ", secret, now=timestamp)
    assert not verify(header, body, secret + "x", now=timestamp)
    assert not verify(header, body, secret, now=timestamp + 301)


@given(SECRETS, SECRETS, st.binary(max_size=100))
def test_during_a_rotation_either_secret_verifies(new: str, old: str, body: bytes) -> None:
    header = signature_header([new, old], 1_700_000_000, body)
    assert header.count("v1=") == 2
    assert verify(header, body, new, now=1_700_000_000)
    assert verify(header, body, old, now=1_700_000_000)


def test_a_header_without_timestamp_or_signature_never_verifies() -> None:
    body = b"{}"
    signature = sign("whsec_a", 10, body)
    assert not verify(f"v1={signature}", body, "whsec_a", now=10)
    assert not verify("t=10", body, "whsec_a", now=10)
    assert not verify(f"t=ten,v1={signature}", body, "whsec_a", now=10)


@given(st.integers(1, 10), st.floats(0, 1, exclude_max=True))
def test_retries_back_off_with_bounded_jitter_then_stop(attempt: int, jitter: float) -> None:
    schedule = webhooks.RETRY_SCHEDULE
    delay = retry_delay(attempt, schedule, jitter)
    if attempt > len(schedule):
        assert delay is None
        return
    assert delay is not None
    base = schedule[attempt - 1]
    assert base <= delay <= base * (1 + webhooks.JITTER)
    if attempt > 1:
        assert delay > schedule[attempt - 2] * (1 + webhooks.JITTER)


def test_the_schedule_makes_eight_attempts_over_about_two_days() -> None:
    assert len(webhooks.RETRY_SCHEDULE) + 1 == 8
    assert timedelta(hours=40) < sum(webhooks.RETRY_SCHEDULE, timedelta()) < timedelta(hours=50)
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0, webhooks.RETRY_SCHEDULE, 0.0)


async def test_attempts_outside_development_refuse_internal_destinations() -> None:
    policy = DeliveryPolicy(allow_local=False)
    response = await webhooks._post("http://127.0.0.1:9/hook", b"{}", {}, policy)
    assert response.status_code is None
    assert response.error == "must not point at this machine"


# --- helpers ------------------------------------------------------------------------------------


async def create_endpoint(
    client: httpx.AsyncClient, tenant: TenantHandle, url: str, **fields: Any
) -> dict[str, Any]:
    body = {"url": url, "event_types": ["sla.at_risk", "sla.breached"], **fields}
    return await post_ok(client, "/v1/webhook-endpoints", body, tenant.admin)


async def emit(runtime: Runtime, tenant: TenantHandle, *events: NewEvent, relay: bool = False) -> int:
    async with runtime.db.tenant(tenant.id) as session:
        if relay:
            outbox.relay_on_commit(session, runtime.relay)
        return await webhooks.emit(session, tenant.id, list(events))


async def deliveries(
    client: httpx.AsyncClient, tenant: TenantHandle, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=tenant.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def deliver(
    runtime: Runtime, tenant: TenantHandle, delivery_id: str, now: datetime, **policy: Any
) -> str | None:
    async with runtime.db.tenant(tenant.id) as session:
        return await webhooks.deliver(
            session,
            system_scope(tenant.id),
            uuid.UUID(delivery_id),
            now=now,
            policy=DeliveryPolicy(**{"allow_local": True, "jitter": lambda: 0.0, **policy}),
        )


async def sweep_due(runtime: Runtime, tenant: TenantHandle, now: datetime) -> int:
    async with runtime.db.tenant(tenant.id) as session:
        return await webhooks.sweep_due(session, system_scope(tenant.id), now=now)


def breach(client_id: str | None = None, n: int = 1) -> NewEvent:
    return NewEvent(
        type="sla.breached",
        data={"objective": "first_response", "n": n},
        client_id=uuid.UUID(client_id) if client_id else None,
    )


# --- endpoints ----------------------------------------------------------------------------------


class TestEndpoints:
    async def test_crud_with_the_secret_shown_once(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant)
        _, manager = await create_user(client, tenant, role="account_manager")
        created = await post_ok(
            client,
            "/v1/webhook-endpoints",
            {
                "url": "https://hooks.example.com/bpo",
                "description": "Ops alerts",
                "event_types": ["sla.breached", "sla.breached", "sla.daily_below_target"],
                "client_id": customer["id"],
            },
            manager,
        )
        assert created["secret"].startswith("whsec_")
        assert len(created["secret"]) > 40
        assert created["event_types"] == ["sla.breached", "sla.daily_below_target"]
        assert created["enabled"] is True
        endpoint_id = created["id"]

        fetched = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=tenant.admin)).json()
        assert "secret" not in fetched
        assert fetched["client_id"] == customer["id"]
        listed = (await client.get("/v1/webhook-endpoints", headers=tenant.admin)).json()
        assert [e["id"] for e in listed["items"]] == [endpoint_id]
        assert "secret" not in listed["items"][0]

        response = await client.patch(
            f"/v1/webhook-endpoints/{endpoint_id}",
            json={"enabled": False, "client_id": None, "event_types": ["sla.at_risk"]},
            headers=manager,
        )
        assert response.status_code == 200, response.text
        changed = response.json()
        assert (changed["enabled"], changed["client_id"], changed["event_types"]) == (
            False,
            None,
            ["sla.at_risk"],
        )

        response = await client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=tenant.admin)
        assert response.status_code == 204
        assert_problem(await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=tenant.admin), 404)

    async def test_bad_input_names_the_field_and_writes_nothing(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        other = await create_tenant(client)
        foreign_client = await create_client(client, other)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"url": "http://hooks.example.com/x", "event_types": ["sla.breached"]}, "url"),
            ({"url": "https://10.0.0.8/x", "event_types": ["sla.breached"]}, "url"),
            ({"url": "https://hooks.example.com/x", "event_types": ["sla.late"]}, "event_types"),
            ({"url": "https://hooks.example.com/x", "event_types": []}, "event_types"),
            ({"url": "https://hooks.example.com/x"}, "event_types"),
            (
                {"url": "https://hooks.example.com/x", "event_types": ["sla.breached"], "secret": "mine"},
                "secret",
            ),
            (
                {
                    "url": "https://hooks.example.com/x",
                    "event_types": ["sla.breached"],
                    "client_id": foreign_client["id"],
                },
                "client_id",
            ),
        ]
        for body, field in cases:
            response = await client.post("/v1/webhook-endpoints", json=body, headers=tenant.admin)
            problem = assert_problem(response, 422)
            assert any(name.startswith(field) for name in error_fields(problem)), (body, problem)
        assert (await client.get("/v1/webhook-endpoints", headers=tenant.admin)).json()["items"] == []

        endpoint = await create_endpoint(client, tenant, "https://hooks.example.com/ok")
        response = await client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", json={"url": "ftp://x.example/"}, headers=tenant.admin
        )
        assert error_fields(assert_problem(response, 422)) == ["url"]
        fetched = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.admin)).json()
        assert fetched["url"] == "https://hooks.example.com/ok"

    async def test_other_tenants_and_client_viewers_cannot_reach_them(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        customer = await create_client(client, tenant)
        endpoint = await create_endpoint(
            client, tenant, "https://hooks.example.com/a", client_id=customer["id"]
        )
        await emit(runtime, tenant, breach(customer["id"]))
        (delivery,) = await deliveries(client, tenant, endpoint["id"])

        other = await create_tenant(client)
        base = f"/v1/webhook-endpoints/{endpoint['id']}"
        for method, path in [
            ("GET", base),
            ("PATCH", base),
            ("DELETE", base),
            ("POST", f"{base}:rotate-secret"),
            ("GET", f"{base}/deliveries"),
            ("POST", f"/v1/webhook-deliveries/{delivery['id']}:replay"),
        ]:
            body = {"enabled": False} if method == "PATCH" else None
            response = await client.request(method, path, json=body, headers=other.admin)
            assert_problem(response, 404)
        assert (await client.get("/v1/webhook-endpoints", headers=other.admin)).json()["items"] == []

        _, viewer = await create_user(
            client, tenant, role="client_viewer", client_id=uuid.UUID(customer["id"])
        )
        _, supervisor = await create_user(client, tenant, role="supervisor")
        for headers in (viewer, supervisor):
            assert_problem(await client.get("/v1/webhook-endpoints", headers=headers), 403)
            assert_problem(await client.get(base, headers=headers), 403)
            assert_problem(await client.get(f"{base}/deliveries", headers=headers), 403)
            replay = await client.post(f"/v1/webhook-deliveries/{delivery['id']}:replay", headers=headers)
            assert_problem(replay, 403)
        for path in (f"{base}:rotate", "/v1/webhook-endpoints/not-an-id:rotate-secret"):
            assert_problem(await client.post(path, headers=tenant.admin), 404)
        assert_problem(
            await client.post(f"/v1/webhook-deliveries/{delivery['id']}:resend", headers=tenant.admin), 404
        )

    async def test_events_go_to_subscribed_enabled_endpoints_of_their_client(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        first, second = await create_client(client, tenant), await create_client(client, tenant)
        everything = await create_endpoint(client, tenant, "https://hooks.example.com/all")
        only_first = await create_endpoint(
            client, tenant, "https://hooks.example.com/1", client_id=first["id"]
        )
        daily_only = await create_endpoint(
            client, tenant, "https://hooks.example.com/d", event_types=["sla.daily_below_target"]
        )
        disabled = await create_endpoint(client, tenant, "https://hooks.example.com/off", enabled=False)

        assert await emit(runtime, tenant, breach(first["id"]), breach(second["id"], 2)) == 3
        assert len(await deliveries(client, tenant, everything["id"])) == 2
        assert len(await deliveries(client, tenant, only_first["id"])) == 1
        assert await deliveries(client, tenant, daily_only["id"]) == []
        assert await deliveries(client, tenant, disabled["id"]) == []
        # Nobody subscribed: nothing is written.
        assert await emit(runtime, tenant, NewEvent(type="invoice.finalized", data={})) == 0


# --- deliveries ---------------------------------------------------------------------------------


def received_events(receiver: Receiver) -> list[str]:
    return [r.headers["bpo-event-id"] for r in receiver.received()]


class TestDeliveries:
    async def test_a_real_worker_delivers_a_signed_alert_once(
        self, client: httpx.AsyncClient, runtime: Runtime, worker_env: dict[str, str], tmp_path: Path
    ) -> None:
        tenant = await create_tenant(client)
        setup = await sla_contract(client, tenant, objectives=ONE_HOUR_CALENDAR)
        with Receiver() as receiver:
            endpoint = await create_endpoint(client, tenant, receiver.url)
            secret = endpoint["secret"]
            now = datetime.now(UTC).replace(microsecond=0)
            item = {"external_id": "slow", "received_at": (now - timedelta(minutes=70)).isoformat()}
            await post_ok(
                client,
                "/v1/work-items:batch",
                {"contract_id": setup["contract"]["id"], "items": [item]},
                tenant.admin,
            )
            worker = Worker(worker_env, tmp_path / "worker.log", args=("--queue", WEBHOOK_QUEUE))
            try:
                async with runtime.db.tenant(tenant.id) as session:
                    outbox.relay_on_commit(session, runtime.relay)
                    (alert_id,) = await alerts.sweep(session, system_scope(tenant.id), now)

                async def arrived() -> bool:
                    return len(receiver.received()) == 1

                await eventually("the receiver to get the breach", arrived, within=DEADLINE_S)
                (request,) = receiver.received()

                # The worker records the outcome after the receiver has answered.
                async def recorded() -> bool:
                    (delivery,) = await deliveries(client, tenant, endpoint["id"])
                    return bool(delivery["status"] != "pending")

                await eventually("the delivery's outcome to be recorded", recorded, within=DEADLINE_S)
                (delivery,) = await deliveries(client, tenant, endpoint["id"])

                # A second job for the same delivery (a duplicate message) sends nothing more.
                async with runtime.db.tenant(tenant.id) as session:
                    outbox.relay_on_commit(session, runtime.relay)
                    duplicate = outbox.enqueue(
                        session,
                        tenant.id,
                        DELIVER_JOB,
                        queue=WEBHOOK_QUEUE,
                        delivery_id=delivery["id"],
                    )

                async def duplicate_done() -> bool:
                    return worker.logged("job_done", duplicate)

                await eventually("the duplicate job to finish", duplicate_done, within=DEADLINE_S)
            finally:
                worker.kill()
            assert len(receiver.received()) == 1, worker.log()[-3000:]

        assert request.path == "/hooks/bpo"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["bpo-delivery-attempt"] == "1"
        signature = request.headers["bpo-signature"]
        assert verify(signature, request.body, secret, now=time.time())
        tampered = request.body.replace(b"sla.breached", b"sla.at_risk")
        assert tampered != request.body
        assert not verify(signature, tampered, secret, now=time.time())
        stamp = int(signature.split(",")[0].removeprefix("t="))
        assert abs(stamp - time.time()) < DEADLINE_S

        event = json.loads(request.body)
        assert event.keys() == {"id", "type", "created_at", "tenant", "data"}
        assert event["type"] == "sla.breached"
        assert event["id"] == request.headers["bpo-event-id"] == delivery["event_id"]
        assert event["tenant"] == str(tenant.id)
        assert event["data"]["alert_id"] == str(alert_id)
        assert event["data"]["work_item"]["external_id"] == "slow"
        assert event["data"]["contract_id"] == setup["contract"]["id"]
        assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
            "succeeded",
            1,
            200,
        )
        assert delivery["last_response_ms"] is not None
        assert delivery["last_error"] is None

    async def test_failures_retry_on_schedule_and_replay_sends_again(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        with Receiver(statuses=[500]) as receiver:
            endpoint = await create_endpoint(client, tenant, receiver.url)
            await emit(runtime, tenant, breach())
            (delivery,) = await deliveries(client, tenant, endpoint["id"])
            start = datetime.now(UTC)

            assert await deliver(runtime, tenant, delivery["id"], start) == "pending"
            # A duplicate job right after the failure does not cut the backoff short.
            assert await deliver(runtime, tenant, delivery["id"], start + timedelta(seconds=1)) is None
            (logged,) = await deliveries(client, tenant, endpoint["id"])
            assert (logged["status"], logged["attempts"], logged["last_status_code"]) == ("pending", 1, 500)
            assert logged["last_error"] == "HTTP 500: receiver unavailable"
            retry_at = datetime.fromisoformat(logged["next_attempt_at"])
            assert retry_at == start + webhooks.RETRY_SCHEDULE[0]

            assert await sweep_due(runtime, tenant, start + timedelta(seconds=10)) == 0
            assert await sweep_due(runtime, tenant, retry_at) == 1
            assert await sweep_due(runtime, tenant, retry_at + timedelta(seconds=5)) == 0  # its job is queued
            assert await deliver(runtime, tenant, delivery["id"], retry_at) == "succeeded"
            assert await deliver(runtime, tenant, delivery["id"], retry_at + timedelta(hours=1)) is None

            (logged,) = await deliveries(client, tenant, endpoint["id"])
            assert (logged["status"], logged["attempts"], logged["last_status_code"]) == ("succeeded", 2, 200)
            assert logged["last_error"] is None
            assert [r.headers["bpo-delivery-attempt"] for r in receiver.received()] == ["1", "2"]
            assert len(set(received_events(receiver))) == 1

            response = await client.post(
                f"/v1/webhook-deliveries/{delivery['id']}:replay", headers=tenant.admin
            )
            assert response.status_code == 202, response.text
            assert (response.json()["status"], response.json()["attempts"]) == ("pending", 2)
            later = datetime.now(UTC) + timedelta(seconds=1)
            assert await deliver(runtime, tenant, delivery["id"], later) == "succeeded"
            assert [r.headers["bpo-delivery-attempt"] for r in receiver.received()] == ["1", "2", "3"]
            assert len(set(received_events(receiver))) == 1

    async def test_a_delivery_fails_for_good_when_the_schedule_runs_out(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        with Receiver(statuses=[503, 503]) as receiver:
            endpoint = await create_endpoint(client, tenant, receiver.url)
            await emit(runtime, tenant, breach())
            (delivery,) = await deliveries(client, tenant, endpoint["id"])
            now = datetime.now(UTC)
            short = {"schedule": (timedelta(seconds=2),)}
            assert await deliver(runtime, tenant, delivery["id"], now, **short) == "pending"
            later = now + timedelta(seconds=2)
            assert await deliver(runtime, tenant, delivery["id"], later, **short) == "failed"
            (logged,) = await deliveries(client, tenant, endpoint["id"])
            assert (logged["status"], logged["attempts"], logged["next_attempt_at"]) == ("failed", 2, None)
            assert await sweep_due(runtime, tenant, later + timedelta(days=1)) == 0
            failed = await client.get(
                f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
                params={"status": "failed"},
                headers=tenant.admin,
            )
            assert [d["id"] for d in failed.json()["items"]] == [delivery["id"]]
            assert len(receiver.received()) == 2

    async def test_an_unreachable_receiver_is_a_failed_attempt(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        with Receiver() as receiver:
            url = receiver.url
        endpoint = await create_endpoint(client, tenant, url)
        await emit(runtime, tenant, breach())
        (delivery,) = await deliveries(client, tenant, endpoint["id"])
        assert await deliver(runtime, tenant, delivery["id"], datetime.now(UTC), timeout_s=2.0) == "pending"
        (logged,) = await deliveries(client, tenant, endpoint["id"])
        assert logged["last_status_code"] is None
        assert logged["last_error"].startswith("ConnectError")

    async def test_rotation_signs_with_both_secrets_for_a_day(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        with Receiver() as receiver:
            endpoint = await create_endpoint(client, tenant, receiver.url)
            old = endpoint["secret"]
            response = await client.post(
                f"/v1/webhook-endpoints/{endpoint['id']}:rotate-secret", headers=tenant.admin
            )
            assert response.status_code == 200, response.text
            new = response.json()["secret"]
            assert new.startswith("whsec_")
            assert new != old
            expires = datetime.fromisoformat(response.json()["previous_secret_expires_at"])
            assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

            await emit(runtime, tenant, breach(), breach(n=2))
            first, second = await deliveries(client, tenant, endpoint["id"])
            assert await deliver(runtime, tenant, first["id"], datetime.now(UTC)) == "succeeded"
            assert await deliver(runtime, tenant, second["id"], expires + timedelta(seconds=1)) == "succeeded"
            during, after = receiver.received()
        assert during.headers["bpo-signature"].count("v1=") == 2
        assert verify(during.headers["bpo-signature"], during.body, new, now=time.time())
        assert verify(during.headers["bpo-signature"], during.body, old, now=time.time())
        assert after.headers["bpo-signature"].count("v1=") == 1
        assert verify(after.headers["bpo-signature"], after.body, new, now=time.time())
        assert not verify(after.headers["bpo-signature"], after.body, old, now=time.time())

    async def test_replaying_to_a_disabled_endpoint_is_refused(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        endpoint = await create_endpoint(client, tenant, "https://hooks.example.com/x")
        await emit(runtime, tenant, breach())
        (delivery,) = await deliveries(client, tenant, endpoint["id"])
        response = await client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}, headers=tenant.admin
        )
        assert response.status_code == 200
        assert await deliver(runtime, tenant, delivery["id"], datetime.now(UTC)) == "failed"
        (logged,) = await deliveries(client, tenant, endpoint["id"])
        assert (logged["attempts"], logged["last_error"]) == (0, "the endpoint is disabled")
        replay = await client.post(f"/v1/webhook-deliveries/{delivery['id']}:replay", headers=tenant.admin)
        assert_problem(replay, 409, "endpoint-disabled")


async def test_the_scheduler_sends_detection_and_retry_sweeps_to_every_tenant_each_minute(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    scheduler = Scheduler(runtime)
    assert await scheduler.detect_sla_alerts() > 0
    assert await scheduler.sweep_webhooks() > 0
    for queue, actor in ((SLA_QUEUE, DETECT_JOB), (WEBHOOK_QUEUE, SWEEP_JOB)):
        queued = await broker_messages(runtime, f"{NAMESPACE}:{queue}.msgs")
        mine = [
            m for m in queued.values() if m.kwargs["tenant_id"] == str(tenant.id) and m.actor_name == actor
        ]
        assert len(mine) == 1, (queue, actor)
