"""Recent activity for a demo operator, so its dashboards, rosters and invoices have something to show.

Work items: for every active contract with item objectives, the days since its last demo item (at most
HISTORY_DAYS, up to yesterday in the client's zone) get a day's volume (its expected monthly volume / 30,
at most PER_DAY) received while its coverage lines require staff (none on days without a line; 09:00-18:00
every day for a contract without lines), most
answered and resolved inside the objectives' thresholds and some late, with outcomes and sentiments
fitting the work. Everything is drawn from a generator seeded by contract and day, with external ids
``demo-<day>-<n>``, and sent through the same ingest as the API (rollups follow through the outbox and
a worker), so a second run changes nothing and a later one adds the days in between (and the answers of
the last REVISIT_DAYS days that were still in the future).

Staffing: shifts from the coverage lines for the ROSTER_BEFORE days before today to the ROSTER_AFTER
days after it, and one schedule run for that period when none covers today yet.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bpo.clients import contracts
from bpo.clients.models import Client, Contract
from bpo.clients.schemas import Metric, Objective
from bpo.core.jobs import outbox
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.sla import engine
from bpo.staffing import coverage, shifts
from bpo.staffing import schedule_runs as runs
from bpo.staffing.models import ScheduleRun
from bpo.staffing.planning_schemas import ScheduleRunCreate
from bpo.staffing.schemas import PublishRequest
from bpo.tenancy.auth import operator_scope
from bpo.work import service as work
from bpo.work.models import WorkItem
from bpo.work.schemas import Outcome, Sentiment, WorkItemBatch, WorkItemIn

HISTORY_DAYS = 42
PER_DAY = 150  # well under a batch (MAX_BATCH)
ROSTER_BEFORE = 14
ROSTER_AFTER = 13
PREFIX = "demo-"
# Days before the latest demo item given again, for the answers that were in the future then.
REVISIT_DAYS = 8
# Share of items answered (and resolved) inside their threshold.
ON_TIME = 0.93
# When a contract without coverage lines receives work.
DAYTIME = (time(9), time(18))

CHANNELS = {"chat_support": "chat", "email_support": "email", "active_support": "social"}
OUTCOMES: dict[str, list[tuple[Outcome, int]]] = {
    "review": [(Outcome.APPROVED, 85), (Outcome.REJECTED, 12), (Outcome.ESCALATED, 3)],
    "patrol": [(Outcome.NO_ACTION, 90), (Outcome.REJECTED, 8), (Outcome.ESCALATED, 2)],
    "violation_reports": [(Outcome.REJECTED, 55), (Outcome.NO_ACTION, 40), (Outcome.ESCALATED, 5)],
    "active_support": [(Outcome.REPLIED, 60), (Outcome.ACKNOWLEDGED, 40)],
    "ad_trafficking": [(Outcome.APPROVED, 95), (Outcome.ESCALATED, 5)],
}
SENTIMENTS = [(Sentiment.POSITIVE, 45), (Sentiment.NEUTRAL, 40), (Sentiment.NEGATIVE, 15)]


@dataclass(frozen=True)
class Activity:
    items_created: int
    # Contract-days whose items were created or changed.
    days: int
    shifts_created: int
    schedule_run: uuid.UUID | None


async def seed_activity(
    runtime: Runtime, slug: str, *, days: int = HISTORY_DAYS, now: datetime | None = None
) -> Activity:
    """Work items for up to ``days`` days before today, shifts and a schedule run around today."""
    now = now or datetime.now(UTC)
    scope = await operator_scope(runtime, slug)
    async with runtime.db.tenant(scope.tenant_id) as session:
        rows = (
            await session.execute(
                select(Contract, Client.time_zone)
                .join(Client, (Client.tenant_id == Contract.tenant_id) & (Client.id == Contract.client_id))
                .where(Contract.tenant_id == scope.tenant_id, Contract.status == "active")
                .order_by(Contract.code)
            )
        ).all()
        policies = await contracts.policies_of(session, scope, [contract.id for contract, _ in rows])
        latest = dict(
            (
                await session.execute(
                    select(WorkItem.contract_id, func.max(WorkItem.received_at))
                    .where(WorkItem.tenant_id == scope.tenant_id, WorkItem.external_id.startswith(PREFIX))
                    .group_by(WorkItem.contract_id)
                )
            ).all()
        )
    created = seeded = 0
    for contract, zone_name in rows:
        zone = ZoneInfo(zone_name)
        objectives = [o for p in policies[contract.id] for o in p.objectives if o.metric != Metric.COVERAGE]
        if not objectives:
            continue
        yesterday = now.astimezone(zone).date() - timedelta(days=1)
        first = max(yesterday - timedelta(days=days - 1), contract.start_date)
        if (seen := latest.get(contract.id)) is not None:
            # Answers that were still in the future last time come in now (timestamps only move forward).
            first = max(first, seen.astimezone(zone).date() - timedelta(days=REVISIT_DAYS))
        day = first
        while day <= yesterday:
            # At most PER_DAY items: one batch.
            items = _day_of_items(contract, objectives, day, zone, now)
            if items:
                async with runtime.db.tenant(scope.tenant_id) as session:
                    outbox.relay_on_commit(session, runtime.relay)
                    batch = WorkItemBatch(contract_id=contract.id, items=items)
                    result = await work.ingest(session, scope, batch)
                created += result.created
                seeded += 1 if result.created + result.updated else 0
            day += timedelta(days=1)
    staffed = [(contract, ZoneInfo(zone)) for contract, zone in rows if contract.coverage]
    shifts_created, run = await _roster(runtime, scope, staffed, now)
    return Activity(items_created=created, days=seeded, shifts_created=shifts_created, schedule_run=run)


def _day_of_items(
    contract: Contract, objectives: Sequence[Objective], day: date, zone: ZoneInfo, now: datetime
) -> list[WorkItemIn]:
    rng = random.Random(f"{contract.id}:{day.isoformat()}")
    volume = min(PER_DAY, max(1, (contract.expected_monthly_volume or 600) // 30))
    count = max(1, round(volume * rng.uniform(0.8, 1.2) * (0.7 if day.weekday() >= 5 else 1.0)))
    lines = shifts.coverage_lines(contract)
    if lines:
        stretches = [(o.start, o.end) for o in coverage.occurrences(zone.key, lines, day, day)]
    else:
        opens, closes = DAYTIME
        stretches = [(datetime.combine(day, opens, zone), datetime.combine(day, closes, zone))]
    thresholds = {o.metric: engine.duration(o.threshold) for o in objectives if o.threshold is not None}
    outcomes = OUTCOMES.get(contract.work_type)
    items = []
    for n in range(count if stretches else 0):
        start, end = rng.choice(stretches)
        received = (start + (end - start) * rng.random()).astimezone(UTC).replace(microsecond=0)
        answered = received + _delay(rng, thresholds.get(Metric.FIRST_RESPONSE, timedelta(hours=4)))
        resolved = max(
            answered, received + _delay(rng, thresholds.get(Metric.RESOLUTION, timedelta(hours=24)))
        )
        outcome = _pick(rng, outcomes) if outcomes else None
        sentiment = _pick(rng, SENTIMENTS) if contract.work_type == "active_support" else None
        # Every value is drawn whatever ``now`` is, so each item is the same on every run; what has not
        # happened yet is left out.
        item = WorkItemIn(
            external_id=f"{PREFIX}{day.isoformat()}-{n}",
            received_at=received,
            first_response_at=answered if answered <= now else None,
            resolved_at=resolved if resolved <= now else None,
            channel=CHANNELS.get(contract.work_type, "web"),
            outcome=outcome if answered <= now else None,
            sentiment=sentiment,
        )
        if received <= now:
            items.append(item)
    return items


def _delay(rng: random.Random, threshold: timedelta) -> timedelta:
    share = rng.uniform(0.1, 0.95) if rng.random() < ON_TIME else rng.uniform(1.05, 2.5)
    return timedelta(seconds=max(1, round(threshold.total_seconds() * share)))


T = TypeVar("T")


def _pick(rng: random.Random, weighted: Sequence[tuple[T, int]]) -> T:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


async def _roster(
    runtime: Runtime, scope: Scope, staffed: Sequence[tuple[Contract, ZoneInfo]], now: datetime
) -> tuple[int, uuid.UUID | None]:
    """Published shifts around today (in each client's zone) for the contracts with coverage lines, and a
    schedule run for them when none covers today."""
    if not staffed:
        return 0, None
    created = 0
    periods = []
    for contract, zone in staffed:
        today = now.astimezone(zone).date()
        first, last = today - timedelta(days=ROSTER_BEFORE), today + timedelta(days=ROSTER_AFTER)
        async with runtime.db.tenant(scope.tenant_id) as session:
            created += (await shifts.generate_shifts(session, scope, contract.id, first, last)).created
            await shifts.publish_shifts(
                session, scope, PublishRequest(contract_id=contract.id, from_=first, to=last)
            )
        periods.append((first, last))
    first, last = min(periods)
    async with runtime.db.tenant(scope.tenant_id) as session:
        outbox.relay_on_commit(session, runtime.relay)
        covered = await session.scalar(
            select(func.count())
            .select_from(ScheduleRun)
            .where(
                ScheduleRun.tenant_id == scope.tenant_id,
                ScheduleRun.period_from <= first + timedelta(days=ROSTER_BEFORE),
                ScheduleRun.period_to >= first + timedelta(days=ROSTER_BEFORE),
            )
        )
        if covered:
            return created, None
        run = await runs.create_run(
            session,
            scope,
            ScheduleRunCreate(from_=first, to=last, contract_ids=[c.id for c, _ in staffed]),
        )
    return created, run.id
