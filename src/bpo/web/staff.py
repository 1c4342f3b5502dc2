"""A staff member's own pages under ``/dashboard/me``: their shifts (a five-week list and a month calendar,
with their iCal link), time off, shift swaps, and their availability and preferred times.

Every page reads through the staffing services with the caller's scope and shows only the caller's own
data; colleagues appear by first name. Times are on the person's own clock (their home zone), with the
client's local time beside a shift when the two differ. Forms post back to the page they came from: a bad
entry re-renders the form with what is wrong (422) and writes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from babel.dates import get_timezone_location
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.clients.schemas import WindowSpec
from bpo.core import i18n
from bpo.core.errors import Conflict, Invalid, NotFound
from bpo.core.guards import parse_uuid
from bpo.core.http import Caller, Session
from bpo.core.i18n import N_, Lang
from bpo.core.scope import Scope
from bpo.staffing import attendance, availability, my_schedule, punches, schemas, selfservice, swaps
from bpo.staffing import service as staffing
from bpo.staffing.attendance_schemas import AttendanceEventKind, ShiftAttendance
from bpo.staffing.roster import Broken
from bpo.staffing.selfservice_schemas import (
    MyAvailabilityUpdate,
    MyShift,
    SwapRequest,
    SwapRequestCreate,
    SwapStatus,
)
from bpo.staffing.timekeeping import CLOCK_IN_OPENS, CLOCK_OUT_CLOSES
from bpo.web.account import ROUTES as ACCOUNT_ROUTES
from bpo.web.pages import page, page_router, reader_language
from bpo.web.session import PREFIX, check_csrf, csrf_binding, person_scope

ME = f"{PREFIX}/me"
WEEKS_SHOWN = 5
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_TIME_OFF_DAYS = 366

# Each hard rule in words a person reads: who it concerns is said beside it.
RULES = {
    "overlap": N_("on another shift at the same time"),
    "min_rest": N_("not enough rest between two shifts"),
    "weekly_hours": N_("more than the weekly hours"),
    "skills": N_("missing a skill the shift needs"),
    "languages": N_("missing a language the shift needs"),
    "site_not_allowed": N_("not allowed at the shift's site"),
    "time_off": N_("time off at that time"),
    "availability": N_("outside the available times"),
    "excluded_contract": N_("not allowed on this contract"),
    "not_trained": N_("not trained for this contract"),
    "seat_capacity": N_("no free seat at the site"),
    "break_too_short": N_("the shift's break is shorter than the law requires"),
    "consecutive_days": N_("too many working days in a row"),
    "monthly_overtime": N_("more overtime than allowed this month"),
    "yearly_overtime": N_("more overtime than allowed this year"),
    "headcount_full": N_("the shift already has everyone it needs"),
    "already_assigned": N_("already on this shift"),
    "staff_inactive": N_("no longer active"),
    "shift_started": N_("the shift has already started"),
    swaps.STALE: N_("the roster changed since the swap was asked for"),
}
UNKNOWN_RULE = N_("a scheduling rule would be broken (%(code)s)")
TIME_OFF_STATUSES = {
    "requested": N_("Waiting for a decision"),
    "approved": N_("Approved"),
    "rejected": N_("Not approved"),
    "cancelled": N_("Withdrawn"),
}
NOTICES = {
    "time-off-requested": N_("Your request is sent. A supervisor will decide on it."),
    "time-off-cancelled": N_("Your request is withdrawn."),
    "swap-offered": N_("Your offer is sent to your colleague."),
    "swap-accepted": N_("You accepted. A supervisor now decides on the swap."),
    "swap-declined": N_("You declined the offer."),
    "swap-cancelled": N_("Your offer is withdrawn."),
    "availability-saved": N_("Your availability and preferred times are saved."),
    "feed-revoked": N_("Your calendar link no longer works. Create a new one when you need it."),
    "clocked-in": N_("You are clocked in."),
    "clocked-out": N_("You are clocked out. Thank you for your work."),
}
# Why a clock-in or clock-out was refused, in words a person reads.
CLOCK_REFUSALS = {
    "already-clocked-in": N_("You have already clocked in to this shift."),
    "already-clocked-out": N_("You have already clocked out of this shift."),
    "not-clocked-in": N_("Clock in before you clock out."),
    "clock-in-window": N_(
        "You can clock in from an hour before your shift starts until it ends. "
        "For a shift that has ended, ask a supervisor."
    ),
    "clock-out-window": N_("Clock-out closes 8 hours after your shift ends. Ask a supervisor to record it."),
}
CLOCK_ACTIONS = {"clock-in": AttendanceEventKind.CLOCK_IN, "clock-out": AttendanceEventKind.CLOCK_OUT}
CONFLICT_MESSAGE = N_("This could not be done as things stand now; the page shows the current state.")


# --- shifts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftView:
    shift: MyShift
    day: date
    starts: str
    ends: str
    # The end falls on the next day of the person's clock.
    overnight: bool
    hours: float
    site: str | None
    changed: bool
    # "09:00-18:00" on the client's clock and where that is, when it differs from the person's.
    client_clock: str | None
    client_city: str | None


@dataclass(frozen=True)
class WeekView:
    monday: date
    days: list[tuple[date, list[ShiftView]]]
    hours: float


@dataclass(frozen=True)
class MonthCell:
    day: date | None
    shifts: list[ShiftView] = field(default_factory=list)


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def city(zone: str, lang: Lang) -> str:
    return str(get_timezone_location(ZoneInfo(zone), locale=i18n.DATE_LOCALES[lang.code], return_city=True))


async def _shift_views(
    session: AsyncSession, caller: Scope, items: Sequence[MyShift], lang: Lang
) -> list[ShiftView]:
    changed = await my_schedule.changed_since_published(session, caller, [s.assignment_id for s in items])
    zones = await my_schedule.client_zones(session, caller, [s.contract_id for s in items])
    views = []
    for item in items:
        zone = ZoneInfo(zones[item.contract_id])
        at_client = item.start.astimezone(zone), item.end.astimezone(zone)
        differs = at_client[0].utcoffset() != item.start.utcoffset()
        views.append(
            ShiftView(
                shift=item,
                day=item.start.date(),
                starts=_clock(item.start),
                ends=_clock(item.end),
                overnight=item.end.date() > item.start.date(),
                hours=(item.end - item.start).total_seconds() / 3600,
                site=item.site.name if item.site is not None else None,
                changed=item.assignment_id in changed,
                client_clock=f"{_clock(at_client[0])}\N{EN DASH}{_clock(at_client[1])}" if differs else None,
                client_city=city(zone.key, lang) if differs else None,
            )
        )
    return views


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weeks(first: date, views: Sequence[ShiftView]) -> list[WeekView]:
    by_day: dict[date, list[ShiftView]] = defaultdict(list)
    for view in views:
        by_day[view.day].append(view)
    weeks = []
    for number in range(WEEKS_SHOWN):
        monday = first + timedelta(weeks=number)
        days = [
            (day, by_day[day]) for day in (monday + timedelta(days=n) for n in range(7)) if by_day.get(day)
        ]
        weeks.append(WeekView(monday, days, sum(v.hours for _, shifts in days for v in shifts)))
    return weeks


def _month_grid(month: date, views: Sequence[ShiftView]) -> list[list[MonthCell]]:
    by_day: dict[date, list[ShiftView]] = defaultdict(list)
    for view in views:
        by_day[view.day].append(view)
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    cells = [MonthCell(None)] * first.weekday()
    day = first
    while day < following:
        cells.append(MonthCell(day, by_day.get(day, [])))
        day += timedelta(days=1)
    cells += [MonthCell(None)] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def _month(value: str | None, today: date) -> date:
    if value:
        try:
            parsed = datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise NotFound("No such month.") from None
        if abs((parsed.year - today.year) * 12 + parsed.month - today.month) <= 24:
            return parsed
        raise NotFound("Months further than two years away are not shown.")
    return today.replace(day=1)


def week_of(value: str | None, today: date) -> date:
    """The Monday of the week a ``week`` query names (today's when none); a week that is no date or more
    than two years away is a 404."""
    monday = _monday(today)
    if value:
        try:
            chosen = _monday(date.fromisoformat(value))
        except ValueError:
            raise NotFound("No such week.") from None
        if abs((chosen - monday).days) <= 730:
            return chosen
        raise NotFound("Weeks further than two years away are not shown.")
    return monday


def clock_action(record: ShiftAttendance, now: datetime) -> str | None:
    """The button a shift shows now: clock in (from an hour before its start until its end) or clock out
    (once clocked in, until 8 hours after its end)."""
    start, end = record.planned_start.astimezone(UTC), record.planned_end.astimezone(UTC)
    if record.clock_in is None:
        return "clock-in" if start - CLOCK_IN_OPENS <= now < end else None
    if record.clock_out is None and now <= end + CLOCK_OUT_CLOSES:
        return "clock-out"
    return None


# --- forms -------------------------------------------------------------------------------------


class CsrfForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""


class TimeOffForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""
    first_day: str = ""
    last_day: str = ""
    reason: str = ""


class SwapForm(msgspec.Struct, kw_only=True):
    csrf_token: str = ""
    assignment_id: str = ""
    counterpart_staff_id: str = ""
    note: str = ""


def _checked(request: Request[Any, Any, Any], value: str) -> None:
    check_csrf(request, value, session=csrf_binding(request))


def _say(lang: Lang, message: str, **values: Any) -> str:
    return lang.gettext(message, **values)


# --- availability: one window per weekday on the page ----------------------------------------------


@dataclass(frozen=True)
class DayRow:
    key: str
    start: str
    end: str


def _day_rows(windows: Sequence[WindowSpec] | None) -> tuple[list[DayRow], bool]:
    """One row per weekday with the first window starting that day; whether some windows do not fit
    that shape (more than one on a day), so saving here would simplify them."""
    found: dict[str, tuple[str, str]] = {}
    simplified = False
    for window in windows or []:
        for day in window.days:
            for key in _expand(day):
                if key in found:
                    simplified = True
                    continue
                found[key] = (window.start, window.end)
    rows = []
    for key in WEEKDAY_KEYS:
        start, end = found.get(key, ("", ""))
        rows.append(DayRow(key, _wall(start), _wall(end)))
    return rows, simplified


def _expand(day: str) -> tuple[str, ...]:
    groups = {"daily": WEEKDAY_KEYS, "weekdays": WEEKDAY_KEYS[:5], "weekends": WEEKDAY_KEYS[5:]}
    return groups.get(day, (day,))


def _wall(clock: str) -> str:
    """A stored clock (``25:30``) as a time input shows it (``01:30``)."""
    if not clock:
        return ""
    hours, minutes = clock.split(":")
    return f"{int(hours) % 24:02d}:{minutes}"


def _read_windows(
    form: dict[str, str], prefix: str, lang: Lang, errors: dict[str, str]
) -> list[dict[str, Any]]:
    windows = []
    for key in WEEKDAY_KEYS:
        start, end = (
            form.get(f"{prefix}_{key}_start", "").strip(),
            form.get(f"{prefix}_{key}_end", "").strip(),
        )
        if not start and not end:
            continue
        found = CLOCK.match(start), CLOCK.match(end)
        if not all(found):
            errors[f"{prefix}_{key}"] = _say(lang, N_("Enter both times, like 09:00 and 18:00."))
            continue
        begin = int(start[:2]) * 60 + int(start[3:])
        finish = int(end[:2]) * 60 + int(end[3:])
        if finish == begin:
            errors[f"{prefix}_{key}"] = _say(lang, N_("The end must differ from the start."))
            continue
        # An end before the start runs past midnight into the next day.
        if finish < begin:
            finish += 24 * 60
        windows.append({"days": [key], "start": start, "end": f"{finish // 60:02d}:{finish % 60:02d}"})
    return windows


# --- swaps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapView:
    swap: SwapRequest
    mine: bool
    colleague: str
    shift: str | None
    counterpart_shift: str | None
    status: str
    decided_on: str | None
    actions: list[str]
    problems: list[str]


async def _contract_names(
    session: AsyncSession, caller: Scope, contract_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    names = {}
    for contract_id in dict.fromkeys(contract_ids):
        names[contract_id] = (await contracts.get_contract_row(session, caller, contract_id)).name
    return names


def rule_sentence(broken: Broken, who: str, lang: Lang) -> str:
    message = RULES.get(broken.code)
    text = lang.gettext(message) if message else lang.gettext(UNKNOWN_RULE, code=broken.code)
    return lang.gettext("%(who)s: %(rule)s", who=who, rule=text)


async def _swap_views(
    session: AsyncSession, caller: Scope, me: uuid.UUID, zone: str, lang: Lang
) -> list[SwapView]:
    found = await swaps.list_own(session, caller)
    people = {s.requester_staff_id for s in found} | {s.counterpart_staff_id for s in found}
    names = await my_schedule.first_names(session, caller, list(people))
    contract_ids = [
        s.contract_id for swap in found for s in (swap.shift, swap.counterpart_shift) if s is not None
    ]
    contract_name = await _contract_names(session, caller, contract_ids)
    you = lang.gettext("You")

    def when(shift: Any) -> str | None:
        if shift is None:
            return None
        return lang.gettext(
            "%(contract)s, %(start)s\N{EN DASH}%(end)s",
            contract=contract_name[shift.contract_id],
            start=lang.moment(shift.start, zone),
            end=_clock(shift.end.astimezone(ZoneInfo(zone))),
        )

    views = []
    for swap in found:
        mine = swap.requester_staff_id == me
        colleague = names.get(swap.counterpart_staff_id if mine else swap.requester_staff_id, "")
        status = {
            SwapStatus.REQUESTED: lang.gettext("Waiting for %(name)s to answer", name=colleague)
            if mine
            else lang.gettext("Waiting for your answer"),
            SwapStatus.ACCEPTED: lang.gettext("Accepted; waiting for a supervisor"),
            SwapStatus.DECLINED: lang.gettext("Declined"),
            SwapStatus.APPROVED: lang.gettext("Approved by a supervisor"),
            SwapStatus.REJECTED: lang.gettext("Not approved by a supervisor"),
            SwapStatus.CANCELLED: lang.gettext("Withdrawn"),
        }[swap.status]
        actions = []
        if not mine and swap.status is SwapStatus.REQUESTED:
            actions += ["accept", "decline"]
        if mine and swap.status in (SwapStatus.REQUESTED, SwapStatus.ACCEPTED):
            actions.append("cancel")
        problems = []
        if swap.status in (SwapStatus.REQUESTED, SwapStatus.ACCEPTED):
            for staff_id, broken in await swaps.preview(session, caller, swap.id):
                who = you if staff_id == me else names.get(staff_id, "")
                problems.append(rule_sentence(broken, who, lang))
        views.append(
            SwapView(
                swap=swap,
                mine=mine,
                colleague=colleague,
                shift=when(swap.shift),
                counterpart_shift=when(swap.counterpart_shift),
                status=status,
                decided_on=lang.moment(swap.decided_at, zone) if swap.decided_at else None,
                actions=actions,
                problems=problems,
            )
        )
    return views


# --- the pages ---------------------------------------------------------------------------------


class MyPagesController(Controller):
    """The signed-in person's own pages; someone without a staff profile gets a not-found page."""

    path = "/me"
    dependencies = {"caller": Provide(person_scope)}

    async def _frame(
        self, request: Request[Any, Any, Any], session: AsyncSession, caller: Scope
    ) -> tuple[Lang, Any]:
        language = await reader_language(request, session, caller)
        return i18n.lang(language), await selfservice.staff_of(session, caller)

    def _render(
        self,
        request: Request[Any, Any, Any],
        caller: Scope,
        template: str,
        section: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> Template:
        notice = NOTICES.get(request.query_params.get("done", ""))
        return page(
            request,
            template,
            {"section": section, "notice": notice, **context},
            caller=caller,
            status=status,
        )

    @get("/", summary="A staff member's pages start with their shifts")
    async def start(self) -> Redirect:
        return Redirect(f"{ME}/shifts", status_code=303)

    @get("/shifts", summary="My shifts: this week and the next four, on my clock")
    async def shifts(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        week: FromQuery[str | None] = None,
    ) -> Template:
        return await self._shifts_page(request, session, caller, week, feed_url=None)

    async def _shifts_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        week: str | None,
        feed_url: str | None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        lang, me = await self._frame(request, session, caller)
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo(me.home_zone)).date()
        first = week_of(week, today)
        last = first + timedelta(weeks=WEEKS_SHOWN) - timedelta(days=1)
        listing = await selfservice.my_shifts(session, caller, start=first, end=last, tz=None)
        views = await _shift_views(session, caller, listing.items, lang)
        # The shifts one may clock in to or out of now, whichever weeks are shown.
        around = await selfservice.my_shifts(
            session, caller, start=today - timedelta(days=1), end=today + timedelta(days=1), tz=None
        )
        shown = {item.shift_id for item in listing.items} | {item.shift_id for item in around.items}
        records = await attendance.my_punches(session, caller, me, list(shown), now)
        current = [
            (view, records[view.shift.shift_id], action)
            for view in await _shift_views(session, caller, around.items, lang)
            if (action := clock_action(records[view.shift.shift_id], now)) is not None
        ]
        context = {
            "me": me,
            "zone_city": city(me.home_zone, lang),
            "today": today,
            "first": first,
            "last": last,
            "weeks": _weeks(first, views),
            "previous": (first - timedelta(weeks=WEEKS_SHOWN)).isoformat(),
            "next": (first + timedelta(weeks=WEEKS_SHOWN)).isoformat(),
            "this_week": first == _monday(today),
            "has_feed": await my_schedule.has_feed(session, caller, me.id),
            "feed_url": feed_url,
            "attendance": records,
            "current": current,
            "errors": errors or {},
        }
        return self._render(request, caller, "my_shifts.html", "shifts", context, status)

    @post(
        "/shifts/{shift_id:str}/{action:str}", summary="Clock in to or out of my shift now", status_code=303
    )
    async def clock(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        shift_id: FromPath[str],
        action: FromPath[str],
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        _checked(request, data.csrf_token)
        identifier = parse_uuid(shift_id, "Shift")
        kind = CLOCK_ACTIONS.get(action)
        if kind is None:
            raise NotFound(f"No clock action {action!r}.")
        try:
            await punches.clock(session, caller, identifier, kind)
        except Conflict as exc:
            refusal = (
                CLOCK_REFUSALS.get(exc.slug)
                or CLOCK_REFUSALS[
                    "clock-in-window" if kind is AttendanceEventKind.CLOCK_IN else "clock-out-window"
                ]
            )
            lang = i18n.lang(await reader_language(request, session, caller))
            errors = {"clock": _say(lang, refusal)}
            return await self._shifts_page(request, session, caller, None, None, errors, status=409)
        done = "clocked-in" if kind is AttendanceEventKind.CLOCK_IN else "clocked-out"
        return Redirect(f"{ME}/shifts", status_code=303, query_params={"done": done})

    @get("/calendar", summary="My shifts in a month calendar")
    async def calendar(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        month: FromQuery[str | None] = None,
    ) -> Template:
        lang, me = await self._frame(request, session, caller)
        today = datetime.now(ZoneInfo(me.home_zone)).date()
        first = _month(month, today)
        following = (first + timedelta(days=32)).replace(day=1)
        listing = await selfservice.my_shifts(
            session, caller, start=first, end=following - timedelta(days=1), tz=None
        )
        views = await _shift_views(session, caller, listing.items, lang)
        context = {
            "me": me,
            "zone_city": city(me.home_zone, lang),
            "today": today,
            "month": first,
            "grid": _month_grid(first, views),
            "shifts": views,
            "previous": (first - timedelta(days=1)).strftime("%Y-%m"),
            "next": following.strftime("%Y-%m"),
        }
        return self._render(request, caller, "my_calendar.html", "calendar", context)

    @post("/calendar-feed", summary="A new secret calendar link (the old one stops working)", status_code=200)
    async def create_feed(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[CsrfForm],
    ) -> Template:
        _checked(request, data.csrf_token)
        me = await selfservice.staff_of(session, caller)
        feed = await selfservice.create_feed(session, caller, me, str(request.base_url))
        # Shown on this response only: just the token's hash is kept.
        return await self._shifts_page(request, session, caller, None, feed_url=feed.url)

    @post("/calendar-feed/revoke", summary="Stop my calendar link working", status_code=303)
    async def revoke_feed(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        _checked(request, data.csrf_token)
        me = await selfservice.staff_of(session, caller)
        if await my_schedule.has_feed(session, caller, me.id):
            await selfservice.revoke_feed(session, caller, me)
        return Redirect(f"{ME}/shifts", status_code=303, query_params={"done": "feed-revoked"})

    # --- time off ---

    async def _time_off_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        form: TimeOffForm | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        lang, me = await self._frame(request, session, caller)
        items = await my_schedule.my_time_off(session, caller, me)
        # Whole days on the person's clock: the end is the midnight after the last day.
        days = [
            (
                item,
                item.start.astimezone(ZoneInfo(me.home_zone)).date(),
                (item.end.astimezone(ZoneInfo(me.home_zone)) - timedelta(microseconds=1)).date(),
            )
            for item in items
        ]
        context = {
            "me": me,
            "zone_city": city(me.home_zone, lang),
            "items": days,
            "statuses": TIME_OFF_STATUSES,
            "form": form or TimeOffForm(),
            "errors": errors or {},
            "today": datetime.now(ZoneInfo(me.home_zone)).date(),
        }
        return self._render(request, caller, "my_time_off.html", "time-off", context, status)

    @get("/time-off", summary="My time off: ask for days off, see what was decided")
    async def time_off(self, request: Request[Any, Any, Any], session: Session, caller: Caller) -> Template:
        return await self._time_off_page(request, session, caller)

    @post("/time-off", summary="Ask for time off", status_code=303)
    async def request_time_off(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[TimeOffForm],
    ) -> Response[Any]:
        _checked(request, data.csrf_token)
        lang, me = await self._frame(request, session, caller)
        zone = ZoneInfo(me.home_zone)
        today = datetime.now(zone).date()
        errors: dict[str, str] = {}
        first = last = None
        try:
            first = date.fromisoformat(data.first_day.strip())
        except ValueError:
            errors["first_day"] = _say(lang, N_("Enter the first day off."))
        try:
            last = date.fromisoformat(data.last_day.strip())
        except ValueError:
            errors["last_day"] = _say(lang, N_("Enter the last day off."))
        if first is not None and first < today:
            errors["first_day"] = _say(lang, N_("The first day cannot be in the past."))
        if first is not None and last is not None:
            if last < first:
                errors["last_day"] = _say(lang, N_("The last day cannot be before the first."))
            elif (last - first).days >= MAX_TIME_OFF_DAYS:
                errors["last_day"] = _say(lang, N_("Ask for at most a year at a time."))
        if len(data.reason) > 500:
            errors["reason"] = _say(lang, N_("Keep the reason under 500 characters."))
        if errors or first is None or last is None:
            return await self._time_off_page(request, session, caller, data, errors, status=422)
        created = schemas.TimeOffCreate(
            start=datetime.combine(first, time(0), tzinfo=zone),
            end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
            reason=data.reason.strip(),
        )
        await staffing.request_time_off(session, caller, me.id, created)
        return Redirect(f"{ME}/time-off", status_code=303, query_params={"done": "time-off-requested"})

    @post("/time-off/{time_off_id:str}/cancel", summary="Withdraw a time-off request", status_code=303)
    async def cancel_time_off(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        time_off_id: FromPath[str],
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        _checked(request, data.csrf_token)
        me = await selfservice.staff_of(session, caller)
        try:
            await my_schedule.cancel_my_time_off(session, caller, me, parse_uuid(time_off_id, "Time off"))
        except Conflict:
            lang = i18n.lang(await reader_language(request, session, caller))
            errors = {"list": _say(lang, CONFLICT_MESSAGE)}
            return await self._time_off_page(request, session, caller, errors=errors, status=409)
        return Redirect(f"{ME}/time-off", status_code=303, query_params={"done": "time-off-cancelled"})

    # --- swaps ---

    async def _swaps_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        form: SwapForm | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        lang, me = await self._frame(request, session, caller)
        today = datetime.now(ZoneInfo(me.home_zone)).date()
        listing = await selfservice.my_shifts(
            session, caller, start=today, end=today + timedelta(weeks=WEEKS_SHOWN), tz=None
        )
        views = await _swap_views(session, caller, me.id, me.home_zone, lang)
        offered = {
            v.swap.assignment_id
            for v in views
            if v.swap.status in (SwapStatus.REQUESTED, SwapStatus.ACCEPTED)
        }
        now = datetime.now(UTC)
        offerable = [
            s for s in await _shift_views(session, caller, listing.items, lang)
            if s.shift.start > now and s.shift.assignment_id not in offered
        ]  # fmt: skip
        context = {
            "me": me,
            "zone_city": city(me.home_zone, lang),
            "swaps": views,
            "offerable": offerable,
            "colleagues": await my_schedule.colleagues(session, caller, me),
            "form": form or SwapForm(),
            "errors": errors or {},
        }
        return self._render(request, caller, "my_swaps.html", "swaps", context, status)

    @get("/swaps", summary="My shift swaps: offers I made, offers to me, supervisors' decisions")
    async def swaps(self, request: Request[Any, Any, Any], session: Session, caller: Caller) -> Template:
        return await self._swaps_page(request, session, caller)

    @post("/swaps", summary="Offer one of my shifts to a colleague", status_code=303)
    async def offer_swap(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        data: URLEncodedBody[SwapForm],
    ) -> Response[Any]:
        _checked(request, data.csrf_token)
        lang = i18n.lang(await reader_language(request, session, caller))
        errors: dict[str, str] = {}
        assignment_id = _uuid_or_none(data.assignment_id)
        counterpart = _uuid_or_none(data.counterpart_staff_id)
        if assignment_id is None:
            errors["assignment_id"] = _say(lang, N_("Choose one of your shifts that has not started yet."))
        if counterpart is None:
            errors["counterpart_staff_id"] = _say(lang, N_("Choose a colleague."))
        if len(data.note) > 500:
            errors["note"] = _say(lang, N_("Keep the note under 500 characters."))
        if not errors and assignment_id is not None and counterpart is not None:
            offer = SwapRequestCreate(
                assignment_id=assignment_id, counterpart_staff_id=counterpart, note=data.note.strip()
            )
            try:
                await swaps.propose(session, caller, offer)
            except Invalid as exc:
                for error in exc.errors or []:
                    errors[error["field"]] = _say(lang, SWAP_FIELDS.get(error["field"], CONFLICT_MESSAGE))
            except Conflict:
                errors["assignment_id"] = _say(lang, N_("You have already offered this shift."))
            else:
                return Redirect(f"{ME}/swaps", status_code=303, query_params={"done": "swap-offered"})
        return await self._swaps_page(request, session, caller, data, errors, status=422)

    @post("/swaps/{swap_id:str}/{action:str}", summary="Accept, decline or withdraw a swap", status_code=303)
    async def act_on_swap(
        self,
        request: Request[Any, Any, Any],
        session: Session,
        caller: Caller,
        swap_id: FromPath[str],
        action: FromPath[str],
        data: URLEncodedBody[CsrfForm],
    ) -> Response[Any]:
        _checked(request, data.csrf_token)
        identifier = parse_uuid(swap_id, "Swap request")
        # Only a swap the caller is part of, whatever their role: a supervisor decides elsewhere.
        if not any(s.id == identifier for s in await swaps.list_own(session, caller)):
            raise NotFound(f"Swap request {swap_id} not found.")
        try:
            if action == "accept":
                await swaps.respond(session, caller, identifier, accept=True)
            elif action == "decline":
                await swaps.respond(session, caller, identifier, accept=False)
            elif action == "cancel":
                await swaps.cancel(session, caller, identifier)
            else:
                raise NotFound(f"No swap action {action!r}.")
        except Conflict:
            lang = i18n.lang(await reader_language(request, session, caller))
            errors = {"list": _say(lang, CONFLICT_MESSAGE)}
            return await self._swaps_page(request, session, caller, errors=errors, status=409)
        done = {"accept": "swap-accepted", "decline": "swap-declined", "cancel": "swap-cancelled"}[action]
        return Redirect(f"{ME}/swaps", status_code=303, query_params={"done": done})

    # --- availability ---

    async def _availability_page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        caller: Scope,
        submitted: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        lang, me = await self._frame(request, session, caller)
        current = availability.availability_view(me)
        available, simplified_a = _day_rows(current.availability)
        preferred, simplified_p = _day_rows(current.preferred_times)
        if submitted is not None:
            available = [
                DayRow(r.key, submitted.get(f"a_{r.key}_start", ""), submitted.get(f"a_{r.key}_end", ""))
                for r in available
            ]
            preferred = [
                DayRow(r.key, submitted.get(f"p_{r.key}_start", ""), submitted.get(f"p_{r.key}_end", ""))
                for r in preferred
            ]
        context = {
            "me": me,
            "zone_city": city(me.home_zone, lang),
            "current": current,
            "available": available,
            "preferred": preferred,
            "available_any": (
                submitted.get("available_any") == "on"
                if submitted is not None
                else current.availability is None
            ),
            "preferred_none": (
                submitted.get("preferred_none") == "on"
                if submitted is not None
                else current.preferred_times is None
            ),
            "simplified": simplified_a or simplified_p,
            "errors": errors or {},
        }
        return self._render(request, caller, "my_availability.html", "availability", context, status)

    @get("/availability", summary="My availability, preferred times, skills and languages")
    async def availability(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller
    ) -> Template:
        return await self._availability_page(request, session, caller)

    @post("/availability", summary="Save my availability and preferred times", status_code=303)
    async def save_availability(
        self, request: Request[Any, Any, Any], session: Session, caller: Caller
    ) -> Response[Any]:
        submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        _checked(request, submitted.get("csrf_token", ""))
        lang = i18n.lang(await reader_language(request, session, caller))
        errors: dict[str, str] = {}
        available = _read_windows(submitted, "a", lang, errors)
        preferred = _read_windows(submitted, "p", lang, errors)
        any_time = submitted.get("available_any") == "on"
        no_preference = submitted.get("preferred_none") == "on"
        if not any_time and not available and not any(k.startswith("a_") for k in errors):
            errors["available"] = _say(
                lang, N_("Give at least one day with times, or choose \u201cany time\u201d.")
            )
        if errors:
            return await self._availability_page(request, session, caller, submitted, errors, status=422)
        update = msgspec.convert(
            {
                "availability": None if any_time else available,
                "preferred_times": None if no_preference or not preferred else preferred,
            },
            MyAvailabilityUpdate,
        )
        try:
            await availability.update_my_availability(session, caller, update)
        except Invalid:
            errors["available"] = _say(lang, CONFLICT_MESSAGE)
            return await self._availability_page(request, session, caller, submitted, errors, status=422)
        return Redirect(f"{ME}/availability", status_code=303, query_params={"done": "availability-saved"})


SWAP_FIELDS = {
    "assignment_id": N_("Choose one of your shifts that has not started yet."),
    "counterpart_staff_id": N_("Choose a colleague."),
    "counterpart_assignment_id": N_("Choose one of your colleague's shifts that has not started yet."),
}


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


# Under /dashboard beside the SLA pages, with the same session, headers and error pages.
PAGES = page_router([MyPagesController, *ACCOUNT_ROUTES])
