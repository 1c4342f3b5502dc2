from __future__ import annotations

import hmac
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.core.errors import NotFound, Unauthorized
from bpo.core.guards import ADMINS, OPERATORS, SIGNED_IN, WRITERS, parse_uuid
from bpo.core.http import INSTANT, Caller, Cursor, Limit, Reads, Session
from bpo.core.idempotency import SECRET_FIELDS_OPT
from bpo.core.openapi import PROBLEMS_OPT
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.core.scope import Role
from bpo.tenancy import audit_log, passwords, schemas, service, users


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


# Clients' check that a client (and contract) exist and belong together, provided by the app.
ClientBinding = NamedDependency[users.ClientBindingCheck]
# Staffing's check that a staff profile exists and is free for a login, provided by the app.
StaffBinding = NamedDependency[users.StaffBindingCheck]


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]
    opt = {"exclude_from_auth": True}

    @post(
        "/token",
        status_code=HTTP_200_OK,
        summary="Log in with tenant, email and password",
        description=(
            "Too many attempts, or an account locked after repeated failures, answer 429 with "
            "Retry-After (type rate-limited or account-locked)."
        ),
        opt={PROBLEMS_OPT: (401, 429)},
    )
    async def token(
        self, request: Request[Any, Any, Any], data: JSONBody[schemas.TokenRequest]
    ) -> schemas.TokenResponse:
        runtime: Runtime = request.app.state.runtime
        return await service.login(runtime, data, _client_ip(request))

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        summary="Exchange a refresh token for new tokens",
        opt={PROBLEMS_OPT: (401,)},
    )
    async def refresh(
        self, request: Request[Any, Any, Any], data: JSONBody[schemas.RefreshRequest]
    ) -> schemas.TokenResponse:
        return await service.refresh(request.app.state.runtime, data)

    @post("/revoke", status_code=HTTP_204_NO_CONTENT, summary="Revoke a refresh token (log out)")
    async def revoke(self, request: Request[Any, Any, Any], data: JSONBody[schemas.RefreshRequest]) -> None:
        await service.revoke(request.app.state.runtime, data)


class MeController(Controller):
    path = "/v1/me"
    tags = ["auth"]

    @get("", guards=[SIGNED_IN], summary="The calling user and tenant")
    async def me(self, reads: Reads, caller: Caller) -> schemas.Me:
        return await users.read_me(reads, caller)

    @patch("", guards=[SIGNED_IN], summary="Change what the calling user chooses for themselves (language)")
    async def update_me(
        self, session: Session, caller: Caller, data: JSONBody[schemas.MeUpdate]
    ) -> schemas.Me:
        return await users.update_me(session, caller, data)


class WhoAmIController(Controller):
    path = "/v1/whoami"
    tags = ["auth"]

    @get("", summary="The calling credential: tenant, role and scope (users and API keys)")
    async def whoami(self, caller: Caller) -> schemas.WhoAmI:
        return users.whoami(caller)


class TenantController(Controller):
    path = "/v1/tenant"
    tags = ["tenant"]

    @get("", guards=[OPERATORS], summary="The operator's settings")
    async def get_settings(self, session: Session, caller: Caller) -> schemas.TenantSettings:
        return await service.tenant_settings(session, caller)

    @patch(
        "",
        guards=[ADMINS],
        summary="Change the operator's settings (name, time zone, registration number, default language)",
    )
    async def update_settings(
        self, session: Session, caller: Caller, data: JSONBody[schemas.TenantSettingsUpdate]
    ) -> schemas.TenantSettings:
        return await service.update_tenant_settings(session, caller, data)


class UserController(Controller):
    path = "/v1/users"
    tags = ["users"]

    @get("", guards=[OPERATORS], summary="List users")
    async def list_users(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        role: FromQuery[Role | None] = None,
    ) -> schemas.UserPage:
        return await users.list_users(session, caller, limit=limit, cursor=cursor, role=role)

    @post("", guards=[ADMINS], status_code=HTTP_201_CREATED, summary="Create a user")
    async def create_user(
        self,
        session: Session,
        caller: Caller,
        client_binding: ClientBinding,
        staff_binding: StaffBinding,
        data: JSONBody[schemas.UserCreate],
    ) -> schemas.User:
        user = await users.create_user(
            session, caller.tenant_id, caller.user_id, data, client_binding, check_staff=staff_binding
        )
        return users.user_view(user)

    @get("/{user_id:uuid}", guards=[OPERATORS], summary="Get a user")
    async def get_user(self, session: Session, caller: Caller, user_id: FromPath[uuid.UUID]) -> schemas.User:
        return await users.get_user(session, caller, user_id)

    @patch(
        "/{user_id:uuid}", guards=[ADMINS], summary="Change a user (role, name, password, active, language)"
    )
    async def update_user(
        self,
        session: Session,
        caller: Caller,
        client_binding: ClientBinding,
        staff_binding: StaffBinding,
        user_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.UserUpdate],
    ) -> schemas.User:
        return await users.update_user(
            session, caller, user_id, data, client_binding, check_staff=staff_binding
        )

    @delete("/{user_id:uuid}", guards=[ADMINS], status_code=HTTP_204_NO_CONTENT, summary="Deactivate a user")
    async def deactivate_user(self, session: Session, caller: Caller, user_id: FromPath[uuid.UUID]) -> None:
        await users.deactivate_user(session, caller, user_id)

    # Litestar routes a parameter only as a whole path segment: the custom method arrives as one string.
    @post(
        "/{user_id:str}",
        guards=[ADMINS],
        status_code=HTTP_200_OK,
        summary="{id}:unlock lifts the lockout that repeated failed logins put on an account",
    )
    async def user_action(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller, user_id: FromPath[str]
    ) -> schemas.User:
        identifier, _, verb = user_id.rpartition(":")
        if verb != "unlock":
            raise NotFound(f"No user action {verb!r}: use {{id}}:unlock.")
        return await users.unlock_user(
            request.app.state.runtime, session, caller, parse_uuid(identifier, "User")
        )


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["api keys"]

    @get("", guards=[WRITERS], summary="List API keys (secrets are never shown again)")
    async def list_keys(
        self, session: Session, caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
    ) -> schemas.ApiKeyPage:
        return await service.list_api_keys(session, caller, limit=limit, cursor=cursor)

    @post(
        "",
        guards=[WRITERS],
        status_code=HTTP_201_CREATED,
        summary="Create a client-scoped API key (the key is shown once)",
        opt={SECRET_FIELDS_OPT: ("key",)},
    )
    async def create_key(
        self,
        session: Session,
        caller: Caller,
        client_binding: ClientBinding,
        data: JSONBody[schemas.ApiKeyCreate],
    ) -> schemas.ApiKeyCreated:
        return await service.create_api_key(session, caller, data, client_binding)

    @delete(
        "/{api_key_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke an API key",
    )
    async def revoke_key(self, session: Session, caller: Caller, api_key_id: FromPath[uuid.UUID]) -> None:
        await service.revoke_api_key(session, caller, api_key_id)


class AuditEventController(Controller):
    path = "/v1/audit-events"
    tags = ["audit"]

    @get(
        "",
        guards=[ADMINS],
        summary="The audit log: who changed what, oldest first",
        description="Filter by object, by actor and by time: `from` inclusive, `to` exclusive, with offsets.",
    )
    async def list_events(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        object_type: Annotated[str | None, QueryParameter(max_length=64)] = None,
        object_id: FromQuery[uuid.UUID | None] = None,
        actor_id: FromQuery[uuid.UUID | None] = None,
        start: Annotated[str | None, QueryParameter(name="from", **INSTANT)] = None,
        end: Annotated[str | None, QueryParameter(name="to", **INSTANT)] = None,
    ) -> schemas.AuditEventPage:
        return await audit_log.list_events(
            session,
            caller,
            limit=limit,
            cursor=cursor,
            object_type=object_type,
            object_id=object_id,
            actor_id=actor_id,
            start=start,
            end=end,
        )


async def platform_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("method") == "OPTIONS":
        return
    runtime: Runtime = connection.app.state.runtime
    expected = runtime.settings.platform_token
    if expected is None:
        raise Unauthorized(
            "The platform API is disabled: BPO_PLATFORM_TOKEN is not set.", slug="platform-disabled"
        )
    header = connection.headers.get("authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("A valid platform token is required.", slug="invalid-token")


class PlatformController(Controller):
    path = "/v1/platform/tenants"
    tags = ["platform"]
    opt = {"exclude_from_auth": True}
    guards = [platform_guard]

    @post("", status_code=HTTP_201_CREATED, summary="Provision a tenant (operator) and its first admin")
    async def create_tenant(
        self, request: Request[Any, Any, Any], data: JSONBody[schemas.TenantCreate]
    ) -> schemas.TenantCreated:
        return await service.create_tenant(request.app.state.runtime, data)

    @get("", summary="List tenants")
    async def list_tenants(
        self, request: Request[Any, Any, Any], limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
    ) -> schemas.TenantPage:
        return await service.list_tenants(request.app.state.runtime, limit=limit, cursor=cursor)

    @get("/{slug:str}", summary="Get a tenant")
    async def get_tenant(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> schemas.Tenant:
        return await service.get_tenant(request.app.state.runtime, slug)


class MyPasswordController(Controller):
    path = "/v1/me/password"
    tags = ["auth"]

    @put(
        "",
        guards=[SIGNED_IN],
        status_code=HTTP_204_NO_CONTENT,
        summary="Change your own password (your current one first)",
        description=(
            "Every token and session of yours issued before ends (log in again with the new password). "
            "A user created with a one-time password gets `403 password-change-required` from every "
            "other operation but `GET /v1/me` and `GET /v1/whoami` until it is changed here."
        ),
    )
    async def change_my_password(
        self, session: Session, caller: Caller, data: JSONBody[schemas.PasswordChange]
    ) -> None:
        await passwords.change_password(session, caller, data)


ROUTES: list[ControllerRouterHandler] = [
    AuthController,
    MeController,
    MyPasswordController,
    WhoAmIController,
    TenantController,
    UserController,
    ApiKeyController,
    AuditEventController,
    PlatformController,
]
