"""A person's own weekly availability (a hard rule) and preferred times (a soft rule of the solver), kept in
their home zone, with their skills and languages shown beside them.

Availability changes what may be assigned from then on; shifts already assigned stay as they are (the
roster is re-checked when it next changes). Preferred times only weigh on the solver's choices.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import rules as clients_rules
from bpo.clients.schemas import WindowSpec
from bpo.core import audit
from bpo.core.errors import FieldErrors, field_error, raise_if
from bpo.core.scope import Scope
from bpo.staffing import models
from bpo.staffing.schemas import Proficiency
from bpo.staffing.selfservice import staff_of
from bpo.staffing.selfservice_schemas import MyAvailability, MyAvailabilityUpdate


def _windows(value: list[dict[str, object]] | None) -> list[WindowSpec] | None:
    return None if value is None else msgspec.convert(value, list[WindowSpec])


def availability_view(staff: models.Staff) -> MyAvailability:
    return MyAvailability(
        staff_id=staff.id,
        time_zone=staff.home_zone,
        availability=_windows(staff.availability),
        preferred_times=_windows(staff.preferred_times),
        skills=msgspec.convert(staff.skills, list[Proficiency]),
        languages=msgspec.convert(staff.languages, list[Proficiency]),
    )


def check_availability(data: MyAvailabilityUpdate) -> FieldErrors:
    errors: FieldErrors = []
    emptiness = {
        "availability": "at least one window, or null for any time",
        "preferred_times": "at least one window, or null for no preference",
    }
    for name, message in emptiness.items():
        windows = getattr(data, name)
        if windows is None:
            continue
        if not windows:
            errors.append(field_error(name, message))
        errors += clients_rules.check_windows(windows, name)
    return errors


async def my_availability(session: AsyncSession, scope: Scope) -> MyAvailability:
    return availability_view(await staff_of(session, scope))


async def update_my_availability(
    session: AsyncSession, scope: Scope, data: MyAvailabilityUpdate
) -> MyAvailability:
    """Replace the caller's own windows; nothing is written when any window is wrong."""
    raise_if(check_availability(data))
    staff = await staff_of(session, scope)
    availability = msgspec.to_builtins(data.availability)
    preferred = msgspec.to_builtins(data.preferred_times)
    changed = [
        name
        for name, old, new in (
            ("availability", staff.availability, availability),
            ("preferred_times", staff.preferred_times, preferred),
        )
        if old != new
    ]
    if changed:
        staff.availability = availability
        staff.preferred_times = preferred
        audit.record(session, scope, "staff.availability_updated", "staff", staff.id, fields=changed)
        await session.flush()
    return availability_view(staff)
