"""SLA alerts in the browser, for the operator's people only: the alerts still to handle (or those resolved,
or those assigned to me), newest first, each with its timeline and the buttons that act on it —
acknowledge, assign to a supervisor, resolve with a note — through the same service as the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core import i18n
from bpo.core.errors import Conflict, Forbidden, Invalid, NotFound
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Cursor, Session
from bpo.core.i18n import N_, Lang
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.scope import OPERATOR_ROLES, Role, Scope
from bpo.sla import alert_handling, schemas
from bpo.sla.wording import objective_label
from bpo.tenancy import service as tenancy
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import PREFIX, check_csrf, csrf_binding

PATH = f"{PREFIX}/alerts"
Show = Literal["open", "mine", "resolved", "all"]
SHOWN: dict[Show, str] = {
    "open": N_("Still open"),
    "mine": N_("Assigned to me"),
    "resolved": N_("Resolved"),
    "all": N_("All"),
}
KINDS = {
    "at_risk": N_("At risk"),
    "breached": N_("Breached"),
    "daily_below_target": N_("Day below target"),
}
STATES = {
    "open": N_("Open"),
    "acknowledged": N_("Seen"),
    "assigned": N_("Assigned"),
    "resolved": N_("Resolved"),
}
STEPS = {
    "raised": N_("Alert raised"),
    "acknowledged": N_("Acknowledged by %(who)s"),
    "assigned": N_("Assigned to %(whom)s by %(who)s"),
    "resolved": N_("Resolved by %(who)s"),
}
DONE = {
    "acknowledge": N_("The alert is acknowledged."),
    "assign": N_("The alert is assigned."),
    "resolve": N_("The alert is resolved."),
}
CONFLICTS = {
    "alert-resolved": N_("Someone has resolved this alert already."),
    "alert-already-acknowledged": N_("Someone has acknowledged this alert already."),
    "alert-already-assigned": N_("The alert is assigned to that person already."),
}
NOTE_NEEDED = N_("Write what was found and done.")
NOTE_TOO_LONG = N_("Keep the note under 2,000 characters.")
CHOOSE_SUPERVISOR = N_("Choose a supervisor.")
MAX_NOTE = 2000


class AlertForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""
    assignee_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class Objective:
    """What ``objective_label`` names an alert's objective by."""

    key: str
    metric: str
    threshold: str | None


@dataclass(frozen=True)
class Step:
    text: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class AlertView:
    alert: schemas.Alert
    kind: str
    state: str
    objective: str
    contract: str
    client: str
    time_zone: str
    external_id: str | None
    day: date | None
    due_at: datetime | None
    steps: list[Step]
    error: str | None = None


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _steps(handling: schemas.AlertHandling, lang: Lang) -> list[Step]:
    someone = lang.gettext("someone")
    return [
        Step(
            text=lang.gettext(
                STEPS[step.action], who=step.actor_name or someone, whom=step.assignee_name or someone
            ),
            at=step.at,
            note=step.note,
        )
        for step in handling.timeline
    ]


async def _views(
    session: AsyncSession,
    caller: Scope,
    alerts: list[schemas.Alert],
    lang: Lang,
    errors: dict[uuid.UUID, str] | None = None,
) -> list[AlertView]:
    clients_seen: dict[uuid.UUID, Any] = {}
    views = []
    for alert in alerts:
        if alert.client_id not in clients_seen:
            clients_seen[alert.client_id] = await clients.get_client_row(session, caller, alert.client_id)
        client = clients_seen[alert.client_id]
        detail = alert.detail
        item = detail.get("work_item") if isinstance(detail.get("work_item"), dict) else {}
        measured = Objective(alert.objective, str(detail.get("metric", "")), detail.get("threshold"))
        assert alert.handling is not None
        views.append(
            AlertView(
                alert=alert,
                kind=lang.gettext(KINDS[alert.kind]),
                state=lang.gettext(STATES[alert.handling.state]),
                objective=objective_label(measured, lang),
                contract=str(detail.get("contract_code", "")),
                client=client.name,
                time_zone=client.time_zone,
                external_id=item.get("external_id") if item else None,
                day=alert.day,
                due_at=_instant(detail.get("due_at")),
                steps=_steps(alert.handling, lang),
                error=(errors or {}).get(alert.id),
            )
        )
    return views


def _only_operators(caller: Scope) -> None:
    if caller.role not in OPERATOR_ROLES:
        raise Forbidden("Only the operator's people handle alerts.")


class AlertPageController(Controller):
    path = "/alerts"

    async def _render(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        show: Show,
        cursor: str | None,
        *,
        errors: dict[uuid.UUID, str] | None = None,
        form: AlertForm | None = None,
        status: int = 200,
    ) -> Template:
        lang = i18n.lang(await reader_language(request, session, caller))
        states: tuple[schemas.AlertState, ...] = {
            "open": alert_handling.UNRESOLVED,
            "mine": (),
            "resolved": ("resolved",),
            "all": (),
        }[show]
        found = await alert_handling.list_alerts(
            session,
            caller,
            limit=DEFAULT_PAGE_SIZE,
            cursor=cursor,
            states=states,
            assignee_id=caller.user_id if show == "mine" else None,
            newest_first=True,
        )
        notice = DONE.get(request.query_params.get("done", ""))
        context = {
            "alerts": await _views(session, caller, found.items, lang, errors),
            "supervisors": await alert_handling.supervisors(session, caller),
            "show": show,
            "SHOWN": {
                key: label for key, label in SHOWN.items() if key != "mine" or caller.role is Role.SUPERVISOR
            },
            "notice": lang.gettext(notice) if notice else None,
            "error": next(iter((errors or {}).values()), None),
            "form": form or AlertForm(),
            "next_cursor": found.next_cursor,
            "first_page": cursor is None,
            "query": urlencode({"show": show}),
            "time_zone": await tenancy.tenant_time_zone(session, caller),
        }
        return page(request, "alerts.html", context, caller=caller, status=status)

    @get("", summary="SLA alerts to handle, newest first (the operator's people only)")
    async def listing(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        show: FromQuery[Show] = "open",
        cursor: Cursor = None,
    ) -> Template:
        _only_operators(caller)
        return await self._render(request, session, caller, show, cursor)

    @post("/{alert_id:str}/{action:str}", summary="Acknowledge, assign or resolve an alert", status_code=303)
    async def act(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        alert_id: FromPath[str],
        action: FromPath[str],
        data: URLEncodedBody[AlertForm],
        show: FromQuery[Show] = "open",
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        _only_operators(caller)
        identifier = parse_uuid(alert_id, "Alert")
        lang = i18n.lang(await reader_language(request, session, caller))
        note = data.note.strip()
        problem: str | None = None
        try:
            if action == "acknowledge":
                await alert_handling.acknowledge(session, caller, identifier)
            elif action == "assign":
                assignee = _uuid_or_none(data.assignee_id)
                if assignee is None:
                    problem = CHOOSE_SUPERVISOR
                elif len(note) > MAX_NOTE:
                    problem = NOTE_TOO_LONG
                else:
                    assignment = schemas.AlertAssign(assignee_id=assignee, note=note or None)
                    await alert_handling.assign(session, caller, identifier, assignment)
            elif action == "resolve":
                if not note:
                    problem = NOTE_NEEDED
                elif len(note) > MAX_NOTE:
                    problem = NOTE_TOO_LONG
                else:
                    await alert_handling.resolve(session, caller, identifier, schemas.AlertResolve(note=note))
            else:
                raise NotFound(f"No alert action {action!r}.")
        except Invalid:
            problem = CHOOSE_SUPERVISOR
        except Conflict as exc:
            message = lang.gettext(CONFLICTS.get(exc.slug, CONFLICTS["alert-resolved"]))
            return await self._render(
                request, session, caller, show, None, errors={identifier: message}, status=409
            )
        if problem is not None:
            # The alert must be one the caller may act on before its form is shown again.
            await alert_handling.get_alert(session, caller, identifier)
            errors = {identifier: lang.gettext(problem)}
            return await self._render(
                request, session, caller, show, None, errors=errors, form=data, status=422
            )
        return Redirect(PATH, status_code=303, query_params={"show": show, "done": action})


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


# Under /dashboard beside the other pages, with the same session, headers and error pages.
ALERT_PAGES = page_router([AlertPageController])
