"""GET/PUT /v1/billing/settings: the connected Stripe account and the consumption-tax terms, what they
change on the next drafts, and the account -> tenant table the webhooks read before a tenant is known."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from sqlalchemy import text

from bpo.core.runtime import Runtime
from tests.support.billing import billing_setup, expected_october, invoices, run_october
from tests.support.factories import create_tenant, create_user
from tests.support.fake_stripe import FakeStripe
from tests.support.problems import assert_problem, error_fields

PATH = "/v1/billing/settings"


def body(account: str | None, rate: str = "0.10", rounding: str = "floor") -> dict[str, object]:
    return {"stripe_account_id": account, "tax_rate": rate, "tax_rounding": rounding}


class TestSettingsApi:
    async def test_defaults_then_replaced_then_disconnected(
        self, client: httpx.AsyncClient, fake_stripe: FakeStripe
    ) -> None:
        tenant = await create_tenant(client)
        await client.patch(
            "/v1/tenant", json={"invoice_registration_number": "T9876543210987"}, headers=tenant.admin
        )
        response = await client.get(PATH, headers=tenant.admin)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "stripe_account_id": None,
            "tax_rate": "0.1",
            "tax_rounding": "floor",
            "invoice_registration_number": "T9876543210987",
            "updated_at": None,
        }
        account = fake_stripe.connect_account()
        response = await client.put(PATH, json=body(account, "0.08", "half_up"), headers=tenant.admin)
        assert response.status_code == 200, response.text
        settings = response.json()
        assert (settings["stripe_account_id"], settings["tax_rate"], settings["tax_rounding"]) == (
            account,
            "0.08",
            "half_up",
        )
        assert settings["updated_at"] is not None
        assert (await client.get(PATH, headers=tenant.admin)).json() == settings

        response = await client.put(PATH, json=body(None), headers=tenant.admin)
        assert response.json()["stripe_account_id"] is None
        assert response.json()["tax_rate"] == "0.1"

    async def test_bad_input_names_every_field_and_changes_nothing(
        self, client: httpx.AsyncClient, fake_stripe: FakeStripe
    ) -> None:
        tenant = await create_tenant(client)
        before = (await client.get(PATH, headers=tenant.admin)).json()
        for bad, field in [
            (body("cus_123"), "stripe_account_id"),
            (body(None, rounding="ceiling"), "tax_rounding"),
            (body(None, rate="ten percent"), "tax_rate"),
            ({"stripe_account_id": None, "tax_rate": "0.1"}, "tax_rounding"),
            ({**body(None), "currency": "JPY"}, "currency"),
        ]:
            problem = assert_problem(await client.put(PATH, json=bad, headers=tenant.admin), 422)
            assert any(field in name for name in error_fields(problem)), problem
        for rate in ("1.5", "-0.01", "0.123456", "NaN"):
            problem = assert_problem(
                await client.put(PATH, json=body(None, rate=rate), headers=tenant.admin), 422
            )
            assert error_fields(problem) == ["tax_rate"], problem
        assert (await client.get(PATH, headers=tenant.admin)).json() == before

    @pytest.mark.parametrize("rate", [0.1, 0, 1, "0.1\n", " 0.1", "1e-1", "+0.1", ".1"])
    async def test_the_tax_rate_is_a_decimal_string_only(
        self, client: httpx.AsyncClient, rate: object
    ) -> None:
        tenant = await create_tenant(client)
        before = (await client.get(PATH, headers=tenant.admin)).json()
        sent = {**body(None, rate="0.08"), "tax_rate": rate}
        problem = assert_problem(await client.put(PATH, json=sent, headers=tenant.admin), 422)
        assert error_fields(problem) == ["tax_rate"], problem
        assert (await client.get(PATH, headers=tenant.admin)).json() == before

    async def test_the_document_says_what_the_tax_rate_takes(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/schema/openapi.json")).json()
        documented = document["components"]["schemas"]["BillingSettingsUpdate"]["properties"]["tax_rate"]
        assert documented["type"] == "string"
        pattern = re.compile(documented["pattern"])
        assert all(pattern.search(rate) for rate in ("0.10", "1", "0.0825"))
        assert not any(pattern.search(rate) for rate in ("0.1\n", "1e-1", "-0.1", "NaN"))

    async def test_an_account_belongs_to_one_tenant_and_each_sees_its_own(
        self, client: httpx.AsyncClient, fake_stripe: FakeStripe
    ) -> None:
        mine = await create_tenant(client)
        theirs = await create_tenant(client)
        account = fake_stripe.connect_account()
        assert (await client.put(PATH, json=body(account), headers=mine.admin)).status_code == 200
        problem = assert_problem(
            await client.put(PATH, json=body(account, "0.05"), headers=theirs.admin),
            409,
            "stripe-account-taken",
        )
        assert error_fields(problem) == ["stripe_account_id"]
        assert mine.slug not in problem["detail"]
        # Nothing of the refused request stuck, the tax rate included.
        assert (await client.get(PATH, headers=theirs.admin)).json()["tax_rate"] == "0.1"
        assert (await client.get(PATH, headers=theirs.admin)).json()["stripe_account_id"] is None
        assert (await client.get(PATH, headers=mine.admin)).json()["stripe_account_id"] == account

    async def test_admins_only(self, client: httpx.AsyncClient) -> None:
        tenant = await create_tenant(client)
        _, manager = await create_user(client, tenant, role="account_manager")
        assert_problem(await client.get(PATH, headers=manager), 403)
        assert_problem(await client.put(PATH, json=body(None), headers=manager), 403)
        assert_problem(await client.get(PATH), 401)


class TestTaxTerms:
    async def test_the_next_draft_uses_the_tenants_rate_and_rounding(
        self, client: httpx.AsyncClient, runtime: Runtime
    ) -> None:
        tenant = await create_tenant(client)
        await billing_setup(client, runtime, tenant)
        await client.put(PATH, json=body(None, "0.08", "half_up"), headers=tenant.admin)
        await run_october(runtime, tenant)
        [draft] = await invoices(client, tenant.admin, period="2026-10")
        subtotal = expected_october()["subtotal"]
        tax = int((Decimal(subtotal) * Decimal("0.08")).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert draft["subtotal"]["amount"] == subtotal
        assert draft["tax_rate"] == "0.08"
        assert draft["tax"]["amount"] == tax
        assert draft["total"]["amount"] == subtotal + tax


class TestAccountTable:
    """stripe_accounts is readable before a tenant is set, writable only for one's own tenant."""

    async def test_lookup_without_a_tenant_and_no_writes_to_another_tenants_row(
        self, client: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe
    ) -> None:
        mine = await create_tenant(client)
        theirs = await create_tenant(client)
        account = fake_stripe.connect_account()
        await client.put(PATH, json=body(account), headers=mine.admin)
        async with runtime.db.platform() as session:
            owner = (
                await session.execute(
                    text("SELECT tenant FROM stripe_accounts WHERE account_id = :a"), {"a": account}
                )
            ).scalar_one()
        assert owner == mine.id
        async with runtime.db.tenant(theirs.id) as session:
            moved = await session.execute(
                text("UPDATE stripe_accounts SET tenant = :me WHERE account_id = :a"),
                {"me": theirs.id, "a": account},
            )
            deleted = await session.execute(
                text("DELETE FROM stripe_accounts WHERE account_id = :a"), {"a": account}
            )
            assert moved.rowcount == deleted.rowcount == 0  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="row-level security"):
            async with runtime.db.tenant(theirs.id) as session:
                await session.execute(
                    text("INSERT INTO stripe_accounts (account_id, tenant) VALUES (:a, :other)"),
                    {"a": fake_stripe.connect_account(), "other": mine.id},
                )
        async with runtime.db.platform() as session:
            with pytest.raises(Exception, match="row-level security"):
                await session.execute(
                    text("INSERT INTO stripe_accounts (account_id, tenant) VALUES (:a, :other)"),
                    {"a": fake_stripe.connect_account(), "other": mine.id},
                )
        assert (await client.get(PATH, headers=mine.admin)).json()["stripe_account_id"] == account
