"""Auto-scheduling: fill shifts with staff under every hard rule of `rules`, optimising the tenant's
soft objectives with OR-Tools CP-SAT, plus a greedy baseline to compare it with. Pure: no I/O.

The CP-SAT model has one Boolean per (shift, person) pair that passes the pair rules (skills,
languages, site, time off, availability, exclusions, training) and constraints for the rest: headcount
per shift, at most one shift per person in every group of shifts closer than the minimum rest (which
covers overlaps), hours per ISO week of the person's home zone, and people onsite per site at every
instant. Every roster it returns is re-checked by `rules.check_roster` in the tests.

Coverage comes first: a filled required hour earns `Weights.coverage` points, far more than any soft
rule charges for an hour, and no search step may end with less coverage than it started from. Soft
rules: follow the sun (hours in 22:00-06:00 of the person's home zone), fairness (spread between the
most and least loaded person of total hours scaled to their cap, of night hours and of weekend hours),
continuity (each distinct person-contract pairing costs points, so the same people stay on a client)
and cost (hourly cost x hours).

The search starts from the greedy roster. A long period is improved in overlapping windows of a few
days, each a CP-SAT model with the rest of the roster fixed around it, repeated while time remains.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import Literal

from ortools.sat.python import cp_model

from bpo.clients.calendar import Calendar, Window, business_duration
from bpo.staffing.rules import (
    Assignment,
    Id,
    Mode,
    RuleCode,
    RuleSettings,
    Shift,
    Site,
    StaffMember,
    Violation,
    check_against_schedule,
    check_pair,
    check_roster,
    eligible,
    week_seconds,
)

SolveStatus = Literal["OPTIMAL", "FEASIBLE", "HEURISTIC"]
_Amount = Callable[[int, int], int]


@dataclass(frozen=True)
class Weights:
    """Points per hour (coverage, follow_the_sun, fairness), per person-contract pairing (continuity)
    and per 1,000 minor units of staff cost (cost). Night is a daily wall-clock window in each person's
    home zone, in `calendar.Window` minutes."""

    coverage: int = 1000
    follow_the_sun: int = 50
    fairness: int = 10
    continuity: int = 100
    cost: int = 1
    night_start: int = 22 * 60
    night_end: int = 30 * 60

    def __post_init__(self) -> None:
        for name in ("coverage", "follow_the_sun", "fairness", "continuity", "cost"):
            if getattr(self, name) < 0:
                raise ValueError(f"weight {name} must not be negative")
        Window(0, self.night_start, self.night_end)  # raises unless a valid daily window


@dataclass(frozen=True)
class Unfilled:
    shift_id: Id
    missing: int
    reason: str


@dataclass(frozen=True)
class SoftPenalty:
    rule: str
    amount: float
    unit: str
    points: float


@dataclass(frozen=True)
class SolveResult:
    assignments: tuple[Assignment, ...]
    coverage_percent: Mapping[Id, float]
    overall_coverage_percent: float
    unfilled: tuple[Unfilled, ...]
    penalties: tuple[SoftPenalty, ...]
    status: SolveStatus
    solve_seconds: float
    gap: float | None = None
    rejected_existing: tuple[tuple[Assignment, Violation], ...] = field(default=())


@lru_cache(maxsize=65536)
def _daily_seconds(zone: str, start: datetime, end: datetime, opens: int, closes: int) -> int:
    calendar = Calendar(zone, tuple(Window(weekday, opens, closes) for weekday in range(7)))
    return int(business_duration(calendar, start, end).total_seconds())


@lru_cache(maxsize=65536)
def _weekend_seconds(zone: str, start: datetime, end: datetime) -> int:
    calendar = Calendar(zone, (Window(5, 0, 24 * 60), Window(6, 0, 24 * 60)))
    return int(business_duration(calendar, start, end).total_seconds())


def night_seconds(shift: Shift, zone: str, weights: Weights = Weights()) -> int:
    return _daily_seconds(zone, shift.start, shift.end, weights.night_start, weights.night_end)


def weekend_seconds(shift: Shift, zone: str) -> int:
    return _weekend_seconds(zone, shift.start, shift.end)


def _shift_order(shift: Shift) -> tuple[datetime, datetime, str]:
    return shift.start, shift.end, str(shift.id)


class _Problem:
    """Shifts in time order, staff in the caller's order, and which pairs pass the pair rules."""

    def __init__(
        self,
        shifts: Iterable[Shift],
        staff: Iterable[StaffMember],
        sites: Iterable[Site],
        settings: RuleSettings,
        weights: Weights,
    ) -> None:
        self.shifts = tuple(sorted(shifts, key=_shift_order))
        self.staff = tuple(staff)
        self.sites = {site.id: site for site in sites}
        self.settings = settings
        self.weights = weights
        self.shift_index = {shift.id: index for index, shift in enumerate(self.shifts)}
        self.staff_index = {member.id: index for index, member in enumerate(self.staff)}
        if len(self.shift_index) != len(self.shifts):
            raise ValueError("shift ids must be unique")
        if len(self.staff_index) != len(self.staff):
            raise ValueError("staff ids must be unique")
        longest = max((shift.end - shift.start for shift in self.shifts), default=timedelta())
        # A person's shifts further apart than this share no ISO week and need no rest between them.
        self.reach = timedelta(days=8) + longest + settings.min_rest
        self._pools: dict[_Amount, list[int]] = {}
        self.eligible = [
            [person for person, member in enumerate(self.staff) if eligible(shift, member)]
            for shift in self.shifts
        ]

    def site_of(self, shift: Shift) -> Site | None:
        return self.sites.get(shift.site_id) if shift.site_id is not None else None

    def pairs(self) -> Iterable[tuple[int, int]]:
        for index, people in enumerate(self.eligible):
            for person in people:
                yield index, person

    @cached_property
    def shifts_for(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = defaultdict(list)
        for index, person in self.pairs():
            found[person].append(index)
        return found

    def pool(self, amount: _Amount) -> list[int]:
        """Staff for whom `amount` can be non-zero: the people a fairness spread is taken over."""
        if amount not in self._pools:
            self._pools[amount] = self._pool(amount)
        return self._pools[amount]

    def _pool(self, amount: _Amount) -> list[int]:
        return [
            person
            for person, indexes in self.shifts_for.items()
            if any(amount(index, person) for index in indexes)
        ]

    def night(self, index: int, person: int) -> int:
        return night_seconds(self.shifts[index], self.staff[person].home_zone, self.weights)

    def weekend(self, index: int, person: int) -> int:
        return weekend_seconds(self.shifts[index], self.staff[person].home_zone)

    def scaled_seconds(self, index: int, person: int) -> int:
        # Hours relative to a 40 h week, so a part-timer at half their cap counts as half loaded.
        cap = self.staff[person].weekly_hour_cap
        return round(self.shifts[index].seconds * 40 / cap) if cap > 0 else 0

    def cost_seconds(self, index: int, person: int) -> int:
        """Cost in minor units x 3600, kept integral."""
        return self.staff[person].hourly_cost * self.shifts[index].seconds


class _Roster:
    """A growing roster with the indexes the dynamic rules need."""

    def __init__(self, problem: _Problem) -> None:
        self.problem = problem
        self.on_shift: list[set[int]] = [set() for _ in problem.shifts]
        self.shifts_of: list[list[Shift]] = [[] for _ in problem.staff]
        self.load = [0] * len(problem.staff)
        self.at_site: dict[Id, list[tuple[Assignment, Shift]]] = defaultdict(list)

    def add(self, index: int, person: int) -> None:
        shift = self.problem.shifts[index]
        member = self.problem.staff[person]
        self.on_shift[index].add(person)
        position = bisect_right(
            [_shift_order(other) for other in self.shifts_of[person]], _shift_order(shift)
        )
        self.shifts_of[person].insert(position, shift)
        self.load[person] += shift.seconds
        if shift.mode is Mode.ONSITE and shift.site_id is not None:
            self.at_site[shift.site_id].append((Assignment(shift.id, member.id), shift))

    def indexes_of(self, person: int) -> list[int]:
        return [self.problem.shift_index[shift.id] for shift in self.shifts_of[person]]

    def nearby(self, shift: Shift, person: int) -> list[Shift]:
        mine = self.shifts_of[person]
        starts = [other.start for other in mine]
        low = bisect_left(starts, shift.start - self.problem.reach)
        high = bisect_right(starts, shift.end + self.problem.reach)
        return mine[low:high]

    def blockers(self, index: int, person: int) -> list[Violation]:
        shift = self.problem.shifts[index]
        site_assignments: Sequence[tuple[Assignment, Shift]] = ()
        if shift.mode is Mode.ONSITE and shift.site_id is not None:
            site_assignments = self.at_site[shift.site_id]
        return check_against_schedule(
            shift,
            self.problem.staff[person],
            self.nearby(shift, person),
            site_assignments,
            self.problem.settings,
            site=self.problem.site_of(shift),
        )

    def copy(self) -> _Roster:
        twin = _Roster(self.problem)
        twin.on_shift = [set(people) for people in self.on_shift]
        twin.shifts_of = [list(shifts) for shifts in self.shifts_of]
        twin.load = list(self.load)
        twin.at_site = defaultdict(list, {site: list(pairs) for site, pairs in self.at_site.items()})
        return twin

    def pairs(self) -> Iterable[tuple[int, int]]:
        for index, people in enumerate(self.on_shift):
            for person in people:
                yield index, person

    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(
            Assignment(self.problem.shifts[index].id, self.problem.staff[person].id)
            for index, people in enumerate(self.on_shift)
            for person in sorted(people)
        )


def _keepable(
    problem: _Problem, existing: Sequence[Assignment]
) -> tuple[list[tuple[int, int]], list[tuple[Assignment, Violation]]]:
    """Existing assignments that still pass every rule (as index pairs), and the broken ones. Dropping
    assignments never breaks a rule for the rest, so what is kept is a valid roster."""
    rejected = check_roster(problem.shifts, problem.staff, problem.sites.values(), existing, problem.settings)
    broken = {assignment for assignment, _ in rejected}
    kept = {
        (problem.shift_index[assignment.shift_id], problem.staff_index[assignment.staff_id])
        for assignment in existing
        if assignment not in broken
    }
    return sorted(kept), rejected


def _greedy_fill(roster: _Roster, indexes: Iterable[int]) -> None:
    problem = roster.problem
    for index in indexes:
        need = problem.shifts[index].headcount - len(roster.on_shift[index])
        for person in sorted(problem.eligible[index], key=lambda person: (roster.load[person], person)):
            if need <= 0:
                break
            if person not in roster.on_shift[index] and not roster.blockers(index, person):
                roster.add(index, person)
                need -= 1


def greedy(
    shifts: Iterable[Shift],
    staff: Iterable[StaffMember],
    sites: Iterable[Site] = (),
    settings: RuleSettings = RuleSettings(),
    weights: Weights = Weights(),
    existing: Sequence[Assignment] = (),
) -> SolveResult:
    """The baseline: shifts in time order, each filled with the least-loaded staff who pass every
    hard rule against what is already scheduled. Keeps valid existing assignments."""
    started = time.perf_counter()
    problem = _Problem(shifts, staff, sites, settings, weights)
    kept, rejected = _keepable(problem, existing)
    roster = _Roster(problem)
    for pair in kept:
        roster.add(*pair)
    _greedy_fill(roster, range(len(problem.shifts)))
    return _result(problem, roster, "HEURISTIC", time.perf_counter() - started, None, rejected)


def _maximal_cliques(intervals: Sequence[tuple[datetime, datetime, int]]) -> list[list[int]]:
    """Maximal sets of pairwise-meeting half-open intervals (start, end, key). Intervals that meet
    pairwise share an instant, the latest start among them, so sweeping the starts finds them all."""
    ordered = sorted(intervals, key=lambda interval: interval[0])
    cliques = []
    active: list[tuple[datetime, int]] = []
    position = 0
    while position < len(ordered):
        instant = ordered[position][0]
        while position < len(ordered) and ordered[position][0] == instant:
            active.append((ordered[position][1], ordered[position][2]))
            position += 1
        active = [(end, key) for end, key in active if end > instant]
        following = ordered[position][0] if position < len(ordered) else None
        # Unless one of them ends before the next start, this set is contained in the next one.
        if following is None or min(end for end, _ in active) <= following:
            cliques.append([key for _, key in active])
    return cliques


class _Model:
    """CP-SAT model of one window of shifts. The `decided` roster (everything outside the window, and
    kept existing assignments inside it) enters as fixed variables where it can interact with the
    window (rest, overlap, weekly hours, seats) and as constants in fairness and continuity."""

    def __init__(self, problem: _Problem, window: Sequence[int], decided: _Roster) -> None:
        self.problem = problem
        self.model = cp_model.CpModel()
        inside = set(window)
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        for index in window:
            for person in problem.eligible[index]:
                self.x[index, person] = self.model.new_bool_var(f"x_{index}_{person}")
        first = min(problem.shifts[index].start for index in window) - problem.reach
        last = max(problem.shifts[index].end for index in window) + problem.reach
        self.paired_before: set[tuple[int, Id]] = set()
        for index, person in decided.pairs():
            shift = problem.shifts[index]
            if index in inside or (first < shift.end and shift.start < last):
                if (index, person) not in self.x:
                    self.x[index, person] = self.model.new_bool_var(f"x_{index}_{person}")
                self.model.add(self.x[index, person] == 1)
            if index not in inside:
                self.paired_before.add((person, shift.contract_id))
        self.decided = decided
        self.window = window
        self.inside = inside
        self.works_on: dict[tuple[int, Id], cp_model.IntVar] = {}
        self.spreads: list[tuple[cp_model.IntVar, cp_model.IntVar, _Amount]] = []
        self.by_shift: dict[int, list[int]] = defaultdict(list)
        self.by_person: dict[int, list[int]] = defaultdict(list)
        for index, person in self.x:
            self.by_shift[index].append(person)
            self.by_person[person].append(index)
        self._headcount()
        self._rest_and_overlap()
        self._weekly_hours()
        self._seats()
        self._objective()

    def _headcount(self) -> None:
        for index in self.window:
            people = self.by_shift[index]
            bound = max(self.problem.shifts[index].headcount, len(self.decided.on_shift[index]))
            if len(people) > bound:
                self.model.add(sum(self.x[index, person] for person in people) <= bound)

    def _rest_and_overlap(self) -> None:
        rest = self.problem.settings.min_rest
        for person, indexes in self.by_person.items():
            intervals = [
                (self.problem.shifts[index].start, self.problem.shifts[index].end + rest, index)
                for index in indexes
            ]
            for clique in _maximal_cliques(intervals):
                if len(clique) > 1:
                    self.model.add_at_most_one(self.x[index, person] for index in clique)

    def _weekly_hours(self) -> None:
        for person, indexes in self.by_person.items():
            member = self.problem.staff[person]
            weeks: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
            for index in indexes:
                shift = self.problem.shifts[index]
                for week, seconds in week_seconds(shift.start, shift.end, member.tz).items():
                    weeks[week].append((index, seconds))
            for terms in weeks.values():
                if sum(seconds for _, seconds in terms) > member.weekly_cap_seconds:
                    self.model.add(
                        cp_model.LinearExpr.weighted_sum(
                            [self.x[index, person] for index, _ in terms], [seconds for _, seconds in terms]
                        )
                        <= member.weekly_cap_seconds
                    )

    def _seats(self) -> None:
        onsite: dict[Id, list[int]] = defaultdict(list)
        for index in self.by_shift:
            shift = self.problem.shifts[index]
            if shift.mode is Mode.ONSITE and shift.site_id is not None:
                onsite[shift.site_id].append(index)
        for site_id, indexes in onsite.items():
            site = self.problem.sites.get(site_id)
            if site is None or site.seat_capacity is None:
                continue
            intervals = [
                (self.problem.shifts[index].start, self.problem.shifts[index].end, index) for index in indexes
            ]
            for clique in _maximal_cliques(intervals):
                seated = [self.x[index, person] for index in clique for person in self.by_shift[index]]
                if len(seated) > site.seat_capacity:
                    self.model.add(sum(seated) <= site.seat_capacity)

    def _free(self) -> Iterable[tuple[tuple[int, int], cp_model.IntVar]]:
        return ((pair, variable) for pair, variable in self.x.items() if pair[0] in self.inside)

    def _objective(self) -> None:
        problem, weights = self.problem, self.problem.weights
        # Objective units are 1/3600 point: weights per hour times seconds stay integral.
        variables, coefficients = [], []
        for (index, person), variable in self._free():
            gain = (
                weights.coverage * problem.shifts[index].seconds
                - weights.follow_the_sun * problem.night(index, person)
                - round(weights.cost * problem.cost_seconds(index, person) / 1000)
            )
            variables.append(variable)
            coefficients.append(gain)
        terms = [cp_model.LinearExpr.weighted_sum(variables, coefficients)]
        if weights.fairness:
            for amount in (problem.scaled_seconds, problem.night, problem.weekend):
                terms.append(-weights.fairness * self._spread(amount))
        if weights.continuity:
            terms.append(-weights.continuity * 3600 * self._pairings())
        self.model.maximize(sum(terms))

    def _spread(self, amount: _Amount) -> cp_model.LinearExpr:
        window_shifts: dict[int, list[int]] = defaultdict(list)
        for index, person in self.x:
            if index in self.inside:
                window_shifts[person].append(index)
        loads = []
        upper = 0
        for person in self.problem.pool(amount):
            before = sum(
                amount(index, person) for index in self.decided.indexes_of(person) if index not in self.inside
            )
            indexes = window_shifts[person]
            values = [amount(index, person) for index in indexes]
            upper = max(upper, before + sum(values))
            loads.append(
                before + cp_model.LinearExpr.weighted_sum([self.x[i, person] for i in indexes], values)
            )
        highest = self.model.new_int_var(0, upper, "highest")
        lowest = self.model.new_int_var(0, upper, "lowest")
        for load in loads:
            self.model.add(highest >= load)
            self.model.add(lowest <= load)
        self.spreads.append((highest, lowest, amount))
        return highest - lowest

    def _pairings(self) -> cp_model.LinearExpr:
        for (index, person), variable in self._free():
            key = (person, self.problem.shifts[index].contract_id)
            if key in self.paired_before:
                continue
            if key not in self.works_on:
                self.works_on[key] = self.model.new_bool_var(f"y_{person}_{key[1]}")
            self.model.add_implication(variable, self.works_on[key])
        return cp_model.LinearExpr.sum(list(self.works_on.values()))

    def start_from(self, roster: _Roster) -> None:
        """Hint every variable, so CP-SAT takes the roster as its first solution, and never accept
        less coverage in the window than it has, whatever the soft weights."""
        chosen = set(roster.pairs())
        for pair, variable in self.x.items():
            self.model.add_hint(variable, pair in chosen)
        staffed = [(pair, variable) for pair, variable in self._free()]
        self.model.add(
            cp_model.LinearExpr.weighted_sum(
                [variable for _, variable in staffed],
                [self.problem.shifts[index].seconds for (index, _), _ in staffed],
            )
            >= sum(self.problem.shifts[index].seconds for index, person in chosen if index in self.inside)
        )
        pairings = {(person, self.problem.shifts[index].contract_id) for index, person in chosen}
        for key, variable in self.works_on.items():
            self.model.add_hint(variable, key in pairings)
        for highest, lowest, amount in self.spreads:
            loads = [
                sum(amount(index, person) for index in roster.indexes_of(person))
                for person in self.problem.pool(amount)
            ]
            self.model.add_hint(highest, max(loads, default=0))
            self.model.add_hint(lowest, min(loads, default=0))

    def chosen(self, solver: cp_model.CpSolver) -> list[tuple[int, int]]:
        return [pair for pair, variable in self._free() if solver.boolean_value(variable)]


def _windows(problem: _Problem, days: float | None) -> list[list[int]]:
    """Shift indexes in windows of `days` by start, each overlapping the next by half, or a single
    window for everything."""
    if not problem.shifts:
        return []
    first, last = problem.shifts[0].start, problem.shifts[-1].start
    if days is None or last - first < timedelta(days=days):
        return [list(range(len(problem.shifts)))]
    length, stride = timedelta(days=days), timedelta(days=days / 2)
    windows = []
    opens = first
    while True:
        windows.append(
            [index for index, shift in enumerate(problem.shifts) if opens <= shift.start < opens + length]
        )
        if opens + length > last:
            return [window for window in windows if window]
        opens += stride


def _without(roster: _Roster, window: Iterable[int], fixed: set[tuple[int, int]]) -> _Roster:
    inside = set(window)
    rest = _Roster(roster.problem)
    for index, person in roster.pairs():
        if index not in inside or (index, person) in fixed:
            rest.add(index, person)
    return rest


def solve(
    shifts: Iterable[Shift],
    staff: Iterable[StaffMember],
    sites: Iterable[Site] = (),
    settings: RuleSettings = RuleSettings(),
    weights: Weights = Weights(),
    existing: Sequence[Assignment] = (),
    *,
    replan: bool = False,
    time_limit_s: float = 10.0,
    workers: int = 2,
    window_days: float | None = 3,
) -> SolveResult:
    """Fill the shifts. Valid existing assignments are kept fixed unless `replan`, when they only
    seed the search; broken ones are dropped and reported. The search starts from the greedy roster
    built around the existing assignments. A period longer than `window_days` is improved window by
    window (that many days of shift starts, overlapping by half, the rest of the roster fixed), in
    passes until a pass changes nothing or time is up; None puts the whole period in one model.
    `time_limit_s` bounds the whole call. `gap` is CP-SAT's relative gap, with windows the worst of
    the last pass (a window's gap, not the whole period's). The status is OPTIMAL only for a single
    model proven optimal, HEURISTIC when CP-SAT found nothing in time and the greedy roster stands."""
    if window_days is not None and window_days <= 0:
        raise ValueError(f"window_days must be positive or None, got {window_days}")
    started = time.perf_counter()
    # Leave a little of the budget for explaining gaps and scoring the roster afterwards.
    deadline = started + time_limit_s - min(1.0, 0.03 * time_limit_s)
    problem = _Problem(shifts, staff, sites, settings, weights)
    kept, rejected = _keepable(problem, existing)
    fixed = set() if replan else set(kept)
    roster = _Roster(problem)
    for pair in kept:
        roster.add(*pair)
    _greedy_fill(roster, range(len(problem.shifts)))

    windows = _windows(problem, window_days)
    statuses: dict[int, SolveStatus] = {}
    gaps: dict[int, float] = {}
    changed = True
    while changed and time.perf_counter() < deadline:
        changed = False
        for position, window in enumerate(windows):
            if time.perf_counter() >= deadline:
                break
            decided = _without(roster, window, fixed)
            model = _Model(problem, window, decided)
            model.start_from(roster)
            solver = cp_model.CpSolver()
            budget = (deadline - time.perf_counter()) / (len(windows) - position)
            solver.parameters.max_time_in_seconds = max(0.1, budget)
            solver.parameters.num_workers = workers
            status = solver.solve(model.model)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                statuses.setdefault(position, "HEURISTIC")
                continue
            statuses[position] = "OPTIMAL" if status == cp_model.OPTIMAL else "FEASIBLE"
            objective, bound = solver.objective_value, solver.best_objective_bound
            gaps[position] = abs(bound - objective) / max(1.0, abs(objective))
            chosen = set(model.chosen(solver))
            if chosen != {pair for pair in roster.pairs() if pair[0] in model.inside}:
                changed = True
                for pair in chosen:
                    if pair not in fixed:
                        decided.add(*pair)
                roster = decided
        if len(windows) == 1:
            break

    overall: SolveStatus = "HEURISTIC"
    if not windows or (len(windows) == 1 and statuses.get(0) == "OPTIMAL"):
        overall = "OPTIMAL"
    elif any(status != "HEURISTIC" for status in statuses.values()):
        overall = "FEASIBLE"
    gap = max(gaps.values()) if gaps else None
    return _result(problem, roster, overall, time.perf_counter() - started, gap, rejected)


def _result(
    problem: _Problem,
    roster: _Roster,
    status: SolveStatus,
    seconds: float,
    gap: float | None,
    rejected: Sequence[tuple[Assignment, Violation]],
) -> SolveResult:
    required: Counter[Id] = Counter()
    filled: Counter[Id] = Counter()
    unfilled = []
    for index, shift in enumerate(problem.shifts):
        staffed = min(shift.headcount, len(roster.on_shift[index]))
        required[shift.contract_id] += shift.headcount * shift.seconds
        filled[shift.contract_id] += staffed * shift.seconds
        if staffed < shift.headcount:
            unfilled.append(Unfilled(shift.id, shift.headcount - staffed, _explain(problem, roster, index)))
    coverage = {
        contract: 100.0 * filled[contract] / required[contract] if required[contract] else 100.0
        for contract in required
    }
    total = sum(required.values())
    return SolveResult(
        assignments=roster.assignments(),
        coverage_percent=coverage,
        overall_coverage_percent=100.0 * sum(filled.values()) / total if total else 100.0,
        unfilled=tuple(unfilled),
        penalties=_penalties(problem, roster),
        status=status,
        solve_seconds=seconds,
        gap=gap,
        rejected_existing=tuple(rejected),
    )


def _explain(problem: _Problem, roster: _Roster, index: int) -> str:
    """Why a shift is short: the first requirement that leaves nobody, else why the qualified people
    are unavailable, else what keeps the eligible ones busy."""
    shift = problem.shifts[index]
    staff = problem.staff
    codes = [{violation.code for violation in check_pair(shift, member)} for member in staff]
    everyone = range(len(staff))
    contract_rules = {RuleCode.NOT_TRAINED, RuleCode.EXCLUDED_CONTRACT}
    # (wording, who passes, always named): the contract and the site are named once they rule people out.
    requirements = [
        (f"with skill {skill}", {person for person in everyone if skill in staff[person].skills}, True)
        for skill in sorted(shift.skills)
    ]
    requirements += [
        (f"speaking {language}", {person for person in everyone if language in staff[person].languages}, True)
        for language in sorted(shift.languages)
    ]
    requirements.append(
        (
            f"who may work on contract {shift.contract_id}",
            {person for person in everyone if not codes[person] & contract_rules},
            False,
        )
    )
    if shift.mode is Mode.ONSITE:
        requirements.append(
            (
                f"allowed at site {shift.site_id}",
                {person for person in everyone if RuleCode.SITE_NOT_ALLOWED not in codes[person]},
                False,
            )
        )
    pool = list(range(len(staff)))
    wanted = ["staff"]
    for wording, passing, always_named in requirements:
        narrowed = [person for person in pool if person in passing]
        if always_named or len(narrowed) < len(pool):
            wanted.append(wording)
        pool = narrowed
        if not pool:
            return f"no {' '.join(wanted)}"
    available = [person for person in pool if not codes[person]]
    if not available:
        outside = sum(RuleCode.AVAILABILITY in codes[person] for person in pool)
        off = sum(RuleCode.TIME_OFF in codes[person] for person in pool)
        return (
            f"no {' '.join(wanted)} available: of {len(pool)}, {outside} outside their availability, "
            f"{off} on time off"
        )
    candidates = [person for person in available if person not in roster.on_shift[index]]
    if not candidates:
        return f"only {len(available)} {' '.join(wanted)} available, all on it"
    busy: Counter[str] = Counter()
    free = 0
    for person in candidates:
        blocking = {violation.code for violation in roster.blockers(index, person)}
        busy.update(blocking)
        free += not blocking
    if free:
        return f"{free} eligible staff are still free; the search stopped before using them"
    reasons = ", ".join(f"{count} {code}" for code, count in sorted(busy.items()))
    return f"all {len(candidates)} eligible staff not on it are busy ({reasons})"


def _spread_of(loads: Mapping[int, int], pool: Iterable[int]) -> int:
    values = [loads.get(person, 0) for person in pool]
    return max(values) - min(values) if values else 0


def _penalties(problem: _Problem, roster: _Roster) -> tuple[SoftPenalty, ...]:
    weights = problem.weights
    night: Counter[int] = Counter()
    weekend: Counter[int] = Counter()
    scaled: Counter[int] = Counter()
    cost = 0
    pairings = set()
    for index, people in enumerate(roster.on_shift):
        for person in people:
            night[person] += problem.night(index, person)
            weekend[person] += problem.weekend(index, person)
            scaled[person] += problem.scaled_seconds(index, person)
            cost += problem.cost_seconds(index, person)
            pairings.add((person, problem.shifts[index].contract_id))

    night_hours = sum(night.values()) / 3600
    spreads = [
        (
            "fairness_total_hours",
            _spread_of(scaled, problem.pool(problem.scaled_seconds)) / 3600,
            "hours (per 40 h cap)",
        ),
        ("fairness_night_hours", _spread_of(night, problem.pool(problem.night)) / 3600, "night hours"),
        (
            "fairness_weekend_hours",
            _spread_of(weekend, problem.pool(problem.weekend)) / 3600,
            "weekend hours",
        ),
    ]
    return (
        SoftPenalty("follow_the_sun", night_hours, "night hours", weights.follow_the_sun * night_hours),
        *(SoftPenalty(rule, amount, unit, weights.fairness * amount) for rule, amount, unit in spreads),
        SoftPenalty(
            "continuity", len(pairings), "person-contract pairings", weights.continuity * len(pairings)
        ),
        SoftPenalty("cost", cost / 3600, "minor units", weights.cost * cost / 3600 / 1000),
    )
