"""Shared parameter types for controllers, and the checks of what such parameters carry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.db import TenantReads
from bpo.core.errors import FieldErrors, field_error, raise_if
from bpo.core.pagination import MAX_PAGE_SIZE
from bpo.core.scope import Scope
from bpo.core.types import FIRST_DATE, LAST_DATE, out_of_range

# The request's transaction (tenant set), hot reads without a session (``TenantReads``) and the caller's
# scope, provided by the app.
Session = NamedDependency[AsyncSession]
Reads = NamedDependency[TenantReads]
Caller = NamedDependency[Scope]

Limit = Annotated[
    int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"Page size (at most {MAX_PAGE_SIZE}).")
]
Cursor = Annotated[str | None, QueryParameter(max_length=64, description="next_cursor of the previous page.")]
# A value to filter by (an external id, a period, a skill…).
Filter = Annotated[str | None, QueryParameter(max_length=200)]

# Instants in a query string are read as text and parsed by ``instant_period`` (ISO 8601 with an
# offset), not as whatever a datetime parameter would take: a bare number would pass for a Unix time.
INSTANT: dict[str, Any] = {"max_length": 40, "schema_extra": {"format": "date-time"}}
INSTANT_FORMAT = "an ISO 8601 date and time with a UTC offset, e.g. 2026-10-01T00:00:00+09:00"


def _instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Checked before converting: an offset carrying it past year 1 or 9999 is bad input, not an overflow.
    if parsed.tzinfo is None or out_of_range(parsed):
        return None
    return parsed.astimezone(UTC)


def instant_period(
    start: str | None, end: str | None, names: tuple[str, str] = ("from", "to")
) -> tuple[datetime | None, datetime | None]:
    """The instants of two query parameters, ``from`` and ``to`` unless ``names`` says otherwise
    (either may be absent), in UTC, within ``FIRST_DATE`` to ``LAST_DATE``; the second after the first."""
    texts = dict(zip(names, (start, end), strict=True))
    values = {name: None if text is None else _instant(text) for name, text in texts.items()}
    errors = [
        field_error(name, f"{INSTANT_FORMAT}, from {FIRST_DATE} to {LAST_DATE}")
        for name, text in texts.items()
        if text is not None and values[name] is None
    ]
    first, last = values[names[0]], values[names[1]]
    if not errors and first is not None and last is not None and first >= last:
        errors.append(field_error(names[1], f"must be after {names[0]}"))
    raise_if(errors, what=None)
    return first, last


def date_errors(*named: tuple[str, date | None]) -> FieldErrors:
    """A field error for each (name, date) given outside ``FIRST_DATE`` to ``LAST_DATE``."""
    return [
        field_error(name, f"a date from {FIRST_DATE} to {LAST_DATE}")
        for name, day in named
        if day is not None and out_of_range(day)
    ]
