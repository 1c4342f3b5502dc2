"""Japanese working-time arithmetic (労働基準法): statutory limits, legal and usual breaks, and overtime
dated by the day it counts on. Pure: no I/O. The hard rules in `rules` apply it to rosters."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

HOUR = 3600
# Statutory working time (労働基準法第32条) and breaks (第34条): working time above, minutes of break.
DAILY_LIMIT = 8 * HOUR
WEEKLY_LIMIT = 40 * HOUR
BREAK_STEPS = ((8 * HOUR, 60), (6 * HOUR, 45))


def break_is_legal(span_seconds: int, break_minutes: int) -> bool:
    worked = span_seconds - break_minutes * 60
    return all(worked <= above or break_minutes >= minutes for above, minutes in BREAK_STEPS)


def minimum_break_minutes(span_seconds: int) -> int:
    """The shortest legal break for a shift of this span, in whole minutes."""
    return next(minutes for minutes in range(61) if break_is_legal(span_seconds, minutes))


def default_break_minutes(span_seconds: int) -> int:
    """The usual break for a span: 45 minutes once over 6 h, 60 once over 8 h 45 min (so that the
    working time stays within 8 h while it can)."""
    if span_seconds <= 6 * HOUR:
        return 0
    return 45 if span_seconds <= 8 * HOUR + 45 * 60 else 60


@dataclass(frozen=True)
class LabourFacts:
    day: date
    worked: int
    touched: tuple[date, ...]


@lru_cache(maxsize=65536)
def labour_facts_of(start: datetime, end: datetime, break_seconds: int, tz: ZoneInfo) -> LabourFacts:
    """The work day a shift belongs to (the home-zone date it starts on), its worked seconds, and the
    home-zone dates it touches."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    touched = tuple(first + timedelta(days=offset) for offset in range((last - first).days + 1))
    worked = math.floor(end.timestamp()) - math.floor(start.timestamp()) - break_seconds
    return LabourFacts(first, worked, touched)


def overtime_by_day(worked: Mapping[date, int]) -> dict[date, int]:
    """Overtime seconds by the date they count on: each day's worked time beyond 8 h on that day, each
    ISO week's time within the daily limit beyond 40 h on the week's Sunday."""
    overtime: dict[date, int] = defaultdict(int)
    within: dict[date, int] = defaultdict(int)
    for day, seconds in worked.items():
        excess = max(0, seconds - DAILY_LIMIT)
        if excess:
            overtime[day] += excess
        within[day - timedelta(days=day.weekday())] += seconds - excess
    for monday, seconds in within.items():
        if seconds > WEEKLY_LIMIT:
            overtime[monday + timedelta(days=6)] += seconds - WEEKLY_LIMIT
    return overtime


def month_name(day: date) -> str:
    return f"{day:%Y-%m}"
