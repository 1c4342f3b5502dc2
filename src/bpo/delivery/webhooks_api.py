from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.core.errors import NotFound
from bpo.core.guards import WRITERS
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.delivery import schemas, webhooks

ROTATE_SECRET = ":rotate-secret"
REPLAY = ":replay"


def _allow_local(request: Request[Any, Any, Any]) -> bool:
    runtime: Runtime = request.app.state.runtime
    return webhooks.local_receivers(runtime.settings)


def _action_target(ref: str, action: str, what: str) -> uuid.UUID:
    """``<uuid><action>`` (Google-style custom method) to the uuid; anything else is no resource."""
    try:
        if ref.endswith(action):
            return uuid.UUID(ref.removesuffix(action))
    except ValueError:
        pass
    raise NotFound(f"{what} {ref} not found.")


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["webhooks"]
    guards = [WRITERS]

    @get("", summary="List webhook endpoints")
    async def list_endpoints(
        self, session: Session, caller: Caller, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
    ) -> schemas.WebhookEndpointPage:
        return await webhooks.list_endpoints(session, caller, limit=limit, cursor=cursor)

    @post(
        "",
        status_code=HTTP_201_CREATED,
        summary="Create a webhook endpoint; its signing secret is in this response only",
        description=(
            "https URLs to a public host only. Refused: addresses on this machine, private, link-local, "
            "reserved and multicast addresses however written (`2130706433`, `0x7f.1`, "
            "`[::ffff:127.0.0.1]`), names that resolve to one, cloud metadata hosts, and names that only "
            "resolve inside a network. "
            "Outside production, receivers on this machine (`http://127.0.0.1`, `http://localhost`) are "
            "accepted. Every delivery attempt checks again, and connects to the address it checked."
        ),
    )
    async def create_endpoint(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: JSONBody[schemas.WebhookEndpointCreate],
    ) -> schemas.WebhookEndpointCreated:
        return await webhooks.create_endpoint(session, caller, data, allow_local=_allow_local(request))

    @get("/{endpoint_id:uuid}", summary="Get a webhook endpoint")
    async def get_endpoint(
        self, session: Session, caller: Caller, endpoint_id: FromPath[uuid.UUID]
    ) -> schemas.WebhookEndpoint:
        return await webhooks.get_endpoint(session, caller, endpoint_id)

    @patch("/{endpoint_id:uuid}", summary="Change a webhook endpoint (URL, events, client filter, enabled)")
    async def update_endpoint(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        endpoint_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.WebhookEndpointUpdate],
    ) -> schemas.WebhookEndpoint:
        return await webhooks.update_endpoint(
            session, caller, endpoint_id, data, allow_local=_allow_local(request)
        )

    @delete("/{endpoint_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Delete an endpoint and its log")
    async def delete_endpoint(
        self, session: Session, caller: Caller, endpoint_id: FromPath[uuid.UUID]
    ) -> None:
        await webhooks.delete_endpoint(session, caller, endpoint_id)

    @post(
        "/{endpoint_ref:str}",
        status_code=HTTP_200_OK,
        summary="`{id}:rotate-secret`: a new signing secret; the old one also signs for 24 h",
    )
    async def rotate_secret(
        self, session: Session, caller: Caller, endpoint_ref: FromPath[str]
    ) -> schemas.WebhookSecret:
        endpoint_id = _action_target(endpoint_ref, ROTATE_SECRET, "Webhook endpoint")
        return await webhooks.rotate_secret(session, caller, endpoint_id)

    @get("/{endpoint_id:uuid}/deliveries", summary="The endpoint's delivery log")
    async def list_deliveries(
        self,
        session: Session,
        caller: Caller,
        endpoint_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        status: FromQuery[schemas.DeliveryStatus | None] = None,
    ) -> schemas.WebhookDeliveryPage:
        return await webhooks.list_deliveries(
            session, caller, endpoint_id, limit=limit, cursor=cursor, status=status
        )


class WebhookDeliveryController(Controller):
    path = "/v1/webhook-deliveries"
    tags = ["webhooks"]
    guards = [WRITERS]

    @post(
        "/{delivery_ref:str}",
        status_code=HTTP_202_ACCEPTED,
        summary="`{id}:replay`: send the delivery's event again (same event id, a new attempt)",
    )
    async def replay_delivery(
        self, session: Session, caller: Caller, delivery_ref: FromPath[str]
    ) -> schemas.WebhookDelivery:
        delivery_id = _action_target(delivery_ref, REPLAY, "Webhook delivery")
        return await webhooks.replay(session, caller, delivery_id)


ROUTES: list[ControllerRouterHandler] = [WebhookEndpointController, WebhookDeliveryController]
