"""Request and response types of open shifts (published shifts still short of people) and the claims
staff make on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from bpo.clients.schemas import OpenShiftApproval
from bpo.core.types import Strict
from bpo.staffing.selfservice_schemas import SiteRef


class OpenShift(msgspec.Struct, kw_only=True):
    """A published shift that still needs people and that the caller could work: every hard rule was
    checked for them as the roster stands now."""

    shift_id: uuid.UUID
    contract_id: uuid.UUID
    contract_name: str
    client_name: str
    # On the wall clock of the listing's time zone.
    start: datetime
    end: datetime
    mode: str
    site: SiteRef | None
    headcount: int
    # People still needed.
    open: int
    skills: list[str]
    languages: list[str]
    # Whether a claim waits for a supervisor or puts the caller on the shift at once.
    approval: OpenShiftApproval
    # The caller's own claim of it that waits for a supervisor, if any.
    pending_claim_id: uuid.UUID | None


class OpenShifts(msgspec.Struct, kw_only=True):
    staff_id: uuid.UUID
    time_zone: str
    from_: date = msgspec.field(name="from")
    to: date
    items: list[OpenShift]


class OpenShiftClaimStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class OpenShiftClaim(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    shift_id: uuid.UUID
    staff_id: uuid.UUID
    staff_name: str
    contract_id: uuid.UUID
    start: datetime
    end: datetime
    status: OpenShiftClaimStatus
    # The contract's setting when the claim was made.
    approval: OpenShiftApproval
    # The assignment an approval made.
    assignment_id: uuid.UUID | None
    # A supervisor's reason for declining, or that the shift was filled meanwhile.
    note: str
    created_at: datetime
    decided_at: datetime | None
    # Null for a claim approved at once by the contract's setting.
    decided_by: uuid.UUID | None


class OpenShiftClaimPage(msgspec.Struct, kw_only=True):
    items: list[OpenShiftClaim]
    next_cursor: str | None


class OpenShiftDecision(Strict):
    """An optional note to the person (why a claim is declined)."""

    note: Annotated[str, msgspec.Meta(max_length=500)] = ""
