"""Reading SLA alerts and handling them: the operator's people acknowledge an alert, assign it to a
supervisor and resolve it with a note, and each step is kept with who took it and when.

States and the steps between them (anything else is a 409 naming the state):

    open ──acknowledge──▶ acknowledged ──assign──▶ assigned ──resolve──▶ resolved
      └──────────────assign (acknowledges too)──────▶ │ ▲ assign again (to someone else)
      └─────────────────────────resolve (from any state but resolved)──────────────▶

A client viewer sees its own client's alerts as before, without their handling (who is on it and their
notes are the operator's business), and may not filter by it. Acting needs an operator role (the API's
guards); a step locks the alert's row, so two people acting at once are taken one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final, cast

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients import service as clients
from bpo.core import audit
from bpo.core.errors import Conflict, Forbidden, Invalid, NotFound, field_error
from bpo.core.http import instant_period
from bpo.core.pagination import decode_cursor, encode_cursor, paginate
from bpo.core.scope import OPERATOR_ROLES, Role, Scope
from bpo.sla import schemas
from bpo.sla.models import Alert, AlertEvent
from bpo.tenancy import users

OPEN: Final = "open"
ACKNOWLEDGED: Final = "acknowledged"
ASSIGNED: Final = "assigned"
RESOLVED: Final = "resolved"
UNRESOLVED: tuple[schemas.AlertState, ...] = (OPEN, ACKNOWLEDGED, ASSIGNED)


def sees_handling(scope: Scope) -> bool:
    return scope.role in OPERATOR_ROLES


# --- reading ------------------------------------------------------------------------------------


def _view(alert: Alert, events: Sequence[AlertEvent] | None, names: dict[uuid.UUID, str]) -> schemas.Alert:
    handling = None
    if events is not None:
        timeline = [
            schemas.AlertStep(action="raised", at=alert.created_at, actor_id=None, actor_name=None),
            *(
                schemas.AlertStep(
                    action=cast("schemas.AlertAction", event.action),
                    at=event.at,
                    actor_id=event.actor_id,
                    actor_name=names.get(event.actor_id) if event.actor_id else None,
                    assignee_id=event.assignee_id,
                    assignee_name=names.get(event.assignee_id) if event.assignee_id else None,
                    note=event.note,
                )
                for event in events
            ),
        ]
        handling = schemas.AlertHandling(
            state=cast("schemas.AlertState", alert.state),
            assignee_id=alert.assignee_id,
            assignee_name=names.get(alert.assignee_id) if alert.assignee_id else None,
            state_changed_at=alert.state_changed_at,
            timeline=timeline,
        )
    return schemas.Alert(
        id=alert.id,
        kind=cast("schemas.AlertKind", alert.kind),
        contract_id=alert.contract_id,
        client_id=alert.client_id,
        objective=alert.objective,
        work_item_id=alert.work_item_id,
        day=alert.day,
        occurred_at=alert.occurred_at,
        created_at=alert.created_at,
        detail=alert.detail,
        handling=handling,
    )


async def _views(session: AsyncSession, scope: Scope, alerts: Sequence[Alert]) -> list[schemas.Alert]:
    """The alerts as ``scope``'s caller sees them: with their handling (two more statements for a page of
    alerts) or without."""
    if not sees_handling(scope) or not alerts:
        return [_view(alert, None, {}) for alert in alerts]
    found = await session.scalars(
        select(AlertEvent)
        .where(AlertEvent.tenant_id == scope.tenant_id, AlertEvent.alert_id.in_([a.id for a in alerts]))
        .order_by(AlertEvent.alert_id, AlertEvent.at, AlertEvent.id)
    )
    events: dict[uuid.UUID, list[AlertEvent]] = {}
    for event in found:
        events.setdefault(event.alert_id, []).append(event)
    people = {a.assignee_id for a in alerts if a.assignee_id}
    for steps in events.values():
        people |= {person for step in steps for person in (step.actor_id, step.assignee_id) if person}
    names = await users.named_users(session, scope, ids=people) if people else {}
    return [_view(alert, events.get(alert.id, []), names) for alert in alerts]


def _visible(scope: Scope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Alert.tenant_id == scope.tenant_id]
    restriction = clients.client_restriction(scope)
    if restriction is not None:
        conditions.append(Alert.client_id == restriction)
    return conditions


async def _alert(session: AsyncSession, scope: Scope, alert_id: uuid.UUID, *, lock: bool = False) -> Alert:
    statement = select(Alert).where(*_visible(scope), Alert.id == alert_id)
    if lock:
        statement = statement.with_for_update()
    alert = await session.scalar(statement)
    if alert is None:
        raise NotFound(f"Alert {alert_id} not found.")
    return alert


async def get_alert(session: AsyncSession, scope: Scope, alert_id: uuid.UUID) -> schemas.Alert:
    (view,) = await _views(session, scope, [await _alert(session, scope, alert_id)])
    return view


async def list_alerts(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    cursor: str | None,
    contract_id: uuid.UUID | None = None,
    kind: schemas.AlertKind | None = None,
    start: str | None = None,
    end: str | None = None,
    states: Sequence[schemas.AlertState] = (),
    assignee_id: uuid.UUID | None = None,
    newest_first: bool = False,
) -> schemas.AlertPage:
    """Alerts in the order they were raised, ``start`` inclusive and ``end`` exclusive (ISO 8601 instants
    with offsets); a client viewer sees its own client's only, and may not filter by their handling."""
    if (states or assignee_id is not None) and not sees_handling(scope):
        raise Forbidden(
            "Only the operator's people see how alerts are handled; leave out state and assignee_id."
        )
    first, last = instant_period(start, end)
    statement = select(Alert).where(*_visible(scope))
    if contract_id is not None:
        contract = await contracts.get_contract_row(session, scope, contract_id)
        statement = statement.where(Alert.contract_id == contract.id)
    if kind is not None:
        statement = statement.where(Alert.kind == kind)
    if first is not None:
        statement = statement.where(Alert.occurred_at >= first)
    if last is not None:
        statement = statement.where(Alert.occurred_at < last)
    wanted = set(states)
    if wanted == set(UNRESOLVED):
        # The shape of the partial index of unresolved alerts.
        statement = statement.where(Alert.state != RESOLVED)
    elif wanted:
        statement = statement.where(Alert.state.in_(sorted(wanted)))
    if assignee_id is not None:
        statement = statement.where(Alert.assignee_id == assignee_id)
    if newest_first:
        rows, next_cursor = await _newest_first(session, statement, limit=limit, cursor=cursor)
    else:
        rows, next_cursor = await paginate(session, statement, Alert.id, limit=limit, cursor=cursor)
    return schemas.AlertPage(items=await _views(session, scope, rows), next_cursor=next_cursor)


async def _newest_first(
    session: AsyncSession, statement: Select[Alert], *, limit: int, cursor: str | None
) -> tuple[Sequence[Alert], str | None]:
    """``paginate`` the other way round: the page people triage from starts with the latest."""
    before = decode_cursor(cursor)
    if before is not None:
        statement = statement.where(Alert.id < before)
    rows = (await session.scalars(statement.order_by(Alert.id.desc()).limit(limit + 1))).all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1].id)
    return rows, None


async def supervisors(session: AsyncSession, scope: Scope) -> dict[uuid.UUID, str]:
    """Whom an alert may be assigned to: the tenant's active supervisors, by name."""
    return await users.named_users(session, scope, role=Role.SUPERVISOR, active=True)


# --- acting -------------------------------------------------------------------------------------


def _resolved(alert: Alert) -> Conflict:
    return Conflict(
        f"Alert {alert.id} is resolved already; nothing more can be done to it.",
        slug="alert-resolved",
        extra={"state": alert.state},
    )


def _step(
    session: AsyncSession,
    scope: Scope,
    alert: Alert,
    action: str,
    *,
    assignee_id: uuid.UUID | None = None,
    note: str | None = None,
) -> None:
    session.add(
        AlertEvent(
            tenant_id=scope.tenant_id,
            alert_id=alert.id,
            action=action,
            actor_id=scope.user_id,
            assignee_id=assignee_id,
            note=note,
        )
    )
    audit.record(
        session, scope, f"alert.{action}", "alert", alert.id, assignee_id=assignee_id and str(assignee_id)
    )


async def _changed(session: AsyncSession, scope: Scope, alert: Alert, state: str) -> schemas.Alert:
    alert.state = state
    # The transaction's time, as the steps' own ``at``.
    alert.state_changed_at = func.now()
    await session.flush()
    await session.refresh(alert)
    (view,) = await _views(session, scope, [alert])
    return view


async def acknowledge(session: AsyncSession, scope: Scope, alert_id: uuid.UUID) -> schemas.Alert:
    alert = await _alert(session, scope, alert_id, lock=True)
    if alert.state == RESOLVED:
        raise _resolved(alert)
    if alert.state != OPEN:
        raise Conflict(
            f"Alert {alert.id} is {alert.state} already: someone has acknowledged it.",
            slug="alert-already-acknowledged",
            extra={"state": alert.state},
        )
    _step(session, scope, alert, ACKNOWLEDGED)
    return await _changed(session, scope, alert, ACKNOWLEDGED)


async def assign(
    session: AsyncSession, scope: Scope, alert_id: uuid.UUID, data: schemas.AlertAssign
) -> schemas.Alert:
    alert = await _alert(session, scope, alert_id, lock=True)
    if alert.state == RESOLVED:
        raise _resolved(alert)
    if not await users.named_users(session, scope, ids=[data.assignee_id], role=Role.SUPERVISOR, active=True):
        raise Invalid(
            f"assignee_id: {data.assignee_id} is not an active supervisor of this operator.",
            errors=[field_error("assignee_id", "not an active user with the supervisor role")],
        )
    if alert.state == ASSIGNED and alert.assignee_id == data.assignee_id:
        raise Conflict(
            f"Alert {alert.id} is assigned to {data.assignee_id} already.",
            slug="alert-already-assigned",
            extra={"state": alert.state},
        )
    if alert.state == OPEN:
        _step(session, scope, alert, ACKNOWLEDGED)
    _step(session, scope, alert, ASSIGNED, assignee_id=data.assignee_id, note=data.note)
    alert.assignee_id = data.assignee_id
    return await _changed(session, scope, alert, ASSIGNED)


async def resolve(
    session: AsyncSession, scope: Scope, alert_id: uuid.UUID, data: schemas.AlertResolve
) -> schemas.Alert:
    alert = await _alert(session, scope, alert_id, lock=True)
    if alert.state == RESOLVED:
        raise _resolved(alert)
    _step(session, scope, alert, RESOLVED, note=data.note.strip())
    return await _changed(session, scope, alert, RESOLVED)
