"""Escalation test data through the API: a running contract with a client viewer, a staff member and the
operator's people; raising escalations; and the notices a worker would make, run here at chosen instants."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from bpo.core.jobs.failures import Failures
from bpo.core.runtime import Runtime
from bpo.core.scope import system_scope
from bpo.delivery.models import Message
from bpo.reports import escalation_notices
from bpo.settings import Settings
from tests.support.factories import TenantHandle, create_user, post_ok
from tests.support.work import live_contract

LINK = re.compile(
    r"https?://[^\s\"<>]+(/dashboard/acknowledge/esc_[0-9a-f]{32}_[A-Za-z0-9_-]+\?lang=(?:ja|en))"
)
CRITICAL = {
    "severity": "critical",
    "reason": "レシピ投稿に個人の電話番号が掲載されています。",
    "recommended_action": "投稿を非公開にし、投稿者へ連絡してください。",
}


@dataclass
class Desk:
    """Tenant A's client X with a running contract, X's viewer, a staff member, an account manager."""

    tenant: TenantHandle
    client: dict[str, Any]
    contract: dict[str, Any]
    viewer_email: str
    viewer: dict[str, str]
    viewer_id: str
    staff: dict[str, str]
    manager_email: str


async def desk(client: httpx.AsyncClient, tenant: TenantHandle, **client_fields: Any) -> Desk:
    setup = await live_contract(client, tenant)
    if client_fields:
        response = await client.patch(
            f"/v1/clients/{setup['client']['id']}", json=client_fields, headers=tenant.admin
        )
        assert response.status_code == 200, response.text
    viewer, viewer_headers = await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"])
    )
    _, staff = await create_user(client, tenant, role="staff")
    manager, _ = await create_user(client, tenant, role="account_manager")
    return Desk(
        tenant=tenant,
        client=setup["client"],
        contract=setup["contract"],
        viewer_email=viewer["email"],
        viewer=viewer_headers,
        viewer_id=viewer["id"],
        staff=staff,
        manager_email=manager["email"],
    )


async def raise_one(
    client: httpx.AsyncClient, desk: Desk, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {**CRITICAL, "contract_id": desk.contract["id"], **fields}
    return await post_ok(client, "/v1/escalations", body, headers or desk.staff)


def _tenant_id(tenant: TenantHandle | uuid.UUID) -> uuid.UUID:
    return tenant if isinstance(tenant, uuid.UUID) else tenant.id


async def notify(
    runtime: Runtime, settings: Settings, tenant: TenantHandle | uuid.UUID, escalation_id: str, step: str
) -> Failures:
    """What the ``escalations.notify`` job does for one step; the failures it met."""
    failures = Failures()
    tenant_id = _tenant_id(tenant)
    async with runtime.db.tenant(tenant_id) as session:
        await escalation_notices.notify(
            session, system_scope(tenant_id), uuid.UUID(escalation_id), step, settings, failures
        )
    return failures


async def sweep(
    runtime: Runtime, settings: Settings, tenant: TenantHandle, now: datetime
) -> tuple[int, Failures]:
    """What the ``escalations.sweep`` job does at ``now``: the number followed up, and the failures."""
    failures = Failures()
    async with runtime.db.tenant(tenant.id) as session:
        done = await escalation_notices.sweep(session, system_scope(tenant.id), now, failures, settings)
    return done, failures


async def queued(
    runtime: Runtime, tenant: TenantHandle | uuid.UUID, kind: str | None = None
) -> list[Message]:
    """The tenant's messages in the delivery log, oldest first."""
    tenant_id = _tenant_id(tenant)
    async with runtime.db.tenant(tenant_id) as session:
        statement = (
            select(Message).where(Message.tenant_id == tenant_id).order_by(Message.created_at, Message.id)
        )
        if kind is not None:
            statement = statement.where(Message.kind == kind)
        return list((await session.scalars(statement)).all())


def link_path(text: str) -> str:
    """The path (and language) of the one-click acknowledgement link a mail's text carries."""
    found = LINK.search(text)
    assert found, text
    return found.group(1)
