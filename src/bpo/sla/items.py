"""Work items with their SLA results: search (``GET /v1/work-items`` and its CSV), one item with its
timeline, and the items behind a dashboard figure.

Per-item results are not stored: the rollups keep counts per hour. An item's result per objective is
measured here by ``engine.measure``, as the rollups and alerts measure it, for the items of a page. The
``objective``/``status`` filter must find items among millions, so it runs in SQL on the stored instants:
for a calendar-time objective the elapsed time is a subtraction; for a business-hours objective it is
the difference of the calendar's cumulative open time at two instants, read from the calendar's open
intervals over the searched span (bound as arrays; ``width_bucket`` finds an instant's interval by
bisection). Both give exactly the status ``engine.measure`` gives, ``at_risk`` being a pending item past
the at-risk share of its threshold.
"""

from __future__ import annotations

import csv
import io
import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.clients.schemas import Metric, Objective, SlaClock, SlaPolicy
from bpo.core.business_time import Calendar, add_business, open_intervals
from bpo.core.errors import FieldErrors, NotFound, field_error, raise_if
from bpo.core.scope import Scope
from bpo.sla import engine, schemas
from bpo.sla.rollups import objective_key
from bpo.work import search
from bpo.work.models import WorkItem
from bpo.work.service import MAX_FUTURE

# The status filter measures every item of the span searched: a year and a bit, as the dashboards.
MAX_STATUS_SPAN = timedelta(days=400)
EXPORT_CHUNK = 1_000
CSV_COLUMNS = (
    "id",
    "contract_id",
    "contract_code",
    "external_id",
    "received_at",
    "first_response_at",
    "resolved_at",
    "kind",
    "channel",
    "priority",
    "handled_by",
    "outcome",
    "sentiment",
    "units",
    "summary",
    "tags",
    "sla",
)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class StatusFilter:
    objective: str
    # Any of these (the dashboard's "pending" is pending or at risk).
    statuses: tuple[schemas.ItemStatus, ...]


def parse_status(
    filters: search.Filters,
    objective: str | None,
    status: schemas.ItemStatus | Sequence[schemas.ItemStatus] | None,
    now: datetime,
) -> StatusFilter | None:
    """The objective/status filter, which needs both and a bounded span of receipt."""
    if objective is None and status is None:
        return None
    errors: FieldErrors = []
    if objective is None:
        errors.append(field_error("query.objective", "name the objective whose status to filter by"))
    if not status:
        errors.append(field_error("query.status", "give the status to filter by"))
    if filters.received_from is None:
        errors.append(field_error("query.received_from", "required with a status filter"))
    elif (filters.received_to or now) - filters.received_from > MAX_STATUS_SPAN:
        errors.append(
            field_error("query.received_from", f"at most {MAX_STATUS_SPAN.days} days before received_to")
        )
    raise_if(errors)
    assert objective is not None
    assert status
    statuses = (status,) if isinstance(status, str) else tuple(dict.fromkeys(status))
    return StatusFilter(objective, statuses)


# --- contracts, calendars and objective versions -------------------------------------------------


def _seconds(span: timedelta) -> Decimal:
    return Decimal(span // _MICROSECOND) / 1_000_000


def _local_midnight(day: Any, calendar: Calendar) -> datetime:
    return datetime.combine(day, time(), calendar.tz).astimezone(UTC)


@dataclass
class _Measured:
    """A contract as its items are measured: its calendar (holidays for ``years``) and SLA versions."""

    contract: Contract
    calendar_row: Any
    policies: list[SlaPolicy]
    years: range = range(0)
    calendar: Calendar | None = None

    def calendar_for(self, *instants: datetime) -> Calendar:
        wanted = range(min(i.year for i in instants) - 1, max(i.year for i in instants) + 2)
        if self.calendar is None or wanted.start < self.years.start or wanted.stop > self.years.stop:
            self.years = range(
                min(wanted.start, self.years.start or wanted.start), max(wanted.stop, self.years.stop)
            )
            self.calendar = clients.business_calendar(self.calendar_row, self.years)
        return self.calendar

    def version_bounds(self, policy: SlaPolicy, calendar: Calendar) -> tuple[datetime, datetime | None]:
        lower = _local_midnight(policy.effective_from, calendar)
        if policy.effective_to is None:
            return lower, None
        return lower, _local_midnight(policy.effective_to + timedelta(days=1), calendar)


def _item_objectives(policy: SlaPolicy | None) -> list[Objective]:
    if policy is None:
        return []
    return [o for o in policy.objectives if o.metric != Metric.COVERAGE and o.threshold is not None]


async def _measured(
    session: AsyncSession, scope: Scope, rows: Sequence[Contract]
) -> dict[uuid.UUID, _Measured]:
    policies = await contracts.policies_of(session, scope, [row.id for row in rows])
    calendars: dict[uuid.UUID, Any] = {}
    measured = {}
    for row in rows:
        if row.calendar_id not in calendars:
            calendars[row.calendar_id] = await clients.get_calendar_row(session, scope, row.calendar_id)
        measured[row.id] = _Measured(row, calendars[row.calendar_id], policies[row.id])
    return measured


# --- one item's results ------------------------------------------------------------------------


def item_results(measured: _Measured, item: WorkItem, now: datetime) -> list[schemas.ObjectiveResult]:
    times = engine.ItemTimes(
        item.received_at, item.first_response_at, item.resolved_at, item.priority, item.channel
    )
    calendar = measured.calendar_for(times.received_at, now)
    policy = contracts.in_force(measured.policies, times.received_at.astimezone(calendar.tz).date())
    results = []
    for objective in _item_objectives(policy):
        if not engine.applies(objective, times):
            continue
        try:
            measurement = engine.measure(objective, times, calendar, now)
        except engine.UnmeasurableObjective:
            # A stored version measurement cannot take: the dashboard says why; the item shows no result.
            continue
        status: schemas.ItemStatus = measurement.status.value
        if measurement.status is engine.Status.PENDING and now >= measurement.at_risk_at:
            status = "at_risk"
        assert objective.threshold is not None
        results.append(
            schemas.ObjectiveResult(
                objective=objective_key(objective),
                metric=objective.metric.value,
                clock=objective.clock.value,
                threshold=objective.threshold,
                status=status,
                due_at=measurement.due_at,
                at_risk_at=measurement.at_risk_at,
                breached_at=measurement.breached_at,
                answered_at=measurement.stopped_at,
                elapsed_seconds=int(measurement.elapsed.total_seconds()),
            )
        )
    return results


def _summary(item: WorkItem) -> str | None:
    summary = item.attributes.get("summary")
    return summary if isinstance(summary, str) else None


def _tags(item: WorkItem) -> list[str]:
    tags = item.attributes.get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def found_item(measured: _Measured, item: WorkItem, now: datetime) -> schemas.FoundItem:
    return schemas.FoundItem(
        id=item.id,
        contract_id=item.contract_id,
        contract_code=measured.contract.code,
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
        summary=_summary(item),
        tags=_tags(item),
        attributes=item.attributes,
        updated_at=item.updated_at,
        sla=item_results(measured, item, now),
        csat=item.csat,
        started_at=item.started_at,
        handled_at=item.handled_at,
    )


# --- the status filter in SQL ------------------------------------------------------------------


@dataclass
class _OpenTime:
    """A calendar's cumulative open time from ``start``: exact up to ``end``, and counted as open after
    it (only ever reached by instants past every due instant of the span, so the status holds)."""

    start: datetime
    end: datetime
    opens: list[datetime]
    closes: list[datetime]
    before: list[Decimal]
    total: Decimal

    @classmethod
    def of(cls, calendar: Calendar, start: datetime, end: datetime) -> _OpenTime:
        intervals = open_intervals(calendar, start, end) or [(start, start)]
        before, total = [], Decimal(0)
        for opens, closes in intervals:
            before.append(total)
            total += _seconds(closes - opens)
        return cls(start, end, [o for o, _ in intervals], [c for _, c in intervals], before, total)

    def at(self, instant: datetime) -> Decimal:
        if instant >= self.end:
            return self.total + _seconds(instant - self.end)
        i = bisect_right(self.opens, instant) - 1
        if i < 0:
            return Decimal(0)
        return self.before[i] + _seconds(min(instant, self.closes[i]) - self.opens[i])


@dataclass
class _Sql:
    """A SQL fragment's values, each bound under a fresh name (never written into the SQL)."""

    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"sla_{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {sql_type})"

    def open_seconds(self, instant: str, open_time: _OpenTime) -> str:
        """``open_time.at(instant)`` in SQL."""
        opens = self.bind(open_time.opens, "timestamptz[]")
        closes = self.bind(open_time.closes, "timestamptz[]")
        before = self.bind(open_time.before, "numeric[]")
        end = self.bind(open_time.end, "timestamptz")
        total = self.bind(open_time.total, "numeric")
        i = f"width_bucket({instant}, {opens})"
        return (
            f"(CASE WHEN {instant} >= {end} THEN {total} + extract(epoch FROM {instant} - {end}) "
            f"ELSE coalesce(({before})[{i}] + extract(epoch FROM least({instant}, ({closes})[{i}]) "
            f"- ({opens})[{i}]), 0) END)"
        )


_RECEIVED = "work_items.received_at"
_STOPS = {
    Metric.FIRST_RESPONSE: "least(work_items.first_response_at, work_items.resolved_at)",
    Metric.RESOLUTION: "work_items.resolved_at",
}


def _status_sql(
    sql: _Sql, objective: Objective, wanted: schemas.ItemStatus, open_time: _OpenTime | None, now: datetime
) -> str:
    assert objective.threshold is not None
    threshold = engine.duration(objective.threshold)
    limit = sql.bind(_seconds(threshold), "numeric")
    risk = sql.bind(_seconds(threshold * objective.at_risk_percent / 100), "numeric")
    stop = _STOPS[objective.metric]
    if open_time is None:
        answered = f"extract(epoch FROM {stop} - {_RECEIVED})"
        so_far = f"extract(epoch FROM {sql.bind(now, 'timestamptz')} - {_RECEIVED})"
    else:
        received = sql.open_seconds(_RECEIVED, open_time)
        answered = f"({sql.open_seconds(stop, open_time)} - {received})"
        so_far = f"({sql.bind(open_time.at(now), 'numeric')} - {received})"
    if wanted == "met":
        return f"({stop} IS NOT NULL AND {answered} <= {limit})"
    if wanted == "breached":
        return f"(({stop} IS NOT NULL AND {answered} > {limit}) OR ({stop} IS NULL AND {so_far} > {limit}))"
    risky = ">=" if wanted == "at_risk" else "<"
    return f"({stop} IS NULL AND {so_far} <= {limit} AND {so_far} {risky} {risk})"


def _status_condition(
    measured: _Measured, wanted: StatusFilter, start: datetime, upper: datetime, now: datetime
) -> ColumnElement[bool]:
    """The items of one contract received in [start, upper) whose result for the objective is
    one of ``wanted.statuses``, each under the objective version in force when it was received."""
    calendar = measured.calendar_for(start, upper, now)
    chosen = [
        (policy, objective)
        for policy in measured.policies
        for objective in _item_objectives(policy)
        if objective_key(objective) == wanted.objective
    ]
    if not chosen or upper <= start:
        return false()
    open_time = None
    business = [o for _, o in chosen if o.clock == SlaClock.BUSINESS_HOURS]
    if business:
        longest = max(engine.duration(o.threshold or "0s") for o in business)
        # Every item received before ``upper`` is due before this, so the open time after it never matters.
        end = add_business(calendar, upper, longest + timedelta(hours=1))
        open_time = _OpenTime.of(calendar, start, end)
    sql = _Sql()
    alternatives = []
    for policy, objective in chosen:
        lower, version_end = measured.version_bounds(policy, calendar)
        parts = [
            f"work_items.contract_id = {sql.bind(measured.contract.id, 'uuid')}",
            f"{_RECEIVED} >= {sql.bind(max(lower, start), 'timestamptz')}",
        ]
        if version_end is not None:
            parts.append(f"{_RECEIVED} < {sql.bind(version_end, 'timestamptz')}")
        if objective.priorities:
            parts.append(f"work_items.priority = ANY({sql.bind(list(objective.priorities), 'text[]')})")
        if objective.channels:
            parts.append(f"work_items.channel = ANY({sql.bind(list(objective.channels), 'text[]')})")
        clock = open_time if objective.clock == SlaClock.BUSINESS_HOURS else None
        statuses = [_status_sql(sql, objective, status, clock, now) for status in wanted.statuses]
        parts.append("(" + " OR ".join(statuses) + ")")
        alternatives.append("(" + " AND ".join(parts) + ")")
    fragment = "(" + " OR ".join(alternatives) + ")"
    # Only the values the fragment uses (a status needs only some of the expressions built for it).
    used = {name: value for name, value in sql.params.items() if f":{name} AS " in fragment}
    return text(fragment).bindparams(**used)  # type: ignore[return-value]


# --- searching ---------------------------------------------------------------------------------


@dataclass
class Search:
    """A checked search: the contracts it covers, measured, and its SQL conditions."""

    filters: search.Filters
    measured: dict[uuid.UUID, _Measured]
    conditions: list[ColumnElement[bool]]
    now: datetime

    async def page(
        self, session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None
    ) -> schemas.FoundItemPage:
        statement = search.statement(
            scope,
            list(self.measured),
            self.filters,
            *self.conditions,
            *search.after(search.decode_cursor(cursor)),
        )
        rows = (await session.scalars(statement.limit(limit + 1))).all()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = search.encode_cursor(rows[-1].received_at, rows[-1].id)
        items = [found_item(self.measured[row.contract_id], row, self.now) for row in rows]
        return schemas.FoundItemPage(items=items, next_cursor=next_cursor)


async def prepare(
    session: AsyncSession,
    scope: Scope,
    filters: search.Filters,
    status: StatusFilter | None,
    now: datetime,
) -> Search:
    """Check the contracts named (another client's or tenant's is 404, as a missing one) and build the
    conditions of the status filter."""
    rows = await search.visible_contracts(session, scope, filters.contracts, filters.client_id)
    measured = await _measured(session, scope, rows)
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        assert filters.received_from is not None
        upper = min(filters.received_to or now + MAX_FUTURE, now + MAX_FUTURE)
        per_contract = [
            _status_condition(m, status, filters.received_from, upper, now) for m in measured.values()
        ]
        conditions.append(or_(false(), *per_contract))
    return Search(filters, measured, conditions, now)


async def find(
    session: AsyncSession,
    scope: Scope,
    filters: search.Filters,
    status: StatusFilter | None,
    *,
    limit: int,
    cursor: str | None,
    now: datetime | None = None,
) -> schemas.FoundItemPage:
    prepared = await prepare(session, scope, filters, status, now or datetime.now(UTC))
    return await prepared.page(session, scope, limit=limit, cursor=cursor)


# --- CSV ---------------------------------------------------------------------------------------


def _stamp(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def csv_row(item: schemas.FoundItem) -> list[str]:
    return [
        str(item.id),
        str(item.contract_id),
        item.contract_code,
        item.external_id,
        _stamp(item.received_at),
        _stamp(item.first_response_at),
        _stamp(item.resolved_at),
        item.kind or "",
        item.channel or "",
        item.priority or "",
        item.handled_by or "",
        item.outcome or "",
        item.sentiment or "",
        str(item.units),
        item.summary or "",
        " ".join(item.tags),
        " ".join(f"{result.objective}={result.status}" for result in item.sla),
    ]


def _csv_text(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def csv_chunks(tenant_session: Any, scope: Scope, prepared: Search) -> AsyncIterator[bytes]:
    """The search as CSV, a chunk of rows at a time, read in a transaction of its own
    (``tenant_session``: the runtime's tenant transaction) so nothing is held in memory."""
    yield "\ufeff".encode() + _csv_text([CSV_COLUMNS])
    async with tenant_session(scope.tenant_id) as session:
        cursor = None
        while True:
            page = await prepared.page(session, scope, limit=EXPORT_CHUNK, cursor=cursor)
            yield _csv_text([csv_row(item) for item in page.items])
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


# --- one item ----------------------------------------------------------------------------------


async def get_item(
    session: AsyncSession, scope: Scope, item_id: uuid.UUID, now: datetime | None = None
) -> schemas.WorkItemDetail:
    """The item, if it belongs to a contract the caller may see (else 404, as a missing one)."""
    item = await session.scalar(
        select(WorkItem).where(
            WorkItem.tenant_id == scope.tenant_id,
            WorkItem.id == item_id,
            WorkItem.contract_id.in_(contracts.visible_contracts(scope).with_only_columns(Contract.id)),
        )
    )
    if item is None:
        raise NotFound(f"Work item {item_id} not found.")
    contract = await contracts.get_contract_row(session, scope, item.contract_id)
    measured = (await _measured(session, scope, [contract]))[contract.id]
    found = found_item(measured, item, now or datetime.now(UTC))
    timeline = [schemas.TimelineEvent(event="received", at=item.received_at)]
    if item.first_response_at is not None:
        timeline.append(schemas.TimelineEvent(event="first_response", at=item.first_response_at))
    if item.resolved_at is not None:
        timeline.append(schemas.TimelineEvent(event="resolved", at=item.resolved_at))
    if item.started_at is not None:
        timeline.append(schemas.TimelineEvent(event="started", at=item.started_at))
    if item.handled_at is not None:
        timeline.append(schemas.TimelineEvent(event="handled", at=item.handled_at))
    timeline.sort(key=lambda event: event.at)
    return schemas.WorkItemDetail(
        **{name: getattr(found, name) for name in found.__struct_fields__},
        contract_name=contract.name,
        client_id=contract.client_id,
        timeline=timeline,
    )
