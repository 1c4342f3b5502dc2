"""Users: creating and changing them, the rules their identity keeps (one spelling and no look-alikes
per e-mail address, one login per staff profile, an active admin in every tenant), lockout lifts, and
the platform restoring a tenant's admin. A change that ends a user's tokens ends them at once
(``core.identity``)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Collection, Mapping
from typing import Any, Protocol, cast, runtime_checkable

from msgspec import UNSET
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import audit, identity
from bpo.core.db import SET_TENANT, Compiled, TenantReads
from bpo.core.errors import Conflict, Invalid, NotFound, field_error
from bpo.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.tenancy import lockout, schemas
from bpo.tenancy.credentials import hash_password, password_problems
from bpo.tenancy.emails import email_problem, email_skeleton, normalize_email
from bpo.tenancy.models import RefreshToken, Tenant, User


def user_view(user: User) -> schemas.User:
    return user_view_of({column: getattr(user, column) for column in USER_VIEW_COLUMNS})


# The columns a user's view is made of (``user_view``, ``user_view_of``).
USER_VIEW_COLUMNS = (
    "id",
    "email",
    "full_name",
    "role",
    "client_id",
    "staff_id",
    "is_active",
    "created_at",
    "last_login_at",
    "language",
)


def user_view_of(row: Mapping[str, Any]) -> schemas.User:
    """The view of a user from a row holding ``USER_VIEW_COLUMNS`` (a hot read), without an ORM object."""
    return schemas.User(
        id=row["id"],
        email=row["email"],
        full_name=row["full_name"],
        role=Role(row["role"]),
        client_id=row["client_id"],
        staff_id=row["staff_id"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        language=cast("Language | None", row["language"]),
    )


def whoami(scope: Scope) -> schemas.WhoAmI:
    return schemas.WhoAmI(
        tenant_id=scope.tenant_id,
        principal_id=scope.principal_id,
        kind="api_key" if scope.is_machine else "user",
        role=scope.role,
        client_id=scope.client_id,
        contract_id=scope.contract_id,
        staff_id=scope.staff_id,
    )


async def me(session: AsyncSession, scope: Scope) -> schemas.Me:
    user = await _get_user(session, scope, scope.principal_id)
    tenant = await session.get_one(Tenant, scope.tenant_id)
    language = cast("Language", user.language or tenant.default_language)
    return schemas.Me(tenant=tenant.slug, tenant_name=tenant.name, user=user_view(user), language=language)


# The caller's user row with their tenant's slug, name and default language: compiled once (a hot read).
_ME = Compiled(
    select(
        *[User.__table__.c[column] for column in USER_VIEW_COLUMNS],
        Tenant.slug.label("tenant_slug"),
        Tenant.name.label("tenant_name"),
        Tenant.default_language.label("tenant_language"),
    )
    .join(Tenant, Tenant.id == User.tenant_id)
    .where(User.tenant_id == bindparam("tenant_id"), User.id == bindparam("user_id"))
)


async def read_me(reads: TenantReads, scope: Scope) -> schemas.Me:
    """What ``me`` answers, in one hot read."""
    row = await reads.one(_ME, tenant_id=scope.tenant_id, user_id=scope.principal_id)
    if row is None:
        raise NotFound(f"User {scope.principal_id} not found.")
    language = cast("Language", row["language"] or row["tenant_language"])
    return schemas.Me(
        tenant=row["tenant_slug"], tenant_name=row["tenant_name"], user=user_view_of(row), language=language
    )


async def update_me(session: AsyncSession, scope: Scope, data: schemas.MeUpdate) -> schemas.Me:
    user = await _get_user(session, scope, scope.principal_id)
    if data.language is not UNSET and data.language != user.language:
        user.language = data.language
        audit.append(
            session,
            tenant_id=scope.tenant_id,
            actor_id=scope.user_id,
            action="user.updated",
            object_type="user",
            object_id=user.id,
            fields=["language"],
        )
        await session.flush()
    return await me(session, scope)


async def reading_language(session: AsyncSession, scope: Scope) -> Language:
    """The language the caller reads: the user's own, or else the tenant's default (API keys too)."""
    tenant_default = select(Tenant.default_language).where(Tenant.id == scope.tenant_id).scalar_subquery()
    if scope.user_id is None:
        language = await session.scalar(select(tenant_default))
    else:
        language = await session.scalar(
            select(func.coalesce(User.language, tenant_default)).where(
                User.tenant_id == scope.tenant_id, User.id == scope.user_id
            )
        )
    return cast("Language", language) if language in LANGUAGES else DEFAULT_LANGUAGE


def _check_role_binding(role: Role, client_id: uuid.UUID | None) -> None:
    if role is Role.API_CLIENT:
        raise Invalid("role: api_client is for API keys", errors=[field_error("role", "not a user role")])
    if role is Role.CLIENT_VIEWER and client_id is None:
        raise Invalid(
            "client_id: a client_viewer must be bound to a client",
            errors=[field_error("client_id", "required for role client_viewer")],
        )
    if role is not Role.CLIENT_VIEWER and client_id is not None:
        raise Invalid(
            "client_id: only a client_viewer is bound to a client",
            errors=[field_error("client_id", "must be null unless role is client_viewer")],
        )


async def _check_password(session: AsyncSession, tenant_id: uuid.UUID, email: str, password: str) -> None:
    tenant = await session.get_one(Tenant, tenant_id)
    problems = password_problems(password, (email, tenant.slug))
    if problems:
        raise Invalid(
            "password: " + "; ".join(problems), errors=[field_error("password", p) for p in problems]
        )


# Runtime-checkable: the app provides it as a dependency, whose value Litestar checks against the type.
@runtime_checkable
class ClientBindingCheck(Protocol):
    """Raises ``Invalid`` unless the client (and the contract, if given) exist in the tenant and belong
    together. Clients live a floor above: the caller passes their check in (the API through the app's
    ``client_binding`` dependency, orchestrators and other contexts with ``clients.service``'s)."""

    async def __call__(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        client_id: uuid.UUID,
        contract_id: uuid.UUID | None = None,
    ) -> None: ...


@runtime_checkable
class StaffBindingCheck(Protocol):
    """Raises ``Invalid`` unless the staff profile exists in the tenant, and ``Conflict`` when the profile
    is linked to a login other than ``user_id``. Staff live floors above: the caller passes their check in
    (the API through the app's ``staff_binding`` dependency, the staff context its own)."""

    async def __call__(
        self, session: AsyncSession, tenant_id: uuid.UUID, staff_id: uuid.UUID, user_id: uuid.UUID
    ) -> None: ...


def _email(value: str) -> str:
    """``value`` in its one spelling (``tenancy.emails``); 422 when that spelling is no single address."""
    email = normalize_email(value)
    problem = email_problem(email)
    if problem is not None:
        raise Invalid(f"email: {problem}", errors=[field_error("email", problem)])
    return email


def _duplicate_email(email: str) -> Conflict:
    return Conflict(
        f"A user with email {email} already exists.",
        slug="duplicate-email",
        errors=[field_error("email", "already in use")],
    )


async def _email_skeleton_free(session: AsyncSession, tenant_id: uuid.UUID, email: str) -> str:
    """The skeleton of ``email``, refused (409) when a user of the tenant has that address or one that
    looks like it."""
    skeleton = email_skeleton(email)
    # Two look-alike addresses created at once: the second waits for the first to commit, then sees it.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"users.email_skeleton:{tenant_id}:{skeleton}"},
    )
    existing = await session.scalar(
        select(User.email).where(User.tenant_id == tenant_id, User.email_skeleton == skeleton).limit(1)
    )
    if existing == email:
        raise _duplicate_email(email)
    if existing is not None:
        raise Conflict(
            f"{email} looks like the address of another user of the tenant.",
            slug="confusable-email",
            errors=[field_error("email", "looks like an address already in use")],
        )
    return skeleton


async def _check_staff_binding(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    staff_id: uuid.UUID,
    user_id: uuid.UUID,
    check_staff: StaffBindingCheck | None,
) -> None:
    if check_staff is None:
        raise TypeError("linking a login to a staff profile needs the staff context's check_staff")
    await check_staff(session, tenant_id, staff_id, user_id)


async def _flush_user(session: AsyncSession, user: User) -> None:
    """Flush, answering the unique keys' violations (look-alike creations are caught before, under a lock;
    these are races) as the checks before them would."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "uq_users_tenant_id_staff_id" in str(exc.orig):
            raise Conflict(
                "That staff profile is linked to another user.",
                slug="staff-already-linked",
                errors=[field_error("staff_id", "linked to another user")],
            ) from None
        if "uq_users_tenant_id_email" in str(exc.orig):
            raise _duplicate_email(user.email) from None
        raise


async def create_user(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    data: schemas.UserCreate,
    check_binding: ClientBindingCheck,
    *,
    check_staff: StaffBindingCheck | None = None,
    must_change_password: bool = False,
) -> User:
    """``must_change_password`` for a one-time password: the user must replace it before anything else."""
    email = _email(data.email)
    _check_role_binding(data.role, data.client_id)
    await _check_password(session, tenant_id, email, data.password)
    if data.client_id is not None:
        await check_binding(session, tenant_id, data.client_id)
    user_id = new_id()
    if data.staff_id is not None:
        await _check_staff_binding(session, tenant_id, data.staff_id, user_id, check_staff)
    skeleton = await _email_skeleton_free(session, tenant_id, email)
    user = User(
        tenant_id=tenant_id,
        id=user_id,
        email=email,
        email_skeleton=skeleton,
        full_name=data.full_name,
        role=data.role.value,
        password_hash=await asyncio.to_thread(hash_password, data.password),
        client_id=data.client_id,
        staff_id=data.staff_id,
        is_active=True,
        token_version=0,
        language=data.language,
        must_change_password=must_change_password,
    )
    session.add(user)
    await _flush_user(session, user)
    await session.refresh(user)
    audit.append(
        session,
        tenant_id=tenant_id,
        actor_id=actor_id,
        action="user.created",
        object_type="user",
        object_id=user.id,
        role=user.role,
    )
    return user


async def _get_user(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.tenant_id == scope.tenant_id, User.id == user_id))
    if user is None:
        raise NotFound(f"User {user_id} not found.")
    return user


async def get_user(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> schemas.User:
    return user_view(await _get_user(session, scope, user_id))


async def list_users(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None, role: Role | None
) -> schemas.UserPage:
    statement = select(User).where(User.tenant_id == scope.tenant_id)
    if role is not None:
        statement = statement.where(User.role == role.value)
    rows, next_cursor = await paginate(session, statement, User.id, limit=limit, cursor=cursor)
    return schemas.UserPage(items=[user_view(u) for u in rows], next_cursor=next_cursor)


async def _keep_an_admin(session: AsyncSession, user: User, role: Role, active: bool) -> None:
    """Refuse (409) to demote or deactivate the tenant's last active admin: nobody could manage its users
    any more (the platform can restore one: ``restore_admin``)."""
    if user.role != Role.ADMIN.value or not user.is_active or (role is Role.ADMIN and active):
        return
    # Locked: two admins demoting each other at once must not both succeed. The second one waits, and
    # then no longer counts the first among the admins.
    admins = await session.scalars(
        select(User.id)
        .where(User.tenant_id == user.tenant_id, User.role == Role.ADMIN.value, User.is_active)
        .order_by(User.id)
        .with_for_update()
    )
    if all(admin_id == user.id for admin_id in admins):
        field = "is_active" if not active else "role"
        raise Conflict(
            "This is the tenant's last active admin: make another user an admin first.",
            slug="last-admin",
            errors=[field_error(field, "the tenant's last active admin stays an active admin")],
        )


async def update_user(
    session: AsyncSession,
    scope: Scope,
    user_id: uuid.UUID,
    data: schemas.UserUpdate,
    check_binding: ClientBindingCheck,
    *,
    check_staff: StaffBindingCheck | None = None,
) -> schemas.User:
    user = await _get_user(session, scope, user_id)
    changed: list[str] = []
    role = Role(user.role) if data.role is UNSET else data.role
    client_id = user.client_id if data.client_id is UNSET else data.client_id
    active = user.is_active if data.is_active is UNSET else data.is_active
    _check_role_binding(role, client_id)
    if client_id is not None and client_id != user.client_id:
        await check_binding(session, scope.tenant_id, client_id)
    if isinstance(data.staff_id, uuid.UUID) and data.staff_id != user.staff_id:
        await _check_staff_binding(session, scope.tenant_id, data.staff_id, user.id, check_staff)
    if user.id == scope.principal_id and user.is_active and not active:
        raise Conflict("You cannot deactivate yourself.", slug="self-deactivation")
    await _keep_an_admin(session, user, role, active)
    if role.value != user.role:
        user.role = role.value
        changed.append("role")
    if client_id != user.client_id:
        user.client_id = client_id
        changed.append("client_id")
    if data.full_name is not UNSET and data.full_name != user.full_name:
        user.full_name = data.full_name
        changed.append("full_name")
    if data.staff_id is not UNSET and data.staff_id != user.staff_id:
        user.staff_id = data.staff_id
        changed.append("staff_id")
    if data.language is not UNSET and data.language != user.language:
        user.language = data.language
        changed.append("language")
    revoke_sessions = False
    if data.password is not UNSET:
        await _check_password(session, scope.tenant_id, user.email, data.password)
        user.password_hash = await asyncio.to_thread(hash_password, data.password)
        changed.append("password")
        revoke_sessions = True
    if active != user.is_active:
        user.is_active = active
        changed.append("is_active")
        revoke_sessions = revoke_sessions or not active
    if "role" in changed or "client_id" in changed:
        revoke_sessions = True
    if revoke_sessions:
        user.token_version += 1
        await revoke_refresh_tokens(session, user.tenant_id, user.id)
    if revoke_sessions or "is_active" in changed:
        # Access tokens of the old version stop within seconds, in every process.
        identity.changed(session, user.tenant_id, user.id)
    if changed:
        audit.append(
            session,
            tenant_id=scope.tenant_id,
            actor_id=scope.user_id,
            action="user.updated",
            object_type="user",
            object_id=user.id,
            fields=changed,
        )
    await _flush_user(session, user)
    await session.refresh(user)
    return user_view(user)


async def unlink_staff(session: AsyncSession, scope: Scope, staff_id: uuid.UUID) -> None:
    """Unlink the logins naming a staff profile that is gone."""
    linked = await session.scalars(
        select(User.id).where(User.tenant_id == scope.tenant_id, User.staff_id == staff_id)
    )
    for user_id in linked.all():
        await update_user(session, scope, user_id, schemas.UserUpdate(staff_id=None), binds_no_client)


async def deactivate_user(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> None:
    await update_user(session, scope, user_id, schemas.UserUpdate(is_active=False), binds_no_client)


async def unlock_user(
    runtime: Runtime, session: AsyncSession, scope: Scope, user_id: uuid.UUID
) -> schemas.User:
    """Lift a lockout before it runs out: forget the failed attempts and end the account's attempt-rate
    window, so that the person can sign in at once."""
    user = await _get_user(session, scope, user_id)
    tenant = await session.get_one(Tenant, scope.tenant_id)
    await lockout.clear(runtime, tenant.slug, user.email)
    audit.append(
        session,
        tenant_id=scope.tenant_id,
        actor_id=scope.user_id,
        action="user.unlocked",
        object_type="user",
        object_id=user.id,
    )
    return user_view(user)


async def restore_admin(runtime: Runtime, data: schemas.AdminRestore) -> schemas.AdminRestored:
    """Give a tenant an active admin again, for the platform's operator (the command line): when every
    admin is demoted, deactivated, locked out or has lost their password. The user with the address
    becomes an active admin bound to no client, and is unlocked; a user is created when there is none."""
    email = _email(data.email)
    generated = None
    async with runtime.db.platform() as session:
        tenant = await session.scalar(
            select(Tenant).where(Tenant.slug == data.slug, Tenant.status == "active")
        )
        if tenant is None:
            raise NotFound(f"Tenant {data.slug!r} not found.")
        await session.execute(SET_TENANT, {"tenant_id": str(tenant.id)})
        user = await session.scalar(
            select(User).where(User.tenant_id == tenant.id, User.email == email).with_for_update()
        )
        created = user is None
        if user is None:
            if data.password is None:
                generated = secrets.token_urlsafe(18)
            user = await create_user(
                session,
                tenant.id,
                None,
                schemas.UserCreate(
                    email=email,
                    role=Role.ADMIN,
                    password=data.password or generated or "",
                    full_name="Administrator",
                ),
                binds_no_client,
            )
            changed = []
        else:
            if data.password is None and data.reset_password:
                generated = secrets.token_urlsafe(18)
            changed = await _make_active_admin(session, user, data.password or generated)
        audit.append(
            session,
            tenant_id=tenant.id,
            actor_id=None,
            action="user.admin_restored",
            object_type="user",
            object_id=user.id,
            created=created,
            fields=changed,
        )
        view = user_view(user)
    await lockout.clear(runtime, tenant.slug, email)
    return schemas.AdminRestored(tenant=tenant.slug, admin=view, created=created, password=generated)


async def _make_active_admin(session: AsyncSession, user: User, password: str | None) -> list[str]:
    changed = []
    if user.role != Role.ADMIN.value:
        user.role = Role.ADMIN.value
        changed.append("role")
    if user.client_id is not None:
        user.client_id = None
        changed.append("client_id")
    if not user.is_active:
        user.is_active = True
        changed.append("is_active")
    if password is not None:
        await _check_password(session, user.tenant_id, user.email, password)
        user.password_hash = await asyncio.to_thread(hash_password, password)
        changed.append("password")
    if {"role", "client_id", "password"} & set(changed):
        user.token_version += 1
        await revoke_refresh_tokens(session, user.tenant_id, user.id)
    if changed:
        identity.changed(session, user.tenant_id, user.id)
    await session.flush()
    await session.refresh(user)
    return changed


async def binds_no_client(
    session: AsyncSession, tenant_id: uuid.UUID, client_id: uuid.UUID, contract_id: uuid.UUID | None = None
) -> None:
    """For changes that bind no user to a client (a new tenant's admin, a deactivation, an unlink from a
    staff profile): never reached, and refuses if it were."""
    raise Invalid(
        f"client_id: client {client_id} not found", errors=[field_error("client_id", "no such client")]
    )


async def revoke_refresh_tokens(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """End the user's refresh tokens: every session signed in before a change of who the user is."""
    await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.tenant_id == tenant_id,
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )


async def client_viewer_emails(session: AsyncSession, scope: Scope, client_id: uuid.UUID) -> list[str]:
    """The addresses of the active users who may see ``client_id``'s dashboards, sorted."""
    found = await session.scalars(
        select(User.email)
        .where(
            User.tenant_id == scope.tenant_id,
            User.role == Role.CLIENT_VIEWER.value,
            User.client_id == client_id,
            User.is_active.is_(True),
        )
        .order_by(User.email)
    )
    return list(found)


async def named_users(
    session: AsyncSession,
    scope: Scope,
    *,
    ids: Collection[uuid.UUID] | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> dict[uuid.UUID, str]:
    """The tenant's users (only ``ids``, of ``role``, active or not, as asked) by id, each with the name
    people read: the full name, or the address when there is none. Sorted by that name."""
    statement = select(User.id, User.full_name, User.email).where(User.tenant_id == scope.tenant_id)
    if ids is not None:
        statement = statement.where(User.id.in_(list(ids)))
    if role is not None:
        statement = statement.where(User.role == role.value)
    if active is not None:
        statement = statement.where(User.is_active.is_(active))
    found = [(user_id, full_name or email) for user_id, full_name, email in await session.execute(statement)]
    return dict(sorted(found, key=lambda pair: pair[1].casefold()))
