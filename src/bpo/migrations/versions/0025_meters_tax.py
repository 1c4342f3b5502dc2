"""billing: several meters per contract, surcharges, tax classes

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAX_CLASSES = "tax_class IN ('standard', 'reduced', 'exempt')"
# The columns a finalized invoice may no longer change (as of 0018), and the taxes per rate added here.
_FROZEN = (
    "client_id, kind, number, period, currency, subtotal, tax, total, tax_rate, issued_on, due_on, "
    "registration_number, client_name, client_legal_name, payment_terms, corrects_invoice_id, finalized_at, "
    "period_start, period_end, issuer"
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


def _jsonb_list(table: str, column: str) -> None:
    op.add_column(
        table,
        sa.Column(
            column,
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def upgrade(app_role: str) -> None:
    # A client's consumption tax: standard, reduced or exempt (不課税, e.g. an overseas client).
    op.add_column(
        "clients", sa.Column("tax_class", sa.String(length=16), server_default="standard", nullable=False)
    )
    op.create_check_constraint("tax_class", "clients", TAX_CLASSES)
    # Meters beside the contract's billable event, and night and holiday surcharges, per rate plan version.
    _jsonb_list("rate_plans", "meters")
    _jsonb_list("rate_plans", "surcharges")
    # Each line's tax class (its rate is the invoice's for that class), and the invoice's taxes per rate:
    # [{"tax_class": "standard", "rate": "0.10", "taxable": 120000, "tax": 12000}], one rounding per rate.
    # Adding a column with a default fires no row trigger, so issued lines get theirs too.
    op.add_column(
        "invoice_lines",
        sa.Column("tax_class", sa.String(length=16), server_default="standard", nullable=False),
    )
    op.create_check_constraint("tax_class", "invoice_lines", TAX_CLASSES)
    _jsonb_list("invoices", "taxes")
    # Every invoice so far was taxed at one rate on its subtotal; the column is not frozen yet.
    op.execute(
        "UPDATE invoices SET taxes = jsonb_build_array(jsonb_build_object("
        "'tax_class', 'standard', 'rate', tax_rate::text, 'taxable', subtotal, 'tax', tax))"
    )
    op.execute(_frozen_invoice(_FROZEN + ", taxes"))


def downgrade(app_role: str) -> None:
    op.execute(_frozen_invoice(_FROZEN))
    op.drop_column("invoices", "taxes")
    op.drop_constraint("ck_invoice_lines_tax_class", "invoice_lines", type_="check")
    op.drop_column("invoice_lines", "tax_class")
    op.drop_column("rate_plans", "surcharges")
    op.drop_column("rate_plans", "meters")
    op.drop_constraint("ck_clients_tax_class", "clients", type_="check")
    op.drop_column("clients", "tax_class")
