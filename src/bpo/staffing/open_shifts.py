"""Open shifts: published shifts that start later and still have fewer people than their headcount. A
staff member sees those they could work, every hard rule checked for them as the roster stands (the same
checks as a manual assignment), and claims one; the claim waits for a supervisor, or the contract's
``open_shift_approval: auto`` puts them on the shift at once.

pending -> approved | declined | cancelled. A claim that would break a hard rule is refused (409, the
rules' codes and words, as for swaps), and approval checks every rule again under the same locks as a
manual assignment. When a shift fills, the other claims still waiting for it are declined with a note.
People see only their own claims; supervisors see all of the tenant's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.schemas import OpenShiftApproval
from bpo.core.audit import record
from bpo.core.errors import Conflict, Forbidden, Invalid, NotFound, field_error, raise_if
from bpo.core.http import date_errors
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import OPERATOR_ROLES, Scope
from bpo.staffing import models, roster, rules
from bpo.staffing.open_shift_schemas import (
    OpenShift,
    OpenShiftClaim,
    OpenShiftClaimPage,
    OpenShiftClaimStatus,
    OpenShifts,
)
from bpo.staffing.schemas import AssignmentSource, ShiftStatus
from bpo.staffing.selfservice import staff_of, zone_named
from bpo.staffing.selfservice_schemas import SiteRef
from bpo.staffing.service import rule_settings

DEFAULT_DAYS = 28
MAX_DAYS = 92
PENDING = OpenShiftClaimStatus.PENDING.value
FILLED = "The shift was filled before this claim was decided."
# Codes beside the rules' own, in the same problem shape.
SHIFT_STARTED = "shift_started"
ALREADY_ASSIGNED = "already_assigned"
STAFF_INACTIVE = "staff_inactive"


class ClaimBreaksRules(roster.BrokenRules):
    status: ClassVar[int] = 409
    slug: ClassVar[str] = "claim-breaks-rules"
    title: ClassVar[str] = "The claim would break hard rules"


def _supervises(scope: Scope) -> bool:
    return scope.role in OPERATOR_ROLES


# --- listing ----------------------------------------------------------------------------------------


def _period(zone: ZoneInfo, first: date | None, last: date | None, today: date) -> tuple[date, date]:
    raise_if(date_errors(("from", first), ("to", last)))
    first = first or today
    last = last or first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first or (last - first).days >= MAX_DAYS:
        raise Invalid(
            f"to: on or after from, at most {MAX_DAYS} days in all",
            errors=[field_error("to", f"on or after from, within {MAX_DAYS} days")],
        )
    return first, last


async def _candidates(
    session: AsyncSession, scope: Scope, me: models.Staff, lower: datetime, upper: datetime
) -> list[tuple[models.Shift, int]]:
    """Published shifts starting in [lower, upper) with fewer people than their headcount and without
    ``me``, with how many they have."""
    taken = func.count(models.Assignment.id)
    own = aliased(models.Assignment)
    mine = (
        select(own.id)
        .where(
            own.tenant_id == models.Shift.tenant_id, own.shift_id == models.Shift.id, own.staff_id == me.id
        )
        .correlate(models.Shift)
        .exists()
    )
    rows = await session.execute(
        select(models.Shift, taken)
        .outerjoin(
            models.Assignment,
            and_(
                models.Assignment.tenant_id == models.Shift.tenant_id,
                models.Assignment.shift_id == models.Shift.id,
            ),
        )
        .where(
            models.Shift.tenant_id == scope.tenant_id,
            models.Shift.status == ShiftStatus.PUBLISHED.value,
            models.Shift.starts_at >= lower,
            models.Shift.starts_at < upper,
            ~mine,
        )
        .group_by(models.Shift.tenant_id, models.Shift.id)
        .having(taken < models.Shift.headcount)
        .order_by(models.Shift.starts_at, models.Shift.id)
    )
    return [(shift, int(count)) for shift, count in rows.all()]


async def _pending_claims(
    session: AsyncSession, scope: Scope, staff_id: uuid.UUID, shift_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    if not shift_ids:
        return {}
    rows = await session.execute(
        select(models.OpenShiftClaim.shift_id, models.OpenShiftClaim.id).where(
            models.OpenShiftClaim.tenant_id == scope.tenant_id,
            models.OpenShiftClaim.staff_id == staff_id,
            models.OpenShiftClaim.status == PENDING,
            models.OpenShiftClaim.shift_id.in_(list(shift_ids)),
        )
    )
    return {shift_id: claim_id for shift_id, claim_id in rows.all()}


async def eligible_open_shifts(
    session: AsyncSession,
    scope: Scope,
    *,
    start: date | None = None,
    end: date | None = None,
    tz: str | None = None,
    now: datetime | None = None,
) -> OpenShifts:
    """The open shifts starting on the local days [start, end] of ``tz`` (default: the caller's home zone,
    four weeks from today) that the caller could work, earliest first."""
    now = now or datetime.now(UTC)
    me = await staff_of(session, scope)
    zone = zone_named(tz) if tz is not None else ZoneInfo(me.home_zone)
    first, last = _period(zone, start, end, now.astimezone(zone).date())
    lower = max(now, datetime.combine(first, time(), tzinfo=zone).astimezone(UTC))
    upper = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    found: list[tuple[models.Shift, int]] = []
    if me.active and lower < upper:
        candidates = await _candidates(session, scope, me, lower, upper)
        settings, _ = await rule_settings(session, scope)
        reach = roster.WEEK_REACH
        time_off = await roster.approved_time_off(session, scope, [me.id], lower - reach, upper + reach)
        member = roster.staff_member(me, time_off.get(me.id, ()))
        for shift, taken in candidates:
            # The rules of the person and the shift alone first: they rule most shifts out without a query.
            if not rules.eligible(roster.rule_shift(shift), member):
                continue
            if not await roster.violations_for(session, scope, shift, me, settings=settings):
                found.append((shift, taken))
    pending = await _pending_claims(session, scope, me.id, [shift.id for shift, _ in found])
    labels: dict[uuid.UUID, tuple[str, str, OpenShiftApproval]] = {}
    sites: dict[uuid.UUID, SiteRef] = {}
    items = []
    for shift, taken in found:
        if shift.contract_id not in labels:
            contract = await contracts.get_contract_row(session, scope, shift.contract_id)
            client = await clients.get_client_row(session, scope, contract.client_id)
            labels[contract.id] = (
                contract.name,
                client.name,
                OpenShiftApproval(contract.open_shift_approval),
            )
        if shift.site_id is not None and shift.site_id not in sites:
            site = await clients.get_site_row(session, scope, shift.site_id)
            sites[site.id] = SiteRef(id=site.id, name=site.name)
        contract_name, client_name, approval = labels[shift.contract_id]
        items.append(
            OpenShift(
                shift_id=shift.id,
                contract_id=shift.contract_id,
                contract_name=contract_name,
                client_name=client_name,
                start=shift.starts_at.astimezone(zone),
                end=shift.ends_at.astimezone(zone),
                mode=shift.mode,
                site=sites.get(shift.site_id) if shift.site_id is not None else None,
                headcount=shift.headcount,
                open=shift.headcount - taken,
                skills=list(shift.skills),
                languages=list(shift.languages),
                approval=approval,
                pending_claim_id=pending.get(shift.id),
            )
        )
    return OpenShifts(staff_id=me.id, time_zone=zone.key, from_=first, to=last, items=items)


# --- claims -------------------------------------------------------------------------------------------


def _visible(scope: Scope, me: models.Staff | None) -> Select[models.OpenShiftClaim]:
    statement = select(models.OpenShiftClaim).where(models.OpenShiftClaim.tenant_id == scope.tenant_id)
    if me is not None:
        statement = statement.where(models.OpenShiftClaim.staff_id == me.id)
    return statement


async def _viewer(session: AsyncSession, scope: Scope) -> models.Staff | None:
    """None for a supervisor (every claim); the caller's profile for anyone else (their own only)."""
    return None if _supervises(scope) else await staff_of(session, scope)


async def _claim_row(
    session: AsyncSession, scope: Scope, claim_id: uuid.UUID, *, for_update: bool = False
) -> models.OpenShiftClaim:
    statement = _visible(scope, await _viewer(session, scope)).where(models.OpenShiftClaim.id == claim_id)
    row = await session.scalar(statement.with_for_update() if for_update else statement)
    if row is None:
        raise NotFound(f"Open shift claim {claim_id} not found.")
    return row


async def _views(
    session: AsyncSession, scope: Scope, rows: Sequence[models.OpenShiftClaim]
) -> list[OpenShiftClaim]:
    shift_ids = {row.shift_id for row in rows}
    staff_ids = {row.staff_id for row in rows}
    shifts = {}
    names = {}
    if rows:
        shifts = {
            shift.id: shift
            for shift in await session.scalars(
                select(models.Shift).where(
                    models.Shift.tenant_id == scope.tenant_id, models.Shift.id.in_(shift_ids)
                )
            )
        }
        names = dict(
            (
                await session.execute(
                    select(models.Staff.id, models.Staff.display_name).where(
                        models.Staff.tenant_id == scope.tenant_id, models.Staff.id.in_(staff_ids)
                    )
                )
            ).all()
        )
    return [
        OpenShiftClaim(
            id=row.id,
            shift_id=row.shift_id,
            staff_id=row.staff_id,
            staff_name=names.get(row.staff_id, ""),
            contract_id=shifts[row.shift_id].contract_id,
            start=shifts[row.shift_id].starts_at,
            end=shifts[row.shift_id].ends_at,
            status=OpenShiftClaimStatus(row.status),
            approval=OpenShiftApproval(row.approval),
            assignment_id=row.assignment_id,
            note=row.note,
            created_at=row.created_at,
            decided_at=row.decided_at,
            decided_by=row.decided_by,
        )
        for row in rows
    ]


async def _view(session: AsyncSession, scope: Scope, row: models.OpenShiftClaim) -> OpenShiftClaim:
    return (await _views(session, scope, [row]))[0]


async def get_claim(session: AsyncSession, scope: Scope, claim_id: uuid.UUID) -> OpenShiftClaim:
    return await _view(session, scope, await _claim_row(session, scope, claim_id))


async def list_claims(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    status: OpenShiftClaimStatus | None = None,
    shift_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
) -> OpenShiftClaimPage:
    statement = _visible(scope, await _viewer(session, scope))
    if status is not None:
        statement = statement.where(models.OpenShiftClaim.status == status.value)
    if shift_id is not None:
        statement = statement.where(models.OpenShiftClaim.shift_id == shift_id)
    if staff_id is not None:
        statement = statement.where(models.OpenShiftClaim.staff_id == staff_id)
    rows, next_cursor = await paginate(
        session, statement, models.OpenShiftClaim.id, limit=limit, cursor=cursor
    )
    return OpenShiftClaimPage(items=await _views(session, scope, rows), next_cursor=next_cursor)


async def my_claims(
    session: AsyncSession, scope: Scope, me: models.Staff, limit: int = 50
) -> list[OpenShiftClaim]:
    """The caller's own claims, newest first, whatever their role."""
    rows = await session.scalars(
        _visible(scope, me)
        .order_by(models.OpenShiftClaim.created_at.desc(), models.OpenShiftClaim.id)
        .limit(limit)
    )
    return await _views(session, scope, list(rows))


async def _published_shift(session: AsyncSession, scope: Scope, shift_id: uuid.UUID) -> models.Shift:
    """The shift, locked; one a staff member cannot see (not published) is not found."""
    shift = await roster.lock_shift(session, scope, shift_id)
    if shift.status != ShiftStatus.PUBLISHED.value:
        raise NotFound(f"Shift {shift_id} not found.")
    return shift


async def _assign(session: AsyncSession, scope: Scope, shift: models.Shift, staff: models.Staff) -> uuid.UUID:
    """Put the person on the shift with every hard rule checked under the assignment's locks; a broken
    rule is the claim's 409."""
    try:
        made = await roster.assign(session, scope, shift.id, staff.id, source=AssignmentSource.CLAIM)
    except roster.BrokenRules as exc:
        raise ClaimBreaksRules(exc.detail, exc.violations, field="shift_id") from None
    except Conflict as exc:
        code = ALREADY_ASSIGNED if exc.slug == "already-assigned" else STAFF_INACTIVE
        raise ClaimBreaksRules(
            exc.detail, [roster.Broken(code, exc.detail, shift.id)], field="shift_id"
        ) from None
    return made.id


async def _close_if_full(session: AsyncSession, scope: Scope, shift: models.Shift, now: datetime) -> None:
    taken = await session.scalar(
        select(func.count()).where(
            models.Assignment.tenant_id == scope.tenant_id, models.Assignment.shift_id == shift.id
        )
    )
    if (taken or 0) < shift.headcount:
        return
    waiting = await session.scalars(
        select(models.OpenShiftClaim)
        .where(
            models.OpenShiftClaim.tenant_id == scope.tenant_id,
            models.OpenShiftClaim.shift_id == shift.id,
            models.OpenShiftClaim.status == PENDING,
        )
        .with_for_update()
    )
    for other in waiting:
        other.status = OpenShiftClaimStatus.DECLINED.value
        other.note = FILLED
        other.decided_at = now
        record(session, scope, "open_shift_claim.declined", "open_shift_claim", other.id, reason="filled")


async def claim(
    session: AsyncSession, scope: Scope, shift_id: uuid.UUID, now: datetime | None = None
) -> OpenShiftClaim:
    """The caller asks to work an open shift. Every hard rule is checked first (409 with the rules it
    would break); then the claim waits for a supervisor, or is approved at once when the contract says
    ``auto``."""
    now = now or datetime.now(UTC)
    me = await staff_of(session, scope)
    shift = await _published_shift(session, scope, shift_id)
    contract = await contracts.get_contract_row(session, scope, shift.contract_id)
    pending = await _pending_claims(session, scope, me.id, [shift.id])
    if pending:
        raise Conflict(
            f"You claimed this shift already (claim {pending[shift.id]}); a supervisor decides on it.",
            slug="claim-pending",
        )
    broken: list[roster.Broken] = []
    if shift.starts_at <= now:
        broken.append(roster.Broken(SHIFT_STARTED, "the shift has already started", shift.id))
    if not me.active:
        broken.append(roster.Broken(STAFF_INACTIVE, f"{me.display_name} is inactive", None))
    already = await session.scalar(
        select(models.Assignment.id).where(
            models.Assignment.tenant_id == scope.tenant_id,
            models.Assignment.shift_id == shift.id,
            models.Assignment.staff_id == me.id,
        )
    )
    if already is not None:
        broken.append(roster.Broken(ALREADY_ASSIGNED, f"{me.display_name} already works it", shift.id))
    else:
        broken += await roster.violations_for(session, scope, shift, me)
    if broken:
        raise ClaimBreaksRules(
            "The claim would break hard rules: " + "; ".join(sorted({b.code for b in broken})),
            broken,
            field="shift_id",
        )
    approval = OpenShiftApproval(contract.open_shift_approval)
    row = models.OpenShiftClaim(
        tenant_id=scope.tenant_id,
        id=new_id(),
        shift_id=shift.id,
        staff_id=me.id,
        status=PENDING,
        approval=approval.value,
    )
    session.add(row)
    record(session, scope, "open_shift_claim.created", "open_shift_claim", row.id, shift_id=str(shift.id))
    await session.flush()
    if approval is OpenShiftApproval.AUTO:
        row.assignment_id = await _assign(session, scope, shift, me)
        row.status = OpenShiftClaimStatus.APPROVED.value
        row.decided_at = now
        record(session, scope, "open_shift_claim.approved", "open_shift_claim", row.id, automatic=True)
        await _close_if_full(session, scope, shift, now)
    await session.flush()
    await session.refresh(row)
    return await _view(session, scope, row)


def _expect_pending(row: models.OpenShiftClaim) -> None:
    if row.status != PENDING:
        raise Conflict(f"The claim is {row.status}; only a pending claim can change.", slug="claim-status")


def _supervisor_only(scope: Scope) -> None:
    if not _supervises(scope):
        raise Forbidden("Only a supervisor approves or declines a claim.")


async def approve(
    session: AsyncSession, scope: Scope, claim_id: uuid.UUID, now: datetime | None = None
) -> OpenShiftClaim:
    """Put the claimant on the shift, every hard rule checked again as the roster stands now."""
    now = now or datetime.now(UTC)
    _supervisor_only(scope)
    row = await _claim_row(session, scope, claim_id, for_update=True)
    _expect_pending(row)
    shift = await roster.lock_shift(session, scope, row.shift_id)
    if shift.starts_at <= now:
        raise ClaimBreaksRules(
            "The shift has already started.",
            [roster.Broken(SHIFT_STARTED, "the shift has already started", shift.id)],
            field="shift_id",
        )
    staff = await session.get_one(models.Staff, (scope.tenant_id, row.staff_id))
    row.assignment_id = await _assign(session, scope, shift, staff)
    row.status = OpenShiftClaimStatus.APPROVED.value
    row.decided_at = now
    row.decided_by = scope.user_id
    record(session, scope, "open_shift_claim.approved", "open_shift_claim", row.id)
    await session.flush()
    await _close_if_full(session, scope, shift, now)
    await session.flush()
    return await _view(session, scope, row)


async def decline(session: AsyncSession, scope: Scope, claim_id: uuid.UUID, note: str = "") -> OpenShiftClaim:
    _supervisor_only(scope)
    row = await _claim_row(session, scope, claim_id, for_update=True)
    _expect_pending(row)
    row.status = OpenShiftClaimStatus.DECLINED.value
    row.note = note.strip()
    row.decided_at = datetime.now(UTC)
    row.decided_by = scope.user_id
    record(session, scope, "open_shift_claim.declined", "open_shift_claim", row.id)
    await session.flush()
    return await _view(session, scope, row)


async def cancel(session: AsyncSession, scope: Scope, claim_id: uuid.UUID) -> OpenShiftClaim:
    """The claimant withdraws a claim that is still pending."""
    me = await staff_of(session, scope)
    row = await session.scalar(
        _visible(scope, me).where(models.OpenShiftClaim.id == claim_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"Open shift claim {claim_id} not found.")
    _expect_pending(row)
    row.status = OpenShiftClaimStatus.CANCELLED.value
    row.decided_at = datetime.now(UTC)
    record(session, scope, "open_shift_claim.cancelled", "open_shift_claim", row.id)
    await session.flush()
    return await _view(session, scope, row)
