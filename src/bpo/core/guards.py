"""Role guards for controllers, and reading the caller and path ids in them.

The role sets are named once here; a controller picks the set that says who may use it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from bpo.core.errors import Forbidden, NotFound
from bpo.core.scope import Role, Scope

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires(*roles: Role) -> Guard:
    """Guard: the caller has one of ``roles``."""
    allowed = frozenset(roles)

    # Async so Litestar calls it inline instead of handing it to a thread on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            # The automatic OPTIONS answer carries only the Allow header; authentication skips it too,
            # so there is no caller to check (a controller's guards also cover its OPTIONS handler).
            return
        scope = connection.scope.get("auth")
        if not isinstance(scope, Scope) or scope.role not in allowed:
            raise Forbidden("Your role may not use this operation.")

    guard.__name__ = "requires_" + "_".join(sorted(r.value for r in allowed))
    return guard


ADMINS = requires(Role.ADMIN)
# Who changes what the operator sells and runs: clients, contracts, keys, webhooks, invoices.
WRITERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER)
OPERATORS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR)
# Operators and the staff they schedule.
WORKFORCE = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.STAFF)
# Operators and a client's own viewers (scoped to their client by the services).
READERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.CLIENT_VIEWER)
# Operators and machine callers pushing a client's work items.
INGESTERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.API_CLIENT)
# READERS and machine callers.
CLIENT_READERS = requires(
    Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.CLIENT_VIEWER, Role.API_CLIENT
)
SIGNED_IN = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.STAFF, Role.CLIENT_VIEWER)


def scope_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Scope:
    scope = connection.auth
    assert isinstance(scope, Scope)
    return scope


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value!r} not found.") from None


def parse_reference(reference: str, what: str) -> tuple[uuid.UUID, str | None]:
    """``{id}`` or ``{id}:{action}`` (a custom method on a resource): the id and the action, if any; a
    reference that is no id is a 404 naming ``what``."""
    raw, _, action = reference.partition(":")
    try:
        return uuid.UUID(raw), action or None
    except ValueError:
        raise NotFound(f"{what} {reference} not found.") from None
