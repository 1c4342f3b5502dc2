"""Auto-scheduling: fill shifts with staff under every hard rule of `rules`, optimising the tenant's
soft objectives with OR-Tools CP-SAT, plus a greedy baseline to compare it with. Pure: no I/O.

The CP-SAT model has one Boolean per (shift, person) pair that passes the pair rules (skills,
languages, site, time off, availability, exclusions, training) and constraints for the rest: headcount
per shift, at most one shift per person in every group of shifts closer than the minimum rest (which
covers overlaps), worked hours per ISO week of the person's home zone, consecutive working days and the
monthly and yearly overtime caps (exact, with the rest of the roster and the person's history as
constants), and people onsite per site at every instant. Every roster it returns is re-checked by
`rules.check_roster` in the tests.

Coverage comes first: a filled required hour earns `Weights.coverage` points, far more than any soft
rule charges for an hour, and no search step may end with less coverage than it started from. Soft
rules: follow the sun (hours in 22:00-06:00 of the person's home zone), fairness (spread between the
most and least loaded person of total hours scaled to their cap, of night hours and of weekend hours),
preferences (hours outside the times a person prefers to work), continuity (each distinct
person-contract pairing costs points, so the same people stay on a client) and cost (hourly cost x
hours).

The search starts from the greedy roster. A long period is improved in overlapping windows of a few
days, each a CP-SAT model with the rest of the roster fixed around it, repeated while time remains.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta

from ortools.sat.python import cp_model

from bpo.staffing.labour import DAILY_LIMIT, WEEKLY_LIMIT, month_name, overtime_by_day
from bpo.staffing.problem import (
    Amount,
    Problem,
    Roster,
    SoftPenalty,
    SolveResult,
    SolveStatus,
    Unfilled,
    Weights,
    greedy_fill,
    keepable,
    night_seconds,
    weekend_seconds,
)
from bpo.staffing.report import result
from bpo.staffing.rules import (
    Assignment,
    Id,
    Mode,
    RuleSettings,
    Shift,
    Site,
    StaffMember,
    labour_facts,
    shift_week_seconds,
)

__all__ = [
    "SoftPenalty",
    "SolveResult",
    "SolveStatus",
    "Unfilled",
    "Weights",
    "greedy",
    "night_seconds",
    "solve",
    "weekend_seconds",
]


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
    problem = Problem(shifts, staff, sites, settings, weights)
    kept, rejected = keepable(problem, existing)
    roster = Roster(problem)
    for pair in kept:
        roster.add(*pair)
    greedy_fill(roster, range(len(problem.shifts)))
    return result(problem, roster, "HEURISTIC", time.perf_counter() - started, None, rejected)


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

    def __init__(self, problem: Problem, window: Sequence[int], decided: Roster) -> None:
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
        self.spreads: list[tuple[cp_model.IntVar, cp_model.IntVar, Amount]] = []
        self.by_shift: dict[int, list[int]] = defaultdict(list)
        self.by_person: dict[int, list[int]] = defaultdict(list)
        for index, person in self.x:
            self.by_shift[index].append(person)
            self.by_person[person].append(index)
        self._headcount()
        self._rest_and_overlap()
        self._weekly_hours()
        self._labour()
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
                for week, seconds in shift_week_seconds(shift, member.tz).items():
                    weeks[week].append((index, seconds))
            for terms in weeks.values():
                if sum(seconds for _, seconds in terms) > member.weekly_cap_seconds:
                    self.model.add(
                        cp_model.LinearExpr.weighted_sum(
                            [self.x[index, person] for index, _ in terms], [seconds for _, seconds in terms]
                        )
                        <= member.weekly_cap_seconds
                    )

    def _labour(self) -> None:
        for person, indexes in self.by_person.items():
            free = [
                index for index in indexes if index in self.inside and not self.decided.has(index, person)
            ]
            if free:
                _Labour(self, person, free).constrain()

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
                - weights.preference * problem.unpreferred(index, person)
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

    def _spread(self, amount: Amount) -> cp_model.LinearExpr:
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

    def start_from(self, roster: Roster) -> None:
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


class _Labour:
    """One person's consecutive days and overtime caps over the window's free choices, with everything
    decided (and their history) as constants. Overtime is exact (max-equalities per day and week), so a
    month or year cannot be relieved by charging overtime to another; a cap the decided roster already
    exceeds bounds the period at what it has."""

    def __init__(self, model: _Model, person: int, free: Sequence[int]) -> None:
        self.model = model
        self.person = person
        self.member = model.problem.staff[person]
        self.limits = model.problem.settings.limits(self.member)
        self.free = [(index, labour_facts(model.problem.shifts[index], self.member.tz)) for index in free]
        self.worked: dict[date, int] = defaultdict(int, self.member.history.worked)
        self.days = set(self.member.history.days)
        for index in model.decided.indexes_of(person):
            facts = labour_facts(model.problem.shifts[index], self.member.tz)
            self.worked[facts.day] += facts.worked
            self.days.update(facts.touched)

    def variable(self, index: int) -> cp_model.IntVar:
        return self.model.x[index, self.person]

    def constrain(self) -> None:
        self._consecutive_days()
        self._overtime()

    def _consecutive_days(self) -> None:
        cp = self.model.model
        limit = self.limits.max_consecutive_days
        on_day: dict[date, list[int]] = defaultdict(list)
        for index, facts in self.free:
            for day in facts.touched:
                on_day[day].append(index)
        works: dict[date, cp_model.IntVar] = {}
        starts = {day - timedelta(days=offset) for day in on_day for offset in range(limit + 1)}
        for first in sorted(starts):
            stretch = [first + timedelta(days=offset) for offset in range(limit + 1)]
            fixed = sum(day in self.days for day in stretch)
            open_days = [day for day in stretch if day not in self.days and day in on_day]
            if not open_days or fixed + len(open_days) <= limit:
                continue
            for day in open_days:
                if day not in works:
                    works[day] = cp.new_bool_var(f"d_{self.person}_{day}")
                    for index in on_day[day]:
                        cp.add_implication(self.variable(index), works[day])
            cp.add(sum(works[day] for day in open_days) <= max(0, limit - fixed))

    def _overtime(self) -> None:
        cp = self.model.model
        settings = self.model.problem.settings
        fixed = overtime_by_day(self.worked)
        everything = dict(self.worked)
        for _, facts in self.free:
            everything[facts.day] = everything.get(facts.day, 0) + facts.worked
        most = overtime_by_day(everything)
        periods: list[tuple[Callable[[date], str], int]] = [
            (month_name, self.limits.monthly_overtime),
            (settings.overtime_year_name, self.limits.yearly_overtime),
        ]
        # Overtime only grows with work: if every free shift together stays within a cap, it binds nothing.
        binding = [
            (period_of, cap)
            for period_of, cap in periods
            if any(
                sum(seconds for day, seconds in most.items() if period_of(day) == period)
                > max(cap, sum(seconds for day, seconds in fixed.items() if period_of(day) == period))
                for period in {period_of(day) for day in most}
            )
        ]
        if not binding:
            return
        by_day: dict[date, list[tuple[int, int]]] = defaultdict(list)
        for index, facts in self.free:
            by_day[facts.day].append((index, facts.worked))
        mondays = sorted({day - timedelta(days=day.weekday()) for day in by_day})
        touched = {monday + timedelta(days=offset) for monday in mondays for offset in range(7)}
        # Overtime dated in the weeks with free shifts, as expressions; elsewhere the decided roster's.
        dated: dict[date, list[cp_model.LinearExprT]] = defaultdict(list)
        for day, seconds in fixed.items():
            if day not in touched:
                dated[day].append(seconds)
        for monday in mondays:
            within: list[cp_model.LinearExprT] = []
            for offset in range(7):
                day = monday + timedelta(days=offset)
                constant = self.worked.get(day, 0)
                terms = by_day.get(day, [])
                if not terms:
                    excess = max(0, constant - DAILY_LIMIT)
                    dated[day].append(excess)
                    within.append(constant - excess)
                    continue
                expression = constant + cp_model.LinearExpr.weighted_sum(
                    [self.variable(index) for index, _ in terms], [seconds for _, seconds in terms]
                )
                top = constant + sum(seconds for _, seconds in terms)
                excess_var = cp.new_int_var(0, max(0, top - DAILY_LIMIT), f"ot_{self.person}_{day}")
                cp.add_max_equality(excess_var, [0, expression - DAILY_LIMIT])
                dated[day].append(excess_var)
                within.append(expression - excess_var)
            week_top = sum(self.worked.get(monday + timedelta(days=o), 0) for o in range(7)) + sum(
                seconds
                for day, terms in by_day.items()
                for _, seconds in terms
                if day - timedelta(days=day.weekday()) == monday
            )
            weekly = cp.new_int_var(0, max(0, week_top - WEEKLY_LIMIT), f"wot_{self.person}_{monday}")
            cp.add_max_equality(weekly, [0, cp_model.LinearExpr.sum(within) - WEEKLY_LIMIT])
            dated[monday + timedelta(days=6)].append(weekly)
        for period_of, cap in binding:
            for period in sorted({period_of(day) for day in touched}):
                bound = max(cap, sum(seconds for day, seconds in fixed.items() if period_of(day) == period))
                shares = [
                    share for day, items in dated.items() if period_of(day) == period for share in items
                ]
                if any(not isinstance(share, int) for share in shares):
                    cp.add(cp_model.LinearExpr.sum(shares) <= bound)


def _windows(problem: Problem, days: float | None) -> list[list[int]]:
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


def _without(roster: Roster, window: Iterable[int], fixed: set[tuple[int, int]]) -> Roster:
    inside = set(window)
    rest = Roster(roster.problem)
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
    problem = Problem(shifts, staff, sites, settings, weights)
    kept, rejected = keepable(problem, existing)
    fixed = set() if replan else set(kept)
    roster = Roster(problem)
    for pair in kept:
        roster.add(*pair)
    greedy_fill(roster, range(len(problem.shifts)))

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
    return result(problem, roster, overall, time.perf_counter() - started, gap, rejected)
