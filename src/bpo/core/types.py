"""Primitive request types every context shares: codes, names, money, zones, clocks, durations, and
``Strict``, the base of every request body (unknown fields rejected)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

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
        pattern=r"^\d{1,2}:\d{2}(?!\n)$",
        description='Local wall time, H:MM or HH:MM from 00:00 to 47:59; "25:30" = 01:30 next day',
        examples=["9:00", "18:00", "25:30"],
        extra={"expected": "a clock time like 9:00, 18:00 or 25:30"},
    ),
]
Duration = Annotated[
    str,
    msgspec.Meta(
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


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass
