"""Authentication (credential -> Scope) and role guards."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import jwt
from litestar.connection import ASGIConnection
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import Uuid, bindparam, func, select, update

from bpo.core.db import Compiled, TenantReads
from bpo.core.errors import Forbidden, NotFound, Unauthorized
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope, system_scope
from bpo.tenancy.credentials import API_KEY_PREFIX, digests_match, parse_secret
from bpo.tenancy.models import ApiKey, Tenant, User, select_active_user

BEARER = "bearer "
# What a user who still has a one-time password may do with their tokens: see who they are and change it.
PASSWORD_CHANGE_ROUTES = frozenset({("GET", "/v1/me"), ("GET", "/v1/whoami"), ("PUT", "/v1/me/password")})
PASSWORD_CHANGE_REQUIRED = (
    "This account still has its one-time password: change it first with PUT /v1/me/password "
    "(or sign in to the dashboard), then log in again."
)
# last_used_at is refreshed at most this often, so busy keys do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _www_authenticate(error: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="bpo", error="{error}"'}


async def authenticate(runtime: Runtime, authorization: str | None, api_key: str | None) -> Scope:
    """The one function that turns a credential into a ``Scope``. The tenant always comes from it. An access
    token holds only while its user's token version is still the one it carries (``core.identity``); an
    API key is looked up on every use, so a revoked one stops at once."""
    credential = None
    if authorization:
        if not authorization.lower().startswith(BEARER):
            raise Unauthorized(
                "Use 'Authorization: Bearer <token>'.", headers=_www_authenticate("invalid_request")
            )
        credential = authorization[len(BEARER) :].strip()
    elif api_key:
        credential = api_key.strip()
    if not credential:
        raise Unauthorized(
            "Missing credentials: send 'Authorization: Bearer <token>'.",
            headers=_www_authenticate("invalid_request"),
        )
    if credential.startswith(API_KEY_PREFIX):
        return await _api_key_scope(runtime, credential)
    try:
        claims = runtime.tokens.verify(credential)
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "The access token has expired; refresh it or log in again.",
            slug="token-expired",
            headers=_www_authenticate("invalid_token"),
        ) from None
    except jwt.InvalidTokenError:
        raise Unauthorized(
            "The access token is invalid.", slug="invalid-token", headers=_www_authenticate("invalid_token")
        ) from None

    async def load() -> int | None:
        return await _token_version(runtime, claims.tenant_id, claims.user_id)

    current = await runtime.token_versions.current(
        claims.tenant_id, claims.user_id, load, claims.token_version
    )
    if current != claims.token_version:
        raise Unauthorized(
            "The access token no longer holds: the account was changed or deactivated. Log in again.",
            slug="token-revoked",
            headers=_www_authenticate("invalid_token"),
        )
    return Scope(
        tenant_id=claims.tenant_id,
        principal_id=claims.user_id,
        role=claims.role,
        client_id=claims.client_id,
        staff_id=claims.staff_id,
        must_change_password=claims.must_change_password,
    )


_TOKEN_VERSION = Compiled(
    select_active_user(
        bindparam("tenant_id", type_=Uuid()), bindparam("user_id", type_=Uuid()), User.token_version
    )
)


async def _token_version(runtime: Runtime, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int | None:
    """The user's token version, or None when the user or their tenant no longer exists or is inactive: a
    hot read, as each process reads it again for every user at least once a minute."""
    row = await TenantReads(runtime.db, tenant_id).one(_TOKEN_VERSION, tenant_id=tenant_id, user_id=user_id)
    return None if row is None else int(row[0])


async def _api_key_scope(runtime: Runtime, value: str) -> Scope:
    invalid = Unauthorized(
        "The API key is invalid or revoked.",
        slug="invalid-api-key",
        headers=_www_authenticate("invalid_token"),
    )
    parsed = parse_secret(value, API_KEY_PREFIX)
    if parsed is None:
        raise invalid
    async with runtime.db.tenant(parsed.tenant_id) as session:
        key = await session.scalar(
            select(ApiKey).where(
                ApiKey.tenant_id == parsed.tenant_id,
                ApiKey.prefix == parsed.lookup,
                ApiKey.revoked_at.is_(None),
            )
        )
        if key is None or not digests_match(key.secret_hash, parsed.digest):
            raise invalid
        await session.execute(
            update(ApiKey)
            .where(
                ApiKey.tenant_id == key.tenant_id,
                ApiKey.id == key.id,
                (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < func.now() - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=func.now())
        )
    return Scope(
        tenant_id=key.tenant_id,
        principal_id=key.id,
        role=Role.API_CLIENT,
        client_id=key.client_id,
        contract_id=key.contract_id,
    )


async def operator_scope(runtime: Runtime, slug: str) -> Scope:
    """The command line acts as the tenant's administrator: whoever runs it already holds the
    database credentials, so there is no login to check. Never reachable over HTTP."""
    return system_scope(await tenant_id_for(runtime, slug))


async def tenant_id_for(runtime: Runtime, slug: str) -> uuid.UUID:
    async with runtime.db.platform() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound(f"Tenant {slug!r} not found.")
    return tenant_id


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        runtime: Runtime = connection.app.state.runtime
        scope = await authenticate(
            runtime, connection.headers.get("authorization"), connection.headers.get("x-api-key")
        )
        if scope.must_change_password:
            route = (connection.scope.get("method", "GET"), connection.scope["path"].rstrip("/"))
            if route not in PASSWORD_CHANGE_ROUTES:
                raise Forbidden(PASSWORD_CHANGE_REQUIRED, slug="password-change-required")
        return AuthenticationResult(user=scope, auth=scope)
