"""Acceptance: the demo operator bills Lancers and Eureka (Pairs) for October by volume, end to end.

tenants/demo.yaml applied through the onboarding service (under a slug of its own), a month of work items
through the batch API, the month-end run, drafts checked against amounts worked out here from the demo
rate plans (not by the rating engine), finalization, the push to a fake Stripe that survives a timeout
without billing twice, signed webhooks delivered twice and out of order, and who may see what.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import stripe

from bpo.billing import invoice_runs as runs
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.onboarding.apply import apply_manifest
from bpo.onboarding.manifest import load_manifest
from bpo.settings import Settings
from bpo.tenancy.auth import tenant_id_for
from tests.support.factories import PASSWORD, TenantHandle, create_tenant, headers_for, login, post_ok
from tests.support.fake_stripe import FakeStripe
from tests.support.paths import DEMO_MANIFEST
from tests.support.problems import assert_problem
from tests.support.sla import ingest, rebuild
from tests.support.stripe import WEBHOOKS, connect_stripe, issued_invoice, payments, push, status_of

TOKYO = ZoneInfo("Asia/Tokyo")
OCTOBER = [datetime(2026, 10, day, tzinfo=TOKYO) for day in range(1, 32)]


def at(day: datetime, hour: int, minute: int = 0, **later: float) -> str:
    return (day.replace(hour=hour, minute=minute) + timedelta(**later)).isoformat()


# --- a month of work, shaped so the bill can be worked out by hand ------------------------------------


def lancers_email() -> list[dict[str, Any]]:
    """Ten emails a day at 10:00-10:09; six answered in 30 minutes, four only two days later (far past
    8 business hours): first response met for 60% against a 90% target."""
    items = []
    for day in OCTOBER:
        for n in range(10):
            answered = {"minutes": 30} if n < 6 else {"days": 2}
            items.append(
                {
                    "external_id": f"mail-{day:%m%d}-{n}",
                    "channel": "email",
                    "received_at": at(day, 10, n),
                    "first_response_at": at(day, 10, n, **answered),
                    "resolved_at": at(day, 10, n, **answered, hours=1),
                }
            )
    return items


def lancers_chat() -> list[dict[str, Any]]:
    """Five chats each weekday at 11:00, answered in 20 seconds."""
    return [
        {
            "external_id": f"chat-{day:%m%d}-{n}",
            "channel": "chat",
            "received_at": at(day, 11, n),
            "first_response_at": at(day, 11, n, seconds=20),
            "resolved_at": at(day, 11, n, minutes=8),
        }
        for day in OCTOBER
        if day.weekday() < 5
        for n in range(5)
    ]


def pairs_patrol() -> list[dict[str, Any]]:
    """Twelve patrol batches a day (every two hours) on 1-30 October, 5,000 posts each: 1,800,000 posts,
    all handled within five minutes."""
    return [
        {
            "external_id": f"patrol-{day:%m%d}-{hour:02d}",
            "received_at": at(day, hour),
            "first_response_at": at(day, hour, minutes=5),
            "resolved_at": at(day, hour, minutes=10),
            "units": 5_000,
        }
        for day in OCTOBER[:30]
        for hour in range(0, 24, 2)
    ]


def pairs_reports() -> list[dict[str, Any]]:
    """Ten violation reports a day, handled within the hour: 310."""
    return [
        {
            "external_id": f"report-{day:%m%d}-{n}",
            "received_at": at(day, 12, 10 * n // 2),
            "first_response_at": at(day, 12, 10 * n // 2, minutes=10),
            "resolved_at": at(day, 12, 10 * n // 2, minutes=30),
        }
        for day in OCTOBER
        for n in range(10)
    ]


def pairs_email() -> list[dict[str, Any]]:
    """Eight emails a day, resolved within the hour: 248."""
    return [
        {
            "external_id": f"pairs-mail-{day:%m%d}-{n}",
            "channel": "email",
            "received_at": at(day, 11, 15 * n // 2),
            "first_response_at": at(day, 11, 15 * n // 2, minutes=10),
            "resolved_at": at(day, 11, 15 * n // 2, hours=1),
        }
        for day in OCTOBER
        for n in range(8)
    ]


WORK = {
    "LAN-EMAIL": lancers_email,
    "LAN-CHAT": lancers_chat,
    "EUR-PAIRS-PATROL": pairs_patrol,
    "EUR-PAIRS-REPORTS": pairs_reports,
    "EUR-PAIRS-EMAIL": pairs_email,
}

# --- the bill, from the rate plans in tenants/demo.yaml -----------------------------------------------

# Lancers: two teams billed by the person-month for the whole month; email's first response (60%) is
# under its 90% target, which the plan credits at 5% of the contract's charges. Contracts by code.
LANCERS_LINES = [
    ("LAN-CHAT", "charge", 2 * 420_000),
    ("LAN-EMAIL", "charge", 10 * 420_000),
    ("LAN-EMAIL", "service_credit", -(10 * 420_000) * 5 // 100),
]
# Pairs: 248 emails at 350 (86,800) topped up to the 2,000,000 minimum; 1,800,000 patrolled posts by
# volume pricing (over 1,500,000, so every post at 3; above the 4,000,000 minimum); 310 reports at 150.
EUREKA_LINES = [
    ("EUR-PAIRS-EMAIL", "charge", 248 * 350),
    ("EUR-PAIRS-EMAIL", "minimum_top_up", 2_000_000 - 248 * 350),
    ("EUR-PAIRS-PATROL", "charge", 1_800_000 * 3),
    ("EUR-PAIRS-REPORTS", "charge", 310 * 150),
]


def totals(lines: list[tuple[str, str, int]]) -> tuple[int, int, int]:
    subtotal = sum(amount for _, _, amount in lines)
    tax = subtotal // 10  # 10%, truncated, once per invoice
    return subtotal, tax, subtotal + tax


# --- steps ------------------------------------------------------------------------------------------


async def demo_operator(client: httpx.AsyncClient, runtime: Runtime) -> TenantHandle:
    text = DEMO_MANIFEST.read_text(encoding="utf-8")
    slug = f"demo-{uuid.uuid4().hex[:8]}"
    manifest, problems = load_manifest(text.replace("slug: demo\n", f"slug: {slug}\n", 1))
    assert manifest is not None, problems
    applied = await apply_manifest(runtime, manifest, demo_password=PASSWORD)
    assert applied.tenant_created
    tokens = await login(client, slug, "admin@demo.example")
    return TenantHandle(
        id=await tenant_id_for(runtime, slug),
        slug=slug,
        admin_email="admin@demo.example",
        admin=headers_for(tokens["access_token"]),
    )


async def user(client: httpx.AsyncClient, tenant: TenantHandle, email: str) -> dict[str, str]:
    return headers_for((await login(client, tenant.slug, email))["access_token"])


async def contract_ids(client: httpx.AsyncClient, tenant: TenantHandle) -> dict[str, str]:
    response = await client.get("/v1/contracts", params={"limit": 200}, headers=tenant.admin)
    assert response.status_code == 200, response.text
    return {contract["code"]: contract["id"] for contract in response.json()["items"]}


async def invoice_of(client: httpx.AsyncClient, headers: dict[str, str], client_code: str) -> dict[str, Any]:
    clients = (await client.get("/v1/clients", params={"limit": 200}, headers=headers)).json()["items"]
    [customer] = [c for c in clients if c["code"] == client_code]
    listing = await client.get(
        "/v1/invoices", params={"period": "2026-10", "client_id": customer["id"]}, headers=headers
    )
    [summary] = listing.json()["items"]
    response = await client.get(f"/v1/invoices/{summary['id']}", headers=headers)
    assert response.status_code == 200, response.text
    invoice: dict[str, Any] = response.json()
    return invoice


def lines_of(invoice: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(line["contract_code"], line["kind"], line["amount"]["amount"]) for line in invoice["lines"]]


@pytest.mark.slow
async def test_demo_operator_bills_lancers_and_pairs_through_stripe(
    client: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    runtime: Runtime,
    fake_stripe: FakeStripe,
    stripe_settings: Settings,
) -> None:
    demo = await demo_operator(client, runtime)
    account = await connect_stripe(client, demo, fake_stripe)
    manager = await user(client, demo, "manager@demo.example")
    lancers_viewer = await user(client, demo, "viewer-lancers@demo.example")
    eureka_viewer = await user(client, demo, "viewer-eureka@demo.example")

    # A month of items through the batch API, then the SLA rollups the workers would build.
    ids = await contract_ids(client, demo)
    for code, items in WORK.items():
        work = items()
        for start in range(0, len(work), 1_000):
            body = {"contract_code": code, "items": work[start : start + 1_000]}
            await post_ok(client, "/v1/work-items:batch", body, manager)
        await rebuild(runtime, demo, ids[code], datetime.now(UTC))
    assert (await ingest(client, manager, ids["LAN-CHAT"], lancers_chat()[:1]))["unchanged"] == 1

    # The month-end run, queued through the API and done by its job.
    response = await client.post("/v1/invoice-runs", json={"period": "2026-10"}, headers=manager)
    assert response.status_code == 202, response.text
    async with runtime.db.tenant(demo.id) as session:
        result = await runs.execute_run(session, system_scope(demo.id), uuid.UUID(response.json()["id"]))
    assert result.drafts_created >= 2

    lancers = await invoice_of(client, manager, "LANCERS")
    eureka = await invoice_of(client, manager, "EUREKA")
    for invoice, expected in ((lancers, LANCERS_LINES), (eureka, EUREKA_LINES)):
        assert invoice["status"] == "draft"
        assert lines_of(invoice) == expected
        subtotal, tax, total = totals(expected)
        assert (invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]) == (
            subtotal,
            tax,
            total,
        )
        assert invoice["tax_rate"] == "0.1"
        assert invoice["registration_number"] == "T1234567890123"
    patrol = next(line for line in eureka["lines"] if line["contract_code"] == "EUR-PAIRS-PATROL")
    assert (patrol["quantity"], patrol["unit_price"]) == ("1800000", "3")
    credit = next(line for line in lancers["lines"] if line["kind"] == "service_credit")
    assert "first response" in credit["description"]

    # Drafts are the operator's alone.
    assert (await client.get("/v1/invoices", headers=lancers_viewer)).json()["items"] == []
    assert_problem(await client.get(f"/v1/invoices/{lancers['id']}", headers=lancers_viewer), 404)

    # Finalize: numbered, and the push queued with it.
    for invoice in (lancers, eureka):
        final = await post_ok(client, f"/v1/invoices/{invoice['id']}/finalize", {}, manager)
        invoice.update(final)
    assert lancers["number"] != eureka["number"]

    # The push: Stripe creates the invoice but the answer comes too late, the job fails and is retried
    # with the same keys; Stripe replays its answers and bills once.
    fake_stripe.delay_next(2.0, path="/v1/invoices")
    with pytest.raises(stripe.APIConnectionError):
        await push(runtime, stripe_settings, demo, lancers["id"], request_timeout=0.5, network_retries=0)
    lancers_link = await push(runtime, stripe_settings, demo, lancers["id"], network_retries=0)
    eureka_link = await push(runtime, stripe_settings, demo, eureka["id"])
    assert lancers_link is not None
    assert eureka_link is not None
    assert fake_stripe.count("invoice", account) == 2
    assert fake_stripe.count("customer", account) == 2
    by_number = {i["number"]: i for i in fake_stripe.objects("invoice", account)}
    for invoice in (lancers, eureka):
        pushed = by_number[invoice["number"]]
        assert pushed["status"] == "open"
        assert pushed["total"] == invoice["total"]["amount"]
        assert pushed["metadata"]["bpo_invoice_id"] == invoice["id"]

    # Viewers: their own client's issued invoice, nothing else.
    assert [i["id"] for i in (await client.get("/v1/invoices", headers=lancers_viewer)).json()["items"]] == [
        lancers["id"]
    ]
    assert_problem(await client.get(f"/v1/invoices/{eureka['id']}", headers=lancers_viewer), 404)
    assert_problem(await client.get(f"/v1/invoices/{eureka['id']}.csv", headers=lancers_viewer), 404)
    assert [i["id"] for i in (await client.get("/v1/invoices", headers=eureka_viewer)).json()["items"]] == [
        eureka["id"]
    ]
    rakuten_draft = await invoice_of(client, manager, "RAKUTEN")
    assert rakuten_draft["status"] == "draft"
    for viewer in (lancers_viewer, eureka_viewer):
        assert_problem(await client.get(f"/v1/invoices/{rakuten_draft['id']}", headers=viewer), 404)

    # Webhooks. A bad or stale signature is refused and changes nothing.
    paid_snapshot = fake_stripe.pay(account, lancers_link.stripe_invoice_id)
    paid = fake_stripe.event("invoice.paid", paid_snapshot, account)
    forged = await fake_stripe.send(stripe_api, WEBHOOKS, paid, secret="whsec_not_ours")
    assert_problem(forged, 400, "invalid-stripe-signature")
    stale = await fake_stripe.send(stripe_api, WEBHOOKS, paid, timestamp=int(time.time()) - 600)
    assert_problem(stale, 400, "invalid-stripe-signature")
    assert await status_of(client, demo, lancers["id"]) == "finalized"
    # invoice.paid delivered twice: paid once.
    outcomes = [(await fake_stripe.send(stripe_api, WEBHOOKS, paid)).json()["outcome"] for _ in range(2)]
    assert outcomes == ["applied", "duplicate"]
    assert await status_of(client, demo, lancers["id"]) == "paid"
    [payment] = await payments(runtime, demo, lancers["id"])
    assert (payment.status, payment.amount) == ("succeeded", lancers["total"]["amount"])

    # Out of order: Pairs pays, then an older failed attempt arrives. It stays paid.
    now = int(time.time())
    failed_snapshot = fake_stripe.fail_payment(account, eureka_link.stripe_invoice_id)
    eureka_paid = fake_stripe.event(
        "invoice.paid", fake_stripe.pay(account, eureka_link.stripe_invoice_id), account, created=now
    )
    older_failure = fake_stripe.event("invoice.payment_failed", failed_snapshot, account, created=now - 120)
    assert (await fake_stripe.send(stripe_api, WEBHOOKS, eureka_paid)).json()["outcome"] == "applied"
    assert (await fake_stripe.send(stripe_api, WEBHOOKS, older_failure)).json()["outcome"] == "stale"
    assert await status_of(client, demo, eureka["id"]) == "paid"
    assert [p.status for p in await payments(runtime, demo, eureka["id"])] == ["succeeded"]

    # Another operator on Stripe: an event from the demo's account naming its invoice touches nothing.
    other = await create_tenant(client)
    other_account = await connect_stripe(client, other, fake_stripe)
    theirs = await issued_invoice(client, runtime, other)
    their_link = await push(runtime, stripe_settings, other, theirs["id"])
    assert their_link is not None
    aimed = {**fake_stripe.pay(other_account, their_link.stripe_invoice_id)}
    crossed = await fake_stripe.send(stripe_api, WEBHOOKS, fake_stripe.event("invoice.paid", aimed, account))
    assert crossed.json()["outcome"] == "ignored"
    assert await status_of(client, other, theirs["id"]) == "finalized"
    assert await payments(runtime, other, theirs["id"]) == []

    # The other operator finds none of the demo's billing.
    for path in (
        f"/v1/invoices/{lancers['id']}",
        f"/v1/invoices/{lancers['id']}.csv",
        f"/v1/invoices/{lancers['id']}/void",
        f"/v1/invoice-runs/{response.json()['id']}",
        "/v1/billing/reconciliation",
    ):
        method = client.post if path.endswith("/void") else client.get
        assert_problem(await method(path, headers=other.admin), 404)
    their_settings = (await client.get("/v1/billing/settings", headers=other.admin)).json()
    assert their_settings["stripe_account_id"] == other_account != account
    listed = (await client.get("/v1/invoices", headers=other.admin)).json()["items"]
    assert [i["id"] for i in listed] == [theirs["id"]]
