"""Staffing test data: people, shifts and assignments written straight to the tenant's tables (under
RLS, as the application role), and logins linked to staff profiles."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.staffing import models
from tests.support.factories import PASSWORD, TenantHandle, headers_for, login, post_ok


def _proficiencies(names: Iterable[str]) -> list[dict[str, Any]]:
    return [{"name": name, "level": 3} for name in names]


async def add_staff(
    runtime: Runtime,
    tenant: TenantHandle,
    name: str,
    *,
    zone: str = "Asia/Tokyo",
    country: str = "JP",
    skills: Iterable[str] = ("patrol",),
    languages: Iterable[str] = ("ja",),
    site_ids: Iterable[uuid.UUID | str] = (),
    user_id: uuid.UUID | str | None = None,
    **columns: Any,
) -> uuid.UUID:
    staff_id = new_id()
    async with runtime.db.tenant(tenant.id) as session:
        session.add(
            models.Staff(
                tenant_id=tenant.id,
                id=staff_id,
                display_name=name,
                employment_type="full_time",
                home_zone=zone,
                country=country,
                skills=_proficiencies(skills),
                languages=_proficiencies(languages),
                site_ids=[uuid.UUID(str(site)) for site in site_ids],
                user_id=uuid.UUID(str(user_id)) if user_id is not None else None,
                **columns,
            )
        )
    return staff_id


async def add_shift(
    runtime: Runtime,
    tenant: TenantHandle,
    contract_id: uuid.UUID | str,
    start: datetime,
    end: datetime,
    *,
    headcount: int = 1,
    skills: Iterable[str] = (),
    languages: Iterable[str] = (),
    mode: str = "remote",
    site_id: uuid.UUID | str | None = None,
    status: str = "published",
) -> uuid.UUID:
    shift_id = new_id()
    async with runtime.db.tenant(tenant.id) as session:
        session.add(
            models.Shift(
                tenant_id=tenant.id,
                id=shift_id,
                contract_id=uuid.UUID(str(contract_id)),
                starts_at=start,
                ends_at=end,
                mode=mode,
                site_id=uuid.UUID(str(site_id)) if site_id is not None else None,
                headcount=headcount,
                skills=list(skills),
                languages=list(languages),
                status=status,
            )
        )
    return shift_id


async def add_assignment(
    runtime: Runtime,
    tenant: TenantHandle,
    shift_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    source: str = "manual",
) -> uuid.UUID:
    assignment_id = new_id()
    async with runtime.db.tenant(tenant.id) as session:
        session.add(
            models.Assignment(
                tenant_id=tenant.id, id=assignment_id, shift_id=shift_id, staff_id=staff_id, source=source
            )
        )
    return assignment_id


async def staff_login(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantHandle,
    name: str,
    *,
    zone: str = "Asia/Tokyo",
    role: str = "staff",
    **fields: Any,
) -> tuple[uuid.UUID, dict[str, str]]:
    """A staff profile with a login of `role` linked to it (both ways, as the staff API links them)."""
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@{tenant.slug}.example"
    user = await post_ok(
        client, "/v1/users", {"email": email, "role": role, "password": PASSWORD}, tenant.admin
    )
    staff_id = await add_staff(runtime, tenant, name, zone=zone, user_id=user["id"], **fields)
    response = await client.patch(
        f"/v1/users/{user['id']}", json={"staff_id": str(staff_id)}, headers=tenant.admin
    )
    assert response.status_code == 200, response.text
    tokens = await login(client, tenant.slug, email)
    return staff_id, headers_for(tokens["access_token"])


async def remote_contract(
    client: httpx.AsyncClient, tenant: TenantHandle, setup: dict[str, Any], name: str = "Night patrol"
) -> dict[str, Any]:
    """A remote patrol contract next to the one `onboard` made, on the same service and calendar."""
    return await post_ok(
        client,
        "/v1/contracts",
        {
            "service_id": setup["service"]["id"],
            "code": f"P-{uuid.uuid4().hex[:8]}",
            "name": name,
            "work_type": "patrol",
            "start_date": "2026-01-01",
            "calendar_id": setup["calendar"]["id"],
            "staffing_mode": "remote",
        },
        tenant.admin,
    )
