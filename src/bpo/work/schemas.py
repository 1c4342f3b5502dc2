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


# What a voice is made of (a user's post or message quoted on a contract; ``bpo.work.voices``).
MAX_VOICE_TEXT = 4_000
MAX_VOICE_TAGS = 20
VoiceText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_VOICE_TEXT,
        description="What the user said, quoted as posted",
        examples=["レシピの写真が保存できません"],
    ),
]
SourceUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=10,
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+[^\s]*(?!\n)$",
        description="Where it was posted: an http or https address",
        examples=["https://x.com/user/status/1234567890"],
        extra={"expected": "an http:// or https:// address without spaces"},
    ),
]
LanguageTag = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=35,
        pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*(?!\n)$",
        description="The language it is written in (BCP 47)",
        examples=["ja", "en", "zh-TW"],
        extra={"expected": "a language tag like ja, en or zh-TW"},
    ),
]
CategoryKey = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*(?!\n)$",
        description="The key of one of the contract's voice categories",
        examples=["bug_report", "praise"],
        extra={"expected": "a key of lower-case letters, digits, '_' or '-' (like bug_report)"},
    ),
]
VoiceTag = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^\S(?:.*\S)?(?!\n)$")]
VoiceTags = Annotated[list[VoiceTag], msgspec.Meta(max_length=MAX_VOICE_TAGS)]


OBSERVED_AT = "When the user posted it; the item's received_at if left out"


class VoiceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """The voice a work item carries (a quoted post or message). Sent again with its item, it updates the
    item's one voice; a field left out keeps what is stored (curation done since is not undone)."""

    text: VoiceText
    observed_at: Annotated[datetime, msgspec.Meta(description=OBSERVED_AT)] | None = None
    source_url: SourceUrl | None = None
    channel: Label | None = None
    language: LanguageTag | None = None
    category: CategoryKey | None = None
    sentiment: Sentiment | None = None
    tags: VoiceTags | None = None
    highlighted: bool | None = None


Csat = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=5,
        description="The requester's satisfaction rating, 1 (very dissatisfied) to 5 (very satisfied)",
        examples=[5],
    ),
]


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
    voice: VoiceIn | None = None
    csat: Csat | None = None
    started_at: Annotated[datetime, msgspec.Meta(description="When handling it started")] | None = None
    handled_at: Annotated[datetime, msgspec.Meta(description="When handling it finished")] | None = None


class WorkItemBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """Items for one contract, named by id or code (an API key bound to a contract may omit both)."""

    items: Annotated[list[WorkItemIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    contract_id: uuid.UUID | None = None
    contract_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class VoiceCounts(msgspec.Struct, kw_only=True):
    received: int
    created: int
    updated: int
    unchanged: int


class BatchResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    contract_id: uuid.UUID
    received: int
    created: int
    updated: int
    unchanged: int
    # Only for a batch whose items carry voices.
    voices: VoiceCounts | None = None


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
    csat: int | None = None
    started_at: datetime | None = None
    handled_at: datetime | None = None


class WorkItemPage(msgspec.Struct, kw_only=True):
    items: list[WorkItem]
    next_cursor: str | None
