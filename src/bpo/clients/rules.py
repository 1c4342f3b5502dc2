"""Validation of onboarding data beyond types, shared by the API and manifests.

Each check returns field errors whose ``field`` is a path (``rate_plan.charges[1].tiers[2].up_to``), so a
manifest can report every mistake at once with its place in the file.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from msgspec import UNSET

from bpo.clients import schemas
from bpo.core.business_time import parse_clock
from bpo.core.errors import FieldErrors, field_error
from bpo.core.money import is_supported_currency

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
TIMED_METRICS = frozenset({schemas.Metric.FIRST_RESPONSE, schemas.Metric.RESOLUTION})
# A month's charge, as the largest amount any single price may be (core.types.MinorUnits).
MAX_AMOUNT = 10**15


def join(prefix: str, name: str) -> str:
    if not prefix:
        return name
    return f"{prefix}{name}" if name.startswith("[") else f"{prefix}.{name}"


def duration_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match or not text:
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def check_duration(text: str, path: str) -> FieldErrors:
    """An SLA duration measurement can take: at most MAX_DURATION_DAYS."""
    if duration_seconds(text) > schemas.MAX_DURATION_SECONDS:
        return [field_error(path, f"must be at most {schemas.MAX_DURATION_DAYS}d (a year), got {text!r}")]
    return []


def last_date(today: date) -> date:
    """The latest date a version or billing period may name: YEARS_AHEAD years after ``today``."""
    year = today.year + schemas.YEARS_AHEAD
    return today.replace(year=year, day=min(today.day, calendar.monthrange(year, today.month)[1]))


def check_date_window(day: date, today: date, path: str) -> FieldErrors:
    """``day`` within FIRST_DATE and ``last_date(today)``."""
    if not schemas.FIRST_DATE <= day <= last_date(today):
        return [field_error(path, f"must be from {schemas.FIRST_DATE} to {last_date(today)}")]
    return []


def check_time_zone(name: str, path: str) -> FieldErrors:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [field_error(path, f"{name!r} is not an IANA time zone")]
    return []


def check_currency(code: str, path: str) -> FieldErrors:
    if not is_supported_currency(code):
        return [field_error(path, f"unsupported currency {code!r}")]
    return []


def check_range(start: str, end: str, path: str) -> FieldErrors:
    errors: FieldErrors = []
    minutes = []
    for name, value in (("start", start), ("end", end)):
        try:
            minutes.append(parse_clock(value))
        except ValueError:
            errors.append(field_error(join(path, name), f"{value!r} is not a clock time (00:00-47:59)"))
    if errors:
        return errors
    begin, finish = minutes
    if begin >= 24 * 60:
        errors.append(
            field_error(join(path, "start"), "must be before 24:00 (a window belongs to its start day)")
        )
    if finish <= begin:
        errors.append(
            field_error(join(path, "end"), "must be after start (use 25:30 for 01:30 the next day)")
        )
    elif finish - begin > 24 * 60:
        errors.append(field_error(join(path, "end"), "a window lasts at most 24 hours"))
    return errors


def check_windows(windows: Sequence[schemas.WindowSpec | schemas.CoverageLine], path: str) -> FieldErrors:
    errors: FieldErrors = []
    for i, window in enumerate(windows):
        item = f"{path}[{i}]"
        if not window.days:
            errors.append(field_error(join(item, "days"), "at least one day"))
        errors += check_range(window.start, window.end, item)
    return errors


def check_calendar(calendar: schemas.CalendarCreate | schemas.CalendarUpdate, path: str = "") -> FieldErrors:
    errors: FieldErrors = []
    if isinstance(calendar.time_zone, str):
        errors += check_time_zone(calendar.time_zone, join(path, "time_zone"))
    if calendar.windows is not UNSET:
        if not calendar.windows:
            errors.append(field_error(join(path, "windows"), "at least one weekly window"))
        errors += check_windows(calendar.windows, join(path, "windows"))
    if calendar.exceptions is not UNSET:
        seen = set()
        for i, exception in enumerate(calendar.exceptions):
            item = join(path, f"exceptions[{i}]")
            if exception.date in seen:
                errors.append(field_error(join(item, "date"), f"{exception.date} appears twice"))
            seen.add(exception.date)
            for j, window in enumerate(exception.windows):
                errors += check_range(window.start, window.end, join(item, f"windows[{j}]"))
    country = calendar.holiday_country
    if isinstance(country, str) and country not in holidays.list_supported_countries():
        errors.append(field_error(join(path, "holiday_country"), f"no holidays known for {country!r}"))
    return errors


def check_objectives(objectives: Sequence[schemas.Objective], path: str) -> FieldErrors:
    errors: FieldErrors = []
    if not objectives:
        errors.append(field_error(path, "at least one objective"))
    seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    for i, objective in enumerate(objectives):
        item = f"{path}[{i}]"
        key = (objective.metric.value, tuple(sorted(objective.priorities)), tuple(sorted(objective.channels)))
        if key in seen:
            errors.append(
                field_error(
                    join(item, "metric"), f"a second {objective.metric} objective with the same filter"
                )
            )
        seen.add(key)
        if objective.metric in TIMED_METRICS:
            if objective.threshold is None:
                errors.append(field_error(join(item, "threshold"), f"required for {objective.metric}"))
            elif duration_seconds(objective.threshold) == 0:
                errors.append(field_error(join(item, "threshold"), "must be longer than 0s"))
            else:
                errors += check_duration(objective.threshold, join(item, "threshold"))
        elif objective.threshold is not None or objective.checkpoints:
            errors.append(
                field_error(join(item, "threshold"), "coverage objectives take only target_percent")
            )
        for j, checkpoint in enumerate(objective.checkpoints):
            errors += check_duration(checkpoint, join(item, f"checkpoints[{j}]"))
        checkpoints = [duration_seconds(c) for c in objective.checkpoints]
        if checkpoints != sorted(set(checkpoints)):
            errors.append(field_error(join(item, "checkpoints"), "must be distinct and ascending"))
    return errors


def check_tiers(tiers: Sequence[schemas.Tier], path: str) -> FieldErrors:
    errors: FieldErrors = []
    if not tiers:
        return [field_error(path, "at least one tier")]
    previous = 0
    for i, tier in enumerate(tiers):
        item = f"{path}[{i}]"
        last = i == len(tiers) - 1
        if tier.up_to is None:
            if not last:
                errors.append(field_error(join(item, "up_to"), "only the last tier may be unbounded"))
            continue
        if tier.up_to <= previous:
            errors.append(field_error(join(item, "up_to"), f"must be greater than {previous} (tiers ascend)"))
        previous = max(previous, tier.up_to)
    if tiers[-1].up_to is not None:
        errors.append(
            field_error(join(f"{path}[{len(tiers) - 1}]", "up_to"), "the last tier must be unbounded (null)")
        )
    return errors


def check_rate_plan(
    plan: schemas.RatePlanCreate | schemas.RatePlanReplace, contract_currency: str | None, path: str
) -> FieldErrors:
    errors: FieldErrors = check_currency(plan.currency, join(path, "currency"))
    if contract_currency is not None and plan.currency != contract_currency:
        errors.append(
            field_error(join(path, "currency"), f"must be the contract's currency {contract_currency}")
        )
    if not plan.charges and plan.minimum_commitment is None:
        errors.append(field_error(join(path, "charges"), "at least one charge or a minimum commitment"))
    codes: set[str] = set()
    for i, charge in enumerate(plan.charges):
        item = join(path, f"charges[{i}]")
        if charge.code in codes:
            errors.append(field_error(join(item, "code"), f"duplicate charge code {charge.code!r}"))
        codes.add(charge.code)
        if isinstance(charge, schemas.GraduatedCharge | schemas.VolumeCharge):
            errors += check_tiers(charge.tiers, join(item, "tiers"))
        if (
            isinstance(charge, schemas.PersonMonthCharge)
            and charge.headcount * charge.monthly_fee > MAX_AMOUNT
        ):
            errors.append(
                field_error(
                    join(item, "monthly_fee"), f"headcount x monthly_fee must be at most {MAX_AMOUNT}"
                )
            )
    thresholds: set[tuple[float, str | None]] = set()
    for i, credit in enumerate(plan.service_credits):
        item = join(path, f"service_credits[{i}]")
        key = (credit.below_percent, credit.metric.value if credit.metric else None)
        if key in thresholds:
            errors.append(field_error(join(item, "below_percent"), "duplicate threshold"))
        thresholds.add(key)
    return errors
