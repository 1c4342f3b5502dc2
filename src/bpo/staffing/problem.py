"""The scheduling problem as the solver and the greedy baseline see it: shifts in time order, staff,
which pairs pass the pair rules, the per-person amounts soft rules count (night, weekend, scaled hours,
cost), and a roster that grows under the hard rules. Pure: no I/O."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from typing import Literal

from bpo.core.business_time import Calendar, Window, business_duration
from bpo.staffing.rules import (
    Assignment,
    Id,
    Mode,
    RuleSettings,
    Shift,
    Site,
    StaffMember,
    Violation,
    check_against_schedule,
    check_roster,
    eligible,
)

SolveStatus = Literal["OPTIMAL", "FEASIBLE", "HEURISTIC"]
Amount = Callable[[int, int], int]


@dataclass(frozen=True)
class Weights:
    """Points per hour (coverage, follow_the_sun, fairness, preference: hours outside the times a
    person prefers), per person-contract pairing (continuity) and per 1,000 minor units of staff cost
    (cost). Night is a daily wall-clock window in each person's
    home zone, in `calendar.Window` minutes."""

    coverage: int = 1000
    follow_the_sun: int = 50
    fairness: int = 10
    continuity: int = 100
    cost: int = 1
    preference: int = 20
    night_start: int = 22 * 60
    night_end: int = 30 * 60

    def __post_init__(self) -> None:
        for name in ("coverage", "follow_the_sun", "fairness", "continuity", "cost", "preference"):
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


def shift_order(shift: Shift) -> tuple[datetime, datetime, str]:
    return shift.start, shift.end, str(shift.id)


class Problem:
    """Shifts in time order, staff in the caller's order, and which pairs pass the pair rules."""

    def __init__(
        self,
        shifts: Iterable[Shift],
        staff: Iterable[StaffMember],
        sites: Iterable[Site],
        settings: RuleSettings,
        weights: Weights,
    ) -> None:
        self.shifts = tuple(sorted(shifts, key=shift_order))
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
        self._pools: dict[Amount, list[int]] = {}
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

    def pool(self, amount: Amount) -> list[int]:
        """Staff for whom `amount` can be non-zero: the people a fairness spread is taken over."""
        if amount not in self._pools:
            self._pools[amount] = self._pool(amount)
        return self._pools[amount]

    def _pool(self, amount: Amount) -> list[int]:
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

    def unpreferred(self, index: int, person: int) -> int:
        """Seconds of the shift outside the person's preferred times (0 without preferences)."""
        calendar = self.staff[person].preferred_calendar
        if calendar is None:
            return 0
        shift = self.shifts[index]
        return shift.seconds - int(business_duration(calendar, shift.start, shift.end).total_seconds())

    def cost_seconds(self, index: int, person: int) -> int:
        """Cost in minor units x 3600, kept integral."""
        return self.staff[person].hourly_cost * self.shifts[index].seconds


class Roster:
    """A growing roster with the indexes the dynamic rules need."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.on_shift: list[set[int]] = [set() for _ in problem.shifts]
        self.shifts_of: list[list[Shift]] = [[] for _ in problem.staff]
        self.load = [0] * len(problem.staff)
        self.at_site: dict[Id, list[tuple[Assignment, Shift]]] = defaultdict(list)

    def add(self, index: int, person: int) -> None:
        shift = self.problem.shifts[index]
        member = self.problem.staff[person]
        self.on_shift[index].add(person)
        position = bisect_right([shift_order(other) for other in self.shifts_of[person]], shift_order(shift))
        self.shifts_of[person].insert(position, shift)
        self.load[person] += shift.seconds
        if shift.mode is Mode.ONSITE and shift.site_id is not None:
            self.at_site[shift.site_id].append((Assignment(shift.id, member.id), shift))

    def has(self, index: int, person: int) -> bool:
        return person in self.on_shift[index]

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
        # All of the person's shifts: overtime is counted over months and years.
        return check_against_schedule(
            shift,
            self.problem.staff[person],
            self.shifts_of[person],
            site_assignments,
            self.problem.settings,
            site=self.problem.site_of(shift),
        )

    def copy(self) -> Roster:
        twin = Roster(self.problem)
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


def keepable(
    problem: Problem, existing: Sequence[Assignment]
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


def greedy_fill(roster: Roster, indexes: Iterable[int]) -> None:
    problem = roster.problem
    for index in indexes:
        need = problem.shifts[index].headcount - len(roster.on_shift[index])
        for person in sorted(problem.eligible[index], key=lambda person: (roster.load[person], person)):
            if need <= 0:
                break
            if person not in roster.on_shift[index] and not roster.blockers(index, person):
                roster.add(index, person)
                need -= 1
