"""Work-item ingestion: idempotent bulk upserts keyed by (tenant, contract, external_id).

Timestamps only move forward: an earlier first response is never replaced by a later one, a resolution
only by a later one, and a missing value never clears a stored one. Likewise ``started_at`` only moves
earlier and ``handled_at`` later; a CSAT rating sent again replaces the one stored. Replaying a batch
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.rules import MINUTES_PER_DAY
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
# answers with counts and touched hours only: no per-item row comes back to Python. The same statement
# records each touched hour in rollup_batches, for the refresh that follows.
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
    ),
    -- What the hours' rollups do not hold yet (sla.rollups takes these rows with the items they name).
    recorded AS (
        INSERT INTO rollup_batches (tenant_id, contract_id, hour, batch_id, changed)
        SELECT CAST(:tenant_id AS uuid), CAST(:contract_id AS uuid), hour, CAST(:batch_id AS uuid),
               NOT bool_and(inserted)
        FROM changed GROUP BY hour
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
            batches=True,
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


_EVENT_COLUMNS = {
    BillableEvent.RECEIVED: "received_at",
    BillableEvent.FIRST_RESPONSE: "first_response_at",
    BillableEvent.RESOLVED: "resolved_at",
}
# A night window: minutes after local midnight, from and to (past 1440 it runs into the next day).
NightWindow = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Items of the listed kinds, channels and outcomes (an empty list: any)."""

    kinds: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiptWindow:
    """Items of the contracts ``contract_ids`` received inside a window on the clock of ``zone``: the
    night window ``night``, or else on one of the local dates ``days`` (holidays)."""

    zone: str
    contract_ids: tuple[uuid.UUID, ...]
    night: NightWindow | None = None
    days: tuple[date, ...] = ()
    # From when until when (both inclusive) the zone keeps which UTC offset, if known
    # (``business_time.steady_offset``).
    steady: tuple[datetime, datetime, timedelta] | None = None


@dataclass(frozen=True, slots=True)
class Measure:
    """What one of an aggregate's columns counts: the items passing filter number ``filter`` and, unless
    ``window`` is None, received inside window number ``window``; their number (``items``) or units."""

    filter: int
    window: int | None = None
    items: bool = False


class MeteredGroup(NamedTuple):
    """Items of a contract whose event happened in span ``span`` of the aggregate's cuts: what each
    measure of the aggregate counts of them."""

    contract_id: uuid.UUID
    span: int
    values: tuple[int, ...]


def _clock(minutes: int) -> str:
    return f"'{minutes // 60:02d}:{minutes % 60:02d}'"


def _window_condition(number: int, window: ReceiptWindow, params: dict[str, Any]) -> str:
    """Whether an item is one of the window's contracts' and was received inside it (the contract is
    looked at first: most items are not asked about their receipt)."""
    params[f"window_contracts_{number}"] = list(window.contract_ids)
    params[f"window_zone_{number}"] = window.zone
    local = f"timezone(CAST(:window_zone_{number} AS text), w.received_at)"
    if window.steady is not None:
        # Where the zone keeps one offset, the clock is the instant plus that offset: PostgreSQL reads a zone
        # by its name anew for every item, which costs a month-end run more than the rest of its window.
        since, until, offset = window.steady
        params[f"window_since_{number}"], params[f"window_until_{number}"] = since, until
        params[f"window_offset_{number}"] = offset
        local = (
            f"CASE WHEN w.received_at >= :window_since_{number} AND w.received_at <= :window_until_{number} "
            f"THEN timezone(CAST(:window_offset_{number} AS interval), w.received_at) ELSE {local} END"
        )
    ours = f"w.contract_id = ANY(CAST(:window_contracts_{number} AS uuid[]))"
    if window.night is None:
        params[f"window_days_{number}"] = list(window.days)
        return f"{ours} AND CAST({local} AS date) = ANY(CAST(:window_days_{number} AS date[]))"
    # One reading of the local clock: turned back to the window's start (time of day wraps at midnight),
    # it is inside when it is less than the window's length.
    start, end = int(window.night[0]), int(window.night[1])
    if end - start >= MINUTES_PER_DAY:
        return ours
    since_start = f"CAST({local} AS time) + CAST({_clock(MINUTES_PER_DAY - start)} AS interval)"
    return f"{ours} AND {since_start} < CAST({_clock(end - start)} AS time)"


def _filter_condition(number: int, item_filter: ItemFilter, params: dict[str, Any]) -> str | None:
    conditions = []
    for column, values in (
        ("kind", item_filter.kinds),
        ("channel", item_filter.channels),
        ("outcome", item_filter.outcomes),
    ):
        if len(values) == 1:
            conditions.append(f"w.{column} = CAST(:{column}_{number} AS text)")
            params[f"{column}_{number}"] = values[0]
        elif values:
            conditions.append(f"w.{column} = ANY(CAST(:{column}_{number} AS text[]))")
            params[f"{column}_{number}"] = list(values)
    return " AND ".join(conditions) or None


_CUSTOM_PLANS = text(
    "SELECT current_setting('plan_cache_mode'), set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_RESTORE_PLANS = text("SELECT set_config('plan_cache_mode', :mode, true)")


@asynccontextmanager
async def planned_with_values(session: AsyncSession) -> AsyncIterator[None]:
    """Inside: statements are planned with their values. A plan made once for any values (which PostgreSQL
    may settle on for a prepared statement run often) looks through the contract lists of
    ``metered_groups`` item by item instead of hashing them. The mode is put back after, for the rest of
    the transaction: the foreign-key checks of a thousand inserted rows must keep their cached plans."""
    previous = (await session.execute(_CUSTOM_PLANS)).scalar_one()
    yield
    await session.execute(_RESTORE_PLANS, {"mode": previous})


async def metered_groups(
    session: AsyncSession,
    scope: Scope,
    event: BillableEvent,
    cuts: Sequence[datetime],
    contract_ids: Sequence[uuid.UUID],
    *,
    filters: Sequence[ItemFilter] = (ItemFilter(),),
    windows: Sequence[ReceiptWindow] = (),
    measures: Sequence[Measure] | None = None,
) -> list[MeteredGroup]:
    """What billing meters count, for many contracts and meters in one aggregate: the units or the number
    of the contracts' items whose ``event`` happened from the first of ``cuts`` to the last, for each of
    ``measures`` (a filter, inside a window of receipt or not; by default the units of each filter),
    grouped by contract and span between two cuts. Run it inside ``planned_with_values``.

    Windows are filtered sums, not groups: the groups stay a few per contract, so PostgreSQL aggregates
    in parallel as it does a plain sum per contract; with only two cuts there is one span and no span to
    group by."""
    measures = [Measure(number) for number in range(len(filters))] if measures is None else measures
    if len(cuts) < 2 or not contract_ids or not measures:
        return []
    at = _EVENT_COLUMNS[event]
    params: dict[str, Any] = {
        "tenant_id": scope.tenant_id,
        "contract_ids": list(contract_ids),
        "lower": cuts[0],
        "upper": cuts[-1],
    }
    span, group = "0", "1"
    if len(cuts) > 2:
        span, group = f"width_bucket(w.{at}, CAST(:cuts AS timestamptz[])) - 1", "1, 2"
        params["cuts"] = list(cuts)
    conditions = [_filter_condition(number, f, params) for number, f in enumerate(filters)]
    inside = [_window_condition(number, window, params) for number, window in enumerate(windows)]
    columns = []
    for measure in measures:
        condition = " AND ".join(
            f"({c})"
            for c in (conditions[measure.filter], None if measure.window is None else inside[measure.window])
            if c is not None
        )
        counted = "count(*)" if measure.items else "sum(w.units)"
        columns.append(
            f"coalesce({counted} FILTER (WHERE {condition}), 0)" if condition else f"coalesce({counted}, 0)"
        )
    # Items no filter counts are left out, unless one filter counts them all.
    wanted = "" if None in conditions else " AND (" + " OR ".join(f"({c})" for c in conditions) + ")"
    # Only column names of _EVENT_COLUMNS, integers, clock times and fixed text are put in; values are
    # parameters.
    statement = text(
        f"""
        SELECT w.contract_id, {span} AS span, {", ".join(columns)}
        FROM work_items AS w
        WHERE w.tenant_id = :tenant_id AND w.contract_id = ANY(CAST(:contract_ids AS uuid[]))
          AND w.{at} >= :lower AND w.{at} < :upper{wanted}
        GROUP BY {group}
        """  # noqa: S608
    )
    rows = await session.execute(statement, params)
    return [MeteredGroup(row[0], row[1], tuple(row[2:])) for row in rows]
