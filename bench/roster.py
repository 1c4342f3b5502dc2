"""Benchmark: the demo operator scaled to 200 staff and 12 contracts, one month of shifts, rostered by the
greedy baseline and by CP-SAT in the same process, both rosters re-checked by the independent checker
(`roster_check.py`, which shares no rule code with the solver).

    python bench/roster.py [--quick] [--time-limit S] [--workers N] [--seed N] [--window-days D]

Staff live in Tokyo, Sapporo, London and Buenos Aires with mixed skills, languages, availability
patterns, preferred times, training, exclusions and time off, capped at 40 h a week (a fifth at 48 h, so
that they can work weekly overtime), under the labour rules: breaks, at most 6 working days in a row (5 for
some), at most 45 h of overtime a month (20 h for some) and 360 h a year. Contracts mix 24/365 patrol,
08:00-25:30 email, 10:00-22:00 daily work and business-hours work on Japanese business days, some
stationed onsite at sites with seat caps. The month is March 2026 (London springs forward on the 29th).
The time limit bounds the whole solve call (eligibility, greedy start, models, search); the solver
improves the month in overlapping 3-day windows (--window-days 0 puts the month in one model).
The last line is ``RESULT roster staff=… contracts=… coverage=…% greedy_coverage=…% hard_violations=0
solve_s=… preference_satisfaction=…%`` (the share of assigned hours inside the people's preferred
times); the exit status is non-zero if either roster breaks a hard rule.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from roster_check import Finding, check, preference_satisfaction

from bpo.core.business_time import Window, japanese_holidays, parse_clock
from bpo.staffing.rules import Mode, RuleSettings, Shift, Site, StaffMember
from bpo.staffing.solver import SolveResult, greedy, solve

CONTRACT_ZONE = ZoneInfo("Asia/Tokyo")
MONTH = date(2026, 3, 1)
SHIFT_MAX = 9 * 60
SHIFT_MIN = 8 * 60

SITES = (Site("TOKYO-HQ", 120), Site("SAPPORO", 6), Site("RAKUTEN-CRIMSON", 6))


@dataclass(frozen=True)
class Contract:
    code: str
    days: str  # "daily" or "business" (Japanese business days)
    start: str
    end: str
    headcount: int
    skills: tuple[str, ...]
    languages: tuple[str, ...] = ("ja",)
    site: str | None = None


CONTRACTS = (
    Contract("RKT-RECIPE-REVIEW", "daily", "10:00", "22:00", 3, ("recipe-review",)),
    Contract("RKT-RECIPE-PATROL", "daily", "00:00", "24:00", 2, ("patrol",)),
    Contract("RKT-RECIPE-SOCIAL", "business", "09:00", "18:00", 1, ("social",)),
    Contract("RKT-KIREI-SOCIAL", "business", "09:00", "18:00", 1, ("social",)),
    Contract("RKT-INFOSEEK-ADS", "business", "09:30", "18:30", 2, ("ad-ops",), site="RAKUTEN-CRIMSON"),
    Contract("EUR-PAIRS-PATROL", "daily", "00:00", "24:00", 6, ("patrol",)),
    Contract("EUR-PAIRS-REPORTS", "daily", "10:00", "22:00", 2, ("trust-safety",)),
    Contract("EUR-PAIRS-EMAIL", "daily", "10:00", "22:00", 3, ("email",)),
    Contract("LAN-EMAIL", "daily", "08:00", "25:30", 3, ("email", "zendesk")),
    Contract("LAN-CHAT", "business", "10:30", "18:30", 2, ("chat",), site="SAPPORO"),
    Contract("GLB-MODERATION-EN", "daily", "00:00", "24:00", 3, ("patrol",), languages=("en",)),
    Contract("MER-CS-SAPPORO", "daily", "09:00", "18:00", 4, ("email",), site="SAPPORO"),
)

# (region, home zone, staff, own site, hourly cost in JPY); availability: (days, from, to, weight)
REGIONS = (
    ("tokyo", "Asia/Tokyo", 90, "TOKYO-HQ", 1800),
    ("sapporo", "Asia/Tokyo", 30, "SAPPORO", 1500),
    ("london", "Europe/London", 40, None, 2600),
    ("buenos-aires", "America/Argentina/Buenos_Aires", 40, None, 1300),
)
AVAILABILITY = {
    "japan": (
        ("daily", "07:00", "23:00", 50),
        ("weekdays", "08:00", "20:00", 20),
        ("any", "", "", 15),
        ("daily", "14:00", "27:00", 15),
    ),
    "abroad": (("daily", "07:00", "24:00", 60), ("weekdays", "07:00", "23:00", 20), ("any", "", "", 20)),
}
SECONDARY_SKILLS = ("email", "recipe-review", "trust-safety", "social", "chat")
# Preferred times in the home zone: (days, from, to, weight); "none" states no preference.
PREFERENCES = (
    ("daily", "07:00", "16:00", 30),
    ("daily", "12:00", "22:00", 25),
    ("weekdays", "09:00", "18:00", 25),
    ("daily", "20:00", "30:00", 10),
    ("none", "", "", 10),
)


def shift_pattern(start: int, end: int) -> list[tuple[int, int]]:
    """8-9 h shifts covering a window: one if it fits, else evenly spaced, overlapping if need be."""
    length = end - start
    if length <= SHIFT_MAX:
        return [(start, end)]
    count = math.ceil(length / SHIFT_MAX)
    size = max(SHIFT_MIN, math.ceil(length / count / 15) * 15)
    step = (length - size) / (count - 1)
    return [(start + round(i * step), start + round(i * step) + size) for i in range(count)]


def make_shifts() -> list[Shift]:
    holidays = japanese_holidays([MONTH.year])
    days = [MONTH + timedelta(days=offset) for offset in range(31)]
    shifts = []
    for contract in CONTRACTS:
        for day in days:
            if contract.days == "business" and (day.weekday() >= 5 or day in holidays):
                continue
            midnight = datetime(day.year, day.month, day.day, tzinfo=CONTRACT_ZONE)
            for start, end in shift_pattern(parse_clock(contract.start), parse_clock(contract.end)):
                shifts.append(
                    Shift(
                        id=f"{contract.code}/{day}/{start // 60:02d}{start % 60:02d}",
                        contract_id=contract.code,
                        start=(midnight + timedelta(minutes=start)).astimezone(UTC),
                        end=(midnight + timedelta(minutes=end)).astimezone(UTC),
                        site_id=contract.site,
                        mode=Mode.ONSITE if contract.site else Mode.REMOTE,
                        headcount=contract.headcount,
                        skills=frozenset(contract.skills),
                        languages=frozenset(contract.languages),
                    )
                )
    return shifts


def _availability(rng: random.Random, abroad: bool) -> tuple[Window, ...]:
    patterns = AVAILABILITY["abroad" if abroad else "japan"]
    days, start, end, _ = rng.choices(patterns, weights=[weight for *_, weight in patterns])[0]
    if days == "any":
        return tuple(Window(weekday, 0, 24 * 60) for weekday in range(7))
    weekdays = range(7) if days == "daily" else range(5)
    return tuple(Window(weekday, parse_clock(start), parse_clock(end)) for weekday in weekdays)


def _preferred(rng: random.Random) -> tuple[Window, ...]:
    days, start, end, _ = rng.choices(PREFERENCES, weights=[weight for *_, weight in PREFERENCES])[0]
    if days == "none":
        return ()
    weekdays = range(7) if days == "daily" else range(5)
    return tuple(Window(weekday, parse_clock(start), parse_clock(end)) for weekday in weekdays)


def make_staff(rng: random.Random) -> list[StaffMember]:
    staff = []
    codes = [contract.code for contract in CONTRACTS]
    for region, zone, count, site, cost in REGIONS:
        abroad = site is None
        for number in range(count):
            skills = set(rng.sample(SECONDARY_SKILLS, rng.choice((1, 1, 2))))
            if rng.random() < 0.75:
                skills.add("patrol")
            if "email" in skills and rng.random() < 0.6:
                skills.add("zendesk")
            if abroad:
                languages = {"en", "es"} if zone.startswith("America") else {"en"}
                if rng.random() < 0.7:
                    languages.add("ja")
            else:
                languages = {"ja"} | ({"en"} if rng.random() < 0.3 else set())
            sites = {site} if site else set()
            if region == "tokyo" and rng.random() < 0.12:
                sites.add("RAKUTEN-CRIMSON")
                skills.add("ad-ops")
            trained = frozenset(rng.sample(codes, rng.randint(4, 6))) if rng.random() < 0.25 else None
            excluded = (
                frozenset(code for code in codes if code.startswith("EUR-"))
                if rng.random() < 0.05
                else frozenset()
            )
            time_off: tuple[tuple[datetime, datetime], ...] = ()
            if rng.random() < 0.2:
                first = datetime(2026, 3, rng.randint(1, 27), tzinfo=ZoneInfo(zone))
                time_off = ((first, first + timedelta(days=rng.randint(2, 5))),)
            staff.append(
                StaffMember(
                    id=f"{region}-{number + 1:03d}",
                    home_zone=zone,
                    skills=frozenset(skills),
                    languages=frozenset(languages),
                    sites=frozenset(sites),
                    trained_contracts=trained,
                    excluded_contracts=excluded,
                    weekly_hour_cap=48 if rng.random() < 0.2 else 40,
                    availability=_availability(rng, abroad),
                    preferred=_preferred(rng),
                    time_off=time_off,
                    hourly_cost=cost,
                    max_consecutive_days=5 if rng.random() < 0.1 else None,
                    monthly_overtime_hours=20 if rng.random() < 0.1 else None,
                )
            )
    return staff


def report(name: str, result: SolveResult, violations: int) -> None:
    print(
        f"{name:>7}: coverage {result.overall_coverage_percent:6.2f}%  status {result.status:<9} "
        f"gap {'-' if result.gap is None else f'{result.gap:.2e}'}  "
        f"{result.solve_seconds:6.2f} s  assignments {len(result.assignments)}  "
        f"unfilled slots {sum(gap.missing for gap in result.unfilled)}  hard violations {violations}"
    )
    print("         " + "  ".join(f"{penalty.rule}={penalty.amount:.1f}" for penalty in result.penalties))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s time limit instead of 30 s")
    parser.add_argument("--time-limit", type=float, help="seconds for the whole CP-SAT solve call")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--window-days", type=float, default=3.0, help="CP-SAT window; 0 for one model")
    args = parser.parse_args()
    time_limit = args.time_limit or (10.0 if args.quick else 30.0)

    rng = random.Random(args.seed)
    shifts = make_shifts()
    staff = make_staff(rng)
    settings = RuleSettings()
    print(
        f"staff {len(staff)} ({', '.join(f'{count} {region}' for region, _, count, _, _ in REGIONS)}), "
        f"contracts {len(CONTRACTS)}, shifts {len(shifts)}, "
        f"required person-shifts {sum(shift.headcount for shift in shifts)}, "
        f"required person-hours {sum(shift.headcount * shift.seconds for shift in shifts) / 3600:.0f}"
    )

    started = time.perf_counter()
    baseline = greedy(shifts, staff, SITES, settings)
    baseline_violations = check(shifts, staff, SITES, baseline.assignments, settings)
    print(f"greedy done in {time.perf_counter() - started:.2f} s")
    optimised = solve(
        shifts,
        staff,
        SITES,
        settings,
        time_limit_s=time_limit,
        workers=args.workers,
        window_days=args.window_days or None,
    )
    optimised_violations = check(shifts, staff, SITES, optimised.assignments, settings)
    preferred = preference_satisfaction(shifts, staff, optimised.assignments)
    baseline_preferred = preference_satisfaction(shifts, staff, baseline.assignments)

    report("greedy", baseline, len(baseline_violations))
    report("cp-sat", optimised, len(optimised_violations))
    print("coverage per contract (greedy -> cp-sat):")
    for contract in CONTRACTS:
        print(
            f"  {contract.code:<20} {baseline.coverage_percent[contract.code]:6.2f}% -> "
            f"{optimised.coverage_percent[contract.code]:6.2f}%"
        )
    reasons = Counter(gap.reason for gap in optimised.unfilled)
    for reason, count in reasons.most_common(5):
        print(f"  cp-sat unfilled x{count}: {reason}")
    findings: list[Finding] = baseline_violations + optimised_violations
    for finding in findings[:5]:
        print(f"  VIOLATION {finding}")
    print(f"preference satisfaction (greedy -> cp-sat): {baseline_preferred:.2f}% -> {preferred:.2f}%")

    violations = len(baseline_violations) + len(optimised_violations)
    print(
        f"RESULT roster staff={len(staff)} contracts={len(CONTRACTS)} "
        f"coverage={optimised.overall_coverage_percent:.2f}% "
        f"greedy_coverage={baseline.overall_coverage_percent:.2f}% "
        f"hard_violations={violations} solve_s={optimised.solve_seconds:.1f} "
        f"preference_satisfaction={preferred:.2f}%"
    )
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
