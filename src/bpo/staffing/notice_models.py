"""Notices to people about their shifts and requests, written by database triggers in the transaction of
the change (migration 0030) and, for lateness, by the sweep; gathered per person into one mail later."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from bpo.core.orm import Base, TenantMixin


class StaffNotice(Base, TenantMixin):
    """One thing one person (``user_id``) is to be told; ``batch_id`` is set once it went out in a batch."""

    __tablename__ = "staff_notices"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index(
            "ix_staff_notices_pending",
            "tenant_id",
            "user_id",
            "created_at",
            postgresql_where=text("batch_id IS NULL"),
        ),
        Index(
            "uq_staff_notices_once_key",
            "tenant_id",
            "once_key",
            unique=True,
            postgresql_where=text("once_key IS NOT NULL"),
        ),
        Index(None, "tenant_id", "batch_id"),
    )

    user_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    # Whom it is about: the person on the shift, the claimant, the one who is late.
    staff_id: Mapped[uuid.UUID | None]
    shift_id: Mapped[uuid.UUID | None]
    contract_id: Mapped[uuid.UUID | None]
    # The shift (or the time off) as it was when the notice was written.
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    # A changed shift as it was before; for a trade of shifts, the one given in return.
    previous_starts_at: Mapped[datetime | None]
    previous_ends_at: Mapped[datetime | None]
    # The swap request, time off or claim decided.
    subject_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), server_default="")
    # Set for a notice written at most once (lateness: per shift, person and supervisor).
    once_key: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
