"""Self-service routes: a person's own shifts, their iCal feed, and shift swaps."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.core.errors import NotFound
from bpo.core.guards import OPERATORS, WORKFORCE, parse_reference
from bpo.core.http import Caller, Cursor, Limit, Reads, Session
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


def _base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url)


class SelfServiceController(Controller):
    path = "/v1/me"
    tags = ["self-service"]
    guards = [WORKFORCE]

    @get("/shifts", summary="Your own shifts, earliest first, on the wall clock of your home zone (or `tz`)")
    async def my_shifts(
        self,
        reads: Reads,
        caller: Caller,
        from_: FromDate = None,
        to: ToDate = None,
        tz: TimeZoneName = None,
    ) -> MyShifts:
        return await selfservice.read_my_shifts(reads, caller, start=from_, end=to, tz=tz)

    @post(
        "/calendar-feed",
        status_code=HTTP_201_CREATED,
        summary="A secret iCal URL of your shifts; asking again replaces it (the old URL stops working)",
    )
    async def create_my_feed(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller
    ) -> CalendarFeed:
        staff = await selfservice.staff_of(session, caller)
        return await selfservice.create_feed(session, caller, staff, _base_url(request))

    @delete("/calendar-feed", status_code=HTTP_204_NO_CONTENT, summary="Stop your iCal URL working")
    async def revoke_my_feed(self, session: Session, caller: Caller) -> None:
        await selfservice.revoke_feed(session, caller, await selfservice.staff_of(session, caller))

    @post(
        "/swap-requests",
        status_code=HTTP_201_CREATED,
        summary="Offer one of your shifts to a colleague (a give-away) or for one of theirs (a trade)",
    )
    async def propose_swap(
        self, session: Session, caller: Caller, data: JSONBody[SwapRequestCreate]
    ) -> SwapRequest:
        return await swaps.propose(session, caller, data)


class StaffCalendarFeedController(Controller):
    path = "/v1/staff/{staff_id:uuid}/calendar-feed"
    tags = ["self-service"]
    guards = [OPERATORS]

    @post(
        "",
        status_code=HTTP_201_CREATED,
        summary="A new secret iCal URL of a person's shifts (the old one stops working)",
    )
    async def create_staff_feed(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller, staff_id: FromPath[uuid.UUID]
    ) -> CalendarFeed:
        staff = await staffing.get_staff_row(session, caller, staff_id)
        return await selfservice.create_feed(session, caller, staff, _base_url(request))

    @delete("", status_code=HTTP_204_NO_CONTENT, summary="Stop a person's iCal URL working")
    async def revoke_staff_feed(
        self, session: Session, caller: Caller, staff_id: FromPath[uuid.UUID]
    ) -> None:
        await selfservice.revoke_feed(
            session, caller, await staffing.get_staff_row(session, caller, staff_id)
        )


class CalendarFeedController(Controller):
    path = "/v1/calendar"
    tags = ["self-service"]

    @get(
        "/{feed:str}",
        exclude_from_auth=True,
        summary="A person's shifts as iCalendar (`{token}.ics`); the secret token is the only credential",
        security=[],
    )
    async def calendar_feed(self, request: Request[Any, Any, Any], feed: FromPath[str]) -> Response[bytes]:
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


class SwapRequestController(Controller):
    path = "/v1/swap-requests"
    tags = ["self-service"]
    guards = [WORKFORCE]

    @get("", summary="Swap requests: yours, or for a supervisor every one of the tenant")
    async def list_swaps(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        status: FromQuery[SwapStatus | None] = None,
    ) -> SwapRequestPage:
        return await swaps.list_swaps(session, caller, limit=limit, cursor=cursor, status=status)

    @get("/{swap_ref:str}", summary="A swap request")
    async def get_swap(self, session: Session, caller: Caller, swap_ref: FromPath[str]) -> SwapRequest:
        swap_id, action = parse_reference(swap_ref, "Swap request")
        if action is not None:
            raise NotFound(f"No resource at /v1/swap-requests/{swap_ref}.")
        return await swaps.get_swap(session, caller, swap_id)

    @post(
        "/{swap_ref:str}",
        status_code=HTTP_200_OK,
        summary="`{id}:accept` / `{id}:decline` (the colleague), `{id}:cancel` (the requester), "
        "`{id}:approve` / `{id}:reject` (a supervisor)",
        description=(
            "Approval re-checks every hard rule for the assignments the swap creates; any broken rule is a "
            "409 whose `violations` list each rule's code, and nothing changes. Otherwise the assignments "
            "move at once."
        ),
        exception_handlers={BrokenRules: handle_broken_rules},
    )
    async def act_on_swap(self, session: Session, caller: Caller, swap_ref: FromPath[str]) -> SwapRequest:
        swap_id, action = parse_reference(swap_ref, "Swap request")
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
    SelfServiceController,
    StaffCalendarFeedController,
    CalendarFeedController,
    SwapRequestController,
]
