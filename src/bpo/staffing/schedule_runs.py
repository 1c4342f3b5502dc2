"""Schedule runs: fill a period's shifts of some contracts with the CP-SAT solver, as a background job.

A run loads the shifts of its contracts starting in the period (local days of the tenant's zone), every
active person, approved time off, sites, settings and weights, and what is already assigned around
the period. Without `replan` every existing assignment stays and the solver only fills what is open;
with it, the assignments on the run's own shifts are planned afresh (kept where the new roster keeps
them, so their ids and calendar entries survive). Shifts outside the run that the same people work
always stay as they are and count towards rest, overlap and weekly hours.

Nothing the solver proposes is written until `rules.check_roster` has re-checked the whole resulting
roster: a proposed assignment that breaks a hard rule fails the run, loudly, with nothing written.
While a run works, its shifts and everyone's staff rows are locked (shift, then person, the order
manual assignments take them in), so no manual change can slip between the check and the write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core.audit import record
from bpo.core.errors import NotFound, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import SOLVE_JOB, STAFFING_QUEUE
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope
from bpo.staffing import models, rules, solver
from bpo.staffing.planning_schemas import ScheduleRun, ScheduleRunCreate, ScheduleRunPage, ScheduleRunStatus
from bpo.staffing.roster import HEADCOUNT_FULL, Roster, load_roster
from bpo.tenancy import service as tenancy

log = structlog.get_logger("bpo.staffing.schedule_runs")

MAX_PERIOD_DAYS = 31
DEFAULT_TIME_LIMIT_S = 20.0
TERMINAL = frozenset({ScheduleRunStatus.SUCCEEDED.value, ScheduleRunStatus.FAILED.value})
# What a run's job records a failure against.
SCHEDULE_RUN = "schedule_run"


class RosterBroken(Exception):
    """The solver proposed assignments that break hard rules."""


def run_view(run: models.ScheduleRun) -> ScheduleRun:
    return ScheduleRun(
        id=run.id,
        from_=run.period_from,
        to=run.period_to,
        contract_ids=list(run.contract_ids),
        replan=run.replan,
        time_limit_s=run.time_limit_s,
        status=ScheduleRunStatus(run.status),
        result=run.result,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


async def create_run(session: AsyncSession, scope: Scope, data: ScheduleRunCreate) -> ScheduleRun:
    """Record a queued run and enqueue its job in the same transaction."""
    errors = date_errors(("from", data.from_), ("to", data.to))
    if not errors and data.to < data.from_:
        errors.append(field_error("to", "must not be before from"))
    elif not errors and (data.to - data.from_).days + 1 > MAX_PERIOD_DAYS:
        errors.append(field_error("to", f"a run covers at most {MAX_PERIOD_DAYS} days"))
    seen: set[uuid.UUID] = set()
    for index, contract_id in enumerate(data.contract_ids):
        if contract_id in seen:
            errors.append(field_error(f"contract_ids[{index}]", "listed twice"))
            continue
        seen.add(contract_id)
        try:
            await contracts.get_contract_row(session, scope, contract_id)
        except NotFound:
            errors.append(field_error(f"contract_ids[{index}]", "no such contract"))
    raise_if(errors)
    run = models.ScheduleRun(
        tenant_id=scope.tenant_id,
        id=new_id(),
        period_from=data.from_,
        period_to=data.to,
        contract_ids=list(data.contract_ids),
        replan=data.replan,
        time_limit_s=data.time_limit_s,
        status=ScheduleRunStatus.QUEUED.value,
        result={},
        created_by=scope.user_id,
    )
    session.add(run)
    record(session, scope, "schedule_run.created", "schedule_run", run.id, replan=data.replan)
    outbox.enqueue(
        session,
        scope.tenant_id,
        SOLVE_JOB,
        queue=STAFFING_QUEUE,
        run_id=str(run.id),
    )
    await session.flush()
    await session.refresh(run)
    return run_view(run)


async def _run_row(
    session: AsyncSession, scope: Scope, run_id: uuid.UUID, *, for_update: bool = False
) -> models.ScheduleRun:
    statement = select(models.ScheduleRun).where(
        models.ScheduleRun.tenant_id == scope.tenant_id, models.ScheduleRun.id == run_id
    )
    run = await session.scalar(statement.with_for_update() if for_update else statement)
    if run is None:
        raise NotFound(f"Schedule run {run_id} not found.")
    return run


async def get_run(session: AsyncSession, scope: Scope, run_id: uuid.UUID) -> ScheduleRun:
    return run_view(await _run_row(session, scope, run_id))


async def list_runs(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    status: ScheduleRunStatus | None = None,
) -> ScheduleRunPage:
    statement = select(models.ScheduleRun).where(models.ScheduleRun.tenant_id == scope.tenant_id)
    if status is not None:
        statement = statement.where(models.ScheduleRun.status == status.value)
    rows, next_cursor = await paginate(session, statement, models.ScheduleRun.id, limit=limit, cursor=cursor)
    return ScheduleRunPage(items=[run_view(row) for row in rows], next_cursor=next_cursor)


async def mark_running(session: AsyncSession, scope: Scope, run_id: uuid.UUID) -> None:
    """Show that a worker has taken the run (in a transaction of its own, committed at once)."""
    await session.execute(
        update(models.ScheduleRun)
        .where(
            models.ScheduleRun.tenant_id == scope.tenant_id,
            models.ScheduleRun.id == run_id,
            models.ScheduleRun.status.not_in(TERMINAL),
        )
        .values(status=ScheduleRunStatus.RUNNING.value, started_at=datetime.now(UTC))
    )


def period_bounds(first: date, last: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end


async def _lock(
    session: AsyncSession, scope: Scope, contract_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> None:
    await session.execute(
        select(models.Shift.id)
        .where(
            models.Shift.tenant_id == scope.tenant_id,
            models.Shift.contract_id.in_(list(contract_ids)),
            models.Shift.starts_at >= start,
            models.Shift.starts_at < end,
        )
        .order_by(models.Shift.id)
        .with_for_update()
    )
    await session.execute(
        select(models.Staff.id)
        .where(models.Staff.tenant_id == scope.tenant_id, models.Staff.active.is_(True))
        .order_by(models.Staff.id)
        .with_for_update()
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a solve changes: assignments to write and to remove, and the roster that results."""

    added: list[rules.Assignment]
    removed: list[rules.Assignment]
    final: list[rules.Assignment]
    result: solver.SolveResult


def _booked(roster: Roster) -> list[rules.Shift]:
    """Shifts outside the run are not filled: capped at the people they have, their assignments fixed."""
    own = {shift.id for shift in roster.shifts}
    on_booked = Counter(a.shift_id for a in roster.assignments if a.shift_id not in own)
    return [dataclasses.replace(shift, headcount=on_booked[shift.id]) for shift in roster.booked]


def plan(roster: Roster, *, replan: bool, time_limit_s: float | None) -> Plan:
    """Solve the roster's shifts around everything else the people already work (with the greedy baseline
    when there is no time limit). Pure: no I/O."""
    own = {shift.id for shift in roster.shifts}
    existing = [a for a in roster.assignments if not (replan and a.shift_id in own)]
    shifts = [*roster.shifts, *_booked(roster)]
    if time_limit_s is None:
        result = solver.greedy(shifts, roster.staff, roster.sites, roster.settings, roster.weights, existing)
    else:
        result = solver.solve(
            shifts,
            roster.staff,
            roster.sites,
            roster.settings,
            roster.weights,
            existing,
            time_limit_s=time_limit_s,
        )
    before = set(roster.assignments)
    proposed = {a for a in result.assignments if a.shift_id in own}
    added = sorted(proposed - before, key=_order)
    removed = (
        sorted((a for a in before if a.shift_id in own and a not in proposed), key=_order) if replan else []
    )
    gone = set(removed)
    final = [a for a in roster.assignments if a not in gone] + added
    return Plan(added, removed, final, result)


def _order(assignment: rules.Assignment) -> tuple[str, str]:
    return str(assignment.shift_id), str(assignment.staff_id)


def verify(roster: Roster, outcome: Plan) -> list[str]:
    """Every hard rule an added assignment would break in the resulting roster, re-checked from
    scratch by the independent checker, plus shifts given more people than they need."""
    added = set(outcome.added)
    broken = [
        f"{assignment.staff_id} on {assignment.shift_id}: {violation.code.value} ({violation.message})"
        for assignment, violation in rules.check_roster(
            [*roster.shifts, *roster.booked], roster.staff, roster.sites, outcome.final, roster.settings
        )
        if assignment in added
    ]
    people = Counter(a.shift_id for a in outcome.final)
    for shift in roster.shifts:
        if people[shift.id] > shift.headcount and any(a.shift_id == shift.id for a in added):
            broken.append(f"shift {shift.id}: {HEADCOUNT_FULL} ({people[shift.id]} for {shift.headcount})")
    return broken


def _coverage(roster: Roster, final: Sequence[rules.Assignment]) -> tuple[dict[rules.Id, float], float]:
    people = Counter(a.shift_id for a in final)
    required: Counter[rules.Id] = Counter()
    staffed: Counter[rules.Id] = Counter()
    for shift in roster.shifts:
        required[shift.contract_id] += shift.headcount * shift.seconds
        staffed[shift.contract_id] += min(shift.headcount, people[shift.id]) * shift.seconds
    per_contract = {
        contract: round(100 * staffed[contract] / seconds, 2) if seconds else 100.0
        for contract, seconds in required.items()
    }
    total = sum(required.values())
    return per_contract, round(100 * sum(staffed.values()) / total, 2) if total else 100.0


async def contract_codes(
    session: AsyncSession, scope: Scope, contract_ids: Sequence[uuid.UUID]
) -> dict[rules.Id, str]:
    return {
        contract_id: (await contracts.get_contract_row(session, scope, contract_id)).code
        for contract_id in contract_ids
    }


def summary(roster: Roster, outcome: Plan, codes: Mapping[rules.Id, str]) -> dict[str, Any]:
    """The run's result as stored and returned; each contract is named by its id and its code."""
    shift_by_id = {shift.id: shift for shift in roster.shifts}
    per_contract, overall = _coverage(roster, outcome.final)
    result = outcome.result
    return {
        "solver_status": result.status,
        "solve_seconds": round(result.solve_seconds, 3),
        "gap": result.gap,
        "shifts": len(roster.shifts),
        "staff": len(roster.staff),
        "assignments_added": len(outcome.added),
        "assignments_removed": len(outcome.removed),
        "assignments": sum(1 for a in outcome.final if a.shift_id in shift_by_id),
        "coverage": [
            {"contract_id": str(contract), "contract_code": codes[contract], "coverage_percent": percent}
            for contract, percent in per_contract.items()
        ],
        "overall_coverage_percent": overall,
        "unfilled": [
            {
                "shift_id": str(gap.shift_id),
                "contract_id": str(shift_by_id[gap.shift_id].contract_id),
                "contract_code": codes[shift_by_id[gap.shift_id].contract_id],
                "start": shift_by_id[gap.shift_id].start.isoformat(),
                "end": shift_by_id[gap.shift_id].end.isoformat(),
                "missing": gap.missing,
                "reason": gap.reason,
            }
            for gap in result.unfilled
            if gap.shift_id in shift_by_id
        ],
        "penalties": [
            {"rule": p.rule, "amount": round(p.amount, 3), "unit": p.unit, "points": round(p.points, 3)}
            for p in result.penalties
        ],
        "rejected_existing": [
            {
                "shift_id": str(assignment.shift_id),
                "staff_id": str(assignment.staff_id),
                "code": violation.code.value,
                "message": violation.message,
            }
            for assignment, violation in result.rejected_existing
        ],
    }


async def _write(session: AsyncSession, scope: Scope, created_by: uuid.UUID | None, outcome: Plan) -> None:
    for assignment in outcome.removed:
        await session.execute(
            delete(models.Assignment).where(
                and_(
                    models.Assignment.tenant_id == scope.tenant_id,
                    models.Assignment.shift_id == assignment.shift_id,
                    models.Assignment.staff_id == assignment.staff_id,
                )
            )
        )
    session.add_all(
        models.Assignment(
            tenant_id=scope.tenant_id,
            id=new_id(),
            shift_id=assignment.shift_id,
            staff_id=assignment.staff_id,
            source="solver",
            created_by=created_by,
        )
        for assignment in outcome.added
    )
    await session.flush()


async def _finish(
    session: AsyncSession,
    scope: Scope,
    run: models.ScheduleRun,
    status: ScheduleRunStatus,
    result: dict[str, Any],
    error: str | None = None,
) -> None:
    run.status = status.value
    run.result = result
    run.error = error[:2000] if error else None
    run.started_at = run.started_at or datetime.now(UTC)
    run.finished_at = datetime.now(UTC)
    record(session, scope, f"schedule_run.{status.value}", "schedule_run", run.id)
    await session.flush()


async def fail_run(session: AsyncSession, scope: Scope, run_id: uuid.UUID, reason: str) -> None:
    """The run's job failed for good (nothing it planned was written): the run ends failed with the
    reason, unless it had already finished."""
    run = await _run_row(session, scope, run_id, for_update=True)
    if run.status not in TERMINAL:
        await _finish(session, scope, run, ScheduleRunStatus.FAILED, {}, f"The run failed: {reason}")


async def execute_run(session: AsyncSession, scope: Scope, run_id: uuid.UUID) -> ScheduleRun:
    """The whole run in the caller's transaction (the job's). A finished run is left as it is, so a
    repeated job changes nothing."""
    run = await _run_row(session, scope, run_id, for_update=True)
    if run.status in TERMINAL:
        return run_view(run)
    zone = await tenancy.tenant_time_zone(session, scope)
    start, end = period_bounds(run.period_from, run.period_to, zone)
    await _lock(session, scope, run.contract_ids, start, end)
    time_limit = run.time_limit_s or DEFAULT_TIME_LIMIT_S
    try:
        # Stored data the rules cannot take (an onsite shift without a site, an unknown zone) fails here.
        roster = await load_roster(session, scope, start, end, contract_ids=run.contract_ids)
        run.weights = dataclasses.asdict(roster.weights)
        # CP-SAT releases the GIL: other jobs of this worker keep running while it searches.
        outcome = await asyncio.to_thread(plan, roster, replan=run.replan, time_limit_s=time_limit)
    except ValueError as exc:
        log.error("schedule_run_failed", run_id=str(run.id), error=str(exc))
        await _finish(
            session, scope, run, ScheduleRunStatus.FAILED, {}, f"The roster could not be solved: {exc}"
        )
        return run_view(run)
    result = summary(roster, outcome, await contract_codes(session, scope, run.contract_ids))
    broken = verify(roster, outcome)
    if broken:
        # Never written: the solver must not break a hard rule, so this is a defect to look at.
        log.error("schedule_run_broke_hard_rules", run_id=str(run.id), violations=broken[:20])
        await _finish(
            session,
            scope,
            run,
            ScheduleRunStatus.FAILED,
            {**result, "violations": broken},
            f"The proposed roster breaks {len(broken)} hard rule(s); nothing was written. First: {broken[0]}",
        )
        return run_view(run)
    await _write(session, scope, run.created_by, outcome)
    await _finish(session, scope, run, ScheduleRunStatus.SUCCEEDED, result)
    return run_view(run)


async def fill_open_shifts(
    session: AsyncSession, scope: Scope, start: datetime, end: datetime, contract_ids: Sequence[uuid.UUID]
) -> int:
    """Fill what is still open among the contracts' shifts starting in [start, end) at once with the greedy
    baseline (no job, no run), checked like a run's roster; the number of assignments written."""
    if not contract_ids:
        return 0
    await _lock(session, scope, contract_ids, start, end)
    roster = await load_roster(session, scope, start, end, contract_ids=contract_ids)
    outcome = plan(roster, replan=False, time_limit_s=None)
    broken = verify(roster, outcome)
    if broken:
        raise RosterBroken(f"The greedy roster breaks {len(broken)} hard rule(s); first: {broken[0]}")
    await _write(session, scope, scope.user_id, outcome)
    if outcome.added:
        record(session, scope, "shifts.filled", "tenant", scope.tenant_id, assignments=len(outcome.added))
    return len(outcome.added)
