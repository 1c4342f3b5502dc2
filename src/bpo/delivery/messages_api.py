from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED
from litestar.types import ControllerRouterHandler

from bpo.core.guards import ADMINS, OPERATORS
from bpo.core.http import Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.delivery import messages, schemas

KindFilter = Annotated[str | None, QueryParameter(min_length=1, max_length=64, description="e.g. mail.test")]
RecipientFilter = Annotated[
    str | None, QueryParameter(min_length=1, max_length=254, description="An address, in any case.")
]


class MessageController(Controller):
    path = "/v1/messages"
    tags = ["mail"]
    guards = [OPERATORS]

    @get("", summary="The delivery log of outgoing mail (oldest first)")
    async def list_messages(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        status: FromQuery[schemas.MessageStatus | None] = None,
        kind: KindFilter = None,
        recipient: RecipientFilter = None,
    ) -> schemas.MessagePage:
        return await messages.list_messages(
            session, caller, limit=limit, cursor=cursor, status=status, kind=kind, recipient=recipient
        )

    @get("/{message_id:uuid}", summary="One message: to whom, its status, attempts and last error")
    async def get_message(
        self, session: Session, caller: Caller, message_id: FromPath[uuid.UUID]
    ) -> schemas.Message:
        return await messages.get_message(session, caller, message_id)

    @post(
        "/{message_id:uuid}/retry",
        status_code=HTTP_202_ACCEPTED,
        summary="Send a failed message again (same content and attachments)",
    )
    async def retry_message(
        self, session: Session, caller: Caller, message_id: FromPath[uuid.UUID]
    ) -> schemas.Message:
        return await messages.retry(session, caller, message_id)

    @post(
        "/test",
        status_code=HTTP_202_ACCEPTED,
        guards=[ADMINS],
        summary="Queue a test mail to check the SMTP setup; follow it in the delivery log",
    )
    async def send_test(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: JSONBody[schemas.TestMessageRequest],
    ) -> schemas.Message:
        runtime: Runtime = request.app.state.runtime
        return await messages.queue_test_message(session, caller, data.to, runtime.settings)


ROUTES: list[ControllerRouterHandler] = [MessageController]
