"""Workforce forecast: how many people each interval needs to meet a service objective. Pure: no I/O.

Queued work answered live (chat, phone) uses Erlang C, the M/M/n queue: with arrival rate λ, average
handling time h and n agents, the traffic is A = λh Erlangs, the probability that a contact waits is
C(n, A), and the share answered within t is SL = 1 - C(n, A) e^{-(n - A) t / h}. C comes from Erlang B
by the recursion B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)) and C = n B / (n - A (1 - B)): no
factorials or powers, so it stays exact to float precision at thousands of agents. n <= A has no steady
state (the queue grows without bound) and counts as SL = 0.

Work with thresholds of hours (email, reports) is a backlog, not a queue, and uses a fluid model: work
arrives evenly within each interval, and every unit of work arriving at time s is worked on evenly
over [s, s + T], T the threshold. The people busy at instant t are then the work that arrived in
[t - T, t] divided by T, so anyone staffing that many at every instant clears all work within T
(without relying on luck in how it arrives inside an interval). An interval needs the most that
function reaches inside it. There is no backlog before the first interval, and the people needed after
the last one (to finish its work) are not part of the forecast.

Both give busy agents; a maximum occupancy keeps at least A / occupancy agents so people are not
busy every second, and shrinkage (breaks, training, absence) turns agents on the phones into
scheduled headcount: ceil(agents / (1 - shrinkage)).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
# The search walks the agent counts one by one: time grows with the traffic, so one request is bounded.
MAX_ERLANG_WORK = 2_000_000
# Float noise must not add a person: 14.000000000001 agents is 14.
_EPSILON = 1e-9
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _ceil(value: float) -> int:
    return max(0, math.ceil(value - _EPSILON))


def traffic_erlangs(arrivals: float, interval_seconds: float, aht_seconds: float) -> float:
    """Offered load: the average number of contacts being handled at once."""
    if interval_seconds <= 0:
        raise ValueError("interval_seconds must be positive")
    if arrivals < 0 or aht_seconds <= 0:
        raise ValueError("arrivals must not be negative and aht_seconds must be positive")
    return arrivals * aht_seconds / interval_seconds


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of `agents` servers offered `traffic` Erlangs with no queue."""
    if agents < 0 or traffic < 0:
        raise ValueError("agents and traffic must not be negative")
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def _erlang_c_from_b(agents: int, traffic: float, blocking: float) -> float:
    if agents <= traffic:
        return 1.0
    return agents * blocking / (agents - traffic * (1 - blocking))


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a contact has to wait; 1 when `agents` cannot keep up with the traffic."""
    return _erlang_c_from_b(agents, traffic, erlang_b(agents, traffic))


def _service_level(
    agents: int, traffic: float, aht_seconds: float, threshold_seconds: float, c: float
) -> float:
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return max(0.0, 1 - c * math.exp(-(agents - traffic) * threshold_seconds / aht_seconds))


def service_level(agents: int, traffic: float, aht_seconds: float, threshold_seconds: float) -> float:
    """Share of contacts answered within `threshold_seconds`."""
    if aht_seconds <= 0 or threshold_seconds < 0:
        raise ValueError("aht_seconds must be positive and threshold_seconds not negative")
    return _service_level(agents, traffic, aht_seconds, threshold_seconds, erlang_c(agents, traffic))


def average_speed_of_answer(agents: int, traffic: float, aht_seconds: float) -> float:
    """Mean wait in seconds over all contacts (those answered at once count as 0); inf if unstable."""
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(agents, traffic) * aht_seconds / (agents - traffic)


def occupancy_floor(traffic: float, max_occupancy: float | None) -> int:
    """Fewest agents that keep occupancy (traffic / agents) at or below `max_occupancy`."""
    if max_occupancy is None or traffic == 0:
        return 0
    if not 0 < max_occupancy <= 1:
        raise ValueError("max_occupancy must be in (0, 1]")
    return _ceil(traffic / max_occupancy)


def required_agents(
    traffic: float,
    aht_seconds: float,
    threshold_seconds: float,
    target: float,
    max_occupancy: float | None = None,
) -> int:
    """The fewest agents whose service level reaches `target` (a share, below 1), and whose occupancy
    stays within `max_occupancy` when given."""
    if not 0 <= target < 1:
        raise ValueError("target must be a share in [0, 1): no finite staff answers everyone in time")
    if aht_seconds <= 0 or threshold_seconds < 0 or traffic < 0:
        raise ValueError("aht_seconds must be positive, threshold_seconds and traffic not negative")
    if traffic == 0:
        return 0
    floor = occupancy_floor(traffic, max_occupancy)
    # One pass of the Erlang B recursion up to the first agent count that meets the target.
    agents, blocking = 0, 1.0
    while True:
        agents += 1
        blocking = traffic * blocking / (agents + traffic * blocking)
        if agents <= traffic:
            continue
        c = _erlang_c_from_b(agents, traffic, blocking)
        if _service_level(agents, traffic, aht_seconds, threshold_seconds, c) >= target:
            return max(agents, floor)


def scheduled_headcount(agents: float, shrinkage: float) -> int:
    """People to schedule so that `agents` are working once `shrinkage` (a share) is away."""
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be a share in [0, 1)")
    return _ceil(agents / (1 - shrinkage))


@dataclass(frozen=True)
class IntervalNeed:
    arrivals: float
    traffic: float
    agents: int
    headcount: int
    service_level: float | None = None
    asa_seconds: float | None = None
    occupancy: float | None = None


def erlang_work(arrivals: Sequence[float], interval_seconds: float, aht_seconds: float) -> float:
    """How long `erlang_forecast` takes, in agent counts tried: the traffic of each distinct volume."""
    return sum(traffic_erlangs(count, interval_seconds, aht_seconds) for count in set(arrivals))


def erlang_forecast(
    arrivals: Sequence[float],
    interval_seconds: float,
    aht_seconds: float,
    threshold_seconds: float,
    target: float,
    *,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
) -> list[IntervalNeed]:
    """Erlang C per interval: each interval is taken as a steady state of its own."""
    needs = []
    # Forecasts repeat the same volumes (flat hours, quiet nights): each distinct one is solved once.
    solved: dict[float, IntervalNeed] = {}
    for count in arrivals:
        if count in solved:
            needs.append(solved[count])
            continue
        traffic = traffic_erlangs(count, interval_seconds, aht_seconds)
        agents = required_agents(traffic, aht_seconds, threshold_seconds, target, max_occupancy)
        solved[count] = IntervalNeed(
            arrivals=count,
            traffic=traffic,
            agents=agents,
            headcount=scheduled_headcount(agents, shrinkage),
            service_level=service_level(agents, traffic, aht_seconds, threshold_seconds),
            asa_seconds=average_speed_of_answer(agents, traffic, aht_seconds),
            occupancy=traffic / agents if agents else None,
        )
        needs.append(solved[count])
    return needs


def _cumulative(arrivals: Sequence[float]) -> list[float]:
    totals = [0.0]
    for count in arrivals:
        totals.append(totals[-1] + count)
    return totals


def _arrived_by(totals: Sequence[float], interval_seconds: float, instant: float) -> float:
    """Work units arrived before `instant` (seconds from the first interval's start), spread evenly
    inside each interval."""
    intervals = len(totals) - 1
    if instant <= 0:
        return 0.0
    if instant >= intervals * interval_seconds:
        return totals[-1]
    index = int(instant // interval_seconds)
    inside = (instant - index * interval_seconds) / interval_seconds
    return totals[index] + (totals[index + 1] - totals[index]) * inside


def backlog_busy(
    arrivals: Sequence[float], interval_seconds: float, aht_seconds: float, threshold_seconds: float
) -> list[float]:
    """Busy agents the fluid model needs in each interval: the most, over the interval, of
    (work arrived in the last `threshold_seconds`) x AHT / threshold."""
    if interval_seconds <= 0 or aht_seconds <= 0 or threshold_seconds <= 0:
        raise ValueError("interval_seconds, aht_seconds and threshold_seconds must be positive")
    if any(count < 0 for count in arrivals):
        raise ValueError("arrivals must not be negative")
    totals = _cumulative(arrivals)
    busy = []
    for index in range(len(arrivals)):
        begin, end = index * interval_seconds, (index + 1) * interval_seconds
        # Piecewise linear in t, with corners only where t - T crosses an interval boundary.
        corners = [begin, end]
        boundary = math.floor((begin - threshold_seconds) / interval_seconds) + 1
        while (shifted := boundary * interval_seconds + threshold_seconds) < end:
            corners.append(shifted)
            boundary += 1
        peak = max(
            _arrived_by(totals, interval_seconds, t)
            - _arrived_by(totals, interval_seconds, t - threshold_seconds)
            for t in corners
        )
        busy.append(peak * aht_seconds / threshold_seconds)
    return busy


def backlog_forecast(
    arrivals: Sequence[float],
    interval_seconds: float,
    aht_seconds: float,
    threshold_seconds: float,
    *,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
) -> list[IntervalNeed]:
    """The fluid backlog model per interval (see the module's description)."""
    if max_occupancy is not None and not 0 < max_occupancy <= 1:
        raise ValueError("max_occupancy must be in (0, 1]")
    needs = []
    for count, busy in zip(
        arrivals, backlog_busy(arrivals, interval_seconds, aht_seconds, threshold_seconds), strict=True
    ):
        agents = _ceil(busy / (max_occupancy or 1.0))
        needs.append(
            IntervalNeed(
                arrivals=count,
                traffic=traffic_erlangs(count, interval_seconds, aht_seconds),
                agents=agents,
                headcount=scheduled_headcount(agents, shrinkage),
                occupancy=busy / agents if agents else None,
            )
        )
    return needs


@dataclass(frozen=True)
class CoverageWindow:
    weekdays: tuple[int, ...]
    start_minute: int
    end_minute: int
    headcount: int

    @property
    def days(self) -> list[str]:
        """The weekdays as coverage lines name them, shortest form first."""
        if self.weekdays == tuple(range(7)):
            return ["daily"]
        if self.weekdays == tuple(range(5)):
            return ["weekdays"]
        if self.weekdays == (5, 6):
            return ["weekends"]
        return [WEEKDAYS[day] for day in self.weekdays]


def coverage_windows(
    starts: Sequence[datetime], headcounts: Sequence[int], interval_minutes: int, zone: str
) -> list[CoverageWindow]:
    """Weekly coverage windows in `zone`'s wall clock from interval needs: each weekday and time of day
    takes the largest headcount any interval at it needs, runs of equal headcount join into one window
    (never across local midnight), and equal windows on several weekdays become one line."""
    if interval_minutes <= 0 or MINUTES_PER_DAY % interval_minutes:
        raise ValueError("interval_minutes must divide a day")
    if len(starts) != len(headcounts):
        raise ValueError("one headcount per interval start")
    tz = ZoneInfo(zone)
    slots: dict[tuple[int, int], int] = defaultdict(int)
    for start, headcount in zip(starts, headcounts, strict=True):
        local = start.astimezone(tz)
        key = (local.weekday(), local.hour * 60 + local.minute)
        slots[key] = max(slots[key], headcount)
    by_span: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for weekday in range(7):
        runs: list[list[int]] = []
        for minute in sorted(minute for day, minute in slots if day == weekday):
            headcount = slots[(weekday, minute)]
            if runs and runs[-1][1] == minute and runs[-1][2] == headcount:
                runs[-1][1] = minute + interval_minutes
            else:
                runs.append([minute, minute + interval_minutes, headcount])
        for opens, closes, headcount in runs:
            if headcount > 0:
                by_span[(opens, closes, headcount)].append(weekday)
    windows = [
        CoverageWindow(tuple(weekdays), opens, closes, headcount)
        for (opens, closes, headcount), weekdays in by_span.items()
    ]
    return sorted(windows, key=lambda window: (window.weekdays[0], window.start_minute))


def interval_starts(first: datetime, interval_minutes: int, count: int) -> list[datetime]:
    """Consecutive interval starts in absolute time (a DST change shifts their wall-clock times)."""
    if first.utcoffset() is None:
        raise ValueError("the first interval's start must be timezone-aware")
    origin = first.astimezone(UTC)
    step = timedelta(minutes=interval_minutes)
    return [origin + index * step for index in range(count)]
