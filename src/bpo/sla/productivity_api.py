from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.types import ControllerRouterHandler

from bpo.core.guards import OPERATORS
from bpo.core.http import Caller, Session
from bpo.sla import productivity, schemas

From = Annotated[
    date | None, QueryParameter(name="from", description="First local day (default: 30 days ago)")
]
To = Annotated[
    date | None, QueryParameter(name="to", description="Last local day, inclusive (default: today)")
]


class ProductivityController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/productivity"
    tags = ["sla"]
    # The operator's own people only: never a client's viewers or systems.
    guards = [OPERATORS]

    @get(
        "",
        summary="Items handled per person and period, with the median handle time",
        description=(
            "Per handled_by: the items received in the range (local days of the client's zone, at most "
            f"{productivity.MAX_DAYS}) and per period of the granularity, and the median of handled_at - "
            "started_at over the items that carry both. Operators only."
        ),
    )
    async def productivity(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        start: From = None,
        end: To = None,
        granularity: FromQuery[schemas.Granularity] = "day",
    ) -> schemas.Productivity:
        return await productivity.productivity(session, caller, contract_id, start, end, granularity)


ROUTES: list[ControllerRouterHandler] = [ProductivityController]
