from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.clients import contracts, schemas, service, versions
from bpo.core.errors import Invalid, field_error
from bpo.core.guards import CLIENT_READERS, OPERATORS, WRITERS
from bpo.core.http import INSTANT, Caller, Cursor, Limit, Reads, Session, instant_period
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.tenancy import service as tenancy

MAX_INTERVAL_SPAN = timedelta(days=62)
CORRECTION = (
    "Allowed while no closed month depends on the version: the contract is a draft, or the version starts "
    "in the current month or later (409 `version-in-force` otherwise: add a new version instead). A "
    "version holding values no longer accepted (stored by an older release, such as a threshold over "
    "366 days) can always be corrected or deleted, even on an ended contract. A contract keeps at least "
    "one version (409 `last-version`)."
)


class SiteController(Controller):
    path = "/v1/sites"
    tags = ["sites"]

    @get("", guards=[OPERATORS], summary="List sites")
    async def list_sites(
        self, session: Session, caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
    ) -> schemas.SitePage:
        return await service.list_sites(session, caller, limit=limit, cursor=cursor)

    @post("", guards=[WRITERS], status_code=HTTP_201_CREATED, summary="Create a site (an office)")
    async def create_site(
        self, session: Session, caller: Caller, data: JSONBody[schemas.SiteCreate]
    ) -> schemas.Site:
        return await service.create_site(session, caller, data)

    @get("/{site_id:uuid}", guards=[OPERATORS], summary="Get a site")
    async def get_site(self, session: Session, caller: Caller, site_id: FromPath[uuid.UUID]) -> schemas.Site:
        return service.site_view(await service.get_site_row(session, caller, site_id))

    @patch("/{site_id:uuid}", guards=[WRITERS], summary="Change a site")
    async def update_site(
        self,
        session: Session,
        caller: Caller,
        site_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.SiteUpdate],
    ) -> schemas.Site:
        return await service.update_site(session, caller, site_id, data)

    @delete(
        "/{site_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete, or archive if in use",
    )
    async def delete_site(self, session: Session, caller: Caller, site_id: FromPath[uuid.UUID]) -> None:
        await service.delete_site(session, caller, site_id)


class CalendarController(Controller):
    path = "/v1/calendars"
    tags = ["calendars"]

    @get("", guards=[OPERATORS], summary="List calendars")
    async def list_calendars(
        self, session: Session, caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
    ) -> schemas.CalendarPage:
        return await service.list_calendars(session, caller, limit=limit, cursor=cursor)

    @post("", guards=[WRITERS], status_code=HTTP_201_CREATED, summary="Create a business calendar")
    async def create_calendar(
        self, session: Session, caller: Caller, data: JSONBody[schemas.CalendarCreate]
    ) -> schemas.Calendar:
        return await service.create_calendar(session, caller, data)

    @get("/{calendar_id:uuid}", guards=[OPERATORS], summary="Get a calendar")
    async def get_calendar(
        self, session: Session, caller: Caller, calendar_id: FromPath[uuid.UUID]
    ) -> schemas.Calendar:
        return service.calendar_view(await service.get_calendar_row(session, caller, calendar_id))

    @patch("/{calendar_id:uuid}", guards=[WRITERS], summary="Change a calendar")
    async def update_calendar(
        self,
        session: Session,
        caller: Caller,
        calendar_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.CalendarUpdate],
    ) -> schemas.Calendar:
        return await service.update_calendar(session, caller, calendar_id, data)

    @delete(
        "/{calendar_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete, or archive if in use",
    )
    async def delete_calendar(
        self, session: Session, caller: Caller, calendar_id: FromPath[uuid.UUID]
    ) -> None:
        await service.delete_calendar(session, caller, calendar_id)

    @get("/{calendar_id:uuid}/open-intervals", guards=[OPERATORS], summary="When the calendar is open (UTC)")
    async def open_intervals(
        self,
        session: Session,
        caller: Caller,
        calendar_id: FromPath[uuid.UUID],
        start: Annotated[str, QueryParameter(**INSTANT)],
        end: Annotated[str, QueryParameter(**INSTANT)],
    ) -> list[schemas.OpenInterval]:
        first, last = instant_period(start, end, ("start", "end"))
        if first is None or last is None or last > first + MAX_INTERVAL_SPAN:
            raise Invalid(
                "end must be within 62 days of start", errors=[field_error("end", "within 62 days")]
            )
        return await service.calendar_open_intervals(session, caller, calendar_id, first, last)


class ClientController(Controller):
    path = "/v1/clients"
    tags = ["clients"]

    @get("", guards=[CLIENT_READERS], summary="List clients (a client viewer sees only its own)")
    async def list_clients(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        include_archived: FromQuery[bool] = False,
    ) -> schemas.ClientPage:
        return await service.list_clients(
            session, caller, limit=limit, cursor=cursor, include_archived=include_archived
        )

    @post("", guards=[WRITERS], status_code=HTTP_201_CREATED, summary="Onboard a client")
    async def create_client(
        self, session: Session, caller: Caller, data: JSONBody[schemas.ClientCreate]
    ) -> schemas.Client:
        zone = await tenancy.tenant_time_zone(session, caller)
        return await service.create_client(session, caller, data, zone)

    @get("/{client_id:uuid}", guards=[CLIENT_READERS], summary="Get a client")
    async def get_client(
        self, reads: Reads, caller: Caller, client_id: FromPath[uuid.UUID]
    ) -> schemas.Client:
        return await service.get_client(reads, caller, client_id)

    @patch("/{client_id:uuid}", guards=[WRITERS], summary="Change a client")
    async def update_client(
        self,
        session: Session,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ClientUpdate],
    ) -> schemas.Client:
        return await service.update_client(session, caller, client_id, data)

    @delete(
        "/{client_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete, or archive if in use",
    )
    async def delete_client(self, session: Session, caller: Caller, client_id: FromPath[uuid.UUID]) -> None:
        await service.delete_client(session, caller, client_id)

    @get("/{client_id:uuid}/services", guards=[CLIENT_READERS], summary="List a client's services")
    async def list_services(
        self,
        session: Session,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
    ) -> schemas.ServicePage:
        return await service.list_services(session, caller, client_id, limit=limit, cursor=cursor)

    @post(
        "/{client_id:uuid}/services", guards=[WRITERS], status_code=HTTP_201_CREATED, summary="Add a service"
    )
    async def create_service(
        self,
        session: Session,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ServiceCreate],
    ) -> schemas.Service:
        return await service.create_service(session, caller, client_id, data)


class ServiceController(Controller):
    path = "/v1/services"
    tags = ["clients"]

    @get("/{service_id:uuid}", guards=[CLIENT_READERS], summary="Get a service")
    async def get_service(
        self, session: Session, caller: Caller, service_id: FromPath[uuid.UUID]
    ) -> schemas.Service:
        return await service.get_service(session, caller, service_id)

    @patch("/{service_id:uuid}", guards=[WRITERS], summary="Change a service")
    async def update_service(
        self,
        session: Session,
        caller: Caller,
        service_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ServiceUpdate],
    ) -> schemas.Service:
        return await service.update_service(session, caller, service_id, data)

    @delete(
        "/{service_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete, or archive if in use",
    )
    async def delete_service(self, session: Session, caller: Caller, service_id: FromPath[uuid.UUID]) -> None:
        await service.delete_service(session, caller, service_id)


class ContractController(Controller):
    path = "/v1/contracts"
    tags = ["contracts"]

    @get("", guards=[CLIENT_READERS], summary="List contracts")
    async def list_contracts(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        client_id: FromQuery[uuid.UUID | None] = None,
        service_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[schemas.ContractStatus | None] = None,
    ) -> schemas.ContractPage:
        return await contracts.list_contracts(
            session,
            caller,
            limit=limit,
            cursor=cursor,
            client_id=client_id,
            service_id=service_id,
            status=status,
        )

    @post("", guards=[WRITERS], status_code=HTTP_201_CREATED, summary="Create a contract (starts as draft)")
    async def create_contract(
        self, session: Session, caller: Caller, data: JSONBody[schemas.ContractCreate]
    ) -> schemas.Contract:
        return await contracts.create_contract(session, caller, data)

    @get("/{contract_id:uuid}", guards=[CLIENT_READERS], summary="Get a contract")
    async def get_contract(
        self, reads: Reads, caller: Caller, contract_id: FromPath[uuid.UUID]
    ) -> schemas.Contract:
        return await contracts.get_contract(reads, caller, contract_id)

    @patch("/{contract_id:uuid}", guards=[WRITERS], summary="Change a contract")
    async def update_contract(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ContractUpdate],
    ) -> schemas.Contract:
        return await contracts.update_contract(session, caller, contract_id, data)

    @post(
        "/{contract_id:uuid}/transitions",
        guards=[WRITERS],
        status_code=HTTP_200_OK,
        summary="Move a contract through draft → active → suspended/ended",
    )
    async def transition(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.ContractTransition],
    ) -> schemas.Contract:
        today = await tenancy.tenant_today(session, caller)
        return await contracts.transition_contract(session, caller, contract_id, data.status, today)

    @get("/{contract_id:uuid}/sla-policies", guards=[CLIENT_READERS], summary="SLA objective versions")
    async def list_sla_policies(
        self, session: Session, caller: Caller, contract_id: FromPath[uuid.UUID]
    ) -> list[schemas.SlaPolicy]:
        return await contracts.list_sla_policies(session, caller, contract_id)

    @post(
        "/{contract_id:uuid}/sla-policies",
        guards=[WRITERS],
        status_code=HTTP_201_CREATED,
        summary="Add an SLA objective version in force from a date",
    )
    async def add_sla_policy(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.SlaPolicyCreate],
    ) -> schemas.SlaPolicy:
        today = await tenancy.tenant_today(session, caller)
        return await contracts.add_sla_policy(session, caller, contract_id, data, today)

    @put(
        "/{contract_id:uuid}/sla-policies/{sla_policy_id:uuid}",
        guards=[WRITERS],
        summary="Correct an SLA objective version in place",
        description=CORRECTION,
    )
    async def replace_sla_policy(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        sla_policy_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.SlaPolicyReplace],
    ) -> schemas.SlaPolicy:
        today = await tenancy.tenant_today(session, caller)
        return await versions.replace_sla_policy(session, caller, contract_id, sla_policy_id, data, today)

    @delete(
        "/{contract_id:uuid}/sla-policies/{sla_policy_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an SLA objective version (the one before it stays in force)",
        description=CORRECTION,
    )
    async def delete_sla_policy(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        sla_policy_id: FromPath[uuid.UUID],
    ) -> None:
        today = await tenancy.tenant_today(session, caller)
        await versions.delete_sla_policy(session, caller, contract_id, sla_policy_id, today)

    @get("/{contract_id:uuid}/rate-plans", guards=[CLIENT_READERS], summary="Rate plan versions")
    async def list_rate_plans(
        self, session: Session, caller: Caller, contract_id: FromPath[uuid.UUID]
    ) -> list[schemas.RatePlan]:
        return await contracts.list_rate_plans(session, caller, contract_id)

    @post(
        "/{contract_id:uuid}/rate-plans",
        guards=[WRITERS],
        status_code=HTTP_201_CREATED,
        summary="Add a rate plan version in force from a date",
    )
    async def add_rate_plan(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.RatePlanCreate],
    ) -> schemas.RatePlan:
        today = await tenancy.tenant_today(session, caller)
        return await contracts.add_rate_plan(session, caller, contract_id, data, today)

    @put(
        "/{contract_id:uuid}/rate-plans/{rate_plan_id:uuid}",
        guards=[WRITERS],
        summary="Correct a rate plan version in place",
        description=CORRECTION,
    )
    async def replace_rate_plan(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        rate_plan_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.RatePlanReplace],
    ) -> schemas.RatePlan:
        today = await tenancy.tenant_today(session, caller)
        return await versions.replace_rate_plan(session, caller, contract_id, rate_plan_id, data, today)

    @delete(
        "/{contract_id:uuid}/rate-plans/{rate_plan_id:uuid}",
        guards=[WRITERS],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a rate plan version (the one before it stays in force)",
        description=CORRECTION,
    )
    async def delete_rate_plan(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        rate_plan_id: FromPath[uuid.UUID],
    ) -> None:
        today = await tenancy.tenant_today(session, caller)
        await versions.delete_rate_plan(session, caller, contract_id, rate_plan_id, today)


ROUTES: list[ControllerRouterHandler] = [
    SiteController,
    CalendarController,
    ClientController,
    ServiceController,
    ContractController,
]
