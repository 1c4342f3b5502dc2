"""The periods a report covers and when each is due.

A weekly report covers an ISO week, Monday to Sunday (``2026-W48``); a monthly one a calendar month
(``2026-11``), both in the subscription's zone. A report is due at its local day and time: a weekly one
covers the last whole week before that day, a monthly one the month before. Only the latest due period
is made: a schedule that was down for a while catches up once, not once per missed period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bpo.core.errors import field_error, raise_if

Cadence = Literal["weekly", "monthly"]
WEEK = re.compile(r"^(\d{4})-W(\d{2})\Z")
MONTH = re.compile(r"^(\d{4})-(\d{2})\Z")


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    cadence: Cadence
    label: str
    start: date
    end: date

    @classmethod
    def week_of(cls, day: date) -> ReportPeriod:
        year, week, weekday = day.isocalendar()
        start = day - timedelta(days=weekday - 1)
        return cls("weekly", f"{year}-W{week:02d}", start, start + timedelta(days=6))

    @classmethod
    def month_of(cls, day: date) -> ReportPeriod:
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return cls("monthly", f"{start.year}-{start.month:02d}", start, following - timedelta(days=1))

    def previous(self) -> ReportPeriod:
        return (ReportPeriod.week_of if self.cadence == "weekly" else ReportPeriod.month_of)(
            self.start - timedelta(days=1)
        )


def parse_period(text: str, where: str = "period") -> ReportPeriod:
    """``2026-W48`` (an ISO week) or ``2026-11`` (a month); anything else is a 422 naming ``where``."""
    week = WEEK.match(text)
    month = MONTH.match(text)
    try:
        if week:
            return ReportPeriod.week_of(date.fromisocalendar(int(week[1]), int(week[2]), 1))
        if month:
            return ReportPeriod.month_of(date(int(month[1]), int(month[2]), 1))
    except ValueError:
        pass
    raise_if(
        [field_error(where, "must be an ISO week like 2026-W48 or a month like 2026-11")],
        what="The period is not valid",
    )
    raise AssertionError("unreachable")


def latest_due(
    cadence: Cadence,
    weekday: int | None,
    day_of_month: int | None,
    send_at: time,
    zone: ZoneInfo,
    now: datetime,
) -> tuple[datetime, ReportPeriod]:
    """The last instant at or before ``now`` the report was due, and the period it covers."""
    today = now.astimezone(zone).date()
    if cadence == "weekly":
        assert weekday is not None
        day = today - timedelta(days=(today.isoweekday() - weekday) % 7)
        due = datetime.combine(day, send_at, zone)
        if due > now:
            day -= timedelta(days=7)
            due = datetime.combine(day, send_at, zone)
        # The last whole week before the day the report goes.
        return due, ReportPeriod.week_of(day - timedelta(days=day.isoweekday()))
    assert day_of_month is not None
    day = today.replace(day=day_of_month)
    due = datetime.combine(day, send_at, zone)
    if due > now:
        day = (day.replace(day=1) - timedelta(days=1)).replace(day=day_of_month)
        due = datetime.combine(day, send_at, zone)
    return due, ReportPeriod.month_of(day.replace(day=1) - timedelta(days=1))
