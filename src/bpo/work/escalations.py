"""Escalations: what the operator's people raise for a client's people to act on now, on a work item or on a
contract alone, with a severity, the reason and what the client should do.

Each contract has a rule per severity: whether the client's viewers are told, which other addresses are,
and within how many minutes the client must acknowledge (``DEFAULT_RULES`` where it has none). Raising
stores the escalation and queues ``escalations.notify`` by name; the notices themselves (mail with a
one-click acknowledgement link, signed webhooks) are made a floor up (``reports.escalation_notices``), as
this context does not send. The client acknowledges through the mailed link (single use, expiring, only
its token's hash stored), in the dashboard or through the API; the operator resolves with a note. An
escalation not acknowledged in time is found by the sweep (``escalations.sweep``, every minute): it turns
overdue once (the operator is alerted) and the client is reminded once more per target interval, at most
``MAX_NOTICES`` notices in all. Every step is a timeline event with who and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.clients.models import Client, Contract
from bpo.core import audit
from bpo.core.errors import Conflict, FieldErrors, Invalid, NotFound, field_error, raise_if
from bpo.core.http import instant_period
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import MAIL_QUEUE, NOTIFY_ESCALATION_JOB
from bpo.core.orm import new_id
from bpo.core.scope import Role, Scope
from bpo.tenancy import users as tenancy_users
from bpo.work import escalation_rules
from bpo.work import escalations_schemas as schemas
from bpo.work.escalation_models import Escalation, EscalationEvent
from bpo.work.models import WorkItem
from bpo.work.search import decode_cursor, encode_cursor

ESCALATION = "escalation"
# The first notice and at most three reminders, one per target interval.
MAX_NOTICES = 4
# What an acknowledgement or resolution may follow.
UNSETTLED = ("open", "overdue")
RUNNING = ("active", "suspended")
# Notices the orchestrator sends after each step.
RAISED, ACKNOWLEDGED, RESOLVED = "raised", "acknowledged", "resolved"


# --- raising ------------------------------------------------------------------------------------


def _event(
    session: AsyncSession,
    row: Escalation,
    kind: schemas.EventKind,
    at: datetime,
    *,
    actor_id: uuid.UUID | None = None,
    actor_name: str = "",
    detail: str = "",
) -> None:
    session.add(
        EscalationEvent(
            tenant_id=row.tenant_id,
            id=new_id(),
            escalation_id=row.id,
            kind=kind,
            at=at,
            actor_id=actor_id,
            actor_name=actor_name,
            detail=detail,
        )
    )


async def _person(session: AsyncSession, scope: Scope) -> str:
    """The caller as a timeline names them: their name, or else their address."""
    if scope.user_id is None:
        return ""
    try:
        user = await tenancy_users.get_user(session, scope, scope.user_id)
    except NotFound:
        # A job acting for the tenant (system_scope) is nobody in particular.
        return ""
    return user.full_name or user.email


def _notify(session: AsyncSession, row: Escalation, notice: str) -> None:
    outbox.enqueue(
        session,
        row.tenant_id,
        NOTIFY_ESCALATION_JOB,
        queue=MAIL_QUEUE,
        escalation_id=str(row.id),
        notice=notice,
    )


async def _raised_on(
    session: AsyncSession, scope: Scope, data: schemas.EscalationCreate
) -> tuple[Contract, WorkItem | None]:
    """The contract (and work item) an escalation is raised on: either must be the caller's to see (a 422
    naming the field otherwise, as for one that does not exist), the two must agree, and the contract must
    be running."""
    errors: FieldErrors = []
    item = None
    contract_id = data.contract_id
    if data.work_item_id is not None:
        visible = contracts.visible_contracts(scope).with_only_columns(Contract.id)
        item = await session.scalar(
            select(WorkItem).where(
                WorkItem.tenant_id == scope.tenant_id,
                WorkItem.id == data.work_item_id,
                WorkItem.contract_id.in_(visible.scalar_subquery()),
            )
        )
        if item is None:
            errors.append(field_error("work_item_id", "no such work item"))
        elif contract_id is not None and contract_id != item.contract_id:
            errors.append(field_error("work_item_id", "belongs to another contract than contract_id"))
        else:
            contract_id = item.contract_id
    elif contract_id is None:
        errors.append(field_error("contract_id", "give the contract (or a work item of it)"))
    raise_if(errors, what="The escalation was not raised")
    assert contract_id is not None
    contract = await session.scalar(contracts.visible_contracts(scope).where(Contract.id == contract_id))
    if contract is None:
        raise_if([field_error("contract_id", "no such contract")], what="The escalation was not raised")
    assert contract is not None
    if contract.status not in RUNNING:
        raise_if(
            [field_error("contract_id", f"the contract is {contract.status}, not running")],
            what="The escalation was not raised",
        )
    return contract, item


async def raise_escalation(
    session: AsyncSession,
    scope: Scope,
    data: schemas.EscalationCreate,
    now: datetime,
    *,
    notify: bool = True,
) -> schemas.Escalation:
    """Store the escalation and queue its notices (``notify=False``: a record of one raised elsewhere,
    e.g. the demo's history, told to nobody)."""
    errors = [
        field_error(name, "must not be blank")
        for name in ("reason", "recommended_action")
        if not getattr(data, name).strip()
    ]
    raise_if(errors, what="The escalation was not raised")
    contract, item = await _raised_on(session, scope, data)
    rule = (await escalation_rules.rules_of(session, scope, contract.id))[data.severity]
    due = now + timedelta(minutes=rule.acknowledge_within_minutes)
    name = await _person(session, scope)
    row = Escalation(
        tenant_id=scope.tenant_id,
        id=new_id(),
        contract_id=contract.id,
        client_id=contract.client_id,
        work_item_id=item.id if item else None,
        severity=data.severity,
        state="open",
        reason=data.reason.strip(),
        recommended_action=data.recommended_action.strip(),
        link=data.link,
        raised_at=now,
        raised_by=scope.user_id,
        raised_by_name=name,
        acknowledge_within_minutes=rule.acknowledge_within_minutes,
        acknowledge_due_at=due,
        notices=0,
        next_check_at=due if notify else None,
    )
    session.add(row)
    await session.flush()
    _event(session, row, "raised", now, actor_id=scope.user_id, actor_name=name)
    if notify:
        _notify(session, row, RAISED)
    audit.record(
        session, scope, "escalation.raised", ESCALATION, row.id, severity=row.severity, contract=contract.code
    )
    await session.flush()
    return await get_escalation(session, scope, row.id)


async def work_item_id(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, external_id: str
) -> uuid.UUID | None:
    """The id of a contract's work item by its external id, if it has one."""
    found: uuid.UUID | None = await session.scalar(
        select(WorkItem.id).where(
            WorkItem.tenant_id == scope.tenant_id,
            WorkItem.contract_id == contract_id,
            WorkItem.external_id == external_id,
        )
    )
    return found


# --- acknowledging and resolving ----------------------------------------------------------------


def _visible(scope: Scope) -> Select[Escalation]:
    statement = select(Escalation).where(Escalation.tenant_id == scope.tenant_id)
    visible = contracts.visible_contracts(scope)
    if scope.role in (Role.CLIENT_VIEWER, Role.API_CLIENT) or scope.contract_id is not None:
        statement = statement.where(
            Escalation.contract_id.in_(visible.with_only_columns(Contract.id).scalar_subquery())
        )
    return statement


async def escalation_row(
    session: AsyncSession, scope: Scope, escalation_id: uuid.UUID, *, for_update: bool = False
) -> Escalation:
    statement = _visible(scope).where(Escalation.id == escalation_id)
    row = await session.scalar(statement.with_for_update() if for_update else statement)
    if row is None:
        raise NotFound(f"Escalation {escalation_id} not found.")
    return row


def _refuse_settled(row: Escalation, wanted: str) -> None:
    if row.state == "resolved":
        raise Conflict(f"The escalation is resolved; it cannot be {wanted}.", slug="escalation-resolved")
    if row.state == "acknowledged" and wanted == "acknowledged":
        raise Conflict(
            f"The escalation was acknowledged at {row.acknowledged_at:%Y-%m-%dT%H:%M:%SZ}.",
            slug="already-acknowledged",
        )


def mark_acknowledged(
    session: AsyncSession,
    row: Escalation,
    now: datetime,
    *,
    by: uuid.UUID | None,
    name: str,
    via: schemas.AcknowledgedVia,
    notify: bool = True,
) -> None:
    row.state = "acknowledged"
    row.acknowledged_at = now
    row.acknowledged_by = by
    row.acknowledged_by_name = name
    row.acknowledged_via = via
    row.next_check_at = None
    row.updated_at = now
    _event(session, row, "acknowledged", now, actor_id=by, actor_name=name, detail=via)
    if notify:
        _notify(session, row, ACKNOWLEDGED)


async def acknowledge(
    session: AsyncSession,
    scope: Scope,
    escalation_id: uuid.UUID,
    now: datetime,
    via: schemas.AcknowledgedVia = "api",
    *,
    notify: bool = True,
) -> schemas.Escalation:
    """The client's viewer acknowledges (409 once acknowledged or resolved)."""
    row = await escalation_row(session, scope, escalation_id, for_update=True)
    _refuse_settled(row, "acknowledged")
    name = await _person(session, scope)
    mark_acknowledged(session, row, now, by=scope.user_id, name=name, via=via, notify=notify)
    audit.record(session, scope, "escalation.acknowledged", ESCALATION, row.id, via=via)
    await session.flush()
    return await get_escalation(session, scope, row.id)


async def resolve(
    session: AsyncSession,
    scope: Scope,
    escalation_id: uuid.UUID,
    data: schemas.EscalationResolve,
    now: datetime,
    *,
    notify: bool = True,
) -> schemas.Escalation:
    """The operator settles it with a note, acknowledged or not (409 once resolved)."""
    raise_if(
        [field_error("note", "must not be blank")] if not data.note.strip() else [],
        what="The escalation was not resolved",
    )
    row = await escalation_row(session, scope, escalation_id, for_update=True)
    _refuse_settled(row, "resolved")
    name = await _person(session, scope)
    row.state = "resolved"
    row.resolved_at = now
    row.resolved_by = scope.user_id
    row.resolved_by_name = name
    row.resolution_note = data.note.strip()
    row.next_check_at = None
    row.updated_at = now
    _event(session, row, "resolved", now, actor_id=scope.user_id, actor_name=name, detail=row.resolution_note)
    if notify:
        _notify(session, row, RESOLVED)
    audit.record(session, scope, "escalation.resolved", ESCALATION, row.id)
    await session.flush()
    return await get_escalation(session, scope, row.id)


# --- notices and the sweep ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """An escalation as its notices tell it, with what the orchestrator needs beyond the view."""

    escalation: schemas.Escalation
    rule: escalation_rules.Rule


async def notice_of(session: AsyncSession, scope: Scope, escalation_id: uuid.UUID) -> Notice:
    row = await escalation_row(session, scope, escalation_id, for_update=True)
    rule = (await escalation_rules.rules_of(session, scope, row.contract_id))[
        cast("schemas.Severity", row.severity)
    ]
    return Notice(await get_escalation(session, scope, row.id), rule)


async def record_notice(
    session: AsyncSession, scope: Scope, escalation_id: uuid.UUID, recipients: Sequence[str], now: datetime
) -> int:
    """Count a notice mailed to the client (the first, or a reminder) on the timeline; its number."""
    row = await escalation_row(session, scope, escalation_id, for_update=True)
    row.notices += 1
    row.updated_at = now
    kind: schemas.EventKind = "notified" if row.notices == 1 else "reminded"
    _event(session, row, kind, now, detail=", ".join(recipients))
    await session.flush()
    return row.notices


@dataclass(frozen=True, slots=True)
class FollowUp:
    escalation_id: uuid.UUID
    # The target passed just now: the operator is alerted.
    overdue: bool
    # The client is reminded.
    remind: bool


async def due_follow_ups(
    session: AsyncSession, scope: Scope, now: datetime, limit: int = 200
) -> list[uuid.UUID]:
    """Unsettled escalations whose next check has come, oldest first."""
    rows = await session.scalars(
        select(Escalation.id)
        .where(
            Escalation.tenant_id == scope.tenant_id,
            Escalation.next_check_at <= now,
            Escalation.state.in_(UNSETTLED),
        )
        .order_by(Escalation.next_check_at)
        .limit(limit)
    )
    return list(rows)


async def follow_up(
    session: AsyncSession, scope: Scope, escalation_id: uuid.UUID, now: datetime
) -> FollowUp | None:
    """Mark a due escalation overdue the first time (an event) and set its next check: a reminder per
    target interval while fewer than MAX_NOTICES went out. None when it no longer needs one (settled in
    the meantime, or not due after all)."""
    row = await session.scalar(
        _visible(scope).where(Escalation.id == escalation_id).with_for_update(skip_locked=True)
    )
    if row is None or row.state not in UNSETTLED or row.next_check_at is None or row.next_check_at > now:
        return None
    overdue = row.state == "open"
    if overdue:
        row.state = "overdue"
        row.overdue_at = now
        _event(session, row, "overdue", now)
    remind = row.notices < MAX_NOTICES
    interval = timedelta(minutes=row.acknowledge_within_minutes)
    # The notice about to go counts: none is due after the last one.
    row.next_check_at = now + interval if remind and row.notices + 1 < MAX_NOTICES else None
    row.updated_at = now
    await session.flush()
    return FollowUp(row.id, overdue, remind)


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    contract_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    severity: schemas.Severity | None = None
    state: schemas.State | None = None
    raised_from: datetime | None = None
    raised_to: datetime | None = None


def parse_filters(
    *,
    contract_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    severity: schemas.Severity | None = None,
    state: str | None = None,
    raised_from: str | None = None,
    raised_to: str | None = None,
) -> Filters:
    """The filters of a request, every mistake named as ``query.<name>`` in one 422."""
    errors: FieldErrors = []
    if state is not None and state not in schemas.STATES:
        errors.append(field_error("query.state", f"one of {', '.join(schemas.STATES)}"))
    try:
        first, last = instant_period(raised_from, raised_to, ("query.raised_from", "query.raised_to"))
    except Invalid as exc:
        errors += exc.errors
        first = last = None
    raise_if(errors, what=None)
    return Filters(contract_id, client_id, severity, cast("schemas.State | None", state), first, last)


_LABELS = (Contract.id, Contract.code, Contract.name, Client.id, Client.code, Client.name)


async def _labels(
    session: AsyncSession, scope: Scope, contract_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str, str, str]]:
    """Contract code and name, client code and name, by contract id."""
    if not contract_ids:
        return {}
    rows = await session.execute(
        contracts.visible_contracts(scope)
        .with_only_columns(*_LABELS)
        .join(Client, (Client.tenant_id == Contract.tenant_id) & (Client.id == Contract.client_id))
        .where(Contract.id.in_(contract_ids))
    )
    return {row[0]: (row[1], row[2], row[4], row[5]) for row in rows.all()}


async def _external_ids(
    session: AsyncSession, scope: Scope, item_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not item_ids:
        return {}
    rows = await session.execute(
        select(WorkItem.id, WorkItem.external_id).where(
            WorkItem.tenant_id == scope.tenant_id, WorkItem.id.in_(item_ids)
        )
    )
    return {item_id: external_id for item_id, external_id in rows.all()}


def _fields(
    row: Escalation, labels: Mapping[uuid.UUID, tuple[str, str, str, str]], items: Mapping[uuid.UUID, str]
) -> dict[str, Any]:
    contract_code, contract_name, client_code, client_name = labels.get(row.contract_id, ("", "", "", ""))
    waited = (
        round((row.acknowledged_at - row.raised_at).total_seconds() / 60, 1)
        if row.acknowledged_at is not None
        else None
    )
    return {
        "id": row.id,
        "contract_id": row.contract_id,
        "contract_code": contract_code,
        "contract_name": contract_name,
        "client_id": row.client_id,
        "client_code": client_code,
        "client_name": client_name,
        "work_item_id": row.work_item_id,
        "work_item_external_id": items.get(row.work_item_id) if row.work_item_id else None,
        "severity": row.severity,
        "state": row.state,
        "reason": row.reason,
        "recommended_action": row.recommended_action,
        "link": row.link,
        "raised_at": row.raised_at,
        "raised_by": row.raised_by_name,
        "acknowledge_within_minutes": row.acknowledge_within_minutes,
        "acknowledge_due_at": row.acknowledge_due_at,
        "overdue_at": row.overdue_at,
        "notices": row.notices,
        "acknowledged_at": row.acknowledged_at,
        "acknowledged_by": row.acknowledged_by_name,
        "acknowledged_via": row.acknowledged_via,
        "minutes_to_acknowledge": waited,
        "resolved_at": row.resolved_at,
        "resolved_by": row.resolved_by_name,
        "resolution_note": row.resolution_note,
    }


async def get_escalation(session: AsyncSession, scope: Scope, escalation_id: uuid.UUID) -> schemas.Escalation:
    row = await escalation_row(session, scope, escalation_id)
    labels = await _labels(session, scope, {row.contract_id})
    items = await _external_ids(session, scope, {row.work_item_id} if row.work_item_id else set())
    events = await session.scalars(
        select(EscalationEvent)
        .where(EscalationEvent.tenant_id == scope.tenant_id, EscalationEvent.escalation_id == row.id)
        .order_by(EscalationEvent.at, EscalationEvent.id)
    )
    timeline = [
        schemas.EscalationStep(
            event=cast("schemas.EventKind", event.kind),
            at=event.at,
            by=event.actor_name or None,
            by_user_id=event.actor_id,
            detail=event.detail or None,
        )
        for event in events
    ]
    return schemas.Escalation(**_fields(row, labels, items), timeline=timeline)


def _after(cursor: tuple[datetime, uuid.UUID] | None) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    return [tuple_(Escalation.raised_at, Escalation.id) < tuple_(*cursor)]


async def list_escalations(
    session: AsyncSession, scope: Scope, filters: Filters, *, limit: int, cursor: str | None
) -> schemas.EscalationPage:
    """Newest first, a page at a time (keyset on raised_at and id). A contract or client named that the
    caller may not see is a 404, as for one that does not exist."""
    after = decode_cursor(cursor)
    statement = _visible(scope)
    if filters.contract_id is not None:
        await contracts.get_contract_row(session, scope, filters.contract_id)
        statement = statement.where(Escalation.contract_id == filters.contract_id)
    if filters.client_id is not None:
        await clients.get_client_row(session, scope, filters.client_id)
        statement = statement.where(Escalation.client_id == filters.client_id)
    for column, value in (
        (Escalation.severity, filters.severity),
        (Escalation.state, filters.state),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if filters.raised_from is not None:
        statement = statement.where(Escalation.raised_at >= filters.raised_from)
    if filters.raised_to is not None:
        statement = statement.where(Escalation.raised_at < filters.raised_to)
    rows = list(
        (
            await session.scalars(
                statement.where(*_after(after))
                .order_by(Escalation.raised_at.desc(), Escalation.id.desc())
                .limit(limit + 1)
            )
        ).all()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].raised_at, rows[-1].id)
    labels = await _labels(session, scope, {r.contract_id for r in rows})
    items = await _external_ids(session, scope, {r.work_item_id for r in rows if r.work_item_id})
    return schemas.EscalationPage(
        items=[schemas.EscalationSummary(**_fields(r, labels, items)) for r in rows], next_cursor=next_cursor
    )


async def figures(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, start: datetime, end: datetime
) -> list[schemas.EscalationFigures]:
    """A client's escalations raised in [start, end), by severity (only severities that had any): how many,
    how many acknowledged, and the median and mean minutes to acknowledge."""
    waited = func.extract("epoch", Escalation.acknowledged_at - Escalation.raised_at) / 60
    rows = await session.execute(
        _visible(scope)
        .with_only_columns(
            Escalation.severity,
            func.count(),
            func.count(Escalation.acknowledged_at),
            func.percentile_cont(0.5).within_group(waited),
            func.avg(waited),
        )
        .where(
            Escalation.client_id == client_id,
            Escalation.raised_at >= start,
            Escalation.raised_at < end,
        )
        .group_by(Escalation.severity)
    )
    found = {
        severity: schemas.EscalationFigures(
            severity=severity,
            raised=raised,
            acknowledged=acknowledged,
            median_minutes_to_acknowledge=None if median is None else round(float(median), 1),
            mean_minutes_to_acknowledge=None if mean is None else round(float(mean), 1),
        )
        for severity, raised, acknowledged, median, mean in rows.all()
    }
    return [found[s] for s in schemas.SEVERITIES if s in found]
