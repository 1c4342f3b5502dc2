"""Searching work items: the filters of ``GET /v1/work-items``, checked and turned into one statement over
the caller's contracts, newest first, with a keyset cursor on (received_at, id).

The text search reads an item's summary and voice text (``attributes.summary``, ``attributes.voice``)
through the trigram index of migration 0019, so it finds words inside Japanese sentences as well as
English ones; each term of the query must appear (case-insensitive). Tags (``attributes.tags``, a list of
strings) are matched by containment through their own index: every tag asked for must be on the item.
Values reach SQL only as bound parameters.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    cast,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.models import Contract
from bpo.core.errors import FieldErrors, Invalid, NotFound, field_error, raise_if
from bpo.core.http import instant_period
from bpo.core.scope import Scope
from bpo.work.models import WorkItem
from bpo.work.schemas import Outcome, Sentiment

MAX_CONTRACTS = 50
MAX_TAGS = 10
MAX_TAG = 64
MAX_TERMS = 5
MIN_TERM = 2
MAX_QUERY = 100
LIKE_ESCAPE = "\\"


# The expression of the trigram index (migration 0019), repeated exactly so the planner can use it: its
# keys and separator are constants in the SQL, not parameters, so a generic plan matches the index too.
def _attribute(key: str) -> ColumnElement[str]:
    value = WorkItem.attributes.op("->>", return_type=Text)(literal_column(f"'{key}'", Text))
    return func.coalesce(value, literal_column("''", Text))


SEARCH_TEXT = _attribute("summary") + literal_column("' '", Text) + _attribute("voice")
TAGS = WorkItem.attributes.op("->", return_type=JSONB)(literal_column("'tags'", Text))


@dataclass(frozen=True)
class Filters:
    """What a caller asked for, already checked; contracts as given (visibility is checked on use)."""

    contracts: tuple[uuid.UUID, ...] = ()
    received_from: datetime | None = None
    received_to: datetime | None = None
    channel: str | None = None
    kind: str | None = None
    outcome: str | None = None
    sentiment: str | None = None
    handled_by: str | None = None
    external_id: str | None = None
    tags: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    # Only this client's contracts (a dashboard page of one client); its visibility is checked by the caller.
    client_id: uuid.UUID | None = None


def query_terms(q: str | None) -> tuple[tuple[str, ...], FieldErrors]:
    if q is None:
        return (), []
    terms = tuple(dict.fromkeys(q.split()))
    if not terms:
        return (), [field_error("query.q", "give at least one word to search for")]
    if len(terms) > MAX_TERMS:
        return (), [field_error("query.q", f"at most {MAX_TERMS} words")]
    if any(len(term) < MIN_TERM for term in terms):
        return (), [field_error("query.q", f"each word needs at least {MIN_TERM} characters")]
    return terms, []


def parse_filters(
    *,
    contract: Sequence[uuid.UUID] | None = None,
    received_from: str | None = None,
    received_to: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
    sentiment: str | None = None,
    handled_by: str | None = None,
    external_id: str | None = None,
    tag: Sequence[str] | None = None,
    q: str | None = None,
) -> Filters:
    """The filters of a request, every mistake named as ``query.<name>`` in one 422."""
    errors: FieldErrors = []
    chosen = tuple(dict.fromkeys(contract or ()))
    if len(chosen) > MAX_CONTRACTS:
        errors.append(field_error("query.contract", f"at most {MAX_CONTRACTS} contracts"))
    tags = tuple(dict.fromkeys(tag or ()))
    if len(tags) > MAX_TAGS:
        errors.append(field_error("query.tag", f"at most {MAX_TAGS} tags"))
    if any(not t.strip() or len(t) > MAX_TAG for t in tags):
        errors.append(field_error("query.tag", f"each tag 1 to {MAX_TAG} characters"))
    if outcome is not None and outcome not in {o.value for o in Outcome}:
        errors.append(field_error("query.outcome", f"one of {', '.join(o.value for o in Outcome)}"))
    if sentiment is not None and sentiment not in {s.value for s in Sentiment}:
        errors.append(field_error("query.sentiment", f"one of {', '.join(s.value for s in Sentiment)}"))
    terms, term_errors = query_terms(q)
    errors += term_errors
    try:
        first, last = instant_period(received_from, received_to, ("query.received_from", "query.received_to"))
    except Invalid as exc:
        errors += exc.errors or []
        first = last = None
    raise_if(errors)
    return Filters(
        contracts=chosen,
        received_from=first,
        received_to=last,
        channel=channel,
        kind=kind,
        outcome=outcome,
        sentiment=sentiment,
        handled_by=handled_by,
        external_id=external_id,
        tags=tags,
        terms=terms,
    )


async def visible_contracts(
    session: AsyncSession, scope: Scope, chosen: Sequence[uuid.UUID], client_id: uuid.UUID | None = None
) -> list[Contract]:
    """The contracts a search covers: those named (each must be the caller's, else 404, as for a
    missing one) or else every contract the caller may see."""
    statement = contracts.visible_contracts(scope)
    if client_id is not None:
        statement = statement.where(Contract.client_id == client_id)
    if chosen:
        statement = statement.where(Contract.id.in_(chosen))
    rows = list((await session.scalars(statement.order_by(Contract.code))).all())
    if chosen and len(rows) != len(chosen):
        missing = sorted(set(chosen) - {row.id for row in rows})
        raise NotFound(f"Contract {missing[0]} not found.")
    return rows


def like_pattern(term: str) -> str:
    """``term`` anywhere in a text, with LIKE's own characters matched as themselves."""
    escaped = term.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(filters: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.received_from is not None:
        where.append(WorkItem.received_at >= filters.received_from)
    if filters.received_to is not None:
        where.append(WorkItem.received_at < filters.received_to)
    for column, value in (
        (WorkItem.channel, filters.channel),
        (WorkItem.kind, filters.kind),
        (WorkItem.outcome, filters.outcome),
        (WorkItem.sentiment, filters.sentiment),
        (WorkItem.handled_by, filters.handled_by),
        (WorkItem.external_id, filters.external_id),
    ):
        if value is not None:
            where.append(column == value)
    if filters.tags:
        tags = literal(json.dumps(list(filters.tags), ensure_ascii=False), String())
        where.append(TAGS.op("@>")(cast(tags, JSONB)))
    for term in filters.terms:
        where.append(SEARCH_TEXT.ilike(like_pattern(term), escape=LIKE_ESCAPE))
    return where


def statement(
    scope: Scope, contract_ids: Sequence[uuid.UUID], filters: Filters, *extra: ColumnElement[bool]
) -> Select[WorkItem]:
    """The items matching ``filters`` among ``contract_ids`` (already checked visible), newest first."""
    return (
        select(WorkItem)
        .where(
            WorkItem.tenant_id == scope.tenant_id,
            WorkItem.contract_id.in_(contract_ids),
            *conditions(filters),
            *extra,
        )
        .order_by(WorkItem.received_at.desc(), WorkItem.id.desc())
    )


# --- the keyset cursor: the last item's (received_at, id) ------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = struct.Struct(">q16s")


def encode_cursor(received_at: datetime, item_id: uuid.UUID) -> str:
    micros = (received_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_CURSOR.pack(micros, item_id.bytes)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        micros, item = _CURSOR.unpack(raw)
        return _EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=item)
    except (ValueError, binascii.Error, struct.error, OverflowError):
        raise Invalid(
            "The cursor is not one this API returned.",
            errors=[field_error("query.cursor", "invalid cursor")],
        ) from None


def after(cursor: tuple[datetime, uuid.UUID] | None) -> list[ColumnElement[bool]]:
    """The rows after ``cursor`` in newest-first order."""
    if cursor is None:
        return []
    return [tuple_(WorkItem.received_at, WorkItem.id) < tuple_(*cursor)]
