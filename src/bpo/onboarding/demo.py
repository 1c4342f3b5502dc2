"""The demo operator: ``tenants/demo.yaml``, applied like any other manifest, and the logins it declares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bpo.clients import service as clients
from bpo.core.runtime import Runtime
from bpo.core.scope import Role
from bpo.onboarding.apply import ManifestRejected, apply_manifest
from bpo.onboarding.demo_activity import HISTORY_DAYS, Activity, seed_activity
from bpo.onboarding.demo_escalations import seed_escalations
from bpo.onboarding.manifest import load_manifest
from bpo.reports import content as report_content
from bpo.reports import service as reports
from bpo.reports.periods import ReportPeriod
from bpo.settings import Settings
from bpo.sla import rollups
from bpo.tenancy import service as tenancy
from bpo.tenancy.auth import operator_scope
from bpo.tenancy.emails import normalize_email

DEMO_MANIFEST = Path("tenants/demo.yaml")


@dataclass(frozen=True)
class Login:
    email: str
    role: Role
    # The client a client viewer sees.
    client: str | None
    # None for a user created earlier with a one-time password (a demo tenant's users all use the demo one).
    password: str | None


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    logins: list[Login]
    # The manifest marks the tenant as a demo: it may be given synthetic activity.
    demo: bool


class NotADemo(Exception):
    """The manifest's tenant is not marked ``demo: true``: a reset would discard a real operator's data."""


async def load_demo(settings: Settings, path: Path, *, reset: bool = False) -> DemoTenant:
    """Apply the demo manifest. With ``reset``, first retire the tenant holding its slug (only for a
    manifest marked as a demo), so that the manifest is applied to a new, clean tenant."""
    manifest, problems = load_manifest(path.read_text(encoding="utf-8"))  # noqa: ASYNC240 - small, read once
    if manifest is None:
        raise ManifestRejected(problems)
    if reset and not manifest.tenant.demo:
        raise NotADemo(f"{path}: tenant {manifest.tenant.slug!r} is not marked as a demo (tenant.demo)")
    demo_password = settings.demo_password.get_secret_value()
    runtime = Runtime.create(settings)
    try:
        if reset:
            await tenancy.retire_tenant(runtime, manifest.tenant.slug)
        applied = await apply_manifest(runtime, manifest, demo_password=demo_password)
    finally:
        await runtime.close()
    shared = demo_password if manifest.tenant.demo else None
    logins = [
        Login(email, user.role, user.client, applied.passwords.get(email, shared))
        for user in manifest.users
        for email in [normalize_email(user.email)]
    ]
    return DemoTenant(slug=manifest.tenant.slug, logins=logins, demo=manifest.tenant.demo)


async def add_activity(settings: Settings, slug: str, days: int = HISTORY_DAYS) -> Activity:
    """Recent synthetic activity for a demo tenant (see bpo.onboarding.demo_activity)."""
    runtime = Runtime.create(settings)
    try:
        activity = await seed_activity(runtime, slug, days=days)
        # After the work items: the history's escalations refer to some of them.
        await seed_escalations(runtime, slug)
        return activity
    finally:
        await runtime.close()


@dataclass(frozen=True)
class DemoReports:
    # The ISO week reported on (``2026-W48``).
    period: str
    # Codes of the clients whose report was made and queued for their recipients now.
    sent: list[str] = field(default_factory=list)
    # Clients whose report could not be made, with why.
    failed: dict[str, str] = field(default_factory=dict)


async def send_last_weekly_reports(settings: Settings, slug: str, now: datetime | None = None) -> DemoReports:
    """The last whole ISO week before today (in the tenant's zone) reported to every client with an active
    weekly report that has none for that week yet, and mailed by the worker. The weeks' hourly numbers are
    measured here first: the worker measures freshly seeded activity only once it runs."""
    now = now or datetime.now(UTC)
    runtime = Runtime.create(settings)
    try:
        scope = await operator_scope(runtime, slug)
        async with runtime.db.tenant(scope.tenant_id) as session:
            zone = ZoneInfo(await tenancy.tenant_time_zone(session, scope))
            today = now.astimezone(zone).date()
            period = ReportPeriod.week_of(today - timedelta(days=today.isoweekday()))
            due: dict[str, list[uuid.UUID]] = {}
            for subscription in await reports.all_subscriptions(session, scope):
                if subscription.cadence != "weekly" or not subscription.active:
                    continue
                made = await reports.recent_reports(session, scope, subscription.client_id, limit=10)
                if any(report.period == period.label for report in made):
                    continue
                client = await clients.get_client_row(session, scope, subscription.client_id)
                due[client.code] = await report_content.reported_contracts(
                    session, scope, subscription.client_id, period, subscription.contract_ids
                )
        # The week before too: a report compares with it.
        start = datetime.combine(period.previous().start, time(), zone)
        end = datetime.combine(period.end + timedelta(days=1), time(), zone)
        for contract_id in {c for contracts in due.values() for c in contracts}:
            async with runtime.db.tenant(scope.tenant_id) as session:
                hours = await rollups.hours_of_items(session, scope, contract_id, start, end)
                await rollups.refresh_hours(session, scope, contract_id, hours, now)
        result = DemoReports(period.label)
        for code in sorted(due):
            done = await reports.backfill(runtime, scope, period.label, code, send=True)
            result.sent.extend(done.made + done.remade)
            result.failed.update(done.failed)
        return result
    finally:
        await runtime.close()
