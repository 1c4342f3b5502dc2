from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from bpo.core.guards import OPERATORS, READERS
from bpo.core.http import INSTANT, Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.sla import alert_handling, schemas

From = Annotated[
    str | None, QueryParameter(name="from", description="occurred_at ≥ this (with offset)", **INSTANT)
]
To = Annotated[
    str | None, QueryParameter(name="to", description="occurred_at < this (with offset)", **INSTANT)
]
States = Annotated[
    list[schemas.AlertState] | None,
    QueryParameter(
        name="state",
        max_items=4,
        description=(
            "Only alerts in these states (repeatable, any of them; open, acknowledged and assigned are the "
            "ones still to resolve). The operator's people only."
        ),
    ),
]
Assignee = Annotated[
    uuid.UUID | None,
    QueryParameter(description="Only alerts assigned to this supervisor. The operator's people only."),
]


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["sla"]
    guards = [READERS]

    @get(
        "",
        summary="SLA alerts (at risk, breached, day below target), oldest first",
        description=(
            "Client viewers see their own client's alerts only, without how the operator handles them "
            "(``handling`` is null), and may not filter by state or assignee (403)."
        ),
    )
    async def list_alerts(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        contract_id: FromQuery[uuid.UUID | None] = None,
        kind: FromQuery[schemas.AlertKind | None] = None,
        start: From = None,
        end: To = None,
        states: States = None,
        assignee_id: Assignee = None,
    ) -> schemas.AlertPage:
        return await alert_handling.list_alerts(
            session,
            caller,
            limit=limit,
            cursor=cursor,
            contract_id=contract_id,
            kind=kind,
            start=start,
            end=end,
            states=states or (),
            assignee_id=assignee_id,
        )

    @get("/{alert_id:uuid}", summary="One SLA alert, with its handling for the operator's people")
    async def get_alert(
        self, session: Session, caller: Caller, alert_id: FromPath[uuid.UUID]
    ) -> schemas.Alert:
        return await alert_handling.get_alert(session, caller, alert_id)


class AlertHandlingController(Controller):
    """Acting on an alert: the operator's people only (admins, account managers, supervisors)."""

    path = "/v1/alerts/{alert_id:uuid}"
    tags = ["sla"]
    guards = [OPERATORS]

    @post(
        "/acknowledge",
        status_code=HTTP_200_OK,
        summary="Acknowledge an open alert: someone is looking at it",
        description=(
            "409 alert-already-acknowledged when it is not open any more, alert-resolved once resolved."
        ),
    )
    async def acknowledge(
        self, session: Session, caller: Caller, alert_id: FromPath[uuid.UUID]
    ) -> schemas.Alert:
        return await alert_handling.acknowledge(session, caller, alert_id)

    @post(
        "/assign",
        status_code=HTTP_200_OK,
        summary="Assign an alert to a supervisor (acknowledging it if it was open)",
        description=(
            "The assignee must be an active user with the supervisor role (else 422 naming assignee_id). "
            "409 alert-already-assigned when it is assigned to that person already, alert-resolved once "
            "resolved."
        ),
    )
    async def assign(
        self,
        session: Session,
        caller: Caller,
        alert_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.AlertAssign],
    ) -> schemas.Alert:
        return await alert_handling.assign(session, caller, alert_id, data)

    @post(
        "/resolve",
        status_code=HTTP_200_OK,
        summary="Resolve an alert with a note saying what was found and done",
        description="409 alert-resolved when it is resolved already.",
    )
    async def resolve(
        self,
        session: Session,
        caller: Caller,
        alert_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.AlertResolve],
    ) -> schemas.Alert:
        return await alert_handling.resolve(session, caller, alert_id, data)


# The dead-letter view of failed jobs is served beside the alerts: both are where operators look when
# something went wrong.
ROUTES: list[ControllerRouterHandler] = [AlertController, AlertHandlingController]
