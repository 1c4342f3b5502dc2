"""A user's own password: changing it (the current one first), replacing a one-time password at the first
sign-in, and "forgot password" links.

A reset link carries a single-use token (``pwr_<tenant hex>_<secret>``) that works for ``RESET_TTL``; only
its hash is stored, a newer link replaces the older ones, and using one (or changing the password) ends
the others. Asking for a link never says whether the address has an account, and an address gets at most
one link per ``RESET_INTERVAL``. Every new password bumps the user's token version: every session and token
issued before ends, as for an admin's change.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import audit, identity
from bpo.core.errors import FieldErrors, NotFound, field_error, raise_if
from bpo.core.i18n import DEFAULT_LANGUAGE, Language, is_language
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.tenancy import schemas, service, users
from bpo.tenancy.credentials import (
    hash_password,
    new_secret,
    parse_secret,
    password_problems,
    verify_password,
)
from bpo.tenancy.emails import normalize_email
from bpo.tenancy.models import PasswordReset, Tenant, User

RESET_PREFIX = "pwr_"
RESET_TTL = timedelta(minutes=30)
RESET_INTERVAL_SECONDS = 60


# --- changing one's own password ---------------------------------------------------------------


def _new_password_errors(password: str, current: str | None, user: User, tenant: Tenant) -> FieldErrors:
    errors = [
        field_error("new_password", problem)
        for problem in password_problems(password, (user.email, tenant.slug))
    ]
    if current is not None and password == current:
        errors.append(field_error("new_password", "must differ from the current password"))
    return errors


async def _set_password(session: AsyncSession, user: User, password: str, action: str) -> None:
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.must_change_password = False
    # Every session and token from before ends: whoever knew the old password is signed out.
    user.token_version += 1
    await users.revoke_refresh_tokens(session, user.tenant_id, user.id)
    await session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.tenant_id == user.tenant_id,
            PasswordReset.user_id == user.id,
            PasswordReset.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
    )
    identity.changed(session, user.tenant_id, user.id)
    audit.append(
        session,
        tenant_id=user.tenant_id,
        actor_id=user.id,
        action=action,
        object_type="user",
        object_id=user.id,
    )
    await session.flush()


async def change_password(
    session: AsyncSession, scope: Scope, data: schemas.PasswordChange
) -> schemas.CredentialHolder:
    """The caller's new password, once their current one is given; who holds the new token version."""
    user = await session.scalar(
        select(User).where(User.tenant_id == scope.tenant_id, User.id == scope.user_id).with_for_update()
    )
    if user is None:
        raise NotFound("No such user.")
    tenant = await session.get_one(Tenant, scope.tenant_id)
    errors = []
    if not await asyncio.to_thread(verify_password, user.password_hash, data.current_password):
        errors.append(field_error("current_password", "is not your current password"))
    errors += _new_password_errors(data.new_password, data.current_password, user, tenant)
    raise_if(errors, what="The password was not changed")
    await _set_password(session, user, data.new_password, "user.password_changed")
    return schemas.CredentialHolder(
        tenant_id=user.tenant_id, user_id=user.id, token_version=user.token_version
    )


async def access_token_after_change(
    runtime: Runtime, session: AsyncSession, holder: schemas.CredentialHolder
) -> str:
    """An access token at the new token version, from the transaction that changed the password (the
    browser session goes on with it)."""
    user = await session.get_one(User, (holder.tenant_id, holder.user_id))
    return service.access_token_for(runtime, user)


# --- forgot password ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResetLink:
    """A new link to mail: whom to, in which language, and the token (never stored)."""

    reset_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    language: Language
    tenant_name: str
    token: str
    expires_at: datetime


async def active_tenant_id(runtime: Runtime, slug: str) -> uuid.UUID | None:
    async with runtime.db.platform() as session:
        tenant_id: uuid.UUID | None = await session.scalar(
            select(Tenant.id).where(Tenant.slug == slug.strip().lower(), Tenant.status == "active")
        )
    return tenant_id


async def may_send_reset(runtime: Runtime, tenant_id: uuid.UUID, email: str) -> bool:
    """At most one link per address and ``RESET_INTERVAL_SECONDS``, whether or not the address has an
    account, so the answer and its timing tell nothing."""
    key = f"bpo:password-reset:{tenant_id}:{normalize_email(email)}"
    return bool(await runtime.redis.set(key, 1, ex=RESET_INTERVAL_SECONDS, nx=True))


async def create_reset(session: AsyncSession, tenant_id: uuid.UUID, email: str) -> ResetLink | None:
    """A new link for the tenant's active user with ``email`` (earlier ones stop working), or None when
    there is no such user."""
    user = await session.scalar(
        select(User)
        .where(User.tenant_id == tenant_id, User.email == normalize_email(email), User.is_active)
        .with_for_update()
    )
    if user is None:
        return None
    tenant = await session.get_one(Tenant, tenant_id)
    now = datetime.now(UTC)
    await session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.tenant_id == tenant_id,
            PasswordReset.user_id == user.id,
            PasswordReset.used_at.is_(None),
        )
        .values(used_at=now)
    )
    secret = new_secret(tenant_id)
    reset = PasswordReset(
        tenant_id=tenant_id, user_id=user.id, token_hash=secret.digest, expires_at=now + RESET_TTL
    )
    session.add(reset)
    await session.flush()
    audit.append(
        session,
        tenant_id=tenant_id,
        actor_id=None,
        action="user.password_reset_requested",
        object_type="user",
        object_id=user.id,
    )
    language = user.language or tenant.default_language
    return ResetLink(
        reset_id=reset.id,
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        language=language if is_language(language) else DEFAULT_LANGUAGE,
        tenant_name=tenant.name,
        token=secret.render(RESET_PREFIX),
        expires_at=reset.expires_at,
    )


def reset_tenant(token: str) -> uuid.UUID | None:
    """The tenant a reset token names, if it has a token's shape at all."""
    parsed = parse_secret(token, RESET_PREFIX)
    return None if parsed is None else parsed.tenant_id


async def _live_reset(
    session: AsyncSession, tenant_id: uuid.UUID, token: str, *, for_update: bool = False
) -> tuple[PasswordReset, User] | None:
    parsed = parse_secret(token, RESET_PREFIX)
    if parsed is None or parsed.tenant_id != tenant_id:
        return None
    statement = (
        select(PasswordReset, User)
        .join(User, (User.tenant_id == PasswordReset.tenant_id) & (User.id == PasswordReset.user_id))
        .where(
            PasswordReset.tenant_id == tenant_id,
            PasswordReset.token_hash == parsed.digest,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > datetime.now(UTC),
            User.is_active,
        )
    )
    found = (await session.execute(statement.with_for_update() if for_update else statement)).first()
    return None if found is None else (found[0], found[1])


async def reset_is_live(session: AsyncSession, tenant_id: uuid.UUID, token: str) -> bool:
    return await _live_reset(session, tenant_id, token) is not None


async def complete_reset(session: AsyncSession, tenant_id: uuid.UUID, token: str, password: str) -> bool:
    """Set the new password through a live link, which then stops working; False when the link is unknown,
    used or expired. A bad password is a 422 naming ``new_password``, and the link still works."""
    found = await _live_reset(session, tenant_id, token, for_update=True)
    if found is None:
        return False
    reset, user = found
    tenant = await session.get_one(Tenant, tenant_id)
    raise_if(_new_password_errors(password, None, user, tenant), what="The password was not changed")
    await _set_password(session, user, password, "user.password_reset")
    reset.used_at = datetime.now(UTC)
    await session.flush()
    return True
