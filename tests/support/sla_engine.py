"""Objectives, calendars and random scenarios for the SLA engine's pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import strategies as st

from bpo.clients.schemas import Objective
from bpo.core.business_time import Calendar, Window, japanese_holidays, parse_clock
from bpo.sla.engine import duration

WEEKDAYS = range(5)
EVERY_DAY = range(7)
JP_HOLIDAYS = japanese_holidays([2025, 2026, 2027])

# Lancers (seed 001/003): chat 10:30-18:30 on weekdays with a 45 s first-response target, email
# 08:00-25:30 every day with an 8 h target and answer rates at 1/8/12/18/24 h.
LANCERS_CHAT = Calendar(
    "Asia/Tokyo",
    tuple(Window(day, parse_clock("10:30"), parse_clock("18:30")) for day in WEEKDAYS),
    JP_HOLIDAYS,
)
LANCERS_EMAIL = Calendar(
    "Asia/Tokyo", tuple(Window(day, parse_clock("08:00"), parse_clock("25:30")) for day in EVERY_DAY)
)
OFFICE_JP = Calendar(
    "Asia/Tokyo",
    tuple(Window(day, parse_clock("09:00"), parse_clock("18:00")) for day in WEEKDAYS),
    JP_HOLIDAYS,
)
# Open 00:00-03:00 London time every night: the clocks change inside the window on DST Sundays.
LONDON_NIGHTS = Calendar("Europe/London", tuple(Window(day, 0, parse_clock("03:00")) for day in EVERY_DAY))


def objective(metric: str = "first_response", **fields: Any) -> Objective:
    # Through msgspec, as the service loads stored policies, so enums are enums.
    return msgspec.convert({"metric": metric, "target_percent": 90, **fields}, Objective)


CALENDARS = st.sampled_from([LANCERS_CHAT, LANCERS_EMAIL, OFFICE_JP, LONDON_NIGHTS])
THRESHOLDS = st.sampled_from(["45s", "5m", "1h", "2h30m", "8h", "1d", "3d"])
YEAR_2026 = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Objective, Calendar, datetime, timedelta]:
    calendar = draw(CALENDARS)
    rule = objective(
        threshold=draw(THRESHOLDS),
        clock=draw(st.sampled_from(["calendar", "business_hours"])),
        at_risk_percent=draw(st.integers(1, 99)),
    )
    # Whole seconds over the year, with a bias towards the open/close instants of the calendars.
    received = YEAR_2026 + timedelta(seconds=draw(st.integers(0, 365 * 86400 - 1)))
    if draw(st.booleans()):
        received = received.replace(minute=draw(st.sampled_from([0, 29, 30])), second=0)
    later = timedelta(seconds=draw(st.integers(0, 5 * 86400)))
    return rule, calendar, received, later


def threshold_of(rule: Objective) -> timedelta:
    assert rule.threshold is not None
    return duration(rule.threshold)
