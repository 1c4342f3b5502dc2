"""The tables of escalations (``work.escalations``): rules per contract and severity, the escalations with
their timeline, and the mailed acknowledgement links."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin, Timestamps

SEVERITY_CHECK = "severity IN ('critical', 'high', 'normal')"


class EscalationRule(Base, TenantMixin, Timestamps):
    """Who at the client hears of a contract's escalations of one severity, and how soon they must be
    acknowledged; a severity without a row follows ``escalations.DEFAULT_RULES``."""

    __tablename__ = "escalation_rules"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "severity"),
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"], ondelete="CASCADE"
        ),
        CheckConstraint(SEVERITY_CHECK, name="severity"),
        CheckConstraint("acknowledge_within_minutes > 0", name="minutes"),
    )

    contract_id: Mapped[uuid.UUID]
    severity: Mapped[str] = mapped_column(String(16))
    notify_viewers: Mapped[bool] = mapped_column(server_default="true")
    extra_recipients: Mapped[list[str]] = mapped_column(ARRAY(String(254)), server_default="{}")
    acknowledge_within_minutes: Mapped[int]


class Escalation(Base, TenantMixin, Timestamps):
    """Something the client's people must hear of now: raised by the operator on a contract (and perhaps
    one of its work items), acknowledged by the client, resolved by the operator."""

    __tablename__ = "escalations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
        ForeignKeyConstraint(["tenant_id", "work_item_id"], ["work_items.tenant_id", "work_items.id"]),
        CheckConstraint(SEVERITY_CHECK, name="severity"),
        CheckConstraint("state IN ('open', 'overdue', 'acknowledged', 'resolved')", name="state"),
        Index(None, "tenant_id", "raised_at", "id"),
        Index(None, "tenant_id", "client_id", "raised_at"),
        Index(None, "tenant_id", "contract_id", "raised_at"),
        Index(None, "tenant_id", "next_check_at", postgresql_where=text("next_check_at IS NOT NULL")),
    )

    contract_id: Mapped[uuid.UUID]
    client_id: Mapped[uuid.UUID]
    work_item_id: Mapped[uuid.UUID | None]
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    reason: Mapped[str] = mapped_column(String(2000))
    recommended_action: Mapped[str] = mapped_column(String(2000))
    link: Mapped[str | None] = mapped_column(String(2000))
    raised_at: Mapped[datetime]
    raised_by: Mapped[uuid.UUID | None]
    raised_by_name: Mapped[str] = mapped_column(String(254), server_default="")
    # The rule's target when it was raised: a later change of the rule moves no deadline.
    acknowledge_within_minutes: Mapped[int]
    acknowledge_due_at: Mapped[datetime]
    # Notices sent to the client so far, and when the sweep looks at it next (null once settled).
    notices: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    next_check_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None]
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(254))
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None]
    resolved_by_name: Mapped[str | None] = mapped_column(String(254))
    resolution_note: Mapped[str | None] = mapped_column(String(2000))


class EscalationEvent(Base, TenantMixin):
    """One step of an escalation's timeline: raised, notified, overdue, acknowledged, resolved."""

    __tablename__ = "escalation_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "escalation_id"], ["escalations.tenant_id", "escalations.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "escalation_id", "at"),
    )

    escalation_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(254), server_default="")
    detail: Mapped[str] = mapped_column(String(2000), server_default="")


class EscalationLink(Base, TenantMixin):
    """A mailed one-click acknowledgement link: single use, expiring, only its token's hash kept."""

    __tablename__ = "escalation_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "escalation_id"], ["escalations.tenant_id", "escalations.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "escalation_id"),
    )

    escalation_id: Mapped[uuid.UUID]
    recipient: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
