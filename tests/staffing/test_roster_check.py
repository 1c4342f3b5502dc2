"""The benchmark's independent checker (`bench/roster_check.py`, written from the rules as documented)
and the rules' own `check_roster` agree on which hard rules random rosters break: each is a check on the
other."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.core.business_time import Window
from bpo.staffing.rules import ALWAYS_AVAILABLE, Assignment, RuleSettings, Shift, StaffMember, check_roster

BENCH = Path(__file__).resolve().parents[2] / "bench" / "roster_check.py"
# Zones without a clock change in the weeks drawn (November 2026).
ZONES = ("Asia/Tokyo", "Europe/London", "America/Argentina/Buenos_Aires")
START = datetime(2026, 11, 2, tzinfo=UTC)


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("roster_check", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("roster_check", module)
    spec.loader.exec_module(module)
    return module


roster_check = load_checker()


@st.composite
def shifts(draw: st.DrawFn, number: int) -> Shift:
    start = START + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 21)))
    minutes = 15 * draw(st.integers(8, 13 * 4))
    pause = draw(st.one_of(st.none(), st.integers(0, min(90, minutes - 1))))
    return Shift(
        id=f"s{number}",
        contract_id="C",
        start=start,
        end=start + timedelta(minutes=minutes),
        break_minutes=pause,
    )


@st.composite
def people(draw: st.DrawFn, number: int) -> StaffMember:
    evenings = tuple(Window(day, 8 * 60, 23 * 60) for day in range(7))
    return StaffMember(
        id=f"p{number}",
        home_zone=draw(st.sampled_from(ZONES)),
        weekly_hour_cap=draw(st.sampled_from([20, 40, 60])),
        availability=draw(st.sampled_from([ALWAYS_AVAILABLE, evenings])),
        max_consecutive_days=draw(st.one_of(st.none(), st.integers(2, 6))),
        monthly_overtime_hours=draw(st.one_of(st.none(), st.sampled_from([0, 2, 10]))),
        yearly_overtime_hours=draw(st.one_of(st.none(), st.sampled_from([1, 5]))),
    )


@st.composite
def rosters(draw: st.DrawFn) -> tuple[list[Shift], list[StaffMember], list[Assignment], RuleSettings]:
    shift_list = [draw(shifts(number)) for number in range(draw(st.integers(1, 12)))]
    staff = [draw(people(number)) for number in range(draw(st.integers(1, 3)))]
    pairs = draw(
        st.sets(st.tuples(st.sampled_from(shift_list), st.sampled_from(staff)), max_size=len(shift_list) * 2)
    )
    assignments = [Assignment(shift.id, person.id) for shift, person in pairs]
    rules = RuleSettings(
        min_rest_hours=draw(st.sampled_from([0, 8, 11])),
        max_consecutive_days=draw(st.integers(2, 6)),
        monthly_overtime_hours=draw(st.sampled_from([0, 4, 45])),
        overtime_year_start_month=draw(st.sampled_from([1, 4, 11])),
    )
    return shift_list, staff, assignments, rules


@settings(max_examples=300, deadline=None)
@given(rosters())
def test_the_independent_checker_and_the_rules_agree(
    roster: tuple[list[Shift], list[StaffMember], list[Assignment], RuleSettings],
) -> None:
    shift_list, staff, assignments, rules = roster
    by_rules = {
        violation.code.value for _, violation in check_roster(shift_list, staff, [], assignments, rules)
    }
    by_checker = {finding.rule for finding in roster_check.check(shift_list, staff, [], assignments, rules)}

    assert by_checker - {"headcount"} == by_rules
