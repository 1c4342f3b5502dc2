"""A person's own notification preferences (``/v1/me/notification-preferences``) and the tenant's
notification settings (``/v1/notification-settings``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.params import JSONBody
from litestar.types import ControllerRouterHandler

from bpo.core.guards import ADMINS, OPERATORS, WORKFORCE
from bpo.core.http import Caller, Session
from bpo.core.runtime import Runtime
from bpo.notifications import schemas, service


class MyNotificationPreferencesController(Controller):
    path = "/v1/me/notification-preferences"
    tags = ["self-service"]
    guards = [WORKFORCE]

    @get("", summary="What you are told (by mail, per kind) and your own webhook")
    async def get_my_preferences(self, session: Session, caller: Caller) -> schemas.NotificationPreferences:
        return await service.my_preferences(session, caller)

    @put(
        "",
        summary="Change what you are told and how",
        description=(
            "Fields left out stay as they are. `mail` turns each kind on or off (all are on at first). "
            "`webhook.url` is your own receiver (a chat bridge): https, a public host; every batch of "
            "notices is posted there, signed like the tenant's webhooks (`BPO-Signature: t=…,v1=…`, "
            "HMAC-SHA256 of `<t>.<body>` with your `secret`), while `enabled`. The secret is made when a "
            "URL is first set; `rotate_secret` makes a new one."
        ),
    )
    async def put_my_preferences(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: JSONBody[schemas.NotificationPreferencesUpdate],
    ) -> schemas.NotificationPreferences:
        runtime: Runtime = request.app.state.runtime
        return await service.update_my_preferences(session, caller, data, runtime.settings)


class NotificationSettingsController(Controller):
    path = "/v1/notification-settings"
    tags = ["notifications"]

    @get("", guards=[OPERATORS], summary="The tenant's notification settings")
    async def get_notification_settings(
        self, session: Session, caller: Caller
    ) -> schemas.NotificationSettings:
        return await service.get_settings(session, caller)

    @put("", guards=[ADMINS], summary="Change the tenant's notification settings")
    async def put_notification_settings(
        self, session: Session, caller: Caller, data: JSONBody[schemas.NotificationSettingsUpdate]
    ) -> schemas.NotificationSettings:
        return await service.update_settings(session, caller, data)


ROUTES: list[ControllerRouterHandler] = [MyNotificationPreferencesController, NotificationSettingsController]
