"""Staff profiles, time off and the tenant's staffing settings (no HTTP here; the caller owns the
transaction). Shifts are in ``shifts.py``; assignments and the hard-rule checks in ``roster.py``.

Operators (admin, account manager, supervisor) see every profile; a user with the staff role sees only
the profile linked to their login; anyone else sees none.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts as clients_contracts
from bpo.clients import rules as clients_rules
from bpo.clients import service as clients
from bpo.clients.schemas import WindowSpec
from bpo.core.audit import record
from bpo.core.errors import Conflict, FieldErrors, Invalid, NotFound, field_error, raise_if
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import OPERATOR_ROLES, Role, Scope
from bpo.staffing import schemas
from bpo.staffing.models import Staff, StaffingSettings, TimeOff
from bpo.staffing.rules import RuleSettings
from bpo.staffing.solver import Weights
from bpo.tenancy import schemas as tenancy_schemas
from bpo.tenancy import users as tenancy_users

MAX_TIME_OFF = timedelta(days=366)

# ISO 3166-1 alpha-2, as in the tz database's iso3166.tab.
_ISO_3166 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
    BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES
    ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE
    IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU
    NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM
    SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE
    VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(re.findall(r"[A-Z]{2}", _ISO_3166))


def require_aware(value: datetime, field: str) -> FieldErrors:
    if value.utcoffset() is None:
        return [field_error(field, "needs a UTC offset (ISO 8601, e.g. 2026-11-02T09:00:00+09:00)")]
    return []


# --- staff -----------------------------------------------------------------------------------


def staff_view(row: Staff) -> schemas.Staff:
    cost = (
        schemas.Money(amount=row.hourly_cost, currency=row.cost_currency)
        if row.hourly_cost is not None and row.cost_currency is not None
        else None
    )
    return schemas.Staff(
        id=row.id,
        code=row.code,
        user_id=row.user_id,
        display_name=row.display_name,
        given_name=row.given_name,
        email=row.email,
        employment_type=schemas.EmploymentType(row.employment_type),
        home_zone=row.home_zone,
        country=row.country,
        skills=msgspec.convert(row.skills, list[schemas.Proficiency]),
        languages=msgspec.convert(row.languages, list[schemas.Proficiency]),
        site_ids=list(row.site_ids),
        trained_contract_ids=list(row.trained_contract_ids) if row.trained_contract_ids is not None else None,
        excluded_contract_ids=list(row.excluded_contract_ids),
        weekly_hour_cap=row.weekly_hour_cap,
        contracted_hours=row.contracted_hours,
        hourly_cost=cost,
        availability=(
            msgspec.convert(row.availability, list[WindowSpec]) if row.availability is not None else None
        ),
        active=row.active,
        max_consecutive_days=row.max_consecutive_days,
        monthly_overtime_hours=row.monthly_overtime_hours,
        yearly_overtime_hours=row.yearly_overtime_hours,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _unique_names(items: Sequence[schemas.Proficiency], path: str) -> FieldErrors:
    seen: set[str] = set()
    errors = []
    for i, item in enumerate(items):
        if item.name in seen:
            errors.append(field_error(f"{path}[{i}].name", f"{item.name!r} appears twice"))
        seen.add(item.name)
    return errors


def check_staff(data: schemas.StaffCreate | schemas.StaffUpdate, path: str = "") -> FieldErrors:
    """The rules beyond types, for the API and manifests alike (paths relative to ``path``)."""
    where = functools.partial(clients_rules.join, path)
    errors: FieldErrors = []
    if isinstance(data.home_zone, str):
        errors += clients_rules.check_time_zone(data.home_zone, where("home_zone"))
    if isinstance(data.country, str) and data.country not in COUNTRIES:
        errors.append(field_error(where("country"), f"{data.country!r} is not an ISO 3166-1 alpha-2 code"))
    for name in ("skills", "languages"):
        value = getattr(data, name)
        if isinstance(value, list):
            errors += _unique_names(value, where(name))
    if isinstance(data.availability, list):
        if not data.availability:
            errors.append(field_error(where("availability"), "at least one window, or null for any time"))
        errors += clients_rules.check_windows(data.availability, where("availability"))
    if isinstance(data.hourly_cost, schemas.Money):
        errors += clients_rules.check_currency(data.hourly_cost.currency, where("hourly_cost.currency"))
    for name in ("site_ids", "trained_contract_ids", "excluded_contract_ids"):
        value = getattr(data, name)
        if isinstance(value, list) and len(set(value)) != len(value):
            errors.append(field_error(where(name), "lists an id twice"))
    return errors


def visible_staff(scope: Scope) -> Select[Staff]:
    statement = select(Staff).where(Staff.tenant_id == scope.tenant_id)
    if scope.role is Role.STAFF:
        return statement.where(Staff.user_id == scope.principal_id)
    if scope.role not in OPERATOR_ROLES:
        return statement.where(false())
    return statement


async def get_staff_row(
    session: AsyncSession,
    scope: Scope,
    staff_id: uuid.UUID,
    *,
    for_update: bool = False,
    field: str | None = None,
) -> Staff:
    """A staff row the scope may see; a request body's reference (``field``) that is not one is a 422."""
    statement = visible_staff(scope).where(Staff.id == staff_id)
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None:
        if field is not None:
            raise Invalid(
                f"{field}: staff {staff_id} not found", errors=[field_error(field, "no such staff")]
            )
        raise NotFound(f"Staff {staff_id} not found.")
    return row


async def _check_references(
    session: AsyncSession, scope: Scope, data: schemas.StaffCreate | schemas.StaffUpdate
) -> FieldErrors:
    errors: FieldErrors = []
    if isinstance(data.site_ids, list):
        for i, site_id in enumerate(data.site_ids):
            try:
                await clients.get_site_row(session, scope, site_id, field=f"site_ids[{i}]")
            except Invalid as exc:
                errors += exc.errors
    for name in ("trained_contract_ids", "excluded_contract_ids"):
        ids = getattr(data, name)
        if not isinstance(ids, list):
            continue
        for i, contract_id in enumerate(ids):
            try:
                await clients_contracts.get_contract_row(session, scope, contract_id)
            except NotFound:
                errors.append(field_error(f"{name}[{i}]", "no such contract"))
    if isinstance(data.user_id, uuid.UUID):
        try:
            user = await tenancy_users.get_user(session, scope, data.user_id)
        except NotFound:
            errors.append(field_error("user_id", "no such user"))
        else:
            if user.role in (Role.CLIENT_VIEWER, Role.API_CLIENT):
                errors.append(field_error("user_id", "a client viewer cannot be staff"))
    return errors


def _columns(data: schemas.StaffCreate | schemas.StaffUpdate) -> dict[str, Any]:
    """Column values of the fields the request sets."""
    values: dict[str, Any] = {}
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if value is UNSET:
            continue
        if name == "hourly_cost":
            values["hourly_cost"] = value.amount if value is not None else None
            values["cost_currency"] = value.currency if value is not None else None
        elif name in ("skills", "languages", "availability"):
            values[name] = msgspec.to_builtins(value)
        elif isinstance(value, Enum):
            values[name] = value.value
        else:
            values[name] = value
    return values


async def _flush_staff(session: AsyncSession, row: Staff) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        if "user_id" in text:
            raise Conflict(
                "That user is linked to another staff profile.",
                slug="user-already-staff",
                errors=[field_error("user_id", "already linked to another staff profile")],
            ) from None
        if "code" in text:
            raise Conflict(
                f"A staff member with code {row.code!r} already exists.",
                slug="duplicate-code",
                errors=[field_error("code", "already in use")],
            ) from None
        raise


async def require_staff_binding(
    session: AsyncSession, tenant_id: uuid.UUID, staff_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """For ``tenancy``: a login may name (``staff_id``) a profile of its tenant that names no other login."""
    linked = await session.execute(
        select(Staff.user_id).where(Staff.tenant_id == tenant_id, Staff.id == staff_id)
    )
    row = linked.one_or_none()
    if row is None:
        raise Invalid(
            f"staff_id: staff {staff_id} not found", errors=[field_error("staff_id", "no such staff profile")]
        )
    if row.user_id is not None and row.user_id != user_id:
        raise Conflict(
            "That staff profile is linked to another user.",
            slug="staff-already-linked",
            errors=[field_error("staff_id", "linked to another user")],
        )


async def _link_user(
    session: AsyncSession, scope: Scope, staff_id: uuid.UUID, old: uuid.UUID | None, new: uuid.UUID | None
) -> None:
    """Keep the login's ``staff_id`` (which its tokens carry) in step with the profile's ``user_id``."""
    if old == new:
        return
    if old is not None:
        await tenancy_users.update_user(
            session, scope, old, tenancy_schemas.UserUpdate(staff_id=None), clients.require_client_binding
        )
    if new is not None:
        await tenancy_users.update_user(
            session,
            scope,
            new,
            tenancy_schemas.UserUpdate(staff_id=staff_id),
            clients.require_client_binding,
            check_staff=require_staff_binding,
        )


async def create_staff(session: AsyncSession, scope: Scope, data: schemas.StaffCreate) -> schemas.Staff:
    raise_if(check_staff(data))
    raise_if(await _check_references(session, scope, data))
    row = Staff(tenant_id=scope.tenant_id, id=new_id(), **_columns(data))
    session.add(row)
    await _flush_staff(session, row)
    await _link_user(session, scope, row.id, None, row.user_id)
    record(session, scope, "staff.created", "staff", row.id, display_name=row.display_name)
    await session.flush()
    await session.refresh(row)
    return staff_view(row)


async def get_staff(session: AsyncSession, scope: Scope, staff_id: uuid.UUID) -> schemas.Staff:
    return staff_view(await get_staff_row(session, scope, staff_id))


async def list_staff(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    active: bool | None = None,
    skill: str | None = None,
    language: str | None = None,
    site_id: uuid.UUID | None = None,
) -> schemas.StaffPage:
    statement = visible_staff(scope)
    if active is not None:
        statement = statement.where(Staff.active.is_(active))
    if skill is not None:
        statement = statement.where(Staff.skills.contains([{"name": skill}]))
    if language is not None:
        statement = statement.where(Staff.languages.contains([{"name": language}]))
    if site_id is not None:
        statement = statement.where(Staff.site_ids.contains([site_id]))
    rows, next_cursor = await paginate(session, statement, Staff.id, limit=limit, cursor=cursor)
    return schemas.StaffPage(items=[staff_view(row) for row in rows], next_cursor=next_cursor)


async def all_staff(session: AsyncSession, scope: Scope) -> list[schemas.Staff]:
    """Every profile the scope may see, oldest first."""
    rows = await session.scalars(visible_staff(scope).order_by(Staff.id))
    return [staff_view(row) for row in rows]


async def update_staff(
    session: AsyncSession, scope: Scope, staff_id: uuid.UUID, data: schemas.StaffUpdate
) -> schemas.Staff:
    row = await get_staff_row(session, scope, staff_id, for_update=True)
    raise_if(check_staff(data))
    raise_if(await _check_references(session, scope, data))
    old_user = row.user_id
    changed = []
    for name, value in _columns(data).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    if changed:
        await _flush_staff(session, row)
        await _link_user(session, scope, row.id, old_user, row.user_id)
        record(session, scope, "staff.updated", "staff", row.id, fields=changed)
        await session.flush()
        await session.refresh(row)
    return staff_view(row)


async def delete_staff(session: AsyncSession, scope: Scope, staff_id: uuid.UUID) -> None:
    """Delete a profile nothing refers to; deactivate one with assignments, so rosters keep their history."""
    row = await get_staff_row(session, scope, staff_id, for_update=True)
    try:
        async with session.begin_nested():
            await session.delete(row)
            await session.flush()
    except IntegrityError:
        if row.active:
            row.active = False
            record(session, scope, "staff.deactivated", "staff", row.id)
        return
    # Every login naming the profile, whether or not the profile named it back.
    await tenancy_users.unlink_staff(session, scope, staff_id)
    record(session, scope, "staff.deleted", "staff", staff_id)


# --- time off --------------------------------------------------------------------------------

TimeOffStatus = schemas.TimeOffStatus
TIME_OFF_TRANSITIONS: dict[TimeOffStatus, frozenset[TimeOffStatus]] = {
    TimeOffStatus.REQUESTED: frozenset(
        {TimeOffStatus.APPROVED, TimeOffStatus.REJECTED, TimeOffStatus.CANCELLED}
    ),
    TimeOffStatus.APPROVED: frozenset({TimeOffStatus.CANCELLED}),
    TimeOffStatus.REJECTED: frozenset(),
    TimeOffStatus.CANCELLED: frozenset(),
}


def time_off_view(row: TimeOff) -> schemas.TimeOff:
    return schemas.TimeOff(
        id=row.id,
        staff_id=row.staff_id,
        start=row.starts_at,
        end=row.ends_at,
        reason=row.reason,
        status=TimeOffStatus(row.status),
        requested_by=row.requested_by,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        created_at=row.created_at,
    )


async def request_time_off(
    session: AsyncSession, scope: Scope, staff_id: uuid.UUID, data: schemas.TimeOffCreate
) -> schemas.TimeOff:
    """Staff ask for themselves; operators for anyone. Either way it starts as requested."""
    staff = await get_staff_row(session, scope, staff_id)
    errors = require_aware(data.start, "start") + require_aware(data.end, "end")
    if not errors and not data.start < data.end <= data.start + MAX_TIME_OFF:
        errors.append(field_error("end", "after start, at most 366 days later"))
    raise_if(errors)
    row = TimeOff(
        tenant_id=scope.tenant_id,
        id=new_id(),
        staff_id=staff.id,
        starts_at=data.start.astimezone(UTC),
        ends_at=data.end.astimezone(UTC),
        reason=data.reason,
        status=TimeOffStatus.REQUESTED.value,
        requested_by=scope.user_id,
    )
    session.add(row)
    record(session, scope, "time_off.requested", "time_off", row.id, staff_id=str(staff.id))
    await session.flush()
    await session.refresh(row)
    return time_off_view(row)


def _visible_time_off(scope: Scope) -> Select[TimeOff]:
    mine = visible_staff(scope).with_only_columns(Staff.id)
    return select(TimeOff).where(
        TimeOff.tenant_id == scope.tenant_id, TimeOff.staff_id.in_(mine.scalar_subquery())
    )


async def get_time_off_row(
    session: AsyncSession, scope: Scope, time_off_id: uuid.UUID, *, for_update: bool = False
) -> TimeOff:
    statement = _visible_time_off(scope).where(TimeOff.id == time_off_id)
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None:
        raise NotFound(f"Time off {time_off_id} not found.")
    return row


async def get_time_off(session: AsyncSession, scope: Scope, time_off_id: uuid.UUID) -> schemas.TimeOff:
    return time_off_view(await get_time_off_row(session, scope, time_off_id))


async def list_time_off(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    staff_id: uuid.UUID | None = None,
    status: TimeOffStatus | None = None,
) -> schemas.TimeOffPage:
    statement = _visible_time_off(scope)
    if staff_id is not None:
        statement = statement.where(TimeOff.staff_id == staff_id)
    if status is not None:
        statement = statement.where(TimeOff.status == status.value)
    rows, next_cursor = await paginate(session, statement, TimeOff.id, limit=limit, cursor=cursor)
    return schemas.TimeOffPage(items=[time_off_view(row) for row in rows], next_cursor=next_cursor)


async def transition_time_off(
    session: AsyncSession, scope: Scope, row: TimeOff, target: TimeOffStatus
) -> schemas.TimeOff:
    """Move time off along its lifecycle (requested → approved | rejected | cancelled, approved →
    cancelled); the caller has checked that the scope may."""
    current = TimeOffStatus(row.status)
    if target not in TIME_OFF_TRANSITIONS[current]:
        raise Conflict(
            f"Time off that is {current} cannot become {target}.",
            slug="invalid-transition",
            errors=[field_error("status", f"{current} → {target} not allowed")],
        )
    row.status = target.value
    row.decided_by = scope.user_id
    row.decided_at = datetime.now(UTC)
    record(session, scope, f"time_off.{target.value}", "time_off", row.id, status_from=current)
    await session.flush()
    await session.refresh(row)
    return time_off_view(row)


# --- settings --------------------------------------------------------------------------------


def _settings_spec(row: StaffingSettings | None) -> schemas.StaffingSettings:
    if row is None:
        return schemas.StaffingSettings()
    return schemas.StaffingSettings(
        min_rest_hours=row.min_rest_hours,
        max_consecutive_days=row.max_consecutive_days,
        monthly_overtime_hours=row.monthly_overtime_hours,
        yearly_overtime_hours=row.yearly_overtime_hours,
        overtime_year_start_month=row.overtime_year_start_month,
        weights=msgspec.convert(row.weights, schemas.WeightsSpec),
    )


async def get_settings(session: AsyncSession, scope: Scope) -> schemas.StaffingSettings:
    row = await session.get(StaffingSettings, scope.tenant_id)
    return _settings_spec(row)


async def rule_settings(session: AsyncSession, scope: Scope) -> tuple[RuleSettings, Weights]:
    """The tenant's hard-rule settings and solver weights, as the rules and the solver take them."""
    spec = await get_settings(session, scope)
    settings = RuleSettings(
        min_rest_hours=spec.min_rest_hours,
        max_consecutive_days=spec.max_consecutive_days,
        monthly_overtime_hours=spec.monthly_overtime_hours,
        yearly_overtime_hours=spec.yearly_overtime_hours,
        overtime_year_start_month=spec.overtime_year_start_month,
    )
    return settings, Weights(**msgspec.structs.asdict(spec.weights))


async def put_settings(
    session: AsyncSession, scope: Scope, data: schemas.StaffingSettings
) -> schemas.StaffingSettings:
    try:
        Weights(**msgspec.structs.asdict(data.weights))
    except ValueError as exc:
        raise Invalid(f"weights: {exc}", errors=[field_error("weights.night_end", str(exc))]) from None
    row = await session.get(StaffingSettings, scope.tenant_id, with_for_update=True)
    if row is None:
        row = StaffingSettings(tenant_id=scope.tenant_id)
        session.add(row)
    row.min_rest_hours = data.min_rest_hours
    row.max_consecutive_days = data.max_consecutive_days
    row.monthly_overtime_hours = data.monthly_overtime_hours
    row.yearly_overtime_hours = data.yearly_overtime_hours
    row.overtime_year_start_month = data.overtime_year_start_month
    row.weights = msgspec.to_builtins(data.weights)
    row.updated_by = scope.user_id
    record(session, scope, "staffing_settings.updated", "staffing_settings", scope.tenant_id)
    await session.flush()
    await session.refresh(row)
    return _settings_spec(row)
