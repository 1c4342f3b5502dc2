"""A person's notification settings page (``/dashboard/account/notifications``): which kinds of notice
they get by mail, and their own webhook (a chat bridge) with its signing secret.

Any signed-in member of the operator's workforce reaches it (staff, and supervisors who hear of claims
and lateness); it reads and writes only the caller's own preferences. A refused webhook address
re-renders the form with what is wrong (422) and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.core import i18n
from bpo.core.errors import Forbidden, Invalid
from bpo.core.http import Caller, Session
from bpo.core.i18n import N_
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.notifications import schemas, service
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import PREFIX, check_csrf, csrf_binding, person_scope

PATH = f"{PREFIX}/account/notifications"
WORKFORCE_ROLES = frozenset({Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPERVISOR, Role.STAFF})
STAFF_KINDS = (
    schemas.NoticeKind.SHIFTS,
    schemas.NoticeKind.SWAPS,
    schemas.NoticeKind.TIME_OFF,
    schemas.NoticeKind.OPEN_SHIFTS,
)
SUPERVISOR_KINDS = (schemas.NoticeKind.OPEN_SHIFTS, schemas.NoticeKind.LATENESS)
KIND_LABELS = {
    schemas.NoticeKind.SHIFTS: N_("My shifts: published, added, changed or cancelled"),
    schemas.NoticeKind.SWAPS: N_("My shift swaps: decided"),
    schemas.NoticeKind.TIME_OFF: N_("My time off: decided"),
    schemas.NoticeKind.OPEN_SHIFTS: N_("Open shifts: my claims decided, and claims waiting for my approval"),
    schemas.NoticeKind.LATENESS: N_(
        "Someone has not clocked in %(minutes)s minutes after their shift started"
    ),
}
DELIVERY_STATES = {
    "pending": N_("Not delivered yet; trying again"),
    "succeeded": N_("Delivered"),
    "failed": N_("Not delivered; no more tries"),
}
NOTICES = {
    "saved": N_("Your notification settings are saved."),
    "rotated": N_("A new secret is made; the old one no longer signs."),
}
URL_REFUSED = N_("This address cannot be used: %(reason)s")
URL_NEEDED = N_("Give the address of your webhook to turn it on.")


@dataclass(frozen=True)
class KindChoice:
    key: str
    label: str
    on: bool


async def workforce_scope(request: Request[Any, Any, Any]) -> Scope:
    scope = await person_scope(request)
    if scope.role not in WORKFORCE_ROLES:
        raise Forbidden("Notifications are for the operator's people.")
    return scope


def _kinds(caller: Scope) -> list[schemas.NoticeKind]:
    wanted: list[schemas.NoticeKind] = []
    if caller.staff_id is not None or caller.role is Role.STAFF:
        wanted += STAFF_KINDS
    if caller.role is Role.SUPERVISOR:
        wanted += [kind for kind in SUPERVISOR_KINDS if kind not in wanted]
    return wanted or list(schemas.NoticeKind)


class NotificationPagesController(Controller):
    path = "/account/notifications"
    dependencies = {"caller": Provide(workforce_scope)}

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        *,
        submitted: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        lang = i18n.lang(await reader_language(request, session, caller))
        current = await service.my_preferences(session, caller)
        minutes = await service.late_after_minutes(session, caller)
        choices = [
            KindChoice(
                kind.value,
                lang.gettext(KIND_LABELS[kind], minutes=minutes),
                (submitted.get(f"mail_{kind.value}") == "on")
                if submitted is not None
                else getattr(current.mail, kind.value),
            )
            for kind in _kinds(caller)
        ]
        delivery = current.webhook.last_delivery
        context = {
            "section": "notifications",
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "choices": choices,
            "email": current.email,
            "webhook": current.webhook,
            "webhook_url": submitted.get("webhook_url", "")
            if submitted is not None
            else current.webhook.url or "",
            "webhook_enabled": (
                submitted.get("webhook_enabled") == "on" if submitted is not None else current.webhook.enabled
            ),
            "delivery": delivery,
            "delivery_state": lang.gettext(DELIVERY_STATES[delivery.status]) if delivery else None,
            "errors": errors or {},
        }
        return page(request, "my_notifications.html", context, caller=caller, status=status)

    @get("/", summary="What I am told, by mail and by my own webhook")
    async def notifications(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller
    ) -> Template:
        return await self._page(request, session, caller)

    @post("/", summary="Save what I am told and how", status_code=303)
    async def save(self, request: Request[Any, Any, Any], session: Session, caller: Caller) -> Response[Any]:
        submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        check_csrf(request, submitted.get("csrf_token", ""), session=csrf_binding(request))
        lang = i18n.lang(await reader_language(request, session, caller))
        rotate = submitted.get("action") == "rotate"
        url = submitted.get("webhook_url", "").strip()
        enabled = submitted.get("webhook_enabled") == "on"
        if enabled and not url:
            errors = {"webhook_url": lang.gettext(URL_NEEDED)}
            return await self._page(request, session, caller, submitted=submitted, errors=errors, status=422)
        runtime: Runtime = request.app.state.runtime
        try:
            update = msgspec.convert(
                {
                    "mail": {
                        kind.value: submitted.get(f"mail_{kind.value}") == "on" for kind in _kinds(caller)
                    },
                    "webhook": {"url": url or None, "enabled": enabled, "rotate_secret": rotate},
                },
                schemas.NotificationPreferencesUpdate,
            )
            await service.update_my_preferences(session, caller, update, runtime.settings)
        except (Invalid, msgspec.ValidationError) as exc:
            reason = (
                "; ".join(error["message"] for error in exc.errors) or exc.detail
                if isinstance(exc, Invalid)
                else str(exc)
            )
            errors = {"webhook_url": lang.gettext(URL_REFUSED, reason=reason)}
            return await self._page(request, session, caller, submitted=submitted, errors=errors, status=422)
        done = "rotated" if rotate else "saved"
        return Redirect(PATH, status_code=303, query_params={"done": done})


NOTIFICATION_PAGES = page_router([NotificationPagesController])
