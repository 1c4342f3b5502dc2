"""The demo operator: ``tenants/demo.yaml``, applied like any other manifest, and the logins it declares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bpo.core.runtime import Runtime
from bpo.core.scope import Role
from bpo.onboarding.apply import ManifestRejected, apply_manifest
from bpo.onboarding.demo_activity import HISTORY_DAYS, Activity, seed_activity
from bpo.onboarding.manifest import load_manifest
from bpo.settings import Settings
from bpo.tenancy import service as tenancy
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
        return await seed_activity(runtime, slug, days=days)
    finally:
        await runtime.close()
