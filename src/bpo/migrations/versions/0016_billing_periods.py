"""billing periods: closing days and payment terms per client

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROZEN = (
    "client_id, kind, number, period, currency, subtotal, tax, total, tax_rate, issued_on, due_on, "
    "registration_number, client_name, client_legal_name, payment_terms, corrects_invoice_id, finalized_at"
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
    op.add_column(
        "clients",
        sa.Column(
            "closing_day_history",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    # The days an invoice bills; until now every invoice billed its calendar month.
    op.add_column("invoices", sa.Column("period_start", sa.Date(), nullable=True))
    op.add_column("invoices", sa.Column("period_end", sa.Date(), nullable=True))
    op.execute(
        "UPDATE invoices SET period_start = period, "
        "period_end = (period + interval '1 month' - interval '1 day')::date"
    )
    op.alter_column("invoices", "period_start", nullable=False)
    op.alter_column("invoices", "period_end", nullable=False)
    op.execute(_frozen_invoice(_FROZEN + ", period_start, period_end"))
    # A scheduled run bills the clients whose period closed on this day; null: every client (by hand).
    op.add_column("invoice_runs", sa.Column("closed_on", sa.Date(), nullable=True))


def downgrade(app_role: str) -> None:
    op.drop_column("invoice_runs", "closed_on")
    op.execute(_frozen_invoice(_FROZEN))
    op.drop_column("invoices", "period_end")
    op.drop_column("invoices", "period_start")
    op.drop_column("clients", "closing_day_history")
