"""Primitive request types every context shares: codes, names, money, zones, clocks, durations, and
``Strict``, the base of every request body (unknown fields rejected)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

import msgspec

# The dates and instants (in UTC) a request may name. Turning a date into instants looks at days either
# side of it (zone offsets, clock changes), which near date.min and date.max is past what a datetime can
# hold; an offset can carry an instant past them too.
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(9998, 12, 31)
FIRST_INSTANT = datetime(FIRST_DATE.year, FIRST_DATE.month, FIRST_DATE.day, tzinfo=UTC)
LAST_INSTANT = datetime(LAST_DATE.year, LAST_DATE.month, LAST_DATE.day, 23, 59, 59, 999999, tzinfo=UTC)

# (?!\n) before $: Python's $ also matches before a final newline, which none of these may end with.
# ``extra["expected"]`` is what a validation message says the value should be, in place of its pattern.
Code = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(?!\n)$",
        description="A short code: letters, digits, '.', '_' and '-', starting with a letter or digit",
        examples=["LANCERS", "lan-email"],
        extra={"expected": "a code of letters, digits, '.', '_' or '-' (like LANCERS or lan-email)"},
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Currency = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Z]{3}(?!\n)$",
        description="ISO 4217 currency code",
        examples=["JPY", "USD"],
        extra={"expected": "a currency code like JPY or USD"},
    ),
]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Clock = Annotated[
    str,
    msgspec.Meta(
        min_length=4,
        max_length=5,
        pattern=r"^\d{1,2}:\d{2}(?!\n)$",
        description='Local wall time, H:MM or HH:MM from 00:00 to 47:59; "25:30" = 01:30 next day',
        examples=["9:00", "18:00", "25:30"],
        extra={"expected": "a clock time like 9:00, 18:00 or 25:30"},
    ),
]
Duration = Annotated[
    str,
    msgspec.Meta(
        max_length=32,
        pattern=r"^(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?(?!\n)$",
        description="Days, hours, minutes and seconds, largest first",
        examples=["45s", "30m", "8h", "1h30m", "2d"],
        extra={"expected": "a duration like 45s, 30m, 8h, 1h30m or 2d"},
    ),
]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
MinorUnits = Annotated[int, msgspec.Meta(ge=0, le=10**15, description="Integer minor units of the currency")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily", "weekdays", "weekends"]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]

# Lists every context takes, bounded (the OpenAPI schema states each bound).
MAX_LABELS = 50
MAX_DAYS = 10
MAX_IDS = 1_000
Labels = Annotated[list[Label], msgspec.Meta(max_length=MAX_LABELS)]
Days = Annotated[list[Day], msgspec.Meta(max_length=MAX_DAYS)]


def out_of_range(value: Any) -> bool:
    """Whether a date or an instant is outside FIRST_DATE to LAST_DATE (an instant: once in UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return not FIRST_DATE <= value.date() <= LAST_DATE
        # Aware datetimes compare by their UTC instant, without building one (which could overflow).
        return not FIRST_INSTANT <= value <= LAST_INSTANT
    if isinstance(value, date):
        return not FIRST_DATE <= value <= LAST_DATE
    return False


def _holds_dates(tp: Any) -> bool:
    """Whether a field's type is, or holds directly (optional, list, annotated), a date or datetime."""
    return tp in (date, datetime) or any(_holds_dates(arg) for arg in get_args(tp))


class OutOfRange(ValueError):
    """A field of a request body outside its range; ``field`` is its name in JSON."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"`{field}` {message}")
        self.field = field
        self.message = message


_DATED_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _dated_fields(cls: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(attribute, JSON name) of each field of ``cls`` that holds dates or instants."""
    names = _DATED_FIELDS.get(cls)
    if names is None:
        names = tuple((f.name, f.encode_name) for f in msgspec.structs.fields(cls) if _holds_dates(f.type))
        _DATED_FIELDS[cls] = names
    return names


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every date and instant of a request body lies from FIRST_DATE to LAST_DATE (checked on decoding,
    so a year-9999 instant with a negative offset is a 422 at its field, not an overflow later)."""

    def __post_init__(self) -> None:
        for name, encoded in _dated_fields(type(self)):
            value = getattr(self, name)
            values = value if isinstance(value, list | tuple) else (value,)
            if any(out_of_range(v) for v in values):
                raise OutOfRange(encoded, f"must be from {FIRST_DATE} to {LAST_DATE} (in UTC)")
