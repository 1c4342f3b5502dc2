"""Who is calling and what they may see. Only ``tenancy.auth.authenticate`` produces a ``Scope``."""

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

    @property
    def is_machine(self) -> bool:
        return self.role is Role.API_CLIENT

    @property
    def user_id(self) -> uuid.UUID | None:
        return None if self.is_machine else self.principal_id
