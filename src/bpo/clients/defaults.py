"""What each work type is billed by and measured against unless its contract says otherwise.

Drawn from the engagements the product serves: chat first replies within 45 s, email answered within
business hours with 1/8/12/18/24 h checkpoints, post patrol within minutes around the clock.
"""

from __future__ import annotations

from bpo.clients.schemas import BillableEvent, Metric, Objective, SlaClock, WorkType

EMAIL_CHECKPOINTS = ["1h", "8h", "12h", "18h", "24h"]

BILLABLE_EVENT: dict[WorkType, BillableEvent] = {
    WorkType.PATROL: BillableEvent.RESOLVED,
    WorkType.REVIEW: BillableEvent.RESOLVED,
    WorkType.ACTIVE_SUPPORT: BillableEvent.FIRST_RESPONSE,
    WorkType.EMAIL_SUPPORT: BillableEvent.RESOLVED,
    WorkType.CHAT_SUPPORT: BillableEvent.RESOLVED,
    WorkType.VIOLATION_REPORTS: BillableEvent.RESOLVED,
    WorkType.AD_TRAFFICKING: BillableEvent.RESOLVED,
    WorkType.VOICE_REPORTING: BillableEvent.RESOLVED,
}

_COVERAGE = Objective(metric=Metric.COVERAGE, target_percent=95.0)

OBJECTIVES: dict[WorkType, list[Objective]] = {
    WorkType.PATROL: [
        Objective(
            metric=Metric.FIRST_RESPONSE, threshold="30m", target_percent=99.0, clock=SlaClock.CALENDAR
        ),
        _COVERAGE,
    ],
    WorkType.REVIEW: [
        Objective(metric=Metric.FIRST_RESPONSE, threshold="2h", target_percent=95.0, clock=SlaClock.CALENDAR),
        _COVERAGE,
    ],
    WorkType.ACTIVE_SUPPORT: [
        Objective(metric=Metric.FIRST_RESPONSE, threshold="1h", target_percent=90.0),
        _COVERAGE,
    ],
    WorkType.EMAIL_SUPPORT: [
        Objective(
            metric=Metric.FIRST_RESPONSE, threshold="8h", target_percent=90.0, checkpoints=EMAIL_CHECKPOINTS
        ),
        Objective(metric=Metric.RESOLUTION, threshold="24h", target_percent=90.0),
        _COVERAGE,
    ],
    WorkType.CHAT_SUPPORT: [
        Objective(
            metric=Metric.FIRST_RESPONSE,
            threshold="45s",
            target_percent=95.0,
            checkpoints=["45s", "1m", "5m"],
        ),
        _COVERAGE,
    ],
    WorkType.VIOLATION_REPORTS: [
        Objective(metric=Metric.FIRST_RESPONSE, threshold="1h", target_percent=95.0),
        _COVERAGE,
    ],
    WorkType.AD_TRAFFICKING: [
        Objective(metric=Metric.RESOLUTION, threshold="8h", target_percent=95.0),
    ],
    WorkType.VOICE_REPORTING: [
        Objective(metric=Metric.RESOLUTION, threshold="7d", target_percent=100.0, clock=SlaClock.CALENDAR),
    ],
}
