"""Open shifts and claims: ``/v1/me/open-shifts`` for staff, ``/v1/open-shift-claims`` for everyone's
claims (a supervisor's view) and one's own."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from bpo.core.errors import NotFound
from bpo.core.guards import WORKFORCE, parse_reference
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.staffing import open_shifts
from bpo.staffing.open_shift_schemas import (
    OpenShiftClaim,
    OpenShiftClaimPage,
    OpenShiftClaimStatus,
    OpenShiftDecision,
    OpenShifts,
)

FromDate = Annotated[
    date | None, QueryParameter(name="from", description="First local day (default: today in the zone).")
]
ToDate = Annotated[date | None, QueryParameter(description="Last local day, inclusive (default: 4 weeks).")]
TimeZoneName = Annotated[
    str | None,
    QueryParameter(max_length=64, description="IANA zone to show times in (default: your home zone)."),
]
RULES_409 = (
    "A claim that would break a hard rule (skills, languages, site, training, time off, availability, "
    "overlap, rest, weekly hours, seat capacity, a full or started shift) is a 409 "
    "`claim-breaks-rules` whose `violations` list each rule's code and message; nothing is written."
)


class MyOpenShiftsController(Controller):
    path = "/v1/me/open-shifts"
    tags = ["self-service"]
    guards = [WORKFORCE]

    @get(
        "",
        summary="Published shifts still short of people that you could work (every hard rule checked)",
    )
    async def my_open_shifts(
        self,
        session: Session,
        caller: Caller,
        from_: FromDate = None,
        to: ToDate = None,
        tz: TimeZoneName = None,
    ) -> OpenShifts:
        return await open_shifts.eligible_open_shifts(session, caller, start=from_, end=to, tz=tz)

    @post(
        "/{shift_id:uuid}/claim",
        status_code=HTTP_201_CREATED,
        summary="Claim an open shift: a supervisor approves it, or it is approved at once (contract setting)",
        description=RULES_409,
    )
    async def claim_open_shift(
        self, session: Session, caller: Caller, shift_id: FromPath[uuid.UUID]
    ) -> OpenShiftClaim:
        return await open_shifts.claim(session, caller, shift_id)


class OpenShiftClaimController(Controller):
    path = "/v1/open-shift-claims"
    tags = ["self-service"]
    guards = [WORKFORCE]

    @get("", summary="Claims of open shifts: yours, or for a supervisor every one of the tenant")
    async def list_claims(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        status: FromQuery[OpenShiftClaimStatus | None] = None,
        shift_id: FromQuery[uuid.UUID | None] = None,
        staff_id: FromQuery[uuid.UUID | None] = None,
    ) -> OpenShiftClaimPage:
        return await open_shifts.list_claims(
            session, caller, limit=limit, cursor=cursor, status=status, shift_id=shift_id, staff_id=staff_id
        )

    @get("/{claim_ref:str}", summary="A claim of an open shift")
    async def get_claim(self, session: Session, caller: Caller, claim_ref: FromPath[str]) -> OpenShiftClaim:
        claim_id, action = parse_reference(claim_ref, "Open shift claim")
        if action is not None:
            raise NotFound(f"No resource at /v1/open-shift-claims/{claim_ref}.")
        return await open_shifts.get_claim(session, caller, claim_id)

    @post(
        "/{claim_ref:str}",
        status_code=HTTP_200_OK,
        summary="`{id}:approve` / `{id}:decline` (a supervisor; a decline may carry a `note`), "
        "`{id}:cancel` (the claimant)",
        description="Approval checks every hard rule again and puts the person on the shift. " + RULES_409,
    )
    async def act_on_claim(
        self,
        session: Session,
        caller: Caller,
        claim_ref: FromPath[str],
        data: JSONBody[OpenShiftDecision | None] = None,
    ) -> OpenShiftClaim:
        claim_id, action = parse_reference(claim_ref, "Open shift claim")
        if action == "approve":
            return await open_shifts.approve(session, caller, claim_id)
        if action == "decline":
            return await open_shifts.decline(session, caller, claim_id, data.note if data is not None else "")
        if action == "cancel":
            return await open_shifts.cancel(session, caller, claim_id)
        raise NotFound(f"No resource at /v1/open-shift-claims/{claim_ref}.")


ROUTES: list[ControllerRouterHandler] = [MyOpenShiftsController, OpenShiftClaimController]
