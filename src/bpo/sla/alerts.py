"""SLA alerts: an item at risk (a share of its threshold elapsed, ``at_risk_percent`` of the objective,
80% by default), an item breached (pending past its threshold, or answered late), and a day whose
attainment fell below target. Each is a row of ``alerts`` whose unique key (kind, contract, objective,
item or local day) makes it happen once: ``INSERT … ON CONFLICT DO NOTHING`` decides, and only an
inserted alert becomes a webhook event, in the same transaction.

Detection, without instants stored per item:
- ``sla.detect_alerts`` runs every minute per tenant and looks at the window (last sweep, now]. An at-risk
  or breach instant is ``received_at`` plus a fixed amount of the objective's clock, so the items whose
  instant fell in the window were received in a window found by walking the contract calendar back from
  its ends (``receipts_from``/``receipts_until``); only pending items received then are read, through
  the ``(tenant_id, contract_id, received_at)`` index of ``work_items``. A window reaches back at most
  MAX_LOOKBACK: instants missed while detection was stopped for longer are not alerted (the dashboards
  still count them). It goes contract by contract: one whose stored objectives cannot be measured is
  recorded as the job's failure on that contract and stops none of the others.
- ``sla.refresh_hours`` (after each ingest) checks the items ingest created or changed, for what the
  sweep cannot see: an item that arrived already at risk or late, or was answered late before a sweep
  ran (all the items of an hour where items changed; only the new ones of an hour that only gained
  items). It alerts instants of the last RECENT only, so loading history does not replay old breaches.
- A day (in the client's zone) is judged DAILY_SETTLE after it ends, from the hourly rollups: the
  attainment of the items decided by then, against the target of the objective version in force that
  day.

Lag: an alert follows its instant by up to a minute (the sweep period) plus queueing, and its webhook
by the outbox relay (immediate from the API, within ~15 s from workers) and the delivery job.

Reading alerts and acting on them (acknowledge, assign, resolve) is ``alert_handling``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Contract
from bpo.clients.schemas import ContractStatus, Metric, Objective, SlaClock, SlaPolicy
from bpo.core.business_time import Calendar, open_intervals
from bpo.core.jobs.failures import Failures
from bpo.core.orm import new_id
from bpo.core.scope import Scope
from bpo.delivery import webhooks
from bpo.sla import engine
from bpo.sla.models import Alert, AlertSweep, SlaHourly
from bpo.sla.rollups import CONTRACT, hour_ranges, objective_key
from bpo.work.models import WorkItem

MAX_LOOKBACK = timedelta(hours=6)
RECENT = timedelta(hours=24)
# Items of a day's last minutes are pushed, and its rollups refreshed, a little after midnight.
DAILY_SETTLE = timedelta(minutes=30)
# How far back business time is searched (as the calendar functions do): older receipts are ignored.
SEARCH_LIMIT = timedelta(days=400)
INSERT_BATCH = 1_000


class Kind(StrEnum):
    AT_RISK = "at_risk"
    BREACHED = "breached"
    DAILY_BELOW_TARGET = "daily_below_target"


EVENT_TYPES = {
    Kind.AT_RISK: "sla.at_risk",
    Kind.BREACHED: "sla.breached",
    Kind.DAILY_BELOW_TARGET: "sla.daily_below_target",
}


# --- pure ---------------------------------------------------------------------------------------


def _walk_back(calendar: Calendar, end: datetime, offset: timedelta, *, inclusive: bool) -> datetime:
    """The instant before ``end`` with exactly ``offset`` of open time between it and ``end``: the
    latest such instant when ``inclusive``, else the earliest."""
    span = max(offset * 3, timedelta(days=7))
    while True:
        remaining = offset
        for opens, closes in reversed(open_intervals(calendar, end - span, end)):
            length = closes - opens
            if remaining < length or (inclusive and remaining == length):
                return closes - remaining
            remaining -= length
        if span >= SEARCH_LIMIT:
            return end - span
        span = min(span * 2, SEARCH_LIMIT)


def receipts_until(calendar: Calendar, clock: SlaClock, end: datetime, offset: timedelta) -> datetime:
    """The latest receipt whose clock has run at least ``offset`` by ``end``: every item received up to
    it has reached ``offset`` by then."""
    if clock != SlaClock.BUSINESS_HOURS:
        return end - offset
    if not offset:
        return end
    return _walk_back(calendar, end, offset, inclusive=True)


def receipts_from(calendar: Calendar, clock: SlaClock, end: datetime, offset: timedelta) -> datetime:
    """The earliest receipt whose clock has run at most ``offset`` by ``end``: every item received
    before it passed ``offset`` before ``end``."""
    if clock != SlaClock.BUSINESS_HOURS:
        return end - offset
    return _walk_back(calendar, end, offset, inclusive=False)


def item_alert(
    measurement: engine.Measurement, since: datetime, now: datetime
) -> tuple[Kind, datetime] | None:
    """The alert an item's measurement at ``now`` calls for, if its instant fell in (since, now]: at
    risk while still pending, breached once breached (pending or answered late)."""
    if measurement.status is engine.Status.PENDING and since < measurement.at_risk_at <= now:
        return Kind.AT_RISK, measurement.at_risk_at
    breached_at = measurement.breached_at
    if measurement.status is engine.Status.BREACHED and breached_at and since < breached_at <= now:
        return Kind.BREACHED, breached_at
    return None


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def days_ended(zone: ZoneInfo, start: datetime, now: datetime, settle: timedelta) -> list[date]:
    """Local days whose end plus ``settle`` fell in (start, now]; consecutive windows share none."""
    days = []
    following = (start - settle).astimezone(zone).date()
    last = (now - settle).astimezone(zone).date()
    while following <= last:
        if start < local_midnight(following, zone) + settle <= now:
            days.append(following - timedelta(days=1))
        following += timedelta(days=1)
    return days


def _merge(ranges: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lower, upper in sorted(ranges):
        if merged and lower <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], upper))
        else:
            merged.append((lower, upper))
    return merged


def _item_objectives(policy: SlaPolicy) -> list[Objective]:
    return [o for o in policy.objectives if o.metric != Metric.COVERAGE and o.threshold is not None]


# --- detection ----------------------------------------------------------------------------------


@dataclass
class _Contract:
    row: Contract
    calendar: Calendar
    client_zone: ZoneInfo
    policies: list[SlaPolicy]

    def version_bounds(self, policy: SlaPolicy) -> tuple[datetime, datetime | None]:
        """Receipts measured by ``policy``: from its first local day to the end of its last."""
        zone = self.calendar.tz
        lower = local_midnight(policy.effective_from, zone)
        if policy.effective_to is None:
            return lower, None
        return lower, local_midnight(policy.effective_to + timedelta(days=1), zone)


@dataclass(frozen=True)
class _Found:
    kind: Kind
    contract: Contract
    objective: str
    subject: str
    occurred_at: datetime
    detail: dict[str, Any]
    work_item_id: uuid.UUID | None = None
    day: date | None = None


@dataclass
class _Calendars:
    """Each calendar built once per run, however many contracts share it."""

    years: range
    built: dict[uuid.UUID, Calendar] = field(default_factory=dict)

    async def get(self, session: AsyncSession, scope: Scope, calendar_id: uuid.UUID) -> Calendar:
        if calendar_id not in self.built:
            row = await clients.get_calendar_row(session, scope, calendar_id)
            self.built[calendar_id] = clients.business_calendar(row, self.years)
        return self.built[calendar_id]


async def _context(
    session: AsyncSession, scope: Scope, contract: Contract, calendars: _Calendars
) -> _Contract:
    client = await clients.get_client_row(session, scope, contract.client_id)
    return _Contract(
        row=contract,
        calendar=await calendars.get(session, scope, contract.calendar_id),
        client_zone=ZoneInfo(client.time_zone),
        policies=await contracts.list_sla_policies(session, scope, contract.id),
    )


_ITEM_COLUMNS = (
    WorkItem.id,
    WorkItem.external_id,
    WorkItem.received_at,
    WorkItem.first_response_at,
    WorkItem.resolved_at,
    WorkItem.priority,
    WorkItem.channel,
)


def _evaluate(ctx: _Contract, rows: Sequence[Any], since: datetime, now: datetime) -> list[_Found]:
    found = []
    for row in rows:
        times = engine.ItemTimes(
            row.received_at, row.first_response_at, row.resolved_at, row.priority, row.channel
        )
        policy = contracts.in_force(ctx.policies, times.received_at.astimezone(ctx.calendar.tz).date())
        for objective in _item_objectives(policy) if policy else []:
            if not engine.applies(objective, times):
                continue
            if engine.met_when_stopped(objective, times, ctx.calendar):
                continue  # met: no alert to raise, whatever its due instant
            measurement = engine.measure(objective, times, ctx.calendar, now)
            hit = item_alert(measurement, since, now)
            if hit is None:
                continue
            kind, instant = hit
            found.append(
                _Found(
                    kind=kind,
                    contract=ctx.row,
                    objective=objective_key(objective),
                    subject=str(row.id),
                    occurred_at=instant,
                    work_item_id=row.id,
                    detail={
                        **_objective_detail(ctx.row, objective),
                        "work_item": {
                            "id": str(row.id),
                            "external_id": row.external_id,
                            "received_at": times.received_at.isoformat(),
                            "priority": row.priority,
                            "channel": row.channel,
                        },
                        "at_risk_at": measurement.at_risk_at.isoformat(),
                        "due_at": measurement.due_at.isoformat(),
                        "breached_at": measurement.breached_at and measurement.breached_at.isoformat(),
                        "answered_at": measurement.stopped_at and measurement.stopped_at.isoformat(),
                    },
                )
            )
    return found


def _objective_detail(contract: Contract, objective: Objective) -> dict[str, Any]:
    return {
        "contract_code": contract.code,
        "metric": objective.metric.value,
        "threshold": objective.threshold,
        "clock": objective.clock.value,
        "at_risk_percent": objective.at_risk_percent,
        "target_percent": objective.target_percent,
    }


async def _pending_in_window(
    session: AsyncSession, scope: Scope, ctx: _Contract, start: datetime, now: datetime
) -> list[_Found]:
    ranges = []
    for policy in ctx.policies:
        version_from, version_to = ctx.version_bounds(policy)
        for objective in _item_objectives(policy):
            assert objective.threshold is not None
            threshold = engine.duration(objective.threshold)
            for offset in (threshold * objective.at_risk_percent / 100, threshold):
                lower = max(receipts_from(ctx.calendar, objective.clock, start, offset), version_from)
                upper = receipts_until(ctx.calendar, objective.clock, now, offset)
                if version_to is not None:
                    upper = min(upper, version_to - timedelta(microseconds=1))
                if lower <= upper:
                    ranges.append((lower, upper))
    if not ranges:
        return []
    windows = [WorkItem.received_at.between(lower, upper) for lower, upper in _merge(ranges)]
    rows = (
        await session.execute(
            select(*_ITEM_COLUMNS).where(
                WorkItem.tenant_id == scope.tenant_id,
                WorkItem.contract_id == ctx.row.id,
                WorkItem.resolved_at.is_(None),
                or_(*windows),
            )
        )
    ).all()
    return _evaluate(ctx, rows, start, now)


async def _days_below_target(
    session: AsyncSession, scope: Scope, ctx: _Contract, start: datetime, now: datetime
) -> list[_Found]:
    found = []
    for day in days_ended(ctx.client_zone, start, now, DAILY_SETTLE):
        policy = contracts.in_force(ctx.policies, day)
        objectives = {objective_key(o): o for o in _item_objectives(policy)} if policy else {}
        if not objectives:
            continue
        lower = local_midnight(day, ctx.client_zone)
        upper = local_midnight(day + timedelta(days=1), ctx.client_zone)
        rows = await session.execute(
            select(
                SlaHourly.objective,
                func.sum(SlaHourly.met),
                func.sum(SlaHourly.breached),
                func.sum(SlaHourly.pending),
            )
            .where(
                SlaHourly.tenant_id == scope.tenant_id,
                SlaHourly.contract_id == ctx.row.id,
                SlaHourly.objective.in_(objectives),
                SlaHourly.hour >= lower,
                SlaHourly.hour < upper,
            )
            .group_by(SlaHourly.objective)
        )
        for key, met, breached, pending in rows.all():
            objective = objectives[key]
            attained = engine.attainment(int(met), int(breached))
            if attained is None or attained >= objective.target_percent:
                continue
            found.append(
                _Found(
                    kind=Kind.DAILY_BELOW_TARGET,
                    contract=ctx.row,
                    objective=key,
                    subject=day.isoformat(),
                    occurred_at=upper,
                    day=day,
                    detail={
                        **_objective_detail(ctx.row, objective),
                        "day": day.isoformat(),
                        "time_zone": ctx.client_zone.key,
                        "attainment": attained,
                        "met": int(met),
                        "breached": int(breached),
                        "pending": int(pending),
                    },
                )
            )
    return found


async def _record(session: AsyncSession, scope: Scope, found: Sequence[_Found]) -> list[uuid.UUID]:
    """Insert the alerts not yet raised and emit a webhook event for each of them; their ids."""
    # In key order, so that two detections inserting overlapping alerts wait on each other, never deadlock.
    keyed = {(f.kind.value, str(f.contract.id), f.objective, f.subject): f for f in found}
    unique = [keyed[key] for key in sorted(keyed)]
    created: list[uuid.UUID] = []
    events = []
    for index in range(0, len(unique), INSERT_BATCH):
        batch = unique[index : index + INSERT_BATCH]
        ids = [new_id() for _ in batch]
        values = [
            {
                "tenant_id": scope.tenant_id,
                "id": alert_id,
                "kind": f.kind.value,
                "contract_id": f.contract.id,
                "client_id": f.contract.client_id,
                "objective": f.objective,
                "subject": f.subject,
                "work_item_id": f.work_item_id,
                "day": f.day,
                "occurred_at": f.occurred_at,
                "detail": f.detail,
            }
            for alert_id, f in zip(ids, batch, strict=True)
        ]
        inserted = set(
            (
                await session.scalars(
                    insert(Alert)
                    .values(values)
                    .on_conflict_do_nothing(
                        index_elements=["tenant_id", "kind", "contract_id", "objective", "subject"]
                    )
                    .returning(Alert.id)
                )
            ).all()
        )
        for alert_id, f in zip(ids, batch, strict=True):
            if alert_id not in inserted:
                continue
            created.append(alert_id)
            events.append(
                webhooks.NewEvent(
                    type=EVENT_TYPES[f.kind],
                    client_id=f.contract.client_id,
                    data={
                        "alert_id": str(alert_id),
                        "kind": f.kind.value,
                        "contract_id": str(f.contract.id),
                        "client_id": str(f.contract.client_id),
                        "objective": f.objective,
                        "occurred_at": f.occurred_at.isoformat(),
                        **f.detail,
                    },
                )
            )
    await webhooks.emit(session, scope.tenant_id, events)
    return created


async def _window(session: AsyncSession, scope: Scope, now: datetime, lookback: timedelta) -> datetime:
    """Lock the tenant's sweep state (one sweep at a time), move it to ``now`` and return where the
    window starts."""
    await session.execute(
        insert(AlertSweep)
        .values(tenant_id=scope.tenant_id, swept_until=now - lookback)
        .on_conflict_do_nothing()
    )
    state = await session.scalar(
        select(AlertSweep).where(AlertSweep.tenant_id == scope.tenant_id).with_for_update()
    )
    assert state is not None
    start = max(state.swept_until, now - lookback)
    state.swept_until = max(state.swept_until, now)
    return start


async def sweep(
    session: AsyncSession,
    scope: Scope,
    now: datetime,
    *,
    lookback: timedelta = MAX_LOOKBACK,
    failures: Failures | None = None,
) -> list[uuid.UUID]:
    """The periodic detection: alerts whose instant fell since the previous sweep; their ids. Contract by
    contract: one whose detection fails (objectives its stored policy cannot be measured by) is left out
    and kept in ``failures``, and the others' alerts are raised."""
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    failures = failures if failures is not None else Failures()
    start = await _window(session, scope, now, lookback)
    if now <= start:
        return []
    calendars = _Calendars(range(now.year - 1, now.year + 2))
    found: list[_Found] = []
    rows = await session.scalars(
        contracts.visible_contracts(scope).where(Contract.status != ContractStatus.DRAFT.value)
    )
    for contract in rows.all():
        async with failures.isolated(session, CONTRACT, contract.id):
            ctx = await _context(session, scope, contract, calendars)
            pending = await _pending_in_window(session, scope, ctx, start, now)
            found += pending + await _days_below_target(session, scope, ctx, start, now)
    return await _record(session, scope, found)


async def detect_in_hours(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    hours: Sequence[datetime],
    now: datetime,
    added: Sequence[Any] = (),
) -> list[uuid.UUID]:
    """After ingest: alerts of the last RECENT among the items received in ``hours`` (UTC hour starts)
    and the ``added`` items (rows with the columns of ``_ITEM_COLUMNS``: the new items of other hours,
    the only ones there whose alerts ingest can have changed)."""
    if not hours and not added:
        return []
    contract = await contracts.get_contract_row(session, scope, contract_id)
    ctx = await _context(session, scope, contract, _Calendars(range(now.year - 1, now.year + 2)))
    since = now - RECENT
    # Items received before this passed every threshold before ``since``: nothing recent to say.
    earliest = [
        receipts_from(ctx.calendar, objective.clock, since, engine.duration(objective.threshold))
        for policy in ctx.policies
        for objective in _item_objectives(policy)
        if objective.threshold is not None
    ]
    if not earliest:
        return []
    lower = min(earliest)
    rows = [row for row in added if row.received_at >= lower]
    ranges = [(max(start, lower), end) for start, end in hour_ranges(sorted(hours)) if end > lower]
    if ranges:
        rows += (
            await session.execute(
                select(*_ITEM_COLUMNS).where(
                    WorkItem.tenant_id == scope.tenant_id,
                    WorkItem.contract_id == contract.id,
                    or_(*(and_(WorkItem.received_at >= a, WorkItem.received_at < b) for a, b in ranges)),
                )
            )
        ).all()
    return await _record(session, scope, _evaluate(ctx, rows, since, now))
