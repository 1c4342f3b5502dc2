"""Shift swaps: a person offers one of their assignments to a colleague (a give-away) or for one of the
colleague's (a trade); the colleague accepts or declines; a supervisor approves or rejects.

requested -> accepted -> approved | rejected; requested -> declined; requested | accepted -> cancelled.

Approval re-checks every hard rule for the assignments the swap would create, as the roster stands
at that moment with the swapped assignments taken out, under the same locks as a manual assignment
(shifts, then people, then site seats). Any broken rule is a 409 that lists them and changes nothing;
otherwise the old assignments are removed and the new ones written (source ``swap``) in the same
transaction. People see only the requests they are part of; supervisors see all of the tenant's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core.audit import record
from bpo.core.errors import Conflict, Forbidden, NotFound, field_error, raise_if
from bpo.core.orm import new_id
from bpo.core.pagination import paginate
from bpo.core.scope import OPERATOR_ROLES, Scope
from bpo.staffing import models, roster
from bpo.staffing.schemas import AssignmentSource
from bpo.staffing.selfservice import staff_of
from bpo.staffing.selfservice_schemas import (
    SwapRequest,
    SwapRequestCreate,
    SwapRequestPage,
    SwapShift,
    SwapStatus,
)
from bpo.staffing.service import rule_settings

OPEN = (SwapStatus.REQUESTED.value, SwapStatus.ACCEPTED.value)
# The code of a swap whose assignments moved since it was asked for (approval answers 409 swap-stale).
STALE = "swap_stale"


class SwapBreaksRules(roster.BrokenRules):
    status: ClassVar[int] = 409
    slug: ClassVar[str] = "swap-breaks-rules"
    title: ClassVar[str] = "The swap would break hard rules"


def _supervises(scope: Scope) -> bool:
    return scope.role in OPERATOR_ROLES


async def _visible(session: AsyncSession, scope: Scope) -> Select[models.SwapRequest]:
    statement = select(models.SwapRequest).where(models.SwapRequest.tenant_id == scope.tenant_id)
    if _supervises(scope):
        return statement
    staff = await staff_of(session, scope)
    return statement.where(
        or_(
            models.SwapRequest.requester_staff_id == staff.id,
            models.SwapRequest.counterpart_staff_id == staff.id,
        )
    )


async def _swap_row(
    session: AsyncSession, scope: Scope, swap_id: uuid.UUID, *, for_update: bool = False
) -> models.SwapRequest:
    statement = (await _visible(session, scope)).where(models.SwapRequest.id == swap_id)
    row = await session.scalar(statement.with_for_update() if for_update else statement)
    if row is None:
        raise NotFound(f"Swap request {swap_id} not found.")
    return row


@dataclass(frozen=True)
class _Held:
    assignment: models.Assignment
    shift: models.Shift


async def _held(session: AsyncSession, scope: Scope, assignment_id: uuid.UUID | None) -> _Held | None:
    if assignment_id is None:
        return None
    found = (
        await session.execute(
            select(models.Assignment, models.Shift)
            .join(
                models.Shift,
                and_(
                    models.Shift.tenant_id == models.Assignment.tenant_id,
                    models.Shift.id == models.Assignment.shift_id,
                ),
            )
            .where(models.Assignment.tenant_id == scope.tenant_id, models.Assignment.id == assignment_id)
        )
    ).first()
    return None if found is None else _Held(found[0], found[1])


def _shift_view(held: _Held | None) -> SwapShift | None:
    if held is None:
        return None
    return SwapShift(
        assignment_id=held.assignment.id,
        shift_id=held.shift.id,
        contract_id=held.shift.contract_id,
        start=held.shift.starts_at,
        end=held.shift.ends_at,
    )


async def _view(session: AsyncSession, scope: Scope, row: models.SwapRequest) -> SwapRequest:
    return SwapRequest(
        id=row.id,
        status=SwapStatus(row.status),
        requester_staff_id=row.requester_staff_id,
        counterpart_staff_id=row.counterpart_staff_id,
        assignment_id=row.assignment_id,
        counterpart_assignment_id=row.counterpart_assignment_id,
        shift=_shift_view(await _held(session, scope, row.assignment_id)),
        counterpart_shift=_shift_view(await _held(session, scope, row.counterpart_assignment_id)),
        note=row.note,
        created_at=row.created_at,
        accepted_at=row.accepted_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
    )


async def propose(
    session: AsyncSession, scope: Scope, data: SwapRequestCreate, now: datetime | None = None
) -> SwapRequest:
    """The caller offers one of their own assignments; the references must be theirs and the
    counterpart's, and the shifts still ahead."""
    now = now or datetime.now(UTC)
    requester = await staff_of(session, scope)
    errors = []
    mine = await _held(session, scope, data.assignment_id)
    if mine is None or mine.assignment.staff_id != requester.id:
        errors.append(field_error("assignment_id", "not one of your assignments"))
    elif mine.shift.starts_at <= now:
        errors.append(field_error("assignment_id", "the shift has already started"))
    counterpart = await session.scalar(
        select(models.Staff).where(
            models.Staff.tenant_id == scope.tenant_id, models.Staff.id == data.counterpart_staff_id
        )
    )
    if counterpart is None or not counterpart.active:
        errors.append(field_error("counterpart_staff_id", "no such active staff"))
    elif counterpart.id == requester.id:
        errors.append(field_error("counterpart_staff_id", "must be someone else"))
    theirs = await _held(session, scope, data.counterpart_assignment_id)
    if data.counterpart_assignment_id is not None:
        if theirs is None or counterpart is None or theirs.assignment.staff_id != counterpart.id:
            errors.append(
                field_error("counterpart_assignment_id", "not one of the counterpart's assignments")
            )
        elif theirs.shift.starts_at <= now:
            errors.append(field_error("counterpart_assignment_id", "the shift has already started"))
    raise_if(errors)
    assert counterpart is not None
    pending = await session.scalar(
        select(models.SwapRequest.id).where(
            models.SwapRequest.tenant_id == scope.tenant_id,
            models.SwapRequest.assignment_id == data.assignment_id,
            models.SwapRequest.status.in_(OPEN),
        )
    )
    if pending is not None:
        raise Conflict(
            f"Swap request {pending} for this assignment is still open.",
            slug="swap-pending",
            errors=[field_error("assignment_id", f"already offered in {pending}")],
        )
    row = models.SwapRequest(
        tenant_id=scope.tenant_id,
        id=new_id(),
        assignment_id=data.assignment_id,
        requester_staff_id=requester.id,
        counterpart_staff_id=counterpart.id,
        counterpart_assignment_id=data.counterpart_assignment_id,
        status=SwapStatus.REQUESTED.value,
        note=data.note,
    )
    session.add(row)
    record(session, scope, "swap_request.created", "swap_request", row.id)
    await session.flush()
    await session.refresh(row)
    return await _view(session, scope, row)


async def get_swap(session: AsyncSession, scope: Scope, swap_id: uuid.UUID) -> SwapRequest:
    return await _view(session, scope, await _swap_row(session, scope, swap_id))


async def list_swaps(
    session: AsyncSession, scope: Scope, *, limit: int, cursor: str | None, status: SwapStatus | None = None
) -> SwapRequestPage:
    statement = await _visible(session, scope)
    if status is not None:
        statement = statement.where(models.SwapRequest.status == status.value)
    rows, next_cursor = await paginate(session, statement, models.SwapRequest.id, limit=limit, cursor=cursor)
    return SwapRequestPage(items=[await _view(session, scope, row) for row in rows], next_cursor=next_cursor)


async def list_own(session: AsyncSession, scope: Scope, limit: int = 100) -> list[SwapRequest]:
    """The swaps the caller is part of (as requester or colleague), newest first, whatever their role."""
    staff = await staff_of(session, scope)
    rows = await session.scalars(
        select(models.SwapRequest)
        .where(
            models.SwapRequest.tenant_id == scope.tenant_id,
            or_(
                models.SwapRequest.requester_staff_id == staff.id,
                models.SwapRequest.counterpart_staff_id == staff.id,
            ),
        )
        .order_by(models.SwapRequest.created_at.desc(), models.SwapRequest.id)
        .limit(limit)
    )
    return [await _view(session, scope, row) for row in rows]


async def preview(
    session: AsyncSession, scope: Scope, swap_id: uuid.UUID
) -> list[tuple[uuid.UUID, roster.Broken]]:
    """The hard rules an open swap would break if it were approved now, each with the person it concerns;
    empty when it would pass. Reads only: approval checks again under locks."""
    row = await _swap_row(session, scope, swap_id)
    try:
        moves = await _moves(session, scope, row)
    except Conflict:
        return [
            (row.requester_staff_id, roster.Broken(STALE, "an assignment in the swap moved or is gone", None))
        ]
    broken: list[tuple[uuid.UUID, roster.Broken]] = []
    for move in moves:
        broken += [(move.to_staff, found) for found in await _check(session, scope, [move], given_up=moves)]
    return broken


def _expect(row: models.SwapRequest, *allowed: SwapStatus) -> None:
    if row.status not in {status.value for status in allowed}:
        raise Conflict(
            f"The swap request is {row.status}; this needs it {' or '.join(s.value for s in allowed)}.",
            slug="swap-status",
        )


async def _own_part(session: AsyncSession, scope: Scope, staff_id: uuid.UUID, role: str) -> None:
    staff = await staff_of(session, scope)
    if staff.id != staff_id:
        raise Forbidden(f"Only the {role} of the swap may do this.")


async def respond(session: AsyncSession, scope: Scope, swap_id: uuid.UUID, accept: bool) -> SwapRequest:
    """The counterpart accepts or declines."""
    row = await _swap_row(session, scope, swap_id, for_update=True)
    await _own_part(session, scope, row.counterpart_staff_id, "counterpart")
    _expect(row, SwapStatus.REQUESTED)
    row.status = (SwapStatus.ACCEPTED if accept else SwapStatus.DECLINED).value
    if accept:
        row.accepted_at = datetime.now(UTC)
    record(session, scope, f"swap_request.{row.status}", "swap_request", row.id)
    await session.flush()
    return await _view(session, scope, row)


async def cancel(session: AsyncSession, scope: Scope, swap_id: uuid.UUID) -> SwapRequest:
    row = await _swap_row(session, scope, swap_id, for_update=True)
    await _own_part(session, scope, row.requester_staff_id, "requester")
    _expect(row, SwapStatus.REQUESTED, SwapStatus.ACCEPTED)
    row.status = SwapStatus.CANCELLED.value
    record(session, scope, "swap_request.cancelled", "swap_request", row.id)
    await session.flush()
    return await _view(session, scope, row)


def _supervisor_only(scope: Scope) -> None:
    if not _supervises(scope):
        raise Forbidden("Only a supervisor may approve or reject a swap.")


async def reject(session: AsyncSession, scope: Scope, swap_id: uuid.UUID) -> SwapRequest:
    row = await _swap_row(session, scope, swap_id, for_update=True)
    _supervisor_only(scope)
    _expect(row, SwapStatus.ACCEPTED)
    _decide(row, scope, SwapStatus.REJECTED)
    record(session, scope, "swap_request.rejected", "swap_request", row.id)
    await session.flush()
    return await _view(session, scope, row)


def _decide(row: models.SwapRequest, scope: Scope, status: SwapStatus) -> None:
    row.status = status.value
    row.decided_at = datetime.now(UTC)
    row.decided_by = scope.user_id


@dataclass(frozen=True)
class _Move:
    """One assignment changing hands: ``held`` goes to ``to_staff``."""

    held: _Held
    to_staff: uuid.UUID


async def _moves(session: AsyncSession, scope: Scope, row: models.SwapRequest) -> list[_Move]:
    mine = await _held(session, scope, row.assignment_id)
    theirs = await _held(session, scope, row.counterpart_assignment_id)
    stale = (
        mine is None
        or mine.assignment.staff_id != row.requester_staff_id
        or (row.counterpart_assignment_id is not None and theirs is None)
        or (theirs is not None and theirs.assignment.staff_id != row.counterpart_staff_id)
    )
    if stale:
        raise Conflict(
            "The roster has changed since the swap was asked for: an assignment in it moved or is gone.",
            slug="swap-stale",
        )
    assert mine is not None
    moves = [_Move(mine, row.counterpart_staff_id)]
    if theirs is not None:
        moves.append(_Move(theirs, row.requester_staff_id))
    return moves


async def _check(
    session: AsyncSession, scope: Scope, moves: Sequence[_Move], *, given_up: Sequence[_Move] | None = None
) -> list[roster.Broken]:
    """The rules ``moves`` break, with the assignments of ``given_up`` (``moves`` by default) taken out."""
    settings, _ = await rule_settings(session, scope)
    released = [move.held.assignment.id for move in (moves if given_up is None else given_up)]
    broken: list[roster.Broken] = []
    for move in moves:
        staff = await session.get_one(models.Staff, (scope.tenant_id, move.to_staff))
        already = await session.scalar(
            select(models.Assignment.id).where(
                models.Assignment.tenant_id == scope.tenant_id,
                models.Assignment.shift_id == move.held.shift.id,
                models.Assignment.staff_id == staff.id,
            )
        )
        if already is not None:
            broken.append(
                roster.Broken(
                    "already_assigned", f"{staff.display_name} already works it", move.held.shift.id
                )
            )
        if not staff.active:
            broken.append(roster.Broken("staff_inactive", f"{staff.display_name} is inactive", None))
        broken += await roster.violations_for(
            session, scope, move.held.shift, staff, excluding=released, settings=settings
        )
    return broken


async def approve(session: AsyncSession, scope: Scope, swap_id: uuid.UUID) -> SwapRequest:
    """Re-check every hard rule for the assignments the swap creates, then move them at once."""
    row = await _swap_row(session, scope, swap_id, for_update=True)
    _supervisor_only(scope)
    _expect(row, SwapStatus.ACCEPTED)
    moves = await _moves(session, scope, row)
    # The same lock order as a manual assignment: shifts, then people, then site seats.
    for shift_id in sorted({move.held.shift.id for move in moves}):
        await roster.lock_shift(session, scope, shift_id)
    for staff_id in sorted({row.requester_staff_id, row.counterpart_staff_id}):
        await session.get_one(models.Staff, (scope.tenant_id, staff_id), with_for_update=True)
    for move in moves:
        await roster.lock_site_seats(session, scope, move.held.shift)
    broken = await _check(session, scope, moves)
    if broken:
        raise SwapBreaksRules(
            "The swap would break hard rules: " + "; ".join(sorted({b.code for b in broken})),
            broken,
            field="assignment_id" if len(moves) == 1 else "assignments",
        )
    for move in moves:
        await session.delete(move.held.assignment)
    await session.flush()
    for move in moves:
        session.add(
            models.Assignment(
                tenant_id=scope.tenant_id,
                id=new_id(),
                shift_id=move.held.shift.id,
                staff_id=move.to_staff,
                source=AssignmentSource.SWAP.value,
                created_by=scope.user_id,
            )
        )
    _decide(row, scope, SwapStatus.APPROVED)
    record(session, scope, "swap_request.approved", "swap_request", row.id)
    await session.flush()
    return await _view(session, scope, row)
