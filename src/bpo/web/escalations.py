"""Escalations in the browser: the list (a client viewer's own client's, an operator's all) and one escalation
with its timeline, which a client viewer acknowledges with a button; and the page a mailed one-click link
opens, which shows the escalation and acknowledges it only when its button is pressed (a GET changes
nothing: mail scanners open links)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import service as clients
from bpo.core.errors import Conflict, Forbidden
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Cursor, Session
from bpo.core.i18n import Language
from bpo.core.jobs import outbox
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.reports.escalation_notices import EVENTS, SEVERITIES, STATES
from bpo.tenancy import service as tenancy
from bpo.web.pages import page, page_language, page_router, reader_language
from bpo.web.session import PREFIX, check_csrf, csrf_binding
from bpo.work import escalation_links, escalations
from bpo.work import escalations_schemas as schemas
from bpo.work.escalations_api import StateFilter

WORDS = {"SEVERITIES": SEVERITIES, "STATES": STATES, "EVENTS": EVENTS}


class AcknowledgeForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""


async def _time_zone(session: AsyncSession, caller: Scope, client_id: uuid.UUID | None) -> str:
    """A client's people read times on its clock; the operator's on its own."""
    if client_id is not None:
        return (await clients.get_client_row(session, caller, client_id)).time_zone
    return await tenancy.tenant_time_zone(session, caller)


class EscalationPageController(Controller):
    path = "/escalations"

    @get("", summary="Escalations, newest first: unsettled, or all")
    async def listing(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        state_filter: StateFilter = None,
        severity: FromQuery[schemas.Severity | None] = None,
        cursor: Cursor = None,
    ) -> Template:
        await reader_language(request, session, caller)
        filters = escalations.parse_filters(state=state_filter, severity=severity)
        state = filters.state
        found = await escalations.list_escalations(
            session, caller, filters, limit=DEFAULT_PAGE_SIZE, cursor=cursor
        )
        query = urlencode({k: v for k, v in (("state", state), ("severity", severity)) if v})
        context = {
            **WORDS,
            "escalations": found.items,
            "next_cursor": found.next_cursor,
            "first_page": cursor is None,
            "state": state,
            "severity": severity,
            "query": query,
            "time_zone": await _time_zone(session, caller, caller.client_id),
        }
        return page(request, "escalations.html", context, caller=caller)

    @get("/{escalation_id:str}", summary="One escalation with its timeline")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        escalation_id: FromPath[str],
        done: FromQuery[bool] = False,
    ) -> Template:
        await reader_language(request, session, caller)
        found = await escalations.get_escalation(session, caller, parse_uuid(escalation_id, "Escalation"))
        context = {
            **WORDS,
            "escalation": found,
            "may_acknowledge": caller.role is Role.CLIENT_VIEWER and found.state in escalations.UNSETTLED,
            "acknowledged_now": done and found.state == "acknowledged",
            "time_zone": await _time_zone(session, caller, found.client_id if caller.client_id else None),
        }
        return page(request, "escalation.html", context, caller=caller)

    @post("/{escalation_id:str}/acknowledge", summary="Acknowledge an escalation", status_code=303)
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        escalation_id: FromPath[str],
        data: URLEncodedBody[AcknowledgeForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        await reader_language(request, session, caller)
        found = parse_uuid(escalation_id, "Escalation")
        if caller.role is not Role.CLIENT_VIEWER:
            # Still a 404 for one the caller may not see.
            await escalations.get_escalation(session, caller, found)
            raise Forbidden("Only the client's people acknowledge an escalation.")
        try:
            await escalations.acknowledge(session, caller, found, datetime.now(UTC), via="dashboard")
        except Conflict:
            # Someone acknowledged it (or it was resolved) meanwhile: the page says so.
            return Redirect(f"{PREFIX}/escalations/{found}", status_code=303)
        return Redirect(f"{PREFIX}/escalations/{found}", status_code=303, query_params={"done": "true"})


class AcknowledgeLinkController(Controller):
    """Before sign-in: the page of a mailed one-click link (the token is the credential)."""

    path = "/acknowledge"

    def _page(
        self,
        request: Request[Any, Any, Any],
        token: str,
        outcome: escalation_links.LinkOutcome | None,
        *,
        used: bool = False,
    ) -> Template:
        context = {
            **WORDS,
            "token": token,
            "outcome": outcome,
            "used": used,
            "lang_query": page_language(request),
        }
        return page(request, "acknowledge.html", context, status=200 if outcome else 404)

    @get("/{token:str}", summary="The escalation a mailed link is for, with a button to acknowledge it")
    async def show(
        self, request: Request[Any, Any, Any], token: FromPath[str], lang: FromQuery[Language | None] = None
    ) -> Template:
        # The language of the mail the link came in.
        if lang is not None:
            request.state.language = lang
        runtime: Runtime = request.app.state.runtime
        tenant_id = escalation_links.link_tenant(token)
        outcome = None
        if tenant_id is not None:
            async with runtime.db.tenant(tenant_id) as session:
                outcome = await escalation_links.read_link(session, tenant_id, token, datetime.now(UTC))
        return self._page(request, token, outcome)

    @post("/{token:str}", summary="Acknowledge an escalation through a mailed link", status_code=200)
    async def use(
        self,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        data: URLEncodedBody[AcknowledgeForm],
        lang: FromQuery[Language | None] = None,
    ) -> Template:
        if lang is not None:
            request.state.language = lang
        check_csrf(request, data.csrf_token, session="")
        runtime: Runtime = request.app.state.runtime
        tenant_id = escalation_links.link_tenant(token)
        outcome = None
        if tenant_id is not None:
            async with runtime.db.tenant(tenant_id) as session:
                outbox.relay_on_commit(session, runtime.relay)
                outcome = await escalation_links.acknowledge_by_link(
                    session, tenant_id, token, datetime.now(UTC)
                )
        return self._page(request, token, outcome, used=True)


ESCALATION_PAGES = page_router([EscalationPageController, AcknowledgeLinkController])
