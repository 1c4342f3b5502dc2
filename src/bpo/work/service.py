"""Work-item ingestion: idempotent bulk upserts keyed by (tenant, contract, external_id).

Timestamps only move forward: an earlier first response is never replaced by a later one, a resolution
only by a later one, and a missing value never clears a stored one. Likewise ``started_at`` only moves
earlier and ``handled_at`` later; a CSAT rating sent again replaces the one stored. Replaying a batch
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.schemas import BillableEvent, ContractStatus
from bpo.core.errors import Conflict, FieldErrors, Invalid, field_error
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import REFRESH_HOURS_JOB, SLA_QUEUE
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.core.types import FIRST_DATE, FIRST_INSTANT, LAST_DATE, LAST_INSTANT, out_of_range
from bpo.work import schemas
from bpo.work.models import WorkItem
from bpo.work.voices import ingest as voices

# Clocks differ; an item "received" further ahead than this is a client bug, not skew.
MAX_FUTURE = timedelta(hours=1)

# The batch is copied (binary COPY) into a temporary table, then upserted in one statement that
# answers with counts and touched hours only: no per-item row comes back to Python.
STAGE_TABLE = "work_items_batch"
STAGE_COLUMNS = (
    "external_id",
    "kind",
    "channel",
    "priority",
    "received_at",
    "first_response_at",
    "resolved_at",
    "handled_by",
    "outcome",
    "sentiment",
    "units",
    "attributes",
    "csat",
    "started_at",
    "handled_at",
)
STAGE = text(
    """
    CREATE TEMPORARY TABLE work_items_batch (
        external_id text, kind text, channel text, priority text, received_at timestamptz,
        first_response_at timestamptz, resolved_at timestamptz, handled_by text, outcome text,
        sentiment text, units integer, attributes text, csat smallint, started_at timestamptz,
        handled_at timestamptz
    ) ON COMMIT DROP
    """
)
UNSTAGE = text("DROP TABLE work_items_batch")
# New rows take the batch's UUIDv7 with its last 16 bits replaced by the item's position: still
# time-ordered and unique (58 random bits per batch and millisecond), without a Python UUID per item.
UPSERT = text(
    """
    WITH changed AS (
        INSERT INTO work_items AS w (
            tenant_id, id, contract_id, external_id, kind, channel, priority, received_at,
            first_response_at, resolved_at, handled_by, outcome, sentiment, units, attributes, csat,
            started_at, handled_at
        )
        SELECT CAST(:tenant_id AS uuid),
               CAST(left(:batch_id, 32) || lpad(to_hex(b.position), 4, '0') AS uuid),
               CAST(:contract_id AS uuid), b.external_id, b.kind, b.channel, b.priority, b.received_at,
               b.first_response_at, b.resolved_at, b.handled_by, b.outcome, b.sentiment, b.units,
               CAST(b.attributes AS jsonb), b.csat, b.started_at, b.handled_at
        FROM (SELECT row_number() OVER () - 1 AS position, * FROM work_items_batch) AS b
        ON CONFLICT (tenant_id, contract_id, external_id) DO UPDATE SET
            first_response_at = LEAST(w.first_response_at, EXCLUDED.first_response_at),
            resolved_at = GREATEST(w.resolved_at, EXCLUDED.resolved_at),
            kind = COALESCE(EXCLUDED.kind, w.kind),
            channel = COALESCE(EXCLUDED.channel, w.channel),
            priority = COALESCE(EXCLUDED.priority, w.priority),
            handled_by = COALESCE(EXCLUDED.handled_by, w.handled_by),
            outcome = COALESCE(EXCLUDED.outcome, w.outcome),
            sentiment = COALESCE(EXCLUDED.sentiment, w.sentiment),
            units = EXCLUDED.units,
            attributes = w.attributes || EXCLUDED.attributes,
            csat = COALESCE(EXCLUDED.csat, w.csat),
            started_at = LEAST(w.started_at, EXCLUDED.started_at),
            handled_at = GREATEST(w.handled_at, EXCLUDED.handled_at),
            updated_at = now()
        WHERE (w.first_response_at, w.resolved_at, w.kind, w.channel, w.priority, w.handled_by, w.outcome,
               w.sentiment, w.units, w.attributes, w.csat, w.started_at, w.handled_at)
            IS DISTINCT FROM
              (LEAST(w.first_response_at, EXCLUDED.first_response_at),
               GREATEST(w.resolved_at, EXCLUDED.resolved_at),
               COALESCE(EXCLUDED.kind, w.kind), COALESCE(EXCLUDED.channel, w.channel),
               COALESCE(EXCLUDED.priority, w.priority), COALESCE(EXCLUDED.handled_by, w.handled_by),
               COALESCE(EXCLUDED.outcome, w.outcome), COALESCE(EXCLUDED.sentiment, w.sentiment),
               EXCLUDED.units, w.attributes || EXCLUDED.attributes, COALESCE(EXCLUDED.csat, w.csat),
               LEAST(w.started_at, EXCLUDED.started_at), GREATEST(w.handled_at, EXCLUDED.handled_at))
        RETURNING (w.xmax = 0) AS inserted, date_trunc('hour', w.received_at, 'UTC') AS hour
    )
    SELECT count(*) FILTER (WHERE inserted) AS created, count(*) AS changed,
           coalesce(array_agg(DISTINCT hour), '{}') AS hours
    FROM changed
    """
)
_encode_json = msgspec.json.Encoder().encode


def _plainly_valid(items: Sequence[schemas.WorkItemIn], now: datetime) -> bool:
    """The common case, checked in one cheap pass; any doubt goes to the full check that names errors."""
    if len({item.external_id for item in items}) != len(items):
        return False
    latest = now + MAX_FUTURE
    for item in items:
        received = item.received_at
        if received.tzinfo is None or received > latest or received < FIRST_INSTANT:
            return False
        for stamp in (item.first_response_at, item.resolved_at, item.started_at, item.handled_at):
            if stamp is not None and (stamp.tzinfo is None or stamp < received or stamp > LAST_INSTANT):
                return False
        if item.started_at is not None and item.handled_at is not None and item.handled_at < item.started_at:
            return False
        if item.attributes and len(_encode_json(item.attributes)) > schemas.MAX_ATTRIBUTES_BYTES:
            return False
        observed = item.voice.observed_at if item.voice is not None else None
        if observed is not None and (
            observed.tzinfo is None or observed > latest or observed < FIRST_INSTANT
        ):
            return False
    return True


def check_items(items: Sequence[schemas.WorkItemIn], now: datetime) -> FieldErrors:
    """Every problem of every item, each naming its index and field, so one answer fixes the batch."""
    if _plainly_valid(items, now):
        return []
    errors: FieldErrors = []
    seen: dict[str, int] = {}

    def bad(index: int, field: str, message: str) -> None:
        errors.append(field_error(f"items[{index}].{field}", message, index=index))

    for i, item in enumerate(items):
        if item.external_id in seen:
            bad(i, "external_id", f"repeats items[{seen[item.external_id]}] in this batch")
        seen.setdefault(item.external_id, i)
        stamps = {"received_at": item.received_at, "first_response_at": item.first_response_at}
        stamps.update(resolved_at=item.resolved_at, started_at=item.started_at, handled_at=item.handled_at)
        naive = [name for name, value in stamps.items() if value is not None and value.tzinfo is None]
        for name in naive:
            bad(i, name, "needs a UTC offset (e.g. 2026-10-01T09:00:00+09:00)")
        if naive:
            continue
        outside = [name for name, value in stamps.items() if out_of_range(value)]
        for name in outside:
            bad(i, name, f"must be from {FIRST_DATE} to {LAST_DATE} (in UTC)")
        if outside:
            continue
        if item.received_at > now + MAX_FUTURE:
            bad(i, "received_at", "is in the future")
        for name in ("first_response_at", "resolved_at", "started_at", "handled_at"):
            value = stamps[name]
            if value is not None and value < item.received_at:
                bad(i, name, "is before received_at")
        if item.started_at is not None and item.handled_at is not None and item.handled_at < item.started_at:
            bad(i, "handled_at", "is before started_at")
        if len(msgspec.json.encode(item.attributes)) > schemas.MAX_ATTRIBUTES_BYTES:
            bad(i, "attributes", f"larger than {schemas.MAX_ATTRIBUTES_BYTES} bytes of JSON")
    errors += voices.check_voices(items, now)
    return errors


async def _target_contract(session: AsyncSession, scope: Scope, batch: schemas.WorkItemBatch) -> uuid.UUID:
    if batch.contract_id is not None:
        contract = await contracts.get_contract_row(session, scope, batch.contract_id)
    elif batch.contract_code is not None:
        contract = await contracts.get_contract_row_by_code(session, scope, batch.contract_code)
    elif scope.contract_id is not None:
        contract = await contracts.get_contract_row(session, scope, scope.contract_id)
    else:
        raise Invalid(
            "Name the contract: contract_id or contract_code.",
            errors=[field_error("contract_id", "required (or contract_code)")],
        )
    if contract.status == ContractStatus.DRAFT.value:
        raise Conflict(
            f"Contract {contract.code} is a draft; activate it before sending work.",
            slug="contract-not-active",
        )
    return contract.id


def _stage_records(items: Sequence[schemas.WorkItemIn]) -> list[tuple[Any, ...]]:
    return [
        (
            item.external_id,
            item.kind,
            item.channel,
            item.priority,
            item.received_at,
            item.first_response_at,
            item.resolved_at,
            item.handled_by,
            item.outcome,
            item.sentiment,
            item.units,
            _encode_json(item.attributes).decode() if item.attributes else "{}",
            item.csat,
            item.started_at,
            item.handled_at,
        )
        for item in items
    ]


async def ingest(session: AsyncSession, scope: Scope, batch: schemas.WorkItemBatch) -> schemas.BatchResult:
    contract_id = await _target_contract(session, scope, batch)
    items = batch.items
    # Also bounds the positions that go into new ids (16 bits).
    if len(items) > schemas.MAX_BATCH:
        raise Invalid(
            f"At most {schemas.MAX_BATCH} items per batch.",
            errors=[field_error("items", f"more than {schemas.MAX_BATCH} items")],
        )
    errors = check_items(items, datetime.now(UTC))
    errors += await voices.check_categories(session, scope, contract_id, items)
    if errors:
        bad_items = sorted({e["index"] for e in errors})
        raise Invalid(
            f"{len(bad_items)} of {len(items)} items are invalid (indexes {bad_items[:20]}); "
            "nothing was written.",
            errors=errors,
        )
    await session.execute(STAGE)
    connection = (await (await session.connection()).get_raw_connection()).driver_connection
    assert connection is not None
    await connection.copy_records_to_table(STAGE_TABLE, records=_stage_records(items), columns=STAGE_COLUMNS)
    counts = (
        await session.execute(
            UPSERT,
            {
                "tenant_id": str(scope.tenant_id),
                "contract_id": str(contract_id),
                "batch_id": str(new_id()),
            },
        )
    ).one()
    await session.execute(UNSTAGE)
    voice_counts = await voices.upsert(session, scope, contract_id, items)
    if counts.hours:
        # Rollups of the touched hours are recomputed by a worker once this commits.
        outbox.enqueue(
            session,
            scope.tenant_id,
            REFRESH_HOURS_JOB,
            queue=SLA_QUEUE,
            contract_id=str(contract_id),
            hours=[hour.isoformat() for hour in sorted(counts.hours)],
        )
    return schemas.BatchResult(
        contract_id=contract_id,
        received=len(items),
        created=counts.created,
        updated=counts.changed - counts.created,
        unchanged=len(items) - counts.changed,
        voices=voice_counts,
    )


def item_view(item: WorkItem) -> schemas.WorkItem:
    return schemas.WorkItem(
        id=item.id,
        contract_id=item.contract_id,
        external_id=item.external_id,
        kind=item.kind,
        channel=item.channel,
        priority=item.priority,
        received_at=item.received_at,
        first_response_at=item.first_response_at,
        resolved_at=item.resolved_at,
        handled_by=item.handled_by,
        outcome=item.outcome,
        sentiment=item.sentiment,
        units=item.units,
        attributes=item.attributes,
        updated_at=item.updated_at,
        csat=item.csat,
        started_at=item.started_at,
        handled_at=item.handled_at,
    )


async def list_items(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    external_id: str | None = None,
) -> schemas.WorkItemPage:
    contract = await contracts.get_contract_row(session, scope, contract_id)
    statement = select(WorkItem).where(
        WorkItem.tenant_id == scope.tenant_id, WorkItem.contract_id == contract.id
    )
    if external_id is not None:
        statement = statement.where(WorkItem.external_id == external_id)
    rows, next_cursor = await paginate(session, statement, WorkItem.id, limit=limit, cursor=cursor)
    return schemas.WorkItemPage(items=[item_view(r) for r in rows], next_cursor=next_cursor)


_EVENT_TIMES = {
    BillableEvent.RECEIVED: WorkItem.received_at,
    BillableEvent.FIRST_RESPONSE: WorkItem.first_response_at,
    BillableEvent.RESOLVED: WorkItem.resolved_at,
}


async def units_by_day(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    event: BillableEvent,
    lower: datetime,
    upper: datetime,
    time_zone: str,
) -> dict[date, int]:
    """Sum of units of a contract's items whose ``event`` happened in [lower, upper), per local day."""
    at = _EVENT_TIMES[event]
    day = func.date(func.timezone(time_zone, at))
    rows = await session.execute(
        select(day, func.sum(WorkItem.units))
        .where(
            WorkItem.tenant_id == scope.tenant_id,
            WorkItem.contract_id == contract_id,
            at >= lower,
            at < upper,
        )
        .group_by(day)
    )
    return {row[0]: int(row[1]) for row in rows}


# A window of receipt: minutes after local midnight (from, to; past 1440 runs into the next day), or days.
ReceivedWindow = tuple[int, int] | frozenset[date]


async def metered_by_day(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    event: BillableEvent,
    lower: datetime,
    upper: datetime,
    time_zone: str,
    *,
    kinds: Sequence[str] = (),
    channels: Sequence[str] = (),
    outcomes: Sequence[str] = (),
    count_items: bool = False,
    window_zone: str = "UTC",
    windows: dict[str, ReceivedWindow] | None = None,
) -> dict[date, tuple[int, dict[str, int]]]:
    """What a billing meter counts, per local day of ``time_zone``: the units (or, ``count_items``, the
    number) of a contract's items whose ``event`` happened in [lower, upper) and whose kind, channel and
    outcome are among those listed (an empty list: any), and of those the ones received inside each of
    ``windows``, read in the local time of ``window_zone``."""
    at = _EVENT_TIMES[event]
    day = func.date(func.timezone(time_zone, at))
    received = func.timezone(window_zone, WorkItem.received_at)
    minute = func.date_part("hour", received) * 60 + func.date_part("minute", received)
    names = list(windows or {})
    columns = [func.count() if count_items else func.coalesce(func.sum(WorkItem.units), 0)]
    for window in (windows or {}).values():
        inside: Any
        if isinstance(window, frozenset):
            inside = func.date(received).in_(sorted(window))
        elif window[1] > 1440:
            inside = (minute >= window[0]) | (minute < window[1] - 1440)
        else:
            inside = (minute >= window[0]) & (minute < window[1])
        measured = func.count() if count_items else func.sum(WorkItem.units)
        columns.append(func.coalesce(measured.filter(inside), 0))
    statement = select(day, *columns).where(
        WorkItem.tenant_id == scope.tenant_id,
        WorkItem.contract_id == contract_id,
        at >= lower,
        at < upper,
    )
    for column, values in (
        (WorkItem.kind, kinds),
        (WorkItem.channel, channels),
        (WorkItem.outcome, outcomes),
    ):
        if values:
            statement = statement.where(column.in_(list(values)))
    rows = await session.execute(statement.group_by(day))
    return {
        row[0]: (int(row[1]), {name: int(value) for name, value in zip(names, row[2:], strict=True)})
        for row in rows
    }
