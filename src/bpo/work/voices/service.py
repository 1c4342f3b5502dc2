"""Voices: each contract's categories (its own list, or the default one), and voices written, curated and
deleted one at a time. Searching them is ``listing``, summing them up ``summary``, and the voices a batch
of work items carries ``ingest``.

A voice belongs to a contract the caller may see, like a work item: a client viewer reads its own client's
voices only, and another client's or tenant's voice is a 404, as a missing one. A category key must be one
of the contract's; a category in use cannot leave the contract's list, so every stored key keeps its labels.
Writes take a share lock on the contract row and a change of the list takes it exclusively, so a voice is
never given a category that is being removed at the same moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.models import Contract
from bpo.core import audit
from bpo.core.errors import Conflict, FieldErrors, Invalid, NotFound, field_error, raise_if
from bpo.core.scope import Scope
from bpo.work.models import WorkItem
from bpo.work.schemas import Sentiment
from bpo.work.voices import schemas
from bpo.work.voices.models import Voice, VoiceCategory

VOICE = "voice"
CONTRACT = "contract"
# Clocks differ; a voice "observed" further ahead than this is a mistake, not skew.
MAX_FUTURE = timedelta(hours=1)

# What a contract's voices are sorted into until it names categories of its own.
DEFAULT_CATEGORIES: tuple[schemas.VoiceCategory, ...] = (
    schemas.VoiceCategory(key="praise", label_ja="好評・お礼", label_en="Praise"),
    schemas.VoiceCategory(key="bug_report", label_ja="不具合の報告", label_en="Bug report"),
    schemas.VoiceCategory(key="feature_request", label_ja="機能の要望", label_en="Feature request"),
    schemas.VoiceCategory(key="ui_confusion", label_ja="使い方がわかりにくい", label_en="Hard to use"),
    schemas.VoiceCategory(key="billing", label_ja="料金・支払い", label_en="Billing"),
    schemas.VoiceCategory(key="other", label_ja="その他", label_en="Other"),
)


# --- categories ---------------------------------------------------------------------------------------


async def stored_categories(
    session: AsyncSession, scope: Scope, contract_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.VoiceCategory]]:
    """The lists contracts named themselves, by contract id (a contract using the default is absent)."""
    if not contract_ids:
        return {}
    rows = await session.scalars(
        select(VoiceCategory)
        .where(VoiceCategory.tenant_id == scope.tenant_id, VoiceCategory.contract_id.in_(list(contract_ids)))
        .order_by(VoiceCategory.contract_id, VoiceCategory.position)
    )
    found: dict[uuid.UUID, list[schemas.VoiceCategory]] = {}
    for row in rows:
        found.setdefault(row.contract_id, []).append(
            schemas.VoiceCategory(key=row.key, label_ja=row.label_ja, label_en=row.label_en)
        )
    return found


async def categories_of(
    session: AsyncSession, scope: Scope, contract_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.VoiceCategory]]:
    """Each contract's categories, by contract id: its own list or the default one."""
    stored = await stored_categories(session, scope, contract_ids)
    return {contract_id: stored.get(contract_id, list(DEFAULT_CATEGORIES)) for contract_id in contract_ids}


def _categories_view(
    contract_id: uuid.UUID, own: list[schemas.VoiceCategory] | None
) -> schemas.VoiceCategories:
    return schemas.VoiceCategories(
        contract_id=contract_id, categories=own or list(DEFAULT_CATEGORIES), default=own is None
    )


async def get_categories(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID
) -> schemas.VoiceCategories:
    contract = await contracts.get_contract_row(session, scope, contract_id)
    return _categories_view(
        contract.id, (await stored_categories(session, scope, [contract.id])).get(contract.id)
    )


def check_category_list(categories: Sequence[schemas.VoiceCategory], path: str = "categories") -> FieldErrors:
    errors: FieldErrors = []
    seen: dict[str, int] = {}
    for i, category in enumerate(categories):
        if category.key in seen:
            errors.append(field_error(f"{path}[{i}].key", f"repeats {path}[{seen[category.key]}]"))
        seen.setdefault(category.key, i)
    return errors


async def set_categories(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    categories: Sequence[schemas.VoiceCategory] | None,
) -> schemas.VoiceCategories:
    """Replace the contract's list (None: back to the default). A category still given to voices cannot
    leave the list: a 409 names each such key and how many voices have it."""
    raise_if(check_category_list(categories or []), what="The categories are not valid")
    # Exclusive: no voice is written on the contract meanwhile (writes take a share lock).
    contract = await contracts.get_contract_row(session, scope, contract_id, for_update=True)
    kept = {c.key for c in categories or DEFAULT_CATEGORIES}
    in_use = (
        await session.execute(
            select(Voice.category, func.count())
            .where(
                Voice.tenant_id == scope.tenant_id,
                Voice.contract_id == contract.id,
                Voice.category.is_not(None),
                Voice.category.not_in(kept),
            )
            .group_by(Voice.category)
            .order_by(Voice.category)
        )
    ).all()
    if in_use:
        named = ", ".join(f"{key} ({count} voice{'' if count == 1 else 's'})" for key, count in in_use)
        raise Conflict(
            f"Voices still have these categories: {named}. Give those voices another category first.",
            slug="voice-category-in-use",
        )
    before = (await stored_categories(session, scope, [contract.id])).get(contract.id)
    await session.execute(
        delete(VoiceCategory).where(
            VoiceCategory.tenant_id == scope.tenant_id, VoiceCategory.contract_id == contract.id
        )
    )
    session.add_all(
        VoiceCategory(
            tenant_id=scope.tenant_id,
            contract_id=contract.id,
            key=category.key,
            label_ja=category.label_ja,
            label_en=category.label_en,
            position=position,
        )
        for position, category in enumerate(categories or [])
    )
    await session.flush()
    own = list(categories) if categories is not None else None
    if own != before:
        audit.record(
            session,
            scope,
            "voice_categories.updated",
            CONTRACT,
            contract.id,
            categories=[c.key for c in own] if own is not None else None,
        )
    return _categories_view(contract.id, own)


def category_error(allowed: Sequence[schemas.VoiceCategory]) -> str:
    return f"not one of this contract's categories ({', '.join(c.key for c in allowed)})"


# --- one voice ------------------------------------------------------------------------------------------


def visible_voices(scope: Scope) -> Select[Voice, str, uuid.UUID]:
    """Voices of the contracts the caller may see, with their contract's code and client."""
    visible = contracts.visible_contracts(scope).subquery()
    return (
        select(Voice, visible.c.code, visible.c.client_id)
        .join(visible, visible.c.id == Voice.contract_id)
        .where(Voice.tenant_id == scope.tenant_id)
    )


def voice_view(row: Voice, contract_code: str, client_id: uuid.UUID) -> schemas.Voice:
    return schemas.Voice(
        id=row.id,
        contract_id=row.contract_id,
        contract_code=contract_code,
        client_id=client_id,
        work_item_id=row.work_item_id,
        text=row.text,
        observed_at=row.observed_at,
        source_url=row.source_url,
        channel=row.channel,
        language=row.language,
        category=row.category,
        sentiment=Sentiment(row.sentiment) if row.sentiment else None,
        tags=list(row.tags),
        highlighted=row.highlighted,
        curated_by=row.curated_by,
        curated_at=row.curated_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _found(session: AsyncSession, scope: Scope, voice_id: uuid.UUID) -> tuple[Voice, str, uuid.UUID]:
    found = (await session.execute(visible_voices(scope).where(Voice.id == voice_id))).one_or_none()
    if found is None:
        raise NotFound(f"Voice {voice_id} not found.")
    return found[0], found[1], found[2]


async def get_voice(session: AsyncSession, scope: Scope, voice_id: uuid.UUID) -> schemas.Voice:
    return voice_view(*await _found(session, scope, voice_id))


def _share_locked(scope: Scope, contract_id: uuid.UUID) -> Select[Contract]:
    """The contract, share-locked against a change of its categories until the transaction ends (a
    change takes the row exclusively)."""
    statement = contracts.visible_contracts(scope).where(Contract.id == contract_id)
    return statement.with_for_update(read=True, key_share=True)


async def lock_categories(session: AsyncSession, scope: Scope, contract_id: uuid.UUID) -> None:
    """Hold the contract's categories as they are until the transaction ends."""
    await session.execute(_share_locked(scope, contract_id))


async def _writable_contract(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, field: str | None = None
) -> Contract:
    contract = await session.scalar(_share_locked(scope, contract_id))
    if contract is None:
        if field is not None:
            raise Invalid(
                f"{field}: contract {contract_id} not found", errors=[field_error(field, "no such contract")]
            )
        raise NotFound(f"Contract {contract_id} not found.")
    return contract


def _instant_errors(field: str, value: datetime, now: datetime) -> FieldErrors:
    if value.tzinfo is None:
        return [field_error(field, "needs a UTC offset (e.g. 2026-10-01T09:00:00+09:00)")]
    if value > now + MAX_FUTURE:
        return [field_error(field, "is in the future")]
    return []


def unique_tags(tags: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(tags))


async def create_voice(session: AsyncSession, scope: Scope, data: schemas.VoiceCreate) -> schemas.Voice:
    now = datetime.now(UTC)
    errors: FieldErrors = []
    item = None
    if data.work_item_id is not None:
        item = await session.scalar(
            select(WorkItem).where(
                WorkItem.tenant_id == scope.tenant_id,
                WorkItem.id == data.work_item_id,
                WorkItem.contract_id.in_(contracts.visible_contracts(scope).with_only_columns(Contract.id)),
            )
        )
        if item is None:
            errors.append(field_error("work_item_id", "no such work item"))
        elif data.contract_id is not None and data.contract_id != item.contract_id:
            errors.append(field_error("contract_id", "is not the work item's contract"))
    elif data.contract_id is None:
        errors.append(field_error("contract_id", "required (or work_item_id)"))
    raise_if(errors)
    contract_id = item.contract_id if item is not None else data.contract_id
    assert contract_id is not None
    contract = await _writable_contract(session, scope, contract_id, "contract_id")
    observed_at = data.observed_at or (item.received_at if item is not None else now)
    errors += _instant_errors("observed_at", observed_at, now)
    if data.category is not None:
        allowed = (await categories_of(session, scope, [contract.id]))[contract.id]
        if data.category not in {c.key for c in allowed}:
            errors.append(field_error("category", category_error(allowed)))
    raise_if(errors)
    row = Voice(
        tenant_id=scope.tenant_id,
        contract_id=contract.id,
        work_item_id=item.id if item is not None else None,
        text=data.text,
        observed_at=observed_at,
        source_url=data.source_url,
        channel=data.channel,
        language=data.language,
        category=data.category,
        sentiment=data.sentiment.value if data.sentiment else None,
        tags=unique_tags(data.tags),
        highlighted=data.highlighted,
        created_by=scope.user_id,
        curated_by=scope.user_id,
        curated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # The work item's one voice (the unique key on the item settles a race too).
        taken = await session.scalar(
            select(Voice.id).where(Voice.tenant_id == scope.tenant_id, Voice.work_item_id == row.work_item_id)
        )
        raise Conflict(
            f"The work item has a voice already: change that one (PATCH /v1/voices/{taken}).",
            slug="voice-exists",
        ) from None
    await session.refresh(row)
    audit.record(session, scope, "voice.created", VOICE, row.id, contract_id=str(contract.id))
    return voice_view(row, contract.code, contract.client_id)


_CURATED = (
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


async def update_voice(
    session: AsyncSession, scope: Scope, voice_id: uuid.UUID, data: schemas.VoiceUpdate
) -> schemas.Voice:
    row, code, client_id = await _found(session, scope, voice_id)
    await _writable_contract(session, scope, row.contract_id)
    now = datetime.now(UTC)
    errors: FieldErrors = []
    if not isinstance(data.observed_at, msgspec.UnsetType):
        errors += _instant_errors("observed_at", data.observed_at, now)
    if isinstance(data.category, str):
        allowed = (await categories_of(session, scope, [row.contract_id]))[row.contract_id]
        if data.category not in {c.key for c in allowed}:
            errors.append(field_error("category", category_error(allowed)))
    raise_if(errors)
    changed: dict[str, Any] = {}
    for name in _CURATED:
        value = getattr(data, name)
        if isinstance(value, msgspec.UnsetType):
            continue
        if isinstance(value, Sentiment):
            value = value.value
        if name == "tags":
            value = unique_tags(value)
        if getattr(row, name) != value:
            changed[name] = value
    if changed:
        for name, value in changed.items():
            setattr(row, name, value)
        row.curated_by = scope.user_id
        row.curated_at = now
        row.updated_at = now
        await session.flush()
        audit.record(session, scope, "voice.updated", VOICE, row.id, fields=sorted(changed))
    return voice_view(row, code, client_id)


async def delete_voice(session: AsyncSession, scope: Scope, voice_id: uuid.UUID) -> None:
    row, _, _ = await _found(session, scope, voice_id)
    await session.delete(row)
    await session.flush()
    audit.record(session, scope, "voice.deleted", VOICE, row.id, contract_id=str(row.contract_id))
