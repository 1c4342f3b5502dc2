from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin


class VoiceCategory(Base, TenantMixin):
    """One of a contract's voice categories, in the order people read them; a contract without any uses
    the default list."""

    __tablename__ = "voice_categories"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "key"),
        ForeignKeyConstraint(
            ["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"], ondelete="CASCADE"
        ),
    )

    contract_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(64))
    label_ja: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Voice(Base, TenantMixin):
    """A user's post or message quoted on a contract, alone or with the work item it came with (one per
    item)."""

    __tablename__ = "voices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "work_item_id"),
        CheckConstraint("sentiment IN ('positive', 'neutral', 'negative')", name="sentiment"),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "work_item_id"], ["work_items.tenant_id", "work_items.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "contract_id", "observed_at", "id"),
    )

    contract_id: Mapped[uuid.UUID]
    work_item_id: Mapped[uuid.UUID | None]
    text: Mapped[str] = mapped_column(String(4000))
    source_url: Mapped[str | None] = mapped_column(String(2048))
    channel: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(35))
    category: Mapped[str | None] = mapped_column(String(64))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    highlighted: Mapped[bool] = mapped_column(server_default="false")
    observed_at: Mapped[datetime]
    # Who entered it (a user; none for an API key) and who last curated it, by id (tenancy's users).
    created_by: Mapped[uuid.UUID | None]
    curated_by: Mapped[uuid.UUID | None]
    curated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
