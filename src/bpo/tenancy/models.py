from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Select,
    String,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import BindParameter

from bpo.core.orm import Base, TenantMixin, Timestamps, new_id


class Tenant(Base, Timestamps):
    """A BPO operator. A platform table: the one place without ``tenant_id``."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("default_language IN ('ja', 'en')", name="default_language"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="Asia/Tokyo")
    # The operator's qualified-invoice issuer registration number (T + 13 digits), shown on invoices.
    invoice_registration_number: Mapped[str | None] = mapped_column(String(14))
    # What its users read when they choose no language (core.i18n.LANGUAGES).
    default_language: Mapped[str] = mapped_column(String(2), server_default="ja")


class User(Base, TenantMixin, Timestamps):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("language IN ('ja', 'en')", name="language"),
        UniqueConstraint("tenant_id", "email"),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
        Index(None, "tenant_id", "email_skeleton"),
        # A staff profile has at most one login. No foreign key to staff: staff.user_id refers to users,
        # and tables referring to each other cannot be distributed (migrations/citus.py); the staff context
        # checks that the profile exists when a login is linked to it.
        Index(
            "uq_users_tenant_id_staff_id",
            "tenant_id",
            "staff_id",
            unique=True,
            postgresql_where=text("staff_id IS NOT NULL"),
        ),
    )

    # NFKC-normalised and case-folded (tenancy.emails), like every lookup by address.
    email: Mapped[str] = mapped_column(String(254))
    # What the address looks like (tenancy.emails.email_skeleton): one user per skeleton in a tenant.
    email_skeleton: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200), server_default="")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[uuid.UUID | None]
    staff_id: Mapped[uuid.UUID | None]
    is_active: Mapped[bool] = mapped_column(server_default="true")
    # Bumped when the user's tokens must stop working (password, role or client changed, deactivated):
    # access and refresh tokens carry the version they were issued at.
    token_version: Mapped[int] = mapped_column(server_default="0")
    last_login_at: Mapped[datetime | None]
    # The language pages and mail are in for this user; null follows the tenant's default.
    language: Mapped[str | None] = mapped_column(String(2))
    # A one-time password (printed by `bpo tenants apply`): nothing but changing it works until it is changed.
    must_change_password: Mapped[bool] = mapped_column(server_default="false")


class RefreshToken(Base, TenantMixin):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index(None, "tenant_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    token_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class PasswordReset(Base, TenantMixin):
    """A "forgot password" link: single use, short-lived; only the token's hash is kept."""

    __tablename__ = "password_resets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index(None, "tenant_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    # Set when the link is used, or when a newer link for the same user replaces it.
    used_at: Mapped[datetime | None]


class ApiKey(Base, TenantMixin):
    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "prefix"),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"]),
        ForeignKeyConstraint(["tenant_id", "contract_id"], ["contracts.tenant_id", "contracts.id"]),
    )

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[uuid.UUID | None]
    contract_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


def select_active_user(
    tenant_id: uuid.UUID | BindParameter[uuid.UUID],
    user_id: uuid.UUID | BindParameter[uuid.UUID],
    *columns: Any,
) -> Select[Any]:
    """The user (or ``columns`` of them) if they may still act: an active user of an active tenant. The
    ids may be bound parameters, for a statement compiled once."""
    return (
        select(*(columns or (User,)))
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.tenant_id == tenant_id, User.id == user_id, User.is_active, Tenant.status == "active")
    )
