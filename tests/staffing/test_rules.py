"""Hard staffing rules: each one rejects with its own code, passes at its boundary, and reads time in
the person's home zone (ISO weeks, availability across the London spring-forward weekend)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.core.business_time import Window, parse_clock
from bpo.staffing.labour import break_is_legal, default_break_minutes, minimum_break_minutes, overtime_by_day
from bpo.staffing.rules import (
    Assignment,
    Mode,
    RuleCode,
    RuleSettings,
    Shift,
    Site,
    StaffMember,
    Violation,
    WorkHistory,
    check_assignment,
    check_roster,
    clash,
    week_seconds,
)

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")
ZONES = ("Asia/Tokyo", "Europe/London", "America/Argentina/Buenos_Aires")
HOUR = timedelta(hours=1)
# Monday 2026-03-02 09:00 JST.
MONDAY_9_JST = datetime(2026, 3, 2, 9, tzinfo=TOKYO)


def make_shift(
    id: str = "s1",
    start: datetime = MONDAY_9_JST,
    hours: float = 8,
    contract_id: str = "PATROL",
    **fields: Any,
) -> Shift:
    base = Shift(
        id=id,
        contract_id=contract_id,
        start=start,
        # In UTC: adding to a zoned datetime would add wall-clock time.
        end=start.astimezone(UTC) + timedelta(hours=hours),
        skills=frozenset({"patrol"}),
        languages=frozenset({"ja"}),
    )
    return replace(base, **fields)


def make_staff(id: str = "p1", **fields: Any) -> StaffMember:
    base = StaffMember(
        id=id,
        home_zone="Asia/Tokyo",
        skills=frozenset({"patrol", "email"}),
        languages=frozenset({"ja", "en"}),
        sites=frozenset({"TOKYO-HQ"}),
    )
    return replace(base, **fields)


def daily(start: str, end: str) -> tuple[Window, ...]:
    return tuple(Window(weekday, parse_clock(start), parse_clock(end)) for weekday in range(7))


def codes(violations: list[Violation]) -> set[str]:
    return {violation.code for violation in violations}


ONSITE: dict[str, Any] = {"mode": Mode.ONSITE, "site_id": "TOKYO-HQ"}


# (name, shift, staff, staff's other shifts, others onsite at the site, site)
CASES = [
    ("overlap", make_shift(), make_staff(), [make_shift("other", MONDAY_9_JST + 4 * HOUR)], [], None),
    ("min_rest", make_shift(), make_staff(), [make_shift("other", MONDAY_9_JST - 13 * HOUR)], [], None),
    (
        # Ten-hour spans with an hour's break: 9 h worked a day, 45 h in the week.
        "weekly_hours",
        make_shift(hours=10),
        make_staff(monthly_overtime_hours=100),
        [make_shift(f"day{day}", MONDAY_9_JST + day * 24 * HOUR, hours=10) for day in range(1, 5)],
        [],
        None,
    ),
    ("break_too_short", make_shift(break_minutes=30), make_staff(), [], [], None),
    (
        "consecutive_days",
        make_shift(),
        make_staff(),
        [make_shift(f"day{day}", MONDAY_9_JST - day * 24 * HOUR) for day in range(1, 7)],
        [],
        None,
    ),
    (
        # Two hours over the daily 8 worked each day, capped at 3 h a month.
        "monthly_overtime",
        make_shift(hours=11),
        make_staff(monthly_overtime_hours=3, weekly_hour_cap=60),
        [make_shift("day1", MONDAY_9_JST + 24 * HOUR, hours=11)],
        [],
        None,
    ),
    (
        "yearly_overtime",
        make_shift(hours=11),
        make_staff(yearly_overtime_hours=3, weekly_hour_cap=60),
        [make_shift("day1", MONDAY_9_JST + 24 * HOUR, hours=11)],
        [],
        None,
    ),
    ("skills", make_shift(skills=frozenset({"patrol", "legal"})), make_staff(), [], [], None),
    ("languages", make_shift(languages=frozenset({"ko"})), make_staff(), [], [], None),
    ("site_not_allowed", make_shift(mode=Mode.ONSITE, site_id="CLIENT-OFFICE"), make_staff(), [], [], None),
    (
        "time_off",
        make_shift(),
        make_staff(time_off=((MONDAY_9_JST - 24 * HOUR, MONDAY_9_JST + HOUR),)),
        [],
        [],
        None,
    ),
    ("availability", make_shift(), make_staff(availability=daily("10:00", "22:00")), [], [], None),
    ("excluded_contract", make_shift(), make_staff(excluded_contracts=frozenset({"PATROL"})), [], [], None),
    ("not_trained", make_shift(), make_staff(trained_contracts=frozenset({"EMAIL"})), [], [], None),
    (
        "seat_capacity",
        make_shift(**ONSITE),
        make_staff(),
        [],
        [(Assignment("other", "p2"), make_shift("other", MONDAY_9_JST + 2 * HOUR, **ONSITE))],
        Site("TOKYO-HQ", seat_capacity=1),
    ),
]


@pytest.mark.parametrize(
    ("code", "shift", "staff", "staff_shifts", "site_assignments", "site"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_each_hard_rule_rejects_with_its_code(
    code: str,
    shift: Shift,
    staff: StaffMember,
    staff_shifts: list[Shift],
    site_assignments: list[tuple[Assignment, Shift]],
    site: Site | None,
) -> None:
    violations = check_assignment(shift, staff, staff_shifts, site_assignments, site=site)

    assert codes(violations) == {code}
    assert all(violation.message for violation in violations)


def test_a_clean_assignment_passes() -> None:
    assert check_assignment(make_shift(**ONSITE), make_staff(), site=Site("TOKYO-HQ", seat_capacity=1)) == []


def test_codes_are_the_documented_strings() -> None:
    assert {code.value for code in RuleCode} == {
        "overlap",
        "min_rest",
        "weekly_hours",
        "skills",
        "languages",
        "site_not_allowed",
        "time_off",
        "availability",
        "excluded_contract",
        "not_trained",
        "seat_capacity",
        "break_too_short",
        "consecutive_days",
        "monthly_overtime",
        "yearly_overtime",
    }


def test_conflicts_name_the_conflicting_shift() -> None:
    earlier = make_shift("night-before", MONDAY_9_JST - 10 * HOUR)
    violation = check_assignment(make_shift(), make_staff(), [earlier])[0]

    assert violation.code == "min_rest"
    assert violation.conflicting_shift_id == "night-before"


def test_rest_is_enough_at_exactly_the_minimum_and_configurable() -> None:
    eleven_hours_before = make_shift("other", MONDAY_9_JST - 19 * HOUR)
    shift, staff = make_shift(), make_staff()

    assert check_assignment(shift, staff, [eleven_hours_before]) == []
    strict = RuleSettings(min_rest_hours=12)
    assert codes(check_assignment(shift, staff, [eleven_hours_before], settings=strict)) == {"min_rest"}


def test_weekly_hours_reach_the_cap_exactly() -> None:
    # 8 h 45 min with the usual 45-minute break: 8 h worked a day.
    long_day = 8.75
    four_days = [
        make_shift(f"day{day}", MONDAY_9_JST + day * 24 * HOUR, hours=long_day) for day in range(1, 5)
    ]
    shift = make_shift(hours=long_day)

    assert check_assignment(shift, make_staff(), four_days) == []
    assert codes(check_assignment(shift, make_staff(weekly_hour_cap=39.5), four_days)) == {"weekly_hours"}


def test_weekly_hours_count_the_iso_week_of_the_home_zone() -> None:
    # Monday 02:00-08:00 JST is still Sunday in UTC: a UTC week would put it with the 40 h before it.
    forty_hours = [make_shift(f"day{day}", MONDAY_9_JST + day * 24 * HOUR) for day in range(5)]
    next_monday = make_shift("next", datetime(2026, 3, 9, 2, tzinfo=TOKYO), hours=6)

    assert check_assignment(next_monday, make_staff(), forty_hours) == []
    # For a London member the same instants are Sunday 17:00-23:00, in the week of the 40 h.
    london = make_staff(home_zone="Europe/London")
    assert codes(check_assignment(next_monday, london, forty_hours)) == {"weekly_hours"}


def test_a_shift_over_monday_midnight_counts_towards_both_weeks() -> None:
    start = datetime(2026, 3, 8, 20, tzinfo=TOKYO)

    assert week_seconds(start, start + 8 * HOUR, TOKYO) == {(2026, 10): 4 * 3600, (2026, 11): 4 * 3600}


def test_seat_capacity_counts_distinct_people_at_the_busiest_instant() -> None:
    site = Site("TOKYO-HQ", seat_capacity=2)
    # Two others onsite, but never at the same time as each other.
    morning = make_shift("morning", MONDAY_9_JST - 4 * HOUR, hours=6, **ONSITE)
    evening = make_shift("evening", MONDAY_9_JST + 5 * HOUR, hours=6, **ONSITE)
    remote = make_shift("remote", MONDAY_9_JST, mode=Mode.REMOTE, site_id="TOKYO-HQ")
    others = [(Assignment("morning", "p2"), morning), (Assignment("evening", "p3"), evening)]
    others.append((Assignment("remote", "p4"), remote))

    assert check_assignment(make_shift(**ONSITE), make_staff(), site_assignments=others, site=site) == []
    crowded = [*others, (Assignment("evening", "p5"), evening)]
    violations = check_assignment(make_shift(**ONSITE), make_staff(), site_assignments=crowded, site=site)
    assert codes(violations) == {"seat_capacity"}
    assert violations[0].conflicting_shift_id == "evening"


# --- availability in the home zone, across DST --------------------------------------------------

SPRING_FORWARD = datetime(2026, 3, 29, tzinfo=LONDON)


def london_staff(start: str = "08:00", end: str = "20:00") -> StaffMember:
    return make_staff(home_zone="Europe/London", availability=daily(start, end))


def london_shift(start: datetime, end: datetime) -> Shift:
    return make_shift(start=start, hours=(end.astimezone(UTC) - start.astimezone(UTC)) / HOUR)


def test_availability_follows_london_wall_clock_on_the_spring_forward_sunday() -> None:
    staff = london_staff()
    # 08:00-20:00 BST is 07:00-19:00 UTC that Sunday, and lasts the full 12 hours.
    sunday = london_shift(datetime(2026, 3, 29, 7, tzinfo=UTC), datetime(2026, 3, 29, 19, tzinfo=UTC))
    assert check_assignment(sunday, staff) == []
    # The same UTC hours on Saturday (GMT) start at 07:00 local, before the window opens.
    saturday = london_shift(datetime(2026, 3, 28, 7, tzinfo=UTC), datetime(2026, 3, 28, 19, tzinfo=UTC))
    assert codes(check_assignment(saturday, staff)) == {"availability"}
    # Saturday's UTC hours (08:00-20:00 UTC) on Sunday run to 21:00 BST, past the window.
    late = london_shift(datetime(2026, 3, 29, 8, tzinfo=UTC), datetime(2026, 3, 29, 20, tzinfo=UTC))
    assert codes(check_assignment(late, staff)) == {"availability"}


def test_overnight_availability_around_the_missing_hour() -> None:
    # 22:00-30:00 (06:00 next day) local; the night into the spring-forward Sunday has only 7 hours.
    staff = london_staff("22:00", "30:00")
    night = london_shift(SPRING_FORWARD - 2 * HOUR, SPRING_FORWARD.replace(hour=6))
    assert (night.end - night.start) == 7 * HOUR
    assert check_assignment(night, staff) == []
    assert codes(check_assignment(replace(night, end=night.end + HOUR), staff)) == {"availability"}


# --- the roster checker --------------------------------------------------------------------------


def test_check_roster_rechecks_every_assignment_against_the_others() -> None:
    first = make_shift("first")
    second = make_shift("second", MONDAY_9_JST + 6 * HOUR)
    third = make_shift("third", MONDAY_9_JST + 24 * HOUR, skills=frozenset({"legal"}))
    staff = [make_staff("p1"), make_staff("p2")]
    roster = [Assignment("first", "p1"), Assignment("second", "p1"), Assignment("second", "p2")]

    found = check_roster([first, second, third], staff, [], roster)

    assert [
        (assignment, violation.code, violation.conflicting_shift_id) for assignment, violation in found
    ] == [
        (Assignment("first", "p1"), "overlap", "second"),
        (Assignment("second", "p1"), "overlap", "first"),
    ]
    assert codes(
        [violation for _, violation in check_roster([third], staff, [], [Assignment("third", "p2")])]
    ) == {"skills"}


def test_check_roster_refuses_unknown_ids() -> None:
    with pytest.raises(ValueError, match="unknown shift"):
        check_roster([], [make_staff()], [], [Assignment("nope", "p1")])


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=7 * 24 * 60),
    st.integers(min_value=1, max_value=16 * 60),
    st.integers(min_value=0, max_value=7 * 24 * 60),
    st.integers(min_value=1, max_value=16 * 60),
    st.integers(min_value=0, max_value=24),
)
def test_clash_is_symmetric_and_matches_rest_extended_intervals(
    start: int, minutes: int, other_start: int, other_minutes: int, rest_hours: int
) -> None:
    shift = make_shift("a", MONDAY_9_JST + timedelta(minutes=start), hours=minutes / 60)
    other = make_shift("b", MONDAY_9_JST + timedelta(minutes=other_start), hours=other_minutes / 60)
    rules = RuleSettings(min_rest_hours=rest_hours)
    rest = rules.min_rest

    clashes = clash(shift, other, rules) is not None

    assert clashes == (clash(other, shift, rules) is not None)
    # The solver groups shifts by whether [start, end + rest) meet; it must agree with the checker.
    assert clashes == (shift.start < other.end + rest and other.start < shift.end + rest)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=30 * 24 * 60),
)
def test_week_seconds_split_a_shift_without_losing_time(zone: str, start: datetime, minutes: int) -> None:
    end = start + timedelta(minutes=minutes)
    weeks = week_seconds(start, end, ZoneInfo(zone))

    assert sum(weeks.values()) == minutes * 60
    local = start.astimezone(ZoneInfo(zone)).isocalendar()
    assert min(weeks) == (local.year, local.week)


# --- labour rules: breaks, consecutive days, overtime -------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "least", "usual"),
    [(6, 0, 0), (6.25, 15, 45), (6.75, 45, 45), (8.75, 45, 45), (8.9, 54, 60), (9, 60, 60), (12, 60, 60)],
)
def test_the_legal_and_the_usual_break(hours: float, least: int, usual: int) -> None:
    span = round(hours * 3600)

    assert (minimum_break_minutes(span), default_break_minutes(span)) == (least, usual)
    assert make_shift(hours=hours).break_seconds == usual * 60
    assert make_shift(hours=hours, break_minutes=least).worked_seconds == span - least * 60


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=24 * 60), st.integers(min_value=0, max_value=120))
def test_a_break_is_legal_exactly_when_the_working_time_allows_it(minutes: int, pause: int) -> None:
    worked = (minutes - pause) * 60
    needed = 60 if worked > 8 * 3600 else 45 if worked > 6 * 3600 else 0

    assert break_is_legal(minutes * 60, pause) == (pause >= needed)
    assert break_is_legal(minutes * 60, default_break_minutes(minutes * 60))
    least = minimum_break_minutes(minutes * 60)
    assert break_is_legal(minutes * 60, least)
    assert least == 0 or not break_is_legal(minutes * 60, least - 1)


def test_hours_are_worked_time_without_the_break() -> None:
    # Five 9-hour spans are 40 worked hours with their 60-minute breaks: at the cap, not over it.
    week = [make_shift(f"day{day}", MONDAY_9_JST + day * 24 * HOUR, hours=9) for day in range(1, 5)]

    assert check_assignment(make_shift(hours=9), make_staff(), week) == []
    # Stored breaks are what counts: without them the same days are 44 hours.
    unbroken = [replace(shift, break_minutes=0) for shift in week]
    assert codes(check_assignment(make_shift(hours=9), make_staff(), unbroken)) == {"weekly_hours"}


def test_consecutive_days_count_home_zone_dates_and_a_night_shift_works_two() -> None:
    five_days = [make_shift(f"day{day}", MONDAY_9_JST + day * 24 * HOUR, hours=6) for day in range(5)]
    saturday = make_shift("sat", MONDAY_9_JST + 5 * 24 * HOUR, hours=6)
    sunday = make_shift("sun", MONDAY_9_JST + 6 * 24 * HOUR, hours=6)

    assert check_assignment(saturday, make_staff(), five_days) == []
    assert codes(check_assignment(saturday, make_staff(max_consecutive_days=5), five_days)) == {
        "consecutive_days"
    }
    # Saturday 22:00 to Sunday 06:00 touches both days: with Monday to Friday, seven in a row.
    night = make_shift("night", MONDAY_9_JST + 5 * 24 * HOUR + 13 * HOUR, hours=8)
    assert codes(check_assignment(night, make_staff(), five_days)) == {"consecutive_days"}
    # A day off in between starts a new run.
    assert check_assignment(sunday, make_staff(), five_days) == []
    strict = RuleSettings(max_consecutive_days=5)
    assert codes(check_assignment(saturday, make_staff(), five_days, settings=strict)) == {"consecutive_days"}
    assert check_assignment(saturday, make_staff(max_consecutive_days=6), five_days, settings=strict) == []


def test_overtime_is_daily_excess_plus_weekly_excess_dated_on_sunday() -> None:
    monday = MONDAY_9_JST.date()
    # Mon 10 h, Tue to Sat 8 h: 2 h daily overtime on Monday; of the 48 h within the daily limit, 8 h
    # beyond the weekly 40 on Sunday.
    worked = {monday: 10 * 3600, **{monday + timedelta(days=d): 8 * 3600 for d in range(1, 6)}}

    assert overtime_by_day(worked) == {monday: 2 * 3600, monday + timedelta(days=6): 8 * 3600}


def test_a_month_over_its_cap_only_refuses_shifts_that_add_overtime() -> None:
    staff = make_staff(monthly_overtime_hours=2, weekly_hour_cap=80, max_consecutive_days=20)
    # Two 11-hour spans (10 worked): 2 h of overtime each, 4 h in March.
    long_days = [make_shift(f"long{day}", MONDAY_9_JST + day * 24 * HOUR, hours=11) for day in (0, 1)]
    short = make_shift("short", MONDAY_9_JST + 2 * 24 * HOUR, hours=6)

    assert codes(check_assignment(long_days[1], staff, long_days[:1])) == {"monthly_overtime"}
    assert check_assignment(short, staff, long_days) == []


def test_the_overtime_year_starts_in_april_by_default() -> None:
    staff = make_staff(yearly_overtime_hours=3, weekly_hour_cap=80)
    march = make_shift("march", datetime(2026, 3, 31, 9, tzinfo=TOKYO), hours=11)
    april = make_shift("april", datetime(2026, 4, 1, 9, tzinfo=TOKYO), hours=11)
    may = make_shift("may", datetime(2026, 5, 1, 9, tzinfo=TOKYO), hours=11)

    assert check_assignment(april, staff, [march]) == []
    assert codes(check_assignment(may, staff, [april])) == {"yearly_overtime"}
    calendar_year = RuleSettings(overtime_year_start_month=1)
    assert codes(check_assignment(april, staff, [march], settings=calendar_year)) == {"yearly_overtime"}


def test_work_history_counts_like_the_shifts_it_summarises() -> None:
    earlier = [make_shift(f"day{day}", MONDAY_9_JST - day * 24 * HOUR) for day in range(1, 7)]
    staff = make_staff(history=WorkHistory.of(earlier, "Asia/Tokyo"))

    assert codes(check_assignment(make_shift(), staff)) == codes(
        check_assignment(make_shift(), make_staff(), earlier)
    )
    assert codes(check_assignment(make_shift(), staff)) == {"consecutive_days"}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 14 * 3600)), max_size=25))
def test_overtime_is_the_greater_of_daily_and_weekly_excess_per_week(days: list[tuple[int, int]]) -> None:
    worked: dict[date, int] = {}
    for offset, seconds in days:
        worked[MONDAY_9_JST.date() + timedelta(days=offset)] = seconds
    dated = overtime_by_day(worked)

    weeks: dict[date, list[int]] = {}
    for day, seconds in worked.items():
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(seconds)
    expected = sum(
        max(sum(max(0, s - 8 * 3600) for s in week), sum(week) - 40 * 3600) for week in weeks.values()
    )
    assert sum(dated.values()) == expected
    assert all(seconds > 0 for seconds in dated.values())
