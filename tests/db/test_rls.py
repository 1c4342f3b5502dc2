"""Row-level security is the second wall: proven for every tenant table found in the catalog.

Tables are enumerated from PostgreSQL itself, so a table added by a later migration is covered
without touching this file; ``populated`` must then be taught to put a row in it for both tenants
(the test fails until it does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from bpo.billing import invoice_runs as runs
from bpo.billing.models import (
    Invoice,
    Payment,
    StripeCustomer,
    StripeEvent,
    StripeInvoice,
    StripeReconciliation,
)
from bpo.core.jobs import failures, outbox
from bpo.core.jobs.actors import claim
from bpo.core.mail import Attachment
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery.messages import queue_message
from bpo.migrations.rls import PLATFORM_TABLES, TENANT_POLICY
from bpo.notifications import sending
from bpo.settings import Settings
from bpo.sla import alerts, rollups
from bpo.staffing.models import AttendanceEvent, CalendarFeed, OpenShiftClaim, ScheduleRun, SwapRequest
from bpo.tenancy import passwords
from bpo.work import escalation_links
from tests.support.database import owner_connection
from tests.support.factories import TenantHandle, create_api_key, create_tenant, create_user, onboard, post_ok

TENANT_TABLES_SQL = """
SELECT c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
ORDER BY 1
"""


@dataclass
class Populated:
    a: TenantHandle
    b: TenantHandle
    tables: list[str]


async def _fill(client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle) -> None:
    """At least one row of ``tenant`` in every tenant table, through the public surface where there is one."""
    await create_user(client, tenant, role="supervisor")  # users, refresh_tokens, audit_events
    setup = await onboard(
        client, tenant
    )  # clients, services, sites, calendars, contracts, sla_policies, rate_plans
    contract = setup["contract"]["id"]
    await post_ok(client, f"/v1/contracts/{contract}/transitions", {"status": "active"}, tenant.admin)
    item = {"external_id": "rls-1", "received_at": "2026-10-01T00:00:00Z"}
    await post_ok(client, "/v1/work-items:batch", {"contract_id": contract, "items": [item]}, tenant.admin)
    # sla_hourly, work_hourly, and above them sla_periods, work_periods, period_rollup_zones
    async with runtime.db.tenant(tenant.id) as session:
        hour = datetime(2026, 10, 1, tzinfo=UTC)
        await rollups.refresh_hours(session, system_scope(tenant.id), uuid.UUID(contract), [hour], hour)
    # rollup_batches: a batch whose hour no refresh has taken yet
    item = {"external_id": "rls-2", "received_at": "2026-10-02T00:00:00Z"}
    await post_ok(client, "/v1/work-items:batch", {"contract_id": contract, "items": [item]}, tenant.admin)
    # webhook_endpoints; the item's breach (08:00Z): alerts, webhook_events, webhook_deliveries, alert_sweeps
    endpoint = {"url": "https://hooks.example.com/bpo", "event_types": ["sla.breached"]}
    await post_ok(client, "/v1/webhook-endpoints", endpoint, tenant.admin)
    async with runtime.db.tenant(tenant.id) as session:
        later = datetime(2026, 10, 1, 9, tzinfo=UTC)
        scope = system_scope(tenant.id)
        assert await alerts.detect_in_hours(session, scope, uuid.UUID(contract), [hour], later)
        await alerts.sweep(session, scope, later)
    # alert_events (the alert acknowledged), nps_responses
    raised = (await client.get("/v1/alerts", headers=tenant.admin)).json()["items"][0]["id"]
    await post_ok(client, f"/v1/alerts/{raised}/acknowledge", {}, tenant.admin)
    answer = {"external_id": "rls-1", "score": 9, "responded_at": "2026-10-01T03:00:00Z"}
    await post_ok(client, f"/v1/contracts/{contract}/nps-responses", {"items": [answer]}, tenant.admin)
    await create_api_key(client, tenant)  # api_keys
    # invoice_runs, invoices, invoice_lines (the run), invoice_counters (finalizing)
    async with runtime.db.tenant(tenant.id) as session:
        scope = system_scope(tenant.id)
        run = await runs.start_run(session, scope, runs.parse_period("2026-10"), enqueue=False)
        await runs.execute_run(session, scope, run.id)
        draft = await session.scalar(select(Invoice.id).where(Invoice.tenant_id == tenant.id))
    assert draft is not None
    await post_ok(client, f"/v1/invoices/{draft}/finalize", {}, tenant.admin)
    await _fill_stripe(client, runtime, tenant, draft)
    response = await client.post(
        "/v1/users",
        json={
            "email": f"idem-{uuid.uuid4().hex[:6]}@x.example",
            "role": "staff",
            "password": "long-enough-password",
        },
        headers={**tenant.admin, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text  # idempotency_keys
    await _fill_staffing(client, runtime, tenant, setup)
    # notification_settings, notification_preferences through the API; staff_notices (the database writes
    # one to the supervisor for the claim _fill_staffing made) and notice_batches by the sweep.
    response = await client.put(
        "/v1/notification-settings", json={"late_after_minutes": 15}, headers=tenant.admin
    )
    assert response.status_code == 200, response.text
    response = await client.put(
        "/v1/me/notification-preferences", json={"mail": {"lateness": False}}, headers=tenant.admin
    )
    assert response.status_code == 200, response.text
    async with runtime.db.tenant(tenant.id) as session:
        later = datetime.now(UTC) + timedelta(minutes=10)
        await sending.sweep(session, system_scope(tenant.id), later, runtime.settings, failures.Failures())
    async with runtime.db.tenant(tenant.id) as session:
        # messages, message_attachments
        await queue_message(
            session,
            tenant.id,
            "rls.check",
            "tenant",
            tenant.id,
            "2026-11",
            "someone@example.com",
            "RLS check",
            "text",
            None,
            [Attachment("a.txt", b"a", "text/plain")],
        )
    async with runtime.db.tenant(tenant.id) as session:
        assert await passwords.create_reset(session, tenant.id, tenant.admin_email)  # password_resets
    # report_subscriptions, reports
    client_id = setup["client"]["id"]
    subscription = {"cadence": "weekly", "weekday": 1, "send_at": "09:00"}
    await post_ok(client, f"/v1/clients/{client_id}/report-subscriptions", subscription, tenant.admin)
    await post_ok(
        client, "/v1/reports", {"client_id": client_id, "period": "2026-W40", "send": False}, tenant.admin
    )
    # voice_categories, voices
    categories = {"categories": [{"key": "praise", "label_ja": "好評", "label_en": "Praise"}]}
    response = await client.put(
        f"/v1/contracts/{contract}/voice-categories", json=categories, headers=tenant.admin
    )
    assert response.status_code == 200, response.text
    voice = {"contract_id": contract, "text": "RLS の声", "category": "praise"}
    await post_ok(client, "/v1/voices", voice, tenant.admin)
    # escalation_rules, escalations, escalation_events, escalation_links
    response = await client.put(f"/v1/contracts/{contract}/escalation-rules", json={}, headers=tenant.admin)
    assert response.status_code == 200, response.text
    escalation = {"severity": "high", "reason": "RLS", "recommended_action": "RLS", "contract_id": contract}
    escalated = await post_ok(client, "/v1/escalations", escalation, tenant.admin)
    async with runtime.db.tenant(tenant.id) as session:
        await escalation_links.issue_link(
            session,
            system_scope(tenant.id),
            uuid.UUID(escalated["id"]),
            "someone@example.com",
            datetime.now(UTC),
        )
    async with runtime.db.tenant(tenant.id) as session:
        outbox.enqueue(session, tenant.id, "tenancy.purge_expired")  # outbox
        assert await claim(session, tenant.id, uuid.uuid4(), "tenancy.purge_expired")  # job_runs
        await failures.record(  # job_failures
            session,
            tenant.id,
            job="tenancy.purge_expired",
            job_id=uuid.uuid4(),
            object_type="tenant",
            object_id=tenant.id,
            error="RuntimeError: for the RLS probe",
        )


async def _fill_stripe(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, invoice_id: uuid.UUID
) -> None:
    """billing_settings (and the platform stripe_accounts) through the API; stripe_customers,
    stripe_invoices, stripe_events, payments, stripe_reconciliations as rows."""
    account = f"acct_rls{tenant.id.hex}"
    settings = {"stripe_account_id": account, "tax_rate": "0.10", "tax_rounding": "floor"}
    response = await client.put("/v1/billing/settings", json=settings, headers=tenant.admin)
    assert response.status_code == 200, response.text
    now = datetime.now(UTC)
    async with runtime.db.tenant(tenant.id) as session:
        invoice = await session.get_one(Invoice, (tenant.id, invoice_id))
        stripe_id = f"in_rls{tenant.id.hex}"
        session.add_all(
            [
                StripeCustomer(
                    tenant_id=tenant.id,
                    client_id=invoice.client_id,
                    stripe_account_id=account,
                    stripe_customer_id=f"cus_rls{tenant.id.hex}",
                ),
                StripeInvoice(
                    tenant_id=tenant.id,
                    invoice_id=invoice.id,
                    stripe_account_id=account,
                    stripe_invoice_id=stripe_id,
                    stripe_status="open",
                    amount_due=invoice.total,
                ),
                StripeEvent(
                    tenant_id=tenant.id,
                    event_id="evt_rls",
                    type="invoice.paid",
                    created=now,
                    outcome="applied",
                ),
                Payment(
                    tenant_id=tenant.id,
                    id=uuid.uuid4(),
                    invoice_id=invoice.id,
                    status="succeeded",
                    amount=invoice.total,
                    currency=invoice.currency,
                    stripe_event_id="evt_rls",
                    stripe_invoice_id=stripe_id,
                    occurred_at=now,
                ),
                StripeReconciliation(
                    tenant_id=tenant.id, id=uuid.uuid4(), stripe_account_id=account, checked=1, mismatches=[]
                ),
            ]
        )


async def _fill_staffing(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, setup: dict[str, Any]
) -> None:
    """staff, time_off, shifts, assignments, staffing_settings; schedule_runs, swap_requests,
    calendar_feeds, open_shift_claims, attendance_events as rows; cancelled_assignments by unassigning."""
    h = tenant.admin
    contract = setup["contract"]["id"]
    people = [
        await post_ok(
            client,
            "/v1/staff",
            {
                "display_name": f"RLS {n}",
                "home_zone": "Asia/Tokyo",
                "country": "JP",
                "languages": [{"name": "ja", "level": 5}],
                "site_ids": [setup["site"]["id"]],
            },
            h,
        )
        for n in (1, 2)
    ]
    leave = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}
    await post_ok(client, f"/v1/staff/{people[0]['id']}/time-off", leave, h)
    shift = await post_ok(
        client,
        "/v1/shifts",
        {"contract_id": contract, "start": "2026-11-02T00:00:00Z", "end": "2026-11-02T08:00:00Z"},
        h,
    )
    assigned = await post_ok(
        client, f"/v1/shifts/{shift['id']}/assignments", {"staff_id": people[0]["id"]}, h
    )
    # Taken off a shift: the database keeps a cancellation for the person's calendar (cancelled_assignments).
    later = await post_ok(
        client,
        "/v1/shifts",
        {"contract_id": contract, "start": "2026-11-03T00:00:00Z", "end": "2026-11-03T08:00:00Z"},
        h,
    )
    gone = await post_ok(client, f"/v1/shifts/{later['id']}/assignments", {"staff_id": people[1]["id"]}, h)
    response = await client.delete(f"/v1/assignments/{gone['id']}", headers=h)
    assert response.status_code == 204, response.text
    response = await client.put("/v1/staffing/settings", json={"min_rest_hours": 10}, headers=h)
    assert response.status_code == 200, response.text
    async with runtime.db.tenant(tenant.id) as session:
        session.add_all(
            [
                ScheduleRun(
                    tenant_id=tenant.id,
                    period_from=date(2026, 11, 1),
                    period_to=date(2026, 11, 7),
                    contract_ids=[uuid.UUID(contract)],
                ),
                SwapRequest(
                    tenant_id=tenant.id,
                    assignment_id=uuid.UUID(assigned["id"]),
                    requester_staff_id=uuid.UUID(people[0]["id"]),
                    counterpart_staff_id=uuid.UUID(people[1]["id"]),
                ),
                CalendarFeed(
                    tenant_id=tenant.id, staff_id=uuid.UUID(people[0]["id"]), token_hash=uuid.uuid4().hex
                ),
                OpenShiftClaim(
                    tenant_id=tenant.id,
                    shift_id=uuid.UUID(shift["id"]),
                    staff_id=uuid.UUID(people[1]["id"]),
                    approval="supervisor",
                ),
                AttendanceEvent(
                    tenant_id=tenant.id,
                    shift_id=uuid.UUID(shift["id"]),
                    staff_id=uuid.UUID(people[0]["id"]),
                    kind="clock_in",
                    at=datetime(2026, 11, 2, tzinfo=UTC),
                    source="import",
                ),
            ]
        )


@pytest.fixture(scope="module")
async def populated(client: httpx.AsyncClient, runtime: Runtime, settings: Settings) -> Populated:
    a = await create_tenant(client)
    b = await create_tenant(client)
    await _fill(client, runtime, a)
    await _fill(client, runtime, b)
    owner = await owner_connection(settings)
    try:
        tables = [r["relname"] for r in await owner.fetch(TENANT_TABLES_SQL)]
        missing = []
        for table in tables:
            for tenant in (a, b):
                count = await owner.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant.id)
                if count == 0:
                    missing.append(f"{table} (tenant {tenant.slug})")
        assert not missing, f"teach _fill() to create rows in: {', '.join(missing)}"
    finally:
        await owner.close()
    return Populated(a, b, tables)


async def test_every_table_is_tenant_scoped_or_declared_platform(settings: Settings) -> None:
    owner = await owner_connection(settings)
    try:
        all_tables = {
            r["relname"]
            for r in await owner.fetch(
                "SELECT relname FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r','p')"
            )
        }
        tenant_tables = {r["relname"] for r in await owner.fetch(TENANT_TABLES_SQL)}
    finally:
        await owner.close()
    assert tenant_tables, "no tenant tables found"
    assert all_tables - tenant_tables <= PLATFORM_TABLES, all_tables - tenant_tables - PLATFORM_TABLES


async def test_rls_enabled_forced_with_tenant_policy(populated: Populated, settings: Settings) -> None:
    owner = await owner_connection(settings)
    try:
        for table in populated.tables:
            row = await owner.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass", table
            )
            assert row["relrowsecurity"], f"{table}: RLS not enabled"
            assert row["relforcerowsecurity"], f"{table}: RLS not forced"
            policy = await owner.fetchrow(
                "SELECT qual, with_check FROM pg_policies WHERE tablename = $1 AND policyname = $2",
                table,
                TENANT_POLICY,
            )
            assert policy is not None, f"{table}: no {TENANT_POLICY} policy"
            assert "bpo.tenant_id" in policy["qual"]
            assert "bpo.tenant_id" in policy["with_check"]
    finally:
        await owner.close()


async def test_app_connections_run_as_app_role(runtime: Runtime, settings: Settings) -> None:
    async with runtime.db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_user AS me, r.rolsuper, r.rolbypassrls "
                    "FROM pg_roles r WHERE r.rolname = current_user"
                )
            )
        ).one()
        assert row.me == settings.database_app_role
        assert not row.rolsuper
        assert not row.rolbypassrls
        owned = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                    "AND pg_get_userbyid(relowner) = current_user"
                )
            )
        ).scalar_one()
        assert owned == 0, "the application role must own no table"
        # The session itself is the app role (test servers accept its login), so no SQL can switch
        # back to the owner: RESET ROLE keeps it, SET ROLE to the owner is refused.
        assert (await conn.execute(text("SELECT session_user"))).scalar_one() == settings.database_app_role
        await conn.execute(text("RESET ROLE"))
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == settings.database_app_role
        await conn.rollback()
        owner = (
            await conn.execute(text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'users'"))
        ).scalar_one()
        await conn.rollback()
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(text(f'SET ROLE "{owner}"'))


async def test_no_tenant_set_sees_nothing(populated: Populated, runtime: Runtime) -> None:
    async with runtime.db.platform() as session:
        for table in populated.tables:
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert count == 0, f"{table}: {count} rows visible with no tenant set"


@pytest.mark.parametrize("which", ["a", "b"])
async def test_tenant_sees_only_its_rows(
    populated: Populated, runtime: Runtime, settings: Settings, which: str
) -> None:
    me, other = (populated.a, populated.b) if which == "a" else (populated.b, populated.a)
    owner = await owner_connection(settings)
    try:
        async with runtime.db.tenant(me.id) as session:
            for table in populated.tables:
                visible = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                foreign = (
                    await session.execute(
                        text(f"SELECT count(*) FROM {table} WHERE tenant_id <> :me"), {"me": me.id}
                    )
                ).scalar_one()
                mine = await owner.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", me.id)
                theirs = await owner.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", other.id)
                assert theirs > 0
                assert foreign == 0, f"{table}: another tenant's rows are visible"
                assert visible == mine, f"{table}: {visible} visible, {mine} owned"
    finally:
        await owner.close()


async def test_cannot_move_rows_to_another_tenant(populated: Populated, runtime: Runtime) -> None:
    for table in populated.tables:
        with pytest.raises(Exception, match=r"row-level security|permission denied"):
            async with runtime.db.tenant(populated.a.id) as session:
                await session.execute(
                    text(f"UPDATE {table} SET tenant_id = :other WHERE tenant_id = :me"),
                    {"other": populated.b.id, "me": populated.a.id},
                )


async def test_cannot_write_rows_for_another_tenant(populated: Populated, runtime: Runtime) -> None:
    with pytest.raises(Exception, match="row-level security"):
        async with runtime.db.tenant(populated.a.id) as session:
            outbox.enqueue(session, populated.b.id, "tenancy.purge_expired")
            await session.flush()


async def test_app_role_cannot_turn_rls_off(populated: Populated, runtime: Runtime) -> None:
    with pytest.raises(Exception, match="row-level security"):
        async with runtime.db.tenant(populated.a.id) as session:
            await session.execute(text("SET LOCAL row_security = off"))
            await session.execute(text("SELECT count(*) FROM users"))
    for table in populated.tables:
        with pytest.raises(Exception, match="must be owner"):
            async with runtime.db.platform() as session:
                await session.execute(text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
    with pytest.raises(Exception, match="must be owner"):
        async with runtime.db.platform() as session:
            await session.execute(text("ALTER TABLE users NO FORCE ROW LEVEL SECURITY"))
    with pytest.raises(Exception, match=r"permission denied|must be owner"):
        async with runtime.db.platform() as session:
            await session.execute(text(f"DROP POLICY {TENANT_POLICY} ON users"))
