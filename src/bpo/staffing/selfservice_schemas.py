"""Request and response types of staff self-service: own shifts, calendar feeds and swap requests."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from bpo.clients.schemas import Windows, WindowSpec
from bpo.core.types import Strict
from bpo.staffing.schemas import Proficiency


class SiteRef(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str


class MyShift(msgspec.Struct, kw_only=True):
    assignment_id: uuid.UUID
    shift_id: uuid.UUID
    # On the wall clock of the listing's time zone.
    start: datetime
    end: datetime
    contract_id: uuid.UUID
    contract_name: str
    client_name: str
    mode: str
    site: SiteRef | None
    # draft: the roster may still change; published: final.
    status: str
    coworkers: list[str]


class MyShifts(msgspec.Struct, kw_only=True):
    staff_id: uuid.UUID
    time_zone: str
    from_: date = msgspec.field(name="from")
    to: date
    items: list[MyShift]


class CalendarFeed(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    staff_id: uuid.UUID
    # Shown once: only a hash of the token is kept, so a lost URL is replaced by a new one.
    url: str
    created_at: datetime


class SwapStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class SwapRequestCreate(Strict):
    assignment_id: uuid.UUID
    counterpart_staff_id: uuid.UUID
    # Absent: a give-away; present: the counterpart's assignment taken in exchange.
    counterpart_assignment_id: uuid.UUID | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class SwapShift(msgspec.Struct, kw_only=True):
    assignment_id: uuid.UUID
    shift_id: uuid.UUID
    contract_id: uuid.UUID
    start: datetime
    end: datetime


class SwapRequest(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: SwapStatus
    requester_staff_id: uuid.UUID
    counterpart_staff_id: uuid.UUID
    assignment_id: uuid.UUID
    counterpart_assignment_id: uuid.UUID | None
    # The shifts as they were asked for; null once the assignment is gone (moved or removed).
    shift: SwapShift | None
    counterpart_shift: SwapShift | None
    note: str
    created_at: datetime
    accepted_at: datetime | None
    decided_at: datetime | None
    decided_by: uuid.UUID | None


class SwapRequestPage(msgspec.Struct, kw_only=True):
    items: list[SwapRequest]
    next_cursor: str | None


# --- availability and preferences ----------------------------------------------------------------


class MyAvailability(msgspec.Struct, kw_only=True):
    staff_id: uuid.UUID
    # The zone the windows are read in: the person's home zone.
    time_zone: str
    # When the person can work (a hard rule); null: at any time.
    availability: list[WindowSpec] | None
    # When they would rather work (the solver's "preferences" soft rule); null: no preference.
    preferred_times: list[WindowSpec] | None
    skills: list[Proficiency]
    languages: list[Proficiency]


class MyAvailabilityUpdate(Strict):
    """Both lists are replaced; null clears one (available at any time, no preference)."""

    availability: Windows | None
    preferred_times: Windows | None
