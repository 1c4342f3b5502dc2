"""Clients, services, sites and calendars: the rules (no HTTP here; the caller owns the transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, NoReturn

import msgspec
from msgspec import UNSET
from sqlalchemy import Select, and_, any_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import periods, rules, schemas
from bpo.clients.models import BusinessCalendar, Client, Contract, Service, Site
from bpo.core import business_time as cal
from bpo.core.audit import record
from bpo.core.db import UUID_LIST, Compiled, Reader, ReadTransaction, RowById, TenantReads
from bpo.core.errors import Conflict, FieldErrors, Invalid, NotFound, field_error, raise_if
from bpo.core.i18n import Language
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Role, Scope
from bpo.tenancy import service as tenancy

CLIENT_SCOPED_ROLES = frozenset({Role.CLIENT_VIEWER, Role.API_CLIENT})


def client_restriction(scope: Scope) -> uuid.UUID | None:
    """The one client a client viewer or API key may see; None for operator roles."""
    if scope.role in CLIENT_SCOPED_ROLES:
        # A client-scoped credential without a client sees nothing: an id no row has.
        return scope.client_id or uuid.UUID(int=0)
    return None


def apply_update(row: Any, update: msgspec.Struct) -> list[str]:
    changed = []
    for name in update.__struct_fields__:
        value = getattr(update, name)
        if value is UNSET:
            continue
        if isinstance(value, list):
            value = msgspec.to_builtins(value)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


async def flush_unique(session: AsyncSession, what: str, code: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if "unique" in str(exc.orig).lower() or "duplicate" in str(exc.orig).lower():
            raise Conflict(
                f"A {what} with code {code!r} already exists.",
                slug="duplicate-code",
                errors=[field_error("code", "already in use")],
            ) from None
        raise


# --- sites -----------------------------------------------------------------------------------


def site_view(site: Site) -> schemas.Site:
    return schemas.Site(
        id=site.id,
        code=site.code,
        name=site.name,
        kind=site.kind,
        client_id=site.client_id,
        time_zone=site.time_zone,
        address=site.address,
        seat_capacity=site.seat_capacity,
        status=site.status,
    )


def check_site(data: schemas.SiteCreate, path: str = "") -> FieldErrors:
    errors = rules.check_time_zone(data.time_zone, rules.join(path, "time_zone"))
    if data.kind == "client" and data.client_id is None:
        errors.append(field_error(rules.join(path, "client_id"), "a client office names its client"))
    if data.kind == "own" and data.client_id is not None:
        errors.append(field_error(rules.join(path, "client_id"), "only a client office has a client"))
    return errors


async def create_site(session: AsyncSession, scope: Scope, data: schemas.SiteCreate) -> schemas.Site:
    raise_if(check_site(data))
    if data.client_id is not None:
        await get_client_row(session, scope, data.client_id, field="client_id")
    site = Site(tenant_id=scope.tenant_id, id=new_id(), **msgspec.structs.asdict(data))
    session.add(site)
    await flush_unique(session, "site", data.code)
    record(session, scope, "site.created", "site", site.id)
    await session.refresh(site)
    return site_view(site)


async def get_site_row(
    session: AsyncSession, scope: Scope, site_id: uuid.UUID, field: str | None = None
) -> Site:
    site = await session.scalar(select(Site).where(Site.tenant_id == scope.tenant_id, Site.id == site_id))
    if site is None:
        _missing("Site", site_id, field)
    return site


_SITE_NAMES = Compiled(
    select(Site.id, Site.name).where(
        Site.tenant_id == bindparam("tenant_id"), Site.id == any_(bindparam("site_ids", type_=UUID_LIST))
    )
)


async def site_names(
    reads: ReadTransaction, scope: Scope, site_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The names of sites by id, in a hot read; a site missing is a 404, as ``get_site_row`` has it."""
    if not site_ids:
        return {}
    rows = await reads.all(_SITE_NAMES, tenant_id=scope.tenant_id, site_ids=list(site_ids))
    names = {row["id"]: row["name"] for row in rows}
    for site_id in site_ids:
        if site_id not in names:
            _missing("Site", site_id, None)
    return names


async def list_sites(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None
) -> schemas.SitePage:
    rows, next_cursor = await paginate(
        session, select(Site).where(Site.tenant_id == scope.tenant_id), Site.id, limit=limit, cursor=cursor
    )
    return schemas.SitePage(items=[site_view(s) for s in rows], next_cursor=next_cursor)


async def update_site(
    session: AsyncSession, scope: Scope, site_id: uuid.UUID, data: schemas.SiteUpdate
) -> schemas.Site:
    site = await get_site_row(session, scope, site_id)
    if data.time_zone is not UNSET:
        raise_if(rules.check_time_zone(data.time_zone, "time_zone"))
    changed = apply_update(site, data)
    if changed:
        record(session, scope, "site.updated", "site", site.id, fields=changed)
        await session.flush()
        await session.refresh(site)
    return site_view(site)


async def delete_site(session: AsyncSession, scope: Scope, site_id: uuid.UUID) -> None:
    await archive_or_delete(session, scope, await get_site_row(session, scope, site_id), "site")


# --- calendars -------------------------------------------------------------------------------


def calendar_view(calendar: BusinessCalendar) -> schemas.Calendar:
    return schemas.Calendar(
        id=calendar.id,
        code=calendar.code,
        name=calendar.name,
        time_zone=calendar.time_zone,
        windows=msgspec.convert(calendar.windows, list[schemas.WindowSpec]),
        holiday_country=calendar.holiday_country,
        holiday_subdivision=calendar.holiday_subdivision,
        exceptions=msgspec.convert(calendar.exceptions, list[schemas.ExceptionSpec]),
        status=calendar.status,
    )


async def create_calendar(
    session: AsyncSession, scope: Scope, data: schemas.CalendarCreate
) -> schemas.Calendar:
    raise_if(rules.check_calendar(data))
    calendar = BusinessCalendar(tenant_id=scope.tenant_id, id=new_id(), **msgspec.to_builtins(data))
    session.add(calendar)
    await flush_unique(session, "calendar", data.code)
    record(session, scope, "calendar.created", "calendar", calendar.id)
    await session.refresh(calendar)
    return calendar_view(calendar)


async def get_calendar_row(
    session: AsyncSession, scope: Scope, calendar_id: uuid.UUID, field: str | None = None
) -> BusinessCalendar:
    calendar = await session.scalar(
        select(BusinessCalendar).where(
            BusinessCalendar.tenant_id == scope.tenant_id, BusinessCalendar.id == calendar_id
        )
    )
    if calendar is None:
        _missing("Calendar", calendar_id, field)
    return calendar


async def calendars_of(
    session: AsyncSession, scope: Scope, calendar_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, schemas.Calendar]:
    """The tenant's calendars of these ids (those it has)."""
    rows = await session.scalars(
        select(BusinessCalendar).where(
            BusinessCalendar.tenant_id == scope.tenant_id, BusinessCalendar.id.in_(list(calendar_ids))
        )
    )
    return {row.id: calendar_view(row) for row in rows}


async def list_calendars(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None
) -> schemas.CalendarPage:
    rows, next_cursor = await paginate(
        session,
        select(BusinessCalendar).where(BusinessCalendar.tenant_id == scope.tenant_id),
        BusinessCalendar.id,
        limit=limit,
        cursor=cursor,
    )
    return schemas.CalendarPage(items=[calendar_view(c) for c in rows], next_cursor=next_cursor)


async def update_calendar(
    session: AsyncSession, scope: Scope, calendar_id: uuid.UUID, data: schemas.CalendarUpdate
) -> schemas.Calendar:
    calendar = await get_calendar_row(session, scope, calendar_id)
    raise_if(rules.check_calendar(data))
    changed = apply_update(calendar, data)
    if changed:
        record(session, scope, "calendar.updated", "calendar", calendar.id, fields=changed)
        await session.flush()
        await session.refresh(calendar)
    return calendar_view(calendar)


async def delete_calendar(session: AsyncSession, scope: Scope, calendar_id: uuid.UUID) -> None:
    await archive_or_delete(session, scope, await get_calendar_row(session, scope, calendar_id), "calendar")


DAYS: dict[str, tuple[int, ...]] = {
    "mon": (0,),
    "tue": (1,),
    "wed": (2,),
    "thu": (3,),
    "fri": (4,),
    "sat": (5,),
}
DAYS["sun"] = (6,)
DAYS |= {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}


def weekdays(days: Sequence[str]) -> list[int]:
    return sorted({weekday for day in days for weekday in DAYS[day]})


def business_calendar(row: BusinessCalendar, years: Sequence[int]) -> cal.Calendar:
    """The pure calendar the business-time functions run on, with holidays for ``years``."""
    windows = msgspec.convert(row.windows, list[schemas.WindowSpec])
    exceptions = msgspec.convert(row.exceptions, list[schemas.ExceptionSpec])
    holidays = (
        cal.japanese_holidays(years, row.holiday_country, row.holiday_subdivision)
        if row.holiday_country
        else frozenset()
    )
    return cal.Calendar(
        zone=row.time_zone,
        windows=tuple(
            cal.Window(weekday, cal.parse_clock(w.start), cal.parse_clock(w.end))
            for w in windows
            for weekday in weekdays(w.days)
        ),
        holidays=holidays,
        exceptions={
            e.date: tuple((cal.parse_clock(r.start), cal.parse_clock(r.end)) for r in e.windows)
            for e in exceptions
        },
    )


async def calendar_open_intervals(
    session: AsyncSession, scope: Scope, calendar_id: uuid.UUID, start: datetime, end: datetime
) -> list[schemas.OpenInterval]:
    row = await get_calendar_row(session, scope, calendar_id)
    years = list(range(start.year - 1, end.year + 2))
    return [
        schemas.OpenInterval(a, b) for a, b in cal.open_intervals(business_calendar(row, years), start, end)
    ]


# --- clients ---------------------------------------------------------------------------------


def _payment_terms(closing_day: int, payment_day: int, payment_month_offset: int) -> str:
    due_month = {0: "the same month", 1: "the next month", 2: "the month after next"}.get(
        payment_month_offset, f"{payment_month_offset} months later"
    )
    return (
        f"closing at {periods.day_text(closing_day)}, payment due on "
        f"{periods.day_text(payment_day)} of {due_month}"
    )


def payment_terms(client: Client) -> str:
    return _payment_terms(client.closing_day, client.payment_day, client.payment_month_offset)


def closing_days(client: Client) -> periods.ClosingDays:
    return periods.ClosingDays.stored(client.closing_day, client.closing_day_history)


# The columns a client's view is made of (``client_view``, ``client_view_of``).
CLIENT_VIEW_COLUMNS = (
    "id",
    "code",
    "name",
    "legal_name",
    "billing_contact_name",
    "billing_email",
    "currency",
    "time_zone",
    "language",
    "closing_day",
    "closing_day_history",
    "payment_month_offset",
    "payment_day",
    "tax_class",
    "status",
    "created_at",
)


def _client_view(
    *,
    id: uuid.UUID,
    code: str,
    name: str,
    legal_name: str,
    billing_contact_name: str,
    billing_email: str,
    currency: str,
    time_zone: str,
    language: Language | None,
    closing_day: int,
    closing_day_history: Sequence[Mapping[str, Any]],
    payment_month_offset: int,
    payment_day: int,
    tax_class: str,
    status: str,
    created_at: datetime,
) -> schemas.Client:
    return schemas.Client(
        id=id,
        code=code,
        name=name,
        legal_name=legal_name,
        billing_contact_name=billing_contact_name,
        billing_email=billing_email,
        currency=currency,
        time_zone=time_zone,
        language=language,
        closing_day=closing_day,
        closing_day_from=periods.ClosingDays.stored(closing_day, closing_day_history).current_from,
        payment_month_offset=payment_month_offset,
        payment_day=payment_day,
        payment_terms=_payment_terms(closing_day, payment_day, payment_month_offset),
        tax_class=schemas.TaxClass(tax_class),
        status=status,
        created_at=created_at,
    )


def client_view(client: Client) -> schemas.Client:
    return _client_view(**{column: getattr(client, column) for column in CLIENT_VIEW_COLUMNS})


def client_view_of(row: Mapping[str, Any]) -> schemas.Client:
    """The view of a client from a row holding ``CLIENT_VIEW_COLUMNS`` (a hot read), without an ORM object."""
    return _client_view(**{column: row[column] for column in CLIENT_VIEW_COLUMNS})


def check_client(data: schemas.ClientCreate | schemas.ClientUpdate, path: str = "") -> FieldErrors:
    errors: FieldErrors = []
    if isinstance(data, schemas.ClientCreate):
        errors += rules.check_currency(data.currency, rules.join(path, "currency"))
    if isinstance(data.time_zone, str):
        errors += rules.check_time_zone(data.time_zone, rules.join(path, "time_zone"))
    for name in ("closing_day", "payment_day"):
        value = getattr(data, name)
        if isinstance(value, int) and 28 < value < 31:
            errors.append(
                field_error(rules.join(path, name), "use 1-28, or 31 or end_of_month for the month end")
            )
    if (
        isinstance(data, schemas.ClientUpdate)
        and data.closing_day_from is not UNSET
        and data.closing_day is UNSET
    ):
        errors.append(field_error(rules.join(path, "closing_day_from"), "give closing_day with it"))
    return errors


async def create_client(
    session: AsyncSession, scope: Scope, data: schemas.ClientCreate, default_time_zone: str
) -> schemas.Client:
    raise_if(check_client(data))
    values = msgspec.structs.asdict(data)
    values["time_zone"] = data.time_zone or default_time_zone
    client = Client(tenant_id=scope.tenant_id, id=new_id(), **values)
    session.add(client)
    await flush_unique(session, "client", data.code)
    record(session, scope, "client.created", "client", client.id)
    await session.refresh(client)
    return client_view(client)


def _visible_clients(scope: Scope) -> Select[Client]:
    statement = select(Client).where(Client.tenant_id == scope.tenant_id)
    restriction = client_restriction(scope)
    if restriction is not None:
        statement = statement.where(Client.id == restriction)
    return statement


async def get_client_row(
    session: AsyncSession,
    scope: Scope,
    client_id: uuid.UUID,
    field: str | None = None,
    *,
    for_update: bool = False,
) -> Client:
    statement = _visible_clients(scope).where(Client.id == client_id)
    client = await session.scalar(statement.with_for_update() if for_update else statement)
    if client is None:
        _missing("Client", client_id, field)
    return client


async def get_client_with_contracts(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID
) -> tuple[Client, list[Contract]]:
    """The client, as ``get_client_row`` finds it, and its contracts the caller may see by code, in one
    statement."""
    shown = [Contract.tenant_id == Client.tenant_id, Contract.client_id == Client.id]
    if scope.contract_id is not None:
        shown.append(Contract.id == scope.contract_id)
    statement = (
        _visible_clients(scope)
        .add_columns(Contract)
        .outerjoin(Contract, and_(*shown))
        .where(Client.id == client_id)
        .order_by(Contract.code)
    )
    rows = (await session.execute(statement)).all()
    if not rows:
        _missing("Client", client_id, None)
    return rows[0][0], [contract for _, contract in rows if contract is not None]


class ClientHead(NamedTuple):
    """What an SLA summary shows of a client."""

    id: uuid.UUID
    code: str
    name: str
    time_zone: str


class ContractLine(NamedTuple):
    """What an SLA summary shows of each of a client's contracts."""

    id: uuid.UUID
    code: str
    name: str
    work_type: str
    status: str


# A client and its contracts by code (none: one row of NULLs), read by position.
_CLIENT_AND_CONTRACTS = Compiled(
    select(
        Client.id,
        Client.code,
        Client.name,
        Client.time_zone,
        Contract.id,
        Contract.code,
        Contract.name,
        Contract.work_type,
        Contract.status,
    )
    .select_from(Client)
    .outerjoin(Contract, (Contract.tenant_id == Client.tenant_id) & (Contract.client_id == Client.id))
    .where(Client.tenant_id == bindparam("tenant_id"), Client.id == bindparam("client_id"))
    .order_by(Contract.code)
)


async def read_client_with_contracts(
    read: Reader, scope: Scope, client_id: uuid.UUID
) -> tuple[ClientHead, list[ContractLine]]:
    """``get_client_with_contracts`` in any transaction of the tenant (a hot read's too), as the summary
    shows them."""
    restriction = client_restriction(scope)
    rows: Sequence[Any] = []
    if restriction is None or restriction == client_id:
        rows = await read.all(_CLIENT_AND_CONTRACTS, tenant_id=scope.tenant_id, client_id=client_id)
    if not rows:
        _missing("Client", client_id, None)
    contracts = [
        ContractLine(*row[4:])
        for row in rows
        if row[4] is not None and (scope.contract_id is None or row[4] == scope.contract_id)
    ]
    return ClientHead(*rows[0][:4]), contracts


# A client's row by id, in one statement (a hot read).
_CLIENT_BY_ID = RowById(Client)


async def get_client(reads: TenantReads, scope: Scope, client_id: uuid.UUID) -> schemas.Client:
    restriction = client_restriction(scope)
    row = None
    if restriction is None or restriction == client_id:
        row = await reads.row(_CLIENT_BY_ID, client_id)
    if row is None:
        _missing("Client", client_id, None)
    return client_view_of(row)


async def list_clients(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None, include_archived: bool = False
) -> schemas.ClientPage:
    statement = _visible_clients(scope)
    if not include_archived:
        statement = statement.where(Client.status == "active")
    rows, next_cursor = await paginate(session, statement, Client.id, limit=limit, cursor=cursor)
    return schemas.ClientPage(items=[client_view(c) for c in rows], next_cursor=next_cursor)


async def update_client(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, data: schemas.ClientUpdate
) -> schemas.Client:
    client = await get_client_row(session, scope, client_id, for_update=True)
    raise_if(check_client(data))
    changed = apply_update(client, msgspec.structs.replace(data, closing_day=UNSET, closing_day_from=UNSET))
    if isinstance(data.closing_day, int):
        changed += await _change_closing_day(
            session, scope, client, data.closing_day, data.closing_day_from or None
        )
    if changed:
        record(session, scope, "client.updated", "client", client.id, fields=changed)
        await session.flush()
        await session.refresh(client)
    return client_view(client)


async def _runs_in(session: AsyncSession, scope: Scope, client: Client, period: periods.Period) -> bool:
    """Whether a contract of the client (not a draft) runs on some day of ``period``."""
    contract = await session.scalar(
        select(Contract.id)
        .where(
            Contract.tenant_id == scope.tenant_id,
            Contract.client_id == client.id,
            Contract.status != "draft",
            Contract.start_date <= period.last_day,
            or_(Contract.end_date.is_(None), Contract.end_date >= period.first_day),
        )
        .limit(1)
    )
    return contract is not None


async def _closing_day_window(
    session: AsyncSession, scope: Scope, client: Client
) -> tuple[periods.Period, bool, date]:
    """Today's period, whether it is open (a contract runs in it), and the first day a new closing day
    may take effect: the next period's if it is open, else its own."""
    current = closing_days(client).period_containing(await tenancy.tenant_today(session, scope))
    is_open = await _runs_in(session, scope, client, current)
    return current, is_open, current.last_day + timedelta(days=1) if is_open else current.first_day


async def earliest_closing_day_change(session: AsyncSession, scope: Scope, client_id: uuid.UUID) -> date:
    return (await _closing_day_window(session, scope, await get_client_row(session, scope, client_id)))[2]


async def _change_closing_day(
    session: AsyncSession, scope: Scope, client: Client, closing_day: int, start: date | None
) -> list[str]:
    """A new closing day cuts periods from ``start`` (the first day of a period as the client's periods
    run now) on, and never the period open today, in which a contract runs: that one closes as it was
    going to, and the change may take effect from the next day at the earliest (409 says which)."""
    schedule = closing_days(client)
    if start is None and closing_day == schedule.closing_day:
        return []
    current, is_open, earliest = await _closing_day_window(session, scope, client)
    if start is None and not is_open:
        start = earliest
    if start is None or start < earliest:
        raise Conflict(
            f"Client {client.code}'s period {current.name} ({current.first_day} to {current.last_day}) is "
            f"open and closes on {periods.day_text(schedule.day_for(current.label))} as it began; a new "
            f"closing day can take effect from {earliest}, the first day of the next period: send "
            f'"closing_day_from": "{earliest}" with it to schedule the change.',
            slug="closing-day-in-open-period",
        )
    first = schedule.period_containing(start)
    if first.first_day != start:
        raise Invalid(
            f"closing_day_from: {start} does not start a period; the period around it runs from "
            f"{first.first_day} to {first.last_day}.",
            errors=[
                field_error(
                    "closing_day_from",
                    f"not the first day of a period; try {first.last_day + timedelta(days=1)}",
                )
            ],
        )
    changed = schedule.changed(closing_day, first.label)
    if changed == schedule:
        return []
    client.closing_day = changed.closing_day
    client.closing_day_history = changed.to_stored()
    record(
        session,
        scope,
        "client.closing_day_changed",
        "client",
        client.id,
        closing_day=closing_day,
        effective_from=str(start),
    )
    return ["closing_day"]


async def delete_client(session: AsyncSession, scope: Scope, client_id: uuid.UUID) -> None:
    await archive_or_delete(session, scope, await get_client_row(session, scope, client_id), "client")


async def require_client_binding(
    session: AsyncSession, tenant_id: uuid.UUID, client_id: uuid.UUID, contract_id: uuid.UUID | None = None
) -> None:
    """For credentials bound to a client (viewers, API keys): the client, and the contract if given,
    exist in this tenant and belong together."""
    client = await session.scalar(
        select(Client.id).where(Client.tenant_id == tenant_id, Client.id == client_id)
    )
    if client is None:
        raise Invalid(
            f"client_id: client {client_id} not found", errors=[field_error("client_id", "no such client")]
        )
    if contract_id is not None:
        from bpo.clients.models import Contract

        owner = await session.scalar(
            select(Contract.client_id).where(Contract.tenant_id == tenant_id, Contract.id == contract_id)
        )
        if owner != client_id:
            raise Invalid(
                f"contract_id: contract {contract_id} not found for this client",
                errors=[field_error("contract_id", "no such contract of this client")],
            )


# --- services --------------------------------------------------------------------------------


def service_view(service: Service) -> schemas.Service:
    return schemas.Service(
        id=service.id,
        client_id=service.client_id,
        code=service.code,
        name=service.name,
        description=service.description,
        status=service.status,
    )


async def create_service(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, data: schemas.ServiceCreate
) -> schemas.Service:
    client = await get_client_row(session, scope, client_id)
    if client.status != "active":
        raise Conflict(f"Client {client.code} is archived.", slug="archived")
    service = Service(
        tenant_id=scope.tenant_id, id=new_id(), client_id=client.id, **msgspec.structs.asdict(data)
    )
    session.add(service)
    await flush_unique(session, "service of this client", data.code)
    record(session, scope, "service.created", "service", service.id)
    await session.refresh(service)
    return service_view(service)


def _visible_services(scope: Scope) -> Select[Service]:
    statement = select(Service).where(Service.tenant_id == scope.tenant_id)
    restriction = client_restriction(scope)
    if restriction is not None:
        statement = statement.where(Service.client_id == restriction)
    return statement


async def get_service_row(
    session: AsyncSession, scope: Scope, service_id: uuid.UUID, field: str | None = None
) -> Service:
    service = await session.scalar(_visible_services(scope).where(Service.id == service_id))
    if service is None:
        _missing("Service", service_id, field)
    return service


async def get_service(session: AsyncSession, scope: Scope, service_id: uuid.UUID) -> schemas.Service:
    return service_view(await get_service_row(session, scope, service_id))


async def list_services(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, *, limit: int, cursor: str | None
) -> schemas.ServicePage:
    await get_client_row(session, scope, client_id)
    statement = _visible_services(scope).where(Service.client_id == client_id)
    rows, next_cursor = await paginate(session, statement, Service.id, limit=limit, cursor=cursor)
    return schemas.ServicePage(items=[service_view(s) for s in rows], next_cursor=next_cursor)


async def update_service(
    session: AsyncSession, scope: Scope, service_id: uuid.UUID, data: schemas.ServiceUpdate
) -> schemas.Service:
    service = await get_service_row(session, scope, service_id)
    changed = apply_update(service, data)
    if changed:
        record(session, scope, "service.updated", "service", service.id, fields=changed)
        await session.flush()
        await session.refresh(service)
    return service_view(service)


async def delete_service(session: AsyncSession, scope: Scope, service_id: uuid.UUID) -> None:
    await archive_or_delete(session, scope, await get_service_row(session, scope, service_id), "service")


# --- shared ----------------------------------------------------------------------------------


def _missing(kind: str, object_id: uuid.UUID, field: str | None) -> NoReturn:
    if field is not None:
        # A reference in a request body: the request is invalid, not the URL.
        raise Invalid(
            f"{field}: {kind.lower()} {object_id} not found",
            errors=[field_error(field, f"no such {kind.lower()}")],
        )
    raise NotFound(f"{kind} {object_id} not found.")


async def archive_or_delete(session: AsyncSession, scope: Scope, row: Any, kind: str) -> None:
    """Delete what nothing refers to; archive what something does (its foreign keys say so), so
    history stays intact."""
    try:
        async with session.begin_nested():
            await session.delete(row)
            await session.flush()
    except IntegrityError:
        if row.status != "archived":
            row.status = "archived"
            record(session, scope, f"{kind}.archived", kind, row.id)
        return
    record(session, scope, f"{kind}.deleted", kind, row.id)
