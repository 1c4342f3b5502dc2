"""Recent activity for a demo operator, so its dashboards, rosters and invoices have something to show.

Work items: for every active contract with item objectives, the days since its last demo item (at most
HISTORY_DAYS, up to yesterday in the client's zone) get a day's volume (its expected monthly volume / 30,
at most PER_DAY) received while its coverage lines require staff (none on days without a line; 09:00-18:00
every day for a contract without lines), most
answered and resolved inside the objectives' thresholds and some late, with outcomes and sentiments
fitting the work. Everything is drawn from a generator seeded by contract and day, with external ids
``demo-<day>-<n>``, and sent through the same ingest as the API (rollups follow through the outbox and
a worker), so a second run changes nothing and a later one adds the days in between (and the answers of
the last REVISIT_DAYS days that were still in the future). The items of Rakuten Recipe's and Pairs'
social-media and email contracts carry users' voices (``demo_voices``); such a contract seeded before
voices existed gets its days again once, with them.

Satisfaction: on support contracts (email, chat and social replies), about a third of resolved items carry
the requester's CSAT rating (lower after a late answer), and each day brings a few answers to the
contract's NPS survey (external ids ``demo-<day>-nps-<n>``), drawn from generators of their own so the
items' other values stay what they were. A support contract seeded before ratings existed gets its days
again once, with them.

Staffing: shifts from the coverage lines for the ROSTER_BEFORE days before today to the ROSTER_AFTER
days after it; the days already past filled at once with the greedy roster, and one schedule run from
today to the last day when none covers today yet. People's attendance on the shifts that have ended
(through the same import as a site's time clock): most on time, a few late, a few leaving early or
staying on, and on the first load one absence two to four days back; a later load punches only the
shifts that ended since the latest one punched, so the absence stays. And one extra shift, a day beyond
the roster, that the first staff member (staff1 of the demo) could claim from their open shifts.
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
from bpo.clients.models import Client, Contract, Service
from bpo.clients.schemas import Metric, Objective, StaffingMode
from bpo.core.jobs import outbox
from bpo.core.runtime import Runtime
from bpo.core.scope import Scope
from bpo.onboarding import demo_voices
from bpo.sla import engine, satisfaction
from bpo.sla.schemas import NpsResponseBatch, NpsResponseIn
from bpo.staffing import attendance, coverage, punches, roster, rules, shifts
from bpo.staffing import schedule_runs as runs
from bpo.staffing import service as staffing
from bpo.staffing.attendance_schemas import AttendanceEventBatch, AttendanceEventIn, AttendanceEventKind
from bpo.staffing.models import ScheduleRun
from bpo.staffing.planning_schemas import ScheduleRunCreate
from bpo.staffing.schemas import PublishRequest, ShiftCreate, ShiftStatus, ShiftUpdate
from bpo.tenancy.auth import operator_scope
from bpo.work import service as work
from bpo.work.models import WorkItem
from bpo.work.schemas import Outcome, Sentiment, WorkItemBatch, WorkItemIn
from bpo.work.voices.models import Voice

HISTORY_DAYS = 42
PER_DAY = 150  # well under a batch (MAX_BATCH)
# The dashboard's default 30 days, rostered and attended, so its coverage figures are the roster's.
ROSTER_BEFORE = 31
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
# Where requesters are asked how satisfied they were, and how many answer.
SURVEYED = frozenset({"active_support", "email_support", "chat_support"})
CSAT_SHARE = 0.35
RATINGS = [(5, 48), (4, 30), (3, 12), (2, 6), (1, 4)]
RATINGS_WHEN_LATE = [(5, 12), (4, 23), (3, 27), (2, 20), (1, 18)]
NPS_SCORES = [(10, 24), (9, 22), (8, 18), (7, 12), (6, 8), (5, 5), (4, 4), (3, 3), (2, 2), (1, 1), (0, 1)]
NPS_PER_DAY = (1, 4)


# Shares of attendance: late arrivals (a few minutes, or up to half an hour), and clock-outs early or late.
LATE = 0.05
VERY_LATE = 0.02
EARLY_LEAVE = 0.04
OVERTIME = 0.08
PUNCH_BATCH = 500


@dataclass(frozen=True)
class Activity:
    items_created: int
    # Contract-days whose items were created or changed.
    days: int
    shifts_created: int
    schedule_run: uuid.UUID | None
    punches: int = 0
    open_shift: uuid.UUID | None = None


async def seed_activity(
    runtime: Runtime, slug: str, *, days: int = HISTORY_DAYS, now: datetime | None = None
) -> Activity:
    """Work items for up to ``days`` days before today, shifts and a schedule run around today."""
    now = now or datetime.now(UTC)
    scope = await operator_scope(runtime, slug)
    async with runtime.db.tenant(scope.tenant_id) as session:
        found = (
            await session.execute(
                select(Contract, Client.time_zone, Service.code)
                .join(Client, (Client.tenant_id == Contract.tenant_id) & (Client.id == Contract.client_id))
                .join(
                    Service, (Service.tenant_id == Contract.tenant_id) & (Service.id == Contract.service_id)
                )
                .where(Contract.tenant_id == scope.tenant_id, Contract.status == "active")
                .order_by(Contract.code)
            )
        ).all()
        rows = [(contract, zone) for contract, zone, _ in found]
        heard = {c.id: code for c, _, code in found if demo_voices.hears(code, c.work_type)}
        policies = await contracts.policies_of(session, scope, [contract.id for contract, _ in rows])
        # Contracts whose past days were seeded before they carried voices get those days again.
        voiced = set(
            await session.scalars(
                select(Voice.contract_id)
                .where(Voice.tenant_id == scope.tenant_id, Voice.contract_id.in_(list(heard)))
                .distinct()
            )
        )
        # Likewise support contracts seeded before their items carried ratings.
        surveyed = [contract.id for contract, _ in rows if contract.work_type in SURVEYED]
        rated = set(
            await session.scalars(
                select(WorkItem.contract_id)
                .where(
                    WorkItem.tenant_id == scope.tenant_id,
                    WorkItem.contract_id.in_(surveyed),
                    WorkItem.external_id.startswith(PREFIX),
                    WorkItem.csat.is_not(None),
                )
                .distinct()
            )
        )
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
        if (
            (seen := latest.get(contract.id)) is not None
            and (contract.id not in heard or contract.id in voiced)
            and (contract.id not in surveyed or contract.id in rated)
        ):
            # Answers that were still in the future last time come in now (timestamps only move forward).
            first = max(first, seen.astimezone(zone).date() - timedelta(days=REVISIT_DAYS))
        day = first
        while day <= yesterday:
            # At most PER_DAY items: one batch.
            items = _day_of_items(contract, objectives, day, zone, now)
            if contract.id in heard:
                items = demo_voices.with_voices(
                    heard[contract.id], contract.id, day, items, _volume(contract)
                )
            if items:
                async with runtime.db.tenant(scope.tenant_id) as session:
                    outbox.relay_on_commit(session, runtime.relay)
                    batch = WorkItemBatch(contract_id=contract.id, items=items)
                    result = await work.ingest(session, scope, batch)
                    if answers := _day_of_answers(contract, day, zone, now):
                        survey = NpsResponseBatch(items=answers)
                        await satisfaction.ingest_responses(session, scope, contract.id, survey)
                created += result.created
                seeded += 1 if result.created + result.updated else 0
            day += timedelta(days=1)
    staffed = [(contract, ZoneInfo(zone)) for contract, zone in rows if contract.coverage]
    shifts_created, run = await _roster(runtime, scope, staffed, now)
    punches = await _attendance(runtime, scope, now)
    extra = await _open_shift(runtime, scope, staffed, now)
    return Activity(
        items_created=created,
        days=seeded,
        shifts_created=shifts_created,
        schedule_run=run,
        punches=punches,
        open_shift=extra,
    )


def _day_of_items(
    contract: Contract, objectives: Sequence[Objective], day: date, zone: ZoneInfo, now: datetime
) -> list[WorkItemIn]:
    rng = random.Random(f"{contract.id}:{day.isoformat()}")
    volume = _volume(contract)
    count = max(1, round(volume * rng.uniform(0.8, 1.2) * (0.7 if day.weekday() >= 5 else 1.0)))
    lines = shifts.coverage_lines(contract)
    if lines:
        stretches = [(o.start, o.end) for o in coverage.occurrences(zone.key, lines, day, day)]
    else:
        opens, closes = DAYTIME
        stretches = [(datetime.combine(day, opens, zone), datetime.combine(day, closes, zone))]
    thresholds = {o.metric: engine.duration(o.threshold) for o in objectives if o.threshold is not None}
    outcomes = OUTCOMES.get(contract.work_type)
    # Its own generator: the other values are drawn as they were before ratings were.
    ratings = random.Random(f"{contract.id}:{day.isoformat()}:csat")
    surveyed = contract.work_type in SURVEYED
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
        late = answered - received > thresholds.get(Metric.FIRST_RESPONSE, timedelta(hours=4))
        rated = ratings.random() < CSAT_SHARE
        rating = _pick(ratings, RATINGS_WHEN_LATE if late else RATINGS)
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
            csat=rating if surveyed and rated and resolved <= now else None,
        )
        if received <= now:
            items.append(item)
    return items


def _volume(contract: Contract) -> int:
    """Items a day, before the day's own variation."""
    return min(PER_DAY, max(1, (contract.expected_monthly_volume or 600) // 30))


def _day_of_answers(contract: Contract, day: date, zone: ZoneInfo, now: datetime) -> list[NpsResponseIn]:
    """A support contract's NPS survey answers of one local day (none for other work)."""
    if contract.work_type not in SURVEYED:
        return []
    rng = random.Random(f"{contract.id}:{day.isoformat()}:nps")
    opens, closes = DAYTIME
    start, end = datetime.combine(day, opens, zone), datetime.combine(day, closes, zone)
    answers = []
    for n in range(rng.randint(*NPS_PER_DAY)):
        responded = (start + (end - start) * rng.random()).astimezone(UTC).replace(microsecond=0)
        score = _pick(rng, NPS_SCORES)
        if responded <= now:
            external_id = f"{PREFIX}{day.isoformat()}-nps-{n}"
            answers.append(NpsResponseIn(external_id=external_id, score=score, responded_at=responded))
    return answers


def _delay(rng: random.Random, threshold: timedelta) -> timedelta:
    share = rng.uniform(0.1, 0.95) if rng.random() < ON_TIME else rng.uniform(1.05, 2.5)
    return timedelta(seconds=max(1, round(threshold.total_seconds() * share)))


T = TypeVar("T")


def _pick(rng: random.Random, weighted: Sequence[tuple[T, int]]) -> T:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


async def _roster(
    runtime: Runtime, scope: Scope, staffed: Sequence[tuple[Contract, ZoneInfo]], now: datetime
) -> tuple[int, uuid.UUID | None]:
    """Published shifts around today (in each client's zone) for the contracts with coverage lines, those
    already started filled at once, and a schedule run from today when none covers today."""
    if not staffed:
        return 0, None
    created = 0
    periods = []
    earliest = now
    for contract, zone in staffed:
        today = now.astimezone(zone).date()
        first, last = today - timedelta(days=ROSTER_BEFORE), today + timedelta(days=ROSTER_AFTER)
        async with runtime.db.tenant(scope.tenant_id) as session:
            created += (await shifts.generate_shifts(session, scope, contract.id, first, last)).created
            await shifts.publish_shifts(
                session, scope, PublishRequest(contract_id=contract.id, from_=first, to=last)
            )
        periods.append((today, last))
        earliest = min(earliest, datetime.combine(first, time(), zone).astimezone(UTC))
    # The days gone by are rostered now, so that attendance can be recorded on them.
    async with runtime.db.tenant(scope.tenant_id) as session:
        await runs.fill_open_shifts(session, scope, earliest, now, [contract.id for contract, _ in staffed])
    first, last = min(periods)
    async with runtime.db.tenant(scope.tenant_id) as session:
        outbox.relay_on_commit(session, runtime.relay)
        covered = await session.scalar(
            select(func.count())
            .select_from(ScheduleRun)
            .where(
                ScheduleRun.tenant_id == scope.tenant_id,
                ScheduleRun.period_from <= first,
                ScheduleRun.period_to >= first,
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


async def _attendance(runtime: Runtime, scope: Scope, now: datetime) -> int:
    """Punches of the people on the shifts that ended since the latest shift punched (the last ROSTER_BEFORE
    days on the first load, one of them left absent), sent as a time clock sends them."""
    async with runtime.db.tenant(scope.tenant_id) as session:
        since = await attendance.last_punched_end(session, scope)
        lower = since or now - timedelta(days=ROSTER_BEFORE + 1)
        todo = await attendance.unpunched(session, scope, lower, now)
    absent = None
    if since is None:
        candidates = [item for item in todo if now - timedelta(days=4) <= item.end <= now - timedelta(days=2)]
        absent = min(
            candidates, key=lambda item: random.Random(f"absent:{item.shift_id}").random(), default=None
        )
    events = [event for item in todo if item is not absent for event in _punches(item, now)]
    created = 0
    for start in range(0, len(events), PUNCH_BATCH):
        async with runtime.db.tenant(scope.tenant_id) as session:
            batch = AttendanceEventBatch(events=events[start : start + PUNCH_BATCH])
            created += (await punches.import_events(session, scope, batch)).created
    return created


def _punches(item: attendance.Unpunched, now: datetime) -> list[AttendanceEventIn]:
    """A clock-in and a clock-out for one person on one shift, the same on every draw."""
    rng = random.Random(f"{item.shift_id}:{item.staff_id}")
    roll = rng.random()
    if roll < VERY_LATE:
        arrival = timedelta(minutes=rng.randint(16, 35))
    elif roll < VERY_LATE + LATE:
        arrival = timedelta(minutes=rng.randint(1, 10))
    else:
        arrival = -timedelta(minutes=rng.randint(0, 12))
    roll = rng.random()
    if roll < EARLY_LEAVE:
        departure = -timedelta(minutes=rng.randint(10, 45))
    elif roll < EARLY_LEAVE + OVERTIME:
        departure = timedelta(minutes=rng.randint(15, 75))
    else:
        departure = timedelta(minutes=rng.randint(0, 6))
    seconds = timedelta(seconds=rng.randint(0, 59))
    clock_in = item.start + arrival + seconds
    clock_out = min(now, max(clock_in + timedelta(minutes=1), item.end + departure + seconds))
    return [
        AttendanceEventIn(
            shift_id=item.shift_id, staff_id=item.staff_id, kind=AttendanceEventKind.CLOCK_IN, at=clock_in
        ),
        AttendanceEventIn(
            shift_id=item.shift_id, staff_id=item.staff_id, kind=AttendanceEventKind.CLOCK_OUT, at=clock_out
        ),
    ]


async def _open_shift(
    runtime: Runtime, scope: Scope, staffed: Sequence[tuple[Contract, ZoneInfo]], now: datetime
) -> uuid.UUID | None:
    """An extra daytime shift two days past the roster on the first remote contract (by code) whose work the
    first staff member (by code) can do: nobody is on it, so it waits among their open shifts."""
    async with runtime.db.tenant(scope.tenant_id) as session:
        people = [p for p in await staffing.all_staff(session, scope) if p.active and p.code]
        if not people:
            return None
        first = min(people, key=lambda person: person.code or "")
        member = roster.staff_member(await staffing.get_staff_row(session, scope, first.id))
        for contract, zone in sorted(staffed, key=lambda pair: pair[0].code):
            if contract.staffing_mode != StaffingMode.REMOTE.value:
                continue
            line = shifts.coverage_lines(contract)[0]
            day = now.astimezone(zone).date() + timedelta(days=ROSTER_AFTER + 2)
            start, end = datetime.combine(day, time(10), zone), datetime.combine(day, time(18), zone)
            wanted = rules.Shift(
                "extra",
                contract.id,
                start,
                end,
                skills=frozenset(line.skills),
                languages=frozenset(line.languages),
            )
            if not rules.eligible(wanted, member):
                continue
            there = await shifts.list_shifts(
                session, scope, limit=50, cursor=None, contract_id=contract.id, start=start, end=end
            )
            for shift in there.items:
                if shift.coverage_line is None and shift.start == start and shift.end == end:
                    return shift.id
            made = await shifts.create_shift(
                session,
                scope,
                ShiftCreate(
                    contract_id=contract.id,
                    start=start,
                    end=end,
                    skills=list(line.skills),
                    languages=list(line.languages),
                ),
            )
            await shifts.update_shift(session, scope, made.id, ShiftUpdate(status=ShiftStatus.PUBLISHED))
            return made.id
    return None
