from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec

MAX_BATCH = 10_000
MAX_ATTRIBUTES_BYTES = 4_096
MAX_ATTRIBUTES = 100

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    REPLIED = "replied"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    NO_ACTION = "no_action"


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


# gc=False: a batch is 10,000 of these, built from JSON and never part of a reference cycle; tracking
# them makes the garbage collector run dozens of times per request for nothing.
class WorkItemIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    received_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    kind: Label | None = None
    channel: Label | None = None
    priority: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    handled_by: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    outcome: Outcome | None = None
    sentiment: Sentiment | None = None
    units: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1
    attributes: Annotated[dict[str, Any], msgspec.Meta(max_length=MAX_ATTRIBUTES)] = {}


class WorkItemBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """Items for one contract, named by id or code (an API key bound to a contract may omit both)."""

    items: Annotated[list[WorkItemIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    contract_id: uuid.UUID | None = None
    contract_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class BatchResult(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    received: int
    created: int
    updated: int
    unchanged: int


class WorkItem(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    external_id: str
    kind: str | None
    channel: str | None
    priority: str | None
    received_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    handled_by: str | None
    outcome: str | None
    sentiment: str | None
    units: int
    attributes: dict[str, Any]
    updated_at: datetime


class WorkItemPage(msgspec.Struct, kw_only=True):
    items: list[WorkItem]
    next_cursor: str | None
