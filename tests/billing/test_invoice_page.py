"""The printable invoice page under the browser session: who sees which invoice, the figures are the
API's, and Chromium renders and prints it."""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpo.billing.document import money
from bpo.core.runtime import Runtime
from tests.support.billing import REGISTRATION, billing_setup, expected_october, invoices, run_october
from tests.support.chromium import Chromium, chromium_binary
from tests.support.dashboard import data_value, sign_in, sign_in_on_page
from tests.support.factories import TenantHandle, create_tenant, create_user, post_ok
from tests.support.paths import ARTIFACTS
from tests.support.server import ServerThread


class Issued:
    def __init__(
        self, tenant: TenantHandle, setup: dict[str, Any], invoice: dict[str, Any], draft: dict[str, Any]
    ):
        self.tenant = tenant
        self.setup = setup
        self.invoice = invoice
        self.draft = draft


async def issued_and_draft(client: httpx.AsyncClient, runtime: Runtime) -> Issued:
    """One client's October invoice issued, another client's still a draft."""
    tenant = await create_tenant(client)
    await client.patch("/v1/tenant", json={"invoice_registration_number": REGISTRATION}, headers=tenant.admin)
    setup = await billing_setup(client, runtime, tenant)
    other = await billing_setup(client, runtime, tenant)
    await run_october(runtime, tenant)
    [mine] = await invoices(client, tenant.admin, client_id=setup["client"]["id"])
    [draft] = await invoices(client, tenant.admin, client_id=other["client"]["id"])
    invoice = await post_ok(client, f"/v1/invoices/{mine['id']}/finalize", {}, tenant.admin)
    return Issued(tenant, setup, invoice, draft)


async def viewer_of(client: httpx.AsyncClient, tenant: TenantHandle, client_id: str) -> str:
    email = f"viewer-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    await create_user(client, tenant, role="client_viewer", client_id=uuid.UUID(client_id), email=email)
    return email


class TestMoney:
    def test_as_people_read_it(self) -> None:
        assert money(1_234_567, "JPY") == "¥1,234,567"
        assert money(-5_000, "JPY") == "-¥5,000"
        assert money(1_250, "USD") == "$12.50"
        assert money(700, "CHF") == "CHF\u00a07.00"
        assert money(1_234_567, "JPY", "ja") == "￥1,234,567"
        # A unit price may hold a fraction of a minor unit.
        assert money(Decimal("0.5"), "JPY") == "¥0.5"
        assert money(Decimal("12.345"), "USD") == "$0.12345"

    @given(st.integers(-(10**15), 10**15))
    def test_yen_read_back(self, amount: int) -> None:
        shown = money(amount, "JPY")
        assert int(shown.replace("¥", "").replace(",", "")) == amount


class TestInvoicePage:
    async def test_the_document_shows_the_apis_invoice(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        issued = await issued_and_draft(client, runtime)
        invoice = issued.invoice
        await client.patch("/v1/me", json={"language": "en"}, headers=issued.tenant.admin)
        await sign_in(browser, issued.tenant.slug, issued.tenant.admin_email)
        page = await browser.get(f"/dashboard/invoices/{invoice['id']}")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'none'" in page.headers["content-security-policy"]
        text = page.text
        assert f"Operator {issued.tenant.slug}" in text
        assert data_value(text, "registration-number") == REGISTRATION
        assert invoice["number"] in text
        assert issued.setup["client"]["name"] in text
        assert "October 2026" in text
        assert "Oct 1\u2009\u2013\u200931, 2026" in text  # the period's days
        assert "30 November 2026" in text  # due
        assert invoice["payment_terms"] in text
        expected = expected_october()
        assert [int(v) for v in re.findall(r'<data class="amount" value="(-?\d+)"', text)] == expected[
            "amounts"
        ]
        assert int(data_value(text, "subtotal")) == expected["subtotal"]
        assert int(data_value(text, "tax")) == expected["tax"]
        assert int(data_value(text, "total")) == expected["total"]
        assert data_value(text, "tax-rate") == "0.1"
        assert 'Consumption tax <data class="tax-rate" value="0.1">10%</data>' in text
        assert f"¥{expected['total']:,}" in text
        # The SLA credit is its own line and listed as such.
        assert int(data_value(text, "credit")) == expected["amounts"][3] < 0
        assert "kind-service_credit" in text
        assert "Draft" not in text

    async def test_in_japanese_for_a_reader_in_japan(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        issued = await issued_and_draft(client, runtime)
        invoice = issued.invoice
        await sign_in(browser, issued.tenant.slug, issued.tenant.admin_email)
        text = (await browser.get(f"/dashboard/invoices/{invoice['id']}")).text
        assert '<html lang="ja">' in text
        assert '<h1 id="invoice-title">請求書</h1>' in text
        assert "2026年10月" in text
        assert "2026年10月1日\uff5e31日" in text  # the period's days
        assert "2026年11月30日" in text  # due
        assert '消費税 <data class="tax-rate" value="0.1">10%</data>' in text
        expected = expected_october()
        assert f"￥{expected['total']:,}" in text
        assert int(data_value(text, "total")) == expected["total"]
        assert "お支払い" in text
        draft = (await browser.get(f"/dashboard/invoices/{issued.draft['id']}")).text
        assert "下書き：未発行のため、金額が変わることがあります。" in draft  # noqa: RUF001

    async def test_operators_see_drafts_marked_viewers_only_their_issued_invoices(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        issued = await issued_and_draft(client, runtime)
        await client.patch("/v1/tenant", json={"default_language": "en"}, headers=issued.tenant.admin)
        await sign_in(browser, issued.tenant.slug, issued.tenant.admin_email)
        draft_page = await browser.get(f"/dashboard/invoices/{issued.draft['id']}")
        assert draft_page.status_code == 200
        assert "Draft: not issued" in draft_page.text

        async with httpx.AsyncClient(base_url=str(browser.base_url), timeout=30) as viewer:
            email = await viewer_of(client, issued.tenant, issued.setup["client"]["id"])
            await sign_in(viewer, issued.tenant.slug, email)
            own = await viewer.get(f"/dashboard/invoices/{issued.invoice['id']}")
            assert own.status_code == 200
            assert int(data_value(own.text, "total")) == issued.invoice["total"]["amount"]
            # Another client's draft looks missing, as does an id that is none.
            assert (await viewer.get(f"/dashboard/invoices/{issued.draft['id']}")).status_code == 404
            assert (await viewer.get("/dashboard/invoices/not-an-id")).status_code == 404

        other = await create_tenant(client)
        async with httpx.AsyncClient(base_url=str(browser.base_url), timeout=30) as outsider:
            await sign_in(outsider, other.slug, other.admin_email)
            foreign = await outsider.get(f"/dashboard/invoices/{issued.invoice['id']}")
            assert foreign.status_code == 404
            assert issued.invoice["number"] not in foreign.text
        async with httpx.AsyncClient(base_url=str(browser.base_url), timeout=30) as anonymous:
            response = await anonymous.get(f"/dashboard/invoices/{issued.invoice['id']}")
            assert response.status_code == 303
            assert response.headers["location"] == "/dashboard/login"


@pytest.mark.slow
class TestInChromium:
    async def test_a_viewer_opens_and_prints_the_invoice(
        self, client: httpx.AsyncClient, server: ServerThread, runtime: Runtime
    ) -> None:
        binary = chromium_binary()
        issued = await issued_and_draft(client, runtime)
        email = await viewer_of(client, issued.tenant, issued.setup["client"]["id"])
        started = time.monotonic()
        async with Chromium(binary) as chromium:
            page = await chromium.page()
            await page.set_viewport(1100, 900, mobile=False)
            await sign_in_on_page(page, server.url, issued.tenant.slug, email)
            await page.goto(f"{server.url}/dashboard/invoices/{issued.invoice['id']}")
            shown = await page.evaluate(READ_INVOICE)
            assert shown["number"] == issued.invoice["number"]
            assert shown["total"] == str(expected_october()["total"])
            assert shown["lines"] == len(expected_october()["amounts"])
            assert shown["toolbar"] != "none"
            screen = await page.screenshot(ARTIFACTS / "invoice-screen.png")

            await page.send("Emulation.setEmulatedMedia", {"media": "print"})
            printed = await page.evaluate(READ_INVOICE)
            assert printed["toolbar"] == "none"
            assert printed["invoiceBorder"] == "0px"
            paper = await page.screenshot(ARTIFACTS / "invoice-print.png")
            pdf = await page.send("Page.printToPDF", {"preferCSSPageSize": True})
            assert len(pdf["data"]) > 1000

            await page.send("Emulation.setEmulatedMedia", {"media": "screen"})
            await page.set_viewport(390, 844, mobile=True)
            await page.goto(f"{server.url}/dashboard/invoices/{issued.invoice['id']}")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            blocked = [text for text in page.console_errors() if "Content Security Policy" in text]
            assert blocked == []
        print(f"\nchromium run {time.monotonic() - started:.1f}s; screenshots: {screen} {paper}")


READ_INVOICE = """(() => {
  const article = document.querySelector('article.invoice');
  return {
    number: document.querySelector('.number').textContent.trim(),
    total: document.querySelector('data.total').value,
    lines: document.querySelectorAll('tr.line').length,
    toolbar: getComputedStyle(document.querySelector('.toolbar')).display,
    invoiceBorder: getComputedStyle(article).borderTopWidth,
  };
})()"""
