"""One-click acknowledgement links: each mailed recipient gets a token of their own
(``esc_<tenant hex>_<secret>``, the tenant part letting the lookup run under row-level security), of which
only the SHA-256 is stored; it works once and for ``LINK_TTL``. Reading a link changes nothing (mail
scanners open links); using it acknowledges the escalation in its recipient's name, unless someone
already has."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core import audit
from bpo.core.orm import new_id
from bpo.core.scope import Scope, system_scope
from bpo.tenancy import credentials
from bpo.work import escalations_schemas as schemas
from bpo.work.escalation_models import EscalationLink
from bpo.work.escalations import ESCALATION, UNSETTLED, escalation_row, get_escalation, mark_acknowledged

LINK_PREFIX = "esc_"
LINK_TTL = timedelta(days=3)


async def issue_link(
    session: AsyncSession, scope: Scope, escalation_id: uuid.UUID, recipient: str, now: datetime
) -> tuple[str, datetime]:
    """A new one-click acknowledgement link's token for ``recipient`` (only its hash is kept) and when it
    stops working."""
    secret = credentials.new_secret(scope.tenant_id)
    expires_at = now + LINK_TTL
    session.add(
        EscalationLink(
            tenant_id=scope.tenant_id,
            id=new_id(),
            escalation_id=escalation_id,
            recipient=recipient,
            token_hash=secret.digest,
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return secret.render(LINK_PREFIX), expires_at


def link_tenant(token: str) -> uuid.UUID | None:
    """The tenant a link's token names, if it has a token's shape at all."""
    parsed = credentials.parse_secret(token, LINK_PREFIX)
    return None if parsed is None else parsed.tenant_id


async def _live_link(
    session: AsyncSession, tenant_id: uuid.UUID, token: str, now: datetime, *, for_update: bool = False
) -> EscalationLink | None:
    parsed = credentials.parse_secret(token, LINK_PREFIX)
    if parsed is None or parsed.tenant_id != tenant_id:
        return None
    statement = select(EscalationLink).where(
        EscalationLink.tenant_id == tenant_id,
        EscalationLink.token_hash == parsed.digest,
        EscalationLink.used_at.is_(None),
        EscalationLink.expires_at > now,
    )
    link: EscalationLink | None = await session.scalar(
        statement.with_for_update() if for_update else statement
    )
    return link


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """What a mailed link shows or did: the escalation, to whom the link was sent, and whether this use
    acknowledged it (False when someone had already, or it is resolved)."""

    escalation: schemas.Escalation
    recipient: str
    # The client's: the page shows times on its clock.
    time_zone: str
    acknowledged_now: bool = False


async def read_link(
    session: AsyncSession, tenant_id: uuid.UUID, token: str, now: datetime
) -> LinkOutcome | None:
    """The escalation a live link is for (None for a link unknown, used or expired); reading changes
    nothing, as mail scanners open links."""
    link = await _live_link(session, tenant_id, token, now)
    if link is None:
        return None
    # A mailed link acts for the tenant as a whole: its token is the credential.
    scope = system_scope(tenant_id)
    escalation = await get_escalation(session, scope, link.escalation_id)
    zone = (await clients.get_client_row(session, scope, escalation.client_id)).time_zone
    return LinkOutcome(escalation, link.recipient, zone)


async def acknowledge_by_link(
    session: AsyncSession, tenant_id: uuid.UUID, token: str, now: datetime
) -> LinkOutcome | None:
    """Use a live link: it stops working, and the escalation is acknowledged in its recipient's name
    unless it already was (or is resolved). None for a link unknown, used or expired."""
    link = await _live_link(session, tenant_id, token, now, for_update=True)
    if link is None:
        return None
    # A mailed link acts for the tenant as a whole: its token is the credential.
    scope = system_scope(tenant_id)
    row = await escalation_row(session, scope, link.escalation_id, for_update=True)
    link.used_at = now
    done = row.state in UNSETTLED
    if done:
        mark_acknowledged(session, row, now, by=None, name=link.recipient, via="link")
        audit.append(
            session,
            tenant_id=tenant_id,
            actor_id=None,
            action="escalation.acknowledged",
            object_type=ESCALATION,
            object_id=row.id,
            via="link",
            recipient=link.recipient,
        )
    await session.flush()
    zone = (await clients.get_client_row(session, scope, row.client_id)).time_zone
    return LinkOutcome(await get_escalation(session, scope, row.id), link.recipient, zone, done)
