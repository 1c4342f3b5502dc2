"""The tenant's billing account: its consumption-tax terms and the Stripe account it bills through.

Tax. Japanese consumption tax, 10% unless the tenant says otherwise, computed once per invoice on the
subtotal (never per line) and rounded down (``floor``, 切り捨て; a credit note's toward zero, so it is the
exact negative of the tax it reverses) unless the tenant chooses ``half_up`` (四捨五入). A change applies to
drafts computed from then on; finalized invoices keep the rate they were issued with.

Connected account. Held in the platform table ``stripe_accounts`` only (account -> tenant), so the
webhook endpoint, which knows the account before it knows the tenant, and the settings read the same row.
An account belongs to one tenant at most: claiming one already connected elsewhere is a conflict that
does not say whose it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.billing import rating, schemas
from bpo.billing.models import BillingSettings, StripeAccount
from bpo.core import audit
from bpo.core.errors import Conflict, Invalid, field_error
from bpo.core.jobs import outbox
from bpo.core.jobs.registry import MAIL_INVOICE_JOB, PUSH_INVOICE_JOB
from bpo.core.scope import Scope
from bpo.tenancy import service as tenancy

DEFAULT_TAX_RATE = rating.CONSUMPTION_TAX_RATE
DEFAULT_TAX_ROUNDING = schemas.TaxRoundingMode.FLOOR
ROUNDING = {
    schemas.TaxRoundingMode.FLOOR: rating.TaxRounding.TRUNCATE,
    schemas.TaxRoundingMode.HALF_UP: rating.TaxRounding.HALF_UP,
}
# invoices.tax_rate and billing_settings.tax_rate are NUMERIC(6, 4).
TAX_RATE_PLACES = 4


@dataclass(frozen=True, slots=True)
class TaxTerms:
    rate: Decimal
    mode: schemas.TaxRoundingMode

    @property
    def rounding(self) -> rating.TaxRounding:
        return ROUNDING[self.mode]


async def _settings_row(session: AsyncSession, scope: Scope) -> BillingSettings | None:
    # populate_existing: the row may have just been upserted with a core statement.
    return await session.scalar(
        select(BillingSettings)
        .where(BillingSettings.tenant_id == scope.tenant_id)
        .execution_options(populate_existing=True)
    )


async def tax_terms(session: AsyncSession, scope: Scope) -> TaxTerms:
    row = await _settings_row(session, scope)
    if row is None:
        return TaxTerms(DEFAULT_TAX_RATE, DEFAULT_TAX_ROUNDING)
    return TaxTerms(row.tax_rate, schemas.TaxRoundingMode(row.tax_rounding))


async def connected_account(session: AsyncSession, scope: Scope) -> str | None:
    return await session.scalar(
        select(StripeAccount.account_id).where(StripeAccount.tenant == scope.tenant_id)
    )


async def tenant_for_account(session: AsyncSession, account_id: str) -> uuid.UUID | None:
    """Readable with no tenant set (see ``StripeAccount``): the one question a webhook asks first."""
    return await session.scalar(select(StripeAccount.tenant).where(StripeAccount.account_id == account_id))


async def get_settings(session: AsyncSession, scope: Scope) -> schemas.BillingSettings:
    row = await _settings_row(session, scope)
    terms = await tax_terms(session, scope)
    return schemas.BillingSettings(
        stripe_account_id=await connected_account(session, scope),
        tax_rate=Decimal(f"{terms.rate.normalize():f}"),
        tax_rounding=terms.mode,
        invoice_registration_number=(
            await tenancy.tenant_settings(session, scope)
        ).invoice_registration_number,
        updated_at=row.updated_at if row is not None else None,
    )


def _check_tax_rate(rate: Decimal) -> None:
    if not rate.is_finite() or rate < 0 or rate > 1:
        message = "a fraction from 0 to 1 (0.10 is 10%)"
    elif rate != rate.quantize(Decimal(1).scaleb(-TAX_RATE_PLACES)):
        message = f"at most {TAX_RATE_PLACES} decimal places"
    else:
        return
    raise Invalid(f"tax_rate: {message}", errors=[field_error("tax_rate", message)])


async def update_settings(
    session: AsyncSession, scope: Scope, data: schemas.BillingSettingsUpdate
) -> schemas.BillingSettings:
    rate = Decimal(data.tax_rate)
    _check_tax_rate(rate)
    await session.execute(
        insert(BillingSettings)
        .values(tenant_id=scope.tenant_id, tax_rate=rate, tax_rounding=data.tax_rounding.value)
        .on_conflict_do_update(
            index_elements=[BillingSettings.tenant_id],
            set_={
                "tax_rate": rate,
                "tax_rounding": data.tax_rounding.value,
                "updated_at": func.now(),
            },
        )
    )
    current = await connected_account(session, scope)
    if data.stripe_account_id != current:
        await session.execute(delete(StripeAccount).where(StripeAccount.tenant == scope.tenant_id))
        if data.stripe_account_id is not None:
            claimed = await session.scalar(
                insert(StripeAccount)
                .values(account_id=data.stripe_account_id, tenant=scope.tenant_id)
                .on_conflict_do_nothing(index_elements=[StripeAccount.account_id])
                .returning(StripeAccount.account_id)
            )
            if claimed is None:
                raise Conflict(
                    "This Stripe account is already connected to another operator.",
                    slug="stripe-account-taken",
                    errors=[field_error("stripe_account_id", "connected elsewhere")],
                )
    audit.record(
        session,
        scope,
        "billing_settings.updated",
        "billing_settings",
        scope.tenant_id,
        stripe_account_id=data.stripe_account_id,
        tax_rate=str(rate),
        tax_rounding=data.tax_rounding.value,
    )
    return await get_settings(session, scope)


# --- the issuer: address and bank account on invoices ------------------------------------------------


def issuer_from(stored: dict[str, Any] | None) -> schemas.BillingIssuer:
    return msgspec.convert(stored or {}, schemas.BillingIssuer)


async def current_issuer(session: AsyncSession, scope: Scope) -> schemas.BillingIssuer:
    """The address and bank account invoices issued now carry (none given: neither part)."""
    row = await _settings_row(session, scope)
    return issuer_from(row.issuer if row is not None else None)


async def issuer_snapshot(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """What a finalized invoice keeps of the issuer, so its document reads the same later."""
    return msgspec.to_builtins(await current_issuer(session, scope))  # type: ignore[no-any-return]


async def get_issuer(session: AsyncSession, scope: Scope) -> schemas.BillingIssuerSettings:
    row = await _settings_row(session, scope)
    issuer = issuer_from(row.issuer if row is not None else None)
    return schemas.BillingIssuerSettings(
        address=issuer.address,
        bank_account=issuer.bank_account,
        updated_at=row.updated_at if row is not None else None,
    )


async def update_issuer(
    session: AsyncSession, scope: Scope, data: schemas.BillingIssuerUpdate
) -> schemas.BillingIssuerSettings:
    """Replace both parts. Issued invoices keep the ones they were issued with; drafts show the new ones."""
    stored = msgspec.to_builtins(schemas.BillingIssuer(address=data.address, bank_account=data.bank_account))
    await session.execute(
        insert(BillingSettings)
        .values(tenant_id=scope.tenant_id, issuer=stored)
        .on_conflict_do_update(
            index_elements=[BillingSettings.tenant_id], set_={"issuer": stored, "updated_at": func.now()}
        )
    )
    audit.record(
        session,
        scope,
        "billing_issuer.updated",
        "billing_settings",
        scope.tenant_id,
        address=data.address is not None,
        bank_account=data.bank_account is not None,
    )
    return await get_issuer(session, scope)


async def schedule_push(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> bool:
    """Queue ``billing.push_invoice`` with the change that issues the invoice, when the tenant bills
    through Stripe. Returns whether it did."""
    if await connected_account(session, scope) is None:
        return False
    outbox.enqueue(session, scope.tenant_id, PUSH_INVOICE_JOB, invoice_id=str(invoice_id))
    return True


def schedule_mail(session: AsyncSession, scope: Scope, invoice_id: uuid.UUID) -> None:
    """Queue ``billing.mail_invoice``: the issued document goes to the client's billing contact."""
    outbox.enqueue(session, scope.tenant_id, MAIL_INVOICE_JOB, invoice_id=str(invoice_id))
