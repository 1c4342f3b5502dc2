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
import pytest

from tests.e2e.stack import REPO, Stack
from tests.web.chromium import Chromium, find_chromium
from tests.web.test_dashboard_page import ARTIFACTS, READ_DASHBOARD

pytestmark = pytest.mark.slow

TOKYO = ZoneInfo("Asia/Tokyo")
DEMO_PASSWORD = "demo-password"
CHAT_THRESHOLD = timedelta(seconds=45)


def manifest_for(slug: str, workdir: Path) -> Path:
    """The demo operator's manifest under another slug and e-mail domain: a second, unrelated operator."""
    text = (REPO / "tenants" / "demo.yaml").read_text(encoding="utf-8")
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
    assert set(operator.clients) == {"RAKUTEN", "EUREKA", "LANCERS"}
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

        binary = find_chromium()
        if binary is None:
            pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
        for operator in (first, second):
            await self.viewer_opens_the_dashboard(stack, operator, binary)

    async def viewer_opens_the_dashboard(self, stack: Stack, operator: Operator, binary: str) -> None:
        chat = operator.contracts["LAN-CHAT"]
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(1280, 900, mobile=False)
            await page.goto(f"{stack.url}/dashboard/login")
            await page.type_into("#tenant", operator.slug)
            await page.type_into("#email", operator.email("viewer-lancers"))
            await page.type_into("#password", DEMO_PASSWORD)
            await page.press_enter()
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
