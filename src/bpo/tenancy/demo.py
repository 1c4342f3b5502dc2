"""The demo operator: a tenant and one login per role, created when missing (never changed after)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml
from sqlalchemy import select

from bpo.core.runtime import Runtime
from bpo.db.engine import SET_TENANT
from bpo.settings import Settings
from bpo.tenancy import schemas
from bpo.tenancy.models import Tenant, User
from bpo.tenancy.service import create_tenant, create_user

DEMO_MANIFEST = Path("tenants/demo.yaml")


class DemoUser(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    role: str
    full_name: str = ""


class DemoTenant(msgspec.Struct, forbid_unknown_fields=True):
    slug: str
    name: str
    time_zone: str = "Asia/Tokyo"


class DemoManifest(msgspec.Struct, forbid_unknown_fields=True):
    tenant: DemoTenant
    users: list[DemoUser]


async def load_demo(settings: Settings, path: Path) -> list[tuple[str, str]]:
    raw: Any = yaml.safe_load(path.read_text())  # noqa: ASYNC240 - a small file, read once at start
    manifest = msgspec.convert(raw, DemoManifest)
    password = settings.demo_password.get_secret_value()
    runtime = Runtime.create(settings)
    try:
        async with runtime.db.platform() as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == manifest.tenant.slug))
        admin = next(u for u in manifest.users if u.role == "admin")
        if tenant_id is None:
            created = await create_tenant(
                runtime,
                schemas.TenantCreate(
                    slug=manifest.tenant.slug,
                    name=manifest.tenant.name,
                    admin_email=admin.email,
                    admin_password=password,
                    time_zone=manifest.tenant.time_zone,
                ),
            )
            tenant_id = created.tenant.id
        async with runtime.db.platform() as session:
            await session.execute(SET_TENANT, {"tenant_id": str(tenant_id)})
            existing = set(
                (await session.scalars(select(User.email).where(User.tenant_id == tenant_id))).all()
            )
            for user in manifest.users:
                if user.email in existing:
                    continue
                data = msgspec.convert(
                    {
                        "email": user.email,
                        "role": user.role,
                        "password": password,
                        "full_name": user.full_name,
                    },
                    schemas.UserCreate,
                )
                await create_user(session, tenant_id, None, data)
    finally:
        await runtime.close()
    return [(u.email, u.role) for u in manifest.users]
