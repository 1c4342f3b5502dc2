"""Who is calling and what they may see. A request's ``Scope`` comes only from
``tenancy.auth.authenticate``; jobs and the command line act through ``system_scope`` and
``acting_admin_scope``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ACCOUNT_MANAGER = "account_manager"
    SUPERVISOR = "supervisor"
    STAFF = "staff"
    CLIENT_VIEWER = "client_viewer"
    # Machine callers (API keys); never a user's role.
    API_CLIENT = "api_client"


USER_ROLES = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.STAFF, Role.CLIENT_VIEWER)
OPERATOR_ROLES = frozenset({Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR})


@dataclass(frozen=True, slots=True)
class Scope:
    tenant_id: uuid.UUID
    principal_id: uuid.UUID
    role: Role
    # A client viewer or an API key sees one client (and an API key optionally one contract).
    client_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    # A user who signed in with a one-time password: only changing it is allowed until it is changed.
    must_change_password: bool = False

    @property
    def is_machine(self) -> bool:
        return self.role is Role.API_CLIENT

    @property
    def user_id(self) -> uuid.UUID | None:
        return None if self.is_machine else self.principal_id


def system_scope(tenant_id: uuid.UUID) -> Scope:
    """Background jobs act for the tenant as the system; their messages come from our own outbox."""
    return Scope(tenant_id=tenant_id, principal_id=uuid.UUID(int=0), role=Role.ADMIN)


def acting_admin_scope(tenant_id: uuid.UUID, admin_id: uuid.UUID) -> Scope:
    """The command line applying a manifest on behalf of one of the tenant's admins (named in audit)."""
    return Scope(tenant_id=tenant_id, principal_id=admin_id, role=Role.ADMIN)
