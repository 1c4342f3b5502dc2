from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from bpo.core.guards import OPERATORS, SIGNED_IN, WORKFORCE
from bpo.core.http import INSTANT, Caller, Cursor, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.work import search
from bpo.work.voices import listing, schemas, service, summary

Contracts = Annotated[
    list[uuid.UUID] | None,
    QueryParameter(
        max_items=search.MAX_CONTRACTS,
        description=f"Contract ids (repeat for several, at most {search.MAX_CONTRACTS}); any of them.",
    ),
]
Categories = Annotated[
    list[Annotated[str, QueryParameter(max_length=64)]] | None,
    QueryParameter(
        max_items=listing.MAX_CATEGORIES,
        description=f"Category keys (repeat for several, at most {listing.MAX_CATEGORIES}); any of them.",
    ),
]
Tags = Annotated[
    list[Annotated[str, QueryParameter(max_length=64)]] | None,
    QueryParameter(
        max_items=search.MAX_TAGS,
        description=f"Tags (repeat for several, at most {search.MAX_TAGS}); all of them.",
    ),
]
Instant = Annotated[str | None, QueryParameter(**INSTANT)]
Label = Annotated[str | None, QueryParameter(max_length=64)]
Text = Annotated[
    str | None,
    QueryParameter(
        max_length=search.MAX_QUERY,
        description=(
            f"Words to find in the voice's text, Japanese or English, each at least {search.MIN_TERM} "
            "characters; all of them must appear."
        ),
    ),
]

LIST_DESCRIPTION = (
    "Newest first (observed_at, then id), a page at a time with next_cursor. Filters narrow together; "
    "contract, category and tag repeat. A contract or client that is not the caller's answers 404, as a "
    "missing one; a client viewer sees its own client's voices only."
)


class VoiceController(Controller):
    path = "/v1/voices"
    tags = ["voices"]

    @get("", guards=[SIGNED_IN], summary="Find voices", description=LIST_DESCRIPTION)
    async def list_voices(
        self,
        session: Session,
        caller: Caller,
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        contract: Contracts = None,
        client: FromQuery[uuid.UUID | None] = None,
        observed_from: Instant = None,
        observed_to: Instant = None,
        category: Categories = None,
        sentiment: Label = None,
        highlighted: FromQuery[bool | None] = None,
        channel: Label = None,
        work_item: FromQuery[uuid.UUID | None] = None,
        tag: Tags = None,
        q: Text = None,
    ) -> schemas.VoicePage:
        filters = listing.parse_filters(
            contract=contract,
            client=client,
            observed_from=observed_from,
            observed_to=observed_to,
            category=category,
            sentiment=sentiment,
            highlighted=highlighted,
            channel=channel,
            work_item=work_item,
            tag=tag,
            q=q,
        )
        return await listing.find(session, caller, filters, limit=limit, cursor=cursor)

    @post(
        "",
        guards=[WORKFORCE],
        status_code=HTTP_201_CREATED,
        summary="Quote a user's post or message on a contract, or on one of its work items",
        description=(
            "Name the contract, or the work item it came with (one voice per item: 409 for a second). The "
            "category must be one of the contract's (GET /v1/contracts/{id}/voice-categories)."
        ),
    )
    async def create_voice(
        self, session: Session, caller: Caller, data: JSONBody[schemas.VoiceCreate]
    ) -> schemas.Voice:
        return await service.create_voice(session, caller, data)

    @get("/{voice_id:uuid}", guards=[SIGNED_IN], summary="One voice")
    async def get_voice(
        self, session: Session, caller: Caller, voice_id: FromPath[uuid.UUID]
    ) -> schemas.Voice:
        return await service.get_voice(session, caller, voice_id)

    @patch(
        "/{voice_id:uuid}",
        guards=[WORKFORCE],
        summary="Curate a voice: category, sentiment, tags, highlight (only the fields given)",
    )
    async def update_voice(
        self,
        session: Session,
        caller: Caller,
        voice_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.VoiceUpdate],
    ) -> schemas.Voice:
        return await service.update_voice(session, caller, voice_id, data)

    @delete("/{voice_id:uuid}", guards=[WORKFORCE], status_code=HTTP_204_NO_CONTENT, summary="Delete a voice")
    async def delete_voice(self, session: Session, caller: Caller, voice_id: FromPath[uuid.UUID]) -> None:
        await service.delete_voice(session, caller, voice_id)


class VoiceCategoryController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/voice-categories"
    tags = ["voices"]

    @get("", guards=[SIGNED_IN], summary="A contract's voice categories (its own list, or the default one)")
    async def get_categories(
        self, session: Session, caller: Caller, contract_id: FromPath[uuid.UUID]
    ) -> schemas.VoiceCategories:
        return await service.get_categories(session, caller, contract_id)

    @put(
        "",
        guards=[OPERATORS],
        summary="Set a contract's voice categories (null: the default list)",
        description=(
            "The whole list, in the order people read it; keys are unique. A category that voices still "
            "have cannot be left out: 409 voice-category-in-use, naming each."
        ),
    )
    async def set_categories(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[schemas.VoiceCategoriesUpdate],
    ) -> schemas.VoiceCategories:
        return await service.set_categories(session, caller, contract_id, data.categories)


class VoiceSummaryController(Controller):
    path = "/v1/clients/{client_id:uuid}/voices/summary"
    tags = ["voices"]

    @get(
        "",
        guards=[SIGNED_IN],
        summary="A client's voices over a period: per category and sentiment, per day, highlighted, rising",
        description=(
            "Days in the client's time zone; start and end are inclusive (default: the last "
            f"{summary.DEFAULT_DAYS} days), at most {summary.MAX_SPAN.days} days. Each contract named "
            "(repeat contract), or else each of the client's contracts with voices in the period or in the "
            "one of the same length before it, which the counts compare with: a category trends up with at "
            f"least {summary.MIN_CHANGE} more voices and {summary.CHANGE_SHARE:.0%} more than then."
        ),
    )
    async def voice_summary(
        self,
        session: Session,
        caller: Caller,
        client_id: FromPath[uuid.UUID],
        start: FromQuery[date | None] = None,
        end: FromQuery[date | None] = None,
        contract: Contracts = None,
    ) -> schemas.VoiceSummary:
        return await summary.client_summary(session, caller, client_id, start, end, contract or ())


ROUTES: list[ControllerRouterHandler] = [VoiceController, VoiceCategoryController, VoiceSummaryController]
