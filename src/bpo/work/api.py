from __future__ import annotations

import uuid

from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler

from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.tenancy.auth import requires
from bpo.tenancy.scope import Role
from bpo.work import schemas, service

INGESTERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.API_CLIENT)
READERS = requires(Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.CLIENT_VIEWER, Role.API_CLIENT)


@post(
    "/v1/work-items:batch",
    guards=[INGESTERS],
    status_code=HTTP_200_OK,
    tags=["work items"],
    summary="Upsert up to 10,000 work items of one contract (idempotent by external_id)",
    description=(
        "Every item is validated first; any invalid item rejects the whole batch, listing each bad index "
        "and field, and nothing is written. Timestamps only move forward: a later first_response_at never "
        "replaces an earlier one, and a missing value never clears a stored one. Replaying a batch "
        "changes nothing."
    ),
)
async def ingest_batch(
    session: Session, caller: Caller, data: JSONBody[schemas.WorkItemBatch]
) -> schemas.BatchResult:
    return await service.ingest(session, caller, data)


@get(
    "/v1/contracts/{contract_id:uuid}/work-items",
    guards=[READERS],
    tags=["work items"],
    summary="A contract's work items",
)
async def list_work_items(
    session: Session,
    caller: Caller,
    contract_id: FromPath[uuid.UUID],
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    external_id: FromQuery[str | None] = None,
) -> schemas.WorkItemPage:
    return await service.list_items(
        session, caller, contract_id, limit=limit, cursor=cursor, external_id=external_id
    )


ROUTES: list[ControllerRouterHandler] = [ingest_batch, list_work_items]
