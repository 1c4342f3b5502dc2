"""Consumption tax per client and per line (標準 10%, 軽減 8%, 不課税): one rounding per rate and invoice,
as the qualified-invoice system has it, shown per rate in the API, the CSV, the PDF and Stripe, kept by credit
notes; an exempt (overseas) client pays none; unknown tax classes are refused naming the field."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import uuid
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from bpo.billing.rating import (
    TaxRounding,
    TaxSubtotal,
    consumption_tax,
    line_tax_class,
    tax_rates,
    taxes_by_rate,
    totals_of,
)
from bpo.clients.schemas import TaxClass
from bpo.core.runtime import Runtime
from bpo.settings import Settings
from tests.billing.test_meters_surcharges import activate, billed_lines, item, patrol_contract
from tests.support.billing import REGISTRATION, invoices
from tests.support.factories import TenantHandle, create_client, create_tenant, get_ok, post_ok
from tests.support.fake_stripe import FakeStripe
from tests.support.pdf import require_pdf
from tests.support.problems import assert_problem, error_fields
from tests.support.requirements import require
from tests.support.sla import ingest
from tests.support.stripe import connect_stripe, push

STANDARD, REDUCED, EXEMPT = TaxClass.STANDARD, TaxClass.REDUCED, TaxClass.EXEMPT
JST = "+09:00"


def yen(amount: int) -> str:
    return f"-¥{-amount:,}" if amount < 0 else f"¥{amount:,}"


# --- by hand -------------------------------------------------------------------------------------------


def test_tax_is_rounded_once_per_rate_not_per_line() -> None:
    amounts = [(STANDARD, 1_005), (STANDARD, 1_005), (REDUCED, 1_999), (REDUCED, 1_999), (EXEMPT, 50_000)]
    taxes = taxes_by_rate(amounts, tax_rates(Decimal("0.10")), TaxRounding.TRUNCATE)
    # 2,010 x 10% = 201 (per line: 100 + 100); 3,998 x 8% = 319.84 → 319 (per line: 159 + 159).
    assert taxes == (
        TaxSubtotal(STANDARD, Decimal("0.10"), 2_010, 201),
        TaxSubtotal(REDUCED, Decimal("0.08"), 3_998, 319),
        TaxSubtotal(EXEMPT, Decimal(0), 50_000, 0),
    )
    assert totals_of(taxes) == (56_008, 520, 56_528)
    # Half-up rounds each rate's tax once too: 319.84 → 320.
    half_up = taxes_by_rate(amounts, tax_rates(Decimal("0.10")), TaxRounding.HALF_UP)
    assert [t.tax for t in half_up] == [201, 320, 0]


def test_a_lines_class_is_its_charges_else_its_clients_and_none_for_an_exempt_client() -> None:
    assert line_tax_class(None, STANDARD) is STANDARD
    assert line_tax_class(REDUCED, STANDARD) is REDUCED
    assert line_tax_class(EXEMPT, STANDARD) is EXEMPT
    assert line_tax_class(REDUCED, EXEMPT) is EXEMPT
    assert line_tax_class(None, EXEMPT) is EXEMPT


@given(st.lists(st.tuples(st.sampled_from(list(TaxClass)), st.integers(-(10**9), 10**9)), max_size=30))
def test_the_tax_of_each_rate_is_its_lines_total_taxed_once(amounts: list[tuple[TaxClass, int]]) -> None:
    rates = tax_rates(Decimal("0.10"))
    taxes = taxes_by_rate(amounts, rates)
    assert [t.tax_class for t in taxes] == [c for c in TaxClass if c in {c for c, _ in amounts}]
    for t in taxes:
        assert t.taxable == sum(amount for c, amount in amounts if c is t.tax_class)
        assert t.tax == consumption_tax(t.taxable, rates[t.tax_class])
    assert totals_of(taxes).subtotal == sum(amount for _, amount in amounts)


# --- through the API -------------------------------------------------------------------------------

# Two lines at each rate whose taxes, rounded per line, would differ from the rate's total rounded once;
# and a pass-through cost outside the tax.
MIXED_PLAN: dict[str, Any] = {
    "effective_from": "2026-10-01",
    "currency": "JPY",
    "charges": [
        {"kind": "per_unit", "code": "posts", "name": "Posts patrolled", "unit": "post", "unit_price": 67},
        {"kind": "fixed_monthly", "code": "base", "name": "Base fee", "amount": 1_005},
        {
            "kind": "fixed_monthly",
            "code": "digest",
            "name": "Printed user-voice digest (subscription)",
            "amount": 1_999,
            "tax_class": "reduced",
        },
        {
            "kind": "fixed_monthly",
            "code": "refreshments",
            "name": "Refreshments for the stationed team",
            "amount": 1_999,
            "tax_class": "reduced",
        },
        {
            "kind": "fixed_monthly",
            "code": "stamps",
            "name": "Revenue stamps passed through",
            "amount": 50_000,
            "tax_class": "exempt",
        },
    ],
}
# 15 posts at 67 = 1,005, plus the base fee: 2,010 at 10% → 201. 3,998 at 8% → 319.84 → 319. 50,000 exempt.
MIXED_LINES = [
    ("posts", "standard", "0.1", 1_005),
    ("base", "standard", "0.1", 1_005),
    ("digest", "reduced", "0.08", 1_999),
    ("refreshments", "reduced", "0.08", 1_999),
    ("stamps", "exempt", "0", 50_000),
]
MIXED_TAXES = [("standard", "0.1", 2_010, 201), ("reduced", "0.08", 3_998, 319), ("exempt", "0", 50_000, 0)]
MIXED_TOTALS = (56_008, 520, 56_528)


async def mixed_invoice(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantHandle, **client_fields: Any
) -> dict[str, Any]:
    """October's draft of a client with MIXED_PLAN and 15 posts."""
    setup = await patrol_contract(client, tenant, **client_fields)
    await activate(client, tenant, setup["contract"], MIXED_PLAN)
    await ingest(client, tenant.admin, setup["contract"], [item("p1", f"2026-10-15T10:00:00{JST}", 15)])
    return await billed_lines(client, runtime, tenant, setup["client"]["id"], "2026-10")


def taxes_of(invoice: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return [(t["tax_class"], t["rate"], t["taxable"]["amount"], t["tax"]["amount"]) for t in invoice["taxes"]]


def totals(invoice: dict[str, Any]) -> tuple[int, int, int]:
    return invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]


def pdftotext(document: bytes) -> str:
    binary = shutil.which("pdftotext")
    require("pdftotext", binary, "Debian: apt-get install poppler-utils")
    assert binary is not None
    result = subprocess.run([binary, "-layout", "-", "-"], input=document, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8")


class TestMixedRates:
    async def test_one_rounding_per_rate_in_the_api_and_the_csv(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        invoice = await mixed_invoice(client, runtime, tenant)

        assert [
            (line["code"], line["tax_class"], line["tax_rate"], line["amount"]["amount"])
            for line in invoice["lines"]
        ] == MIXED_LINES
        assert taxes_of(invoice) == MIXED_TAXES
        assert totals(invoice) == MIXED_TOTALS
        assert invoice["tax_rate"] == "0.1"

        response = await client.get(f"/v1/invoices/{invoice['id']}.csv", headers=tenant.admin)
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["code"], r["tax_class"], r["tax_rate"], int(r["amount"])) for r in rows[:5]] == MIXED_LINES
        assert [
            (r["kind"], r["tax_class"], r["tax_rate"], int(r["quantity"]), int(r["amount"])) for r in rows[5:]
        ] == [("consumption_tax", c, rate, taxable, tax) for c, rate, taxable, tax in MIXED_TAXES]
        # Lines and taxes add up to the invoice's total.
        assert sum(int(r["amount"]) for r in rows) == MIXED_TOTALS[2]

    async def test_the_pdf_shows_each_rate_as_the_api_does(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        require_pdf()
        tenant = await create_tenant(client)
        await client.patch(
            "/v1/tenant",
            json={"invoice_registration_number": REGISTRATION, "default_language": "en"},
            headers=tenant.admin,
        )
        draft = await mixed_invoice(client, runtime, tenant)
        invoice = await post_ok(client, f"/v1/invoices/{draft['id']}/finalize", {}, tenant.admin)
        response = await client.get(f"/v1/invoices/{invoice['id']}/pdf", headers=tenant.admin)
        assert response.status_code == 200, response.text
        text = pdftotext(response.content)
        lines = [" ".join(row.split()) for row in text.splitlines() if row.strip()]

        assert invoice["number"] in text
        assert REGISTRATION in text
        amounts = [yen(line["amount"]["amount"]) for line in invoice["lines"]]
        assert sorted(amounts[:3], key=text.index) == amounts[:3]
        # Reduced-rate lines marked, and the mark explained.
        assert (
            sum("※" in row for row in lines if "Printed user-voice digest" in row or "Refreshments" in row)
            == 2
        )
        assert any("※ Subject to the reduced tax rate" in row for row in lines)
        # Per rate: the total of its lines, then its tax; then the taxes' total and the invoice's.
        expected = [
            f"Subtotal {yen(MIXED_TOTALS[0])}",
            f"Subject to 10% {yen(2_010)}",
            f"Consumption tax 10% {yen(201)}",
            f"Subject to 8%, reduced rate ※ {yen(3_998)}",
            f"Consumption tax 8% {yen(319)}",
            f"Not subject to consumption tax {yen(50_000)}",
            f"Total consumption tax {yen(520)}",
            f"Total (JPY) {yen(MIXED_TOTALS[2])}",
        ]
        found = [row for row in lines if row in expected]
        assert found == expected, text
        for t in invoice["taxes"]:
            assert yen(t["taxable"]["amount"]) in text
            assert t["tax_class"] == "exempt" or yen(t["tax"]["amount"]) in text

        # In Japanese: 税率ごとの対象額と消費税額.
        await client.patch("/v1/me", json={"language": "ja"}, headers=tenant.admin)
        japanese = pdftotext(
            (await client.get(f"/v1/invoices/{invoice['id']}/pdf", headers=tenant.admin)).content
        )
        flat = " ".join(japanese.split())
        for phrase in (
            "10%対象 ￥2,010",
            "消費税 10% ￥201",
            "8%対象（軽減税率） ※ ￥3,998",  # noqa: RUF001
            "消費税 8% ￥319",
            "不課税 ￥50,000",
        ):
            assert phrase in flat, (phrase, japanese)

    async def test_stripe_gets_one_tax_item_per_rate_and_the_same_total(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        fake_stripe: FakeStripe,
        stripe_settings: Settings,
    ) -> None:
        tenant = await create_tenant(client)
        account = await connect_stripe(client, tenant, fake_stripe)
        draft = await mixed_invoice(client, runtime, tenant)
        invoice = await post_ok(client, f"/v1/invoices/{draft['id']}/finalize", {}, tenant.admin)

        link = await push(runtime, stripe_settings, tenant, invoice["id"])

        assert link is not None
        [pushed] = [i for i in fake_stripe.objects("invoice", account) if i["id"] == link.stripe_invoice_id]
        items = [(line["description"], line["amount"]) for line in pushed["lines"]["data"]]
        assert [amount for _, amount in items] == [amount for *_, amount in MIXED_LINES] + [201, 319]
        assert items[-2][0] == "Consumption tax 10% on 2010"
        assert items[-1][0] == "Consumption tax 8% (reduced rate) on 3998"
        assert pushed["total"] == invoice["total"]["amount"] == MIXED_TOTALS[2]
        keys = [entry.idempotency_key for entry in fake_stripe.log if entry.account == account]
        base = f"bpo-invoice-{invoice['id']}"
        assert [f"{base}-tax", f"{base}-tax-reduced"] == [k for k in keys if k and "-tax" in k]

    async def test_credit_notes_credit_at_the_rate_they_name(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        draft = await mixed_invoice(client, runtime, tenant)
        invoice = await post_ok(client, f"/v1/invoices/{draft['id']}/finalize", {}, tenant.admin)
        path = f"/v1/invoices/{invoice['id']}/credit-notes"
        before = await invoices(client, tenant.admin, client_id=invoice["client_id"])

        # Several rates on the invoice: a credit says which it is for.
        for body, field in (
            ({"lines": [{"description": "Digest not sent", "amount": 1_000}]}, "lines[0].tax_class"),
            (
                {"lines": [{"description": "Digest not sent", "amount": 1_000, "tax_class": "zero"}]},
                "lines[0].tax_class",
            ),
        ):
            problem = assert_problem(await client.post(path, json=body, headers=tenant.admin), 422)
            assert error_fields(problem) == [field]
        assert await invoices(client, tenant.admin, client_id=invoice["client_id"]) == before

        body = {"lines": [{"description": "Digest not sent", "amount": 1_000, "tax_class": "reduced"}]}
        note = await post_ok(client, path, body, tenant.admin)
        # 1,000 back at 8%: 80 of tax.
        assert taxes_of(note) == [("reduced", "0.08", -1_000, -80)]
        assert totals(note) == (-1_000, -80, -1_080)
        assert [(line["tax_class"], line["tax_rate"]) for line in note["lines"]] == [("reduced", "0.08")]

        # A full reversal (of another client's invoice, all of it still open) gives every rate back as issued.
        other = await mixed_invoice(client, runtime, tenant)
        await post_ok(client, f"/v1/invoices/{other['id']}/finalize", {}, tenant.admin)
        rest = await post_ok(
            client, f"/v1/invoices/{other['id']}/credit-notes", {"full_reversal": True}, tenant.admin
        )
        assert taxes_of(rest) == [(c, rate, -taxable, -tax) for c, rate, taxable, tax in MIXED_TAXES]
        assert [line["tax_class"] for line in rest["lines"]] == [c for _, c, _, _ in MIXED_LINES]


class TestExemptClients:
    async def test_an_overseas_client_pays_no_consumption_tax_on_any_line(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        invoice = await mixed_invoice(client, runtime, tenant, tax_class="exempt")
        assert {line["tax_class"] for line in invoice["lines"]} == {"exempt"}
        assert taxes_of(invoice) == [("exempt", "0", 56_008, 0)]
        assert totals(invoice) == (56_008, 0, 56_008)

    async def test_the_tax_class_of_a_client_is_set_and_checked(self, client: httpx.AsyncClient) -> None:
        tenant, other = await create_tenant(client), await create_tenant(client)
        code = f"C{uuid.uuid4().hex[:8]}"
        response = await client.post(
            "/v1/clients",
            json={"code": code, "name": "Abroad", "tax_class": "overseas"},
            headers=tenant.admin,
        )
        assert error_fields(assert_problem(response, 422)) == ["tax_class"]
        assert (await client.get("/v1/clients", headers=tenant.admin)).json()["items"] == []

        created = await create_client(client, tenant)
        assert created["tax_class"] == "standard"
        path = f"/v1/clients/{created['id']}"
        problem = assert_problem(
            await client.patch(path, json={"tax_class": "zero"}, headers=tenant.admin), 422
        )
        assert error_fields(problem) == ["tax_class"]
        assert (await get_ok(client, path, tenant.admin))["tax_class"] == "standard"
        changed = await client.patch(path, json={"tax_class": "exempt"}, headers=tenant.admin)
        assert changed.status_code == 200, changed.text
        assert changed.json()["tax_class"] == "exempt"
        assert (await get_ok(client, path, tenant.admin))["tax_class"] == "exempt"
        assert_problem(await client.patch(path, json={"tax_class": "standard"}, headers=other.admin), 404)
        assert (await get_ok(client, path, tenant.admin))["tax_class"] == "exempt"
