"""Finding voices: the filters of ``GET /v1/voices``, checked and turned into one statement over the caller's
contracts, newest first, a page at a time with a keyset cursor on (observed_at, id).

Words are found in the voice's text through its trigram index (migration 0022), which serves Japanese
sentences as well as English ones; every word must appear, in any case. Tags are matched by containment
through their own index: every tag asked for must be on the voice. Values reach SQL only as bound
parameters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core.errors import FieldErrors, Invalid, field_error, raise_if
from bpo.core.http import instant_period
from bpo.core.scope import Scope
from bpo.work import search
from bpo.work.schemas import Sentiment
from bpo.work.voices import schemas
from bpo.work.voices.models import Voice
from bpo.work.voices.service import visible_voices, voice_view

MAX_CATEGORIES = 20
CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")


@dataclass(frozen=True)
class VoiceFilters:
    """What a caller asked for, already checked; contracts and client as given (checked on use)."""

    contracts: tuple[uuid.UUID, ...] = ()
    client_id: uuid.UUID | None = None
    observed_from: datetime | None = None
    observed_to: datetime | None = None
    categories: tuple[str, ...] = ()
    sentiment: str | None = None
    highlighted: bool | None = None
    channel: str | None = None
    work_item_id: uuid.UUID | None = None
    tags: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()


def parse_filters(
    *,
    contract: Sequence[uuid.UUID] | None = None,
    client: uuid.UUID | None = None,
    observed_from: str | None = None,
    observed_to: str | None = None,
    category: Sequence[str] | None = None,
    sentiment: str | None = None,
    highlighted: bool | None = None,
    channel: str | None = None,
    work_item: uuid.UUID | None = None,
    tag: Sequence[str] | None = None,
    q: str | None = None,
) -> VoiceFilters:
    """The filters of a request, every mistake named as ``query.<name>`` in one 422."""
    errors: FieldErrors = []
    chosen = tuple(dict.fromkeys(contract or ()))
    if len(chosen) > search.MAX_CONTRACTS:
        errors.append(field_error("query.contract", f"at most {search.MAX_CONTRACTS} contracts"))
    categories = tuple(dict.fromkeys(category or ()))
    if len(categories) > MAX_CATEGORIES:
        errors.append(field_error("query.category", f"at most {MAX_CATEGORIES} categories"))
    if any(not CATEGORY.match(key) for key in categories):
        errors.append(field_error("query.category", "a category key: lower-case letters, digits, '_' or '-'"))
    tags = tuple(dict.fromkeys(tag or ()))
    if len(tags) > search.MAX_TAGS:
        errors.append(field_error("query.tag", f"at most {search.MAX_TAGS} tags"))
    if any(not t.strip() or len(t) > search.MAX_TAG for t in tags):
        errors.append(field_error("query.tag", f"each tag 1 to {search.MAX_TAG} characters"))
    if sentiment is not None and sentiment not in {s.value for s in Sentiment}:
        errors.append(field_error("query.sentiment", f"one of {', '.join(s.value for s in Sentiment)}"))
    terms, term_errors = search.query_terms(q)
    errors += term_errors
    try:
        first, last = instant_period(observed_from, observed_to, ("query.observed_from", "query.observed_to"))
    except Invalid as exc:
        errors += exc.errors or []
        first = last = None
    raise_if(errors)
    return VoiceFilters(
        contracts=chosen,
        client_id=client,
        observed_from=first,
        observed_to=last,
        categories=categories,
        sentiment=sentiment,
        highlighted=highlighted,
        channel=channel,
        work_item_id=work_item,
        tags=tags,
        terms=terms,
    )


def conditions(filters: VoiceFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.observed_from is not None:
        where.append(Voice.observed_at >= filters.observed_from)
    if filters.observed_to is not None:
        where.append(Voice.observed_at < filters.observed_to)
    if filters.categories:
        where.append(Voice.category.in_(filters.categories))
    if filters.sentiment is not None:
        where.append(Voice.sentiment == filters.sentiment)
    if filters.highlighted is not None:
        where.append(Voice.highlighted.is_(filters.highlighted))
    if filters.channel is not None:
        where.append(Voice.channel == filters.channel)
    if filters.work_item_id is not None:
        where.append(Voice.work_item_id == filters.work_item_id)
    if filters.tags:
        where.append(Voice.tags.contains(list(filters.tags)))
    for term in filters.terms:
        where.append(Voice.text.ilike(search.like_pattern(term), escape=search.LIKE_ESCAPE))
    return where


async def find(
    session: AsyncSession, scope: Scope, filters: VoiceFilters, *, limit: int, cursor: str | None
) -> schemas.VoicePage:
    """A page of the voices matching ``filters``, newest first. A contract or client named that the caller
    may not see is a 404, as a missing one."""
    if filters.client_id is not None:
        await clients.get_client_row(session, scope, filters.client_id)
    visible = await search.visible_contracts(session, scope, filters.contracts, filters.client_id)
    after = search.decode_cursor(cursor)
    statement = (
        visible_voices(scope)
        .where(Voice.contract_id.in_([contract.id for contract in visible]), *conditions(filters))
        .order_by(Voice.observed_at.desc(), Voice.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        statement = statement.where(tuple_(Voice.observed_at, Voice.id) < tuple_(*after))
    rows = (await session.execute(statement)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = search.encode_cursor(last.observed_at, last.id)
    return schemas.VoicePage(items=[voice_view(*row) for row in rows], next_cursor=next_cursor)
