"""Staffing test data: people, shifts and assignments written straight to the tenant's tables (under
RLS, as the application role), logins linked to staff profiles, and a `World` that makes contracts,
people and shifts through the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bpo.core.orm import new_id
from bpo.core.runtime import Runtime
from bpo.staffing import models
from tests.support.factories import (
    PASSWORD,
    TenantHandle,
    create_tenant,
    get_ok,
    headers_for,
    login,
    onboard,
    post_ok,
)


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


REMOTE_DAY = [{"days": ["daily"], "start": "09:00", "end": "18:00", "headcount": 1}]


@dataclass
class World:
    """A tenant with a client, its office (the ``onboard`` site), and contracts made per test."""

    tenant: TenantHandle
    setup: dict[str, Any]

    @property
    def h(self) -> dict[str, str]:
        return self.tenant.admin

    @property
    def site_id(self) -> str:
        return str(self.setup["site"]["id"])

    async def contract(
        self,
        client: httpx.AsyncClient,
        coverage: list[dict[str, Any]],
        *,
        zone: str = "Asia/Tokyo",
        mode: str = "remote",
        site_id: str | None = None,
        holiday_country: str | None = None,
    ) -> dict[str, Any]:
        code = uuid.uuid4().hex[:8]
        calendar = await post_ok(
            client,
            "/v1/calendars",
            {
                "code": f"CAL-{code}",
                "name": "Hours",
                "time_zone": zone,
                "windows": [{"days": ["daily"], "start": "00:00", "end": "24:00"}],
                "holiday_country": holiday_country,
            },
            self.h,
        )
        body: dict[str, Any] = {
            "service_id": self.setup["service"]["id"],
            "code": f"K-{code}",
            "name": "Patrol",
            "work_type": "patrol",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
            "staffing_mode": mode,
            "coverage": coverage,
        }
        if site_id is not None:
            body["site_id"] = site_id
        return await post_ok(client, "/v1/contracts", body, self.h)

    async def staff(self, client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
        body = {
            "display_name": f"Person {uuid.uuid4().hex[:4]}",
            "home_zone": "Asia/Tokyo",
            "country": "JP",
            "skills": [{"name": "patrol", "level": 3}],
            "languages": [{"name": "ja", "level": 5}],
            **fields,
        }
        return await post_ok(client, "/v1/staff", body, self.h)

    async def shift(
        self, client: httpx.AsyncClient, contract: dict[str, Any], start: str, end: str, **fields: Any
    ) -> str:
        body = {"contract_id": contract["id"], "start": start, "end": end, **fields}
        return str((await post_ok(client, "/v1/shifts", body, self.h))["id"])

    async def assign(self, client: httpx.AsyncClient, shift_id: str, staff_id: str) -> httpx.Response:
        return await client.post(
            f"/v1/shifts/{shift_id}/assignments", json={"staff_id": staff_id}, headers=self.h
        )

    async def assigned(self, client: httpx.AsyncClient, staff_id: str) -> list[str]:
        page = await get_ok(client, "/v1/assignments", self.h, staff_id=staff_id)
        return [item["shift_id"] for item in page["items"]]


async def world(client: httpx.AsyncClient) -> World:
    tenant = await create_tenant(client)
    return World(tenant, await onboard(client, tenant))


async def add_punch(
    runtime: Runtime,
    tenant: TenantHandle,
    shift_id: uuid.UUID,
    staff_id: uuid.UUID,
    kind: str,
    at: datetime,
    *,
    source: str = "import",
) -> None:
    """A clock-in or clock-out recorded as if a site's system had sent it."""
    async with runtime.db.tenant(tenant.id) as session:
        session.add(
            models.AttendanceEvent(
                tenant_id=tenant.id, shift_id=shift_id, staff_id=staff_id, kind=kind, at=at, source=source
            )
        )
