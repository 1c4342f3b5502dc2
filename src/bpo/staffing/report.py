"""What a solve reports: coverage per contract, why each short shift is short, and what the roster
costs under every soft rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from bpo.staffing.labour import break_is_legal
from bpo.staffing.problem import Problem, Roster, SoftPenalty, SolveResult, SolveStatus, Unfilled
from bpo.staffing.rules import Assignment, Id, Mode, RuleCode, Violation, check_pair


def result(
    problem: Problem,
    roster: Roster,
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
            unfilled.append(Unfilled(shift.id, shift.headcount - staffed, explain(problem, roster, index)))
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
        penalties=penalties(problem, roster),
        status=status,
        solve_seconds=seconds,
        gap=gap,
        rejected_existing=tuple(rejected),
    )


def explain(problem: Problem, roster: Roster, index: int) -> str:
    """Why a shift is short: the first requirement that leaves nobody, else why the qualified people
    are unavailable, else what keeps the eligible ones busy."""
    shift = problem.shifts[index]
    staff = problem.staff
    if shift.break_minutes is not None and not break_is_legal(shift.seconds, shift.break_minutes):
        return f"its {shift.break_minutes}-minute break is shorter than the law requires"
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


def penalties(problem: Problem, roster: Roster) -> tuple[SoftPenalty, ...]:
    weights = problem.weights
    night: Counter[int] = Counter()
    weekend: Counter[int] = Counter()
    scaled: Counter[int] = Counter()
    cost = 0
    unpreferred = 0
    pairings = set()
    for index, people in enumerate(roster.on_shift):
        for person in people:
            night[person] += problem.night(index, person)
            weekend[person] += problem.weekend(index, person)
            scaled[person] += problem.scaled_seconds(index, person)
            cost += problem.cost_seconds(index, person)
            unpreferred += problem.unpreferred(index, person)
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
            "preferences",
            unpreferred / 3600,
            "hours outside preferred times",
            weights.preference * unpreferred / 3600,
        ),
        SoftPenalty(
            "continuity", len(pairings), "person-contract pairings", weights.continuity * len(pairings)
        ),
        SoftPenalty("cost", cost / 3600, "minor units", weights.cost * cost / 3600 / 1000),
    )
