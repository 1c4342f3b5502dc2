"""Supervisors' pages under ``/dashboard``: a contract's roster for a week (who works which shift, the
places still open and why the planner left them open, and once a shift has begun who clocked in, late or
not, and who is absent), planning and publishing that week, and the queue of time off and swaps waiting
for a decision, with open-shift claims that wait for a supervisor.

Operators only (admins, account managers, supervisors); everything goes through the staffing services with
the caller's scope, so these pages can do nothing the API would refuse. Times are on the client's clock.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.schemas import Contract
from bpo.core import i18n
from bpo.core.errors import Conflict, Forbidden, NotFound
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Session
from bpo.core.i18n import N_, Lang
from bpo.core.scope import OPERATOR_ROLES, Scope
from bpo.staffing import attendance, my_schedule, open_shifts, roster, schedule_runs, schemas, swaps
from bpo.staffing import service as staffing
from bpo.staffing import shifts as staffing_shifts
from bpo.staffing.attendance_schemas import ShiftAttendance
from bpo.staffing.open_shift_schemas import OpenShiftClaimStatus
from bpo.staffing.planning_schemas import ScheduleRun, ScheduleRunCreate, ScheduleRunStatus
from bpo.staffing.roster import BrokenRules
from bpo.staffing.selfservice_schemas import SwapRequest, SwapStatus
from bpo.staffing.timekeeping import AttendanceStatus
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import PREFIX, check_csrf, csrf_binding
from bpo.web.staff import CONFLICT_MESSAGE, RULES, UNKNOWN_RULE, week_of

ROSTER = f"{PREFIX}/roster"
APPROVALS = f"{PREFIX}/approvals"
# Shifts of one contract in one week: far fewer than this in any real roster.
MAX_SHIFTS = 500
NOTICES = {
    "planning": N_("Planning has started. This page follows it."),
    "published": N_("The week's shifts are published: the people on them see them now."),
    "nothing-to-publish": N_("There was nothing left to publish in this week."),
    "time-off-approved": N_("The time off is approved."),
    "time-off-rejected": N_("The time off is not approved."),
    "swap-approved": N_("The swap is approved: the shifts have changed hands."),
    "swap-rejected": N_("The swap is not approved."),
    "claim-approved": N_("The claim is approved: the shift is theirs now."),
    "claim-rejected": N_("The claim is declined."),
}
# What a decision form names, and the notice after it.
KINDS = {"time-off": "time-off", "swaps": "swap", "claims": "claim"}
# Why the planner left a place open, in words: the planning report's reasons, by how they begin.
NOBODY_FREE = N_("everyone who could work it is outside their hours or on time off")
NOBODY_FITS = N_("nobody has what the shift needs (skills, languages, place)")
ALL_ON_IT = N_("everyone available is already on it")
STOPPED_EARLY = N_("planning stopped before it was done: fill open places again")
ALL_BUSY = N_("everyone who could work it is on another shift, resting, or at their weekly hours")


def open_reason(reason: str) -> str:
    """The planning report's reason for an open place (``staffing.report``), as the words to show."""
    if reason.startswith("no ") and " available: " in reason:
        return NOBODY_FREE
    if reason.startswith("no "):
        return NOBODY_FITS
    if reason.startswith("only "):
        return ALL_ON_IT
    if "still free" in reason:
        return STOPPED_EARLY
    return ALL_BUSY


RUN_STATES = {
    ScheduleRunStatus.QUEUED: N_("Waiting to start"),
    ScheduleRunStatus.RUNNING: N_("Planning"),
    ScheduleRunStatus.SUCCEEDED: N_("Done"),
    ScheduleRunStatus.FAILED: N_("Failed"),
}


class CsrfForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""


class WeekForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""
    contract: str = ""
    week: str = ""


def _operator(caller: Scope) -> None:
    if caller.role not in OPERATOR_ROLES:
        raise Forbidden("These pages are for supervisors and account managers.")


def _rule_words(lang: Lang, code: str) -> str:
    words = RULES.get(code)
    return lang.gettext(words) if words is not None else lang.gettext(UNKNOWN_RULE, code=code)


@dataclass(frozen=True)
class PersonOnShift:
    name: str
    # On the client's clock; None without a clock-in.
    clocked_in: str | None
    late_minutes: int
    absent: bool
    # The shift is under way and they have not clocked in yet.
    waiting: bool


@dataclass(frozen=True)
class SlotView:
    shift: schemas.Shift
    starts: str
    ends: str
    overnight: bool
    people: list[PersonOnShift]
    missing: int
    # Why the last planning run left it open, in words; None when it did not look at this shift.
    reason: str | None
    # Whether it has started (or someone clocked in early), and whether it is still under way.
    begun: bool
    in_progress: bool
    # Who clocked in; None before the shift begins.
    present: int | None


@dataclass(frozen=True)
class DayView:
    day: date
    slots: list[SlotView]

    @property
    def required(self) -> int:
        return sum(s.shift.headcount for s in self.slots)

    @property
    def scheduled(self) -> int:
        return sum(min(s.shift.assigned, s.shift.headcount) for s in self.slots)

    @property
    def present(self) -> int | None:
        """Who clocked in to the day's shifts that have begun; None while none has."""
        begun = [s.present for s in self.slots if s.present is not None]
        return sum(begun) if begun else None


@dataclass(frozen=True)
class Totals:
    required: int
    scheduled: int
    open_places: int
    drafts: int
    # Over the shifts that have begun; None while none has.
    present: int | None
    late: int
    absent: int


def _person(name: str, record: ShiftAttendance | None, in_progress: bool) -> PersonOnShift:
    if record is None:
        return PersonOnShift(name, None, 0, absent=False, waiting=False)
    return PersonOnShift(
        name,
        record.clock_in.strftime("%H:%M") if record.clock_in is not None else None,
        record.late_minutes or 0,
        absent=record.status is AttendanceStatus.ABSENT,
        waiting=in_progress and record.clock_in is None,
    )


async def _contract_choices(session: AsyncSession, caller: Scope) -> list[Contract]:
    page_of = await contracts.list_contracts(session, caller, limit=200, cursor=None)
    # Every contract that may still have shifts: drafts being set up too, not the ended ones.
    return sorted(
        (c for c in page_of.items if c.status.value != "ended"), key=lambda c: (c.name.casefold(), c.code)
    )


async def _latest_run(
    session: AsyncSession, caller: Scope, contract_id: uuid.UUID, first: date, last: date
) -> ScheduleRun | None:
    """The newest planning run of this contract that covers the whole week."""
    runs = await schedule_runs.list_runs(session, caller, limit=50, cursor=None)
    for run in runs.items:
        if contract_id in run.contract_ids and run.from_ <= first and run.to >= last:
            return run
    return None


def _open_reasons(run: ScheduleRun | None, lang: Lang) -> dict[str, str]:
    if run is None or run.status is not ScheduleRunStatus.SUCCEEDED:
        return {}
    found: dict[str, str] = {}
    for gap in run.result.get("unfilled", []):
        found[str(gap.get("shift_id"))] = lang.gettext(open_reason(str(gap.get("reason") or "")))
    return found


async def _week_view(
    session: AsyncSession,
    caller: Scope,
    contract: Contract,
    first: date,
    run: ScheduleRun | None,
    lang: Lang,
    now: datetime,
) -> tuple[list[DayView], Totals, str]:
    zone_name = (await my_schedule.client_zones(session, caller, [contract.id]))[contract.id]
    zone = ZoneInfo(zone_name)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = start + timedelta(days=7)
    listed = await staffing_shifts.list_shifts(
        session,
        caller,
        limit=MAX_SHIFTS,
        cursor=None,
        contract_id=contract.id,
        start=start,
        end=end,
        zone=zone_name,
    )
    names = {person.id: person.display_name for person in await staffing.all_staff(session, caller)}
    reasons = _open_reasons(run, lang)
    records = await attendance.roster_attendance(session, caller, contract.id, start, end, zone, now)
    by_day: dict[date, list[SlotView]] = defaultdict(list)
    for shift in sorted(listed.items, key=lambda s: (s.start, s.end, s.id)):
        local_start, local_end = shift.start.astimezone(zone), shift.end.astimezone(zone)
        missing = max(shift.headcount - shift.assigned, 0)
        found = [records.get((shift.id, person)) for person in shift.staff_ids]
        clocked = sum(1 for record in found if record is not None and record.clock_in is not None)
        begun = shift.start <= now or clocked > 0
        in_progress = begun and now < shift.end
        people = [
            _person(names.get(person, "?"), record, in_progress)
            for person, record in zip(shift.staff_ids, found, strict=True)
        ]
        by_day[local_start.date()].append(
            SlotView(
                shift=shift,
                starts=local_start.strftime("%H:%M"),
                ends=local_end.strftime("%H:%M"),
                overnight=local_end.date() > local_start.date(),
                people=sorted(people, key=lambda p: p.name),
                missing=missing,
                reason=reasons.get(str(shift.id)) if missing else None,
                begun=begun,
                in_progress=in_progress,
                present=clocked if begun else None,
            )
        )
    days = [DayView(first + timedelta(days=n), by_day.get(first + timedelta(days=n), [])) for n in range(7)]
    slots = [slot for day in days for slot in day.slots]
    totals = Totals(
        required=sum(s.shift.headcount for s in slots),
        scheduled=sum(min(s.shift.assigned, s.shift.headcount) for s in slots),
        open_places=sum(s.missing for s in slots),
        drafts=sum(1 for s in slots if s.shift.status is schemas.ShiftStatus.DRAFT),
        present=sum(s.present or 0 for s in slots) if any(s.begun for s in slots) else None,
        late=sum(1 for s in slots for p in s.people if p.late_minutes),
        absent=sum(1 for s in slots for p in s.people if p.absent),
    )
    return days, totals, zone_name


class SupervisorPagesController(Controller):
    path = ""

    @get("/roster", summary="A contract's roster for a week: who works when, open places and why")
    async def roster(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        contract: FromQuery[str | None] = None,
        week: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await self._roster_page(request, session, caller, contract, week, done)

    async def _roster_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        contract_text: str | None,
        week_text: str | None,
        done: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        lang = i18n.lang(await reader_language(request, session, caller))
        _operator(caller)
        choices = await _contract_choices(session, caller)
        chosen = None
        if contract_text:
            wanted = parse_uuid(contract_text, "Contract")
            chosen = next((c for c in choices if c.id == wanted), None)
            if chosen is None:
                raise NotFound(f"Contract {contract_text} not found.")
        elif choices:
            chosen = choices[0]
        context: dict[str, Any] = {
            "contracts": choices,
            "contract": chosen,
            "notice": lang.gettext(NOTICES[done]) if done in NOTICES else None,
            "error": error,
            "run_states": RUN_STATES,
        }
        if chosen is not None:
            zone = (await my_schedule.client_zones(session, caller, [chosen.id]))[chosen.id]
            first = week_of(week_text, datetime.now(ZoneInfo(zone)).date())
            last = first + timedelta(days=6)
            run = await _latest_run(session, caller, chosen.id, first, last)
            days, totals, zone_name = await _week_view(
                session, caller, chosen, first, run, lang, datetime.now(UTC)
            )
            context |= {
                "first": first,
                "last": last,
                "days": days,
                "totals": totals,
                "zone": zone_name,
                "run": run,
                "run_active": run is not None
                and run.status in (ScheduleRunStatus.QUEUED, ScheduleRunStatus.RUNNING),
                "previous": (first - timedelta(weeks=1)).isoformat(),
                "next": (first + timedelta(weeks=1)).isoformat(),
            }
        return page(request, "roster.html", context, caller=caller, status=status)

    @post(
        "/roster/plan", summary="Plan a contract's week (the planner fills the open places)", status_code=303
    )
    async def plan(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[WeekForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        _operator(caller)
        contract_id = parse_uuid(data.contract, "Contract")
        await contracts.get_contract_row(session, caller, contract_id)
        first = week_of(data.week, datetime.now(UTC).date())
        await schedule_runs.create_run(
            session,
            caller,
            ScheduleRunCreate(from_=first, to=first + timedelta(days=6), contract_ids=[contract_id]),
        )
        query = {"contract": str(contract_id), "week": first.isoformat(), "done": "planning"}
        return Redirect(ROSTER, status_code=303, query_params=query)

    @post(
        "/roster/publish",
        summary="Publish a contract's week: the people on its shifts see them",
        status_code=303,
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[WeekForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        _operator(caller)
        contract_id = parse_uuid(data.contract, "Contract")
        first = week_of(data.week, datetime.now(UTC).date())
        result = await staffing_shifts.publish_shifts(
            session,
            caller,
            schemas.PublishRequest(contract_id=contract_id, from_=first, to=first + timedelta(days=6)),
        )
        done = "published" if result.published else "nothing-to-publish"
        query = {"contract": str(contract_id), "week": first.isoformat(), "done": done}
        return Redirect(ROSTER, status_code=303, query_params=query)

    # --- approvals ---

    @get("/approvals", summary="Time off, shift swaps and open-shift claims waiting for a supervisor")
    async def approvals(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await self._approvals_page(request, session, caller, done)

    async def _approvals_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        done: str | None = None,
        problems: Sequence[str] = (),
        status: int = 200,
    ) -> Template:
        lang = i18n.lang(await reader_language(request, session, caller))
        _operator(caller)
        people = {person.id: person for person in await staffing.all_staff(session, caller)}
        time_off = await staffing.list_time_off(
            session, caller, limit=200, cursor=None, status=schemas.TimeOffStatus.REQUESTED
        )
        waiting = await swaps.list_swaps(session, caller, limit=200, cursor=None, status=SwapStatus.ACCEPTED)
        claims = await open_shifts.list_claims(
            session, caller, limit=200, cursor=None, status=OpenShiftClaimStatus.PENDING
        )
        labels = await contracts.contract_names(
            session,
            caller,
            {s.contract_id for swap in waiting.items for s in _swap_shifts(swap)}
            | {claim.contract_id for claim in claims.items},
        )
        # Whole days on the person's clock: the end is the midnight after the last day.
        days_off = []
        for item in time_off.items:
            zone = ZoneInfo(people[item.staff_id].home_zone) if item.staff_id in people else ZoneInfo("UTC")
            last = (item.end.astimezone(zone) - timedelta(microseconds=1)).date()
            days_off.append((item, item.start.astimezone(zone).date(), last))
        context = {
            "people": people,
            "time_off": days_off,
            "swaps": waiting.items,
            "claims": claims.items,
            "labels": labels,
            "notice": lang.gettext(NOTICES[done]) if done in NOTICES else None,
            "problems": list(problems),
        }
        return page(request, "approvals.html", context, caller=caller, status=status)

    @post(
        "/approvals/{kind:str}/{item_id:str}/{decision:str}",
        summary="Approve or decline time off, a swap or an open-shift claim",
        status_code=303,
    )
    async def decide(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        kind: FromPath[str],
        item_id: FromPath[str],
        decision: FromPath[str],
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        check_csrf(request, data.csrf_token, session=csrf_binding(request))
        _operator(caller)
        if kind not in KINDS or decision not in ("approve", "reject"):
            raise NotFound("No such decision.")
        identifier = parse_uuid(item_id, "Request")
        lang = i18n.lang(await reader_language(request, session, caller))
        try:
            if kind == "time-off":
                target = (
                    schemas.TimeOffStatus.APPROVED
                    if decision == "approve"
                    else schemas.TimeOffStatus.REJECTED
                )
                await roster.decide_time_off(session, caller, identifier, target)
            elif kind == "claims":
                if decision == "approve":
                    await open_shifts.approve(session, caller, identifier)
                else:
                    await open_shifts.decline(session, caller, identifier)
            elif decision == "approve":
                await swaps.approve(session, caller, identifier)
            else:
                await swaps.reject(session, caller, identifier)
        except BrokenRules as exc:
            # Refused before anything was written: the page shows why, in words.
            problems = [_rule_words(lang, v.code) for v in exc.violations]
            return await self._approvals_page(request, session, caller, problems=problems, status=409)
        except Conflict:
            problems = [lang.gettext(CONFLICT_MESSAGE)]
            return await self._approvals_page(request, session, caller, problems=problems, status=409)
        noun = KINDS[kind]
        verdict = "approved" if decision == "approve" else "rejected"
        return Redirect(APPROVALS, status_code=303, query_params={"done": f"{noun}-{verdict}"})


def _swap_shifts(swap: SwapRequest) -> list[Any]:
    return [s for s in (swap.shift, swap.counterpart_shift) if s is not None]


SUPERVISOR_PAGES = page_router([SupervisorPagesController])
