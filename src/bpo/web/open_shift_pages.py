"""A staff member's page of open shifts (``/dashboard/me/open-shifts``): published shifts still short of
people that they could work, each with a button to claim it, and their claims with what was decided.

Only shifts that pass every hard rule for the person are listed (the staffing service checks them); a
claim refused all the same (the roster changed meanwhile) says which rules in words and writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core import i18n
from bpo.core.errors import Conflict
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Session
from bpo.core.i18n import N_, Lang
from bpo.core.scope import Scope
from bpo.staffing import my_schedule, open_shifts, selfservice
from bpo.staffing.open_shift_schemas import OpenShift, OpenShiftClaim, OpenShiftClaimStatus
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import check_csrf, csrf_binding, person_scope
from bpo.web.staff import ME, CsrfForm, city, rule_sentence

CLAIM_STATUSES = {
    OpenShiftClaimStatus.PENDING: N_("Waiting for a supervisor"),
    OpenShiftClaimStatus.APPROVED: N_("Approved: the shift is yours"),
    OpenShiftClaimStatus.DECLINED: N_("Not approved"),
    OpenShiftClaimStatus.CANCELLED: N_("Withdrawn"),
}
NOTICES = {
    "claim-sent": N_("Your claim is sent. A supervisor will decide on it."),
    "claim-approved": N_("The shift is yours: it is in My shifts now."),
    "claim-cancelled": N_("Your claim is withdrawn."),
}
CLAIM_PENDING = N_("You have already claimed this shift. A supervisor will decide on it.")
CLAIM_CHANGED = N_("This could not be done as things stand now; the page shows the current state.")


@dataclass(frozen=True)
class OpenShiftView:
    shift: OpenShift
    day: date
    starts: str
    ends: str
    overnight: bool
    client_clock: str | None
    client_city: str | None


@dataclass(frozen=True)
class ClaimView:
    claim: OpenShiftClaim
    when: str
    status: str


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


async def _shift_views(
    session: AsyncSession, caller: Scope, items: list[OpenShift], lang: Lang
) -> list[OpenShiftView]:
    zones = await my_schedule.client_zones(session, caller, [item.contract_id for item in items])
    views = []
    for item in items:
        zone = ZoneInfo(zones[item.contract_id])
        there = item.start.astimezone(zone), item.end.astimezone(zone)
        differs = there[0].utcoffset() != item.start.utcoffset()
        views.append(
            OpenShiftView(
                shift=item,
                day=item.start.date(),
                starts=_clock(item.start),
                ends=_clock(item.end),
                overnight=item.end.date() > item.start.date(),
                client_clock=f"{_clock(there[0])}\N{EN DASH}{_clock(there[1])}" if differs else None,
                client_city=city(zone.key, lang) if differs else None,
            )
        )
    return views


async def _claim_views(
    session: AsyncSession, caller: Scope, claims: list[OpenShiftClaim], zone: str, lang: Lang
) -> list[ClaimView]:
    names = await contracts.contract_names(session, caller, {claim.contract_id for claim in claims})
    return [
        ClaimView(
            claim=claim,
            when=lang.gettext(
                "%(contract)s, %(start)s\N{EN DASH}%(end)s",
                contract=names.get(claim.contract_id, ""),
                start=lang.moment(claim.start, zone),
                end=_clock(claim.end.astimezone(ZoneInfo(zone))),
            ),
            status=lang.gettext(CLAIM_STATUSES[claim.status]),
        )
        for claim in claims
    ]


class MyOpenShiftPagesController(Controller):
    """Open shifts to claim, and one's claims; someone without a staff profile gets a not-found page."""

    path = "/me/open-shifts"
    dependencies = {"caller": Provide(person_scope)}

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        *,
        error: str | None = None,
        problems: list[str] | None = None,
        status: int = 200,
    ) -> Template:
        lang = i18n.lang(await reader_language(request, session, caller))
        me = await selfservice.staff_of(session, caller)
        listing = await open_shifts.eligible_open_shifts(session, caller)
        claims = await open_shifts.my_claims(session, caller, me, limit=20)
        context = {
            "section": "open-shifts",
            "notice": NOTICES.get(request.query_params.get("done", "")),
            "me": me,
            "zone_city": city(me.home_zone, lang),
            "shifts": await _shift_views(session, caller, listing.items, lang),
            "claims": await _claim_views(session, caller, claims, me.home_zone, lang),
            "error": error,
            "problems": problems or [],
            "now": datetime.now(UTC),
        }
        return page(request, "my_open_shifts.html", context, caller=caller, status=status)

    @get("/", summary="Open shifts I could work, and my claims")
    async def open_shifts_page(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller
    ) -> Template:
        return await self._page(request, session, caller)

    @post("/{shift_id:str}/claim", summary="Claim an open shift", status_code=303)
    async def claim(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        shift_id: FromPath[str],
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        lang = i18n.lang(await reader_language(request, session, caller))
        identifier = parse_uuid(shift_id, "Shift")
        try:
            made = await open_shifts.claim(session, caller, identifier)
        except open_shifts.ClaimBreaksRules as exc:
            you = lang.gettext("You")
            problems = [rule_sentence(broken, you, lang) for broken in exc.violations]
            return await self._page(request, session, caller, problems=problems, status=409)
        except Conflict as exc:
            message = CLAIM_PENDING if exc.slug == "claim-pending" else CLAIM_CHANGED
            return await self._page(request, session, caller, error=lang.gettext(message), status=409)
        done = "claim-approved" if made.status is OpenShiftClaimStatus.APPROVED else "claim-sent"
        return Redirect(f"{ME}/open-shifts", status_code=303, query_params={"done": done})

    @post("/claims/{claim_id:str}/cancel", summary="Withdraw my claim of an open shift", status_code=303)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        claim_id: FromPath[str],
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        identifier: uuid.UUID = parse_uuid(claim_id, "Open shift claim")
        try:
            await open_shifts.cancel(session, caller, identifier)
        except Conflict:
            lang = i18n.lang(await reader_language(request, session, caller))
            return await self._page(request, session, caller, error=lang.gettext(CLAIM_CHANGED), status=409)
        return Redirect(f"{ME}/open-shifts", status_code=303, query_params={"done": "claim-cancelled"})


OPEN_SHIFT_PAGES = page_router([MyOpenShiftPagesController])
