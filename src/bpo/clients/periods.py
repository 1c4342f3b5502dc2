"""Billing periods from a client's closing day (締め日) and due dates from its payment terms.

A period is named by the month its closing date falls in: for a client closing on the 20th, "2026-11" runs
from 21 October to 20 November; closing at the month end (stored as 31), it is the calendar month. Dates
are the tenant's local days. A new closing day takes effect from a named period on: the periods before
keep the closing day they were cut with (``history``: the closing day through each earlier period), so a
closed period is never cut again. The period in which the closing day changes runs from the day after
the old closing date to the new one: from 20th to month end in "2026-12" gives 21 November - 31 December.

Due dates count months from the closing date: 翌月末 is one month on, day 31 (the month end); 翌々月10日
is two months on, day 10.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

MONTH_END = 31
END_OF_MONTH = "end_of_month"


@dataclass(frozen=True, slots=True)
class Period:
    # The first day of the month the period is named after (its closing date's month).
    label: date
    first_day: date
    last_day: date

    # Days of a regular period ending on the same closing date (differs after a change of closing day).
    regular_days: int

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def name(self) -> str:
        return f"{self.label:%Y-%m}"


@dataclass(frozen=True, slots=True)
class ClosingDays:
    """The closing day now (from the period after the last one in ``history``) and before."""

    closing_day: int
    # (last period named, first of its month; closing day through it), oldest first.
    history: tuple[tuple[date, int], ...] = ()

    @classmethod
    def stored(cls, closing_day: int, history: Sequence[Mapping[str, Any]]) -> ClosingDays:
        entries = sorted((date.fromisoformat(str(e["through"])), int(e["closing_day"])) for e in history)
        return cls(closing_day, tuple(entries))

    def to_stored(self) -> list[dict[str, Any]]:
        return [{"through": through.isoformat(), "closing_day": day} for through, day in self.history]

    def day_for(self, label: date) -> int:
        for through, day in self.history:
            if label <= through:
                return day
        return self.closing_day

    def closing_date(self, label: date) -> date:
        return day_in_month(label.year, label.month, self.day_for(label))

    def period(self, label: date) -> Period:
        label = label.replace(day=1)
        before = add_months(label, -1)
        last = self.closing_date(label)
        regular_first = day_in_month(before.year, before.month, self.day_for(label)) + timedelta(days=1)
        return Period(
            label, self.closing_date(before) + timedelta(days=1), last, (last - regular_first).days + 1
        )

    def period_containing(self, day: date) -> Period:
        period = self.period(day)
        return period if day <= period.last_day else self.period(add_months(day.replace(day=1), 1))

    @property
    def current_from(self) -> date | None:
        """First day of the first period cut with today's setting; None when it always applied."""
        if not self.history:
            return None
        return self.period(add_months(self.history[-1][0], 1)).first_day

    def changed(self, closing_day: int, from_label: date) -> ClosingDays:
        """The schedule with ``closing_day`` from the period named ``from_label`` on."""
        last_before = add_months(from_label, -1)
        kept = tuple((through, day) for through, day in self.history if through < last_before)
        if self.day_for(last_before) != closing_day:
            kept += ((last_before, self.day_for(last_before)),)
        return ClosingDays(closing_day, _merged(kept, closing_day))


def _merged(history: tuple[tuple[date, int], ...], closing_day: int) -> tuple[tuple[date, int], ...]:
    # Consecutive entries with one closing day say no more than the last of them.
    merged: list[tuple[date, int]] = []
    for through, day in history:
        if merged and merged[-1][1] == day:
            merged[-1] = (through, day)
        else:
            merged.append((through, day))
    while merged and merged[-1][1] == closing_day:
        merged.pop()
    return tuple(merged)


def day_in_month(year: int, month: int, day: int) -> date:
    # 31 (any day past the month's last) means the month end.
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return day_in_month(index // 12, index % 12 + 1, day.day)


def due_date(closing_date: date, month_offset: int, payment_day: int) -> date:
    """Payment due ``month_offset`` months after the closing date's month, on ``payment_day``."""
    due_month = add_months(closing_date.replace(day=1), month_offset)
    return day_in_month(due_month.year, due_month.month, payment_day)


def day_text(day: int) -> str:
    return "month end" if day == MONTH_END else f"day {day}"
