"""Staffing endpoints: staff profiles, time off, shifts (generated from coverage or by hand),
assignments checked against every hard rule, the coverage view and the tenant's staffing settings.

A rejected assignment answers 422 (``ineligible``) when the person may not work the shift at all and
409 (``schedule-conflict``) when it clashes with what is already scheduled; the problem's
``violations`` list every broken rule with its code and the conflicting shift.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.core.errors import Forbidden, NotFound, raise_if
from bpo.core.guards import ADMINS, OPERATORS, WORKFORCE
from bpo.core.http import Caller, Cursor, Filter, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.problems import PROBLEM_JSON, handle_bpo_error
from bpo.core.scope import OPERATOR_ROLES
from bpo.staffing import coverage, roster, schemas, service, shifts

FromDate = Annotated[date | None, QueryParameter(name="from", description="First local date (inclusive).")]
ToDate = Annotated[date | None, QueryParameter(name="to", description="Last local date (inclusive).")]
Zone = Annotated[
    str, QueryParameter(max_length=64, description="IANA zone for local dates and times (default UTC).")
]


def _period(zone: str, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Instants bounding the local dates given (either may be open)."""
    shifts.check_time_zone(zone)
    raise_if(shifts.check_period(first, last))
    start = coverage.local_days(zone, first, first)[0] if first is not None else None
    end = coverage.local_days(zone, last, last)[1] if last is not None else None
    return start, end


class StaffController(Controller):
    path = "/v1/staff"
    tags = ["staffing"]

    @get("", guards=[WORKFORCE], summary="List staff (a staff member sees only their own profile)")
    async def list_staff(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        active: FromQuery[bool | None] = None,
        skill: Filter = None,
        language: Filter = None,
        site_id: FromQuery[uuid.UUID | None] = None,
    ) -> schemas.StaffPage:
        return await service.list_staff(
            session, caller, limit=limit, cursor=cursor, active=active, skill=skill, language=language,
            site_id=site_id,
        )  # fmt: skip

    @post("", guards=[OPERATORS], status_code=HTTP_201_CREATED, summary="Create a staff profile")
    async def create_staff(
        self, session: Session, caller: Caller, data: JSONBody[schemas.StaffCreate]
    ) -> schemas.Staff:
        return await service.create_staff(session, caller, data)

    @get("/{staff_id:uuid}", guards=[WORKFORCE], summary="Get a staff profile")
    async def get_staff(
        self, session: Session, caller: Caller, staff_id: FromPath[uuid.UUID]
    ) -> schemas.Staff:
        return await service.get_staff(session, caller, staff_id)

    @patch("/{staff_id:uuid}", guards=[OPERATORS], summary="Change a staff profile")
    async def update_staff(
        self,
        session: Session,
        caller: Caller,
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.StaffUpdate],
    ) -> schemas.Staff:
        return await service.update_staff(session, caller, staff_id, data)

    @delete(
        "/{staff_id:uuid}",
        guards=[OPERATORS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a staff profile, or deactivate it if it has assignments",
    )
    async def delete_staff(self, session: Session, caller: Caller, staff_id: FromPath[uuid.UUID]) -> None:
        await service.delete_staff(session, caller, staff_id)

    @post(
        "/{staff_id:uuid}/time-off",
        guards=[WORKFORCE],
        status_code=HTTP_201_CREATED,
        summary="Request time off (staff for themselves, supervisors for anyone)",
    )
    async def request_time_off(
        self,
        session: Session,
        caller: Caller,
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.TimeOffCreate],
    ) -> schemas.TimeOff:
        return await service.request_time_off(session, caller, staff_id, data)


_TIME_OFF_ACTIONS = {
    "approve": schemas.TimeOffStatus.APPROVED,
    "reject": schemas.TimeOffStatus.REJECTED,
    "cancel": schemas.TimeOffStatus.CANCELLED,
}


class TimeOffController(Controller):
    path = "/v1/time-off"
    tags = ["staffing"]

    @get("", guards=[WORKFORCE], summary="List time off (a staff member sees only their own)")
    async def list_time_off(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        staff_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[schemas.TimeOffStatus | None] = None,
    ) -> schemas.TimeOffPage:
        return await service.list_time_off(
            session, caller, limit=limit, cursor=cursor, staff_id=staff_id, status=status
        )

    @get("/{time_off_id:str}", guards=[WORKFORCE], summary="Get time off")
    async def get_time_off(
        self, session: Session, caller: Caller, time_off_id: FromPath[str]
    ) -> schemas.TimeOff:
        return await service.get_time_off(session, caller, _uuid(time_off_id, "Time off"))

    @post(
        "/{reference:str}",
        guards=[WORKFORCE],
        status_code=HTTP_200_OK,
        summary="{id}:approve or {id}:reject (supervisors); {id}:cancel (supervisors, staff for their own)",
        description="Approval is refused (409) while the person is assigned to shifts during the time off.",
    )
    async def decide(self, session: Session, caller: Caller, reference: FromPath[str]) -> schemas.TimeOff:
        identifier, _, verb = reference.rpartition(":")
        target = _TIME_OFF_ACTIONS.get(verb)
        if target is None:
            raise NotFound(f"No time-off action {verb!r}: use :approve, :reject or :cancel.")
        time_off_id = _uuid(identifier, "Time off")
        if target is not schemas.TimeOffStatus.CANCELLED and caller.role not in OPERATOR_ROLES:
            raise Forbidden("Only supervisors approve or reject time off.")
        return await roster.decide_time_off(session, caller, time_off_id, target)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value!r} not found.") from None


class ShiftController(Controller):
    path = "/v1/shifts"
    tags = ["staffing"]

    @get("", guards=[OPERATORS], summary="List shifts starting on the local dates from-to")
    async def list_shifts(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        contract_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[schemas.ShiftStatus | None] = None,
        first: FromDate = None,
        last: ToDate = None,
        tz: Zone = "UTC",
    ) -> schemas.ShiftPage:
        start, end = _period(tz, first, last)
        return await shifts.list_shifts(
            session, caller, limit=limit, cursor=cursor, contract_id=contract_id, status=status,
            start=start, end=end, zone=tz,
        )  # fmt: skip

    @post("", guards=[OPERATORS], status_code=HTTP_201_CREATED, summary="Create a shift by hand")
    async def create_shift(
        self, session: Session, caller: Caller, data: JSONBody[schemas.ShiftCreate]
    ) -> schemas.Shift:
        return await shifts.create_shift(session, caller, data)

    @get("/{shift_id:uuid}", guards=[OPERATORS], summary="Get a shift")
    async def get_shift(
        self, session: Session, caller: Caller, shift_id: FromPath[uuid.UUID], tz: Zone = "UTC"
    ) -> schemas.Shift:
        return await shifts.get_shift(session, caller, shift_id, shifts.check_time_zone(tz))

    @patch(
        "/{shift_id:uuid}",
        guards=[OPERATORS],
        summary="Change or publish a shift (its people are re-checked against the hard rules)",
    )
    async def update_shift(
        self,
        session: Session,
        caller: Caller,
        shift_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ShiftUpdate],
    ) -> schemas.Shift:
        return await shifts.update_shift(session, caller, shift_id, data)

    @delete(
        "/{shift_id:uuid}",
        guards=[OPERATORS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a shift without assignments",
    )
    async def delete_shift(self, session: Session, caller: Caller, shift_id: FromPath[uuid.UUID]) -> None:
        await shifts.delete_shift(session, caller, shift_id)

    @post(
        "/{shift_id:uuid}/assignments",
        guards=[OPERATORS],
        status_code=HTTP_201_CREATED,
        summary="Assign a person to a shift (every hard rule is checked)",
        description=(
            "422 `ineligible` when the person may not work the shift (skills, languages, site, training, "
            "excluded contract, time off, availability, a too-short break); 409 `schedule-conflict` when "
            "it clashes with what is scheduled (overlap, rest, weekly hours, consecutive days, monthly or "
            "yearly overtime, seat capacity, full shift). `violations` "
            "lists every broken rule with its code and the conflicting shift."
        ),
    )
    async def assign(
        self,
        session: Session,
        caller: Caller,
        shift_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.AssignmentCreate],
    ) -> schemas.Assignment:
        return await roster.assign(session, caller, shift_id, data.staff_id)


class ShiftPublicationController(Controller):
    path = "/v1/shifts:publish"
    tags = ["staffing"]
    guards = [OPERATORS]

    @post(
        "",
        status_code=HTTP_200_OK,
        summary="Publish a contract's draft shifts starting on the local dates from-to",
    )
    async def publish_shifts(
        self, session: Session, caller: Caller, data: JSONBody[schemas.PublishRequest]
    ) -> schemas.PublishResult:
        return await shifts.publish_shifts(session, caller, data)


class ContractStaffingController(Controller):
    path = "/v1/contracts/{contract_id:uuid}"
    tags = ["staffing"]
    guards = [OPERATORS]

    @post(
        "/shifts:generate",
        status_code=HTTP_200_OK,
        summary="Generate draft shifts from the contract's coverage lines (idempotent)",
        description=(
            "Dates are local to the contract's calendar; at most 93 days. A coverage line longer than "
            "`max_shift_hours` (default 9) becomes the fewest equal shifts that fit, e.g. 24 h as three "
            "8-hour shifts."
        ),
    )
    async def generate_shifts(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.GenerateRequest],
    ) -> schemas.GenerateResult:
        return await shifts.generate_shifts(
            session, caller, contract_id, data.from_, data.to, timedelta(hours=data.max_shift_hours)
        )

    @get(
        "/coverage",
        summary="Required vs scheduled headcount per interval, with gaps and totals",
        description=(
            "Dates are local to the contract's calendar; at most 93 days; interval 15, 30 or 60 minutes."
        ),
    )
    async def contract_coverage(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        first: Annotated[date, QueryParameter(name="from")],
        last: Annotated[date, QueryParameter(name="to")],
        interval: Annotated[int, QueryParameter(ge=15, le=60, description="Minutes: 15, 30 or 60.")] = 60,
    ) -> schemas.CoverageReport:
        return await shifts.coverage_report(session, caller, contract_id, first, last, interval)


class AssignmentController(Controller):
    path = "/v1/assignments"
    tags = ["staffing"]

    @get("", guards=[OPERATORS], summary="List assignments by shift, person, contract and local dates")
    async def list_assignments(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        shift_id: FromQuery[uuid.UUID | None] = None,
        staff_id: FromQuery[uuid.UUID | None] = None,
        contract_id: FromQuery[uuid.UUID | None] = None,
        first: FromDate = None,
        last: ToDate = None,
        tz: Zone = "UTC",
    ) -> schemas.AssignmentPage:
        start, end = _period(tz, first, last)
        return await roster.list_assignments(
            session, caller, limit=limit, cursor=cursor, shift_id=shift_id, staff_id=staff_id,
            contract_id=contract_id, start=start, end=end,
        )  # fmt: skip

    @get("/{assignment_id:uuid}", guards=[OPERATORS], summary="Get an assignment")
    async def get_assignment(
        self, session: Session, caller: Caller, assignment_id: FromPath[uuid.UUID]
    ) -> schemas.Assignment:
        return await roster.get_assignment(session, caller, assignment_id)

    @delete(
        "/{assignment_id:uuid}",
        guards=[OPERATORS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Take a person off a shift",
    )
    async def unassign(self, session: Session, caller: Caller, assignment_id: FromPath[uuid.UUID]) -> None:
        await roster.unassign(session, caller, assignment_id)


class SettingsController(Controller):
    path = "/v1/staffing/settings"
    tags = ["staffing"]

    @get("", guards=[ADMINS], summary="The tenant's minimum rest and solver weights")
    async def get_settings(self, session: Session, caller: Caller) -> schemas.StaffingSettings:
        return await service.get_settings(session, caller)

    @put("", guards=[ADMINS], summary="Set the tenant's minimum rest and solver weights")
    async def put_settings(
        self, session: Session, caller: Caller, data: JSONBody[schemas.StaffingSettings]
    ) -> schemas.StaffingSettings:
        return await service.put_settings(session, caller, data)


def handle_broken_rules(request: Request[Any, Any, Any], exc: roster.BrokenRules) -> Response[bytes]:
    """The usual problem, plus ``violations``: each broken rule's code, message and conflicting shift."""
    problem = msgspec.json.decode(handle_bpo_error(request, exc).content)
    problem["violations"] = msgspec.to_builtins(exc.view())
    return Response(
        content=msgspec.json.encode(problem),
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers=exc.headers,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {roster.BrokenRules: handle_broken_rules}

ROUTES: list[ControllerRouterHandler] = [
    StaffController,
    TimeOffController,
    ShiftController,
    ShiftPublicationController,
    ContractStaffingController,
    AssignmentController,
    SettingsController,
]
