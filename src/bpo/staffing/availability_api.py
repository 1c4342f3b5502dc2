"""A person's own availability and preferred times: ``/v1/me/availability``."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.params import JSONBody
from litestar.types import ControllerRouterHandler

from bpo.core.guards import WORKFORCE
from bpo.core.http import Caller, Session
from bpo.staffing import availability
from bpo.staffing.selfservice_schemas import MyAvailability, MyAvailabilityUpdate


class MyAvailabilityController(Controller):
    path = "/v1/me/availability"
    tags = ["self-service"]
    guards = [WORKFORCE]

    @get(
        "",
        summary="When you can work and when you would rather work (weekly windows in your home zone), "
        "with your skills and languages",
    )
    async def get_my_availability(self, session: Session, caller: Caller) -> MyAvailability:
        return await availability.my_availability(session, caller)

    @put(
        "",
        summary="Replace your weekly availability and preferred times",
        description=(
            "`availability` is a hard rule for shifts assigned from now on (null: any time); "
            "`preferred_times` weighs on the auto-scheduler only (null: no preference). At most 100 "
            "windows each, like calendar windows (`25:30` is 01:30 the next day)."
        ),
    )
    async def put_my_availability(
        self, session: Session, caller: Caller, data: JSONBody[MyAvailabilityUpdate]
    ) -> MyAvailability:
        return await availability.update_my_availability(session, caller, data)


ROUTES: list[ControllerRouterHandler] = [MyAvailabilityController]
