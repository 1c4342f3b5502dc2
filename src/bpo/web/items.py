"""The items behind the dashboard's figures: a client's items of a period (breached ones of an objective,
met ones, or all received), a page at a time with the API's keyset cursor, and one item with its timeline
and its result per objective. The same search and measurement as ``GET /v1/work-items``, so the page and
the API list the same items; results are measured now, the dashboard's counts at their last refresh (at
most a minute or so earlier)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from bpo.clients import service as clients
from bpo.core import charts, i18n
from bpo.core.errors import Invalid, field_error
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Cursor, Session, date_errors
from bpo.core.i18n import N_, Lang
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.sla import items, schemas
from bpo.sla.rollups import day_bounds
from bpo.sla.wording import METRICS, duration
from bpo.web.pages import page, page_router, reader_language
from bpo.work import search

RESULTS = {
    "met": N_("Met"),
    "breached": N_("Breached"),
    "pending": N_("Pending"),
    "at_risk": N_("At risk"),
}
EVENTS = {
    "received": N_("Received"),
    "started": N_("Work started"),
    "first_response": N_("First response"),
    "handled": N_("Work finished"),
    "resolved": N_("Resolved"),
}
CLOCK_WORDS = {"business_hours": N_("business time"), "calendar": N_("calendar time")}
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class ResultView:
    result: schemas.ObjectiveResult
    label: str
    status: str
    elapsed: str
    clock: str


@dataclass(frozen=True)
class ItemRow:
    item: schemas.FoundItem
    results: list[ResultView]


def objective_words(metric: str, threshold: str, key: str, lang: Lang) -> str:
    name = METRICS.get(metric)
    label = lang.gettext(name) if name else metric.replace("_", " ").capitalize()
    label = lang.gettext(
        "%(metric)s within %(threshold)s", metric=label, threshold=charts.span(threshold, lang)
    )
    _, _, scope_filter = key.partition("|")
    return f"{label} ({scope_filter.replace('|', ', ')})" if scope_filter else label


def result_view(result: schemas.ObjectiveResult, lang: Lang) -> ResultView:
    return ResultView(
        result=result,
        label=objective_words(result.metric, result.threshold, result.objective, lang),
        status=lang.gettext(RESULTS[result.status]),
        elapsed=duration(result.elapsed_seconds * 1000, lang),
        clock=lang.gettext(CLOCK_WORDS.get(result.clock, result.clock)),
    )


def _shown(statuses: tuple[schemas.ItemStatus, ...]) -> list[schemas.ItemStatus]:
    """The statuses a heading names: the dashboard's "pending" counts pending and at-risk items."""
    return ["pending"] if set(statuses) == {"pending", "at_risk"} else list(statuses)


def _period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    errors = date_errors(("query.start", start), ("query.end", end))
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if not errors and start > end:
        errors.append(field_error("query.end", "must not be before start"))
    if not errors and end - start > items.MAX_STATUS_SPAN:
        errors.append(field_error("query.end", f"at most {items.MAX_STATUS_SPAN.days} days after start"))
    if errors:
        raise Invalid("The period is not valid.", errors=errors)
    return start, end


class WorkItemPageController(Controller):
    path = "/"

    @get(
        "/clients/{client_id:str}/items",
        summary="A client's items of a period: all received, or those of one objective's status",
    )
    async def client_items(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        client_id: FromPath[str],
        contract: FromQuery[uuid.UUID | None] = None,
        objective: FromQuery[str | None] = None,
        status: FromQuery[list[schemas.ItemStatus] | None] = None,
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
        cursor: Cursor = None,
    ) -> Template:
        language = await reader_language(request, session, caller)
        lang = i18n.lang(language)
        client = await clients.get_client_row(session, caller, parse_uuid(client_id, "Client"))
        zone = ZoneInfo(client.time_zone)
        now = datetime.now(zone)
        first, last = _period(start, end, now.date())
        lower, upper = day_bounds(first, last, zone)
        filters = search.Filters(
            contracts=(contract,) if contract else (),
            received_from=lower,
            received_to=upper,
            client_id=client.id,
        )
        wanted = items.parse_status(filters, objective, status, now)
        prepared = await items.prepare(session, caller, filters, wanted, now)
        found = await prepared.page(session, caller, limit=DEFAULT_PAGE_SIZE, cursor=cursor)
        rows = [
            ItemRow(
                item=item,
                results=[
                    result_view(r, lang) for r in item.sla if objective is None or r.objective == objective
                ],
            )
            for item in found.items
        ]
        query: dict[str, str | list[str]] = {"start": first.isoformat(), "end": last.isoformat()}
        if contract:
            query["contract"] = str(contract)
        if wanted:
            query.update(objective=wanted.objective, status=list(wanted.statuses))
        contract_row = prepared.measured[contract].contract if contract else None
        heading = (
            " / ".join(lang.gettext(RESULTS[s]) for s in _shown(wanted.statuses))
            if wanted
            else lang.gettext("Received")
        )
        objective_label = None
        if wanted and contract_row is not None:
            labels = {r.result.objective: r.label for row in rows for r in row.results}
            objective_label = labels.get(wanted.objective)
        context = {
            "client": client,
            "contract": contract_row,
            "heading": heading,
            "objective": wanted.objective if wanted else None,
            "objective_label": objective_label,
            "status": wanted.statuses if wanted else None,
            "start": first,
            "end": last,
            "time_zone": client.time_zone,
            "rows": rows,
            "query": urlencode(query, doseq=True),
            "next_cursor": found.next_cursor,
            "first_page": cursor is None,
        }
        return page(request, "items.html", context, caller=caller)

    @get("/items/{item_id:str}", summary="One work item: its timeline and its result per objective")
    async def item_page(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        item_id: FromPath[str],
    ) -> Template:
        language = await reader_language(request, session, caller)
        lang = i18n.lang(language)
        detail = await items.get_item(session, caller, parse_uuid(item_id, "Work item"))
        client = await clients.get_client_row(session, caller, detail.client_id)
        context = {
            "item": detail,
            "client": client,
            "time_zone": client.time_zone,
            "events": [(lang.gettext(EVENTS[e.event]), e) for e in detail.timeline],
            "results": [result_view(r, lang) for r in detail.sla],
            "handle_time": _handle_time(detail, lang),
        }
        return page(request, "item.html", context, caller=caller)


def _handle_time(item: schemas.WorkItemDetail, lang: Lang) -> str | None:
    """How long handling the item took, when the client system said when it started and finished."""
    if item.started_at is None or item.handled_at is None or item.handled_at < item.started_at:
        return None
    return duration(round((item.handled_at - item.started_at).total_seconds() * 1000), lang)


# Under /dashboard, beside the other pages.
ITEM_PAGES = page_router([WorkItemPageController])
