"""Staff self-service: a person's own shifts in their own time zone, and the secret iCal feed of them.

A caller is linked to a staff profile by the profile's ``user_id`` (or the ``staff_id`` of their login);
everything here is that person's own, and colleagues appear only by first name.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from sqlalchemy import any_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.core import audit
from bpo.core.db import UUID_LIST, Compiled, TenantReads
from bpo.core.errors import Invalid, NotFound, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.i18n import DEFAULT_LANGUAGE, Language, is_language, translations
from bpo.core.orm import new_id
from bpo.core.scope import Role, Scope
from bpo.staffing import models
from bpo.staffing.selfservice_schemas import CalendarFeed, MyShift, MyShifts, SiteRef
from bpo.tenancy.credentials import new_secret, parse_secret
from bpo.tenancy.models import Tenant, User

FEED_PREFIX = "cal_"
FEED_PATH = "/v1/calendar/{token}.ics"
MAX_LISTING_DAYS = 92
DEFAULT_LISTING_DAYS = 28
# What a calendar subscription shows: recent history and the months ahead.
FEED_PAST = timedelta(days=31)
FEED_AHEAD = timedelta(days=186)
PRODID = "-//BPO Ops//Shifts//EN"


async def staff_of(session: AsyncSession, scope: Scope) -> models.Staff:
    """The caller's own staff profile."""
    links = [models.Staff.user_id == scope.user_id]
    if scope.staff_id is not None:
        links.append(models.Staff.id == scope.staff_id)
    staff = await session.scalar(
        select(models.Staff)
        .where(models.Staff.tenant_id == scope.tenant_id, or_(*links))
        .order_by(models.Staff.user_id.is_(None))
        .limit(1)
    )
    if staff is None:
        raise NotFound("No staff profile is linked to your login.", slug="no-staff-profile")
    return staff


def zone_named(name: str, field: str = "tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"{field}: {name!r} is not an IANA time zone",
            errors=[field_error(field, f"{name!r} is not an IANA time zone, like Europe/London")],
        ) from None


def first_name(display_name: str) -> str:
    parts = display_name.split()
    return parts[0] if parts else ""


@dataclass(frozen=True)
class _Row:
    assignment: models.Assignment
    shift: models.Shift


async def _assignments(
    session: AsyncSession, scope: Scope, staff_id: uuid.UUID, lower: datetime, upper: datetime
) -> list[_Row]:
    """The person's assignments on shifts meeting [lower, upper), earliest first."""
    rows = await session.execute(
        select(models.Assignment, models.Shift)
        .join(
            models.Shift,
            (models.Shift.tenant_id == models.Assignment.tenant_id)
            & (models.Shift.id == models.Assignment.shift_id),
        )
        .where(
            models.Assignment.tenant_id == scope.tenant_id,
            models.Assignment.staff_id == staff_id,
            models.Shift.ends_at > lower,
            models.Shift.starts_at < upper,
        )
        .order_by(models.Shift.starts_at, models.Shift.ends_at, models.Shift.id)
    )
    return [_Row(assignment, shift) for assignment, shift in rows]


async def _coworkers(
    session: AsyncSession, scope: Scope, shift_ids: Sequence[uuid.UUID], staff_id: uuid.UUID
) -> dict[uuid.UUID, list[str]]:
    if not shift_ids:
        return {}
    rows = await session.execute(
        select(models.Assignment.shift_id, models.Staff.display_name)
        .join(
            models.Staff,
            (models.Staff.tenant_id == models.Assignment.tenant_id)
            & (models.Staff.id == models.Assignment.staff_id),
        )
        .where(
            models.Assignment.tenant_id == scope.tenant_id,
            models.Assignment.shift_id.in_(shift_ids),
            models.Assignment.staff_id != staff_id,
        )
    )
    names: dict[uuid.UUID, list[str]] = defaultdict(list)
    for shift_id, display_name in rows:
        names[shift_id].append(first_name(display_name))
    return {shift_id: sorted(found) for shift_id, found in names.items()}


@dataclass(frozen=True)
class _Labels:
    """Names of the contracts, clients and sites the listed shifts refer to, read once each."""

    contract_name: dict[uuid.UUID, str]
    client_name: dict[uuid.UUID, str]
    site: dict[uuid.UUID, SiteRef]


async def _labels(
    session: AsyncSession, scope: Scope, shifts: Sequence[models.Shift | models.CancelledAssignment]
) -> _Labels:
    contract_name: dict[uuid.UUID, str] = {}
    client_name: dict[uuid.UUID, str] = {}
    site: dict[uuid.UUID, SiteRef] = {}
    client_of: dict[uuid.UUID, uuid.UUID] = {}
    for shift in shifts:
        if shift.contract_id not in contract_name:
            contract = await contracts.get_contract_row(session, scope, shift.contract_id)
            contract_name[contract.id] = contract.name
            client_of[contract.id] = contract.client_id
        if shift.site_id is not None and shift.site_id not in site:
            row = await clients.get_site_row(session, scope, shift.site_id)
            site[row.id] = SiteRef(id=row.id, name=row.name)
    for contract_id, client_id in client_of.items():
        client_name[contract_id] = (await clients.get_client_row(session, scope, client_id)).name
    return _Labels(contract_name, client_name, site)


def _listing_period(
    zone: ZoneInfo, start: date | None, end: date | None
) -> tuple[date, date, datetime, datetime]:
    """The local days [first, last] a listing covers (default: four weeks from today in ``zone``) and the
    instants bounding them."""
    first = start or datetime.now(zone).date()
    last = end or first + timedelta(days=DEFAULT_LISTING_DAYS - 1)
    if last < first or (last - first).days >= MAX_LISTING_DAYS:
        raise Invalid(
            f"to must be on or after from, at most {MAX_LISTING_DAYS} days in all",
            errors=[field_error("to", f"on or after from, within {MAX_LISTING_DAYS} days")],
        )
    lower = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
    upper = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return first, last, lower, upper


async def my_shifts(
    session: AsyncSession,
    scope: Scope,
    *,
    start: date | None,
    end: date | None,
    tz: str | None,
) -> MyShifts:
    """The caller's assignments on shifts meeting the local days [start, end] of `tz` (default: their
    home zone), earliest first, with times on that zone's wall clock."""
    raise_if(date_errors(("from", start), ("to", end)))
    staff = await staff_of(session, scope)
    zone = zone_named(tz) if tz is not None else ZoneInfo(staff.home_zone)
    first, last, lower, upper = _listing_period(zone, start, end)
    rows = await _assignments(session, scope, staff.id, lower, upper)
    shifts = [row.shift for row in rows]
    labels = await _labels(session, scope, shifts)
    coworkers = await _coworkers(session, scope, [shift.id for shift in shifts], staff.id)
    items = [
        MyShift(
            assignment_id=row.assignment.id,
            shift_id=row.shift.id,
            start=row.shift.starts_at.astimezone(zone),
            end=row.shift.ends_at.astimezone(zone),
            contract_id=row.shift.contract_id,
            contract_name=labels.contract_name[row.shift.contract_id],
            client_name=labels.client_name[row.shift.contract_id],
            mode=row.shift.mode,
            site=labels.site.get(row.shift.site_id) if row.shift.site_id is not None else None,
            status=row.shift.status,
            coworkers=coworkers.get(row.shift.id, []),
        )
        for row in rows
    ]
    return MyShifts(staff_id=staff.id, time_zone=zone.key, from_=first, to=last, items=items)


# The hot reads of ``read_my_shifts``, compiled once.
_MY_STAFF = Compiled(
    select(models.Staff.id, models.Staff.home_zone)
    .where(
        models.Staff.tenant_id == bindparam("tenant_id"),
        or_(models.Staff.user_id == bindparam("user_id"), models.Staff.id == bindparam("staff_id")),
    )
    .order_by(models.Staff.user_id.is_(None))
    .limit(1)
)
_MY_ASSIGNMENTS = Compiled(
    select(
        models.Assignment.id.label("assignment_id"),
        models.Shift.id.label("shift_id"),
        models.Shift.starts_at,
        models.Shift.ends_at,
        models.Shift.contract_id,
        models.Shift.mode,
        models.Shift.site_id,
        models.Shift.status,
    )
    .join(
        models.Shift,
        (models.Shift.tenant_id == models.Assignment.tenant_id)
        & (models.Shift.id == models.Assignment.shift_id),
    )
    .where(
        models.Assignment.tenant_id == bindparam("tenant_id"),
        models.Assignment.staff_id == bindparam("staff_id"),
        models.Shift.ends_at > bindparam("lower"),
        models.Shift.starts_at < bindparam("upper"),
    )
    .order_by(models.Shift.starts_at, models.Shift.ends_at, models.Shift.id)
)
_COWORKERS = Compiled(
    select(models.Assignment.shift_id, models.Staff.display_name)
    .join(
        models.Staff,
        (models.Staff.tenant_id == models.Assignment.tenant_id)
        & (models.Staff.id == models.Assignment.staff_id),
    )
    .where(
        models.Assignment.tenant_id == bindparam("tenant_id"),
        models.Assignment.shift_id == any_(bindparam("shift_ids", type_=UUID_LIST)),
        models.Assignment.staff_id != bindparam("staff_id"),
    )
)


async def read_my_shifts(
    reads: TenantReads, scope: Scope, *, start: date | None, end: date | None, tz: str | None
) -> MyShifts:
    """What ``my_shifts`` answers, from hot reads in one read-only transaction."""
    raise_if(date_errors(("from", start), ("to", end)))
    zone = zone_named(tz) if tz is not None else None
    async with reads.transaction() as read:
        staff = await read.one(
            _MY_STAFF, tenant_id=scope.tenant_id, user_id=scope.user_id, staff_id=scope.staff_id
        )
        if staff is None:
            raise NotFound("No staff profile is linked to your login.", slug="no-staff-profile")
        zone = zone or ZoneInfo(staff["home_zone"])
        first, last, lower, upper = _listing_period(zone, start, end)
        rows = await read.all(
            _MY_ASSIGNMENTS, tenant_id=scope.tenant_id, staff_id=staff["id"], lower=lower, upper=upper
        )
        labels = await contracts.contract_labels(read, scope, {row["contract_id"] for row in rows})
        sites = await clients.site_names(read, scope, {row["site_id"] for row in rows} - {None})
        names: dict[uuid.UUID, list[str]] = defaultdict(list)
        if rows:
            shift_ids = [row["shift_id"] for row in rows]
            for found in await read.all(
                _COWORKERS, tenant_id=scope.tenant_id, shift_ids=shift_ids, staff_id=staff["id"]
            ):
                names[found["shift_id"]].append(first_name(found["display_name"]))
    items = [
        MyShift(
            assignment_id=row["assignment_id"],
            shift_id=row["shift_id"],
            start=row["starts_at"].astimezone(zone),
            end=row["ends_at"].astimezone(zone),
            contract_id=row["contract_id"],
            contract_name=labels[row["contract_id"]][0],
            client_name=labels[row["contract_id"]][1],
            mode=row["mode"],
            site=None if row["site_id"] is None else SiteRef(id=row["site_id"], name=sites[row["site_id"]]),
            status=row["status"],
            coworkers=sorted(names.get(row["shift_id"], [])),
        )
        for row in rows
    ]
    return MyShifts(staff_id=staff["id"], time_zone=zone.key, from_=first, to=last, items=items)


# --- calendar feeds ----------------------------------------------------------------------------


def feed_path(token: str) -> str:
    return FEED_PATH.format(token=token)


async def _revoke_feeds(session: AsyncSession, scope: Scope, staff_id: uuid.UUID) -> int:
    result = await session.execute(
        update(models.CalendarFeed)
        .where(
            models.CalendarFeed.tenant_id == scope.tenant_id,
            models.CalendarFeed.staff_id == staff_id,
            models.CalendarFeed.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def create_feed(
    session: AsyncSession, scope: Scope, staff: models.Staff, base_url: str
) -> CalendarFeed:
    """A new secret feed URL for the person; any earlier one stops working (rotation)."""
    await _revoke_feeds(session, scope, staff.id)
    secret = new_secret(scope.tenant_id)
    feed = models.CalendarFeed(
        tenant_id=scope.tenant_id, id=new_id(), staff_id=staff.id, token_hash=secret.digest
    )
    session.add(feed)
    audit.record(session, scope, "calendar_feed.created", "staff", staff.id)
    await session.flush()
    await session.refresh(feed)
    return CalendarFeed(
        id=feed.id,
        staff_id=staff.id,
        url=base_url.rstrip("/") + feed_path(secret.render(FEED_PREFIX)),
        created_at=feed.created_at,
    )


async def revoke_feed(session: AsyncSession, scope: Scope, staff: models.Staff) -> None:
    if not await _revoke_feeds(session, scope, staff.id):
        raise NotFound("There is no active calendar feed to revoke.")
    audit.record(session, scope, "calendar_feed.revoked", "staff", staff.id)


def feed_tenant(token: str) -> uuid.UUID | None:
    """The tenant a feed token belongs to, if it has a token's shape at all."""
    parsed = parse_secret(token, FEED_PREFIX)
    return None if parsed is None else parsed.tenant_id


async def feed_ics(session: AsyncSession, tenant_id: uuid.UUID, token: str, now: datetime) -> bytes:
    """The iCalendar document behind a live feed token; unknown or revoked tokens are a 404."""
    parsed = parse_secret(token, FEED_PREFIX)
    missing = NotFound("No calendar feed at this address.")
    if parsed is None or parsed.tenant_id != tenant_id:
        raise missing
    feed = await session.scalar(
        select(models.CalendarFeed).where(
            models.CalendarFeed.tenant_id == tenant_id,
            models.CalendarFeed.token_hash == parsed.digest,
            models.CalendarFeed.revoked_at.is_(None),
        )
    )
    if feed is None:
        raise missing
    # The token stands for its person: it reads what that person may read, and nothing of anyone else.
    scope = Scope(tenant_id=tenant_id, principal_id=uuid.UUID(int=0), role=Role.STAFF, staff_id=feed.staff_id)
    staff = await session.scalar(
        select(models.Staff).where(models.Staff.tenant_id == tenant_id, models.Staff.id == feed.staff_id)
    )
    if staff is None:
        raise missing
    lower, upper = now - FEED_PAST, now + FEED_AHEAD
    rows = await _assignments(session, scope, staff.id, lower, upper)
    cancelled = list(
        await session.scalars(
            select(models.CancelledAssignment)
            .where(
                models.CancelledAssignment.tenant_id == tenant_id,
                models.CancelledAssignment.staff_id == staff.id,
                models.CancelledAssignment.ends_at > lower,
                models.CancelledAssignment.starts_at < upper,
            )
            .order_by(models.CancelledAssignment.starts_at, models.CancelledAssignment.id)
        )
    )
    labels = await _labels(session, scope, [*(row.shift for row in rows), *cancelled])
    coworkers = await _coworkers(session, scope, [row.shift.id for row in rows], staff.id)
    language = await _reader_language(session, tenant_id, staff.user_id)
    return shifts_calendar(
        FeedOwner(staff.display_name, ZoneInfo(staff.home_zone), language), rows, cancelled, labels, coworkers
    )


async def _reader_language(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID | None
) -> Language:
    """The language of the person's login, or their tenant's when they have none or chose none."""
    tenant_language = await session.scalar(select(Tenant.default_language).where(Tenant.id == tenant_id))
    user_language = None
    if user_id is not None:
        user_language = await session.scalar(
            select(User.language).where(User.tenant_id == tenant_id, User.id == user_id)
        )
    chosen = user_language or tenant_language
    return chosen if is_language(chosen) else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class FeedOwner:
    display_name: str
    zone: ZoneInfo
    language: Language


def shifts_calendar(
    owner: FeedOwner,
    rows: Sequence[_Row],
    cancelled: Sequence[models.CancelledAssignment],
    labels: _Labels,
    coworkers: dict[uuid.UUID, list[str]],
) -> bytes:
    """The person's shifts as iCalendar events on their own clock (TZID of their home zone, with its
    VTIMEZONE). An event's UID is its assignment's; its SEQUENCE is the shift's revision, so a calendar
    replaces an event whose times, place or status changed; a shift they were taken off stays as a
    cancelled event (SEQUENCE one more) for as long as it is in the feed's window."""
    gettext = translations(owner.language).gettext
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Shifts: {owner.display_name}")
    calendar.add("x-wr-timezone", owner.zone.key)

    def event_of(
        uid: uuid.UUID,
        stamp: datetime,
        start: datetime,
        end: datetime,
        contract_id: uuid.UUID,
        site_id: uuid.UUID | None,
        names: Sequence[str],
    ) -> icalendar.Event:
        event = icalendar.Event()
        # Stable across fetches, so calendar apps update an event instead of duplicating it.
        event.add("uid", f"{uid}@bpo-ops")
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", start.astimezone(owner.zone))
        event.add("dtend", end.astimezone(owner.zone))
        contract = labels.contract_name[contract_id]
        client = labels.client_name[contract_id]
        event.add("summary", f"{contract} ({client})")
        site = labels.site.get(site_id) if site_id is not None else None
        place = site.name if site is not None else gettext("Remote")
        event.add("location", place)
        contract_label, place_label = gettext("Contract"), gettext("Place")
        lines = [f"{contract_label}: {contract} ({client})", f"{place_label}: {place}"]
        if names:
            with_label = gettext("Working with")
            lines.append(f"{with_label}: {', '.join(names)}")
        event.add("description", "\n".join(lines))
        return event

    for row in rows:
        shift = row.shift
        event = event_of(
            row.assignment.id,
            row.assignment.created_at,
            shift.starts_at,
            shift.ends_at,
            shift.contract_id,
            shift.site_id,
            coworkers.get(shift.id, []),
        )
        event.add("sequence", shift.revision)
        event.add("status", "CONFIRMED" if shift.status == "published" else "TENTATIVE")
        calendar.add_component(event)
    for gone in cancelled:
        event = event_of(
            gone.id, gone.cancelled_at, gone.starts_at, gone.ends_at, gone.contract_id, gone.site_id, []
        )
        event.add("sequence", gone.revision + 1)
        event.add("status", "CANCELLED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    document: bytes = calendar.to_ical()
    return document
