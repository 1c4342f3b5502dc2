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
        if objective.basis is not None and objective.metric != schemas.Metric.COVERAGE:
            errors.append(field_error(join(item, "basis"), "only a coverage objective has a basis"))
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
    errors += check_meters(plan.meters, plan.charges, path)
    errors += check_surcharges(plan.surcharges, plan.charges, path)
    return errors


def check_meters(
    meters: Sequence[schemas.Meter], charges: Sequence[schemas.Charge], path: str
) -> FieldErrors:
    """Meter codes are unique within the version, and every usage charge that names a meter names one of
    them."""
    errors: FieldErrors = []
    codes: set[str] = set()
    for i, meter in enumerate(meters):
        if meter.code in codes:
            errors.append(
                field_error(join(path, f"meters[{i}].code"), f"duplicate meter code {meter.code!r}")
            )
        codes.add(meter.code)
    for i, charge in enumerate(charges):
        if (
            isinstance(charge, schemas.USAGE_CHARGES)
            and charge.meter is not None
            and charge.meter not in codes
        ):
            known = ", ".join(sorted(codes)) or "none"
            errors.append(
                field_error(
                    join(path, f"charges[{i}].meter"),
                    f"no meter {charge.meter!r} in this version (meters: {known})",
                )
            )
    return errors


# A night surcharge's window when it names none: 22:00 to 05:00 the next morning.
NIGHT_START = "22:00"
NIGHT_END = "29:00"
MINUTES_PER_DAY = 24 * 60


def night_window(surcharge: schemas.Surcharge) -> tuple[int, int]:
    """Minutes after local midnight a night surcharge runs from and to (past 1440: the next day)."""
    return parse_clock(surcharge.start or NIGHT_START), parse_clock(surcharge.end or NIGHT_END)


def _arcs(start: int, end: int) -> list[tuple[int, int]]:
    # The window as stretches of one day's minutes: 22:00-29:00 is 22:00-24:00 and 00:00-05:00.
    if end <= MINUTES_PER_DAY:
        return [(start, end)]
    return [(start, MINUTES_PER_DAY), (0, end - MINUTES_PER_DAY)]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return any(x0 < y1 and y0 < x1 for x0, x1 in _arcs(*a) for y0, y1 in _arcs(*b))


def check_surcharges(
    surcharges: Sequence[schemas.Surcharge], charges: Sequence[schemas.Charge], path: str
) -> FieldErrors:
    """Each surcharge adds to usage charges of the version, by a multiplier (per-unit and volume charges,
    whose units have one price) or a price per unit; night windows are clock ranges; one charge's windows
    never overlap (two night windows, or two holiday surcharges)."""
    errors: FieldErrors = []
    by_code = {charge.code: charge for charge in charges}
    codes: set[str] = set()
    # Per charge: the windows already seen, with the surcharge that has each.
    nights: dict[str, list[tuple[tuple[int, int], int]]] = {}
    holidays_of: dict[str, int] = {}
    for i, surcharge in enumerate(surcharges):
        item = join(path, f"surcharges[{i}]")
        if surcharge.code in codes or surcharge.code in by_code:
            errors.append(
                field_error(join(item, "code"), f"{surcharge.code!r} is already a charge or surcharge code")
            )
        codes.add(surcharge.code)
        if (surcharge.multiplier is None) == (surcharge.unit_price is None):
            errors.append(
                field_error(join(item, "multiplier"), "give a multiplier or a unit_price, one of them")
            )
        night = surcharge.window is schemas.SurchargeWindow.NIGHT
        window: tuple[int, int] | None = None
        if night:
            if surcharge.holiday_country is not None:
                errors.append(
                    field_error(join(item, "holiday_country"), "only a holiday surcharge follows holidays")
                )
            found = check_range(surcharge.start or NIGHT_START, surcharge.end or NIGHT_END, item)
            errors += found
            if not found:
                window = night_window(surcharge)
        else:
            for name in ("start", "end"):
                if getattr(surcharge, name) is not None:
                    errors.append(field_error(join(item, name), "only a night surcharge has hours"))
            country = surcharge.holiday_country
            if country is not None and country not in holidays.list_supported_countries():
                errors.append(
                    field_error(join(item, "holiday_country"), f"no holidays known for {country!r}")
                )
        seen: set[str] = set()
        # Where this surcharge's window meets another's on one of its charges: one error says all.
        clashes: list[str] = []
        for j, code in enumerate(surcharge.charges):
            where = join(item, f"charges[{j}]")
            charge = by_code.get(code)
            if code in seen:
                errors.append(field_error(where, f"lists {code!r} twice"))
                continue
            seen.add(code)
            if not isinstance(charge, schemas.USAGE_CHARGES):
                what = "no charge" if charge is None else "not a usage charge"
                errors.append(
                    field_error(
                        where, f"{what} {code!r}: a surcharge adds to per-unit, tiered or package charges"
                    )
                )
                continue
            if surcharge.multiplier is not None and not isinstance(
                charge, schemas.PerUnitCharge | schemas.VolumeCharge
            ):
                errors.append(
                    field_error(
                        where,
                        f"{code!r} has several unit prices: give a unit_price, not a multiplier",
                    )
                )
            if window is not None:
                clashes += [
                    f"surcharges[{k}] on {code!r}"
                    for other, k in nights.get(code, [])
                    if _overlap(window, other)
                ]
                nights.setdefault(code, []).append((window, i))
            elif not night:
                if code in holidays_of:
                    clashes.append(f"surcharges[{holidays_of[code]}] on {code!r}")
                holidays_of.setdefault(code, i)
        if clashes:
            what = "night" if night else "holiday"
            errors.append(
                field_error(
                    join(item, "start" if night else "window"),
                    f"overlaps the {what} window of {', '.join(clashes)}",
                )
            )
    return errors
