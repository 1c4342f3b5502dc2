"""What the voices API takes and returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from bpo.core.types import Strict
from bpo.work.schemas import (
    CategoryKey,
    Label,
    LanguageTag,
    Sentiment,
    SourceUrl,
    VoiceTags,
    VoiceText,
)

MAX_CATEGORIES = 50
CategoryLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^\S(?:.*\S)?(?!\n)$")]
Trend = Literal["up", "down", "flat"]


class VoiceCategory(Strict):
    """One category of a contract's voices: a key for machines and a label in each language for people."""

    key: CategoryKey
    label_ja: Annotated[CategoryLabel, msgspec.Meta(examples=["不具合の報告"])]
    label_en: Annotated[CategoryLabel, msgspec.Meta(examples=["Bug report"])]


VoiceCategoryList = Annotated[list[VoiceCategory], msgspec.Meta(min_length=1, max_length=MAX_CATEGORIES)]


class VoiceCategoriesUpdate(Strict):
    categories: (
        Annotated[
            VoiceCategoryList, msgspec.Meta(description="The whole list, in order; null: the default list")
        ]
        | None
    )


class VoiceCategories(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    categories: list[VoiceCategory]
    # True while the contract has no list of its own.
    default: bool


class VoiceCreate(Strict):
    """A voice on a contract, alone or attached to one of its work items (the item names the contract)."""

    text: VoiceText
    contract_id: uuid.UUID | None = None
    work_item_id: (
        Annotated[uuid.UUID, msgspec.Meta(description="The work item it came with; at most one voice each")]
        | None
    ) = None
    observed_at: (
        Annotated[
            datetime,
            msgspec.Meta(description="When the user posted it; the item's receipt, or now, if left out"),
        ]
        | None
    ) = None
    source_url: SourceUrl | None = None
    channel: Label | None = None
    language: LanguageTag | None = None
    category: CategoryKey | None = None
    sentiment: Sentiment | None = None
    tags: VoiceTags = []
    highlighted: bool = False


class VoiceUpdate(Strict):
    """Curation: any of these; null clears a field that may be empty."""

    text: VoiceText | msgspec.UnsetType = msgspec.UNSET
    observed_at: datetime | msgspec.UnsetType = msgspec.UNSET
    source_url: SourceUrl | msgspec.UnsetType | None = msgspec.UNSET
    channel: Label | msgspec.UnsetType | None = msgspec.UNSET
    language: LanguageTag | msgspec.UnsetType | None = msgspec.UNSET
    category: CategoryKey | msgspec.UnsetType | None = msgspec.UNSET
    sentiment: Sentiment | msgspec.UnsetType | None = msgspec.UNSET
    tags: VoiceTags | msgspec.UnsetType = msgspec.UNSET
    highlighted: bool | msgspec.UnsetType = msgspec.UNSET


class Voice(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    contract_code: str
    client_id: uuid.UUID
    work_item_id: uuid.UUID | None
    text: str
    observed_at: datetime
    source_url: str | None
    channel: str | None
    language: str | None
    category: str | None
    sentiment: Sentiment | None
    tags: list[str]
    highlighted: bool
    curated_by: uuid.UUID | None
    curated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class VoicePage(msgspec.Struct, kw_only=True):
    items: list[Voice]
    next_cursor: str | None


# --- the summary of a client's voices over a period -------------------------------------------------


class VoiceSentimentCounts(msgspec.Struct, kw_only=True):
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    # Not yet given a sentiment.
    unrated: int = 0


class VoiceCategoryCount(msgspec.Struct, kw_only=True):
    # None: not yet given a category.
    key: str | None
    label_ja: str
    label_en: str
    total: int
    sentiments: VoiceSentimentCounts
    previous_total: int
    trend: Trend


class VoiceDayCount(msgspec.Struct, kw_only=True):
    day: date
    category: str | None
    sentiment: Sentiment | None
    count: int


class ContractVoices(msgspec.Struct, kw_only=True):
    contract_id: uuid.UUID
    contract_code: str
    name: str
    total: int
    previous_total: int
    sentiments: VoiceSentimentCounts
    # Every category of the contract, in its order (those with no voice too), then any without a category.
    categories: list[VoiceCategoryCount]
    # Voices per local day, category and sentiment (only the combinations that have any).
    days: list[VoiceDayCount]
    # Keys of the categories with clearly more voices than in the previous period, the largest rise first.
    trending_up: list[str]
    # The highlighted voices of the period, newest first (at most ``MAX_HIGHLIGHTED``).
    highlighted: list[Voice]


class VoiceSummary(msgspec.Struct, kw_only=True):
    client_id: uuid.UUID
    client_code: str
    name: str
    time_zone: str
    start: date
    end: date
    previous_start: date
    previous_end: date
    contracts: list[ContractVoices]
