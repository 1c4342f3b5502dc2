"""Notifications to staff and supervisors: each person's preferences, the batches their notices went out
in (with the delivery of the batch's webhook), and the tenant's settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin, Timestamps


class NotificationPreference(Base, TenantMixin, Timestamps):
    """What one person wants to hear and how; a person without a row hears every kind by mail."""

    __tablename__ = "notification_preferences"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
    )

    user_id: Mapped[uuid.UUID]
    # The kinds (schemas.NoticeKind) not mailed.
    mail_off: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    # The person's own chat bridge: every batch is posted there, signed with the secret, while enabled.
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_enabled: Mapped[bool] = mapped_column(server_default="false")
    webhook_secret: Mapped[str | None] = mapped_column(String(100))


class NoticeBatch(Base, TenantMixin):
    """The notices one person was told at once: the mail (in the delivery log) and the webhook's delivery,
    whose ``status`` is ``none`` when the person has no webhook."""

    __tablename__ = "notice_batches"
    __table_args__ = (
        CheckConstraint("status IN ('none', 'pending', 'succeeded', 'failed')", name="status"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index(
            "ix_notice_batches_due",
            "tenant_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(None, "tenant_id", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID]
    notices: Mapped[int]
    # The mail in the delivery log (``GET /v1/messages/{id}``); null when nothing was mailed.
    message_id: Mapped[uuid.UUID | None]
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime | None]
    # When a job for the due attempt was last enqueued; the sweep re-enqueues only if that job got lost.
    enqueued_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    succeeded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class NotificationSettings(Base):
    """A tenant's notification settings; a tenant without a row uses the defaults."""

    __tablename__ = "notification_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    late_after_minutes: Mapped[int] = mapped_column(server_default="10")
    updated_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
