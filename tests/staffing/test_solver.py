"""Auto-scheduling: every roster the solver or the greedy baseline emits passes the independent checker;
the solver covers at least as much as greedy; night hours follow the sun; existing assignments stay
unless re-planned; unfilled slots say why."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bpo.core.business_time import Window, parse_clock
from bpo.staffing.rules import (
    Assignment,
    Mode,
    RuleSettings,
    Shift,
    Site,
    StaffMember,
    WorkHistory,
    check_roster,
)
from bpo.staffing.solver import SolveResult, Weights, greedy, solve

TOKYO = ZoneInfo("Asia/Tokyo")
HOUR = timedelta(hours=1)
MONDAY = datetime(2026, 3, 2, tzinfo=TOKYO)
ZONES = ("Asia/Tokyo", "Europe/London", "America/Argentina/Buenos_Aires")


def make_shift(
    id: str,
    start: datetime,
    hours: float = 8,
    contract_id: str = "PATROL",
    headcount: int = 1,
    skills: Iterable[str] = ("patrol",),
    mode: Mode = Mode.REMOTE,
    site_id: str | None = None,
) -> Shift:
    return Shift(
        id=id,
        contract_id=contract_id,
        start=start,
        end=start.astimezone(UTC) + timedelta(hours=hours),
        site_id=site_id,
        mode=mode,
        headcount=headcount,
        skills=frozenset(skills),
        languages=frozenset({"ja"}),
    )


def make_staff(
    id: str, zone: str = "Asia/Tokyo", skills: Iterable[str] = ("patrol",), **fields: Any
) -> StaffMember:
    return replace(
        StaffMember(id=id, home_zone=zone, skills=frozenset(skills), languages=frozenset({"ja"})), **fields
    )


def assert_valid(
    result: SolveResult, shifts: list[Shift], staff: list[StaffMember], sites: list[Site]
) -> None:
    assert check_roster(shifts, staff, sites, result.assignments) == []
    per_shift = {shift.id: 0 for shift in shifts}
    for assignment in result.assignments:
        per_shift[assignment.shift_id] += 1
    assert all(per_shift[shift.id] <= shift.headcount for shift in shifts)


def staffed(result: SolveResult, shift_id: str) -> set[str]:
    return {str(assignment.staff_id) for assignment in result.assignments if assignment.shift_id == shift_id}


def test_a_small_week_is_solved_to_optimality_and_passes_the_checker() -> None:
    shifts = [
        make_shift(f"patrol-{day}-{hour}", MONDAY + timedelta(days=day, hours=hour), headcount=2)
        for day in range(7)
        for hour in (0, 8, 16)
    ]
    staff = [make_staff(f"p{number}", ZONES[number % 3]) for number in range(12)]

    result = solve(shifts, staff, time_limit_s=10, window_days=None)

    assert_valid(result, shifts, staff, [])
    assert result.status == "OPTIMAL"
    assert result.overall_coverage_percent == 100.0
    assert result.coverage_percent == {"PATROL": 100.0}
    assert result.unfilled == ()
    assert result.gap is not None
    assert result.gap < 1e-9
    assert {penalty.rule for penalty in result.penalties} == {
        "follow_the_sun",
        "fairness_total_hours",
        "fairness_night_hours",
        "fairness_weekend_hours",
        "preferences",
        "continuity",
        "cost",
    }


def test_a_shift_goes_to_the_person_who_prefers_its_hours() -> None:
    """Greedy takes the first of two equal people; the solver moves the day shift to the one who
    prefers days, and the preference penalty is what it saved."""
    day_shift = make_shift("day", MONDAY + timedelta(hours=9))
    nights = (Window(0, 21 * 60, 30 * 60),)
    days = (Window(0, 8 * 60, 18 * 60),)
    staff = [make_staff("owl", preferred=nights), make_staff("lark", preferred=days)]

    baseline = greedy([day_shift], staff)
    result = solve([day_shift], staff, time_limit_s=5, window_days=None)

    assert staffed(baseline, "day") == {"owl"}
    assert staffed(result, "day") == {"lark"}
    before = next(p for p in baseline.penalties if p.rule == "preferences")
    after = next(p for p in result.penalties if p.rule == "preferences")
    assert (before.amount, after.amount) == (8.0, 0.0)
    assert before.points == Weights().preference * 8


def random_instance(
    seed: int, staff_count: int, days: int
) -> tuple[list[Shift], list[StaffMember], list[Site]]:
    rng = random.Random(seed)
    sites = [Site("HQ", seat_capacity=rng.randint(1, 3))]
    contracts = [
        ("PATROL", (0, 8, 16), {"patrol"}, None),
        ("EMAIL", (1, 9), {"email"}, None),
        ("ONSITE", (0,), {"ads"}, "HQ"),
    ]
    shifts = []
    for day in range(days):
        for contract, hours, skills, site in contracts:
            for hour in hours:
                shifts.append(
                    make_shift(
                        f"{contract}-{day}-{hour}",
                        MONDAY + timedelta(days=day, hours=hour + 9 * (contract == "ONSITE")),
                        hours=rng.choice((8, 8.5, 9)),
                        contract_id=contract,
                        headcount=rng.randint(1, 3),
                        skills=skills,
                        mode=Mode.ONSITE if site else Mode.REMOTE,
                        site_id=site,
                    )
                )
    staff = []
    for number in range(staff_count):
        zone = rng.choice(ZONES)
        start = rng.choice(("00:00", "07:00", "12:00"))
        availability = tuple(
            Window(weekday, parse_clock(start), parse_clock(start) + rng.choice((14, 24)) * 60)
            for weekday in range(7)
            if rng.random() < 0.85
        )
        time_off: tuple[tuple[datetime, datetime], ...] = ()
        if rng.random() < 0.2:
            off = MONDAY + timedelta(days=rng.randrange(days))
            time_off = ((off, off + timedelta(days=1)),)
        staff.append(
            make_staff(
                f"p{number}",
                zone,
                skills=set(rng.sample(["patrol", "email", "ads"], rng.randint(1, 2))),
                sites=frozenset({"HQ"}) if rng.random() < 0.5 else frozenset(),
                weekly_hour_cap=rng.choice((24, 32, 40)),
                availability=availability,
                time_off=time_off,
                excluded_contracts=frozenset({"EMAIL"}) if rng.random() < 0.1 else frozenset(),
                hourly_cost=rng.choice((1300, 1800, 2600)),
            )
        )
    return shifts, staff, sites


@pytest.mark.parametrize(
    ("seed", "staff_count", "days", "window_days"),
    [(1, 6, 3, None), (2, 10, 4, None), (3, 14, 5, 7), (4, 12, 6, 2), (5, 20, 8, 3)],
)
def test_solver_covers_at_least_what_greedy_covers_without_breaking_a_rule(
    seed: int, staff_count: int, days: int, window_days: float | None
) -> None:
    shifts, staff, sites = random_instance(seed, staff_count, days)

    baseline = greedy(shifts, staff, sites)
    result = solve(shifts, staff, sites, time_limit_s=3, window_days=window_days)

    assert_valid(baseline, shifts, staff, sites)
    assert_valid(result, shifts, staff, sites)
    assert result.overall_coverage_percent >= baseline.overall_coverage_percent
    assert result.status in ("OPTIMAL", "FEASIBLE")
    assert len(result.unfilled) == sum(
        1 for shift in shifts if len(staffed(result, str(shift.id))) < shift.headcount
    )


def test_solver_beats_greedy_when_greedy_spends_the_scarce_skill() -> None:
    # Greedy gives the early shift to the first candidate, who is the only one able to do email later.
    patrol = make_shift("patrol", MONDAY + 9 * HOUR)
    email = make_shift("email", MONDAY + 12 * HOUR, skills={"email"})
    staff = [make_staff("both", skills={"patrol", "email"}), make_staff("patrol-only")]

    assert greedy([patrol, email], staff).overall_coverage_percent == 50.0
    result = solve([patrol, email], staff, time_limit_s=5)
    assert result.overall_coverage_percent == 100.0
    assert staffed(result, "email") == {"both"}


@pytest.mark.parametrize("abroad", ["Europe/London", "America/Argentina/Buenos_Aires"])
def test_japanese_night_goes_to_staff_for_whom_it_is_daytime(abroad: str) -> None:
    # 22:00-07:00 JST is 13:00-22:00 UTC: afternoon in London, morning in Buenos Aires. The person in
    # Tokyo is cheaper and first in line, so only follow-the-sun sends the shift abroad.
    night = make_shift("jst-night", datetime(2026, 3, 3, 22, tzinfo=TOKYO), hours=9)
    staff = [make_staff("tokyo", hourly_cost=1000), make_staff("abroad", abroad, hourly_cost=2000)]

    assert staffed(greedy([night], staff), "jst-night") == {"tokyo"}
    result = solve([night], staff, time_limit_s=5)
    assert staffed(result, "jst-night") == {"abroad"}
    assert result.penalties[0].rule == "follow_the_sun"
    assert result.penalties[0].amount <= 1.0
    indifferent = solve([night], staff, weights=Weights(follow_the_sun=0), time_limit_s=5)
    assert staffed(indifferent, "jst-night") == {"tokyo"}
    assert indifferent.penalties[0].amount == 8.0


def test_existing_assignments_are_kept_unless_replanned() -> None:
    night = make_shift("jst-night", datetime(2026, 3, 3, 22, tzinfo=TOKYO), hours=9)
    staff = [make_staff("tokyo", hourly_cost=1000), make_staff("london", "Europe/London", hourly_cost=2000)]
    existing = [Assignment("jst-night", "tokyo")]

    kept = solve([night], staff, existing=existing, time_limit_s=5)
    replanned = solve([night], staff, existing=existing, replan=True, time_limit_s=5)

    assert kept.assignments == (Assignment("jst-night", "tokyo"),)
    assert replanned.assignments == (Assignment("jst-night", "london"),)


def test_existing_assignments_that_break_a_rule_are_dropped_and_reported() -> None:
    first = make_shift("first", MONDAY + 9 * HOUR)
    overlapping = make_shift("overlapping", MONDAY + 12 * HOUR)
    staff = [make_staff("p1"), make_staff("p2")]
    existing = [Assignment("first", "p1"), Assignment("overlapping", "p1")]

    result = solve([first, overlapping], staff, existing=existing, time_limit_s=5)

    assert {(assignment, violation.code) for assignment, violation in result.rejected_existing} == {
        (Assignment("first", "p1"), "overlap"),
        (Assignment("overlapping", "p1"), "overlap"),
    }
    assert_valid(result, [first, overlapping], staff, [])
    assert result.overall_coverage_percent == 100.0


def test_unfilled_slots_name_the_missing_skill() -> None:
    legal = make_shift("legal-review", MONDAY + 9 * HOUR, headcount=2, skills={"patrol", "legal"})
    staff = [make_staff("p1"), make_staff("p2")]

    for result in (solve([legal], staff, time_limit_s=5), greedy([legal], staff)):
        assert [(gap.shift_id, gap.missing) for gap in result.unfilled] == [("legal-review", 2)]
        assert result.unfilled[0].reason == "no staff with skill legal"
        assert result.coverage_percent == {"PATROL": 0.0}


def test_unfilled_slots_say_when_qualified_staff_are_unavailable_or_busy() -> None:
    email = make_shift("email", MONDAY + 9 * HOUR, skills={"email"})
    on_leave = make_staff("p1", skills={"email"}, time_off=((MONDAY, MONDAY + 24 * HOUR),))
    nights_only = make_staff(
        "p2",
        skills={"email"},
        availability=tuple(Window(day, parse_clock("20:00"), parse_clock("30:00")) for day in range(7)),
    )

    reason = solve([email], [on_leave, nights_only], time_limit_s=5).unfilled[0].reason
    assert reason == (
        "no staff with skill email speaking ja available: of 2, 1 outside their availability, 1 on time off"
    )

    short = solve([make_shift("pair", MONDAY + 9 * HOUR, headcount=2)], [make_staff("p4")], time_limit_s=5)
    assert short.unfilled[0].reason == "only 1 staff with skill patrol speaking ja available, all on it"

    second = make_shift("email-2", MONDAY + 13 * HOUR, skills={"email"})
    busy = solve([email, second], [make_staff("p3", skills={"email"})], time_limit_s=5)
    assert len(busy.unfilled) == 1
    assert busy.unfilled[0].reason == "all 1 eligible staff not on it are busy (1 overlap)"


def test_seat_capacity_limits_what_the_solver_puts_onsite() -> None:
    sites = [Site("HQ", seat_capacity=1)]
    shifts = [
        make_shift("morning", MONDAY + 9 * HOUR, mode=Mode.ONSITE, site_id="HQ"),
        make_shift("midday", MONDAY + 12 * HOUR, mode=Mode.ONSITE, site_id="HQ"),
    ]
    staff = [make_staff(f"p{number}", sites=frozenset({"HQ"})) for number in range(3)]

    result = solve(shifts, staff, sites, time_limit_s=5)

    assert_valid(result, shifts, staff, sites)
    assert len(result.assignments) == 1
    assert "seat_capacity" in result.unfilled[0].reason


def test_weekly_hours_and_rest_hold_across_solver_windows() -> None:
    # Two weeks of daily 10 h shifts: the 40 h cap allows four a week, rest allows one a day.
    shifts = [make_shift(f"day-{day}", MONDAY + timedelta(days=day, hours=9), hours=10) for day in range(14)]
    staff = [make_staff("p1"), make_staff("p2", "Europe/London")]
    rules = RuleSettings(min_rest_hours=11)

    result = solve(shifts, staff, settings=rules, time_limit_s=5, window_days=2)

    assert_valid(result, shifts, staff, [])
    assert result.overall_coverage_percent == 100.0


def test_coverage_never_drops_below_the_greedy_start_whatever_the_weights() -> None:
    night = make_shift("jst-night", datetime(2026, 3, 3, 22, tzinfo=TOKYO), hours=9)
    # A night hour here costs far more than a filled hour earns, yet the shift stays filled.
    weights = Weights(coverage=1, follow_the_sun=1000)

    result = solve([night], [make_staff("tokyo")], weights=weights, time_limit_s=5)

    assert result.assignments == (Assignment("jst-night", "tokyo"),)
    assert result.penalties[0].points == 8000


# --- labour rules --------------------------------------------------------------------------------


def daily_shifts(days: int, hours: float, start_hour: int = 9) -> list[Shift]:
    return [
        make_shift(f"day-{day}", MONDAY + timedelta(days=day, hours=start_hour), hours=hours)
        for day in range(days)
    ]


@pytest.mark.parametrize("window_days", [None, 2])
def test_no_more_consecutive_days_than_allowed(window_days: float | None) -> None:
    shifts = daily_shifts(14, 6)
    staff = [make_staff("p1", weekly_hour_cap=60, max_consecutive_days=3)]

    for result in (greedy(shifts, staff), solve(shifts, staff, time_limit_s=5, window_days=window_days)):
        assert_valid(result, shifts, staff, [])
        # Three days on, one off: 11 of 14 at best (days 0-2, 4-6, 8-10, 12-13).
        assert len(result.assignments) <= 11
        assert len(result.assignments) >= 10
        assert any("consecutive_days" in gap.reason for gap in result.unfilled)


@pytest.mark.parametrize("window_days", [None, 2])
def test_monthly_overtime_caps_what_one_person_takes(window_days: float | None) -> None:
    # 11-hour spans with an hour's break: 2 h over the daily 8 each, 5 h a month allowed: two of them.
    shifts = daily_shifts(6, 11)
    staff = [make_staff("p1", weekly_hour_cap=80, max_consecutive_days=10, monthly_overtime_hours=5)]

    for result in (greedy(shifts, staff), solve(shifts, staff, time_limit_s=5, window_days=window_days)):
        assert_valid(result, shifts, staff, [])
        assert len(result.assignments) == 2


def test_weekly_overtime_counts_towards_the_cap() -> None:
    # Seven days of 8 worked hours: 56 h, 16 h beyond the weekly 40; 10 h a month allows six days (8 h).
    shifts = daily_shifts(7, 9)
    staff = [
        make_staff("p1", weekly_hour_cap=60, max_consecutive_days=7, monthly_overtime_hours=10),
        make_staff("p2", skills=("email",)),
    ]

    result = solve(shifts, staff, time_limit_s=5, window_days=None)

    assert_valid(result, shifts, staff, [])
    assert len(result.assignments) == 6


def test_the_yearly_cap_counts_work_before_the_period() -> None:
    # 358 h of overtime already this year (from April 2025), one long day a week since June: one more
    # 2-hour day is allowed, a second is not.
    long_days = [(date(2025, 6, 2) + timedelta(weeks=week), 18 * 3600) for week in range(35)]
    history = WorkHistory(worked=(*long_days, (date(2026, 2, 2), 16 * 3600)))
    rules = RuleSettings()
    shifts = daily_shifts(3, 11)
    staff = [make_staff("p1", weekly_hour_cap=80, history=history)]

    for result in (
        greedy(shifts, staff, settings=rules),
        solve(shifts, staff, settings=rules, time_limit_s=5),
    ):
        assert check_roster(shifts, staff, [], result.assignments, rules) == []
        assert len(result.assignments) == 1
        assert "yearly_overtime" in result.unfilled[0].reason
