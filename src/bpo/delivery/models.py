"""Outbound webhooks (endpoints, the events raised for them, each delivery attempt) and outgoing mail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin


class WebhookEndpoint(Base, TenantMixin):
    """A receiver of the tenant's events, optionally only those about one client."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),)

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), server_default="")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    client_id: Mapped[uuid.UUID | None]
    enabled: Mapped[bool] = mapped_column(server_default="true")
    # Kept readable (not hashed): every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation, still signing alongside the new one until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class WebhookEvent(Base, TenantMixin):
    """Something that happened, as sent to every endpoint subscribed to it (same id, same body)."""

    __tablename__ = "webhook_events"

    type: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime]


class WebhookDelivery(Base, TenantMixin):
    """One event to one endpoint: its attempts so far and when the next one is due."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "endpoint_id", "event_id"),
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "event_id"], ["webhook_events.tenant_id", "webhook_events.id"]),
        Index(
            "ix_webhook_deliveries_due",
            "tenant_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(None, "tenant_id", "endpoint_id", "id"),
    )

    endpoint_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime | None]
    # When a job for the due attempt was last enqueued; the sweep re-enqueues only if that job got lost.
    enqueued_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_response_ms: Mapped[int | None]
    succeeded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Message(Base, TenantMixin):
    """One mail to one recipient about one object (and period), and its delivery so far."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "subject_type", "subject_id", "period", "recipient"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index("ix_messages_due", "tenant_id", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    kind: Mapped[str] = mapped_column(String(64))
    # What the mail is about (an invoice, a report, a user) and for which period ("" when none).
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID]
    period: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime | None]
    # When a job for the due attempt was last enqueued; the sweep re-enqueues only if that job got lost.
    enqueued_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MessageAttachment(Base, TenantMixin):
    """A file sent with a message, kept so that a retry sends the same bytes."""

    __tablename__ = "message_attachments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id", "position"),
        ForeignKeyConstraint(
            ["tenant_id", "message_id"], ["messages.tenant_id", "messages.id"], ondelete="CASCADE"
        ),
    )

    message_id: Mapped[uuid.UUID]
    position: Mapped[int]
    filename: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(127))
    content: Mapped[bytes] = mapped_column(LargeBinary)
