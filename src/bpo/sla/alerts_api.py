from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from litestar.types import ControllerRouterHandler

from bpo.core.guards import READERS
from bpo.core.http import INSTANT, Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.sla import alerts, schemas

From = Annotated[
    str | None, QueryParameter(name="from", description="occurred_at ≥ this (with offset)", **INSTANT)
]
To = Annotated[
    str | None, QueryParameter(name="to", description="occurred_at < this (with offset)", **INSTANT)
]


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["sla"]
    guards = [READERS]

    @get(
        "",
        summary="SLA alerts (at risk, breached, day below target), oldest first",
        description="Client viewers see their own client's alerts only.",
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
    ) -> schemas.AlertPage:
        return await alerts.list_alerts(
            session,
            caller,
            limit=limit,
            cursor=cursor,
            contract_id=contract_id,
            kind=kind,
            start=start,
            end=end,
        )


# The dead-letter view of failed jobs is served beside the alerts: both are where operators look when
# something went wrong.
ROUTES: list[ControllerRouterHandler] = [AlertController]
