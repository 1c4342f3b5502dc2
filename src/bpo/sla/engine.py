"""SLA measurement of work items against contract objectives, and its aggregation over a period. Pure: the
caller supplies the contract's calendar (``clients.service.business_calendar``), the objective version in
force at the item's receipt, and ``now``.

Clocks. A ``business_hours`` objective counts only the open time of the contract calendar
(``business_duration``) and its due instant is ``add_business(received_at, threshold)``; a ``calendar``
objective counts elapsed real time. Either way ``elapsed`` runs from ``received_at`` to the instant the
clock stopped (first response or resolution) or, while the item is open, to ``now``.

Status. An item whose clock stopped is met when ``elapsed <= threshold`` and breached otherwise. An open
item is breached as soon as its elapsed time passes the threshold, so answering it at any instant gives
the status it showed while open at that instant, and a breach never turns back into a pass. That happens
just after ``due_at``, except when the calendar closes exactly at ``due_at``: an answer given
while closed still has ``elapsed == threshold``, so the item stays pending until the next opening, and
``breached_at`` is that opening.

Coverage objectives measure staffing, not items: ``applies`` is false for them and ``measure`` refuses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from bpo.clients.rules import duration_seconds
from bpo.clients.schemas import MAX_DURATION_DAYS, MAX_DURATION_SECONDS, Metric, Objective, SlaClock
from bpo.core.business_time import Calendar, add_business, business_duration, is_open, next_open
from bpo.sla.sketch import LatencySketch

# Attainment this many percentage points or less below target shows amber rather than red: close enough
# that the account manager should look, not yet a miss to escalate.
DEFAULT_AMBER_MARGIN = 2.0


class Status(StrEnum):
    MET = "met"
    BREACHED = "breached"
    PENDING = "pending"


class TargetStatus(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True, slots=True)
class ItemTimes:
    received_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    priority: str | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        for name in ("received_at", "first_response_at", "resolved_at"):
            instant: datetime | None = getattr(self, name)
            if instant is None:
                continue
            if instant.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
            # Subtracting datetimes that share a ZoneInfo gives wall-clock time, wrong across DST.
            object.__setattr__(self, name, instant.astimezone(UTC))
            if instant < self.received_at:
                raise ValueError(f"{name} {instant.isoformat()} is before received_at")


@dataclass(frozen=True, slots=True)
class Measurement:
    status: Status
    elapsed: timedelta
    due_at: datetime
    at_risk_at: datetime
    breached_at: datetime | None
    stopped_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusCounts:
    met: int = 0
    breached: int = 0
    pending: int = 0

    def __add__(self, other: StatusCounts) -> StatusCounts:
        return StatusCounts(
            self.met + other.met, self.breached + other.breached, self.pending + other.pending
        )


@dataclass(frozen=True, slots=True)
class CheckpointShare:
    checkpoint: timedelta
    within: int
    eligible: int

    @property
    def percent(self) -> float | None:
        return 100 * self.within / self.eligible if self.eligible else None


class UnmeasurableObjective(ValueError):
    """A stored objective measurement cannot take (a duration past a year, stored by an older release)."""


@lru_cache(maxsize=256)
def duration(text: str) -> timedelta:
    try:
        seconds = duration_seconds(text)
    except ValueError:
        raise UnmeasurableObjective(f"{text!r} is not a duration") from None
    if seconds > MAX_DURATION_SECONDS:
        # Far past any real objective, and past what date arithmetic can hold: refused here rather than
        # as an overflow somewhere in the middle of a measurement.
        raise UnmeasurableObjective(
            f"the objective duration {text!r} is longer than {MAX_DURATION_DAYS} days; correct or delete the "
            "SLA policy version holding it (/v1/contracts/{contract_id}/sla-policies/{sla_policy_id})"
        )
    return timedelta(seconds=seconds)


def applies(objective: Objective, item: ItemTimes) -> bool:
    if objective.metric == Metric.COVERAGE:
        return False
    if objective.priorities and item.priority not in objective.priorities:
        return False
    return not objective.channels or item.channel in objective.channels


def stopped_at(metric: Metric, item: ItemTimes) -> datetime | None:
    if metric == Metric.RESOLUTION:
        return item.resolved_at
    if metric == Metric.FIRST_RESPONSE:
        # Resolving an item answers its requester, so an item closed without a recorded reply has its
        # first response at the resolution rather than staying pending forever.
        stops = [at for at in (item.first_response_at, item.resolved_at) if at is not None]
        return min(stops, default=None)
    raise ValueError(f"{metric} objectives are not measured per item")


def measure(objective: Objective, item: ItemTimes, calendar: Calendar, now: datetime) -> Measurement:
    stop = stopped_at(objective.metric, item)
    if objective.threshold is None:
        raise ValueError(f"a {objective.metric} objective needs a threshold")
    if now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    threshold = duration(objective.threshold)
    at_risk = threshold * objective.at_risk_percent / 100
    business = objective.clock == SlaClock.BUSINESS_HOURS
    end = stop if stop is not None else max(now.astimezone(UTC), item.received_at)
    if business:
        elapsed = business_duration(calendar, item.received_at, end)
        at_risk_at = add_business(calendar, item.received_at, at_risk)
        due_at = add_business(calendar, at_risk_at, threshold - at_risk)
    else:
        elapsed = end - item.received_at
        at_risk_at = item.received_at + at_risk
        due_at = item.received_at + threshold
    if stop is not None:
        if elapsed <= threshold:
            return Measurement(Status.MET, elapsed, due_at, at_risk_at, None, stop)
        breached_at = _late_after(calendar, due_at) if business else due_at
        return Measurement(Status.BREACHED, elapsed, due_at, at_risk_at, breached_at, stop)
    if now > due_at:
        breached_at = _late_after(calendar, due_at) if business else due_at
        if now > breached_at:
            return Measurement(Status.BREACHED, elapsed, due_at, at_risk_at, breached_at, None)
    return Measurement(Status.PENDING, elapsed, due_at, at_risk_at, None, None)


def met_when_stopped(objective: Objective, item: ItemTimes, calendar: Calendar) -> bool:
    """Whether the item stopped the objective's clock within its threshold: what ``measure`` calls MET,
    told without working out the item's due and at-risk instants (on a business clock, the costliest
    part of measuring)."""
    stop = stopped_at(objective.metric, item)
    if stop is None or objective.threshold is None:
        return False
    threshold = duration(objective.threshold)
    if objective.clock == SlaClock.BUSINESS_HOURS:
        return business_duration(calendar, item.received_at, stop) <= threshold
    return stop - item.received_at <= threshold


def _late_after(calendar: Calendar, due_at: datetime) -> datetime:
    # An answer while the calendar is closed adds no business time, so lateness starts at the next opening.
    return due_at if is_open(calendar, due_at) else next_open(calendar, due_at)


def count_statuses(measurements: Iterable[Measurement]) -> StatusCounts:
    met = breached = pending = 0
    for measurement in measurements:
        if measurement.status is Status.MET:
            met += 1
        elif measurement.status is Status.BREACHED:
            breached += 1
        else:
            pending += 1
    return StatusCounts(met, breached, pending)


def attainment(met: int, breached: int) -> float | None:
    if met < 0 or breached < 0:
        raise ValueError(f"counts must not be negative, got met={met} breached={breached}")
    decided = met + breached
    # 100 * met first: 9 / 10 * 100 is 90.00000000000001, which would read as above a 90% target.
    return 100 * met / decided if decided else None


def target_status(
    attainment_percent: float | None, target_percent: float, amber_margin: float = DEFAULT_AMBER_MARGIN
) -> TargetStatus | None:
    if amber_margin < 0:
        raise ValueError(f"amber margin must not be negative, got {amber_margin}")
    if attainment_percent is None:
        return None
    if attainment_percent >= target_percent:
        return TargetStatus.GREEN
    if attainment_percent >= target_percent - amber_margin:
        return TargetStatus.AMBER
    return TargetStatus.RED


def trend(now: float | None, before: float | None) -> Literal["up", "down", "flat"] | None:
    """How an attainment moved against the period before: within 0.05 points is flat."""
    if now is None or before is None:
        return None
    if abs(now - before) < 0.05:
        return "flat"
    return "up" if now > before else "down"


def checkpoint_curve(
    measurements: Iterable[Measurement], checkpoints: Sequence[timedelta]
) -> list[CheckpointShare]:
    """Per checkpoint c: items answered with elapsed <= c, out of the items whose outcome at c is known,
    that is every answered item plus every open item whose elapsed time has passed c. An open item
    younger than c is left out of c's share, so the period still being worked does not read as
    unanswered; the shares therefore never fall as c grows."""
    answered: list[timedelta] = []
    open_elapsed: list[timedelta] = []
    for measurement in measurements:
        (answered if measurement.stopped_at is not None else open_elapsed).append(measurement.elapsed)
    return [
        CheckpointShare(
            checkpoint,
            within=sum(1 for elapsed in answered if elapsed <= checkpoint),
            eligible=len(answered) + sum(1 for elapsed in open_elapsed if elapsed > checkpoint),
        )
        for checkpoint in checkpoints
    ]


def latency_sketch(measurements: Iterable[Measurement]) -> LatencySketch:
    # Open items have no latency yet; counting their age would pull percentiles down while work is queued.
    return LatencySketch.of(
        measurement.elapsed.total_seconds()
        for measurement in measurements
        if measurement.stopped_at is not None
    )
