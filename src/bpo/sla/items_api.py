from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from litestar.types import ControllerRouterHandler

from bpo.core.guards import CLIENT_READERS
from bpo.core.http import INSTANT, Caller, Cursor, Filter, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.sla import items, schemas
from bpo.work import search

Contracts = Annotated[
    list[uuid.UUID] | None,
    QueryParameter(
        max_items=search.MAX_CONTRACTS,
        description=f"Contract ids (repeat for several, at most {search.MAX_CONTRACTS}); any of them.",
    ),
]
Tags = Annotated[
    list[Annotated[str, QueryParameter(max_length=64)]] | None,
    QueryParameter(
        max_items=search.MAX_TAGS,
        description=f"Tags (attributes.tags; repeat for several, at most {search.MAX_TAGS}); all of them.",
    ),
]
Instant = Annotated[str | None, QueryParameter(**INSTANT)]
Label = Annotated[str | None, QueryParameter(max_length=64)]
Text = Annotated[
    str | None,
    QueryParameter(
        max_length=search.MAX_QUERY,
        description=(
            "Words to find in the summary or voice text (attributes.summary, attributes.voice), Japanese or "
            f"English, each at least {search.MIN_TERM} characters; all of them must appear."
        ),
    ),
]
ObjectiveKey = Annotated[
    str | None,
    QueryParameter(max_length=300, description="An objective key (e.g. first_response), with status."),
]
Status = Annotated[
    schemas.ItemStatus | None,
    QueryParameter(description="The objective's result now; needs objective and received_from."),
]

DESCRIPTION = (
    "Newest first (received_at, then id), a page at a time with next_cursor. Filters narrow together; "
    "contract and tag repeat. A contract that is not the caller's answers 404, as a missing one. "
    "Each item carries its result per SLA objective, measured now. objective with status keeps the items "
    f"whose result is that status; it needs received_from, at most {items.MAX_STATUS_SPAN.days} days "
    "before received_to (or now)."
)


async def _prepared(
    session: Session,
    caller: Caller,
    *,
    contract: list[uuid.UUID] | None,
    received_from: str | None,
    received_to: str | None,
    channel: str | None,
    kind: str | None,
    outcome: str | None,
    sentiment: str | None,
    handled_by: str | None,
    external_id: str | None,
    tag: list[str] | None,
    q: str | None,
    objective: str | None,
    status: schemas.ItemStatus | None,
) -> items.Search:
    now = datetime.now(UTC)
    filters = search.parse_filters(
        contract=contract,
        received_from=received_from,
        received_to=received_to,
        channel=channel,
        kind=kind,
        outcome=outcome,
        sentiment=sentiment,
        handled_by=handled_by,
        external_id=external_id,
        tag=tag,
        q=q,
    )
    wanted = items.parse_status(filters, objective, status, now)
    return await items.prepare(session, caller, filters, wanted, now)


class WorkItemSearchController(Controller):
    path = "/v1/work-items"
    tags = ["work items"]
    guards = [CLIENT_READERS]

    @get("", summary="Search work items, with each item's SLA result per objective", description=DESCRIPTION)
    async def search_work_items(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        contract: Contracts = None,
        received_from: Instant = None,
        received_to: Instant = None,
        channel: Label = None,
        kind: Label = None,
        outcome: Label = None,
        sentiment: Label = None,
        handled_by: Filter = None,
        external_id: Filter = None,
        tag: Tags = None,
        q: Text = None,
        objective: ObjectiveKey = None,
        status: Status = None,
    ) -> schemas.FoundItemPage:
        prepared = await _prepared(
            session,
            caller,
            contract=contract,
            received_from=received_from,
            received_to=received_to,
            channel=channel,
            kind=kind,
            outcome=outcome,
            sentiment=sentiment,
            handled_by=handled_by,
            external_id=external_id,
            tag=tag,
            q=q,
            objective=objective,
            status=status,
        )
        return await prepared.page(session, caller, limit=limit, cursor=cursor)

    @get(
        "/{work_item_id:uuid}",
        summary="A work item: its timeline, who handled it, and its SLA result per objective",
    )
    async def get_work_item(
        self, session: Session, caller: Caller, work_item_id: FromPath[uuid.UUID]
    ) -> schemas.WorkItemDetail:
        return await items.get_item(session, caller, work_item_id)


class WorkItemExportController(Controller):
    path = "/v1/work-items.csv"
    tags = ["work items"]
    guards = [CLIENT_READERS]

    @get(
        "",
        summary="The same search as CSV, every matching item (streamed)",
        description="The filters of GET /v1/work-items; one row per item, sla as objective=status pairs.",
        media_type="text/csv",
    )
    async def export_work_items(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        contract: Contracts = None,
        received_from: Instant = None,
        received_to: Instant = None,
        channel: Label = None,
        kind: Label = None,
        outcome: Label = None,
        sentiment: Label = None,
        handled_by: Filter = None,
        external_id: Filter = None,
        tag: Tags = None,
        q: Text = None,
        objective: ObjectiveKey = None,
        status: Status = None,
    ) -> Stream:
        prepared = await _prepared(
            session,
            caller,
            contract=contract,
            received_from=received_from,
            received_to=received_to,
            channel=channel,
            kind=kind,
            outcome=outcome,
            sentiment=sentiment,
            handled_by=handled_by,
            external_id=external_id,
            tag=tag,
            q=q,
            objective=objective,
            status=status,
        )
        runtime: Runtime = request.app.state.runtime
        return Stream(
            items.csv_chunks(runtime.db.tenant, caller, prepared),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="work-items.csv"'},
        )


ROUTES: list[ControllerRouterHandler] = [WorkItemSearchController, WorkItemExportController]
