"""invoice delivery: issuer and bank details, invoice mail

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns a finalized invoice may no longer change (as of 0016), and the issuer snapshot added here.
_FROZEN = (
    "client_id, kind, number, period, currency, subtotal, tax, total, tax_rate, issued_on, due_on, "
    "registration_number, client_name, client_legal_name, payment_terms, corrects_invoice_id, finalized_at, "
    "period_start, period_end"
)


def _frozen_invoice(columns: str) -> str:
    new = ", ".join(f"NEW.{c.strip()}" for c in columns.split(","))
    old = ", ".join(f"OLD.{c.strip()}" for c in columns.split(","))
    return f"""
CREATE OR REPLACE FUNCTION invoices_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % is % and cannot be deleted', OLD.number, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF ({new}) IS DISTINCT FROM ({old}) THEN
        RAISE EXCEPTION 'invoice % is % and cannot be changed', OLD.number, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade(app_role: str) -> None:
    # The tenant's address and bank account as printed on its invoices (billing.schemas.BillingIssuer).
    op.add_column(
        "billing_settings",
        sa.Column("issuer", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
    )
    # The same, copied when the invoice is finalized, so an issued document never changes; null on drafts.
    op.add_column("invoices", sa.Column("issuer", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.execute(_frozen_invoice(_FROZEN + ", issuer"))
    # Where the client pays the invoice at Stripe (the invoice's hosted page), once it has been pushed.
    op.add_column("stripe_invoices", sa.Column("hosted_invoice_url", sa.String(length=2000), nullable=True))


def downgrade(app_role: str) -> None:
    op.drop_column("stripe_invoices", "hosted_invoice_url")
    op.execute(_frozen_invoice(_FROZEN))
    op.drop_column("invoices", "issuer")
    op.drop_column("billing_settings", "issuer")
