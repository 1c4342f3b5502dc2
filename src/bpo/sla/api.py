from __future__ import annotations

import uuid
from datetime import date

from litestar import Controller, Response, get
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from bpo.core.guards import READERS
from bpo.core.http import Caller, Reads
from bpo.sla import export, schemas, service


class ContractSlaController(Controller):
    path = "/v1/contracts/{contract_id:uuid}"
    tags = ["sla"]
    guards = [READERS]

    @get(
        "/sla",
        summary="A contract's SLA: attainment per objective, series, checkpoints, percentiles and volumes",
        description=(
            "Dates are in the client's time zone; start and end are inclusive (default: last 30 days)."
        ),
    )
    async def contract_sla(
        self,
        reads: Reads,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
        granularity: FromQuery[schemas.Granularity] = "day",
    ) -> schemas.ContractSla:
        return await service.read_contract_sla(reads, caller, contract_id, start, end, granularity)

    @get(
        "/sla.csv",
        summary="The contract SLA report as CSV (one row per objective and period)",
        media_type="text/csv",
    )
    async def contract_sla_csv(
        self,
        reads: Reads,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
        granularity: FromQuery[schemas.Granularity] = "day",
    ) -> Response[str]:
        report = await service.read_contract_sla(reads, caller, contract_id, start, end, granularity)
        return _csv(
            export.contract_sla_csv(report), f"sla-{report.contract_code}-{report.start}-{report.end}.csv"
        )


class ClientSlaController(Controller):
    path = "/v1/clients/{client_id:uuid}"
    tags = ["sla"]
    guards = [READERS]

    @get(
        "/sla",
        summary=(
            "All of a client's contracts: attainment against target, status and trend vs the previous period"
        ),
    )
    async def client_sla(
        self,
        reads: Reads,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
    ) -> schemas.ClientSla:
        return await service.client_sla(reads, caller, client_id, start, end)

    @get(
        "/sla.csv",
        summary="The client SLA summary as CSV (one row per contract and objective, coverage included)",
        media_type="text/csv",
    )
    async def client_sla_csv(
        self,
        reads: Reads,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
    ) -> Response[str]:
        report = await service.client_sla(reads, caller, client_id, start, end)
        return _csv(
            export.client_sla_csv(report), f"sla-{report.client_code}-{report.start}-{report.end}.csv"
        )


def _csv(body: str, filename: str) -> Response[str]:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


ROUTES: list[ControllerRouterHandler] = [ContractSlaController, ClientSlaController]
