"""Planning routes: a contract's workforce forecast, and solver runs over a period."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler

from bpo.core.guards import OPERATORS
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.staffing import forecasts as forecasting
from bpo.staffing import schedule_runs as runs
from bpo.staffing.planning_schemas import (
    Forecast,
    ForecastRequest,
    ScheduleRun,
    ScheduleRunCreate,
    ScheduleRunPage,
    ScheduleRunStatus,
)


class ForecastController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/forecast"
    tags = ["staffing"]
    guards = [OPERATORS]

    @post(
        "",
        status_code=HTTP_200_OK,
        summary="Required headcount per interval (Erlang C, or a fluid backlog model); writes nothing",
        description=(
            "erlang_c: live queues (chat, phone) with an objective like 80% answered within 45s. backlog: "
            "work cleared within an hours-long threshold (email). Shrinkage turns agents into scheduled "
            "headcount. With `coverage`, the answer also has coverage lines in the contract's calendar zone, "
            "ready to put on the contract."
        ),
    )
    async def contract_forecast(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[ForecastRequest],
    ) -> Forecast:
        return await forecasting.contract_forecast(session, caller, contract_id, data)


class ScheduleRunController(Controller):
    path = "/v1/schedule-runs"
    tags = ["staffing"]
    guards = [OPERATORS]

    @post(
        "",
        status_code=HTTP_202_ACCEPTED,
        summary="Fill the shifts of some contracts over up to 31 days with the solver, in the background",
        description=(
            "Without `replan`, existing assignments stay and only open places are filled; with it, the "
            "assignments on these shifts are planned afresh. Every proposed assignment is re-checked "
            "against every hard rule before anything is written. Poll the run for its result: coverage per "
            "contract, unfilled shifts with the reason, soft-rule penalties and solve time."
        ),
    )
    async def create_schedule_run(
        self, session: Session, caller: Caller, data: JSONBody[ScheduleRunCreate]
    ) -> ScheduleRun:
        return await runs.create_run(session, caller, data)

    @get("/{run_id:uuid}", summary="A schedule run")
    async def get_schedule_run(
        self, session: Session, caller: Caller, run_id: FromPath[uuid.UUID]
    ) -> ScheduleRun:
        return await runs.get_run(session, caller, run_id)

    @get("", summary="Schedule runs, oldest first")
    async def list_schedule_runs(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        status: FromQuery[ScheduleRunStatus | None] = None,
    ) -> ScheduleRunPage:
        return await runs.list_runs(session, caller, limit=limit, cursor=cursor, status=status)


ROUTES: list[ControllerRouterHandler] = [ForecastController, ScheduleRunController]
