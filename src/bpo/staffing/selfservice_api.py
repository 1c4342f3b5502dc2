"""Self-service routes: a person's own shifts, their iCal feed, and shift swaps."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.core.errors import NotFound
from bpo.core.guards import OPERATORS, WORKFORCE
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.staffing import selfservice, swaps
from bpo.staffing import service as staffing
from bpo.staffing.api import handle_broken_rules
from bpo.staffing.roster import BrokenRules
from bpo.staffing.selfservice_schemas import (
    CalendarFeed,
    MyShifts,
    SwapRequest,
    SwapRequestCreate,
    SwapRequestPage,
    SwapStatus,
)

ICS_SUFFIX = ".ics"

FromDate = Annotated[
    date | None, QueryParameter(name="from", description="First local day (default: today in the zone).")
]
ToDate = Annotated[date | None, QueryParameter(description="Last local day, inclusive (default: 4 weeks).")]
TimeZoneName = Annotated[
    str | None,
    QueryParameter(max_length=64, description="IANA zone to show times in (default: your home zone)."),
]


@get(
    "/v1/me/shifts",
    guards=[WORKFORCE],
    tags=["self-service"],
    summary="Your own shifts, earliest first, on the wall clock of your home zone (or `tz`)",
)
async def my_shifts(
    session: Session, caller: Caller, from_: FromDate = None, to: ToDate = None, tz: TimeZoneName = None
) -> MyShifts:
    return await selfservice.my_shifts(session, caller, start=from_, end=to, tz=tz)


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url)


@post(
    "/v1/me/calendar-feed",
    guards=[WORKFORCE],
    status_code=HTTP_201_CREATED,
    tags=["self-service"],
    summary="A secret iCal URL of your shifts; asking again replaces it (the old URL stops working)",
)
async def create_my_feed(request: Request[Any, Any, Any], session: Session, caller: Caller) -> CalendarFeed:
    staff = await selfservice.staff_of(session, caller)
    return await selfservice.create_feed(session, caller, staff, _base_url(request))


@delete(
    "/v1/me/calendar-feed",
    guards=[WORKFORCE],
    status_code=HTTP_204_NO_CONTENT,
    tags=["self-service"],
    summary="Stop your iCal URL working",
)
async def revoke_my_feed(session: Session, caller: Caller) -> None:
    await selfservice.revoke_feed(session, caller, await selfservice.staff_of(session, caller))


@post(
    "/v1/staff/{staff_id:uuid}/calendar-feed",
    guards=[OPERATORS],
    status_code=HTTP_201_CREATED,
    tags=["self-service"],
    summary="A new secret iCal URL of a person's shifts (the old one stops working)",
)
async def create_staff_feed(
    request: Request[Any, Any, Any], session: Session, caller: Caller, staff_id: FromPath[uuid.UUID]
) -> CalendarFeed:
    staff = await staffing.get_staff_row(session, caller, staff_id)
    return await selfservice.create_feed(session, caller, staff, _base_url(request))


@delete(
    "/v1/staff/{staff_id:uuid}/calendar-feed",
    guards=[OPERATORS],
    status_code=HTTP_204_NO_CONTENT,
    tags=["self-service"],
    summary="Stop a person's iCal URL working",
)
async def revoke_staff_feed(session: Session, caller: Caller, staff_id: FromPath[uuid.UUID]) -> None:
    await selfservice.revoke_feed(session, caller, await staffing.get_staff_row(session, caller, staff_id))


@get(
    "/v1/calendar/{feed:str}",
    exclude_from_auth=True,
    tags=["self-service"],
    summary="A person's shifts as iCalendar (`{token}.ics`); the secret token is the only credential",
    security=[],
)
async def calendar_feed(request: Request[Any, Any, Any], feed: FromPath[str]) -> Response[bytes]:
    token = feed.removesuffix(ICS_SUFFIX)
    tenant_id = selfservice.feed_tenant(token)
    if not feed.endswith(ICS_SUFFIX) or tenant_id is None:
        raise NotFound("No calendar feed at this address.")
    runtime: Runtime = request.app.state.runtime
    async with runtime.db.tenant(tenant_id) as session:
        document = await selfservice.feed_ics(session, tenant_id, token, datetime.now(UTC))
    return Response(
        document,
        media_type="text/calendar",
        headers={
            "Cache-Control": "private, max-age=300",
            "Content-Disposition": 'inline; filename="shifts.ics"',
        },
    )


@post(
    "/v1/me/swap-requests",
    guards=[WORKFORCE],
    status_code=HTTP_201_CREATED,
    tags=["self-service"],
    summary="Offer one of your shifts to a colleague (a give-away) or for one of theirs (a trade)",
)
async def propose_swap(session: Session, caller: Caller, data: JSONBody[SwapRequestCreate]) -> SwapRequest:
    return await swaps.propose(session, caller, data)


@get(
    "/v1/swap-requests",
    guards=[WORKFORCE],
    tags=["self-service"],
    summary="Swap requests: yours, or for a supervisor every one of the tenant",
)
async def list_swaps(
    session: Session,
    caller: Caller,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    status: FromQuery[SwapStatus | None] = None,
) -> SwapRequestPage:
    return await swaps.list_swaps(session, caller, limit=limit, cursor=cursor, status=status)


def _swap_ref(ref: str) -> tuple[uuid.UUID, str | None]:
    raw, _, action = ref.partition(":")
    try:
        return uuid.UUID(raw), action or None
    except ValueError:
        raise NotFound(f"Swap request {ref} not found.") from None


@get("/v1/swap-requests/{swap_ref:str}", guards=[WORKFORCE], tags=["self-service"], summary="A swap request")
async def get_swap(session: Session, caller: Caller, swap_ref: FromPath[str]) -> SwapRequest:
    swap_id, action = _swap_ref(swap_ref)
    if action is not None:
        raise NotFound(f"No resource at /v1/swap-requests/{swap_ref}.")
    return await swaps.get_swap(session, caller, swap_id)


@post(
    "/v1/swap-requests/{swap_ref:str}",
    guards=[WORKFORCE],
    status_code=HTTP_200_OK,
    tags=["self-service"],
    summary="`{id}:accept` / `{id}:decline` (the colleague), `{id}:cancel` (the requester), "
    "`{id}:approve` / `{id}:reject` (a supervisor)",
    description=(
        "Approval re-checks every hard rule for the assignments the swap creates; any broken rule is a "
        "409 whose `violations` list each rule's code, and nothing changes. Otherwise the assignments "
        "move at once."
    ),
    exception_handlers={BrokenRules: handle_broken_rules},
)
async def act_on_swap(session: Session, caller: Caller, swap_ref: FromPath[str]) -> SwapRequest:
    swap_id, action = _swap_ref(swap_ref)
    if action == "accept":
        return await swaps.respond(session, caller, swap_id, accept=True)
    if action == "decline":
        return await swaps.respond(session, caller, swap_id, accept=False)
    if action == "cancel":
        return await swaps.cancel(session, caller, swap_id)
    if action == "approve":
        return await swaps.approve(session, caller, swap_id)
    if action == "reject":
        return await swaps.reject(session, caller, swap_id)
    raise NotFound(f"No resource at /v1/swap-requests/{swap_ref}.")


ROUTES: list[ControllerRouterHandler] = [
    my_shifts,
    create_my_feed,
    revoke_my_feed,
    create_staff_feed,
    revoke_staff_feed,
    calendar_feed,
    propose_swap,
    list_swaps,
    get_swap,
    act_on_swap,
]
