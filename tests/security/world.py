"""A populated operator to attack: tenant A with client X (everything the factories can make), a second
client Y in the same tenant, and a second tenant B, with a logged-in caller of every kind in each.

Objects are named (``world.ids["contract"]``) so probes and fuzzing refer to them by name. A context
that adds objects appends a seeder to ``SEEDERS``: it receives the HTTP client and the world under
construction and records the ids of what it made for tenant A / client X.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bpo.billing.invoice_runs import run_period_now
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery import messages, webhooks
from bpo.sla import alerts
from tests.support.factories import (
    TenantHandle,
    create_api_key,
    create_tenant,
    create_user,
    headers_for,
    onboard,
    post_ok,
)
from tests.support.staffing import add_assignment, add_punch, add_shift, staff_login

JST = "+09:00"
ITEMS: list[dict[str, Any]] = [
    {
        "external_id": "x-1",
        "received_at": f"2026-10-02T10:00:00{JST}",
        "first_response_at": f"2026-10-02T10:20:00{JST}",
        "resolved_at": f"2026-10-02T11:00:00{JST}",
        "units": 12,
    },
    {
        "external_id": "x-2",
        "received_at": f"2026-10-15T10:00:00{JST}",
        "resolved_at": f"2026-10-15T12:00:00{JST}",
        "units": 3,
    },
]


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    # The access token, for the dashboard's session cookie; None for an API key.
    token: str | None = None


@dataclass
class World:
    tenant: TenantHandle
    other_tenant: TenantHandle
    # Tenant A's objects (client X's where they belong to a client), by name.
    ids: dict[str, str] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    # Anything else a probe needs by name (slugs, codes, secrets such as a feed token).
    values: dict[str, str] = field(default_factory=dict)
    # Tenant A's objects that are an attacker's own (its staff profile, its client): not a leak to it.
    owned_by: dict[str, set[str]] = field(
        default_factory=lambda: {
            "other_client_viewer": {"other_client"},
            "other_client_key": {"other_client"},
            "other_staff": {"other_staff"},
        }
    )
    # What tenant A's admin reads before and after probes: nothing another caller does may change it.
    snapshot: list[str] = field(
        default_factory=lambda: [
            "/v1/tenant",
            "/v1/users",
            "/v1/api-keys",
            "/v1/sites/{site}",
            "/v1/calendars/{calendar}",
            "/v1/clients/{client}",
            "/v1/services/{service}",
            "/v1/contracts/{contract}",
            "/v1/contracts/{contract}/rate-plans",
            "/v1/contracts/{contract}/sla-policies",
            "/v1/contracts/{contract}/work-items",
            "/v1/invoices/{invoice}",
            "/v1/invoice-runs/{invoice_run}",
        ]
    )

    def caller(self, name: str) -> Caller:
        return self.callers[name]


Seeder = Callable[[httpx.AsyncClient, Runtime, World], Awaitable[None]]


async def _user(
    http: httpx.AsyncClient, tenant: TenantHandle, name: str, role: str, client_id: str | None = None
) -> tuple[dict[str, Any], Caller]:
    user, headers = await create_user(
        http, tenant, role=role, client_id=uuid.UUID(client_id) if client_id else None
    )
    return user, Caller(name, headers, headers["Authorization"].removeprefix("Bearer "))


async def seed_tenancy(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    a = world.tenant
    x = world.ids["client"]
    world.callers["admin"] = Caller("admin", a.admin, a.admin["Authorization"].removeprefix("Bearer "))
    for role in ("account_manager", "supervisor"):
        user, caller = await _user(http, a, role, role)
        world.callers[role] = caller
        world.ids[f"{role}_user"] = user["id"]
    viewer, world.callers["client_viewer"] = await _user(http, a, "client_viewer", "client_viewer", x)
    world.ids["user"] = viewer["id"]
    key = await create_api_key(http, a, client_id=uuid.UUID(x))
    world.ids["api_key"] = key["id"]
    world.callers["api_key"] = Caller("api_key", headers_for(key["key"]))
    y = world.ids["other_client"]
    _, world.callers["other_client_viewer"] = await _user(http, a, "other_client_viewer", "client_viewer", y)
    other_key = await create_api_key(http, a, client_id=uuid.UUID(y))
    world.callers["other_client_key"] = Caller("other_client_key", headers_for(other_key["key"]))
    b = world.other_tenant
    world.callers["other_tenant_admin"] = Caller(
        "other_tenant_admin", b.admin, b.admin["Authorization"].removeprefix("Bearer ")
    )


async def seed_work_and_billing(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    h = world.tenant.admin
    contract = world.ids["contract"]
    await post_ok(
        http,
        f"/v1/contracts/{contract}/sla-policies",
        {
            "effective_from": "2026-01-01",
            "objectives": [
                {"metric": "first_response", "threshold": "1h", "target_percent": 95, "clock": "calendar"}
            ],
        },
        h,
    )
    policies = await http.get(f"/v1/contracts/{contract}/sla-policies", headers=h)
    world.ids["sla_policy"] = policies.json()[-1]["id"]
    await post_ok(http, f"/v1/contracts/{contract}/transitions", {"status": "active"}, h)
    await post_ok(http, "/v1/work-items:batch", {"contract_id": contract, "items": ITEMS}, h)
    items = await http.get(f"/v1/contracts/{contract}/work-items", headers=h)
    world.ids["work_item"] = items.json()["items"][0]["id"]
    await run_period_now(runtime, system_scope(world.tenant.id), "2026-10")
    invoices = await http.get("/v1/invoices", params={"client_id": world.ids["client"]}, headers=h)
    world.ids["invoice"] = invoices.json()["items"][0]["id"]
    run = await http.post("/v1/invoice-runs", json={"period": "2026-09"}, headers=h)
    assert run.status_code == 202, run.text
    world.ids["invoice_run"] = run.json()["id"]


async def seed_staffing(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """Staff S1 (the ``staff`` caller) on a shift of contract X, with time off, a swap offered to S3 and a
    calendar feed; S2 (``other_staff``) is a colleague in the same tenant."""
    a = world.tenant
    for name, caller in (("staff", "staff"), ("other_staff", "other_staff"), ("third_staff", None)):
        staff_id, headers = await staff_login(http, runtime, a, f"{name.replace('_', ' ').title()} Probe")
        world.ids[name] = str(staff_id)
        if caller is not None:
            world.callers[caller] = Caller(caller, headers, headers["Authorization"].removeprefix("Bearer "))
    start = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)
    shift = await add_shift(runtime, a, world.ids["contract"], start, start + timedelta(hours=8))
    world.ids["shift"] = str(shift)
    world.ids["assignment"] = str(await add_assignment(runtime, a, shift, uuid.UUID(world.ids["staff"])))
    s1 = world.caller("staff").headers
    time_off = await post_ok(
        http,
        f"/v1/staff/{world.ids['staff']}/time-off",
        {"start": "2027-01-04T00:00:00Z", "end": "2027-01-05T00:00:00Z", "reason": "probe"},
        s1,
    )
    world.ids["time_off"] = time_off["id"]
    swap = await post_ok(
        http,
        "/v1/me/swap-requests",
        {"assignment_id": world.ids["assignment"], "counterpart_staff_id": world.ids["third_staff"]},
        s1,
    )
    world.ids["swap"] = swap["id"]
    feed = await post_ok(http, "/v1/me/calendar-feed", {}, s1)
    world.ids["calendar_feed"] = feed["id"]
    run = await http.post(
        "/v1/schedule-runs",
        json={"from": "2026-12-01", "to": "2026-12-07", "contract_ids": [world.ids["contract"]]},
        headers=a.admin,
    )
    assert run.status_code in (201, 202), run.text
    world.ids["schedule_run"] = run.json()["id"]
    # An open shift S1 has claimed, a draft shift nobody but operators sees, and S1's clock-in on their shift.
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=10)
    open_shift = await add_shift(runtime, a, world.ids["contract"], soon, soon + timedelta(hours=8))
    world.ids["open_shift"] = str(open_shift)
    draft = await add_shift(
        runtime, a, world.ids["contract"], soon, soon + timedelta(hours=4), status="draft"
    )
    world.ids["draft_shift"] = str(draft)
    claim = await post_ok(http, f"/v1/me/open-shifts/{open_shift}/claim", {}, s1)
    world.ids["open_shift_claim"] = claim["id"]
    await add_punch(
        runtime, a, shift, uuid.UUID(world.ids["staff"]), "clock_in", start + timedelta(minutes=3)
    )
    world.snapshot += [
        "/v1/open-shift-claims/{open_shift_claim}",
        "/v1/staff/{staff}",
        "/v1/shifts/{shift}",
        "/v1/assignments/{assignment}",
        "/v1/time-off/{time_off}",
        "/v1/swap-requests/{swap}",
    ]


async def seed_webhooks(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """An endpoint for client X's events, and one delivery to it."""
    endpoint = await post_ok(
        http,
        "/v1/webhook-endpoints",
        {
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["invoice.finalized"],
            "client_id": world.ids["client"],
        },
        world.tenant.admin,
    )
    world.ids["webhook_endpoint"] = endpoint["id"]
    async with runtime.db.tenant(world.tenant.id) as session:
        event = webhooks.NewEvent(
            "invoice.finalized", {"probe": True}, client_id=uuid.UUID(world.ids["client"])
        )
        assert await webhooks.emit(session, world.tenant.id, [event]) == 1
    deliveries = await http.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=world.tenant.admin
    )
    world.ids["webhook_delivery"] = deliveries.json()["items"][0]["id"]
    world.snapshot.append("/v1/webhook-endpoints/{webhook_endpoint}")


async def seed_mail(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """One message in the delivery log (never sent: no worker runs for the mail queue here)."""
    async with runtime.db.tenant(world.tenant.id) as session:
        message_id = await messages.queue_message(
            session,
            world.tenant.id,
            "mail.probe",
            "client",
            uuid.UUID(world.ids["client"]),
            "",
            "probe@probe.example",
            "Probe",
            "Probe",
            None,
        )
    world.ids["message"] = str(message_id)
    world.snapshot.append("/v1/messages/{message}")


async def seed_reports(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """Client X's weekly report subscription and one report made for it (not mailed)."""
    h = world.tenant.admin
    subscription = await post_ok(
        http,
        f"/v1/clients/{world.ids['client']}/report-subscriptions",
        {"cadence": "weekly", "weekday": 1, "send_at": "09:00"},
        h,
    )
    world.ids["report_subscription"] = subscription["id"]
    report = await post_ok(
        http, "/v1/reports", {"client_id": world.ids["client"], "period": "2026-W44", "send": False}, h
    )
    world.ids["report"] = report["id"]
    world.snapshot += ["/v1/report-subscriptions/{report_subscription}", "/v1/reports/{report}"]


async def seed_voices(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """Client X's contract's own voice categories, and one highlighted voice on it."""
    h = world.tenant.admin
    contract = world.ids["contract"]
    categories = [
        {"key": "praise", "label_ja": "好評", "label_en": "Praise"},
        {"key": "bug_report", "label_ja": "不具合", "label_en": "Bug report"},
    ]
    response = await http.put(
        f"/v1/contracts/{contract}/voice-categories", json={"categories": categories}, headers=h
    )
    assert response.status_code == 200, response.text
    voice = await post_ok(
        http,
        "/v1/voices",
        {
            "contract_id": contract,
            "text": "プローブの声: the recipe search is great",
            "category": "praise",
            "sentiment": "positive",
            "tags": ["probe"],
            "highlighted": True,
            "observed_at": f"2026-10-05T10:00:00{JST}",
        },
        h,
    )
    world.ids["voice"] = voice["id"]
    world.snapshot += ["/v1/voices/{voice}", "/v1/contracts/{contract}/voice-categories"]


async def seed_escalations(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """Client X's contract with escalation rules of its own, and an escalation raised on one of its work
    items (not mailed: no worker runs here)."""
    h = world.tenant.admin
    contract = world.ids["contract"]
    rules = await http.put(
        f"/v1/contracts/{contract}/escalation-rules",
        json={"critical": {"acknowledge_within_minutes": 10, "extra_recipients": ["duty@probe.example"]}},
        headers=h,
    )
    assert rules.status_code == 200, rules.text
    body = {
        "severity": "critical",
        "reason": "Probe",
        "recommended_action": "Probe",
        "contract_id": contract,
        "work_item_id": world.ids["work_item"],
    }
    world.ids["escalation"] = (await post_ok(http, "/v1/escalations", body, h))["id"]
    world.snapshot += ["/v1/escalations/{escalation}", "/v1/contracts/{contract}/escalation-rules"]


async def seed_alerts_and_surveys(http: httpx.AsyncClient, runtime: Runtime, world: World) -> None:
    """The breach of client X's item x-2 (answered 2 h after receipt, 1 h allowed) as an alert, and one
    answer to client X's contract's NPS survey."""
    tenant = world.tenant.id
    async with runtime.db.tenant(tenant) as session:
        raised = await alerts.detect_in_hours(
            session,
            system_scope(tenant),
            uuid.UUID(world.ids["contract"]),
            [datetime(2026, 10, 15, 1, tzinfo=UTC)],
            datetime(2026, 10, 15, 3, tzinfo=UTC),
        )
    world.ids["alert"] = str(raised[0])
    answer = {"external_id": "nps-probe", "score": 9, "responded_at": f"2026-10-15T12:00:00{JST}"}
    await post_ok(
        http, f"/v1/contracts/{world.ids['contract']}/nps-responses", {"items": [answer]}, world.tenant.admin
    )
    world.snapshot += ["/v1/alerts/{alert}", "/v1/contracts/{contract}/nps-responses"]


SEEDERS: list[Seeder] = [
    seed_tenancy,
    seed_work_and_billing,
    seed_staffing,
    seed_webhooks,
    seed_mail,
    seed_reports,
    seed_escalations,
    seed_voices,
    seed_alerts_and_surveys,
]


async def build_world(http: httpx.AsyncClient, runtime: Runtime) -> World:
    a = await create_tenant(http)
    b = await create_tenant(http)
    world = World(tenant=a, other_tenant=b)
    world.values["tenant_slug"] = a.slug
    x = await onboard(http, a)
    for name in ("client", "service", "site", "calendar", "contract", "rate_plan"):
        world.ids[name] = x[name]["id"]
    y = await onboard(http, a)
    world.ids["other_client"] = y["client"]["id"]
    for seed in SEEDERS:
        await seed(http, runtime, world)
    return world
