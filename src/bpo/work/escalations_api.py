from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from bpo.core.guards import READERS, WORKFORCE, WRITERS, requires
from bpo.core.http import INSTANT, Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.scope import Role
from bpo.work import escalation_rules, escalations
from bpo.work import escalations_schemas as schemas

# Everyone who works on or for the client reads escalations; client viewers and API keys their client's.
ANYONE = requires(
    Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.STAFF, Role.CLIENT_VIEWER, Role.API_CLIENT
)
# Acknowledging is the client's act.
CLIENT_PEOPLE = requires(Role.CLIENT_VIEWER)
RaisedFrom = Annotated[str | None, QueryParameter(description="raised_at ≥ this (with offset)", **INSTANT)]
RaisedTo = Annotated[str | None, QueryParameter(description="raised_at < this (with offset)", **INSTANT)]
# ``state`` is a name Litestar keeps for itself.
StateFilter = Annotated[
    str | None,
    QueryParameter(
        name="state",
        max_length=16,
        description="open, overdue, acknowledged or resolved",
        schema_extra={"enum": list(schemas.STATES)},
    ),
]


class EscalationController(Controller):
    path = "/v1/escalations"
    tags = ["escalations"]

    @post(
        "",
        guards=[WORKFORCE],
        status_code=HTTP_201_CREATED,
        summary="Raise an escalation to the client's people, on a work item or on a contract",
        description=(
            "Give `work_item_id` (its contract is the item's) or `contract_id` (a running contract). The "
            "contract's rule for the severity says who is told and the acknowledgement target "
            "(`acknowledge_due_at`). The client is mailed at once, each recipient with a one-click "
            "acknowledgement link, and `escalation.raised` goes to subscribed webhook endpoints. Not "
            "acknowledged in time, it turns `overdue`: the operator's account managers and supervisors are "
            "mailed, `escalation.overdue` goes out, and the client is reminded once per target interval (at "
            f"most {escalations.MAX_NOTICES} notices in all)."
        ),
    )
    async def raise_escalation(
        self, session: Session, caller: Caller, data: JSONBody[schemas.EscalationCreate]
    ) -> schemas.Escalation:
        return await escalations.raise_escalation(session, caller, data, datetime.now(UTC))

    @get(
        "",
        guards=[ANYONE],
        summary="Escalations, newest first",
        description=(
            "Client viewers and API keys see their own client's. A `contract_id` or `client_id` the caller "
            "may not see is a 404. `next_cursor` pages on."
        ),
    )
    async def list_escalations(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        contract_id: FromQuery[uuid.UUID | None] = None,
        client_id: FromQuery[uuid.UUID | None] = None,
        severity: FromQuery[schemas.Severity | None] = None,
        state_filter: StateFilter = None,
        raised_from: RaisedFrom = None,
        raised_to: RaisedTo = None,
    ) -> schemas.EscalationPage:
        filters = escalations.parse_filters(
            contract_id=contract_id,
            client_id=client_id,
            severity=severity,
            state=state_filter,
            raised_from=raised_from,
            raised_to=raised_to,
        )
        return await escalations.list_escalations(session, caller, filters, limit=limit, cursor=cursor)

    @get("/{escalation_id:uuid}", guards=[ANYONE], summary="One escalation with its timeline")
    async def get_escalation(
        self, session: Session, caller: Caller, escalation_id: FromPath[uuid.UUID]
    ) -> schemas.Escalation:
        return await escalations.get_escalation(session, caller, escalation_id)

    @post(
        "/{escalation_id:uuid}/acknowledge",
        guards=[CLIENT_PEOPLE],
        status_code=HTTP_200_OK,
        summary="Acknowledge an escalation (the client's viewers)",
        description="409 `already-acknowledged` or `escalation-resolved` once it is settled.",
    )
    async def acknowledge(
        self, session: Session, caller: Caller, escalation_id: FromPath[uuid.UUID]
    ) -> schemas.Escalation:
        return await escalations.acknowledge(session, caller, escalation_id, datetime.now(UTC))

    @post(
        "/{escalation_id:uuid}/resolve",
        guards=[WORKFORCE],
        status_code=HTTP_200_OK,
        summary="Resolve an escalation with a note, acknowledged or not",
        description="409 `escalation-resolved` when it already is.",
    )
    async def resolve(
        self,
        session: Session,
        caller: Caller,
        escalation_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.EscalationResolve],
    ) -> schemas.Escalation:
        return await escalations.resolve(session, caller, escalation_id, data, datetime.now(UTC))


class EscalationRulesController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/escalation-rules"
    tags = ["escalations"]

    @get(
        "", guards=[READERS], summary="A contract's escalation rules: per severity, who is told and how fast"
    )
    async def get_rules(
        self, session: Session, caller: Caller, contract_id: FromPath[uuid.UUID]
    ) -> schemas.EscalationRules:
        return await escalation_rules.get_rules(session, caller, contract_id)

    @put(
        "",
        guards=[WRITERS],
        summary="Replace a contract's escalation rules",
        description=(
            "A severity left out, and a target left out, go back to the default: the client's viewers told, "
            "acknowledged within 15 minutes (critical), 60 (high) or 240 (normal). Escalations already "
            "raised keep their target."
        ),
    )
    async def put_rules(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.EscalationRulesUpdate],
    ) -> schemas.EscalationRules:
        return await escalation_rules.set_rules(session, caller, contract_id, data)


ROUTES: list[ControllerRouterHandler] = [EscalationController, EscalationRulesController]
