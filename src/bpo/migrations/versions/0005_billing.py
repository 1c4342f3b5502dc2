"""billing

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bpo.migrations import rls

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("series", sa.String(length=8), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "series", "year", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "invoice_runs",
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoice_runs")),
    )
    op.create_index(
        op.f("ix_invoice_runs_tenant_id_period"), "invoice_runs", ["tenant_id", "period"], unique=False
    )
    op.create_table(
        "invoices",
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("registration_number", sa.String(length=32), nullable=True),
        sa.Column("client_name", sa.String(length=200), nullable=False),
        sa.Column("client_legal_name", sa.String(length=300), nullable=False),
        sa.Column("payment_terms", sa.String(length=200), nullable=False),
        sa.Column("corrects_invoice_id", sa.UUID(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["clients.tenant_id", "clients.id"],
            name=op.f("fk_invoices_tenant_id_client_id_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "corrects_invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_invoices_tenant_id_corrects_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_invoices_tenant_id_number")),
    )
    op.create_index(
        op.f("ix_invoices_tenant_id_period_status"),
        "invoices",
        ["tenant_id", "period", "status"],
        unique=False,
    )
    op.create_index(
        "uq_invoices_live_per_period",
        "invoices",
        ["tenant_id", "client_id", "period"],
        unique=True,
        postgresql_where=sa.text("kind = 'invoice' AND status <> 'void'"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.UUID(), nullable=True),
        sa.Column("contract_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contract_id"],
            ["contracts.tenant_id", "contracts.id"],
            name=op.f("fk_invoice_lines_tenant_id_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_invoice_lines_tenant_id_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "tenant_id", "invoice_id", "position", name=op.f("uq_invoice_lines_tenant_id_invoice_id_position")
        ),
    )
    for table in ("invoices", "invoice_lines", "invoice_counters", "invoice_runs"):
        rls.tenant_table(table, app_role)
    # Second wall behind the service: a finalized invoice and its lines never change, except its status
    # moving on (paid, void, uncollectible). Corrections are credit notes.
    op.execute(FROZEN_INVOICE)
    op.execute(FROZEN_LINES)
    op.execute(
        "CREATE TRIGGER invoices_frozen BEFORE UPDATE OR DELETE ON invoices "
        "FOR EACH ROW EXECUTE FUNCTION invoices_frozen()"
    )
    op.execute(
        "CREATE TRIGGER invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines "
        "FOR EACH ROW EXECUTE FUNCTION invoice_lines_frozen()"
    )


FROZEN_INVOICE = """
CREATE FUNCTION invoices_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % is % and cannot be deleted', OLD.number, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.client_id, NEW.kind, NEW.number, NEW.period, NEW.currency, NEW.subtotal, NEW.tax, NEW.total,
        NEW.tax_rate, NEW.issued_on, NEW.due_on, NEW.registration_number, NEW.client_name,
        NEW.client_legal_name, NEW.payment_terms, NEW.corrects_invoice_id, NEW.finalized_at)
       IS DISTINCT FROM
       (OLD.client_id, OLD.kind, OLD.number, OLD.period, OLD.currency, OLD.subtotal, OLD.tax, OLD.total,
        OLD.tax_rate, OLD.issued_on, OLD.due_on, OLD.registration_number, OLD.client_name,
        OLD.client_legal_name, OLD.payment_terms, OLD.corrects_invoice_id, OLD.finalized_at) THEN
        RAISE EXCEPTION 'invoice % is % and cannot be changed', OLD.number, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
"""

FROZEN_LINES = """
CREATE FUNCTION invoice_lines_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line invoice_lines%ROWTYPE := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    invoice_status text;
BEGIN
    SELECT status INTO invoice_status FROM invoices
    WHERE tenant_id = line.tenant_id AND id = line.invoice_id;
    IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
        RAISE EXCEPTION 'the lines of a % invoice cannot be changed', invoice_status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN line;
END
$$
"""


def downgrade(app_role: str) -> None:
    op.execute("DROP TRIGGER invoice_lines_frozen ON invoice_lines")
    op.execute("DROP TRIGGER invoices_frozen ON invoices")
    op.execute("DROP FUNCTION invoice_lines_frozen()")
    op.execute("DROP FUNCTION invoices_frozen()")
    op.drop_table("invoice_lines")
    op.drop_index(
        "uq_invoices_live_per_period",
        table_name="invoices",
        postgresql_where=sa.text("kind = 'invoice' AND status <> 'void'"),
    )
    op.drop_index(op.f("ix_invoices_tenant_id_period_status"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_invoice_runs_tenant_id_period"), table_name="invoice_runs")
    op.drop_table("invoice_runs")
    op.drop_table("invoice_counters")
