"""Whole journeys on a fresh database, through HTTP and the `bpo` command only: two operators onboard
their clients (manifest and API), their clients' systems push a week of chats, and client viewers open
the dashboard in Chromium — at the same time, each seeing nothing of the other."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import httpx
import icalendar
import pytest

from tests.e2e.stack import Stack
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import READ_DASHBOARD, sign_in_on_page
from tests.support.fake_stripe import FakeStripe
from tests.support.paths import ARTIFACTS, DEMO_MANIFEST

pytestmark = pytest.mark.slow

TOKYO = ZoneInfo("Asia/Tokyo")
DEMO_PASSWORD = "demo-password"
CHAT_THRESHOLD = timedelta(seconds=45)


def manifest_for(slug: str, workdir: Path) -> Path:
    """The demo operator's manifest under another slug and e-mail domain: a second, unrelated operator."""
    text = DEMO_MANIFEST.read_text(encoding="utf-8")
    path = workdir / f"{slug}.yaml"
    path.write_text(text.replace("slug: demo", f"slug: {slug}").replace("@demo.example", f"@{slug}.example"))
    return path


@dataclass
class Operator:
    slug: str
    http: httpx.AsyncClient
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    chat_items: list[dict[str, Any]] = field(default_factory=list)

    def email(self, who: str) -> str:
        return f"{who}@{self.slug}.example"

    async def as_(self, who: str) -> dict[str, str]:
        if who not in self.tokens:
            response = await self.http.post(
                "/v1/auth/token",
                json={"tenant": self.slug, "email": self.email(who), "password": DEMO_PASSWORD},
            )
            assert response.status_code == 200, response.text
            self.tokens[who] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self.tokens[who]

    async def get(self, who: str, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params, headers=await self.as_(who))
        assert response.status_code == 200, f"GET {path} as {who}: {response.status_code} {response.text}"
        return response.json()

    async def post(self, who: str | dict[str, str], path: str, body: dict[str, Any]) -> Any:
        headers = await self.as_(who) if isinstance(who, str) else who
        response = await self.http.post(path, json=body, headers=headers)
        assert response.status_code in (200, 201, 202), f"POST {path}: {response.status_code} {response.text}"
        return response.json()


# --- (a) onboarding -----------------------------------------------------------------------------------


async def onboard_from_manifest(stack: Stack, operator: Operator) -> None:
    manifest = manifest_for(operator.slug, stack.workdir)
    first = await asyncio.to_thread(stack.bpo, "tenants", "apply", str(manifest))
    assert "Applied." in first.stdout, first.stdout
    again = await asyncio.to_thread(stack.bpo, "tenants", "apply", str(manifest))
    assert "Nothing to change." in again.stdout, again.stdout

    clients = await operator.get("manager", "/v1/clients", limit=200)
    operator.clients = {c["code"]: c for c in clients["items"]}
    assert set(operator.clients) == {"RAKUTEN", "EUREKA", "LANCERS", "MATCH"}
    contracts = await operator.get("manager", "/v1/contracts", limit=200)
    operator.contracts = {c["code"]: c for c in contracts["items"]}
    assert {"LAN-CHAT", "LAN-EMAIL", "EUR-PAIRS-PATROL", "RKT-RECIPE-PATROL"} <= set(operator.contracts)


async def onboard_through_the_api(stack: Stack, operator: Operator) -> None:
    """An account manager signs a new client by hand: client, service, calendar, contract with an SLA
    policy and a rate plan, then activates it; the export carries it and applies back unchanged."""
    m = "manager"
    customer = await operator.post(
        m, "/v1/clients", {"code": "MERCARI", "name": "Mercari", "time_zone": "Asia/Tokyo"}
    )
    service = await operator.post(
        m, f"/v1/clients/{customer['id']}/services", {"code": "shops", "name": "Shops"}
    )
    calendar = await operator.post(
        m,
        "/v1/calendars",
        {
            "code": "MERCARI-DAY",
            "name": "Every day 09:00-21:00",
            "time_zone": "Asia/Tokyo",
            "windows": [{"days": ["daily"], "start": "09:00", "end": "21:00"}],
        },
    )
    contract = await operator.post(
        m,
        "/v1/contracts",
        {
            "service_id": service["id"],
            "code": "MER-PATROL",
            "name": "Listing patrol",
            "work_type": "patrol",
            "start_date": "2026-01-01",
            "calendar_id": calendar["id"],
            "coverage": [{"days": ["daily"], "start": "09:00", "end": "21:00", "headcount": 2}],
        },
    )
    policy = {
        "effective_from": "2026-01-01",
        "objectives": [
            {"metric": "resolution", "threshold": "2h", "target_percent": 95, "clock": "business_hours"}
        ],
    }
    await operator.post(m, f"/v1/contracts/{contract['id']}/sla-policies", policy)
    plan = {
        "effective_from": "2026-01-01",
        "currency": "JPY",
        "charges": [{"kind": "per_unit", "code": "listings", "name": "Patrolled listings", "unit_price": 9}],
    }
    await operator.post(m, f"/v1/contracts/{contract['id']}/rate-plans", plan)
    active = await operator.post(m, f"/v1/contracts/{contract['id']}/transitions", {"status": "active"})
    assert active["status"] == "active"
    operator.clients["MERCARI"] = customer
    operator.contracts["MER-PATROL"] = contract

    exported = stack.workdir / f"{operator.slug}-export.yaml"
    await asyncio.to_thread(
        stack.bpo, "tenants", "export", "--slug", operator.slug, "--output", str(exported)
    )
    text = exported.read_text(encoding="utf-8")
    assert "MERCARI" in text
    assert "MER-PATROL" in text
    assert "RAKUTEN" in text
    reapplied = await asyncio.to_thread(stack.bpo, "tenants", "apply", str(exported))
    assert "Nothing to change." in reapplied.stdout, reapplied.stdout


# --- (c) ingest and the dashboard --------------------------------------------------------------------


def last_week_of_chats(seed: int) -> list[dict[str, Any]]:
    """Chats on last week's Japanese business days inside the 10:30-18:30 window, answered inside the
    window (so business time equals elapsed time), some later than 45 s, a few never answered."""
    rng = random.Random(seed)
    today = datetime.now(TOKYO).date()
    monday = today - timedelta(days=today.weekday() + 7)
    japan = holidays.country_holidays("JP", years=[monday.year, (monday + timedelta(days=6)).year])
    items = []
    for offset in range(5):
        day: date = monday + timedelta(days=offset)
        if day in japan:
            continue
        for n in range(rng.randint(20, 40)):
            received = datetime(day.year, day.month, day.day, 10, 31, tzinfo=TOKYO) + timedelta(
                seconds=rng.randint(0, 7 * 3600)
            )
            item: dict[str, Any] = {
                "external_id": f"chat-{day}-{n}",
                "channel": "chat",
                "received_at": received.isoformat(),
            }
            roll = rng.random()
            if roll < 0.85:
                item["first_response_at"] = (received + timedelta(seconds=rng.randint(5, 44))).isoformat()
            elif roll < 0.95:
                item["first_response_at"] = (received + timedelta(seconds=rng.randint(46, 600))).isoformat()
            items.append(item)
    return items


def expected_attainment(items: list[dict[str, Any]]) -> tuple[int, int]:
    met = breached = 0
    for item in items:
        if "first_response_at" not in item:
            continue  # pending until the window's remaining business time runs out; counted below
        waited = datetime.fromisoformat(item["first_response_at"]) - datetime.fromisoformat(
            item["received_at"]
        )
        if waited <= CHAT_THRESHOLD:
            met += 1
        else:
            breached += 1
    # An unanswered chat received at least 45 s of business time before its window closed is breached
    # by now (last week is over).
    breached += sum(1 for item in items if "first_response_at" not in item)
    return met, breached


async def clients_system_ingests(operator: Operator, seed: int) -> None:
    lancers = operator.clients["LANCERS"]
    chat = operator.contracts["LAN-CHAT"]
    key = await operator.post(
        "admin", "/v1/api-keys", {"name": "zopim", "client_id": lancers["id"], "contract_id": chat["id"]}
    )
    api_key = {"Authorization": f"Bearer {key['key']}"}
    operator.chat_items = last_week_of_chats(seed)
    half = len(operator.chat_items) // 2
    first = await operator.post(
        api_key, "/v1/work-items:batch", {"contract_id": chat["id"], "items": operator.chat_items[:half]}
    )
    assert first["created"] == half
    second = await operator.post(
        api_key, "/v1/work-items:batch", {"contract_id": chat["id"], "items": operator.chat_items}
    )
    assert (second["created"], second["unchanged"]) == (len(operator.chat_items) - half, half)

    # Another client's contract does not exist for this key.
    other = operator.contracts["EUR-PAIRS-EMAIL"]
    refused = await operator.http.post(
        "/v1/work-items:batch",
        json={"contract_id": other["id"], "items": operator.chat_items[:1]},
        headers=api_key,
    )
    assert refused.status_code == 404, refused.text


def chat_period(items: list[dict[str, Any]]) -> tuple[str, str]:
    days = sorted(datetime.fromisoformat(i["received_at"]).astimezone(TOKYO).date() for i in items)
    return days[0].isoformat(), days[-1].isoformat()


async def viewer_sees_attainment(operator: Operator) -> None:
    """The rollups are refreshed by the worker (outbox job) with a bounded lag: wait for them."""
    chat = operator.contracts["LAN-CHAT"]
    start, end = chat_period(operator.chat_items)
    met, breached = expected_attainment(operator.chat_items)
    deadline = asyncio.get_running_loop().time() + 90
    while True:
        body = await operator.get("viewer-lancers", f"/v1/contracts/{chat['id']}/sla", start=start, end=end)
        objective = next(o for o in body["objectives"] if o["metric"] == "first_response")
        if (
            body["volumes"]["received"] == len(operator.chat_items)
            and objective["met"] + objective["breached"] == met + breached
        ):
            break
        assert asyncio.get_running_loop().time() < deadline, f"rollups did not catch up: {body}"
        await asyncio.sleep(1)
    assert (objective["met"], objective["breached"], objective["pending"]) == (met, breached, 0)
    assert objective["attainment"] == pytest.approx(100 * met / (met + breached), abs=0.05)


async def operator_journey(stack: Stack, http: httpx.AsyncClient, slug: str, seed: int) -> Operator:
    operator = Operator(slug, http)
    await onboard_from_manifest(stack, operator)
    await onboard_through_the_api(stack, operator)
    await clients_system_ingests(operator, seed)
    await viewer_sees_attainment(operator)
    return operator


# --- (e) two operators at once ------------------------------------------------------------------------


async def assert_sees_nothing_of(stranger: Operator, owner: Operator) -> None:
    for who in ("admin", "manager", "viewer-lancers"):
        for code in ("LAN-CHAT", "MER-PATROL"):
            contract_id = owner.contracts[code]["id"]
            for path in (f"/v1/contracts/{contract_id}", f"/v1/contracts/{contract_id}/sla"):
                response = await stranger.http.get(path, headers=await stranger.as_(who))
                assert response.status_code == 404, (who, path, response.text)
        response = await stranger.http.get(
            f"/v1/clients/{owner.clients['LANCERS']['id']}/sla", headers=await stranger.as_(who)
        )
        assert response.status_code == 404, (who, response.text)
    theirs = {c["id"] for c in (await stranger.get("admin", "/v1/clients", limit=200))["items"]}
    assert theirs.isdisjoint({c["id"] for c in owner.clients.values()})


class TestTwoOperatorsAtOnce:
    async def test_onboard_ingest_and_read_dashboards_in_parallel(
        self, stack: Stack, http: httpx.AsyncClient
    ) -> None:
        first_slug, second_slug = "demo", f"op-{uuid.uuid4().hex[:6]}"
        first, second = await asyncio.gather(
            operator_journey(stack, http, first_slug, seed=1),
            operator_journey(stack, http, second_slug, seed=2),
        )
        await assert_sees_nothing_of(second, first)
        await assert_sees_nothing_of(first, second)

        binary = chromium_binary()
        for operator in (first, second):
            await self.viewer_opens_the_dashboard(stack, operator, binary)

    async def viewer_opens_the_dashboard(self, stack: Stack, operator: Operator, binary: str) -> None:
        chat = operator.contracts["LAN-CHAT"]
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(1280, 900, mobile=False)
            await sign_in_on_page(
                page, stack.url, operator.slug, operator.email("viewer-lancers"), DEMO_PASSWORD
            )
            path = await page.evaluate("location.pathname")
            assert path == f"/dashboard/clients/{operator.clients['LANCERS']['id']}"
            shown = await page.evaluate(READ_DASHBOARD)
            await page.screenshot(ARTIFACTS / f"e2e-dashboard-{operator.slug}.png")

        cards = {card["contract"]: card for card in shown["cards"]}
        assert set(cards) == {
            c["id"]
            for c in operator.contracts.values()
            if c["client_id"] == operator.clients["LANCERS"]["id"]
        }
        api = await operator.get(
            "viewer-lancers", f"/v1/contracts/{chat['id']}/sla", start=shown["start"], end=shown["end"]
        )
        card = cards[chat["id"]]
        assert card["received"]["value"] == str(api["volumes"]["received"])
        assert api["volumes"]["received"] >= len(operator.chat_items)
        shown_first = next(o for o in card["objectives"] if o["key"].startswith("first_response"))
        api_first = next(o for o in api["objectives"] if o["key"] == shown_first["key"])
        assert float(shown_first["attainment"]["value"]) == api_first["attainment"]
        assert int(shown_first["met"]["value"]) == api_first["met"]
        assert int(shown_first["breached"]["value"]) == api_first["breached"]


# --- (b) a month of shifts, my shifts, the calendar feed, a swap -------------------------------------


def next_month() -> tuple[date, date]:
    today = datetime.now(TOKYO).date()
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


async def all_pages(operator: Operator, who: str, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await operator.get(who, path, limit=200, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def supervisor_schedules_a_month(operator: Operator) -> tuple[date, date, list[dict[str, Any]]]:
    first, last = next_month()
    period = {"from": first.isoformat(), "to": last.isoformat()}
    contracts = [operator.contracts[code] for code in ("LAN-EMAIL", "LAN-CHAT")]
    for contract in contracts:
        made = await operator.post("supervisor", f"/v1/contracts/{contract['id']}/shifts:generate", period)
        again = await operator.post("supervisor", f"/v1/contracts/{contract['id']}/shifts:generate", period)
        assert made["created"] > 0
        assert (again["created"], again["existing"]) == (0, made["created"])

    run = await operator.post(
        "supervisor",
        "/v1/schedule-runs",
        {**period, "contract_ids": [c["id"] for c in contracts], "time_limit_s": 20},
    )
    deadline = asyncio.get_running_loop().time() + 180
    while run["status"] not in ("succeeded", "failed"):
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(1)
        run = await operator.get("supervisor", f"/v1/schedule-runs/{run['id']}")
    assert run["status"] == "succeeded", run
    result = run["result"]
    assert result["assignments"] > 0
    assert 0 < result["overall_coverage_percent"] <= 100
    assert all(gap["reason"] for gap in result["unfilled"])

    assignments: list[dict[str, Any]] = []
    for contract in contracts:
        view = await operator.get(
            "supervisor", f"/v1/contracts/{contract['id']}/coverage", **period, interval=60
        )
        assert view["totals"]["staffed_staff_minutes"] > 0
        assignments += await all_pages(
            operator, "supervisor", "/v1/assignments", contract_id=contract["id"], **period
        )
        published = await operator.post(
            "supervisor", "/v1/shifts:publish", {"contract_id": contract["id"], **period}
        )
        assert published["published"] > 0
    assert len(assignments) == result["assignments"]
    return first, last, assignments


async def email_of(operator: Operator, staff_id: str) -> str:
    """The login (local part of the e-mail) of the user a staff profile is linked to."""
    person = await operator.get("supervisor", f"/v1/staff/{staff_id}")
    user = await operator.get("admin", f"/v1/users/{person['user_id']}")
    email: str = user["email"]
    assert email.endswith(f"@{operator.slug}.example")
    return email.split("@")[0]


async def staff_with_logins(operator: Operator) -> list[dict[str, Any]]:
    return [p for p in await all_pages(operator, "supervisor", "/v1/staff") if p["user_id"]]


async def staff_reads_their_shifts(
    operator: Operator, first: date, last: date, assignments: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """The person with the most assignments reads them in their own zone and through their iCal feed."""
    by_staff: dict[str, list[dict[str, Any]]] = {}
    for assignment in assignments:
        by_staff.setdefault(assignment["staff_id"], []).append(assignment)
    with_login = {p["id"] for p in await staff_with_logins(operator)}
    staff_id, theirs = max(
        ((person, shifts) for person, shifts in by_staff.items() if person in with_login),
        key=lambda pair: len(pair[1]),
    )
    who = await email_of(operator, staff_id)
    mine = await operator.get(who, "/v1/me/shifts", **{"from": first.isoformat(), "to": last.isoformat()})
    person = await operator.get("supervisor", f"/v1/staff/{staff_id}")
    assert mine["time_zone"] == person["home_zone"]
    assert {s["assignment_id"] for s in mine["items"]} == {a["id"] for a in theirs}
    starts = [datetime.fromisoformat(s["start"]) for s in mine["items"]]
    assert starts == sorted(starts)
    offsets = {s.utcoffset() for s in starts}
    zone = ZoneInfo(person["home_zone"])
    assert offsets == {s.astimezone(zone).utcoffset() for s in starts}

    feed = await operator.post(who, "/v1/me/calendar-feed", {})
    calendar = await operator.http.get(feed["url"])
    assert calendar.status_code == 200, calendar.text
    assert calendar.headers["content-type"].startswith("text/calendar")
    events = {
        str(event["UID"]): (event.decoded("DTSTART"), event.decoded("DTEND"))
        for event in icalendar.Calendar.from_ical(calendar.content).walk("VEVENT")
    }
    shown = {(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])) for s in mine["items"]}
    assert shown <= set(events.values())
    return staff_id, theirs


async def hire(operator: Operator, skills: set[str], languages: set[str]) -> dict[str, Any]:
    """A new colleague in Edinburgh with the skills and a login, and no shifts yet."""
    email = f"newhire-{uuid.uuid4().hex[:6]}@{operator.slug}.example"
    user = await operator.post(
        "admin", "/v1/users", {"email": email, "role": "staff", "password": DEMO_PASSWORD}
    )
    person: dict[str, Any] = await operator.post(
        "supervisor",
        "/v1/staff",
        {
            "display_name": "Isla Campbell",
            "home_zone": "Europe/London",
            "country": "GB",
            "user_id": user["id"],
            "skills": [{"name": name, "level": 3} for name in sorted(skills)],
            "languages": [{"name": name, "level": 4} for name in sorted(languages)],
        },
    )
    return person


async def a_swap_is_approved(operator: Operator, giver_id: str, theirs: list[dict[str, Any]]) -> None:
    """The giver offers a shift to a busy colleague first: the colleague accepts, but the supervisor's
    approval re-checks the hard rules and refuses with the broken rule, changing nothing. Offered to a
    new colleague with a free calendar, the swap is approved and the shift moves."""
    giver = await email_of(operator, giver_id)
    shift = theirs[len(theirs) // 2]
    contract = await operator.get("supervisor", f"/v1/contracts/{shift['contract_id']}")
    skills = {s for line in contract["coverage"] for s in line["skills"]}
    languages = {s for line in contract["coverage"] for s in line["languages"]}
    first, last = next_month()
    period = {"from": first.isoformat(), "to": last.isoformat()}
    start, end = datetime.fromisoformat(shift["start"]), datetime.fromisoformat(shift["end"])
    working = {
        a["staff_id"]
        for a in await all_pages(operator, "supervisor", "/v1/assignments", **period)
        if datetime.fromisoformat(a["start"]) < end and start < datetime.fromisoformat(a["end"])
    }
    able = [
        p
        for p in await staff_with_logins(operator)
        if p["id"] != giver_id and skills <= {s["name"] for s in p["skills"]}
    ]
    # A colleague who works then; with a roster this well staffed there may be none with a login, so
    # one who does not is given approved time off over the shift instead.
    busy = next((p for p in able if p["id"] in working), None)
    if busy is None:
        busy = able[0]
        leave = await operator.post(
            "supervisor",
            f"/v1/staff/{busy['id']}/time-off",
            {"start": shift["start"], "end": shift["end"], "reason": "Family"},
        )
        approved = await operator.post("supervisor", f"/v1/time-off/{leave['id']}:approve", {})
        assert approved["status"] == "approved"
    newcomer = await hire(operator, skills, languages)

    for colleague, approvable in ((busy, False), (newcomer, True)):
        swap = await operator.post(
            giver,
            "/v1/me/swap-requests",
            {"assignment_id": shift["id"], "counterpart_staff_id": colleague["id"]},
        )
        taker = await email_of(operator, colleague["id"])
        accepted = await operator.post(taker, f"/v1/swap-requests/{swap['id']}:accept", {})
        assert accepted["status"] == "accepted"
        decision = await operator.http.post(
            f"/v1/swap-requests/{swap['id']}:approve", json={}, headers=await operator.as_("supervisor")
        )
        if not approvable:
            assert decision.status_code == 409, decision.text
            assert decision.json()["violations"], decision.text
            still = await operator.get("supervisor", f"/v1/assignments/{shift['id']}")
            assert still["staff_id"] == giver_id
            rejected = await operator.post("supervisor", f"/v1/swap-requests/{swap['id']}:reject", {})
            assert rejected["status"] == "rejected"
            continue
        assert decision.status_code == 200, decision.text
        assert decision.json()["status"] == "approved"
        taken = await operator.get(taker, "/v1/me/shifts", **period)
        given = await operator.get(giver, "/v1/me/shifts", **period)
        assert [s["shift_id"] for s in taken["items"]] == [shift["shift_id"]]
        assert shift["shift_id"] not in {s["shift_id"] for s in given["items"]}


class TestStaffingMonth:
    async def test_generate_schedule_read_and_swap(self, stack: Stack, http: httpx.AsyncClient) -> None:
        operator = Operator(f"shifts-{uuid.uuid4().hex[:6]}", http)
        await onboard_from_manifest(stack, operator)
        first, last, assignments = await supervisor_schedules_a_month(operator)
        giver, theirs = await staff_reads_their_shifts(operator, first, last, assignments)
        await a_swap_is_approved(operator, giver, theirs)
        # Staff read only their own: another person's swap requests and profile are not theirs.
        swaps = (await operator.get("supervisor", "/v1/swap-requests"))["items"]
        involved = {s["requester_staff_id"] for s in swaps} | {s["counterpart_staff_id"] for s in swaps}
        with_login = {p["id"] for p in await staff_with_logins(operator)}
        # Someone else with a login, on the roster or not (the demo has more people than shifts need).
        other = min(with_login - involved - {giver})
        who = await email_of(operator, other)
        assert (await operator.get(who, "/v1/swap-requests"))["items"] == []
        hidden = await http.get(f"/v1/staff/{giver}", headers=await operator.as_(who))
        assert hidden.status_code in (403, 404), hidden.text


# --- (d) month-end billing, Stripe and the paid webhook ---------------------------------------------


def october_emails() -> list[dict[str, Any]]:
    """Eight resolved inquiries a day in October (JST), each resolved within two hours."""
    items = []
    for day in range(1, 32):
        for n in range(8):
            received = datetime(2026, 10, day, 9 + n, 5, tzinfo=TOKYO)
            items.append(
                {
                    "external_id": f"oct-{day:02d}-{n}",
                    "channel": "email",
                    "received_at": received.isoformat(),
                    "first_response_at": (received + timedelta(minutes=20)).isoformat(),
                    "resolved_at": (received + timedelta(minutes=90)).isoformat(),
                }
            )
    return items


class TestMonthEndBilling:
    async def test_run_finalize_push_and_get_paid_once(
        self, stack: Stack, http: httpx.AsyncClient, e2e_stripe: FakeStripe
    ) -> None:
        operator = Operator(f"bill-{uuid.uuid4().hex[:6]}", http)
        await onboard_from_manifest(stack, operator)
        account = e2e_stripe.connect_account()
        settings = {"stripe_account_id": account, "tax_rate": "0.10", "tax_rounding": "floor"}
        response = await http.put("/v1/billing/settings", json=settings, headers=await operator.as_("admin"))
        assert response.status_code == 200, response.text

        eureka = operator.clients["EUREKA"]
        mail = operator.contracts["EUR-PAIRS-EMAIL"]
        key = await operator.post(
            "admin", "/v1/api-keys", {"name": "zendesk", "client_id": eureka["id"], "contract_id": mail["id"]}
        )
        items = october_emails()
        for chunk in range(0, len(items), 100):
            body = {"contract_id": mail["id"], "items": items[chunk : chunk + 100]}
            await operator.post({"Authorization": f"Bearer {key['key']}"}, "/v1/work-items:batch", body)

        ran = await asyncio.to_thread(
            stack.bpo, "invoices", "run", "--tenant", operator.slug, "--period", "2026-10"
        )
        again = await asyncio.to_thread(
            stack.bpo, "invoices", "run", "--tenant", operator.slug, "--period", "2026-10"
        )
        assert ran.returncode == again.returncode == 0
        drafts = await all_pages(operator, "manager", "/v1/invoices", client_id=eureka["id"], status="draft")
        assert len(drafts) == 1, drafts
        draft = await operator.get("manager", f"/v1/invoices/{drafts[0]['id']}")
        emails = [
            line for line in draft["lines"] if line["contract_id"] == mail["id"] and line["code"] == "emails"
        ]
        assert [(float(line["quantity"]), line["amount"]["amount"]) for line in emails] == [
            (248.0, 248 * 350)
        ]
        subtotal = draft["subtotal"]["amount"]
        assert draft["tax"]["amount"] == subtotal // 10
        assert draft["total"]["amount"] == subtotal + subtotal // 10

        viewer = await operator.as_("viewer-eureka")
        assert (await http.get(f"/v1/invoices/{draft['id']}", headers=viewer)).status_code == 404

        issued = await operator.post("manager", f"/v1/invoices/{draft['id']}/finalize", {})
        assert issued["status"] == "finalized"
        assert issued["number"].startswith("INV-")
        deadline = asyncio.get_running_loop().time() + 90
        while (
            not e2e_stripe.objects("invoice", account)
            or e2e_stripe.objects("invoice", account)[0]["status"] != "open"
        ):
            assert asyncio.get_running_loop().time() < deadline, "the invoice was not pushed to Stripe"
            await asyncio.sleep(0.5)
        (pushed,) = e2e_stripe.objects("invoice", account)
        assert pushed["total"] == issued["total"]["amount"]
        assert (await http.get(f"/v1/invoices/{draft['id']}", headers=viewer)).status_code == 200

        paid = e2e_stripe.event("invoice.paid", e2e_stripe.pay(account, pushed["id"]), account)
        outcomes = [
            (await e2e_stripe.send(http, "/v1/stripe/webhooks", paid)).json()["outcome"] for _ in range(2)
        ]
        assert outcomes == ["applied", "duplicate"]
        assert (await operator.get("manager", f"/v1/invoices/{draft['id']}"))["status"] == "paid"
