"""The voices a batch of work items carries (``items[].voice``): checked with the batch, so a bad voice
rejects the whole batch, and written after the items, one per item.

Sent again with its item, a voice is updated in place, never duplicated; a field the batch leaves out
keeps what is stored (a category, sentiment, tags or highlight given by the operator since is not undone),
and a voice the batch does not change is left as it is. The voices are copied into a temporary table and
written by one statement that answers with counts only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.errors import FieldErrors, field_error
from bpo.core.orm import new_id
from bpo.core.scope import Scope
from bpo.core.types import FIRST_DATE, LAST_DATE, out_of_range
from bpo.work import schemas
from bpo.work.voices.service import MAX_FUTURE, categories_of, category_error, lock_categories, unique_tags

STAGE_TABLE = "voices_batch"
STAGE_COLUMNS = (
    "external_id",
    "text",
    "observed_at",
    "source_url",
    "channel",
    "language",
    "category",
    "sentiment",
    "tags",
    "highlighted",
)
STAGE = text(
    """
    CREATE TEMPORARY TABLE voices_batch (
        external_id text, text text, observed_at timestamptz, source_url text, channel text, language text,
        category text, sentiment text, tags text[], highlighted boolean
    ) ON COMMIT DROP
    """
)
UNSTAGE = text("DROP TABLE voices_batch")
# Existing voices are updated field by field (a value left out keeps the stored one) only where something
# differs; the others are inserted, with ids made like the batch's work items' (a UUIDv7 per batch, the
# last 16 bits the position).
UPSERT = text(
    """
    WITH batch AS (
        SELECT row_number() OVER () - 1 AS position, b.*, w.id AS work_item_id, w.received_at,
               v.id AS voice_id
        FROM voices_batch AS b
        JOIN work_items AS w
          ON w.tenant_id = CAST(:tenant_id AS uuid) AND w.contract_id = CAST(:contract_id AS uuid)
         AND w.external_id = b.external_id
        LEFT JOIN voices AS v ON v.tenant_id = w.tenant_id AND v.work_item_id = w.id
    ),
    updated AS (
        UPDATE voices AS v SET
            text = b.text,
            observed_at = COALESCE(b.observed_at, v.observed_at),
            source_url = COALESCE(b.source_url, v.source_url),
            channel = COALESCE(b.channel, v.channel),
            language = COALESCE(b.language, v.language),
            category = COALESCE(b.category, v.category),
            sentiment = COALESCE(b.sentiment, v.sentiment),
            tags = COALESCE(b.tags, v.tags),
            highlighted = COALESCE(b.highlighted, v.highlighted),
            updated_at = now()
        FROM batch AS b
        WHERE v.tenant_id = CAST(:tenant_id AS uuid) AND v.id = b.voice_id
          AND (v.text, v.observed_at, v.source_url, v.channel, v.language, v.category, v.sentiment, v.tags,
               v.highlighted)
              IS DISTINCT FROM
              (b.text, COALESCE(b.observed_at, v.observed_at), COALESCE(b.source_url, v.source_url),
               COALESCE(b.channel, v.channel), COALESCE(b.language, v.language),
               COALESCE(b.category, v.category), COALESCE(b.sentiment, v.sentiment), COALESCE(b.tags, v.tags),
               COALESCE(b.highlighted, v.highlighted))
        RETURNING v.id
    ),
    inserted AS (
        INSERT INTO voices (
            tenant_id, id, contract_id, work_item_id, text, observed_at, source_url, channel, language,
            category, sentiment, tags, highlighted, created_by
        )
        SELECT CAST(:tenant_id AS uuid),
               CAST(left(:batch_id, 32) || lpad(to_hex(b.position), 4, '0') AS uuid),
               CAST(:contract_id AS uuid), b.work_item_id, b.text, COALESCE(b.observed_at, b.received_at),
               b.source_url, b.channel, b.language, b.category, b.sentiment, COALESCE(b.tags, '{}'),
               COALESCE(b.highlighted, false), CAST(:created_by AS uuid)
        FROM batch AS b
        WHERE b.voice_id IS NULL
        ON CONFLICT (tenant_id, work_item_id) DO NOTHING
        RETURNING id
    )
    SELECT (SELECT count(*) FROM inserted) AS created, (SELECT count(*) FROM updated) AS updated
    """
)


def check_voices(items: Sequence[schemas.WorkItemIn], now: datetime) -> FieldErrors:
    """What can be wrong with the items' voices whatever the contract: their instants."""
    errors: FieldErrors = []
    for i, item in enumerate(items):
        observed = item.voice.observed_at if item.voice is not None else None
        if observed is None:
            continue
        field = f"items[{i}].voice.observed_at"
        if observed.tzinfo is None:
            errors.append(field_error(field, "needs a UTC offset (e.g. 2026-10-01T09:00:00+09:00)", index=i))
        elif out_of_range(observed):
            errors.append(field_error(field, f"must be from {FIRST_DATE} to {LAST_DATE} (in UTC)", index=i))
        elif observed > now + MAX_FUTURE:
            errors.append(field_error(field, "is in the future", index=i))
    return errors


async def check_categories(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, items: Sequence[schemas.WorkItemIn]
) -> FieldErrors:
    """Each voice's category is one of the contract's."""
    named = [(i, item.voice.category) for i, item in enumerate(items) if item.voice and item.voice.category]
    if not named:
        return []
    await lock_categories(session, scope, contract_id)
    allowed = (await categories_of(session, scope, [contract_id]))[contract_id]
    keys = {c.key for c in allowed}
    return [
        field_error(f"items[{i}].voice.category", category_error(allowed), index=i)
        for i, category in named
        if category not in keys
    ]


def _records(items: Sequence[schemas.WorkItemIn]) -> list[tuple[Any, ...]]:
    return [
        (
            item.external_id,
            voice.text,
            voice.observed_at,
            voice.source_url,
            voice.channel,
            voice.language,
            voice.category,
            voice.sentiment.value if voice.sentiment else None,
            unique_tags(voice.tags) if voice.tags is not None else None,
            voice.highlighted,
        )
        for item in items
        if (voice := item.voice) is not None
    ]


async def upsert(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, items: Sequence[schemas.WorkItemIn]
) -> schemas.VoiceCounts | None:
    """Write the voices of ``items`` (already checked; the items themselves already written)."""
    records = _records(items)
    if not records:
        return None
    await session.execute(STAGE)
    connection = (await (await session.connection()).get_raw_connection()).driver_connection
    assert connection is not None
    await connection.copy_records_to_table(STAGE_TABLE, records=records, columns=STAGE_COLUMNS)
    counts = (
        await session.execute(
            UPSERT,
            {
                "tenant_id": str(scope.tenant_id),
                "contract_id": str(contract_id),
                "batch_id": str(new_id()),
                "created_by": str(scope.user_id) if scope.user_id else None,
            },
        )
    ).one()
    await session.execute(UNSTAGE)
    return schemas.VoiceCounts(
        received=len(records),
        created=counts.created,
        updated=counts.updated,
        unchanged=len(records) - counts.created - counts.updated,
    )
