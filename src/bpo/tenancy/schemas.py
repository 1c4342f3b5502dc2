from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from bpo.core.i18n import Language
from bpo.core.scope import Role

# (?!\n) before $: Python's $ also matches before a final newline, which none of these may end with.
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+(?!\n)$")
]
Slug = Annotated[
    str, msgspec.Meta(min_length=2, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?!\n)$")
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies: unknown fields are an error, not silently dropped."""


class TokenRequest(Strict):
    tenant: Slug
    email: Email
    password: Password


class RefreshRequest(Strict):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class CredentialHolder(msgspec.Struct, frozen=True, kw_only=True):
    """Whose login a credential came from, at which token version: the dashboard's browser session keeps
    this instead of a refresh token, and gets access tokens only while the version still matches."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    token_version: int


class UserCreate(Strict):
    email: Email
    role: Role
    password: Password
    full_name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    client_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    # Null: the tenant's default language.
    language: Language | None = None


class UserUpdate(Strict):
    full_name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    client_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    staff_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    language: Language | msgspec.UnsetType | None = msgspec.UNSET


class MeUpdate(Strict):
    """What users change about themselves: the language they read (null: the tenant's default)."""

    language: Language | msgspec.UnsetType | None = msgspec.UNSET


class User(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    client_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    # The user's own choice; null follows the tenant's default_language.
    language: Language | None


class UserPage(msgspec.Struct, kw_only=True):
    items: list[User]
    next_cursor: str | None


class Me(msgspec.Struct, kw_only=True):
    tenant: str
    tenant_name: str
    user: User
    # What the user reads: their own language, or else the tenant's default.
    language: Language


class WhoAmI(msgspec.Struct, kw_only=True):
    tenant_id: uuid.UUID
    principal_id: uuid.UUID
    kind: str
    role: Role
    client_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    staff_id: uuid.UUID | None


class ApiKeyCreate(Strict):
    name: KeyName
    client_id: uuid.UUID
    contract_id: uuid.UUID | None = None


class ApiKey(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    prefix: str
    client_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey, kw_only=True):
    # Shown once; only its hash is stored. Null when an Idempotency-Key replays the creation.
    key: str | None


class ApiKeyPage(msgspec.Struct, kw_only=True):
    items: list[ApiKey]
    next_cursor: str | None


class TenantSettings(msgspec.Struct, kw_only=True):
    slug: str
    name: str
    time_zone: str
    invoice_registration_number: str | None
    # What users who choose no language read.
    default_language: Language


class TenantSettingsUpdate(Strict):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    time_zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | msgspec.UnsetType = msgspec.UNSET
    # The qualified-invoice issuer registration number: T and 13 digits.
    invoice_registration_number: (
        Annotated[str, msgspec.Meta(min_length=14, max_length=14, pattern=r"^T\d{13}(?!\n)$")]
        | msgspec.UnsetType
        | None
    ) = msgspec.UNSET
    default_language: Language | msgspec.UnsetType = msgspec.UNSET


class TenantCreate(Strict):
    slug: Slug
    name: Name
    admin_email: Email
    admin_password: Password | None = None
    time_zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Asia/Tokyo"
    # Without one: Japanese for an operator in Japan's time zone, English elsewhere.
    default_language: Language | None = None


class Tenant(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    time_zone: str
    default_language: Language
    created_at: datetime


class TenantCreated(msgspec.Struct, kw_only=True):
    tenant: Tenant
    admin: User
    # Present only when the server generated the admin's password.
    admin_password: str | None = None


class AdminRestore(Strict):
    """The platform giving a tenant an admin again: the user with ``email`` (created when there is none)
    becomes an active admin, unlocked."""

    slug: Slug
    email: Email
    # A new password for the user; without one, a new user gets a generated one-time password, and an
    # existing user keeps theirs unless ``reset_password``.
    password: Password | None = None
    reset_password: bool = False


class AdminRestored(msgspec.Struct, kw_only=True):
    tenant: str
    admin: User
    created: bool
    # Present only when the server generated the password.
    password: str | None = None


class TenantPage(msgspec.Struct, kw_only=True):
    items: list[Tenant]
    next_cursor: str | None


class AuditEvent(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    at: datetime
    # The user who acted; null for the system (jobs, manifests applied from the command line) and API keys.
    actor_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: uuid.UUID | None
    detail: dict[str, Any]


class AuditEventPage(msgspec.Struct, kw_only=True):
    items: list[AuditEvent]
    next_cursor: str | None
