from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from bpo.core.guards import CLIENT_READERS, INGESTERS
from bpo.core.http import INSTANT, Caller, Cursor, Filter, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.sla import satisfaction, schemas

From = Annotated[
    str | None, QueryParameter(name="from", description="responded_at ≥ this (with offset)", **INSTANT)
]
To = Annotated[
    str | None, QueryParameter(name="to", description="responded_at < this (with offset)", **INSTANT)
]


class NpsResponseController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/nps-responses"
    tags = ["satisfaction"]

    @post(
        "",
        guards=[INGESTERS],
        status_code=HTTP_200_OK,
        summary="Send up to 1,000 answers to the contract's NPS survey (idempotent by external_id)",
        description=(
            "Scores run from 0 to 10: 9-10 promoters, 7-8 passives, 0-6 detractors. Every answer is checked "
            "first; any invalid one rejects the batch, naming each bad index and field, and nothing is "
            "written. An answer sent again with its external_id changes nothing, or replaces the stored one "
            "when its score, time or comment differ."
        ),
    )
    async def send_responses(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.NpsResponseBatch],
    ) -> schemas.NpsBatchResult:
        return await satisfaction.ingest_responses(session, caller, contract_id, data)

    @get(
        "",
        guards=[CLIENT_READERS],
        summary="The contract's NPS survey answers, in the order they came in",
    )
    async def list_responses(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        start: From = None,
        end: To = None,
        external_id: Filter = None,
    ) -> schemas.NpsResponsePage:
        return await satisfaction.list_responses(
            session,
            caller,
            contract_id,
            limit=limit,
            cursor=cursor,
            start=start,
            end=end,
            external_id=external_id,
        )


ROUTES: list[ControllerRouterHandler] = [NpsResponseController]
