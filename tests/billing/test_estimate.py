"""見込み: a client's open period rated so far, for its own viewers (and its operators) only, in the API and
at the top of /dashboard/invoices, in Japanese and English, readable at phone width; never stored nor
numbered."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bpo.clients.periods import ClosingDays
from tests.billing.test_meters_surcharges import activate, patrol_contract
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import data_value, data_values, sign_in, sign_in_on_page
from tests.support.factories import TenantHandle, create_tenant, create_user, get_ok
from tests.support.paths import ARTIFACTS
from tests.support.problems import assert_problem
from tests.support.server import ServerThread
from tests.support.sla import ingest

TOKYO = ZoneInfo("Asia/Tokyo")
PLAN: dict[str, Any] = {
    "effective_from": "2026-10-01",
    "currency": "JPY",
    "charges": [
        {"kind": "per_unit", "code": "posts", "name": "Posts patrolled", "unit": "post", "unit_price": 10},
        {"kind": "fixed_monthly", "code": "base", "name": "Base fee", "amount": 3_000},
    ],
}
# 40 posts at 10 and the month's base fee (the contract runs the whole period): 3,400, 10% tax 340.
EXPECTED = {"subtotal": 3_400, "tax": 340, "total": 3_740}


class Customer:
    def __init__(
        self, tenant: TenantHandle, setup: dict[str, Any], viewer: dict[str, str], email: str
    ) -> None:
        self.tenant = tenant
        self.id: str = setup["client"]["id"]
        self.name: str = setup["client"]["name"]
        self.viewer = viewer
        self.email = email


async def customer_with_work(client: httpx.AsyncClient, tenant: TenantHandle, units: int = 40) -> Customer:
    """A client closing at the month end, billed by PLAN, with ``units`` posts resolved minutes ago, and a
    viewer of its own."""
    setup = await patrol_contract(client, tenant)
    await activate(client, tenant, setup["contract"], PLAN)
    now = datetime.now(UTC).replace(microsecond=0)
    received, resolved = now - timedelta(minutes=3), now - timedelta(minutes=2)
    work = {"external_id": "now", "received_at": received.isoformat(), "resolved_at": resolved.isoformat()}
    await ingest(client, tenant.admin, setup["contract"], [{**work, "units": units}])
    email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    _, viewer = await create_user(
        client, tenant, role="client_viewer", client_id=uuid.UUID(setup["client"]["id"]), email=email
    )
    return Customer(tenant, setup, viewer, email)


def estimate_path(client_id: str) -> str:
    return f"/v1/clients/{client_id}/estimate"


class TestEstimateApi:
    async def test_the_open_period_so_far_for_the_clients_own_viewer(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        mine = await customer_with_work(client, tenant)
        today = datetime.now(TOKYO).date()
        period = ClosingDays(31).period_containing(today)

        estimate = await get_ok(client, estimate_path(mine.id), mine.viewer)

        assert estimate["estimate"] is True
        assert "number" not in estimate
        assert "id" not in estimate
        assert (estimate["client_id"], estimate["client_name"]) == (mine.id, mine.name)
        assert (estimate["period"], estimate["period_start"], estimate["period_end"]) == (
            period.label.isoformat(),
            period.first_day.isoformat(),
            period.last_day.isoformat(),
        )
        assert estimate["through"] == today.isoformat()
        assert [(line["code"], line["quantity"], line["amount"]["amount"]) for line in estimate["lines"]] == [
            ("posts", "40", 400),
            ("base", "1", 3_000),
        ]
        assert {figure: estimate[figure]["amount"] for figure in EXPECTED} == EXPECTED
        assert [
            (t["tax_class"], t["rate"], t["taxable"]["amount"], t["tax"]["amount"]) for t in estimate["taxes"]
        ] == [("standard", "0.1", 3_400, 340)]
        # The operator reads the same figures.
        operator = await get_ok(client, estimate_path(mine.id), tenant.admin)
        assert {k: v for k, v in operator.items() if k != "as_of"} == {
            k: v for k, v in estimate.items() if k != "as_of"
        }

        # Never stored as an invoice: the list has none, and a second look says the same.
        assert (await get_ok(client, "/v1/invoices", tenant.admin, client_id=mine.id))["items"] == []
        again = await get_ok(client, estimate_path(mine.id), mine.viewer)
        assert again["total"] == estimate["total"]

    async def test_another_clients_viewer_another_tenant_and_no_such_client_get_404(
        self, client: httpx.AsyncClient
    ) -> None:
        tenant, stranger = await create_tenant(client), await create_tenant(client)
        mine = await customer_with_work(client, tenant)
        theirs = await customer_with_work(client, tenant, units=7)

        for headers in (theirs.viewer, stranger.admin):
            assert_problem(await client.get(estimate_path(mine.id), headers=headers), 404)
        missing = assert_problem(
            await client.get(estimate_path(str(uuid.uuid4())), headers=tenant.admin), 404
        )
        foreign = assert_problem(await client.get(estimate_path(mine.id), headers=stranger.admin), 404)
        assert missing["type"] == foreign["type"]
        # Each viewer sees its own.
        assert (await get_ok(client, estimate_path(theirs.id), theirs.viewer))["total"]["amount"] == 3_377

    async def test_a_bad_client_id_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        assert_problem(await client.get("/v1/clients/not-a-uuid/estimate", headers=tenant.admin), 404)


class TestEstimateOnTheInvoicesPage:
    async def test_a_viewer_sees_the_estimate_marked_as_such_in_japanese_and_english(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        mine = await customer_with_work(client, tenant)
        theirs = await customer_with_work(client, tenant, units=7)

        await sign_in(browser, tenant.slug, mine.email)
        page = await browser.get("/dashboard/invoices")
        assert page.status_code == 200, page.text
        text = page.text
        assert '<html lang="ja">' in text
        assert "今回の請求期間（途中経過）" in text  # noqa: RUF001
        assert '<span class="badge badge-estimate">見込み</span>' in text
        assert int(data_value(text, "estimate-total")) == EXPECTED["total"]
        assert int(data_value(text, "estimate-subtotal")) == EXPECTED["subtotal"]
        assert [int(v) for v in data_values(text, "estimate-amount")] == [400, 3_000]
        assert "10%対象" in text
        assert "請求書ではなく見込みです" in text
        assert theirs.name not in text

        await client.patch("/v1/me", json={"language": "en"}, headers=mine.viewer)
        english = (await browser.get("/dashboard/invoices")).text
        assert "This period so far" in english
        assert '<span class="badge badge-estimate">Estimate</span>' in english
        assert "An estimate, not an invoice" in english
        assert "¥3,740" in english

    async def test_an_operator_sees_the_estimate_of_the_client_picked(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        tenant = await create_tenant(client)
        mine = await customer_with_work(client, tenant)
        await sign_in(browser, tenant.slug, tenant.admin_email)
        assert "estimate-total" not in (await browser.get("/dashboard/invoices")).text
        picked = (await browser.get("/dashboard/invoices", params={"client": mine.id})).text
        assert int(data_value(picked, "estimate-total")) == EXPECTED["total"]
        # A client id of no client of the tenant: no estimate, and nothing listed.
        unknown = await browser.get("/dashboard/invoices", params={"client": str(uuid.uuid4())})
        assert unknown.status_code == 200
        assert "estimate-total" not in unknown.text


@pytest.mark.slow
class TestInChromium:
    async def test_the_estimate_at_phone_width(self, client: httpx.AsyncClient, server: ServerThread) -> None:
        binary = chromium_binary()
        tenant = await create_tenant(client)
        mine = await customer_with_work(client, tenant)
        started = time.monotonic()
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(390, 844, mobile=True)
            await sign_in_on_page(page, server.url, tenant.slug, mine.email)
            await page.goto(f"{server.url}/dashboard/invoices")
            total = await page.evaluate("document.querySelector('data.estimate-total').value")
            assert total == str(EXPECTED["total"])
            await page.evaluate("document.querySelector('.estimate-details').open = true")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            shot = await page.screenshot(ARTIFACTS / "invoices-estimate-phone.png")
            blocked = [text for text in page.console_errors() if "Content Security Policy" in text]
            assert blocked == []
        print(f"\nchromium run {time.monotonic() - started:.1f}s; screenshot: {shot}")
