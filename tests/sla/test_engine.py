"""SLA measurement: the Lancers chat and email cases, business hours across weekends, Japanese holidays
and London's DST weekends, pending items breaching with the passage of time alone, and properties tying
the status, the due instant and the elapsed time together over random items."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.clients.schemas import Objective
from bpo.core.business_time import (
    Calendar,
    add_business,
    business_duration,
)
from bpo.sla.engine import (
    DEFAULT_AMBER_MARGIN,
    CheckpointShare,
    ItemTimes,
    Measurement,
    Status,
    StatusCounts,
    TargetStatus,
    applies,
    attainment,
    checkpoint_curve,
    count_statuses,
    duration,
    latency_sketch,
    measure,
    met_when_stopped,
    target_status,
)
from bpo.sla.sketch import LatencySketch, bucket_of
from tests.support.sla_engine import (
    LANCERS_CHAT,
    LANCERS_EMAIL,
    LONDON_NIGHTS,
    OFFICE_JP,
    YEAR_2026,
    objective,
    scenarios,
    threshold_of,
)

TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
MICROSECOND = timedelta(microseconds=1)

TUESDAY = date(2026, 1, 6)
FRIDAY_BEFORE_HOLIDAY = date(2026, 1, 9)  # Monday 12 January 2026 is Coming of Age Day.


CHAT_45S = objective(threshold="45s", target_percent=90, channels=["chat"])
EMAIL_8H = objective(threshold="8h", checkpoints=["1h", "8h", "12h", "18h", "24h"], channels=["email"])


def at(day: date, clock: str, zone: ZoneInfo = TOKYO) -> datetime:
    hours, minutes, seconds = (int(part) for part in f"{clock}:00".split(":")[:3])
    return datetime.combine(day, time(hours, minutes, seconds), zone)


def next_day(day: date, days: int = 1) -> date:
    return day + timedelta(days=days)


# Filters


def test_empty_filters_apply_to_every_item() -> None:
    anything = objective(threshold="1h")
    assert applies(anything, ItemTimes(at(TUESDAY, "10:00")))
    assert applies(anything, ItemTimes(at(TUESDAY, "10:00"), priority="urgent", channel="x"))


@pytest.mark.parametrize(
    ("priority", "channel", "expected"),
    [
        ("urgent", "chat", True),
        ("high", "chat", True),
        ("low", "chat", False),
        (None, "chat", False),
        ("urgent", "email", False),
        ("urgent", None, False),
    ],
)
def test_priority_and_channel_filters_must_both_match(
    priority: str | None, channel: str | None, expected: bool
) -> None:
    filtered = objective(threshold="1h", priorities=["urgent", "high"], channels=["chat"])
    item = ItemTimes(at(TUESDAY, "10:00"), priority=priority, channel=channel)
    assert applies(filtered, item) is expected


def test_coverage_objectives_are_not_per_item() -> None:
    coverage = objective("coverage", target_percent=95)
    item = ItemTimes(at(TUESDAY, "10:30"), at(TUESDAY, "10:31"))
    assert not applies(coverage, item)
    with pytest.raises(ValueError, match="not measured per item"):
        measure(coverage, item, LANCERS_CHAT, at(TUESDAY, "12:00"))


# Lancers chat: 45 s first response in business hours


@pytest.mark.parametrize(
    ("answered", "status", "elapsed"),
    [("10:30:44", Status.MET, 44), ("10:30:45", Status.MET, 45), ("10:30:46", Status.BREACHED, 46)],
)
def test_chat_answered_within_45_seconds_is_met(answered: str, status: Status, elapsed: int) -> None:
    received = at(TUESDAY, "10:30:00")
    item = ItemTimes(received, at(TUESDAY, answered), channel="chat")
    measured = measure(CHAT_45S, item, LANCERS_CHAT, at(TUESDAY, "12:00"))
    assert measured.status is status
    assert measured.elapsed == timedelta(seconds=elapsed)
    assert measured.due_at == at(TUESDAY, "10:30:45")
    assert measured.breached_at == (at(TUESDAY, "10:30:45") if status is Status.BREACHED else None)
    assert measured.stopped_at == at(TUESDAY, answered)


def test_chat_received_just_before_closing_counts_only_business_seconds() -> None:
    item = ItemTimes(at(TUESDAY, "18:29:50"), at(next_day(TUESDAY), "10:30:30"), channel="chat")
    measured = measure(CHAT_45S, item, LANCERS_CHAT, at(next_day(TUESDAY), "12:00"))
    assert measured.status is Status.MET
    assert measured.elapsed == timedelta(seconds=40)
    assert measured.due_at == at(next_day(TUESDAY), "10:30:35")


def test_chat_received_before_a_holiday_weekend_is_due_on_the_next_business_day() -> None:
    received = at(FRIDAY_BEFORE_HOLIDAY, "18:29:50")
    tuesday = next_day(FRIDAY_BEFORE_HOLIDAY, 4)
    item = ItemTimes(received, at(tuesday, "10:30:30"), channel="chat")
    measured = measure(CHAT_45S, item, LANCERS_CHAT, at(tuesday, "12:00"))
    assert measured.status is Status.MET
    assert measured.elapsed == timedelta(seconds=40)
    assert measured.due_at == at(tuesday, "10:30:35")
    assert measured.at_risk_at == at(tuesday, "10:30:26")


# Business hours across a weekend and Japanese holidays


def test_business_hours_skip_the_weekend_and_a_monday_holiday() -> None:
    four_hours = objective(threshold="4h")
    received = at(FRIDAY_BEFORE_HOLIDAY, "17:00")
    tuesday = next_day(FRIDAY_BEFORE_HOLIDAY, 4)
    answered_in_time = measure(
        four_hours, ItemTimes(received, at(tuesday, "11:00")), OFFICE_JP, at(tuesday, "18:00")
    )
    assert answered_in_time.status is Status.MET
    assert answered_in_time.elapsed == 3 * HOUR
    assert answered_in_time.due_at == at(tuesday, "12:00")
    late = measure(four_hours, ItemTimes(received, at(tuesday, "12:30")), OFFICE_JP, at(tuesday, "18:00"))
    assert late.status is Status.BREACHED
    assert late.elapsed == 4.5 * HOUR
    assert late.breached_at == at(tuesday, "12:00")


def test_the_monday_holiday_alone_keeps_an_item_pending() -> None:
    four_hours = objective(threshold="4h")
    item = ItemTimes(at(FRIDAY_BEFORE_HOLIDAY, "17:00"))
    holiday = next_day(FRIDAY_BEFORE_HOLIDAY, 3)
    assert measure(four_hours, item, OFFICE_JP, at(holiday, "17:00")).status is Status.PENDING
    assert measure(four_hours, item, OFFICE_JP, at(holiday, "17:00")).elapsed == HOUR
    # Without the holiday table, Monday is an ordinary business day and the item is long overdue.
    no_holidays = Calendar("Asia/Tokyo", OFFICE_JP.windows)
    assert measure(four_hours, item, no_holidays, at(holiday, "17:00")).status is Status.BREACHED


def test_due_at_closing_before_silver_week_stays_pending_until_the_office_reopens() -> None:
    nine_hours = objective(threshold="9h")
    received = at(date(2026, 9, 18), "09:00")  # Friday; Monday to Wednesday are holidays.
    thursday = date(2026, 9, 24)
    measured = measure(nine_hours, ItemTimes(received), OFFICE_JP, at(date(2026, 9, 23), "23:00"))
    assert measured.due_at == at(date(2026, 9, 18), "18:00")
    assert (measured.status, measured.elapsed) == (Status.PENDING, 9 * HOUR)
    reopened = measure(nine_hours, ItemTimes(received), OFFICE_JP, at(thursday, "09:00") + MICROSECOND)
    assert (reopened.status, reopened.breached_at) == (Status.BREACHED, at(thursday, "09:00"))
    ten_hours = measure(objective(threshold="10h"), ItemTimes(received), OFFICE_JP, received)
    assert ten_hours.due_at == at(thursday, "10:00")


# Pending becomes breached by the clock alone


def test_a_pending_item_breaches_when_now_passes_the_due_instant() -> None:
    item = ItemTimes(at(TUESDAY, "10:30:00"), channel="chat")
    due = at(TUESDAY, "10:30:45")
    for now, status in [
        (at(TUESDAY, "10:30:00"), Status.PENDING),
        (due - MICROSECOND, Status.PENDING),
        (due, Status.PENDING),
        (due + MICROSECOND, Status.BREACHED),
        (at(TUESDAY, "17:00"), Status.BREACHED),
    ]:
        measured = measure(CHAT_45S, item, LANCERS_CHAT, now)
        assert measured.status is status, now
        assert measured.breached_at == (due if status is Status.BREACHED else None)
        assert measured.stopped_at is None


def test_a_pending_item_does_not_age_while_the_calendar_is_closed() -> None:
    item = ItemTimes(at(TUESDAY, "18:29:50"), channel="chat")
    evening = measure(CHAT_45S, item, LANCERS_CHAT, at(TUESDAY, "23:00"))
    assert evening.status is Status.PENDING
    assert evening.elapsed == 10 * SECOND
    morning = measure(CHAT_45S, item, LANCERS_CHAT, at(next_day(TUESDAY), "10:30:36"))
    assert morning.status is Status.BREACHED
    assert morning.elapsed == 46 * SECOND
    assert morning.breached_at == at(next_day(TUESDAY), "10:30:35")


def test_due_at_closing_time_breaches_only_once_the_calendar_reopens() -> None:
    # 17:30 + 8 business hours is 25:30, the moment the email desk closes. An answer while it is closed
    # still took exactly 8 business hours, so the open item cannot be breached before 08:00.
    item = ItemTimes(at(TUESDAY, "17:30"), channel="email")
    wednesday = next_day(TUESDAY)
    overnight = measure(EMAIL_8H, item, LANCERS_EMAIL, at(wednesday, "04:00"))
    assert overnight.due_at == at(wednesday, "01:30")
    assert overnight.status is Status.PENDING
    assert overnight.elapsed == 8 * HOUR
    answered_overnight = ItemTimes(item.received_at, at(wednesday, "04:00"), channel="email")
    assert measure(EMAIL_8H, answered_overnight, LANCERS_EMAIL, at(wednesday, "12:00")).status is Status.MET
    assert measure(EMAIL_8H, item, LANCERS_EMAIL, at(wednesday, "08:00")).status is Status.PENDING
    opened = measure(EMAIL_8H, item, LANCERS_EMAIL, at(wednesday, "08:00") + MICROSECOND)
    assert opened.status is Status.BREACHED
    assert opened.breached_at == at(wednesday, "08:00")
    answered_late = ItemTimes(item.received_at, at(wednesday, "08:10"), channel="email")
    late = measure(EMAIL_8H, answered_late, LANCERS_EMAIL, at(wednesday, "12:00"))
    assert late.status is Status.BREACHED
    assert late.breached_at == at(wednesday, "08:00")


def test_an_item_received_after_now_is_pending_with_nothing_elapsed() -> None:
    item = ItemTimes(at(TUESDAY, "11:00"))
    measured = measure(CHAT_45S, item, LANCERS_CHAT, at(TUESDAY, "10:59"))
    assert measured.status is Status.PENDING
    assert measured.elapsed == timedelta()


# At risk


def test_at_risk_is_80_percent_of_the_threshold_by_default() -> None:
    item = ItemTimes(at(TUESDAY, "10:30:00"))
    assert measure(CHAT_45S, item, LANCERS_CHAT, at(TUESDAY, "10:30")).at_risk_at == at(TUESDAY, "10:30:36")
    email = measure(EMAIL_8H, ItemTimes(at(TUESDAY, "20:00")), LANCERS_EMAIL, at(TUESDAY, "20:00"))
    # 6 h 24 min of open time: 5 h 30 min before 25:30, then 54 min from 08:00.
    assert email.at_risk_at == at(next_day(TUESDAY), "08:54")


def test_at_risk_percent_is_taken_from_the_objective() -> None:
    half = objective(threshold="45s", at_risk_percent=50)
    measured = measure(half, ItemTimes(at(TUESDAY, "10:30:00")), LANCERS_CHAT, at(TUESDAY, "10:30"))
    assert measured.at_risk_at == at(TUESDAY, "10:30:22") + timedelta(milliseconds=500)


# Clocks


def test_calendar_clock_counts_nights_that_business_hours_skip() -> None:
    received, answered = at(TUESDAY, "20:00"), at(next_day(TUESDAY), "10:00")
    item = ItemTimes(received, answered, channel="email")
    now = at(next_day(TUESDAY), "12:00")
    business = measure(EMAIL_8H, item, LANCERS_EMAIL, now)
    wall = measure(objective(threshold="8h", clock="calendar"), item, LANCERS_EMAIL, now)
    assert (business.status, business.elapsed) == (Status.MET, 7.5 * HOUR)
    assert business.due_at == at(next_day(TUESDAY), "10:30")
    assert (wall.status, wall.elapsed) == (Status.BREACHED, 14 * HOUR)
    assert wall.due_at == wall.breached_at == at(next_day(TUESDAY), "04:00")
    assert wall.at_risk_at == received + 6.4 * HOUR


def test_calendar_clock_ignores_the_calendar_entirely() -> None:
    wall = objective(threshold="4h", clock="calendar")
    item = ItemTimes(at(FRIDAY_BEFORE_HOLIDAY, "17:00"))
    measured = measure(wall, item, OFFICE_JP, at(FRIDAY_BEFORE_HOLIDAY, "21:00") + SECOND)
    assert measured.status is Status.BREACHED
    assert measured.elapsed == 4 * HOUR + SECOND


# DST in Europe/London


def test_business_window_is_two_hours_long_on_the_spring_forward_night() -> None:
    sunday = date(2026, 3, 29)
    threshold = objective(threshold="2h30m")
    item = ItemTimes(at(sunday, "00:00", LONDON))
    measured = measure(threshold, item, LONDON_NIGHTS, at(sunday, "12:00", LONDON))
    # 00:00 GMT to 03:00 BST is two real hours; the last 30 minutes come the next night.
    assert measured.due_at == at(next_day(sunday), "00:30", LONDON)
    assert measured.elapsed == 2 * HOUR
    assert measured.status is Status.PENDING
    answered = ItemTimes(item.received_at, at(next_day(sunday), "00:15", LONDON))
    met = measure(threshold, answered, LONDON_NIGHTS, at(next_day(sunday), "12:00", LONDON))
    assert (met.status, met.elapsed) == (Status.MET, 2.25 * HOUR)


def test_business_window_is_four_hours_long_on_the_fall_back_night() -> None:
    sunday = date(2026, 10, 25)
    threshold = objective(threshold="3h30m")
    received = at(sunday, "00:00", LONDON)
    measured = measure(threshold, ItemTimes(received), LONDON_NIGHTS, at(sunday, "12:00", LONDON))
    # Real time: adding to a London datetime would add wall-clock time and land on 03:30 GMT.
    assert measured.due_at == received.astimezone(UTC) + 3.5 * HOUR
    assert measured.due_at.astimezone(LONDON).strftime("%H:%M %Z") == "02:30 GMT"
    assert measured.elapsed == 4 * HOUR
    assert measured.status is Status.BREACHED


def test_calendar_clock_counts_real_hours_across_the_spring_forward_weekend() -> None:
    day = objective(threshold="24h", clock="calendar")
    received = at(date(2026, 3, 28), "12:00", LONDON)
    answered = at(date(2026, 3, 29), "12:30", LONDON)
    measured = measure(day, ItemTimes(received, answered), LONDON_NIGHTS, answered)
    # Noon to noon across the change is 23 real hours, so the item is due at 13:00 BST.
    assert measured.due_at == at(date(2026, 3, 29), "13:00", LONDON)
    assert (measured.status, measured.elapsed) == (Status.MET, 23.5 * HOUR)


# Resolution and first response


def test_resolution_runs_to_resolved_at_and_ignores_the_first_response() -> None:
    resolution = objective("resolution", threshold="1h")
    item = ItemTimes(at(TUESDAY, "10:00"), at(TUESDAY, "10:01"), at(TUESDAY, "11:30"))
    measured = measure(resolution, item, OFFICE_JP, at(TUESDAY, "12:00"))
    assert (measured.status, measured.elapsed) == (Status.BREACHED, 1.5 * HOUR)
    assert measured.stopped_at == at(TUESDAY, "11:30")
    open_item = ItemTimes(at(TUESDAY, "10:00"), at(TUESDAY, "10:01"))
    assert measure(resolution, open_item, OFFICE_JP, at(TUESDAY, "10:30")).status is Status.PENDING


def test_an_item_resolved_without_a_recorded_reply_was_answered_at_resolution() -> None:
    item = ItemTimes(at(TUESDAY, "10:00"), resolved_at=at(TUESDAY, "10:20"))
    measured = measure(objective(threshold="30m"), item, OFFICE_JP, at(TUESDAY, "18:00"))
    assert (measured.status, measured.stopped_at) == (Status.MET, at(TUESDAY, "10:20"))


def test_item_times_are_normalised_to_utc_and_checked() -> None:
    item = ItemTimes(at(TUESDAY, "10:00"), at(TUESDAY, "10:05"))
    assert item.received_at.tzinfo is UTC
    assert item.received_at == at(TUESDAY, "10:00")
    with pytest.raises(ValueError, match="timezone-aware"):
        ItemTimes(datetime(2026, 1, 6, 10))
    with pytest.raises(ValueError, match="before received_at"):
        ItemTimes(at(TUESDAY, "10:00"), resolved_at=at(TUESDAY, "09:59"))
    with pytest.raises(ValueError, match="timezone-aware"):
        measure(CHAT_45S, item, LANCERS_CHAT, datetime(2026, 1, 6, 12))


# Period aggregation


def test_attainment_is_met_over_decided_items() -> None:
    assert attainment(0, 0) is None
    assert attainment(9, 1) == 90.0
    assert attainment(0, 3) == 0.0
    assert attainment(7, 0) == 100.0
    with pytest.raises(ValueError, match="negative"):
        attainment(-1, 3)


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_attainment_is_the_exact_ratio_correctly_rounded(met: int, breached: int) -> None:
    result = attainment(met, breached)
    if met + breached == 0:
        assert result is None
    else:
        assert result == float(Fraction(100 * met, met + breached))


@pytest.mark.parametrize(
    ("attained", "target", "margin", "expected"),
    [
        (95.0, 95.0, DEFAULT_AMBER_MARGIN, TargetStatus.GREEN),
        (100.0, 95.0, DEFAULT_AMBER_MARGIN, TargetStatus.GREEN),
        (94.99, 95.0, DEFAULT_AMBER_MARGIN, TargetStatus.AMBER),
        (93.0, 95.0, DEFAULT_AMBER_MARGIN, TargetStatus.AMBER),
        (92.99, 95.0, DEFAULT_AMBER_MARGIN, TargetStatus.RED),
        (92.99, 95.0, 5.0, TargetStatus.AMBER),
        (94.99, 95.0, 0.0, TargetStatus.RED),
        (0.0, 0.0, DEFAULT_AMBER_MARGIN, TargetStatus.GREEN),
    ],
)
def test_target_status(attained: float, target: float, margin: float, expected: TargetStatus) -> None:
    assert target_status(attained, target, margin) is expected


def test_target_status_of_a_period_with_nothing_decided_is_unknown() -> None:
    assert target_status(None, 95.0) is None
    assert target_status(attainment(18, 2), 90.0) is TargetStatus.GREEN
    with pytest.raises(ValueError, match="amber margin"):
        target_status(90.0, 95.0, -1.0)


def email_period() -> tuple[list[Measurement], datetime]:
    """The Lancers email desk over a few days, 8 h business-hours target: six answered items and two
    still open when the dashboard is read on Friday at noon."""
    tue, wed, thu, fri = (next_day(TUESDAY, n) for n in range(4))
    now = at(fri, "12:00")
    items = [
        ItemTimes(at(tue, "09:00"), at(tue, "09:30")),  # 0.5 h
        ItemTimes(at(tue, "09:00"), at(tue, "16:00")),  # 7 h
        ItemTimes(at(tue, "20:00"), at(wed, "10:00")),  # 5.5 h + 2 h = 7.5 h
        ItemTimes(at(tue, "23:00"), at(wed, "15:00")),  # 2.5 h + 7 h = 9.5 h
        ItemTimes(at(tue, "09:00"), at(wed, "12:00")),  # 16.5 h + 4 h = 20.5 h
        ItemTimes(at(tue, "09:00"), at(thu, "10:00")),  # 16.5 h + 17.5 h + 2 h = 36 h
        ItemTimes(at(thu, "10:00")),  # open: 15.5 h + 4 h = 19.5 h by now
        ItemTimes(at(fri, "11:30")),  # open: 0.5 h by now
    ]
    return [measure(EMAIL_8H, item, LANCERS_EMAIL, now) for item in items], now


def test_lancers_email_period_statuses_and_elapsed_business_time() -> None:
    measurements, _ = email_period()
    assert [m.elapsed / HOUR for m in measurements] == [0.5, 7, 7.5, 9.5, 20.5, 36, 19.5, 0.5]
    assert count_statuses(measurements) == StatusCounts(met=3, breached=4, pending=1)
    counts = count_statuses(measurements)
    assert attainment(counts.met, counts.breached) == pytest.approx(300 / 7)


def test_lancers_email_checkpoint_curve() -> None:
    measurements, _ = email_period()
    checkpoints = [duration(text) for text in EMAIL_8H.checkpoints]
    curve = checkpoint_curve(measurements, checkpoints)
    # Six answered items are in every share. The item open for 19.5 h has missed 1, 8, 12 and 18 h
    # but may still make 24 h; the item open for 30 minutes has not reached any checkpoint yet.
    assert curve == [
        CheckpointShare(1 * HOUR, within=1, eligible=7),
        CheckpointShare(8 * HOUR, within=3, eligible=7),
        CheckpointShare(12 * HOUR, within=4, eligible=7),
        CheckpointShare(18 * HOUR, within=4, eligible=7),
        CheckpointShare(24 * HOUR, within=5, eligible=6),
    ]
    assert [share.percent for share in curve] == pytest.approx([100 / 7, 300 / 7, 400 / 7, 400 / 7, 500 / 6])


def test_checkpoint_with_no_known_outcome_has_no_share() -> None:
    young = measure(EMAIL_8H, ItemTimes(at(TUESDAY, "09:00")), LANCERS_EMAIL, at(TUESDAY, "09:10"))
    assert checkpoint_curve([young], [HOUR]) == [CheckpointShare(HOUR, within=0, eligible=0)]
    assert checkpoint_curve([young], [HOUR])[0].percent is None


def test_latency_sketch_counts_answered_items_only() -> None:
    measurements, _ = email_period()
    sketch = latency_sketch(measurements)
    assert sketch.total == 6
    assert sketch == LatencySketch.of([0.5 * 3600, 7 * 3600, 7.5 * 3600, 9.5 * 3600, 20.5 * 3600, 36 * 3600])
    assert sketch.quantile(0.5) == pytest.approx(7.5 * 3600, rel=0.05)
    assert bucket_of(7.5 * 3600) == bucket_of(sketch.quantile(0.5) or 0)


def test_status_counts_merge_by_adding() -> None:
    assert StatusCounts(1, 2, 3) + StatusCounts(10, 20, 30) == StatusCounts(11, 22, 33)


# Properties over random items


@given(scenarios())
@settings(deadline=None, max_examples=150)
def test_due_and_at_risk_instants_are_where_the_clock_reaches_them(
    scenario: tuple[Objective, Calendar, datetime, timedelta],
) -> None:
    rule, calendar, received, later = scenario
    measured = measure(rule, ItemTimes(received), calendar, received + later)
    threshold = threshold_of(rule)
    at_risk = threshold * rule.at_risk_percent / 100
    if rule.clock == "business_hours":
        assert measured.due_at == add_business(calendar, received, threshold)
        assert business_duration(calendar, received, measured.due_at) == threshold
        assert business_duration(calendar, received, measured.at_risk_at) == at_risk
    else:
        assert measured.due_at - received == threshold
        assert measured.at_risk_at - received == at_risk
    assert received < measured.at_risk_at < measured.due_at


@given(scenarios())
@settings(deadline=None, max_examples=150)
def test_answering_at_an_instant_gives_the_status_the_open_item_shows_then(
    scenario: tuple[Objective, Calendar, datetime, timedelta],
) -> None:
    rule, calendar, received, later = scenario
    instant = received + later
    open_item = measure(rule, ItemTimes(received), calendar, instant)
    answered = measure(rule, ItemTimes(received, instant), calendar, instant + timedelta(days=30))
    assert open_item.elapsed == answered.elapsed
    assert answered.status is (Status.MET if answered.elapsed <= threshold_of(rule) else Status.BREACHED)
    assert (open_item.status is Status.BREACHED) == (answered.status is Status.BREACHED)
    assert open_item.breached_at == answered.breached_at
    if answered.breached_at is not None:
        assert answered.breached_at >= answered.due_at
        # Breach means the open item is late just after breached_at, not before.
        just_before = measure(rule, ItemTimes(received), calendar, answered.breached_at)
        just_after = measure(rule, ItemTimes(received), calendar, answered.breached_at + MICROSECOND)
        assert (just_before.status, just_after.status) == (Status.PENDING, Status.BREACHED)


@given(scenarios(), st.sampled_from(["first_response", "resolution"]), st.integers(0, 3 * 86400))
@settings(deadline=None, max_examples=150)
def test_met_when_stopped_says_what_measure_says_of_a_stopped_clock(
    scenario: tuple[Objective, Calendar, datetime, timedelta], answered_by: str, resolved_after: int
) -> None:
    rule, calendar, received, later = scenario
    stop = received + later
    item = (
        ItemTimes(received, stop)
        if answered_by == "first_response"
        else ItemTimes(received, None, stop + timedelta(seconds=resolved_after))
    )
    measured = measure(rule, item, calendar, stop + timedelta(days=30))
    assert met_when_stopped(rule, item, calendar) is (
        measured.stopped_at is not None and measured.status is Status.MET
    )
    assert met_when_stopped(rule, ItemTimes(received), calendar) is False


@given(scenarios(), st.integers(0, 5 * 86400))
@settings(deadline=None, max_examples=100)
def test_an_open_item_never_recovers_from_a_breach(
    scenario: tuple[Objective, Calendar, datetime, timedelta], more_seconds: int
) -> None:
    rule, calendar, received, later = scenario
    first = measure(rule, ItemTimes(received), calendar, received + later)
    second = measure(rule, ItemTimes(received), calendar, received + later + timedelta(seconds=more_seconds))
    assert second.elapsed >= first.elapsed
    if first.status is Status.BREACHED:
        assert second.status is Status.BREACHED
    assert first.elapsed <= later


@given(st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=40))
def test_checkpoint_shares_never_fall_as_the_checkpoint_grows(items: list[tuple[int, bool]]) -> None:
    received = YEAR_2026
    measurements = [
        Measurement(
            Status.PENDING,
            elapsed=timedelta(minutes=minutes),
            due_at=received,
            at_risk_at=received,
            breached_at=None,
            stopped_at=received + timedelta(minutes=minutes) if answered else None,
        )
        for minutes, answered in items
    ]
    curve = checkpoint_curve(measurements, [timedelta(minutes=m) for m in range(0, 101, 10)])
    answered_count = sum(answered for _, answered in items)
    shares = [share.percent for share in curve if share.percent is not None]
    assert shares == sorted(shares)
    for share in curve:
        assert answered_count <= share.eligible <= len(items)
        assert 0 <= share.within <= answered_count
