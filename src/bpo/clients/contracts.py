"""Contracts, their lifecycle, and their versioned SLA policies and rate plans."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Protocol, TypeVar

import msgspec
from msgspec import UNSET
from sqlalchemy import Select, Text, any_, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import defaults, rules, schemas, stored
from bpo.clients.models import Client, Contract, RatePlan, SlaPolicy
from bpo.clients.service import (
    apply_update,
    client_restriction,
    flush_unique,
    get_calendar_row,
    get_client_row,
    get_service_row,
    get_site_row,
)
from bpo.core.audit import record
from bpo.core.db import UUID_LIST, Compiled, Reader, ReadTransaction, RowById, SessionReads, TenantReads
from bpo.core.errors import Conflict, FieldErrors, NotFound, field_error, raise_if
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import Scope

Status = schemas.ContractStatus

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.ACTIVE, Status.ENDED}),
    Status.ACTIVE: frozenset({Status.SUSPENDED, Status.ENDED}),
    Status.SUSPENDED: frozenset({Status.ACTIVE, Status.ENDED}),
    Status.ENDED: frozenset(),
}


# The columns a contract's view is made of (``contract_view``, ``contract_view_of``).
CONTRACT_VIEW_COLUMNS = (
    "id",
    "client_id",
    "service_id",
    "code",
    "name",
    "work_type",
    "status",
    "start_date",
    "end_date",
    "staffing_mode",
    "site_id",
    "calendar_id",
    "coverage",
    "expected_monthly_volume",
    "billable_event",
    "currency",
    "open_shift_approval",
    "created_at",
)


def contract_view_of(row: Mapping[str, Any]) -> schemas.Contract:
    """The view of a contract from a row holding ``CONTRACT_VIEW_COLUMNS`` (a hot read), without an ORM
    object."""
    return schemas.Contract(
        id=row["id"],
        client_id=row["client_id"],
        service_id=row["service_id"],
        code=row["code"],
        name=row["name"],
        work_type=row["work_type"],
        status=Status(row["status"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        staffing_mode=schemas.StaffingMode(row["staffing_mode"]),
        site_id=row["site_id"],
        calendar_id=row["calendar_id"],
        coverage=msgspec.convert(row["coverage"], list[schemas.CoverageLine]),
        expected_monthly_volume=row["expected_monthly_volume"],
        billable_event=schemas.BillableEvent(row["billable_event"]),
        currency=row["currency"],
        open_shift_approval=schemas.OpenShiftApproval(row["open_shift_approval"]),
        created_at=row["created_at"],
    )


def contract_view(contract: Contract) -> schemas.Contract:
    return contract_view_of({column: getattr(contract, column) for column in CONTRACT_VIEW_COLUMNS})


def check_contract_shape(
    *,
    staffing_mode: schemas.StaffingMode,
    site_id: uuid.UUID | None,
    start_date: date,
    end_date: date | None,
    coverage: Sequence[schemas.CoverageLine],
    path: str = "",
) -> FieldErrors:
    errors: FieldErrors = []
    if staffing_mode is schemas.StaffingMode.ONSITE and site_id is None:
        errors.append(field_error(rules.join(path, "site_id"), "an onsite contract names its site"))
    if end_date is not None and end_date < start_date:
        errors.append(field_error(rules.join(path, "end_date"), "must not be before start_date"))
    errors += rules.check_windows(coverage, rules.join(path, "coverage"))
    return errors


def visible_contracts(scope: Scope) -> Select[Contract]:
    statement = select(Contract).where(Contract.tenant_id == scope.tenant_id)
    restriction = client_restriction(scope)
    if restriction is not None:
        statement = statement.where(Contract.client_id == restriction)
    if scope.contract_id is not None:
        statement = statement.where(Contract.id == scope.contract_id)
    return statement


async def get_contract_row(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, *, for_update: bool = False
) -> Contract:
    statement = visible_contracts(scope).where(Contract.id == contract_id)
    if for_update:
        statement = statement.with_for_update()
    contract = await session.scalar(statement)
    if contract is None:
        raise NotFound(f"Contract {contract_id} not found.")
    return contract


async def contract_names(
    session: AsyncSession, scope: Scope, contract_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The names of the contracts among ``contract_ids`` the caller may see, by id."""
    if not contract_ids:
        return {}
    rows = await session.execute(
        visible_contracts(scope)
        .with_only_columns(Contract.id, Contract.name)
        .where(Contract.id.in_(contract_ids))
    )
    return {contract_id: name for contract_id, name in rows.all()}


_CONTRACT_LABELS = Compiled(
    select(Contract.id, Contract.name, Contract.client_id, Client.name.label("client_name"))
    .join(Client, (Client.tenant_id == Contract.tenant_id) & (Client.id == Contract.client_id))
    .where(
        Contract.tenant_id == bindparam("tenant_id"),
        Contract.id == any_(bindparam("contract_ids", type_=UUID_LIST)),
    )
)


async def contract_labels(
    reads: ReadTransaction, scope: Scope, contract_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """The name of each contract and of its client, by contract id, in a hot read; a contract the caller
    may not see is a 404, as ``get_contract_row`` has it."""
    if not contract_ids:
        return {}
    rows = await reads.all(_CONTRACT_LABELS, tenant_id=scope.tenant_id, contract_ids=list(contract_ids))
    labels = {
        row["id"]: (row["name"], row["client_name"])
        for row in rows
        if visible(scope, row["client_id"], row["id"])
    }
    for contract_id in contract_ids:
        if contract_id not in labels:
            raise NotFound(f"Contract {contract_id} not found.")
    return labels


async def get_contract_row_and_zone(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID
) -> tuple[Contract, str]:
    """The contract and its client's time zone, in one query."""
    found = (
        await session.execute(
            visible_contracts(scope)
            .add_columns(Client.time_zone)
            .join(Client, (Client.tenant_id == Contract.tenant_id) & (Client.id == Contract.client_id))
            .where(Contract.id == contract_id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"Contract {contract_id} not found.")
    return found[0], found[1]


async def get_contract_row_by_code(session: AsyncSession, scope: Scope, code: str) -> Contract:
    contract = await session.scalar(visible_contracts(scope).where(Contract.code == code))
    if contract is None:
        raise NotFound(f"Contract {code!r} not found.")
    return contract


# A contract's row by id, in one statement (a hot read).
_CONTRACT_BY_ID = RowById(Contract)


def visible(scope: Scope, client_id: uuid.UUID, contract_id: uuid.UUID) -> bool:
    """What ``visible_contracts`` says of one contract, from its client and id."""
    restriction = client_restriction(scope)
    if restriction is not None and client_id != restriction:
        return False
    return scope.contract_id is None or contract_id == scope.contract_id


async def get_contract(reads: TenantReads, scope: Scope, contract_id: uuid.UUID) -> schemas.Contract:
    row = None
    if scope.contract_id is None or scope.contract_id == contract_id:
        row = await reads.row(_CONTRACT_BY_ID, contract_id)
    if row is None or not visible(scope, row["client_id"], contract_id):
        raise NotFound(f"Contract {contract_id} not found.")
    return contract_view_of(row)


async def list_contracts(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    client_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
    status: Status | None = None,
) -> schemas.ContractPage:
    statement = visible_contracts(scope)
    if client_id is not None:
        statement = statement.where(Contract.client_id == client_id)
    if service_id is not None:
        statement = statement.where(Contract.service_id == service_id)
    if status is not None:
        statement = statement.where(Contract.status == status.value)
    rows, next_cursor = await paginate(session, statement, Contract.id, limit=limit, cursor=cursor)
    return schemas.ContractPage(items=[contract_view(c) for c in rows], next_cursor=next_cursor)


async def create_contract(
    session: AsyncSession, scope: Scope, data: schemas.ContractCreate
) -> schemas.Contract:
    raise_if(
        check_contract_shape(
            staffing_mode=data.staffing_mode,
            site_id=data.site_id,
            start_date=data.start_date,
            end_date=data.end_date,
            coverage=data.coverage,
        )
        + (rules.check_currency(data.currency, "currency") if data.currency else [])
    )
    service = await get_service_row(session, scope, data.service_id, field="service_id")
    client = await get_client_row(session, scope, service.client_id)
    if service.status != "active" or client.status != "active":
        raise Conflict("The service or its client is archived.", slug="archived")
    await get_calendar_row(session, scope, data.calendar_id, field="calendar_id")
    if data.site_id is not None:
        await get_site_row(session, scope, data.site_id, field="site_id")
    contract = Contract(
        tenant_id=scope.tenant_id,
        id=new_id(),
        client_id=client.id,
        service_id=service.id,
        code=data.code,
        name=data.name,
        work_type=data.work_type.value,
        status=Status.DRAFT.value,
        start_date=data.start_date,
        end_date=data.end_date,
        staffing_mode=data.staffing_mode.value,
        site_id=data.site_id,
        calendar_id=data.calendar_id,
        coverage=msgspec.to_builtins(data.coverage),
        expected_monthly_volume=data.expected_monthly_volume,
        billable_event=(data.billable_event or defaults.BILLABLE_EVENT[data.work_type]).value,
        currency=data.currency or client.currency,
        open_shift_approval=data.open_shift_approval.value,
    )
    session.add(contract)
    await flush_unique(session, "contract", data.code)
    # Every contract is measured from its first day: the work type's default objectives until changed.
    session.add(
        SlaPolicy(
            tenant_id=scope.tenant_id,
            id=new_id(),
            contract_id=contract.id,
            effective_from=contract.start_date,
            objectives=msgspec.to_builtins(defaults.OBJECTIVES[data.work_type]),
            created_by=scope.user_id,
        )
    )
    record(session, scope, "contract.created", "contract", contract.id, code=contract.code)
    await session.flush()
    await session.refresh(contract)
    return contract_view(contract)


def ensure_editable(contract: Contract) -> None:
    if contract.status == Status.ENDED.value:
        raise Conflict(f"Contract {contract.code} has ended and can no longer change.", slug="contract-ended")


async def update_contract(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, data: schemas.ContractUpdate
) -> schemas.Contract:
    contract = await get_contract_row(session, scope, contract_id, for_update=True)
    ensure_editable(contract)
    staffing_mode = schemas.StaffingMode(
        contract.staffing_mode if data.staffing_mode is UNSET else data.staffing_mode
    )
    site_id = contract.site_id if data.site_id is UNSET else data.site_id
    end_date = contract.end_date if data.end_date is UNSET else data.end_date
    coverage = (
        msgspec.convert(contract.coverage, list[schemas.CoverageLine])
        if data.coverage is UNSET
        else data.coverage
    )
    raise_if(
        check_contract_shape(
            staffing_mode=staffing_mode,
            site_id=site_id,
            start_date=contract.start_date,
            end_date=end_date,
            coverage=coverage,
        )
    )
    if data.site_id is not UNSET and data.site_id is not None:
        await get_site_row(session, scope, data.site_id, field="site_id")
    if data.calendar_id is not UNSET:
        await get_calendar_row(session, scope, data.calendar_id, field="calendar_id")
    changed = apply_update(contract, data)
    if changed:
        record(session, scope, "contract.updated", "contract", contract.id, fields=changed)
        await session.flush()
        await session.refresh(contract)
    return contract_view(contract)


async def transition_contract(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, target: Status, today: date
) -> schemas.Contract:
    contract = await get_contract_row(session, scope, contract_id, for_update=True)
    current = Status(contract.status)
    if target == current:
        return contract_view(contract)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (ended is final)"
        raise Conflict(
            f"A {current} contract cannot become {target}; allowed: {allowed}.",
            slug="invalid-transition",
            errors=[field_error("status", f"{current} → {target} not allowed")],
        )
    if target is Status.ACTIVE:
        plan = await session.scalar(
            select(RatePlan.id).where(
                RatePlan.tenant_id == scope.tenant_id, RatePlan.contract_id == contract.id
            )
        )
        if plan is None:
            raise Conflict(
                f"Contract {contract.code} needs a rate plan before it can be activated.",
                slug="rate-plan-required",
            )
        service = await get_service_row(session, scope, contract.service_id)
        if service.status != "active":
            raise Conflict("The contract's service is archived.", slug="archived")
    if target is Status.ENDED and contract.end_date is None:
        contract.end_date = max(today, contract.start_date)
    contract.status = target.value
    record(
        session,
        scope,
        "contract.status_changed",
        "contract",
        contract.id,
        status_from=current,
        status_to=target,
    )
    await session.flush()
    await session.refresh(contract)
    return contract_view(contract)


# --- versions --------------------------------------------------------------------------------


def _check_version_date(
    contract: Contract, effective_from: date, latest: date | None, today: date, path: str
) -> FieldErrors:
    """Closed months are never re-measured or re-billed: once a contract is live, a new version starts
    no earlier than the current month and after the latest version."""
    window = rules.check_date_window(effective_from, today, path)
    if window:
        return window
    if effective_from < contract.start_date:
        return [field_error(path, f"must not be before the contract's start {contract.start_date}")]
    if contract.status == Status.DRAFT.value:
        return []
    month_start = today.replace(day=1)
    if effective_from < month_start:
        return [field_error(path, f"must be on or after {month_start}: earlier months are closed")]
    if latest is not None and effective_from <= latest:
        return [field_error(path, f"must be after the latest version ({latest})")]
    return []


def _with_effective_to(rows: Sequence[Any]) -> list[tuple[Any, date | None]]:
    ordered = sorted(rows, key=lambda r: r.effective_from)
    return [
        (row, ordered[i + 1].effective_from - timedelta(days=1) if i + 1 < len(ordered) else None)
        for i, row in enumerate(ordered)
    ]


def policy_view(policy: SlaPolicy, effective_to: date | None) -> schemas.SlaPolicy:
    return schemas.SlaPolicy(
        id=policy.id,
        contract_id=policy.contract_id,
        effective_from=policy.effective_from,
        effective_to=effective_to,
        objectives=stored.read(policy.objectives, list[schemas.Objective]),
        created_at=policy.created_at,
    )


def plan_view(plan: RatePlan, effective_to: date | None) -> schemas.RatePlan:
    return _plan(plan, effective_to, stored.read)


def _plan(row: Any, effective_to: date | None, read: Callable[[Any, Any], Any]) -> schemas.RatePlan:
    """A version as the API shows it, from its row (an entity, or a row of ``_PLANS_OF`` with its JSON as
    text), its JSON read by ``read``."""
    return schemas.RatePlan(
        id=row.id,
        contract_id=row.contract_id,
        effective_from=row.effective_from,
        effective_to=effective_to,
        currency=row.currency,
        charges=read(row.charges, list[schemas.Charge]),
        minimum_commitment=row.minimum_commitment,
        service_credits=read(row.service_credits, list[schemas.ServiceCredit]),
        meters=read(row.meters, list[schemas.Meter]),
        surcharges=read(row.surcharges, list[schemas.Surcharge]),
        created_at=row.created_at,
    )


async def list_sla_policies(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID
) -> list[schemas.SlaPolicy]:
    contract = await get_contract_row(session, scope, contract_id)
    return (await policies_of(session, scope, [contract.id]))[contract.id]


# The SLA policy versions of contracts, oldest first, read by position (``Reader``): their objectives as
# JSON text, decoded straight into the API's types.
_POLICIES_OF = Compiled(
    select(
        SlaPolicy.id,
        SlaPolicy.contract_id,
        SlaPolicy.effective_from,
        SlaPolicy.objectives.cast(Text),
        SlaPolicy.created_at,
    )
    .where(
        SlaPolicy.tenant_id == bindparam("tenant_id"),
        SlaPolicy.contract_id == any_(bindparam("contract_ids", type_=UUID_LIST)),
    )
    .order_by(SlaPolicy.contract_id, SlaPolicy.effective_from)
)


async def policies_of(
    session: AsyncSession, scope: Scope, contract_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.SlaPolicy]]:
    """The SLA policy versions of each contract, for contracts the caller was already shown (their
    visibility is not checked again here)."""
    return await read_policies(SessionReads(session), scope, contract_ids)


async def read_policies(
    read: Reader, scope: Scope, contract_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.SlaPolicy]]:
    """``policies_of`` in any transaction of the tenant (a hot read's too)."""
    versions: dict[uuid.UUID, list[schemas.SlaPolicy]] = {contract_id: [] for contract_id in contract_ids}
    if not contract_ids:
        return versions
    rows = await read.all(_POLICIES_OF, tenant_id=scope.tenant_id, contract_ids=list(contract_ids))
    for policy_id, contract_id, effective_from, objectives, created_at in rows:
        earlier = versions[contract_id]
        if earlier:
            earlier[-1].effective_to = effective_from - timedelta(days=1)
        earlier.append(
            schemas.SlaPolicy(
                id=policy_id,
                contract_id=contract_id,
                effective_from=effective_from,
                effective_to=None,
                objectives=stored.decode(objectives, list[schemas.Objective]),
                created_at=created_at,
            )
        )
    return versions


async def _add_version(
    session: AsyncSession,
    scope: Scope,
    contract_id: uuid.UUID,
    model: type[SlaPolicy] | type[RatePlan],
    effective_from: date,
    values: dict[str, Any],
    check: Callable[[Contract], FieldErrors],
    today: date,
) -> uuid.UUID:
    """Add a version of a contract's objectives or prices in force from ``effective_from``."""
    contract = await get_contract_row(session, scope, contract_id, for_update=True)
    ensure_editable(contract)
    latest = await session.scalar(
        select(func.max(model.effective_from)).where(
            model.tenant_id == scope.tenant_id, model.contract_id == contract.id
        )
    )
    raise_if(check(contract) + _check_version_date(contract, effective_from, latest, today, "effective_from"))
    if contract.status == Status.DRAFT.value:
        # Until the contract goes live its versions are a draft too: the same date replaces.
        await session.execute(
            delete(model).where(
                model.tenant_id == scope.tenant_id,
                model.contract_id == contract.id,
                model.effective_from == effective_from,
            )
        )
    version = model(
        tenant_id=scope.tenant_id,
        id=new_id(),
        contract_id=contract.id,
        effective_from=effective_from,
        created_by=scope.user_id,
        **values,
    )
    session.add(version)
    record(
        session,
        scope,
        "sla_policy.created" if model is SlaPolicy else "rate_plan.created",
        "contract",
        contract.id,
        effective_from=str(effective_from),
        version_id=str(version.id),
    )
    await session.flush()
    return version.id


async def add_sla_policy(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, data: schemas.SlaPolicyCreate, today: date
) -> schemas.SlaPolicy:
    version_id = await _add_version(
        session,
        scope,
        contract_id,
        SlaPolicy,
        data.effective_from,
        {"objectives": msgspec.to_builtins(data.objectives)},
        lambda _: rules.check_objectives(data.objectives, "objectives"),
        today,
    )
    versions = await list_sla_policies(session, scope, contract_id)
    return next(v for v in versions if v.id == version_id)


async def list_rate_plans(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID
) -> list[schemas.RatePlan]:
    contract = await get_contract_row(session, scope, contract_id)
    rows = (
        await session.scalars(
            select(RatePlan).where(RatePlan.tenant_id == scope.tenant_id, RatePlan.contract_id == contract.id)
        )
    ).all()
    return [plan_view(row, to) for row, to in _with_effective_to(rows)]


# The versions of many contracts (a month-end run reads a thousand): their JSON as text, decoded straight
# into the API's types.
_PLANS_OF = select(
    RatePlan.id,
    RatePlan.contract_id,
    RatePlan.effective_from,
    RatePlan.currency,
    RatePlan.charges.cast(Text).label("charges"),
    RatePlan.minimum_commitment,
    RatePlan.service_credits.cast(Text).label("service_credits"),
    RatePlan.meters.cast(Text).label("meters"),
    RatePlan.surcharges.cast(Text).label("surcharges"),
    RatePlan.created_at,
).where(
    RatePlan.tenant_id == bindparam("tenant_id"),
    RatePlan.contract_id == any_(bindparam("contract_ids", type_=UUID_LIST)),
)


async def rate_plans_of(
    session: AsyncSession, scope: Scope, contract_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.RatePlan]]:
    """The rate plan versions of each contract, for contracts the caller was already shown (their
    visibility is not checked again here)."""
    rows: dict[uuid.UUID, list[Any]] = {contract_id: [] for contract_id in contract_ids}
    if contract_ids:
        found = await session.execute(
            _PLANS_OF, {"tenant_id": scope.tenant_id, "contract_ids": list(contract_ids)}
        )
        for row in found:
            rows[row.contract_id].append(row)
    return {
        contract_id: [_plan(row, to, stored.decode) for row, to in _with_effective_to(versions)]
        for contract_id, versions in rows.items()
    }


async def holiday_problems(
    session: AsyncSession, scope: Scope, contract: Contract, surcharges: Sequence[schemas.Surcharge]
) -> FieldErrors:
    """A holiday surcharge follows its contract calendar's public holidays unless it names a country: on a
    calendar that observes none (a 24/365 one), it must name one."""
    calendar = await get_calendar_row(session, scope, contract.calendar_id)
    if calendar.holiday_country is not None:
        return []
    return [
        field_error(
            f"surcharges[{i}].holiday_country",
            f"calendar {calendar.code} observes no public holidays: name the country whose holidays count",
        )
        for i, surcharge in enumerate(surcharges)
        if surcharge.window is schemas.SurchargeWindow.HOLIDAY and surcharge.holiday_country is None
    ]


async def add_rate_plan(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, data: schemas.RatePlanCreate, today: date
) -> schemas.RatePlan:
    holidays = await holiday_problems(
        session, scope, await get_contract_row(session, scope, contract_id), data.surcharges
    )
    version_id = await _add_version(
        session,
        scope,
        contract_id,
        RatePlan,
        data.effective_from,
        {
            "currency": data.currency,
            "charges": msgspec.to_builtins(data.charges),
            "minimum_commitment": data.minimum_commitment,
            "service_credits": msgspec.to_builtins(data.service_credits),
            "meters": msgspec.to_builtins(data.meters),
            "surcharges": msgspec.to_builtins(data.surcharges),
        },
        lambda contract: rules.check_rate_plan(data, contract.currency, "") + holidays,
        today,
    )
    versions = await list_rate_plans(session, scope, contract_id)
    return next(v for v in versions if v.id == version_id)


class _Version(Protocol):
    @property
    def effective_from(self) -> date: ...
    @property
    def effective_to(self) -> date | None: ...


V = TypeVar("V", bound=_Version)


def in_force(versions: Sequence[V], on: date) -> V | None:
    """The version (of objectives or prices) in force on a day, from a contract's version list."""
    return next(
        (
            v
            for v in reversed(versions)
            if v.effective_from <= on and (v.effective_to is None or on <= v.effective_to)
        ),
        None,
    )
